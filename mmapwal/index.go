package mmapwal

import (
	"sort"
	"sync/atomic"
)

// index maps the records of one segment to their offsets. It is written by
// the single writer and read by any number of readers without locks: the
// writer fills entry n, then publishes n+1 with an atomic store; readers load
// the count first and only read entries below it. Entries live in fixed-size
// chunks whose table is allocated up front, so published entries never move.
//
// A TruncateBack unpublishes entries that a reader which loaded the count
// before it may still be reading, and later appends fill those slots again,
// so the entries themselves are atomics too (a load is a plain load on
// amd64 and arm64).
type index struct {
	n      atomic.Int64      // published entries
	offs   [][]atomic.Uint32 // chunk table of frame offsets
	seqs   [][]atomic.Uint64 // chunk table of sequences
	chunks int               // allocated chunks (writer only)
}

const (
	chunkBits = 12
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

// newIndex returns an index for a segment that can hold at most maxRecords.
func newIndex(maxRecords int64) *index {
	n := int(maxRecords>>chunkBits) + 1
	return &index{offs: make([][]atomic.Uint32, n), seqs: make([][]atomic.Uint64, n)}
}

// add appends an entry and publishes it. Writer only.
func (x *index) add(off int64, seq uint64) {
	i := x.n.Load()
	c := int(i >> chunkBits)
	if c == x.chunks {
		x.offs[c] = make([]atomic.Uint32, chunkLen)
		x.seqs[c] = make([]atomic.Uint64, chunkLen)
		x.chunks++
	}
	x.offs[c][i&chunkMask].Store(uint32(off))
	x.seqs[c][i&chunkMask].Store(seq)
	x.n.Store(i + 1)
}

// truncate unpublishes entries from i on. Writer only; readers holding an
// entry's offset still find the bytes until the segment is zeroed.
func (x *index) truncate(i int64) { x.n.Store(min(i, x.n.Load())) }

func (x *index) len() int64         { return x.n.Load() }
func (x *index) off(i int64) int64  { return int64(x.offs[i>>chunkBits][i&chunkMask].Load()) }
func (x *index) seq(i int64) uint64 { return x.seqs[i>>chunkBits][i&chunkMask].Load() }

// find returns the position of seq, or the position of the first entry above
// it and false. Dense sequences (the common case) are found in O(1).
func (x *index) find(seq uint64) (int64, bool) {
	n := x.n.Load()
	if n == 0 {
		return 0, false
	}
	first := x.seq(0)
	if seq >= first {
		if d := seq - first; d < uint64(n) && x.seq(int64(d)) == seq {
			return int64(d), true
		}
	}
	i := int64(sort.Search(int(n), func(i int) bool { return x.seq(int64(i)) >= seq }))
	return i, i < n && x.seq(i) == seq
}
