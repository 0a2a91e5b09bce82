package sysutil_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// mountFS mounts a fresh fstype filesystem ("xfs", 300 MiB, or "btrfs",
// 128 MiB) from a sparse image under /dev/shm and returns its root. It skips
// when not root or when mkfs or losetup are missing (MMAPWAL_TORTURE=1 fails
// instead). mmapwal's loopfs_test.go has the full version.
func mountFS(t testing.TB, fstype string) string {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("MMAPWAL_TORTURE") == "1" {
		unavailable = t.Fatalf
	}
	if os.Geteuid() != 0 {
		unavailable("needs root to mount a %s image", fstype)
	}
	size := map[string]int64{"xfs": 300, "btrfs": 128}[fstype] << 20
	for _, tool := range []string{"mkfs." + fstype, "losetup", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("needs %s for a %s image", tool, fstype)
		}
	}
	host, err := os.MkdirTemp("/dev/shm", "sysutil-fs-")
	if err != nil {
		unavailable("needs /dev/shm for the image: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(host) })
	img := filepath.Join(host, "fs.img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	require.NoError(t, os.Truncate(img, size))
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			unavailable("%s %v: %v: %s", name, args, err, out)
		}
		return string(out)
	}
	run("mkfs."+fstype, "-q", "-f", img)
	mnt := t.TempDir()
	run("mount", "-t", fstype, "-o", "loop", img, mnt)
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// writeFile creates a 1 MiB file of fallocated, written bytes.
func writeFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := sysutil.Create(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	require.NoError(t, sysutil.Fallocate(f, 1<<20))
	_, err = f.WriteAt(make([]byte, 1<<20), 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	return f
}

func reflink(t *testing.T, src, dst string) *os.File {
	t.Helper()
	out, err := exec.Command("cp", "--reflink=always", src, dst).CombinedOutput()
	require.NoError(t, err, "cp --reflink=always: %s", out)
	f, err := os.Open(dst)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFSTypeTmpfs(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	name, err := sysutil.FSType("/dev/shm")
	require.NoError(t, err)
	require.Equal(t, "tmpfs", name)
	_, err = sysutil.FSType(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = sysutil.HasNoCOW(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorIs(t, sysutil.SetNoCOW(filepath.Join(t.TempDir(), "missing")), os.ErrNotExist)
	_, err = sysutil.SharedExtents(closedFile(t))
	require.ErrorIs(t, err, os.ErrClosed)
}

func TestNoCOWBtrfs(t *testing.T) {
	mnt := mountFS(t, "btrfs")
	name, err := sysutil.FSType(mnt)
	require.NoError(t, err)
	require.Equal(t, "btrfs", name)

	dir := filepath.Join(mnt, "log")
	require.NoError(t, os.Mkdir(dir, 0o755))
	has, err := sysutil.HasNoCOW(dir)
	require.NoError(t, err)
	require.False(t, has, "a new btrfs directory is copy-on-write")
	require.NoError(t, sysutil.SetNoCOW(dir))
	require.NoError(t, sysutil.SetNoCOW(dir), "setting it twice is fine")
	has, err = sysutil.HasNoCOW(dir)
	require.NoError(t, err)
	require.True(t, has)

	// A file created in the directory inherits the attribute; its extents
	// are its own until a reflink copy shares them. (btrfs refuses a
	// reflink of a NOCOW file into a COW one, so the copy is made NOCOW too.)
	f := writeFile(t, filepath.Join(dir, "seg"))
	has, err = sysutil.HasNoCOW(f.Name())
	require.NoError(t, err)
	require.True(t, has, "the file did not inherit NOCOW")
	shared, err := sysutil.SharedExtents(f)
	require.NoError(t, err)
	require.False(t, shared)
	c := reflink(t, f.Name(), filepath.Join(dir, "copy"))
	for _, x := range []*os.File{f, c} {
		shared, err = sysutil.SharedExtents(x)
		require.NoError(t, err)
		require.True(t, shared, "%s: reflinked extents not reported shared", x.Name())
	}

	// btrfs cannot unshare in place.
	require.ErrorIs(t, sysutil.Unshare(f, 1<<20), sysutil.ErrUnsupported)

	// A file made outside the directory stays copy-on-write.
	g := writeFile(t, filepath.Join(mnt, "cow"))
	has, err = sysutil.HasNoCOW(g.Name())
	require.NoError(t, err)
	require.False(t, has)
}

func TestSharedExtentsXFS(t *testing.T) {
	mnt := mountFS(t, "xfs")
	name, err := sysutil.FSType(mnt)
	require.NoError(t, err)
	require.Equal(t, "xfs", name)
	f := writeFile(t, filepath.Join(mnt, "seg"))
	shared, err := sysutil.SharedExtents(f)
	require.NoError(t, err)
	require.False(t, shared)
	c := reflink(t, f.Name(), filepath.Join(mnt, "copy"))
	for _, x := range []*os.File{f, c} {
		shared, err = sysutil.SharedExtents(x)
		require.NoError(t, err)
		require.True(t, shared, "%s: reflinked extents not reported shared", x.Name())
	}
	// Unshare gives the copy blocks of its own; the original's are then its
	// own too.
	w, err := os.OpenFile(c.Name(), os.O_RDWR, 0)
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, sysutil.Unshare(w, 1<<20))
	for _, x := range []*os.File{f, c} {
		shared, err = sysutil.SharedExtents(x)
		require.NoError(t, err)
		require.False(t, shared, "%s: still shared after Unshare", x.Name())
	}
	// xfs has no NOCOW attribute: HasNoCOW answers false or ErrUnsupported.
	if has, err := sysutil.HasNoCOW(f.Name()); err == nil {
		require.False(t, has)
	} else {
		require.ErrorIs(t, err, sysutil.ErrUnsupported)
	}
}

// TestSharedExtentsTmpfs: tmpfs maps no extents, or none shared.
func TestSharedExtentsTmpfs(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "sysutil-")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	defer os.RemoveAll(dir)
	f := writeFile(t, filepath.Join(dir, "seg"))
	shared, err := sysutil.SharedExtents(f)
	if err != nil {
		require.ErrorIs(t, err, sysutil.ErrUnsupported)
	}
	require.False(t, shared)
}

// BenchmarkSharedExtents measures one FIEMAP of a fallocated, written
// 1 MiB file (what mmapwal pays at each segment activation) on the test's
// temporary directory, xfs and btrfs.
func BenchmarkSharedExtents(b *testing.B) {
	for _, fs := range []string{"tempdir", "xfs", "btrfs"} {
		b.Run("fs="+fs, func(b *testing.B) {
			dir := b.TempDir()
			if fs != "tempdir" {
				dir = mountFS(b, fs)
			}
			f := writeFile(b, filepath.Join(dir, "seg"))
			for b.Loop() {
				if _, err := sysutil.SharedExtents(f); err != nil {
					b.Skip(err)
				}
			}
		})
	}
}
