package sysutil_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

func TestMadvisePopulateWriteOldKernel(t *testing.T) {
	_, b := mapNew(t, sysutil.PageSize())
	t.Cleanup(sysutil.SetMadviseCall(func([]byte, int) error { return unix.EINVAL }))
	err := sysutil.Madvise(b, sysutil.AdvicePopulateWrite)
	require.ErrorIs(t, err, sysutil.ErrUnsupported)
	require.ErrorIs(t, err, syscall.EINVAL)

	err = sysutil.Madvise(b, sysutil.AdviceWillNeed)
	require.ErrorIs(t, err, syscall.EINVAL, "EINVAL for other advice is a plain error")
	require.NotErrorIs(t, err, sysutil.ErrUnsupported)
}

func TestMadviseUnmapped(t *testing.T) {
	_, b := mapNew(t, sysutil.PageSize())
	require.NoError(t, sysutil.Munmap(b))
	require.ErrorIs(t, sysutil.Madvise(b, sysutil.AdviceWillNeed), syscall.ENOMEM)
}

func TestFadviseDontNeed(t *testing.T) {
	f, _ := mapNew(t, sysutil.PageSize())
	require.NoError(t, sysutil.FadviseDontNeed(f, 0, 0))
	require.ErrorIs(t, sysutil.FadviseDontNeed(f, 0, -1), syscall.EINVAL)
	require.ErrorIs(t, sysutil.FadviseDontNeed(closedFile(t), 0, 0), os.ErrClosed)
}
