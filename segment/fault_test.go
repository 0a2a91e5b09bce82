package segment_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// The tests in this file install the process-wide sysutil fault hook or
// mount filesystems; none of them may run in parallel.

// TestCreateNoSpace creates a segment larger than a 1 MiB tmpfs: Create
// fails with ENOSPC from the preallocation and leaves no file behind, and
// a segment that fits is then created normally. It needs root to mount.
func TestCreateNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a 1 MiB tmpfs (mount -t tmpfs -o size=1m)")
	}
	dir := filepath.Join(t.TempDir(), "full")
	requireNoErr(t, os.Mkdir(dir, 0o755), "mkdir")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount -l %s: %v: %s", dir, err, out)
		}
	})

	_, err := segment.Create(filepath.Join(dir, segment.Name(testNumber)), testHeader(4<<20))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Create of 4 MiB on a 1 MiB tmpfs: %v, want ENOSPC", err)
	}
	requireEmptyDir(t, dir)

	f, err := segment.Create(filepath.Join(dir, segment.Name(testNumber)), testHeader(64<<10))
	requireNoErr(t, err, "Create of 64 KiB after ENOSPC")
	_, err = f.WriteFrame(segment.HeaderSize, crcframe.Header{Seq: 10, Type: crcframe.Full}, pattern(1000))
	requireNoErr(t, err, "WriteFrame")
	requireNoErr(t, f.Sync(0, f.Size()), "Sync")
	requireNoErr(t, f.Close(), "Close")
}

// TestCreateFaults fails each I/O step of Create once with EIO: Create
// returns the error (errors.Is works through its wrapping) and leaves no
// file behind.
func TestCreateFaults(t *testing.T) {
	for _, op := range []sysutil.Op{sysutil.OpCreate, sysutil.OpFallocate, sysutil.OpFdatasync, sysutil.OpSyncDir, sysutil.OpMmap} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			restore := sysutil.SetFault(sysutil.FailNth(op, 1, syscall.EIO, false))
			f, err := segment.Create(filepath.Join(dir, segment.Name(testNumber)), testHeader(segment.MinSize))
			restore()
			if err == nil {
				f.Close()
				t.Fatalf("Create succeeded with %v failing", op)
			}
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("Create with %v failing: %v, want EIO", op, err)
			}
			requireEmptyDir(t, dir)
		})
	}
}

// TestSyncFaults: Sync and Zero return msync's error; a failed Quarantine
// removes its half-written file.
func TestSyncFaults(t *testing.T) {
	f := createSegment(t, 8192)
	_, end := writeFrames(t, f, base3())

	t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, true)))
	if err := f.Sync(0, end); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with msync failing: %v, want EIO", err)
	}
	if err := f.Zero(160, end); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Zero with msync failing: %v, want EIO", err)
	}
	if err := f.Sync(end, end); err != nil {
		t.Fatalf("an empty Sync calls msync: %v", err)
	}

	sysutil.SetFault(sysutil.FailNth(sysutil.OpFdatasync, 1, syscall.EIO, false))
	if _, err := f.Quarantine(64, 160); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Quarantine with fdatasync failing: %v, want EIO", err)
	}
	if _, err := os.Stat(segment.QuarantineName(f.Path(), 64)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed Quarantine left its file: %v", err)
	}
}

// TestScanTruncatedUnderMapping truncates a mapped segment file to 4096
// bytes: touching the mapping past the new end raises SIGBUS, which Scan
// turns into End.Reason IOFault instead of a crash. The End keeps the
// valid prefix found before the fault.
func TestScanTruncatedUnderMapping(t *testing.T) {
	t.Run("in-frames", func(t *testing.T) {
		// Record 11 runs from 2088 across the cut at 4096: the fault hits
		// while its checksum is computed.
		f := createSegment(t, 8192)
		frames := []frame{
			{crcframe.Header{Seq: 10, Type: crcframe.Full}, pattern(2000)},
			{crcframe.Header{Seq: 11, Durable: 2088, Type: crcframe.Full}, pattern(3000)},
			{crcframe.Header{Seq: 12, Durable: 2088, Type: crcframe.Full}, pattern(10)},
		}
		offs, _ := writeFrames(t, f, frames)
		requireNoErr(t, os.Truncate(f.Path(), 4096), "truncate")
		e, seen := scan(f, testPrevSeq, 8192)
		requireEnd(t, e, segment.End{Offset: offs[1], Records: 1, LastSeq: 10, Reason: crcframe.IOFault, Bad: offs[1], Dirty: 8192})
		requireVisited(t, seen, frames[:1], offs[:1])
	})
	t.Run("after-end", func(t *testing.T) {
		// The frames end before the cut: the fault hits while the zero
		// tail is checked.
		f := createSegment(t, 8192)
		frames := base3()
		offs, end := writeFrames(t, f, frames)
		requireNoErr(t, os.Truncate(f.Path(), 4096), "truncate")
		e, seen := scan(f, testPrevSeq, 8192)
		requireEnd(t, e, segment.End{Offset: end, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.IOFault, Bad: end, Dirty: 8192})
		requireVisited(t, seen, frames, offs)
	})
}
