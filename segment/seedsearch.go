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
}

// searchSlack is the budget of checksummed bytes a search has beyond
// twice the bytes it searches: below it no Prefix is built.
const searchSlack = 1 << 16

// newSeedSearch starts a search of the segment's bytes from from.
func (s *File) newSeedSearch(from int64, maxPayload int) seedSearch {
	return seedSearch{data: s.data, seed: s.seed, maxPayload: maxPayload, budget: 2*max(int64(len(s.data))-from, 0) + searchSlack}
}

// frame returns the frame at off when crcframe.Decode(data[off:], seed,
// maxPayload) finds a valid one there: its header, payload and size. The
// offsets asked must not decrease after the budget is spent, and must be
// in one 8-byte lattice (all multiples of 8); off+HeaderSize ≤ len(data).
func (q *seedSearch) frame(off int64) (h crcframe.Header, payload []byte, n int, ok bool) {
	b := q.data[off:]
	if !plausible(b) {
		return h, nil, 0, false
	}
	// Decode's verdict without its checksum where that is already decided:
	// the length within bounds and the frame within b (checked before any
	// checksum), a non-zero sequence and zero padding (checked after it:
	// a frame failing them is never valid).
	l := binary.LittleEndian.Uint32(b[4:])
	size := (uint64(crcframe.HeaderSize) + uint64(l) + crcframe.Alignment - 1) &^ (crcframe.Alignment - 1)
	if uint64(l) > uint64(q.maxPayload) || l > crcframe.MaxPayload || size > uint64(len(b)) ||
		binary.LittleEndian.Uint64(b[8:]) == 0 || !crcframe.IsZero(b[crcframe.HeaderSize+uint64(l):size]) {
		return h, nil, 0, false
	}
	var err error
	if q.p == nil && q.budget >= int64(size) {
		q.budget -= int64(size)
		h, payload, n, err = crcframe.Decode(b, q.seed, q.maxPayload)
		return h, payload, n, err == nil
	}
	if q.p == nil {
		q.base, q.p = off, crcframe.NewPrefix(b)
	}
	o := int(off - q.base)
	h, payload, n, err = crcframe.DecodeSum(b, q.p.FrameChecksum(q.seed, o, o+int(size)), q.maxPayload)
	return h, payload, n, err == nil
}
