package mmapwal

// Tests of mapSet, the bound on mapped segments on the read path.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/segment"
)

// mappedWork returns how many segments the Log's trims examined and how
// many mappings on demand they followed.
func mappedWork(l *Log) (visits int, maps uint64) {
	l.maps.mu.Lock()
	defer l.maps.mu.Unlock()
	return l.maps.visits, l.maps.clock.Load()
}

// mappedLog writes a log of at least n segments of segment.MinSize and
// returns its directory and last sequence.
func mappedLog(t *testing.T, n int) (string, uint64) {
	dir := fastTempDir(t)
	w, err := Open(dir, &Options{SegmentSize: segment.MinSize, Durability: SyncManual})
	require.NoError(t, err)
	seq := uint64(0)
	for w.Stats().Segments < n {
		seq++
		rdAppend(t, w, seq, 0, 500)
	}
	require.NoError(t, w.Close())
	return dir, seq
}

// TestMappedTrimIsNotAWalk: reading a log of many segments under a small
// MaxMappedSegments maps every segment on demand; each mapping's trim must
// cost O(1) segment visits, not a walk of every segment (which made reading
// a log quadratic in its segment count). The only walk allowed is the one
// rebuild after Open published the segments.
func TestMappedTrimIsNotAWalk(t *testing.T) {
	const nseg = 200
	dir, last := mappedLog(t, nseg)
	for _, ro := range []bool{true, false} {
		l := rdOpen(t, dir, &Options{ReadOnly: ro, MaxMappedSegments: 2})
		it, err := l.NewIterator(1)
		require.NoError(t, err)
		n := uint64(0)
		for it.Next() {
			n++
		}
		require.NoError(t, it.Err())
		require.NoError(t, it.Close())
		require.Equal(t, last, n)
		for seq := uint64(1); seq <= last; seq += 5 {
			_, err := l.Read(seq)
			require.NoError(t, err)
		}
		visits, maps := mappedWork(l)
		segs := len(l.segments())
		require.GreaterOrEqual(t, maps, uint64(segs-3), "ReadOnly %v: every sealed segment is mapped on demand", ro)
		require.LessOrEqual(t, visits, segs+4*int(maps),
			"ReadOnly %v: %d mappings on demand of %d segments cost %d segment visits", ro, maps, segs, visits)
		require.LessOrEqual(t, l.Stats().MappedSegments, 2+1)
		t.Logf("ReadOnly %v: %d segments, %d mappings on demand, %d segment visits", ro, segs, maps, visits)
	}
}

// TestMappedPinnedStayMapped: segments pinned by iterators and a View are
// never unmapped, however many others are mapped past MaxMappedSegments;
// once unpinned, the bound holds again.
func TestMappedPinnedStayMapped(t *testing.T) {
	dir, last := mappedLog(t, 40)
	for _, ro := range []bool{true, false} {
		l := rdOpen(t, dir, &Options{ReadOnly: ro, MaxMappedSegments: 1})
		var its []*Iterator
		var pinned []*seg
		for seq := uint64(1); seq <= last; seq += last / 6 {
			it, err := l.NewIterator(seq)
			require.NoError(t, err)
			require.True(t, it.Next())
			its = append(its, it)
			pinned = append(pinned, it.s)
		}
		check := func() {
			for k, it := range its {
				require.True(t, pinned[k].mapped(), "ReadOnly %v: a pinned segment was unmapped", ro)
				want, err := l.Read(it.Seq())
				require.NoError(t, err)
				require.Equal(t, want, it.Value())
			}
		}
		err := l.View(last/2, func(b []byte) error {
			for seq := uint64(1); seq <= last; seq++ { // maps every segment
				_, err := l.Read(seq)
				require.NoError(t, err)
			}
			check()
			return nil
		})
		require.NoError(t, err)
		check()
		require.LessOrEqual(t, l.Stats().MappedSegments, len(its)+1+1, "ReadOnly %v: the pinned ones, the limit, the newest", ro)
		for _, it := range its {
			require.NoError(t, it.Close())
		}
		require.LessOrEqual(t, l.Stats().MappedSegments, 1+1, "ReadOnly %v: after the pins were released", ro)
	}
}
