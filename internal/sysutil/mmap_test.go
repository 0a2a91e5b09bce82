package sysutil_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// skipUnsupported skips the test when err says the OS lacks the call.
func skipUnsupported(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, sysutil.ErrUnsupported) {
		t.Skipf("unsupported here: %v", err)
	}
}

// mapNew creates a file of n bytes with Fallocate and maps it writable; the
// mapping is removed at cleanup unless the test already did.
func mapNew(t *testing.T, n int) (*os.File, []byte) {
	t.Helper()
	f := newFile(t)
	require.NoError(t, sysutil.Fallocate(f, int64(n)))
	b, err := sysutil.Mmap(f, n, true)
	skipUnsupported(t, err)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sysutil.Munmap(b) })
	return f, b
}

// pattern returns n bytes that differ from page to page and within a page.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/4096)
	}
	return p
}

func TestMmapInvalidLength(t *testing.T) {
	f := newFile(t)
	for _, n := range []int{0, -1} {
		_, err := sysutil.Mmap(f, n, true)
		require.ErrorIs(t, err, os.ErrInvalid)
	}
}

func TestMmapWriteSyncReadBack(t *testing.T) {
	n := 4*sysutil.PageSize() + 123 // a partial last page
	f, b := mapNew(t, n)
	want := pattern(n)
	copy(b, want)

	require.NoError(t, sysutil.Msync(b, false))
	require.NoError(t, sysutil.Msync(b, true))
	require.NoError(t, sysutil.Fdatasync(f))
	require.NoError(t, sysutil.Munmap(b))
	requireContent(t, f.Name(), want)
}

func TestMsyncUnalignedSubslice(t *testing.T) {
	ps := sysutil.PageSize()
	f, b := mapNew(t, 4*ps)
	ranges := []struct{ lo, hi int }{
		{0, 4 * ps}, {1, 10}, {ps - 1, ps + 1}, {ps + 17, 3 * ps}, {3*ps + 5, 4 * ps}, {4*ps - 1, 4 * ps},
	}
	for _, r := range ranges {
		for _, async := range []bool{false, true} {
			b[r.lo] = byte(r.lo)
			require.NoError(t, sysutil.Msync(b[r.lo:r.hi], async), "b[%d:%d] async=%v", r.lo, r.hi, async)
		}
	}
	requireContent(t, f.Name(), b)
}

func TestMsyncMadviseEmpty(t *testing.T) {
	require.NoError(t, sysutil.Msync(nil, false))
	require.NoError(t, sysutil.Msync([]byte{}, true))
	require.NoError(t, sysutil.Madvise(nil, sysutil.AdviceWillNeed))
}

func TestMmapReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	want := pattern(3 * sysutil.PageSize())
	require.NoError(t, os.WriteFile(path, want, 0o644))
	f, err := sysutil.OpenFile(path, false)
	require.NoError(t, err)
	defer f.Close()

	b, err := sysutil.Mmap(f, len(want), false)
	skipUnsupported(t, err)
	require.NoError(t, err)
	defer sysutil.Munmap(b)
	require.True(t, bytes.Equal(want, b))

	_, err = sysutil.Mmap(f, len(want), true)
	require.ErrorIs(t, err, syscall.EACCES, "a writable mapping needs a writable file")

	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	require.Panics(t, func() { b[0] = 1 }, "stores to a read-only mapping must fault")
}

func TestMmapSurvivesClose(t *testing.T) {
	f, b := mapNew(t, sysutil.PageSize())
	require.NoError(t, f.Close())
	b[0] = 42
	require.NoError(t, sysutil.Msync(b, false))
	requireContent(t, f.Name(), append([]byte{42}, make([]byte, len(b)-1)...))
}

func TestMmapClosedFile(t *testing.T) {
	_, err := sysutil.Mmap(closedFile(t), sysutil.PageSize(), true)
	skipUnsupported(t, err)
	require.ErrorIs(t, err, os.ErrClosed)
}

func TestMunmapErrors(t *testing.T) {
	_, b := mapNew(t, sysutil.PageSize())
	require.ErrorIs(t, sysutil.Munmap(make([]byte, 8)), syscall.EINVAL, "not a mapping")
	require.NoError(t, sysutil.Munmap(b))
	require.ErrorIs(t, sysutil.Munmap(b), syscall.EINVAL, "already unmapped")
}

func TestMsyncUnmapped(t *testing.T) {
	ps := sysutil.PageSize()
	_, b := mapNew(t, 2*ps)
	require.NoError(t, sysutil.Munmap(b))
	require.ErrorIs(t, sysutil.Msync(b[ps+1:], false), syscall.ENOMEM)
}

func TestFailNthMsyncMapped(t *testing.T) {
	_, b := mapNew(t, sysutil.PageSize())
	t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 2, syscall.EIO, false)))
	require.NoError(t, sysutil.Msync(b, false))
	require.ErrorIs(t, sysutil.Msync(b, false), syscall.EIO)
	require.NoError(t, sysutil.Msync(b, false))
}

func TestMadvise(t *testing.T) {
	ps := sysutil.PageSize()
	_, b := mapNew(t, 4*ps)
	for _, a := range []sysutil.Advice{
		sysutil.AdviceNormal, sysutil.AdviceSequential, sysutil.AdviceRandom,
		sysutil.AdviceWillNeed, sysutil.AdviceDontNeed,
	} {
		require.NoError(t, sysutil.Madvise(b, a), "advice %d", a)
		require.NoError(t, sysutil.Madvise(b[ps+3:3*ps-1], a), "unaligned, advice %d", a)
	}
}

func TestMadviseUnknownAdvice(t *testing.T) {
	for _, a := range []sysutil.Advice{-1, sysutil.AdvicePopulateWrite + 1} {
		require.ErrorIs(t, sysutil.Madvise([]byte{0}, a), os.ErrInvalid)
	}
}

func TestMadviseDontNeedKeepsDirtyPages(t *testing.T) {
	f, b := mapNew(t, sysutil.PageSize())
	b[0] = 7
	require.NoError(t, sysutil.Madvise(b, sysutil.AdviceDontNeed))
	require.Equal(t, byte(7), b[0], "a shared file mapping refills from the page cache")
	require.NoError(t, sysutil.Msync(b, false))
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.Equal(t, byte(7), got[0])
}

func TestMadvisePopulateWrite(t *testing.T) {
	ps := sysutil.PageSize()
	_, b := mapNew(t, 4*ps)
	err := sysutil.Madvise(b[ps/2:], sysutil.AdvicePopulateWrite)
	skipUnsupported(t, err)
	require.NoError(t, err)
}
