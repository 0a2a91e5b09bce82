//go:build linux

package mmapwal

// The red team's reproduction of issue 13 bug 7 (RLIMIT_NOFILE is Linux's
// here; see also openbound_test.go).

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/segment"
)

// TestRedTeamOpenNeedsDescriptorPerSegment: issue 13 bug 7 asks that Open
// need O(MaxMappedSegments) descriptors and mappings, not O(segments), and
// that a test run it under a lowered RLIMIT_NOFILE. scanAll still opens
// and maps every segment and keeps them all until adopt trims them: with
// 100 spare descriptors and MaxMappedSegments 8, a 300-segment log that
// its writer built with ~10 descriptors cannot be opened ("too many open
// files"), writable or ReadOnly. Seen by reading recover.go's scanAll.
func TestRedTeamOpenNeedsDescriptorPerSegment(t *testing.T) {
	dir := fastTempDir(t)
	o := &Options{SegmentSize: segment.MinSize, Durability: SyncManual, MaxMappedSegments: 8}
	l, err := Open(dir, o)
	require.NoError(t, err)
	rec := make([]byte, 3000) // one record per segment
	for l.Stats().Segments < 300 {
		_, err := l.Append(rec)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	lim := old
	lim.Cur = uint64(len(fds) + 100)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

	for _, ro := range []bool{false, true} {
		o := *o
		o.ReadOnly = ro
		l, err := Open(dir, &o)
		require.NoError(t, err, "ReadOnly %v: Open of 300 segments with 100 spare descriptors", ro)
		require.NoError(t, l.Close())
	}
}
