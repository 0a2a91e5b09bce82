package mmapwal

// Real full disks and real I/O errors (issue 5 §4), on filesystems this test
// mounts itself (root only: every test but the last skips, saying why, when
// it cannot mount):
//
//   - TestFullDiskTmpfs, TestFullDiskExt4: fill a tiny filesystem (tmpfs;
//     ext4 on a loop device) by appending until an append fails. The error
//     is ErrNoSpace (and ENOSPC) at a rotation — the preallocation of the
//     next segment fails up front — never a SIGBUS; the log stays usable and
//     unpoisoned, reopens with every acknowledged record, and appends again
//     once space is freed.
//   - TestFullDiskWriteback: real kernel write-back errors (research
//     reliability.md §1.2): ext4 in a sparse 64 MiB image on an 8 MiB tmpfs.
//     Fallocate succeeds (ext4 sees free space) but write-back of the dirty
//     pages fails when the tmpfs under the image is full, so msync reports
//     ENOSPC or EIO while the page cache still shows the data. The first
//     failing Sync poisons the log and later calls never un-poison it; a
//     reopen in the same process either fails cleanly or re-reads the disk
//     (the engine evicts the cached pages of a log it saw poisoned) and
//     serves only records that are really on it.
//   - TestFullDiskTruncatedUnderMapping (no root needed): another program
//     truncates a mapped segment; the library's own reads of the lost
//     records return ErrCorrupt with ReasonIOFault instead of crashing on
//     SIGBUS, and a recovery of the directory returns an error.
//   - TestFullDiskXFS, TestFullDiskBtrfs: the same on xfs and btrfs (NOCOW
//     set by Open).
//
// The filesystems are mounted by mountLoopFS (loopfs_test.go).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// fdGuard runs fn with faults of this goroutine turned into a panic, and
// reports a memory fault (SIGBUS) as an error instead of a crash of the
// whole test binary.
func fdGuard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("memory fault (SIGBUS) in the library: %v", r)
				return
			}
			panic(r)
		}
	}()
	return fn()
}

// fdPayload is the content of record seq in these tests.
func fdPayload(seq uint64, n int) []byte { return bbPayloadN(seq, n) }

// fdCheckAll checks that l holds every record of acked, byte for byte, and
// nothing else.
func fdCheckAll(t *testing.T, l *Log, acked map[uint64][]byte, what string) {
	t.Helper()
	n, err := bbCheckServed(l, acked)
	if err != nil || n != len(acked) {
		t.Fatalf("%s: %d of %d acknowledged records: %v", what, n, len(acked), err)
	}
}

// fdFill appends to a log in dir, on a small filesystem that also holds the
// file ballast, until an append fails; then it checks the failure, the
// reopen, and that freeing the ballast lets appends go on.
func fdFill(t *testing.T, dir, ballast string, segSize int64) {
	opts := &Options{SegmentSize: segSize, Durability: SyncAlways}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	// After a SIGBUS caught by fdGuard the faulted Append still holds the
	// writer's lock: a Close would hang instead of reporting the failure.
	defer func() {
		if !t.Failed() {
			l.Close()
		}
	}()
	acked := map[uint64][]byte{}
	const size = 3000
	var failed error
	for seq := uint64(1); seq < 100000; seq++ {
		p := fdPayload(seq, size)
		room := activeRoom(l)
		err := fdGuard(func() error { _, err := l.Append(p); return err })
		if err == nil {
			acked[seq] = p
			continue
		}
		if room >= int64(crcframe.Size(size)) {
			t.Fatalf("append %d failed with %d bytes left in the segment (not at a rotation): %v", seq, room, err)
		}
		failed = err
		break
	}
	if failed == nil {
		t.Fatal("the filesystem never filled up")
	}
	t.Logf("full after %d records in %d segments: %v", len(acked), l.Stats().Segments, failed)
	if !errors.Is(failed, ErrNoSpace) || !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ErrNoSpace and ENOSPC", failed)
	}
	if l.Stats().Poisoned {
		t.Fatal("a full disk poisoned the log")
	}
	// Still full: the next append fails the same way; the log stays usable.
	if err := fdGuard(func() error { _, err := l.Append(fdPayload(0, size)); return err }); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("second append on a full disk: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync on a full disk: %v", err)
	}
	fdCheckAll(t, l, acked, "on the full disk")
	// Close may have no room for its durable mark (it would need a new
	// segment): it may report ErrNoSpace, and everything is durable anyway.
	if err := l.Close(); err != nil && !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Close on a full disk: %v", err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("reopen on the full disk: %v", err)
	}
	fdCheckAll(t, l, acked, "reopened on the full disk")
	if l.Stats().Poisoned {
		t.Fatal("the reopened log is poisoned")
	}
	// Free space: appends work again.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	last := l.LastSeq()
	for seq := last + 1; seq <= last+40; seq++ {
		p := fdPayload(seq, size)
		if err := fdGuard(func() error { _, err := l.Append(p); return err }); err != nil {
			t.Fatalf("append %d after freeing space: %v", seq, err)
		}
		acked[seq] = p
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after freeing space: %v", err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	fdCheckAll(t, l, acked, "final reopen")
}

// fdBallast fills a file of n bytes at path (so that deleting it frees
// space).
func fdBallast(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xb5}, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskTmpfs fills a 2 MiB tmpfs with a log of 256 KiB segments.
func TestFullDiskTmpfs(t *testing.T) {
	mnt := mountLoopFS(t, "tmpfs", 2)
	fdBallast(t, filepath.Join(mnt, "ballast"), 600<<10)
	fdFill(t, filepath.Join(mnt, "log"), filepath.Join(mnt, "ballast"), 256<<10)
}

// TestFullDiskExt4 fills an 8 MiB ext4 filesystem on a loop device.
func TestFullDiskExt4(t *testing.T) {
	mnt := mountLoopFS(t, "ext4", 8)
	fdBallast(t, filepath.Join(mnt, "ballast"), 1<<20)
	fdFill(t, filepath.Join(mnt, "log"), filepath.Join(mnt, "ballast"), 256<<10)
}

// TestFullDiskXFS fills an xfs filesystem of the smallest size (300 MiB) on
// a loop device, all but 4 MiB of it taken by a fallocated ballast.
func TestFullDiskXFS(t *testing.T) {
	mnt := mountLoopFS(t, "xfs", 300)
	loopFSBallast(t, filepath.Join(mnt, "ballast"), 4<<20)
	fdFill(t, filepath.Join(mnt, "log"), filepath.Join(mnt, "ballast"), 256<<10)
}

// TestFullDiskBtrfs fills a btrfs filesystem (128 MiB, all but 4 MiB taken
// by a ballast): the log directory gets NOCOW, so a store into a
// preallocated segment overwrites in place and the full disk is an
// ErrNoSpace at a rotation, never a SIGBUS.
func TestFullDiskBtrfs(t *testing.T) {
	mnt := mountLoopFS(t, "btrfs", 128)
	loopFSBallast(t, filepath.Join(mnt, "ballast"), 4<<20)
	fdFill(t, filepath.Join(mnt, "log"), filepath.Join(mnt, "ballast"), 256<<10)
}

// fdReadDisk reads path as the disk holds it: it first evicts the file's
// clean cached pages (fadvise DONTNEED), so that the read comes from the
// disk. (O_DIRECT would do too, but ext4 refuses it once it has aborted.)
func fdReadDisk(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sysutil.FadviseDontNeed(f, 0, 0)
	f.Close()
	return os.ReadFile(path)
}

// fdCheckOnDisk checks that every record l serves is on the disk: its frame
// bytes, read with O_DIRECT, hold the same payload.
func fdCheckOnDisk(t *testing.T, l *Log, what string) int {
	t.Helper()
	n := 0
	for _, s := range l.segments() {
		disk, err := fdReadDisk(s.path)
		if err != nil {
			t.Fatalf("%s: read %s: %v", what, s.name, err)
		}
		for i := int64(0); i < s.idx.len(); i++ {
			seq, off := s.idx.seq(i), s.idx.off(i)
			got, err := l.Read(seq)
			if err != nil {
				t.Fatalf("%s: Read(%d): %v", what, seq, err)
			}
			start := off + crcframe.HeaderSize
			if int64(len(disk)) < start+int64(len(got)) || !bytes.Equal(disk[start:start+int64(len(got))], got) {
				t.Fatalf("%s: record %d is served but its bytes are not on the disk", what, seq)
			}
			n++
		}
	}
	return n
}

// TestFullDiskWriteback provokes real write-back errors: dirty pages of a
// fallocated segment that the loop device cannot write because the tmpfs
// under the image is full.
//
// The kernel's limit, which no library can lift: a write-back error is
// reported once per file (errseq_t) to the descriptors open when it
// happened, and is then considered seen. After a failed msync/fdatasync the
// pages are marked clean with the data that never reached the disk, and the
// page cache keeps serving it. A new process that opens the file afterwards
// learns nothing of the error: only the process that saw it (the engine
// poisons the log and remembers the directory) can distrust those pages —
// which is why the engine evicts them (fadvise DONTNEED) before a reopen in
// the same process, and why the first sync error must be latched forever.
func TestFullDiskWriteback(t *testing.T) {
	host := mountLoopFS(t, "tmpfs", 8)
	mnt := mountLoopFSImage(t, "ext4", filepath.Join(host, "ext4.img"), 64)
	dir := filepath.Join(mnt, "log")
	opts := &Options{SegmentSize: 16 << 20, Durability: SyncManual}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	appended, acked := map[uint64][]byte{}, map[uint64][]byte{}
	var syncErr error
	const size = 4000
	for seq := uint64(1); seq <= 12000 && syncErr == nil; seq++ {
		p := fdPayload(seq, size)
		if err := fdGuard(func() error { _, err := l.Append(p); return err }); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
		appended[seq] = p
		if seq%64 == 0 {
			if syncErr = fdGuard(l.Sync); syncErr == nil {
				for s, p := range appended {
					acked[s] = p
				}
			}
		}
	}
	if syncErr == nil {
		t.Skip("write-back never failed: the filesystem absorbed every write")
	}
	t.Logf("first failing Sync after %d acknowledged of %d appended records: %v", len(acked), len(appended), syncErr)
	if !errors.Is(syncErr, ErrPoisoned) {
		t.Fatalf("the first failing Sync: %v, want ErrPoisoned", syncErr)
	}
	if !errors.Is(syncErr, syscall.ENOSPC) && !errors.Is(syncErr, syscall.EIO) {
		t.Fatalf("the first failing Sync: %v, want it to wrap ENOSPC or EIO", syncErr)
	}
	// The kernel reports the error once: the next flush would "succeed".
	// The log never un-poisons.
	for range 3 {
		if err := l.Sync(); !errors.Is(err, ErrPoisoned) {
			t.Fatalf("a later Sync: %v, want ErrPoisoned", err)
		}
	}
	if err := fdGuard(func() error { _, err := l.Append([]byte("after")); return err }); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("Append after the failure: %v, want ErrPoisoned", err)
	}
	if !l.Stats().Poisoned {
		t.Fatal("Stats().Poisoned is false")
	}
	type loc struct {
		path string
		off  int64
	}
	locs := map[uint64]loc{}
	for _, s := range l.segments() {
		for i := int64(0); i < s.idx.len(); i++ {
			locs[s.idx.seq(i)] = loc{s.path, s.idx.off(i)}
		}
	}
	if err := l.Close(); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("Close of the poisoned log: %v, want ErrPoisoned", err)
	}

	// Reopen in this process: it may refuse (the filesystem aborted its
	// journal and is read-only now), or re-read the disk.
	for _, ro := range []bool{false, true} {
		o := *opts
		o.ReadOnly = ro
		var l2 *Log
		err := fdGuard(func() (err error) { l2, err = Open(dir, &o); return })
		if err != nil {
			if strings.Contains(err.Error(), "SIGBUS") {
				t.Fatalf("reopen (ReadOnly %v): %v", ro, err)
			}
			t.Logf("reopen (ReadOnly %v) refused: %v", ro, err)
			continue
		}
		what := fmt.Sprintf("reopen (ReadOnly %v)", ro)
		served := map[uint64][]byte{}
		err = fdGuard(func() error {
			it, err := l2.NewIterator(0)
			if err != nil {
				return err
			}
			defer it.Close()
			for it.Next() {
				if !bytes.Equal(it.Value(), appended[it.Seq()]) {
					return fmt.Errorf("record %d: bytes never appended there", it.Seq())
				}
				served[it.Seq()] = bytes.Clone(it.Value())
			}
			return it.Err()
		})
		if err != nil {
			l2.Close()
			t.Fatalf("%s: %v", what, err)
		}
		// Every acknowledged record the disk holds is served. One the disk
		// lost although its msync returned success is the filesystem's
		// failure, not the log's: ext4 on an overfull loop device can
		// abort its journal before it records that the preallocated
		// (unwritten) blocks hold data, and then reads them as zeros.
		lostByFS := 0
		for s, p := range acked {
			if _, ok := served[s]; ok {
				continue
			}
			disk, err := fdReadDisk(locs[s].path)
			if err != nil {
				l2.Close()
				t.Fatalf("%s: %v", what, err)
			}
			start := locs[s].off + crcframe.HeaderSize
			if int64(len(disk)) >= start+int64(len(p)) && bytes.Equal(disk[start:start+int64(len(p))], p) {
				l2.Close()
				t.Fatalf("%s: acknowledged record %d is on the disk but not served", what, s)
			}
			lostByFS++
		}
		if lostByFS > 0 {
			t.Logf("%s: the filesystem lost %d acknowledged records (their msync had succeeded; not on the disk once the cache is evicted)", what, lostByFS)
		}
		onDisk := fdCheckOnDisk(t, l2, what)
		rep := l2.Recovery()
		t.Logf("%s: %d records served (checked on the disk: %d), %d acknowledged, %d appended; torn tail %+v, corruption %v",
			what, len(served), onDisk, len(acked), len(appended), rep.TornTail, rep.Corruption)
		l2.Close()
	}
}

// TestFullDiskTruncatedUnderMapping truncates a sealed, mapped segment from
// outside while the log is open.
func TestFullDiskTruncatedUnderMapping(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on SIGBUS past the end of a mapped file (Linux)")
	}
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{SegmentSize: 16 << 10, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	recs := map[uint64][]byte{}
	for seq := uint64(1); len(l.segments()) < 4; seq++ {
		p := fdPayload(seq, 200)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		recs[seq] = p
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	s := l.segments()[1]
	if !s.mapped() {
		t.Fatal("segment 2 is not mapped")
	}
	const keep = 4096
	if err := os.Truncate(s.path, keep); err != nil {
		t.Fatal(err)
	}
	var intact, lost []uint64
	firstLost := uint64(0)
	for i := int64(0); i < s.idx.len(); i++ {
		off, seq := s.idx.off(i), s.idx.seq(i)
		switch {
		case off+int64(crcframe.Size(200)) <= keep:
			intact = append(intact, seq)
		case off >= keep:
			lost = append(lost, seq)
			if firstLost == 0 {
				firstLost = seq
			}
		}
	}
	if len(intact) == 0 || len(lost) == 0 {
		t.Fatalf("%d intact, %d lost records", len(intact), len(lost))
	}
	ioFault := func(err error, what string) {
		t.Helper()
		var ce *CorruptionError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Reason != ReasonIOFault || ce.Segment != s.name {
			t.Fatalf("%s: %v, want ErrCorrupt with ReasonIOFault in %s", what, err, s.name)
		}
	}
	for _, seq := range intact {
		if b, err := l.Read(seq); err != nil || !bytes.Equal(b, recs[seq]) {
			t.Fatalf("Read(%d) in the part that is left: %v", seq, err)
		}
	}
	var buf []byte
	for _, seq := range lost {
		err := fdGuard(func() error { _, err := l.Read(seq); return err })
		ioFault(err, fmt.Sprintf("Read(%d)", seq))
		err = fdGuard(func() error { _, err := l.ReadInto(buf[:0], seq); return err })
		ioFault(err, fmt.Sprintf("ReadInto(%d)", seq))
		called := false
		err = fdGuard(func() error { return l.View(seq, func([]byte) error { called = true; return nil }) })
		ioFault(err, fmt.Sprintf("View(%d)", seq))
		if called {
			t.Fatalf("View(%d) called fn with a lost record", seq)
		}
	}
	// An iterator serves the records that are left, then fails.
	it, err := l.NewIterator(intact[0])
	if err != nil {
		t.Fatal(err)
	}
	err = fdGuard(func() error {
		for it.Next() {
			if it.Seq() >= firstLost {
				return fmt.Errorf("the iterator served lost record %d", it.Seq())
			}
			if slices.Contains(intact, it.Seq()) && !bytes.Equal(it.Value(), recs[it.Seq()]) {
				return fmt.Errorf("record %d: other bytes", it.Seq())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ioFault(it.Err(), "Iterator.Next")
	it.Close()
	// Records in other segments are unaffected.
	last := l.LastSeq()
	if b, err := l.Read(last); err != nil || !bytes.Equal(b, recs[last]) {
		t.Fatalf("Read(%d) in the active segment: %v", last, err)
	}
	l.Close()
	// Recovery of the directory: an error (the segment is short), not a crash.
	for _, o := range []*Options{{SegmentSize: 16 << 10}, {SegmentSize: 16 << 10, ReadOnly: true}} {
		var l2 *Log
		err := fdGuard(func() (err error) { l2, err = Open(dir, o); return })
		if o.ReadOnly {
			if err != nil {
				t.Fatalf("ReadOnly open: %v", err)
			}
			if ce := l2.Recovery().Corruption; ce == nil || ce.Reason != ReasonSegmentShort || ce.Segment != s.name {
				t.Fatalf("ReadOnly open: Corruption %v, want the short %s", ce, s.name)
			}
			l2.Close()
			continue
		}
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.Reason != ReasonSegmentShort || ce.Segment != s.name || ce.Offset != keep {
			t.Fatalf("Open: %v, want ErrCorrupt SegmentShort in %s at %d", err, s.name, keep)
		}
	}
}
