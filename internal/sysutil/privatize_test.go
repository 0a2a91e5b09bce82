package sysutil_test

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestPrivatize: after Privatize, stores into the remapped pages stay in
// memory (the file keeps its bytes, also after the writes of others), the
// pages still read what the file held, and the rest of the mapping is still
// shared with the file.
func TestPrivatize(t *testing.T) {
	ps := sysutil.PageSize()
	f, b := mapNew(t, 4*ps)
	copy(b, pattern(4*ps))
	want := bytes.Clone(b)

	// Bytes in the middle of page 1 and 2: pages 1 and 2 go private.
	from, to := ps+100, 2*ps+200
	err := sysutil.Privatize(f, b[from:to], int64(from))
	skipUnsupported(t, err)
	require.NoError(t, err)
	require.Equal(t, want, b, "the remapped pages read what the file held")

	for i := ps; i < 3*ps; i++ {
		b[i] = 0xee // a holder still storing: must not reach the file
	}
	b[0], b[3*ps] = 0x11, 0x22 // still shared
	disk := make([]byte, 4*ps)
	_, err = f.ReadAt(disk, 0)
	require.NoError(t, err)
	want[0], want[3*ps] = 0x11, 0x22
	require.Equal(t, want, disk, "private stores reached the file, or shared ones did not")

	// Writes to the file through the descriptor do not disturb the holder.
	_, err = f.WriteAt([]byte("written"), int64(ps+10))
	require.NoError(t, err)
	require.Equal(t, byte(0xee), b[ps+10])
}

func TestPrivatizeFault(t *testing.T) {
	f, b := mapNew(t, sysutil.PageSize())
	t.Cleanup(sysutil.SetFault(sysutil.FailNth(sysutil.OpMmap, 1, syscall.EIO, false)))
	require.ErrorIs(t, sysutil.Privatize(f, b[10:20], 10), syscall.EIO)
	require.NoError(t, sysutil.Privatize(f, nil, 0))
}
