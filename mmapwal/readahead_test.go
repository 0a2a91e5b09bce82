package mmapwal_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIteratorReadAheadAfterCut: the records an iterator read ahead of
// itself (Next reads a run of payloads at a time) are not returned once a
// TruncateBack dropped them and appends wrote other records of the same
// sequences in their slots: it returns the new records, as a read of each
// would, with their lengths and bytes.
func TestIteratorReadAheadAfterCut(t *testing.T) {
	l, _ := openLog(t, manual())
	for i := 1; i <= 10; i++ {
		mustAppend(t, l, []byte{byte(i)})
	}
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	require.True(t, it.Next()) // pins the segment, reads 1
	require.True(t, it.Next()) // reads 2 to 10 ahead
	require.Equal(t, uint64(2), it.Seq())
	require.NoError(t, l.TruncateBack(2))
	for i := 3; i <= 10; i++ {
		mustAppend(t, l, bytes.Repeat([]byte{byte(100 + i)}, 3)) // frames of the same size: the same offsets
	}
	for i := 3; i <= 10; i++ {
		require.True(t, it.Next(), "record %d", i)
		require.Equal(t, uint64(i), it.Seq())
		require.Equal(t, bytes.Repeat([]byte{byte(100 + i)}, 3), it.Value(), "record %d", i)
	}
	require.False(t, it.Next())
	require.NoError(t, it.Err())
}
