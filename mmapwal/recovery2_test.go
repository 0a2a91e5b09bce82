package mmapwal

// Recovery tests of issue 8 (bugs 2 and 3 and the lower-severity recovery
// items) and issue 13 (bugs 4, 8 and 9): recovery's judgement calls never
// delete a frame or unquarantined bytes, a flush that fails inside Open
// poisons the directory, ReadOnly shows a pending TruncateBack, Clean means
// a durable mark ended the log, and a segment name that is not a regular
// file is corruption.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// rc2Closed builds a log whose newest segment holds 5 small records (within
// the header's sector) and closes it: after a rotation when rotate is set,
// a fresh log otherwise. It returns the image, the records, the newest
// segment's name and the number of records before it.
func rc2Closed(t *testing.T, rotate bool) (dirImage, [][]byte, string, uint64) {
	t.Helper()
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	var recs [][]byte
	add := func(p []byte) {
		_, err := l.Append(p)
		require.NoError(t, err)
		recs = append(recs, p)
	}
	for rotate && len(l.segments()) < 2 {
		add(bytes.Repeat([]byte{'r'}, 100))
	}
	for i := range 5 {
		add(fmt.Appendf(nil, "small-%d", i))
	}
	newest, end := rcvActive(l)
	require.LessOrEqual(t, end+24, int64(creationSector), "the newest segment's frames and mark fit in the header's sector")
	segs := l.segments()
	before := segs[len(segs)-1].first - 1
	require.NoError(t, l.Close())
	return snapshotDir(t, dir), recs, newest, before
}

// TestRecoveryNewestHeaderFlip (issue 8 bug 2): one flipped bit in the
// newest segment's header, which holds frames right after it, is damage to
// durable records: writable opens fail with ErrCorrupt naming the segment
// and change nothing; ReadOnly reports it and serves the segments before.
func TestRecoveryNewestHeaderFlip(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		img, recs, newest, before := rc2Closed(t, rotate)
		base := fastTempDir(t)
		for bit := int64(0); bit < segment.HeaderSize*8; bit += rcvStride(5, 37) {
			dmg := img.with(newest, rcvFlip(img[newest], bit/8, int(bit%8)))
			label := fmt.Sprintf("rotate %v, header bit %d", rotate, bit)
			for _, p := range []RepairPolicy{TruncatePartial, Strict} {
				d := writeImage(t, base, dmg)
				ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), label)
				require.Equal(t, newest, ce.Segment, label)
				require.True(t, ce.Durable, label)
				rcvRequireFiles(t, dmg, d, label)
			}
			d := writeImage(t, base, dmg)
			require.NoError(t, rcvOpenClose(t, d, readOnlyOpts(rcvSegSize), func(l *Log) {
				ce := l.Recovery().Corruption
				require.NotNil(t, ce, label)
				require.Equal(t, newest, ce.Segment, label)
				rcvRequireRecords(t, l, recs, before, label+" (ReadOnly)")
			}), label)
			rcvRequireFiles(t, dmg, d, label+" (ReadOnly)")
		}
	}
}

// TestRecoveryInterruptedCreationQuarantined: a newest segment whose
// creation a crash interrupted with garbage in its header's sector (no
// valid frame, zeros after the sector) is removed, but only after its bytes
// were copied to a quarantine file that Recovery reports.
func TestRecoveryInterruptedCreationQuarantined(t *testing.T) {
	img, recs, newest, _ := rc2Closed(t, false)
	next := segment.Name(2)
	b := make([]byte, rcvSegSize)
	for i := range 300 {
		b[i] = byte(i*7 + 1)
	}
	dmg := img.with(next, b)
	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		d := writeImage(t, "", dmg)
		require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), func(l *Log) {
			rep := l.Recovery()
			require.Contains(t, rep.Removed, next)
			q := segment.QuarantineName(filepath.Join(d, next), 0)
			require.Equal(t, []string{q}, rep.Quarantined)
			rcvRequireRecords(t, l, recs, 5, newest)
		}))
		require.NoFileExists(t, filepath.Join(d, next))
		q, err := os.ReadFile(segment.QuarantineName(filepath.Join(d, next), 0))
		require.NoError(t, err, "the quarantine file")
		require.Equal(t, b[:304], q)
	}
}

// TestRecoveryPreparedDirtyNewest (issue 8, lower severity): a newest
// segment with a prepared header, zeros where its first frame would be and
// non-zero bytes further on is not deleted as unused: the bytes are a torn
// tail, quarantined before they are cut (TruncatePartial), refused by
// Strict, reported by ReadOnly.
func TestRecoveryPreparedDirtyNewest(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 2, 50, false)
	active := bytes.Clone(r.img[r.active])
	clear(active[r.syncOff:]) // the crash lost the unsynced records cleanly
	prep := bytes.Clone(r.img[r.prep])
	for i := 1000; i < 1100; i++ {
		prep[i] = byte(i)
	}
	img := r.img.with(r.active, active, r.prep, prep)

	d := writeImage(t, "", img)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
		tt := l.Recovery().TornTail
		require.NotNil(t, tt)
		require.Equal(t, r.prep, tt.Segment)
		require.True(t, tt.Repaired)
		q, err := os.ReadFile(tt.Quarantine)
		require.NoError(t, err)
		require.Equal(t, prep[segment.HeaderSize:1104], q)
		rcvRequireRecords(t, l, r.recs, r.synced, "prepared, dirty")
	}))
	d = writeImage(t, "", img)
	ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), nil), "Strict")
	require.Equal(t, ReasonTornTail, ce.Reason)
	require.Equal(t, r.prep, ce.Segment)
	rcvRequireFiles(t, img, d, "Strict")
	require.NoError(t, rcvOpenClose(t, d, readOnlyOpts(rcvSegSize), func(l *Log) {
		require.NotNil(t, l.Recovery().TornTail)
		rcvRequireRecords(t, l, r.recs, r.synced, "ReadOnly")
	}))
	rcvRequireFiles(t, img, d, "ReadOnly")
}

// TestOpenFlushFailurePoisons (issue 8 bug 3): a flush that fails inside
// Open — the tail sync, the zeroing and the quarantine of a torn tail, the
// steps of finishing a TruncateBack, the removal of an unused segment —
// fails Open and marks the directory poisoned, so that a retried Open in
// this process evicts the page cache instead of trusting pages whose
// write-back failed.
func TestOpenFlushFailurePoisons(t *testing.T) {
	rng := rcvRand(t)
	// A crash image whose newest segment has unsynced records (the tail
	// sync) and one with a torn tail.
	r := rcvBuildResidue(t, rng, 3, 60, false)
	torn := bytes.Clone(r.img[r.active])
	clear(torn[r.locs[r.synced+2].off+5:])
	tornImg := r.img.with(r.active, torn)
	// A cleanly closed log with a TruncateBack redo record in META.
	closed, recs, locs := rcvBuildClosed(t, rng, 3)
	m, err := decodeMeta(closed[metaName])
	require.NoError(t, err)
	keep := uint64(len(recs) - 3)
	num, _ := segment.ParseName(locs[keep+1].seg)
	m.backSeg, m.backOff, m.floor = num, uint32(locs[keep+1].off), keep
	redo := closed.with(metaName, m.encode())
	// A crash image with an interrupted creation that holds bytes.
	garbage := make([]byte, rcvSegSize)
	for i := range 100 {
		garbage[i] = byte(i + 1)
	}
	created := r.img.with(r.prep, garbage)

	for _, c := range []struct {
		name string
		img  dirImage
		op   sysutil.Op
		n    int
	}{
		{"tail sync", r.img, sysutil.OpMsync, 1},
		{"torn tail quarantine", tornImg, sysutil.OpFdatasync, 1},
		{"torn tail zeroing", tornImg, sysutil.OpMsync, 1},
		{"TruncateBack redo: directory sync", redo, sysutil.OpSyncDir, 1},
		{"TruncateBack redo: zeroing", redo, sysutil.OpMsync, 1},
		{"TruncateBack redo: META", redo, sysutil.OpFdatasync, 1},
		{"interrupted creation: quarantine", created, sysutil.OpFdatasync, 1},
		{"interrupted creation: directory sync", created, sysutil.OpSyncDir, 2},
	} {
		d := writeImage(t, "", c.img)
		remove := psnSetFault(t, sysutil.FailNth(c.op, c.n, syscall.EIO, false))
		_, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
		remove()
		require.ErrorIs(t, err, syscall.EIO, c.name)
		require.True(t, wasPoisoned(d), "%s: a failed Open marks the directory poisoned", c.name)
		require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), nil), "%s: the retry", c.name)
	}
}

// TestRecoveryCleanAfterTornTail (issue 13 bug 8): bytes after the durable
// mark of a clean Close (a later run that crashed mid-append) are a torn
// tail; once it is cut, Recovery().Clean is false: the log did not end with
// a durable mark.
func TestRecoveryCleanAfterTornTail(t *testing.T) {
	img, recs, newest, _ := rc2Closed(t, false)
	seg := bytes.Clone(img[newest])
	markEnd := int64(len(seg))
	for markEnd > 0 && seg[markEnd-1] == 0 {
		markEnd--
	}
	markEnd = (markEnd + 7) &^ 7
	copy(seg[markEnd:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	// The later run's Open removed the clean-close record (FORMAT.md §9.3).
	img = img.with(metaName, bbWithoutCleanClose(t, img[metaName]))
	d := writeImage(t, "", img.with(newest, seg))
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
		rep := l.Recovery()
		require.NotNil(t, rep.TornTail)
		require.Equal(t, markEnd, rep.TornTail.Offset)
		require.False(t, rep.Clean, "a log whose torn tail was cut did not end with a durable mark")
		rcvRequireRecords(t, l, recs, uint64(len(recs)), "after the cut")
	}))
	d = writeImage(t, "", img.with(newest, seg))
	require.NoError(t, rcvOpenClose(t, d, readOnlyOpts(rcvSegSize), func(l *Log) {
		require.NotNil(t, l.Recovery().TornTail)
		require.False(t, l.Recovery().Clean, "ReadOnly")
	}))
}

// TestRecoveryIrregularSegment (issue 13 bug 9): a directory entry named
// like a segment that is not a regular file (a symlink to a valid segment,
// a directory) is ErrCorrupt naming it under every writable policy, never
// skipped; ReadOnly reports it and serves the segments before it.
func TestRecoveryIrregularSegment(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 3)
	names := img.segNames()
	newest := names[len(names)-1]
	num, _ := segment.ParseName(newest)
	before := uint64(0) // the records before the newest segment
	for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
		if locs[seq].seg < newest {
			before = seq
		}
	}
	elsewhere := filepath.Join(fastTempDir(t), newest)
	require.NoError(t, os.WriteFile(elsewhere, img[newest], 0o644))
	for _, c := range []struct {
		name  string
		entry string // the irregular entry
		make  func(d string) error
		last  uint64 // what ReadOnly serves
	}{
		{"newest is a symlink", newest, func(d string) error { return os.Symlink(elsewhere, filepath.Join(d, newest)) }, before},
		{"newest is a directory", newest, func(d string) error { return os.Mkdir(filepath.Join(d, newest), 0o755) }, before},
		{"a directory after the newest", segment.Name(num + 1), func(d string) error { return os.Mkdir(filepath.Join(d, segment.Name(num+1)), 0o755) }, uint64(len(recs))},
	} {
		base := img
		if c.entry == newest {
			base = img.with(newest, []byte(nil))
		}
		for _, o := range []*Options{manualOpts(rcvSegSize, TruncatePartial), manualOpts(rcvSegSize, Strict), readOnlyOpts(rcvSegSize)} {
			d := writeImage(t, "", base)
			require.NoError(t, c.make(d))
			err := rcvOpenClose(t, d, o, func(l *Log) {
				ce := l.Recovery().Corruption
				require.NotNil(t, ce, c.name)
				require.Equal(t, c.entry, ce.Segment, c.name)
				rcvRequireRecords(t, l, recs, c.last, c.name+" (ReadOnly)")
			})
			if o.ReadOnly {
				require.NoError(t, err, c.name)
				continue
			}
			ce := rcvCorruption(t, err, c.name)
			require.Equal(t, c.entry, ce.Segment, c.name)
			require.True(t, ce.Durable, c.name)
		}
	}
}

// rc2Redo returns img with a TruncateBack redo record in META that keeps
// the records up to keep, in the stages a crash inside TruncateBack can
// leave: nothing cut yet; the later segments removed; everything zeroed
// (the batch the cut went through not retyped) but META not cleared.
func rc2Redo(t *testing.T, img dirImage, locs map[uint64]rcvLoc, keep uint64) map[string]dirImage {
	t.Helper()
	m, err := decodeMeta(img[metaName])
	require.NoError(t, err)
	loc := locs[keep+1]
	num, _ := segment.ParseName(loc.seg)
	m.backSeg, m.backOff, m.floor = num, uint32(loc.off), keep
	redo := img.with(metaName, m.encode())
	removed := redo
	for _, n := range img.segNames() {
		if n > loc.seg {
			removed = removed.with(n, []byte(nil))
		}
	}
	b := bytes.Clone(img[loc.seg])
	clear(b[loc.off:])
	return map[string]dirImage{"nothing cut": redo, "later segments removed": removed, "all cut but META": removed.with(loc.seg, b)}
}

// TestReadOnlyPendingTruncateBack (issue 13 bug 4): a ReadOnly open of a
// log whose TruncateBack a crash interrupted serves what a writable open
// leaves once it finished the truncation — without writing — and says so
// in Recovery().PendingTruncation; also when the cut goes through a batch,
// whose kept records are served.
func TestReadOnlyPendingTruncateBack(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 4)
	names := img.segNames()
	var keeps []uint64
	for _, name := range []string{names[1], names[len(names)-1]} {
		var in []uint64
		for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
			if locs[seq].seg == name {
				in = append(in, seq)
			}
		}
		keeps = append(keeps, in[1+rng.IntN(len(in)-2)]-1)
	}

	// A log whose newest records are a batch of 6, cut after its third.
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	var brecs [][]byte
	for range 10 {
		brecs = append(brecs, rcvPayload(rng, 100))
		_, err := l.Append(brecs[len(brecs)-1])
		require.NoError(t, err)
	}
	batch := make([][]byte, 6)
	for i := range batch {
		batch[i] = rcvPayload(rng, 100)
	}
	first, err := l.AppendBatch(batch)
	require.NoError(t, err)
	brecs = append(brecs, batch...)
	blocs := rcvLocs(l)
	require.NoError(t, l.Close())
	bimg := snapshotDir(t, dir)

	type cut struct {
		img  dirImage
		recs [][]byte
		locs map[uint64]rcvLoc
		keep uint64
	}
	cuts := []cut{{bimg, brecs, blocs, first + 2}}
	for _, k := range keeps {
		cuts = append(cuts, cut{img, recs, locs, k})
	}
	for _, c := range cuts {
		for stage, simg := range rc2Redo(t, c.img, c.locs, c.keep) {
			label := fmt.Sprintf("TruncateBack(%d), %s", c.keep, stage)
			d := writeImage(t, "", simg)
			require.NoError(t, rcvOpenClose(t, d, readOnlyOpts(rcvSegSize), func(l *Log) {
				rep := l.Recovery()
				require.True(t, rep.PendingTruncation, label)
				require.False(t, rep.FinishedTruncation, label)
				require.Nil(t, rep.TornTail, label)
				require.Nil(t, rep.Corruption, label)
				rcvRequireRecords(t, l, c.recs, c.keep, label+" (ReadOnly)")
			}), label)
			rcvRequireFiles(t, simg, d, label+" (ReadOnly)")
			require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
				require.True(t, l.Recovery().FinishedTruncation, label)
				rcvRequireRecords(t, l, c.recs, c.keep, label+" (writable)")
			}), label)
		}
	}
}

// TestRedoFaultIsIOFault (issue 8, lower severity): the reads of the
// mapping while Open finishes a TruncateBack are guarded: a file truncated
// under the mapping is ErrCorrupt with ReasonIOFault naming the segment,
// not a SIGBUS.
func TestRedoFaultIsIOFault(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 2)
	keep := uint64(len(recs) - 2)
	seg := locs[keep+1].seg
	d := writeImage(t, "", rc2Redo(t, img, locs, keep)["nothing cut"])
	path := filepath.Join(d, seg)
	var once sync.Once
	psnSetFault(t, func(op sysutil.Op, p string) error {
		if op == sysutil.OpMmap && p == path {
			once.Do(func() { os.Truncate(path, 4096) }) // after Open's size check
		}
		return nil
	})
	ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), nil), "truncated under the mapping")
	require.Equal(t, ReasonIOFault, ce.Reason)
	require.Equal(t, seg, ce.Segment)
	require.True(t, wasPoisoned(d))
}

// TestTruncateFrontMetaInDoubt (issue 8, lower severity): TruncateFront's
// META replaced the old one but the directory sync failed: the new META may
// be on disk, so the log is poisoned, as TruncateBack's is; a reopen
// recovers every record at or above the new front.
func TestTruncateFrontMetaInDoubt(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l.Close()
	recs := map[uint64][]byte{}
	for i := range 100 {
		p := fmt.Appendf(nil, "rec-%d", i)
		seq, err := l.Append(p)
		require.NoError(t, err)
		recs[seq] = p
	}
	require.NoError(t, l.Sync())
	waitPrepared(l)
	remove := psnSetFault(t, func(o sysutil.Op, path string) error {
		if o == sysutil.OpSyncDir && path == dir {
			return syscall.EIO
		}
		return nil
	})
	err = l.TruncateFront(50)
	remove()
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, err, ErrPoisoned)
	psnRequirePoisoned(t, l)
	for s := range recs {
		if s < 50 {
			delete(recs, s)
		}
	}
	psnReopen(t, l, dir, recs, recs)
}

// TestOpenSyncsNewDirectoryParents (issue 8, lower severity): Open of a log
// in directories it creates fsyncs the parent of each one, so the new
// names survive a power cut; a failing sync fails Open.
func TestOpenSyncsNewDirectoryParents(t *testing.T) {
	base := fastTempDir(t)
	dir := filepath.Join(base, "a", "b")
	var mu sync.Mutex
	var synced []string
	psnSetFault(t, func(o sysutil.Op, path string) error {
		if o == sysutil.OpSyncDir {
			mu.Lock()
			synced = append(synced, path)
			mu.Unlock()
		}
		return nil
	})
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	mu.Lock()
	require.Subset(t, synced, []string{base, filepath.Join(base, "a")})
	mu.Unlock()

	dir = filepath.Join(base, "c", "d")
	psnSetFault(t, func(o sysutil.Op, path string) error {
		if o == sysutil.OpSyncDir && path == filepath.Join(base, "c") {
			return syscall.EIO
		}
		return nil
	})
	_, err = Open(dir, psnOpts(SyncManual))
	require.ErrorIs(t, err, syscall.EIO)

	// A file in the way is mkdir's error.
	require.NoError(t, os.WriteFile(filepath.Join(base, "file"), nil, 0o644))
	_, err = Open(filepath.Join(base, "file", "log"), psnOpts(SyncManual))
	require.Error(t, err)
}

// TestOpenProbeErrors: the reads recovery makes of files it has not mapped
// go through the fault seam, and their I/O errors fail Open instead of
// being taken for a verdict: the header check for a newer format, the
// probe of a later segment that decides whether a torn end is sealed, the
// page-cache eviction of a poisoned directory.
func TestOpenProbeErrors(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	torn := bytes.Clone(r.img[r.active])
	clear(torn[r.locs[r.synced+2].off+5:])
	tornImg := r.img.with(r.active, torn)
	for _, c := range []struct {
		name     string
		img      dirImage
		seg      string // the file whose n-th open fails
		n        int
		poisoned bool
	}{
		{"newer-format check", r.img, r.active, 1, false},
		{"probe of the later segment", tornImg, r.prep, 2, false},
		{"page-cache eviction", r.img, r.active, 2, true},
	} {
		d := writeImage(t, "", c.img)
		if c.poisoned {
			markPoisoned(d)
		}
		path := filepath.Join(d, c.seg)
		var opens int
		remove := psnSetFault(t, func(op sysutil.Op, p string) error {
			if op == sysutil.OpOpen && p == path {
				if opens++; opens == c.n {
					return syscall.EIO
				}
			}
			return nil
		})
		_, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
		remove()
		require.ErrorIs(t, err, syscall.EIO, c.name)
		rcvRequireFiles(t, c.img, d, c.name)
	}
}

// TestRecoveryCleanSealedMark: a sealed segment that ends with the durable
// mark of an earlier clean Close (the next run rotated right after it) does
// not make a log Clean whose newest segment has a torn tail, ReadOnly
// included.
func TestRecoveryCleanSealedMark(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	var recs [][]byte
	add := func(l *Log, p []byte) {
		_, err := l.Append(p)
		require.NoError(t, err)
		recs = append(recs, p)
	}
	for activeRoom(l) > 400 {
		add(l, bytes.Repeat([]byte{'a'}, 100))
	}
	require.NoError(t, l.Close()) // the mark ends segment 1
	l, err = Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	defer l.Close()
	add(l, bytes.Repeat([]byte{'b'}, 1000)) // does not fit: segment 2
	require.Len(t, l.segments(), 2)
	require.NoError(t, l.Sync())
	name, end := rcvActive(l)
	waitPrepared(l)
	img := snapshotDir(t, dir)
	seg := bytes.Clone(img[name])
	copy(seg[end:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	img = img.with(name, seg)
	for _, o := range []*Options{manualOpts(rcvSegSize, TruncatePartial), readOnlyOpts(rcvSegSize)} {
		d := writeImage(t, "", img)
		require.NoError(t, rcvOpenClose(t, d, o, func(l *Log) {
			require.NotNil(t, l.Recovery().TornTail)
			require.False(t, l.Recovery().Clean, "ReadOnly %v", o.ReadOnly)
			rcvRequireRecords(t, l, recs, uint64(len(recs)), "sealed mark")
		}))
	}
}
