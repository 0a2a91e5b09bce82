package bench

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// Result is what one run of a workload measured.
type Result struct {
	Ops     int           // records appended (or replayed)
	Bytes   int64         // their payload bytes
	Elapsed time.Duration // first append to end of final sync (replay: Open to end of Replay)
	// Lat holds per-call latencies: every call of the durable workloads,
	// one call in LatencySample of the bulk ones.
	Lat measure.Hist
	// Disk is the log's usage after the final sync (bulk only).
	Disk DiskUsage
	// Resident is the fraction of the log's pages in the page cache just
	// before a cold replay.
	Resident float64
	// PerFlush is the records per flush of a log that counts its flushes
	// (a WAL with RecordsPerFlush), 0 for the others (durable workloads).
	PerFlush float64
}

// OpsPerSec is the throughput in records per second.
func (r Result) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// MBPerSec is the throughput in payload MB (10^6 bytes) per second.
func (r Result) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// LatencySample is how often the bulk workloads time a call: the two clock
// reads around a call cost ~0.1 µs on this VM, about as much as a whole
// append of the fastest logs, so only every 32nd call pays them. (Timing an
// empty call reads ~40 ns: the floor of every latency reported.)
const LatencySample = 32

// BulkResults are the results of RunBulk.
type BulkResults struct {
	Append Result // the N appends and the Sync
	// Cold and Warm are the replays (when asked for). Cold is zero for an
	// adapter that cannot reopen: its replay runs on the writing instance.
	Cold, Warm Result
}

// BulkConfig says what RunBulk does.
type BulkConfig struct {
	N, Size int
	// Replay runs a cold and a warm replay after the appends.
	Replay bool
	// Verify reads the log back (untimed) when Replay is off.
	Verify bool
	// DropAll empties the whole page cache before the cold replay
	// (DropAllCaches) instead of only the log's files (DropCache).
	DropAll bool
}

// RunBulk runs workloads (i)/(ii) and, with c.Replay, (v) and (vi) on the
// same log: N appends of Size bytes, one record per call, then one Sync;
// then the disk usage; then a cold and a warm replay, each timed from Open
// to the end of Replay and checked record by record.
func RunBulk(a Adapter, dir string, c BulkConfig) (BulkResults, error) {
	var res BulkResults
	w, err := a.Open(dir, Options{SizeHint: int64(c.N) * int64(c.Size+32)})
	if err != nil {
		return res, err
	}
	res.Append, err = bulkAppend(w, c.N, c.Size)
	if err == nil {
		res.Append.Disk, err = w.DiskBytes()
	}
	if err != nil {
		w.Close()
		return res, err
	}
	if !a.Reopen {
		// Replay the writing instance (warm only), then close.
		if c.Replay || c.Verify {
			_, res.Warm, err = timedReplay(func() (WAL, error) { return w, nil }, c.N, c.Size)
		}
		return res, firstErr(err, w.Close())
	}
	if err := w.Close(); err != nil {
		return res, err
	}
	open := func() (WAL, error) { return a.Open(dir, Options{}) }
	switch {
	case c.Replay:
		if res.Cold, err = coldReplay(open, dir, c); err != nil {
			return res, fmt.Errorf("cold replay: %w", err)
		}
		if res.Warm, err = closing(timedReplay(open, c.N, c.Size)); err != nil {
			return res, fmt.Errorf("warm replay: %w", err)
		}
	case c.Verify:
		if _, err = closing(timedReplay(open, c.N, c.Size)); err != nil {
			return res, fmt.Errorf("verify: %w", err)
		}
	}
	return res, nil
}

// bulkAppend appends n records of size bytes one per call, then syncs.
func bulkAppend(w WAL, n, size int) (Result, error) {
	p := measure.NewPayload(size)
	one := make([][]byte, 1)
	r := Result{Ops: n, Bytes: int64(n) * int64(size)}
	start := time.Now()
	for i := 1; i <= n; i++ {
		one[0] = p.Record(uint64(i), size)
		if i%LatencySample != 0 {
			if err := w.Append(one); err != nil {
				return r, fmt.Errorf("append %d: %w", i, err)
			}
			continue
		}
		t := time.Now()
		if err := w.Append(one); err != nil {
			return r, fmt.Errorf("append %d: %w", i, err)
		}
		r.Lat.Record(int64(time.Since(t)))
	}
	if err := w.Sync(); err != nil {
		return r, fmt.Errorf("sync: %w", err)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// coldReplay evicts the log's files from the page cache and replays it.
func coldReplay(open func() (WAL, error), dir string, c BulkConfig) (Result, error) {
	if c.DropAll {
		if err := DropAllCaches(); err != nil {
			return Result{}, err
		}
	}
	if err := DropCache(dir); err != nil {
		return Result{}, err
	}
	resident, err := Resident(dir)
	if err != nil {
		return Result{}, err
	}
	r, err := closing(timedReplay(open, c.N, c.Size))
	r.Resident = resident
	return r, err
}

// closing closes the log timedReplay left open.
func closing(w WAL, r Result, err error) (Result, error) {
	if w != nil {
		err = firstErr(err, w.Close())
	}
	return r, err
}

// timedReplay opens a log, replays it and checks that it holds records
// 1..n of size bytes: every record's length and id, and all the bytes of
// one record in 1024 and of the last. The log is returned open.
func timedReplay(open func() (WAL, error), n, size int) (WAL, Result, error) {
	runtime.GC()
	start := time.Now()
	w, err := open()
	if err != nil {
		return nil, Result{}, err
	}
	i := 0
	got, err := w.Replay(func(seq uint64, b []byte) error {
		i++
		id := uint64(i)
		if seq != id {
			return fmt.Errorf("record %d has seq %d", i, seq)
		}
		if i%1024 == 0 || i == n {
			return measure.CheckRecord(b, id, size)
		}
		if len(b) != size || measure.RecordID(b) != id&measure.IDMask(size) {
			return fmt.Errorf("record %d: %d bytes carrying id %d", i, len(b), measure.RecordID(b))
		}
		return nil
	})
	r := Result{Ops: got, Bytes: int64(got) * int64(size), Elapsed: time.Since(start)}
	if err == nil && got != n {
		err = fmt.Errorf("replayed %d records, want %d", got, n)
	}
	return w, r, err
}

// RunSerial runs workload (iii): one writer appends durable records of
// size bytes, one per call, for d.
func RunSerial(a Adapter, dir string, d time.Duration, size int, verify bool) (Result, error) {
	return RunConcurrent(a, dir, 1, d, size, verify)
}

// RunConcurrent runs workload (iv): writers goroutines append durable
// records of size bytes, one per call, for d. Elapsed runs from the start
// signal to the return of the last call. With verify, the log is then
// reopened and every writer's records are checked, in order.
func RunConcurrent(a Adapter, dir string, writers int, d time.Duration, size int, verify bool) (Result, error) {
	w, err := a.Open(dir, Options{SizeHint: 64 << 20})
	if err != nil {
		return Result{}, err
	}
	counts := make([]int, writers)
	hists := make([]measure.Hist, writers)
	errs := make([]error, writers)
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
		t0          time.Time
	)
	for g := range writers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			p, one := measure.NewPayload(size), make([][]byte, 1)
			ready.Done()
			<-start
			end := t0.Add(d)
			for t := time.Now(); t.Before(end); {
				one[0] = p.Record(writerID(g, counts[g]+1), size)
				if errs[g] = w.AppendDurable(one); errs[g] != nil {
					return
				}
				counts[g]++
				now := time.Now()
				hists[g].Record(int64(now.Sub(t)))
				t = now
			}
		}()
	}
	ready.Wait()
	t0 = time.Now()
	close(start)
	done.Wait()
	r := Result{Elapsed: time.Since(t0)}
	for g := range writers {
		r.Ops += counts[g]
		r.Lat.Merge(&hists[g])
	}
	r.Bytes = int64(r.Ops) * int64(size)
	if f, ok := w.(interface{ RecordsPerFlush() float64 }); ok {
		r.PerFlush = f.RecordsPerFlush()
	}
	if err := firstErr(append(errs, w.Close())...); err != nil {
		return r, err
	}
	if verify {
		err = verifyWriters(a, dir, counts, size)
	}
	return r, err
}

// writerID is the id of record n (from 1) of writer g.
func writerID(g, n int) uint64 { return uint64(g)<<40 | uint64(n) }

// verifyWriters reopens the log and checks that it holds exactly counts[g]
// records of each writer g, each writer's in order.
func verifyWriters(a Adapter, dir string, counts []int, size int) error {
	if !a.Reopen {
		return fmt.Errorf("%s cannot reopen a log to verify it", a.Name)
	}
	w, err := a.Open(dir, Options{})
	if err != nil {
		return err
	}
	seen := make([]int, len(counts))
	_, err = w.Replay(func(_ uint64, b []byte) error {
		id := measure.RecordID(b)
		g, n := int(id>>40), int(id&(1<<40-1))
		if g >= len(counts) || n != seen[g]+1 {
			return fmt.Errorf("record of writer %d #%d after #%d", g, n, seen[g])
		}
		seen[g] = n
		return measure.CheckRecord(b, id, size)
	})
	err = firstErr(err, w.Close())
	for g := range counts {
		if err == nil && seen[g] != counts[g] {
			err = fmt.Errorf("writer %d: %d records replayed, %d acknowledged", g, seen[g], counts[g])
		}
	}
	return err
}
