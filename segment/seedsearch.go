package segment

import (
	"encoding/binary"

	"github.com/mmapwal/mmapwal/crcframe"
)

// seedSearch tells which aligned offsets after a point of a segment start
// a frame valid under its seed: what the read-ahead after the end of the
// frames (Scan), a truncation of a recycled segment (LiveEnd) and
// FramesAfter look for at every 8-byte aligned offset. Its verdict at an
// offset is exactly crcframe.Decode's (err == nil) on the bytes from there.
//
// The cost is the reason for it. Each offset whose header passes
// plausible costs a checksum over the length it claims, and ordinary data
// (arrays of (u32, u32) pairs: the stale frames of a recycled file, or the
// frames after a torn one) can pass at most words and claim frames up to
// the segment's end: checked one by one that is quadratic in the segment
// size (hours for 64 MiB). The search checks candidates with Decode while
// the bytes they claim stay within a budget of a few passes over the
// searched bytes (the common case: no Prefix, nothing allocated); once they
// exceed it, it builds a crcframe.Prefix over the rest of the segment (one
// pass, 4 bytes per 8) and gives each later candidate its checksum in O(1)
// (crcframe.DecodeSum). Either way the search is linear in the bytes after
// its start.
type seedSearch struct {
	data       []byte // the segment's mapping
	seed       uint32
	maxPayload int
	budget     int64            // bytes Decode may still read for checksums
	base       int64            // where p's region starts in data
	p          *crcframe.Prefix // nil until the budget is spent

	// With p: the candidates of the window of offsets [.., ahead) checked
	// last (offs, ends relative to base), their checksums, and the first
	// of them not asked yet. A window's checksums are computed together
	// (crcframe.Prefix.FrameChecksums: their end registers load in
	// parallel).
	ahead      int64
	offs, ends []int
	sums       []uint32
	next       int
}

// searchSlack is the budget of checksummed bytes a search has beyond
// twice the bytes it searches: below it no Prefix is built.
const searchSlack = 1 << 16

// searchWindow is how many bytes of offsets a search with a Prefix checks
// at a time.
const searchWindow = 4096

// newSeedSearch starts a search of the segment's bytes from from.
func (s *File) newSeedSearch(from int64, maxPayload int) seedSearch {
	return seedSearch{data: s.data, seed: s.seed, maxPayload: maxPayload, budget: 2*max(int64(len(s.data))-from, 0) + searchSlack}
}

// frame returns the frame at off when crcframe.Decode(data[off:], seed,
// maxPayload) finds a valid one there: its header, payload and size. The
// offsets asked must be in one 8-byte lattice (all multiples of 8), with
// off+HeaderSize ≤ len(data), and must not decrease once the budget is
// spent.
func (q *seedSearch) frame(off int64) (h crcframe.Header, payload []byte, n int, ok bool) {
	if q.p != nil {
		return q.framePrefix(off)
	}
	b := q.data[off:]
	size, ok := candidate(b, q.maxPayload)
	if !ok {
		return h, nil, 0, false
	}
	if q.budget >= int64(size) {
		q.budget -= int64(size)
		var err error
		h, payload, n, err = crcframe.Decode(b, q.seed, q.maxPayload)
		return h, payload, n, err == nil
	}
	q.base, q.p, q.ahead = off, crcframe.NewPrefix(b), off
	return q.framePrefix(off)
}

// framePrefix is frame once p is built.
func (q *seedSearch) framePrefix(off int64) (h crcframe.Header, payload []byte, n int, ok bool) {
	if off >= q.ahead {
		q.fill(off)
	}
	for q.next < len(q.offs) && q.base+int64(q.offs[q.next]) < off {
		q.next++
	}
	if q.next == len(q.offs) || q.base+int64(q.offs[q.next]) != off {
		return h, nil, 0, false // not a candidate
	}
	h, payload, n, err := crcframe.DecodeSum(q.data[off:], q.sums[q.next], q.maxPayload)
	return h, payload, n, err == nil
}

// fill finds the candidates at the offsets [from, from+searchWindow) and
// their checksums.
func (q *seedSearch) fill(from int64) {
	q.offs, q.ends, q.next = q.offs[:0], q.ends[:0], 0
	for o := from; o < from+searchWindow && o+crcframe.HeaderSize <= int64(len(q.data)); o += crcframe.Alignment {
		if size, ok := candidate(q.data[o:], q.maxPayload); ok {
			q.offs, q.ends = append(q.offs, int(o-q.base)), append(q.ends, int(o-q.base)+size)
		}
	}
	if cap(q.sums) < len(q.offs) {
		q.sums = make([]uint32, searchWindow/crcframe.Alignment)
	}
	q.sums = q.sums[:len(q.offs)]
	q.p.FrameChecksums(q.seed, q.offs, q.ends, q.sums)
	q.ahead = from + searchWindow
}

// candidate reports whether Decode could find a valid frame at the start
// of b, judged on what decides it without the checksum, and the size of
// that frame: a plausible header whose length is within bounds and whose
// frame fits in b (Decode checks these before any checksum), a non-zero
// sequence and zero padding (checked after it: a frame failing them is
// never valid).
func candidate(b []byte, maxPayload int) (int, bool) {
	if !plausible(b) {
		return 0, false
	}
	l := binary.LittleEndian.Uint32(b[4:])
	size := (uint64(crcframe.HeaderSize) + uint64(l) + crcframe.Alignment - 1) &^ (crcframe.Alignment - 1)
	if uint64(l) > uint64(maxPayload) || l > crcframe.MaxPayload || size > uint64(len(b)) ||
		binary.LittleEndian.Uint64(b[8:]) == 0 || !crcframe.IsZero(b[crcframe.HeaderSize+uint64(l):size]) {
		return 0, false
	}
	return int(size), true
}
