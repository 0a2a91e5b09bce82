package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBucketsTile checks that the buckets cover every value once, in order,
// and that each is at most 1/subBuckets of its lowest value wide.
func TestBucketsTile(t *testing.T) {
	next := int64(0)
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if w := hi - lo + 1; i >= exactBelow && float64(w)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d = [%d, %d]: width %d over 1/%d of %d", i, lo, hi, w, subBuckets, lo)
		}
		if i < exactBelow && lo != hi {
			t.Fatalf("bucket %d = [%d, %d]: want an exact bucket", i, lo, hi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		next = hi + 1
	}
	if next != math.MinInt64 { // the last bucket ends at MaxInt64, so hi+1 wrapped
		t.Fatalf("buckets end at %d, want MaxInt64", next-1)
	}
}

// exactQuantile is the nearest-rank percentile of sorted values, the
// definition histogram.quantile approximates.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// TestQuantileErrorBound records random values spread over many orders of
// magnitude and checks every percentile against the exact one.
func TestQuantileErrorBound(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 20 {
		n := 1 + rng.IntN(20000)
		var h histogram
		vals := make([]int64, n)
		for i := range vals {
			// Log-uniform up to ~10 s in ns, with some exact small values.
			v := int64(math.Pow(10, rng.Float64()*10))
			if trial%4 == 0 {
				v = rng.Int64N(300)
			}
			vals[i] = v
			h.record(v)
		}
		slices.Sort(vals)
		qs := []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
		for range 50 {
			qs = append(qs, rng.Float64())
		}
		for _, q := range qs {
			exact, got := exactQuantile(vals, q), h.quantile(q)
			if diff := math.Abs(float64(got - exact)); diff > maxRelErr*float64(exact) {
				t.Fatalf("trial %d, n=%d, q=%v: got %d, exact %d: relative error %.5f over %.5f",
					trial, n, q, got, exact, diff/float64(exact), maxRelErr)
			}
		}
		if h.min != vals[0] || h.max != vals[n-1] || h.n != uint64(n) {
			t.Fatalf("min/max/n = %d/%d/%d, want %d/%d/%d", h.min, h.max, h.n, vals[0], vals[n-1], n)
		}
	}
	if maxRelErr >= 0.01 {
		t.Fatalf("maxRelErr %v: not 2 significant digits", maxRelErr)
	}
}

func TestHistogramEdges(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram: want 0")
	}
	for _, v := range []int64{-5, 0, 1, math.MaxInt64} {
		h.record(v)
	}
	if h.min != 0 || h.max != math.MaxInt64 || h.quantile(0) != 0 || h.quantile(1) != math.MaxInt64 {
		t.Fatalf("edges: min %d max %d q0 %d q1 %d", h.min, h.max, h.quantile(0), h.quantile(1))
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 10000 {
		v := rng.Int64N(1e9)
		all.record(v)
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&b)
	m.merge(new(histogram))
	if m != all {
		t.Fatal("merging the parts differs from recording the whole")
	}
}
