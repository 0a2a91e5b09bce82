package bench

import (
	"sync"
	"testing"
	"time"
)

// TestBatcherConcurrent runs 16 durable writers and a bulk writer through a
// batcher in front of the raw log and checks that every acknowledged record
// is in the log, each writer's in order.
func TestBatcherConcurrent(t *testing.T) {
	const writers, each, size = 16, 40, 100
	dir := t.TempDir()
	inner, err := openRaw(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := Batched(inner, BatchLimits{Records: 8, Bytes: 1 << 20})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			p := NewPayload(size)
			for n := 1; n <= each; n++ {
				rec := [][]byte{p.Record(writerID(g, n), size)}
				var err error
				if g == 0 {
					err = w.Append(rec) // non-durable, copied
				} else {
					err = w.AppendDurable(rec)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	counts := make([]int, writers)
	for g := range counts {
		counts[g] = each
	}
	raw, _ := Lookup("raw")
	if err := verifyWriters(raw, dir, counts, size); err != nil {
		t.Fatal(err)
	}
}

// TestHist checks the bucket bounds and the quantiles of the histogram.
func TestHist(t *testing.T) {
	for _, v := range []int64{0, 1, 15, 16, 17, 31, 32, 33, 1000, 123456789, 1 << 40} {
		i := histIndex(v)
		if up := histUpper(i); up < v || (i > 0 && histUpper(i-1) >= v) {
			t.Errorf("value %d in bucket %d with upper bound %d (previous %d)", v, i, up, histUpper(i-1))
		}
		if up := histUpper(i); v >= histSub && float64(up-v) > float64(v)/histSub {
			t.Errorf("value %d: bucket upper bound %d is more than 1/%d off", v, up, histSub)
		}
	}
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/histSub {
			t.Errorf("Quantile(%v) = %v, want %v within 1/%d", c.q, got, c.want, histSub)
		}
	}
	var m Hist
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2000 || m.Max() != h.Max() || m.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("Merge: count %d max %v p50 %v", m.Count(), m.Max(), m.Quantile(0.5))
	}
}

// TestWorkloads runs every workload, small, on every adapter it is meant
// for, with the checks cmd/compare makes.
func TestWorkloads(t *testing.T) {
	for _, a := range Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			if a.Runs&(Bulk|Replay) != 0 {
				r, err := RunBulk(a, t.TempDir(), BulkConfig{N: 3000, Size: 128, Replay: a.Runs&Replay != 0, Verify: true})
				if err != nil {
					t.Fatalf("bulk: %v", err)
				}
				if r.Append.Ops != 3000 || r.Append.Lat.Count() != 3000/LatencySample || r.Append.Disk.Used < 3000*128 {
					t.Errorf("bulk: %d ops, %d latencies, %d bytes used", r.Append.Ops, r.Append.Lat.Count(), r.Append.Disk.Used)
				}
				if a.Runs&Replay != 0 && (r.Warm.Ops != 3000 || (a.Reopen && r.Cold.Ops != 3000)) {
					t.Errorf("replay: cold %d, warm %d records", r.Cold.Ops, r.Warm.Ops)
				}
			}
			if a.Runs&Serial != 0 {
				r, err := RunSerial(a, t.TempDir(), 50*time.Millisecond, 128, true)
				if err != nil || r.Ops == 0 || r.Lat.Count() != uint64(r.Ops) {
					t.Errorf("serial: %d ops, %d latencies: %v", r.Ops, r.Lat.Count(), err)
				}
			}
			if a.Runs&Concurrent != 0 {
				r, err := RunConcurrent(a, t.TempDir(), 4, 50*time.Millisecond, 128, true)
				if err != nil || r.Ops < 4 {
					t.Errorf("concurrent: %d ops: %v", r.Ops, err)
				}
			}
		})
	}
}
