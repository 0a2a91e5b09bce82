package measure

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

// exactQuantile is the nearest-rank quantile of sorted values, the
// definition Hist.Quantile approximates.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// distributions are the known shapes the error bound is checked on.
var distributions = []struct {
	name string
	draw func(r *rand.Rand) int64
}{
	{"uniform 0..1ms", func(r *rand.Rand) int64 { return r.Int64N(1e6) }},
	{"exponential mean 5µs", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 5e3) }},
	{"log-uniform 1ns..10s", func(r *rand.Rand) int64 { return int64(math.Pow(10, r.Float64()*10)) }},
	{"small exact 0..299", func(r *rand.Rand) int64 { return r.Int64N(300) }},
	{"bimodal 100ns/2ms", func(r *rand.Rand) int64 {
		if r.IntN(100) == 0 {
			return 2e6 + r.Int64N(1e5)
		}
		return 100 + r.Int64N(20)
	}},
	{"constant 12345", func(*rand.Rand) int64 { return 12345 }},
}

// TestQuantileErrorBound records values of known distributions and checks
// every quantile against the exact one: within MaxRelErr, 1/256 (0.39 %).
func TestQuantileErrorBound(t *testing.T) {
	if MaxRelErr > 1.0/256 {
		t.Fatalf("MaxRelErr %v: over 1/256", MaxRelErr)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			for _, n := range []int{1, 2, 3, 100, 20000} {
				var h Hist
				vals := make([]int64, n)
				for i := range vals {
					vals[i] = d.draw(rng)
					h.Record(vals[i])
				}
				slices.Sort(vals)
				qs := []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
				for range 50 {
					qs = append(qs, rng.Float64())
				}
				for _, q := range qs {
					exact, got := exactQuantile(vals, q), h.Quantile(q)
					if diff := math.Abs(float64(got - exact)); diff > MaxRelErr*float64(exact) {
						t.Fatalf("n=%d, q=%v: got %d, exact %d: relative error %.5f over %.5f",
							n, q, got, exact, diff/float64(exact), MaxRelErr)
					}
				}
				if h.Min() != vals[0] || h.Max() != vals[n-1] || h.Count() != uint64(n) {
					t.Fatalf("n=%d: min/max/count = %d/%d/%d, want %d/%d/%d", n, h.Min(), h.Max(), h.Count(), vals[0], vals[n-1], n)
				}
			}
		})
	}
}

// TestHistEmptyAndOne checks the empty histogram and a single sample: every
// quantile of one value is that value, exactly.
func TestHistEmptyAndOne(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 || h.Max() != 0 || h.Min() != 0 {
		t.Fatal("empty histogram: want 0 everywhere")
	}
	h.Record(987654321)
	for _, q := range []float64{0, 0.5, 0.99, 0.9999, 1} {
		if got := h.Quantile(q); got != 987654321 {
			t.Errorf("one sample: Quantile(%v) = %d, want 987654321", q, got)
		}
	}
	if h.Mean() != 987654321 || h.Min() != 987654321 || h.Max() != 987654321 {
		t.Errorf("one sample: mean %v min %d max %d", h.Mean(), h.Min(), h.Max())
	}
}

// TestHistMax checks that the maximum is exact, not its bucket's bound, and
// that the extremes of the int64 range and negative values are handled.
func TestHistMax(t *testing.T) {
	var h Hist
	for _, v := range []int64{-5, 0, 1, 1000, 1_000_003} {
		h.Record(v)
	}
	if h.Min() != 0 || h.Max() != 1_000_003 || h.Quantile(1) != 1_000_003 || h.Quantile(0) != 0 {
		t.Fatalf("min %d max %d q0 %d q1 %d", h.Min(), h.Max(), h.Quantile(0), h.Quantile(1))
	}
	h.Record(math.MaxInt64)
	if h.Max() != math.MaxInt64 || h.Quantile(1) != math.MaxInt64 {
		t.Fatalf("max %d q1 %d, want MaxInt64", h.Max(), h.Quantile(1))
	}
}

func TestHistMerge(t *testing.T) {
	var a, b, all Hist
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 10000 {
		v := rng.Int64N(1e9)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Hist
	m.Merge(&a)
	m.Merge(new(Hist)) // an empty one changes nothing
	m.Merge(&b)
	if m != all {
		t.Fatal("merging the parts differs from recording the whole")
	}
	var e Hist
	e.Merge(&a)
	if e != a {
		t.Fatal("merging into an empty histogram differs from the original")
	}
}

// TestHistBinary checks that a histogram survives AppendBinary and
// UnmarshalBinary exactly, and that damaged bytes are refused.
func TestHistBinary(t *testing.T) {
	var h Hist
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		h.Record(rng.Int64N(1 << 40))
	}
	h.Record(0)
	b, err := h.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var g Hist
	if err := g.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if g != h {
		t.Fatal("decoded histogram differs")
	}
	var empty Hist
	eb, _ := empty.AppendBinary(nil)
	if err := g.UnmarshalBinary(eb); err != nil || g != empty {
		t.Fatalf("empty: %v", err)
	}
	for name, bad := range map[string][]byte{
		"truncated header": b[:2],
		"truncated pair":   b[:len(b)-1],
		"count mismatch":   append(slices.Clone(b), 5, 1),
		"bucket range":     append(slices.Clone(eb), 0xff, 0xff, 0x7f, 1),
	} {
		if err := g.UnmarshalBinary(bad); err != ErrBadEncoding {
			t.Errorf("%s: %v, want ErrBadEncoding", name, err)
		}
	}
}
