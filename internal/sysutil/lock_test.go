package sysutil_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

func TestLock(t *testing.T) {
	path := newFile(t).Name()
	open := func() *os.File {
		f, err := sysutil.OpenFile(path, true)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open(), open()

	err := sysutil.Lock(a)
	skipUnsupported(t, err)
	require.NoError(t, err)
	err = sysutil.Lock(b)
	require.ErrorIs(t, err, sysutil.ErrLocked, "two opens of one file conflict")
	require.ErrorContains(t, err, path)

	require.NoError(t, sysutil.Unlock(a))
	require.NoError(t, sysutil.Lock(b), "Unlock releases")
	require.ErrorIs(t, sysutil.Lock(a), sysutil.ErrLocked)

	require.NoError(t, b.Close())
	require.NoError(t, sysutil.Lock(a), "Close releases")
}

func TestLockClosedFile(t *testing.T) {
	f := closedFile(t)
	err := sysutil.Lock(f)
	skipUnsupported(t, err)
	require.ErrorIs(t, err, os.ErrClosed)
	require.NotErrorIs(t, err, sysutil.ErrLocked)
	require.ErrorIs(t, sysutil.Unlock(f), os.ErrClosed)
}
