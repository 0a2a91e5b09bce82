package mmapwal

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// TestEveryByteRecycled is the every-byte family over a log whose newest
// segments are recycled files (FORMAT.md §9.7), closed cleanly and not: a
// bit of every byte of the newest segment's header, frames and zero frame
// header and of the stale bytes just after them, every bit of every
// header, and (after a clean Close) every zeroed sector of the newest
// segment's used region. The contract is ebCheck's: no record lost or
// changed, no stale frame served, damage reported.
func TestEveryByteRecycled(t *testing.T) {
	cfgs := []ebCfg{{nsegs: 4, clean: true, recycle: true}, {nsegs: 4, clean: false, recycle: true}}
	if tortureMode() {
		cfgs = append(cfgs, ebCfg{nsegs: 4, back: true, clean: true, recycle: true}, ebCfg{nsegs: 6, front: true, clean: false, recycle: true})
	}
	for _, c := range cfgs {
		t.Run(c.String(), func(t *testing.T) {
			e := ebBuild(t, c)
			names := e.img.segNames()
			frames := bbParse(t, e.img)
			newest := frames[len(frames)-1].seg // the newest that holds frames (a prepared one may follow)
			end := int64(segment.HeaderSize)
			for _, f := range frames {
				if f.seg == newest {
					end = f.off + f.size
				}
			}
			var cases []ebCase
			for _, name := range names {
				h, err := segment.DecodeHeader(e.img[name])
				if err != nil {
					t.Fatal(err)
				}
				if name == newest && h.Flags&segment.FlagRecycled == 0 {
					t.Fatalf("the newest segment %s is not recycled", name)
				}
				cases = append(cases, ebFlipAll(e.img, name, 0, segment.HeaderSize)...)
			}
			// One bit of every byte (a different bit from byte to byte) of
			// the used region, the zero header and 64 stale bytes after.
			for i := segment.HeaderSize; i < int(end)+24+64 && i < len(e.img[newest]); i++ {
				cc := e.img.clone()
				cc[newest][i] ^= 1 << (i % 8)
				cases = append(cases, ebCase{fmt.Sprintf("%s byte %d bit %d", newest, i, i%8), cc})
			}
			if c.clean {
				cases = append(cases, ebZeroed(e.img, newest, 512)...)
			}
			ebRun(t, e, cases)
		})
	}
}

// TestRecycleCrashInRotation fails each step of a rotation into a pool
// file — open it, write the header, fdatasync it, rename it, sync the
// directory — and then crashes (no cleanup, the pages as they are): the
// reopened log holds every acknowledged record, no stale frame, and takes
// appends (reusing the file or making a fresh one).
func TestRecycleCrashInRotation(t *testing.T) {
	steps := []struct {
		name string
		op   sysutil.Op
		pool bool // the fault is on the pool file's path (else the directory)
	}{
		{"open", sysutil.OpOpen, true},
		{"fdatasync", sysutil.OpFdatasync, true},
		{"rename", sysutil.OpRename, true},
		{"dir sync after the rename", sysutil.OpSyncDir, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, recycleOpts(8192, 2))
			if err != nil {
				t.Fatal(err)
			}
			for l.Stats().Segments < 4 {
				appendUpTo(t, l, l.LastSeq()+1)
			}
			if err := l.TruncateFront(l.LastSeq()); err != nil {
				t.Fatal(err)
			}
			if l.Stats().Pooled == 0 {
				t.Fatal("nothing pooled")
			}
			waitPrepared(l)
			l.wmu.Lock()
			l.prep.discard() // the next rotation takes the pool file
			l.wmu.Unlock()
			acked := l.LastSeq()
			renamed := false
			restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
				_, isPool := parsePoolName(filepath.Base(path))
				switch {
				case op == sysutil.OpRename && isPool:
					renamed = true
				}
				if op != st.op || (st.pool && !isPool) || (!st.pool && (!renamed || path != dir)) {
					return nil
				}
				if op == sysutil.OpRename {
					renamed = false // it fails: not renamed
				}
				return fmt.Errorf("injected at %s: %w", st.name, syscall.EIO)
			})
			var failed error
			rot := l.Stats().Rotations
			for l.Stats().Rotations == rot && failed == nil {
				_, failed = l.Append(recPayload(l.LastSeq() + 1))
			}
			restore()
			if failed == nil {
				t.Fatal("the rotation did not fail")
			}
			if !errors.Is(failed, syscall.EIO) {
				t.Fatalf("Append = %v, want the injected EIO", failed)
			}
			cp := crashCopy(t, dir)
			crashRelease(l)
			l2, err := Open(cp, recycleOpts(8192, 2))
			if err != nil {
				t.Fatalf("reopen after a failed %s: %v", st.name, err)
			}
			defer l2.Close()
			if l2.LastSeq() < acked {
				t.Fatalf("LastSeq %d below the acknowledged %d", l2.LastSeq(), acked)
			}
			if tt := l2.Recovery().TornTail; tt != nil {
				// The new segment took no frame: its zero header at 64
				// ends it in front of the stale bytes.
				t.Fatalf("a torn tail after a failed %s: %+v", st.name, tt)
			}
			checkRecords(t, l2)
			appendUpTo(t, l2, l2.LastSeq()+200)
			checkRecords(t, l2)
			if err := l2.Verify(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
