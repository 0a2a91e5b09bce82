package sysutil_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

func TestMadvisePopulateWriteDarwin(t *testing.T) {
	_, b := mapNew(t, sysutil.PageSize())
	require.ErrorIs(t, sysutil.Madvise(b, sysutil.AdvicePopulateWrite), sysutil.ErrUnsupported)
	require.NoError(t, sysutil.FadviseDontNeed(newFile(t), 0, 0), "fadvise is best effort")
}
