package measure

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// Hist counts non-negative int64 values (nanoseconds, usually) in
// log-linear buckets, the way HdrHistogram does with 2 significant digits:
// values below 2·subBuckets get a bucket each (exact); above, every power of
// two [2^k, 2^(k+1)) is split into subBuckets equal buckets. A bucket's
// width is thus at most 1/subBuckets of its lowest value, and a quantile
// reported as the middle of its bucket is within MaxRelErr of the exact
// one.
//
// The whole int64 range fits in 7,296 counters (57 KiB), so recording is an
// index computation and an increment: no allocation, no lock. The zero
// value is empty and ready to use. A Hist is not safe for concurrent use;
// give each writer its own and Merge them.
type Hist struct {
	counts [numBuckets]uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits // buckets per power of two above the exact range
	exactBelow = 2 * subBuckets
	// numBuckets covers every int64: the exact ones, then subBuckets for each
	// power of two from 2^(subBits+1) to 2^62.
	numBuckets = exactBelow + (62-subBits)*subBuckets
)

// MaxRelErr bounds |reported-exact|/exact for any quantile: half a bucket
// width over the bucket's lowest value, 2^(s-1)/(subBuckets·2^s) = 1/256.
const MaxRelErr = 1.0 / (2 * subBuckets)

// bucketOf returns the index of the bucket holding v (v ≥ 0).
func bucketOf(v int64) int {
	if v < exactBelow {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1) // ≥ 1: v>>shift is in [subBuckets, 2·subBuckets)
	top := int(v >> shift)
	return exactBelow + (shift-1)*subBuckets + top - subBuckets
}

// bucketRange returns the lowest and highest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < exactBelow {
		return int64(i), int64(i)
	}
	shift := (i-exactBelow)/subBuckets + 1
	top := int64((i-exactBelow)%subBuckets + subBuckets)
	lo = top << shift
	return lo, lo + (int64(1)<<shift - 1)
}

// Record adds one value; negative values count as 0.
func (h *Hist) Record(v int64) {
	v = max(v, 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Hist) Count() uint64 { return h.n }

// Min returns the smallest value recorded, exactly (0 when empty).
func (h *Hist) Min() int64 { return h.min }

// Max returns the largest value recorded, exactly (0 when empty).
func (h *Hist) Max() int64 { return h.max }

// Mean returns the exact arithmetic mean (0 when empty).
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the value of rank
// ⌈q·n⌉ (rank 1 for q = 0) in sorted order, the nearest-rank definition,
// within MaxRelErr. It returns the middle of that value's bucket, clamped
// to the exact min and max (which it returns for the first and last rank);
// 0 for an empty histogram.
func (h *Hist) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	switch rank { // the extremes are known exactly
	case 1:
		return h.min
	case h.n:
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return min(max(mid, h.min), h.max)
		}
	}
	return h.max // not reached: the counts sum to n
}

// AppendBinary appends h's encoding to b: the count, min, max and sum,
// then each non-empty bucket as its index and count, all uvarints (sum as
// its float64 bits). UnmarshalBinary reads it back exactly; a walbench
// follower in another process sends its histogram this way, once, instead
// of every value.
func (h *Hist) AppendBinary(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, h.n)
	b = binary.AppendUvarint(b, uint64(h.min))
	b = binary.AppendUvarint(b, uint64(h.max))
	b = binary.AppendUvarint(b, math.Float64bits(h.sum))
	for i, c := range h.counts {
		if c != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.AppendUvarint(b, c)
		}
	}
	return b, nil
}

// ErrBadEncoding is the error of UnmarshalBinary for bytes AppendBinary
// did not write.
var ErrBadEncoding = errors.New("measure: bad histogram encoding")

// UnmarshalBinary replaces h with the histogram b encodes (AppendBinary).
func (h *Hist) UnmarshalBinary(b []byte) error {
	var v [4]uint64
	for i := range v {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return ErrBadEncoding
		}
		v[i], b = x, b[k:]
	}
	var d Hist
	d.n, d.min, d.max, d.sum = v[0], int64(v[1]), int64(v[2]), math.Float64frombits(v[3])
	var total uint64
	for len(b) > 0 {
		i, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return ErrBadEncoding
		}
		c, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 || i >= numBuckets || d.counts[i] != 0 {
			return ErrBadEncoding
		}
		d.counts[i], total, b = c, total+c, b[k1+k2:]
	}
	if total != d.n || d.min < 0 || d.max < d.min {
		return ErrBadEncoding
	}
	*h = d
	return nil
}
