package sysutil_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// mapShared creates a file of n bytes in dir and maps it writable, twice:
// two views of the same pages, as two processes would have. It skips where
// this OS has no Mmap.
func mapShared(t *testing.T, n int) (path string, a, b []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "shared")
	require.NoError(t, os.WriteFile(path, make([]byte, n), 0o644))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	a, err = sysutil.Mmap(f, n, true)
	if errors.Is(err, sysutil.ErrUnsupported) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { sysutil.Munmap(a) })
	b, err = sysutil.Mmap(f, n, true)
	require.NoError(t, err)
	t.Cleanup(func() { sysutil.Munmap(b) })
	return path, a, b
}

// TestSharedAtomics: each operation changes the word as documented, and the
// other mapping of the file sees the change.
func TestSharedAtomics(t *testing.T) {
	_, a, b := mapShared(t, sysutil.PageSize())

	require.NoError(t, sysutil.StoreUint32(a, 4, 7))
	v32, err := sysutil.LoadUint32(b, 4)
	require.NoError(t, err)
	require.EqualValues(t, 7, v32)
	v32, err = sysutil.AddUint32(b, 4, 5)
	require.NoError(t, err)
	require.EqualValues(t, 12, v32)
	v32, err = sysutil.AddUint32(a, 4, ^uint32(0)) // subtract 1
	require.NoError(t, err)
	require.EqualValues(t, 11, v32)
	ok, err := sysutil.CompareAndSwapUint32(a, 4, 10, 1)
	require.NoError(t, err)
	require.False(t, ok, "CAS with a stale old value succeeded")
	ok, err = sysutil.CompareAndSwapUint32(b, 4, 11, 1)
	require.NoError(t, err)
	require.True(t, ok)
	v32, _ = sysutil.LoadUint32(a, 4)
	require.EqualValues(t, 1, v32)
	require.Equal(t, []byte{1, 0, 0, 0}, a[4:8], "little-endian word")

	require.NoError(t, sysutil.StoreUint64(a, 8, 1<<40))
	v64, err := sysutil.LoadUint64(b, 8)
	require.NoError(t, err)
	require.EqualValues(t, uint64(1)<<40, v64)
	v64, err = sysutil.AddUint64(b, 8, 3)
	require.NoError(t, err)
	require.EqualValues(t, 1<<40+3, v64)
	ok, err = sysutil.CompareAndSwapUint64(a, 8, 3, 9)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = sysutil.CompareAndSwapUint64(a, 8, 1<<40+3, 9)
	require.NoError(t, err)
	require.True(t, ok)
	v64, _ = sysutil.LoadUint64(b, 8)
	require.EqualValues(t, 9, v64)

	w, err := sysutil.Uint64At(b, 16)
	require.NoError(t, err)
	w.Store(42)
	v64, _ = sysutil.LoadUint64(a, 16)
	require.EqualValues(t, 42, v64)
	require.Equal(t, make([]byte, 4), a[0:4], "a neighbouring word changed")
}

// TestSharedAtomicsConcurrent: adds through two mappings from many goroutines
// lose no increment.
func TestSharedAtomicsConcurrent(t *testing.T) {
	_, a, b := mapShared(t, sysutil.PageSize())
	const goroutines, adds = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		m := a
		if g%2 == 1 {
			m = b
		}
		wg.Go(func() {
			for range adds {
				if _, err := sysutil.AddUint32(m, 0, 1); err != nil {
					t.Error(err)
					return
				}
				if _, err := sysutil.AddUint64(m, 8, 2); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	v32, _ := sysutil.LoadUint32(a, 0)
	v64, _ := sysutil.LoadUint64(b, 8)
	require.EqualValues(t, goroutines*adds, v32)
	require.EqualValues(t, 2*goroutines*adds, v64)
}

// TestSharedBadOffset: every call refuses a word outside the slice or
// misaligned with an *OffsetError, and touches nothing.
func TestSharedBadOffset(t *testing.T) {
	m := make([]byte, 64) // the heap aligns a 64-byte allocation to 8 at least
	for i := range m {
		m[i] = 0xAA
	}
	ops32 := map[string]func(off int) error{
		"LoadUint32":  func(off int) error { _, err := sysutil.LoadUint32(m, off); return err },
		"StoreUint32": func(off int) error { return sysutil.StoreUint32(m, off, 1) },
		"AddUint32":   func(off int) error { _, err := sysutil.AddUint32(m, off, 1); return err },
		"CASUint32":   func(off int) error { _, err := sysutil.CompareAndSwapUint32(m, off, 0, 1); return err },
		"Uint32At":    func(off int) error { _, err := sysutil.Uint32At(m, off); return err },
		"FutexWait":   func(off int) error { _, err := sysutil.FutexWait(m, off, 0, 1); return err },
		"FutexWake":   func(off int) error { _, err := sysutil.FutexWake(m, off, 1); return err },
	}
	ops64 := map[string]func(off int) error{
		"LoadUint64":  func(off int) error { _, err := sysutil.LoadUint64(m, off); return err },
		"StoreUint64": func(off int) error { return sysutil.StoreUint64(m, off, 1) },
		"AddUint64":   func(off int) error { _, err := sysutil.AddUint64(m, off, 1); return err },
		"CASUint64":   func(off int) error { _, err := sysutil.CompareAndSwapUint64(m, off, 0, 1); return err },
		"Uint64At":    func(off int) error { _, err := sysutil.Uint64At(m, off); return err },
	}
	check := func(name string, op func(int) error, size int, bad []int) {
		for _, off := range bad {
			err := op(off)
			require.ErrorIs(t, err, sysutil.ErrBadOffset, "%s(%d)", name, off)
			var oe *sysutil.OffsetError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, sysutil.OffsetError{Off: off, Size: size, Len: len(m)}, *oe)
			require.NotEmpty(t, oe.Error())
		}
		require.NoError(t, op(len(m)-size), "%s at the last word", name)
	}
	for name, op := range ops32 {
		check(name, op, 4, []int{-4, -1, 1, 2, 3, 61, 62, 64, 1 << 40})
	}
	for name, op := range ops64 {
		check(name, op, 8, []int{-8, -1, 4, 12, 57, 60, 64, 1 << 40})
	}
	_, err := sysutil.LoadUint32(nil, 0)
	require.ErrorIs(t, err, sysutil.ErrBadOffset, "a nil slice")
	for i, c := range m[:56] {
		require.EqualValues(t, 0xAA, c, "byte %d changed by a refused call", i)
	}
}
