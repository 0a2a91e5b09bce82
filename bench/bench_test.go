package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// TestBatcherConcurrent runs 16 durable writers and a bulk writer through a
// batcher in front of the raw log and checks that every acknowledged record
// is in the log, each writer's in order.
func TestBatcherConcurrent(t *testing.T) {
	const writers, each, size = 16, 40, 100
	dir := t.TempDir()
	inner, err := openRaw(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := Batched(inner, BatchLimits{Records: 8, Bytes: 1 << 20})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			p := measure.NewPayload(size)
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

// TestLatencyWithinHistBound checks that the latencies the workloads
// report come from the HdrHistogram-style histogram that cmd/walbench uses:
// a p99 within measure.MaxRelErr of the exact one. (bench's own histogram
// used to report its 1/16-wide bucket's upper bound, up to 6 % high.)
func TestLatencyWithinHistBound(t *testing.T) {
	var r Result
	for i := int64(1); i <= 1000; i++ {
		r.Lat.Record(i * 1000) // 1µs .. 1ms
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 500_000}, {0.99, 990_000}, {0.999, 999_000}, {1, 1_000_000}} {
		got := r.Lat.Quantile(c.q)
		if d := got - c.want; float64(max(d, -d)) > measure.MaxRelErr*float64(c.want) {
			t.Errorf("Quantile(%v) = %d, want %d within %.2f%%", c.q, got, c.want, 100*measure.MaxRelErr)
		}
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
