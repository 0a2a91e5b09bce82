package bench

import (
	"math/bits"
	"time"
)

// Hist is a log-bucketed latency histogram: values below 16 ns have a bucket
// each, and every power of two above is split into 16 linear buckets, so a
// quantile is off by at most 1/16 (6.25%) of its value. The zero value is
// ready to use; a Hist is not safe for concurrent use (give each goroutine
// its own and Merge them).
type Hist struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max int64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histIndex returns the bucket of v (v >= 0).
func histIndex(v int64) int {
	u := uint64(v)
	if u < histSub {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits - 1
	return (shift+1)*histSub + int((u>>shift)&(histSub-1))
}

// histUpper returns the largest value in bucket i.
func histUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	low := uint64(histSub+i%histSub) << shift
	return int64(low + 1<<shift - 1)
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.counts[histIndex(v)]++
}

// Merge adds every observation of o to h.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Count returns the number of observations.
func (h *Hist) Count() uint64 { return h.n }

// Max returns the largest observation.
func (h *Hist) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q <= 1), capped at the largest observation.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histUpper(i), h.max))
		}
	}
	return time.Duration(h.max)
}
