//go:build !linux && !darwin

package sysutil_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

func TestUnsupported(t *testing.T) {
	f := newFile(t)
	_, err := sysutil.Mmap(f, 1, true)
	require.ErrorIs(t, err, sysutil.ErrUnsupported)
	require.ErrorIs(t, sysutil.Munmap([]byte{0}), sysutil.ErrUnsupported)
	require.ErrorIs(t, sysutil.Msync([]byte{0}, false), sysutil.ErrUnsupported)
	require.ErrorIs(t, sysutil.Madvise([]byte{0}, sysutil.AdviceNormal), sysutil.ErrUnsupported)
	require.ErrorIs(t, sysutil.Lock(f), sysutil.ErrUnsupported)
	require.ErrorIs(t, sysutil.Unlock(f), sysutil.ErrUnsupported)
	require.NoError(t, sysutil.FadviseDontNeed(f, 0, 0), "fadvise is best effort")
}
