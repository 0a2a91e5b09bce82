package sysutil_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestDropPages stores into three pages of a shared mapping, drops the
// whole pages inside a range that starts and ends mid-page, and checks
// that only the middle page left the page tables, that no stored byte was
// lost (the file reads them before and after a sync, and the mapping maps
// them again), and that a range without a whole page drops nothing.
func TestDropPages(t *testing.T) {
	ps := sysutil.PageSize()
	f, b := mapNew(t, 3*ps)
	want := pattern(3 * ps)
	copy(b, want)
	present := func() []bool {
		t.Helper()
		p, err := sysutil.PresentPages(b)
		require.NoError(t, err)
		return p
	}
	require.Equal(t, []bool{true, true, true}, present(), "after the stores")

	require.NoError(t, sysutil.DropPages(b[ps+1:2*ps+ps/2]), "no whole page inside")
	require.Equal(t, []bool{true, true, true}, present(), "a range without a whole page")

	require.NoError(t, sysutil.DropPages(b[ps/2:2*ps+ps/2]))
	require.Equal(t, []bool{true, false, true}, present(), "only the whole page inside the range is dropped")

	got := make([]byte, 3*ps)
	_, err := f.ReadAt(got, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "the file lost stores of the dropped page")
	require.NoError(t, sysutil.Msync(b, false))
	require.NoError(t, sysutil.FadviseDontNeed(f, 0, 0)) // read the disk, not the cache
	_, err = f.ReadAt(got, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "the disk lacks stores of the dropped page after a sync")
	require.True(t, bytes.Equal(want, b), "the mapping reads other bytes after the drop")
	require.NoError(t, sysutil.DropPages(nil))
}

// TestDropPagesUnmapped: a drop of memory that is no longer mapped fails
// rather than doing nothing silently.
func TestDropPagesUnmapped(t *testing.T) {
	_, b := mapNew(t, 2*sysutil.PageSize())
	require.NoError(t, sysutil.Munmap(b))
	err := sysutil.DropPages(b)
	require.Error(t, err)
	var se *os.SyscallError
	require.ErrorAs(t, err, &se)
}
