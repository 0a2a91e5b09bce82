package mmapwal

// Filesystems the tests mount themselves (issue 8, "Filesystems users run"):
// mountLoopFS makes a tmpfs, or an ext4, xfs or btrfs image on a loop
// device, and returns its mount point. The crash, power-loss, bad-bytes and
// full-disk families run on it beside their default directory.
//
// Mounting needs root on Linux, losetup and the filesystem's mkfs. Without
// them a test skips and says why — except under `make torture`
// (MMAPWAL_TORTURE=1), where a family that cannot run on its filesystem
// fails instead: a torture run is a claim that every filesystem was tested.
// .ci/run installs xfsprogs and btrfs-progs when it runs as root.
//
// Every image is a sparse file on a tmpfs (a fresh one, or /dev/shm): only
// the blocks the filesystem writes take memory, and nothing reaches a disk.
// Every mount is lazily unmounted (umount -l), every loop device detached
// (losetup -d) and every image removed in t.Cleanup.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// loopFS is how mountLoopFS makes one filesystem type on an image.
type loopFS struct {
	mkfs  string   // the mkfs command
	args  []string // its flags, before the image path
	minMB int      // the smallest image mkfs accepts, in MiB
	pkg   string   // the Debian package that has mkfs
}

var loopFSTypes = map[string]loopFS{
	"ext4":  {"mkfs.ext4", []string{"-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"}, 1, "e2fsprogs"},
	"xfs":   {"mkfs.xfs", []string{"-q", "-f"}, 300, "xfsprogs"},
	"btrfs": {"mkfs.btrfs", []string{"-q", "-f"}, 110, "btrfs-progs"},
}

// loopFSUnavailable skips the test with the reason, or fails it under
// MMAPWAL_TORTURE=1.
func loopFSUnavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if tortureMode() {
		t.Fatalf("MMAPWAL_TORTURE=1 runs every filesystem family, but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// loopFSNeedRoot skips (or, under torture, fails) the test unless it runs as
// root on Linux.
func loopFSNeedRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		loopFSUnavailable(t, "needs Linux: mounts a tmpfs or a loop device")
	}
	if os.Geteuid() != 0 {
		loopFSUnavailable(t, "needs root: mounts a tmpfs or a loop device")
	}
}

// runCmd runs a command and returns its trimmed output, or an error with it.
func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// mountLoopFS mounts a fresh filesystem of fstype ("tmpfs", "ext4", "xfs"
// or "btrfs") of sizeMB MiB and returns its root. A loop image lives in a
// fresh sparse file under /dev/shm (or, where there is none, on a tmpfs
// mounted for it); a size below the filesystem's minimum is raised to it.
func mountLoopFS(t testing.TB, fstype string, sizeMB int) string {
	t.Helper()
	loopFSNeedRoot(t)
	if fstype == "tmpfs" {
		dir := t.TempDir()
		if _, err := runCmd("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMB), "tmpfs", dir); err != nil {
			loopFSUnavailable(t, "cannot mount a tmpfs: %v", err)
		}
		t.Cleanup(func() { runCmd("umount", "-l", dir) })
		return dir
	}
	host, err := os.MkdirTemp("/dev/shm", "mmapwal-loop-")
	if err != nil {
		host = mountLoopFS(t, "tmpfs", sizeMB+16)
	} else {
		t.Cleanup(func() { os.RemoveAll(host) })
	}
	return mountLoopFSImage(t, fstype, filepath.Join(host, fstype+".img"), sizeMB)
}

// mountLoopFSImage makes a filesystem of fstype in a sparse image of sizeMB
// MiB at img, attaches it to a loop device and mounts it; it returns the
// mount point. The caller chooses where img lives (a small tmpfs under a
// larger image makes write-back fail).
func mountLoopFSImage(t testing.TB, fstype, img string, sizeMB int) string {
	t.Helper()
	loopFSNeedRoot(t)
	fs, ok := loopFSTypes[fstype]
	if !ok {
		t.Fatalf("mountLoopFS: no filesystem type %q", fstype)
	}
	for _, tool := range []string{fs.mkfs, "losetup", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			loopFSUnavailable(t, "needs %s for a %s image (apt-get install %s util-linux mount)", tool, fstype, fs.pkg)
		}
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(max(sizeMB, fs.minMB))<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(fs.mkfs, append(fs.args, img)...); err != nil {
		loopFSUnavailable(t, "cannot make a %s image: %v", fstype, err)
	}
	dev, err := runCmd("losetup", "-f", "--show", img)
	if err != nil {
		loopFSUnavailable(t, "cannot attach a loop device: %v", err)
	}
	t.Cleanup(func() { runCmd("losetup", "-d", dev) }) // after the unmount below
	mnt := t.TempDir()
	if _, err := runCmd("mount", "-t", fstype, dev, mnt); err != nil {
		loopFSUnavailable(t, "cannot mount %s as %s: %v", dev, fstype, err)
	}
	t.Cleanup(func() { runCmd("umount", "-l", mnt) })
	if got, err := sysutil.FSType(mnt); err != nil || got != fstype {
		t.Fatalf("%s: filesystem %q (%v), want %s", mnt, got, err, fstype)
	}
	return mnt
}

// loopFSFree returns the bytes an unprivileged writer may still allocate in
// the filesystem holding dir (stat -f: free blocks times block size).
func loopFSFree(t testing.TB, dir string) int64 {
	t.Helper()
	out, err := runCmd("stat", "-f", "-c", "%a %S", dir)
	if err != nil {
		t.Fatal(err)
	}
	var blocks, size int64
	if _, err := fmt.Sscan(out, &blocks, &size); err != nil {
		t.Fatalf("stat -f %s: %q: %v", dir, out, err)
	}
	return blocks * size
}

// loopFSBallast allocates a file at path that leaves about leave bytes free
// in its filesystem, so that deleting it frees the rest. Fallocate is fast
// on a filesystem of hundreds of MiB where writing the ballast would not be.
func loopFSBallast(t testing.TB, path string, leave int64) {
	t.Helper()
	n := loopFSFree(t, filepath.Dir(path)) - leave
	if n <= 0 {
		t.Fatalf("%s: only %d bytes free, want more than %d", filepath.Dir(path), loopFSFree(t, filepath.Dir(path)), leave)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sysutil.Fallocate(f, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
