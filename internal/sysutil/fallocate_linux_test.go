package sysutil_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// allocated returns the bytes the filesystem has allocated to path.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return st.Blocks * 512
}

func requireSize(t *testing.T, f *os.File, want int64) {
	t.Helper()
	fi, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, want, fi.Size())
}

func TestFallocate(t *testing.T) {
	const size = 3<<20 + 5
	f := newFile(t)
	_, err := f.WriteString("head")
	require.NoError(t, err)

	require.NoError(t, sysutil.Fallocate(f, size))
	requireSize(t, f, size)
	require.GreaterOrEqual(t, allocated(t, f.Name()), int64(size), "file is sparse")
	requireContent(t, f.Name(), append([]byte("head"), make([]byte, size-4)...))

	require.NoError(t, sysutil.Fallocate(f, 10), "a smaller size is a no-op")
	requireSize(t, f, size)
	require.NoError(t, sysutil.Fallocate(newFile(t), 0))
}

func TestFallocateFillsHoles(t *testing.T) {
	const size = 2 << 20
	f := newFile(t)
	require.NoError(t, f.Truncate(size)) // all hole
	require.NoError(t, sysutil.Fallocate(f, size))
	require.GreaterOrEqual(t, allocated(t, f.Name()), int64(size))
}

func TestFallocateZeroFillFallback(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EOPNOTSUPP, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			t.Cleanup(sysutil.SetFallocateCall(func(int, uint32, int64, int64) error { return errno }))
			const size = 2<<20 + 77
			f := newFile(t)
			_, err := f.WriteString("head")
			require.NoError(t, err)
			require.NoError(t, sysutil.Fallocate(f, size))
			requireSize(t, f, size)
			require.GreaterOrEqual(t, allocated(t, f.Name()), int64(size))
			requireContent(t, f.Name(), append([]byte("head"), make([]byte, size-4)...))
		})
	}
}

func TestFallocateRetriesEINTR(t *testing.T) {
	calls := 0
	t.Cleanup(sysutil.SetFallocateCall(func(fd int, mode uint32, off, n int64) error {
		if calls++; calls < 3 {
			return unix.EINTR
		}
		return unix.Fallocate(fd, mode, off, n)
	}))
	f := newFile(t)
	require.NoError(t, sysutil.Fallocate(f, 1<<20))
	require.Equal(t, 3, calls)
	requireSize(t, f, 1<<20)
}

func TestFallocateFailureTruncatesBack(t *testing.T) {
	// A failure after the file grew, as a partial allocation would leave it.
	t.Cleanup(sysutil.SetFallocateCall(func(fd int, _ uint32, _, n int64) error {
		if err := unix.Ftruncate(fd, n); err != nil {
			return err
		}
		return unix.EIO
	}))
	f := newFile(t)
	_, err := f.WriteString("head")
	require.NoError(t, err)
	err = sysutil.Fallocate(f, 1<<20)
	require.ErrorIs(t, err, syscall.EIO)
	requireSize(t, f, 4)
	requireContent(t, f.Name(), []byte("head"))
}

func TestFallocateReadOnlyFile(t *testing.T) {
	path := newFile(t).Name()
	ro, err := sysutil.OpenFile(path, false)
	require.NoError(t, err)
	defer ro.Close()
	// fallocate fails with EBADF, and so does the truncation back: both are
	// reported.
	err = sysutil.Fallocate(ro, 1<<20)
	require.ErrorIs(t, err, syscall.EBADF)
	require.ErrorContains(t, err, "truncate")
}

// smallTmpfs mounts a 1 MiB tmpfs and returns its directory, or skips.
func smallTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("needs root to mount a small tmpfs: mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	return int64(st.Bfree) * int64(st.Bsize) // Bsize is int32 on 32-bit linux
}

func TestFallocateENOSPC(t *testing.T) {
	dir := smallTmpfs(t)
	for _, name := range []string{"fallocate", "zero-fill"} {
		t.Run(name, func(t *testing.T) {
			if name == "zero-fill" {
				t.Cleanup(sysutil.SetFallocateCall(func(int, uint32, int64, int64) error { return unix.EOPNOTSUPP }))
			}
			f, err := sysutil.Create(filepath.Join(dir, name))
			require.NoError(t, err)
			t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
			_, err = f.WriteString("head")
			require.NoError(t, err)
			free := freeBytes(t, dir)

			err = sysutil.Fallocate(f, 4<<20)
			require.ErrorIs(t, err, syscall.ENOSPC)
			requireSize(t, f, 4)
			requireContent(t, f.Name(), []byte("head"))
			require.Equal(t, free, freeBytes(t, dir), "the failed allocation was not released")
		})
	}
}
