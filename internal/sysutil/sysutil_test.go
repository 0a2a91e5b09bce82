package sysutil_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// newFile creates an empty file in a fresh directory and closes it at cleanup.
func newFile(t *testing.T) *os.File {
	t.Helper()
	f, err := sysutil.Create(filepath.Join(t.TempDir(), "seg"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// closedFile returns a file that has already been closed.
func closedFile(t *testing.T) *os.File {
	t.Helper()
	f := newFile(t)
	require.NoError(t, f.Close())
	return f
}

func TestPageSize(t *testing.T) {
	ps := sysutil.PageSize()
	require.Positive(t, ps)
	require.Zero(t, ps&(ps-1), "page size %d is not a power of two", ps)
}

func TestOpString(t *testing.T) {
	want := map[sysutil.Op]string{
		sysutil.OpMmap: "mmap", sysutil.OpMunmap: "munmap", sysutil.OpMsync: "msync",
		sysutil.OpFdatasync: "fdatasync", sysutil.OpFallocate: "fallocate",
		sysutil.OpWriteZeros: "writezeros", sysutil.OpMadvise: "madvise",
		sysutil.OpLock: "lock", sysutil.OpSyncDir: "syncdir", sysutil.OpCreate: "create",
		sysutil.OpOpen: "open", sysutil.OpRename: "rename", sysutil.OpRemove: "remove",
		sysutil.OpStatfs: "statfs", sysutil.OpGetFlags: "getflags", sysutil.OpSetFlags: "setflags",
		sysutil.OpFiemap: "fiemap", sysutil.OpUnshare: "unshare",
		0: "Op(0)", sysutil.OpUnshare + 1: "Op(19)", -1: "Op(-1)",
	}
	for op, name := range want {
		require.Equal(t, name, op.String())
	}
}

// TestFaultEveryOp checks that each exported call consults the hook with its
// own Op and path, returns the hook's error as is, and skips the real call.
func TestFaultEveryOp(t *testing.T) {
	dir := t.TempDir()
	f := newFile(t)
	_, err := f.WriteString("data")
	require.NoError(t, err)
	existing := f.Name()
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		op   sysutil.Op
		path string
		call func() error
	}{
		{sysutil.OpMmap, existing, func() error { _, err := sysutil.Mmap(f, 4, true); return err }},
		{sysutil.OpMunmap, "", func() error { return sysutil.Munmap(nil) }},
		{sysutil.OpMsync, "", func() error { return sysutil.Msync(nil, false) }},
		{sysutil.OpFdatasync, existing, func() error { return sysutil.Fdatasync(f) }},
		{sysutil.OpFallocate, existing, func() error { return sysutil.Fallocate(f, 1<<20) }},
		{sysutil.OpWriteZeros, existing, func() error { return sysutil.WriteZeros(f, 0, 4) }},
		{sysutil.OpMadvise, "", func() error { return sysutil.Madvise(nil, sysutil.AdviceNormal) }},
		{sysutil.OpLock, existing, func() error { return sysutil.Lock(f) }},
		{sysutil.OpSyncDir, dir, func() error { return sysutil.SyncDir(dir) }},
		{sysutil.OpCreate, missing, func() error { _, err := sysutil.Create(missing); return err }},
		{sysutil.OpOpen, existing, func() error { _, err := sysutil.OpenFile(existing, true); return err }},
		{sysutil.OpRename, existing, func() error { return sysutil.Rename(existing, missing) }},
		{sysutil.OpRemove, existing, func() error { return sysutil.Remove(existing) }},
		{sysutil.OpStatfs, dir, func() error { _, err := sysutil.FSType(dir); return err }},
		{sysutil.OpGetFlags, existing, func() error { _, err := sysutil.HasNoCOW(existing); return err }},
		{sysutil.OpSetFlags, existing, func() error { return sysutil.SetNoCOW(existing) }},
		{sysutil.OpFiemap, existing, func() error { _, err := sysutil.SharedExtents(f); return err }},
		{sysutil.OpUnshare, existing, func() error { return sysutil.Unshare(f, 4) }},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			var gotOp sysutil.Op
			var gotPath string
			t.Cleanup(sysutil.SetFault(func(op sysutil.Op, path string) error {
				gotOp, gotPath = op, path
				return syscall.EIO
			}))
			err := tt.call()
			require.ErrorIs(t, err, syscall.EIO)
			require.Equal(t, syscall.EIO, err, "the hook's error must come back as is")
			require.Equal(t, tt.op, gotOp)
			require.Equal(t, tt.path, gotPath)
		})
	}

	// None of the calls above happened: the file is intact and in place, and
	// nothing was created.
	got, err := os.ReadFile(existing)
	require.NoError(t, err)
	require.Equal(t, "data", string(got))
	require.NoFileExists(t, missing)
}

func TestFailNth(t *testing.T) {
	msync := func() error { return sysutil.Msync(nil, false) }
	other := func() error { return sysutil.Madvise(nil, sysutil.AdviceNormal) }

	t.Run("once", func(t *testing.T) {
		t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 2, syscall.EIO, false)))
		require.NoError(t, msync())
		require.NoError(t, other(), "other ops are neither failed nor counted")
		require.ErrorIs(t, msync(), syscall.EIO)
		require.NoError(t, msync())
		require.NoError(t, msync())
	})
	t.Run("forever", func(t *testing.T) {
		t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 2, syscall.EIO, true)))
		require.NoError(t, msync())
		require.NoError(t, other())
		for range 3 {
			require.ErrorIs(t, msync(), syscall.EIO)
		}
	})
	t.Run("n below 1 counts as 1", func(t *testing.T) {
		t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 0, syscall.EIO, false)))
		require.ErrorIs(t, msync(), syscall.EIO)
		require.NoError(t, msync())
	})
}

func TestSetFaultRestore(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	restoreA := sysutil.SetFault(func(sysutil.Op, string) error { return errA })
	restoreB := sysutil.SetFault(func(sysutil.Op, string) error { return errB })
	require.ErrorIs(t, sysutil.Msync(nil, false), errB)
	restoreB()
	require.ErrorIs(t, sysutil.Msync(nil, false), errA, "restore reinstates the previous hook")
	restoreNil := sysutil.SetFault(nil)
	require.NoError(t, sysutil.Msync(nil, false), "a nil hook removes the hook")
	restoreNil()
	require.ErrorIs(t, sysutil.Msync(nil, false), errA)
	restoreA()
	require.NoError(t, sysutil.Msync(nil, false))
}

// TestSetFaultConcurrent lets the race detector watch hooks being swapped
// while calls consult them.
func TestSetFaultConcurrent(t *testing.T) {
	hook := sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, true)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				err := sysutil.Msync(nil, false)
				if err != nil && !errors.Is(err, syscall.EIO) {
					t.Errorf("Msync: %v", err)
					return
				}
			}
		})
	}
	for range 100 {
		sysutil.SetFault(hook)()
	}
	wg.Wait()
}

func TestFallocateInvalid(t *testing.T) {
	require.ErrorIs(t, sysutil.Fallocate(newFile(t), -1), os.ErrInvalid)
	require.ErrorIs(t, sysutil.Fallocate(closedFile(t), 1), os.ErrClosed)
}

func TestWriteZeros(t *testing.T) {
	const size = 3<<20 + 11 // several chunks and a partial one
	f := newFile(t)
	orig := bytes.Repeat([]byte{0xAB}, size)
	_, err := f.WriteAt(orig, 0)
	require.NoError(t, err)

	const off, n = 7, 2<<20 + 3
	require.NoError(t, sysutil.WriteZeros(f, off, n))
	want := bytes.Clone(orig)
	clear(want[off : off+n])
	requireContent(t, f.Name(), want)

	require.NoError(t, sysutil.WriteZeros(f, 0, 0), "an empty range is a no-op")
	requireContent(t, f.Name(), want)

	require.NoError(t, sysutil.WriteZeros(f, size-1, 10), "past the end extends the file")
	want = append(want[:size-1], make([]byte, 10)...)
	requireContent(t, f.Name(), want)
}

func TestWriteZerosErrors(t *testing.T) {
	f := newFile(t)
	require.ErrorIs(t, sysutil.WriteZeros(f, -1, 1), os.ErrInvalid)
	require.ErrorIs(t, sysutil.WriteZeros(f, 0, -1), os.ErrInvalid)
	require.ErrorIs(t, sysutil.WriteZeros(closedFile(t), 0, 1), os.ErrClosed)

	ro, err := sysutil.OpenFile(f.Name(), false)
	require.NoError(t, err)
	defer ro.Close()
	require.Error(t, sysutil.WriteZeros(ro, 0, 1), "read-only file")
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, sysutil.SyncDir(dir))
	require.ErrorIs(t, sysutil.SyncDir(filepath.Join(dir, "missing")), fs.ErrNotExist)
}

func TestFdatasync(t *testing.T) {
	f := newFile(t)
	_, err := f.WriteString("x")
	require.NoError(t, err)
	require.NoError(t, sysutil.Fdatasync(f))
	require.ErrorIs(t, sysutil.Fdatasync(closedFile(t)), os.ErrClosed)
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	f, err := sysutil.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("abc")
	require.NoError(t, err, "Create opens for writing")
	_, err = f.ReadAt(make([]byte, 3), 0)
	require.NoError(t, err, "Create opens for reading")

	_, err = sysutil.Create(path)
	require.ErrorIs(t, err, fs.ErrExist, "Create never reuses a file")
	_, err = sysutil.Create(filepath.Join(path+".d", "seg"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	require.NoError(t, os.WriteFile(path, []byte("abc"), 0o644))

	ro, err := sysutil.OpenFile(path, false)
	require.NoError(t, err)
	defer ro.Close()
	_, err = ro.WriteString("x")
	require.Error(t, err, "read-only open must refuse writes")

	rw, err := sysutil.OpenFile(path, true)
	require.NoError(t, err)
	defer rw.Close()
	_, err = rw.WriteAt([]byte("X"), 1)
	require.NoError(t, err)
	requireContent(t, path, []byte("aXc"))

	_, err = sysutil.OpenFile(path+".missing", false)
	require.ErrorIs(t, err, fs.ErrNotExist, "OpenFile never creates")
}

func TestRenameRemove(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(a, []byte("a"), 0o644))
	require.NoError(t, sysutil.Rename(a, b))
	require.NoFileExists(t, a)
	requireContent(t, b, []byte("a"))
	require.ErrorIs(t, sysutil.Rename(a, b), fs.ErrNotExist)

	require.NoError(t, sysutil.Remove(b))
	require.NoFileExists(t, b)
	require.ErrorIs(t, sysutil.Remove(b), fs.ErrNotExist)
}

func requireContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "content of %s differs (len %d, want %d)", path, len(got), len(want))
}
