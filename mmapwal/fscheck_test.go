package mmapwal

// Copy-on-write filesystems (fscheck.go): btrfs gets NOCOW, a copy-on-write
// btrfs directory or segment is refused, shared extents (cp --reflink) are
// unshared on xfs and refused on btrfs, at Open and at rotation, and zfs and
// bcachefs are refused. Each refusal is a *FilesystemError matching
// errors.ErrUnsupported that names the filesystem and the path.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

var fcOpts = &Options{SegmentSize: 16 << 10, Durability: SyncManual}

// fcBuild writes a closed log of three segments in dir and returns its
// records.
func fcBuild(t *testing.T, dir string) map[uint64][]byte {
	t.Helper()
	l, err := Open(dir, fcOpts)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[uint64][]byte{}
	for seq := uint64(1); len(l.segments()) < 3; seq++ {
		p := fdPayload(seq, 500)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		recs[seq] = p
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// fcReflink copies src to dst with cp --reflink=always.
func fcReflink(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--reflink=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp --reflink=always %s %s: %v: %s", src, dst, err, out)
	}
}

// fcShared reports whether path has shared extents.
func fcShared(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	shared, err := sysutil.SharedExtents(f)
	if err != nil {
		t.Fatal(err)
	}
	return shared
}

// fcRefused checks that err is a *FilesystemError for fs and path that
// matches errors.ErrUnsupported.
func fcRefused(t *testing.T, err error, fs, path string) *FilesystemError {
	t.Helper()
	var fe *FilesystemError
	if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &fe) || fe.FS != fs || fe.Path != path {
		t.Fatalf("got %v, want a FilesystemError (errors.ErrUnsupported) for %s at %s", err, fs, path)
	}
	if !strings.Contains(err.Error(), fs) || !strings.Contains(err.Error(), path) {
		t.Fatalf("%q does not name %s and %s", err, fs, path)
	}
	return fe
}

// fcNoCOW reports whether path has the NOCOW attribute.
func fcNoCOW(t *testing.T, path string) bool {
	t.Helper()
	has, err := sysutil.HasNoCOW(path)
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// fcCheckRecords checks that a reopen of dir serves recs.
func fcCheckRecords(t *testing.T, dir string, opts *Options, recs map[uint64][]byte) {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fdCheckAll(t, l, recs, "reopen")
}

// TestFSCheckBtrfsNoCOW: Open sets NOCOW on a new log directory (missing,
// or made empty beforehand) on btrfs, so every segment file inherits it.
func TestFSCheckBtrfsNoCOW(t *testing.T) {
	mnt := mountLoopFS(t, "btrfs", 128)
	pre := filepath.Join(mnt, "pre")
	if err := os.Mkdir(pre, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(mnt, "new"), pre} {
		recs := fcBuild(t, dir)
		l, err := Open(dir, fcOpts) // the prepared segment too
		if err != nil {
			t.Fatal(err)
		}
		waitPrepared(l)
		if !fcNoCOW(t, dir) {
			t.Fatalf("%s: no NOCOW attribute", dir)
		}
		nums, _ := listSegments(dir)
		if len(nums) < 4 {
			t.Fatalf("%s: %d segments", dir, len(nums))
		}
		for _, n := range nums {
			if p := filepath.Join(dir, segment.Name(n)); !fcNoCOW(t, p) {
				t.Fatalf("%s: no NOCOW attribute", p)
			}
		}
		fdCheckAll(t, l, recs, "reopen")
		l.Close()
	}
}

// TestFSCheckBtrfsCOW: a log copied into a copy-on-write btrfs directory is
// refused by a writable Open (the directory lacks NOCOW; once it has it, the
// segments still lack it), and served by a ReadOnly one.
func TestFSCheckBtrfsCOW(t *testing.T) {
	mnt := mountLoopFS(t, "btrfs", 128)
	src := fastTempDir(t)
	recs := fcBuild(t, src)
	dir := filepath.Join(mnt, "cow")
	if err := copyDir(src, dir); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, fcOpts)
	fcRefused(t, err, "btrfs", dir)
	if err := sysutil.SetNoCOW(dir); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, fcOpts)
	fcRefused(t, err, "btrfs", filepath.Join(dir, segment.Name(1)))
	fcCheckRecords(t, dir, &Options{SegmentSize: fcOpts.SegmentSize, ReadOnly: true}, recs)
}

// TestFSCheckBtrfsReflink: a reflink copy of a segment is refused at Open
// (btrfs cannot unshare in place), and so is a prepared segment reflinked
// while the log is open, at the rotation that would activate it.
func TestFSCheckBtrfsReflink(t *testing.T) {
	mnt := mountLoopFS(t, "btrfs", 128)
	dir, bak := filepath.Join(mnt, "log"), filepath.Join(mnt, "bak")
	recs := fcBuild(t, dir)
	if err := os.Mkdir(bak, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sysutil.SetNoCOW(bak); err != nil { // btrfs reflinks NOCOW only to NOCOW
		t.Fatal(err)
	}
	seg2 := filepath.Join(dir, segment.Name(2))
	fcReflink(t, seg2, filepath.Join(bak, "copy"))
	_, err := Open(dir, fcOpts)
	fcRefused(t, err, "btrfs", seg2)
	os.Remove(filepath.Join(bak, "copy"))
	// The copy is gone, so the extents are not shared any more.
	fcRotateShared(t, dir, bak, "btrfs", false)
	fcCheckPrefix(t, dir, recs)
}

// TestFSCheckBtrfsSnapshot: after a snapshot of the subvolume holding a
// log, every segment shares its extents with the snapshot: Open refuses.
func TestFSCheckBtrfsSnapshot(t *testing.T) {
	mnt := mountLoopFS(t, "btrfs", 128)
	if _, err := exec.LookPath("btrfs"); err != nil {
		loopFSUnavailable(t, "needs btrfs (btrfs-progs) for a snapshot")
	}
	vol := filepath.Join(mnt, "vol")
	if _, err := runCmd("btrfs", "subvolume", "create", vol); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(vol, "log")
	recs := fcBuild(t, dir)
	if _, err := runCmd("btrfs", "subvolume", "snapshot", vol, filepath.Join(mnt, "snap")); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, fcOpts)
	fcRefused(t, err, "btrfs", filepath.Join(dir, segment.Name(1)))
	fcCheckRecords(t, dir, &Options{SegmentSize: fcOpts.SegmentSize, ReadOnly: true}, recs)
}

// fcCheckPrefix checks that a reopen of dir serves recs (and maybe more).
func fcCheckPrefix(t *testing.T, dir string, recs map[uint64][]byte) {
	t.Helper()
	l, err := Open(dir, fcOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq, p := range recs {
		if got, err := l.Read(seq); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Read(%d) after the reopen: %v", seq, err)
		}
	}
}

// fcRotateShared opens the log in dir, reflinks its prepared segment into
// bak and appends until a rotation activates it: on xfs (unshare) the
// append succeeds and the segment is not shared any more; on btrfs it fails
// with a FilesystemError, the log stays usable and, once the copy is
// removed, the next append rotates.
func fcRotateShared(t *testing.T, dir, bak, fs string, unshares bool) {
	t.Helper()
	l, err := Open(dir, fcOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	waitPrepared(l)
	next := filepath.Join(dir, segment.Name(l.nextNum))
	copyPath := filepath.Join(bak, "prepared")
	fcReflink(t, next, copyPath)
	if !fcShared(t, next) {
		t.Fatalf("%s not shared after cp --reflink", next)
	}
	segs := len(l.segments())
	var appendErr error
	for len(l.segments()) == segs {
		if _, appendErr = l.Append(fdPayload(l.LastSeq()+1, 500)); appendErr != nil {
			break
		}
	}
	if unshares {
		if appendErr != nil {
			t.Fatalf("append at the rotation: %v", appendErr)
		}
		if fcShared(t, next) {
			t.Fatalf("%s still shared after its activation", next)
		}
		return
	}
	fcRefused(t, appendErr, fs, next)
	if l.Stats().Poisoned {
		t.Fatal("a shared prepared segment poisoned the log")
	}
	if err := os.Remove(copyPath); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(fdPayload(l.LastSeq()+1, 500)); err != nil {
		t.Fatalf("append once the copy is gone: %v", err)
	}
	if len(l.segments()) == segs {
		t.Fatal("no rotation")
	}
}

// TestFSCheckXFSReflink: on xfs, a segment whose extents a reflink copy
// shares gets blocks of its own, at Open and at the rotation that activates
// a prepared segment reflinked meanwhile; where unsharing fails the Open is
// refused (not supported) or fails with ErrNoSpace (a full disk).
func TestFSCheckXFSReflink(t *testing.T) {
	mnt := mountLoopFS(t, "xfs", 300)
	dir := filepath.Join(mnt, "log")
	recs := fcBuild(t, dir)
	seg2 := filepath.Join(dir, segment.Name(2))
	fcReflink(t, seg2, filepath.Join(mnt, "copy"))

	notSupported := &os.PathError{Op: "FALLOC_FL_UNSHARE_RANGE", Path: seg2, Err: errors.Join(errors.ErrUnsupported, syscall.EOPNOTSUPP)}
	restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpUnshare, 1, notSupported, false))
	_, err := Open(dir, fcOpts)
	restore()
	fcRefused(t, err, "xfs", seg2)
	restore = sysutil.SetFault(sysutil.FailNth(sysutil.OpUnshare, 1, syscall.ENOSPC, false))
	_, err = Open(dir, fcOpts)
	restore()
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Open with a failing unshare: %v, want ErrNoSpace", err)
	}
	if !fcShared(t, seg2) {
		t.Fatal("the failed Opens unshared the segment")
	}

	fcCheckRecords(t, dir, fcOpts, recs)
	if fcShared(t, seg2) || fcShared(t, filepath.Join(mnt, "copy")) {
		t.Fatal("Open left the extents shared")
	}
	fcRotateShared(t, dir, mnt, "xfs", true)
	fcCheckPrefix(t, dir, recs)
}

// TestFSCheckFaults: a failing statfs, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS or
// FIEMAP fails the Open (or the rotation) with an error wrapping the cause.
func TestFSCheckFaults(t *testing.T) {
	btrfs := mountLoopFS(t, "btrfs", 128)
	xfs := mountLoopFS(t, "xfs", 300)
	fcBuild(t, filepath.Join(xfs, "log"))
	cases := []struct {
		op          sysutil.Op
		dir         string
		unsupported bool // a FilesystemError
	}{
		{sysutil.OpStatfs, filepath.Join(btrfs, "statfs"), false},
		{sysutil.OpSetFlags, filepath.Join(btrfs, "setflags"), true},
		{sysutil.OpGetFlags, filepath.Join(btrfs, "getflags"), true},
		{sysutil.OpFiemap, filepath.Join(xfs, "log"), false},
	}
	for _, c := range cases {
		t.Run(c.op.String(), func(t *testing.T) {
			t.Cleanup(sysutil.SetFault(sysutil.FailNth(c.op, 1, syscall.EIO, true)))
			_, err := Open(c.dir, fcOpts)
			if !errors.Is(err, syscall.EIO) || errors.Is(err, errors.ErrUnsupported) != c.unsupported {
				t.Fatalf("Open with a failing %s: %v, want EIO (unsupported: %v)", c.op, err, c.unsupported)
			}
		})
	}
	// FIEMAP failing at a rotation: the append fails; the log goes on once
	// it works again.
	l, err := Open(filepath.Join(xfs, "log"), fcOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpFiemap, 1, syscall.EIO, true))
	segs := len(l.segments())
	for len(l.segments()) == segs && err == nil {
		_, err = l.Append(fdPayload(l.LastSeq()+1, 500))
	}
	restore()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("append at a rotation with a failing FIEMAP: %v, want EIO", err)
	}
	if _, err := l.Append(fdPayload(l.LastSeq()+1, 500)); err != nil || len(l.segments()) == segs {
		t.Fatalf("append once FIEMAP works: %v (%d segments)", err, len(l.segments()))
	}
}

// TestFSCheckRefusedFS: zfs and bcachefs are refused by a writable Open
// before anything is written; a ReadOnly Open still serves a log there.
func TestFSCheckRefusedFS(t *testing.T) {
	for _, fs := range []string{"zfs", "bcachefs"} {
		t.Run(fs, func(t *testing.T) {
			dir := fastTempDir(t)
			recs := fcBuild(t, filepath.Join(dir, "old"))
			prev := fsTypeOf
			fsTypeOf = func(string) (string, error) { return fs, nil }
			t.Cleanup(func() { fsTypeOf = prev })
			for _, d := range []string{filepath.Join(dir, "new"), filepath.Join(dir, "old")} {
				_, err := Open(d, fcOpts)
				fcRefused(t, err, fs, d)
			}
			if _, err := os.Stat(filepath.Join(dir, "new", metaName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused Open wrote META: %v", err)
			}
			fcCheckRecords(t, filepath.Join(dir, "old"), &Options{SegmentSize: fcOpts.SegmentSize, ReadOnly: true}, recs)
		})
	}
}
