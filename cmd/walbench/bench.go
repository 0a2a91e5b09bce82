package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// sampleEvery is the width of a throughput-over-time bucket.
const sampleEvery = 100 * time.Millisecond

// Progress lines start once a run has taken progressAfter, and are
// refreshed every progressEvery.
const (
	progressAfter = 2 * time.Second
	progressEvery = time.Second
)

// result is what one run measured.
type result struct {
	spec         spec
	records      int64 // records written (and acknowledged by the log)
	payloadBytes int64
	elapsed      time.Duration // first append to the end of the final Sync
	hist         *measure.Hist // latency of each append call, ns
	stats        mmapwal.Stats // Log.Stats just before Close
	disk         diskUsage
	timeline     []point // throughput per sampleEvery
	replay       *replayResult
	follow       *followResult // --followers
}

// point is one throughput bucket: the rate in the bucket ending at t.
type point struct {
	t    time.Duration
	rate float64 // records/s
}

// replayResult is the read-back after a run: reopen, iterate, verify.
type replayResult struct {
	open      time.Duration // mmapwal.Open: recovery of the whole log
	recovered int           // records the log holds after Open (LastSeq-FirstSeq+1: walbench appends densely)
	records   int64
	bytes     int64
	elapsed   time.Duration // iteration only
}

// writer is one appending goroutine's state. Each writer is allocated on
// its own, and count leads the struct, so that the sampler reading count
// does not share a cache line with another writer's histogram.
type writer struct {
	count atomic.Int64 // records appended so far; read by the sampler
	_     [56]byte
	hist  measure.Hist
	bytes int64
	err   error
}

// env is what runs share: where they write and how they report progress.
type env struct {
	base     string       // the benchmark directory
	keep     bool         // leave each run's directory in place
	abort    *atomic.Bool // set on interrupt: stop the run as soon as possible
	progress io.Writer    // progress lines go here; nil for none
}

// runBench runs s in a fresh directory under e.base.
func runBench(e env, s spec, idx int) (*result, error) {
	dir := filepath.Join(e.base, fmt.Sprintf("run%d", idx+1))
	if !e.keep {
		defer os.RemoveAll(dir)
	}
	opts := &mmapwal.Options{
		SegmentSize:   s.segmentSize,
		Durability:    s.durability,
		SyncInterval:  s.interval,
		MaxRecordSize: s.sizeMax, // fail at Open, not at an append, if it cannot fit
	}
	l, err := mmapwal.Open(dir, opts)
	if err != nil {
		if errors.Is(err, mmapwal.ErrInvalidArgument) {
			return nil, usagef("--size/--segment-size: %v", err)
		}
		return nil, usagef("cannot open a log in %s: %v", dir, err)
	}
	var fs *followers
	if s.followers > 0 {
		if fs, err = startFollowers(s, l, dir); err != nil {
			l.Close()
			return nil, err
		}
	}
	res, err := write(e, s, l)
	if fs != nil {
		if err != nil {
			fs.kill()
		} else {
			res.follow, err = fs.finish(l.LastSeq())
		}
	}
	if cerr := l.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the log: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if res.disk, err = measureDisk(dir); err != nil {
		return nil, err
	}
	if s.replay && !e.abort.Load() {
		if res.replay, err = replay(dir, opts, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// bench is one run in progress.
type bench struct {
	spec    spec
	log     *mmapwal.Log
	payload []byte // sizeMax non-zero bytes; records are prefixes of it
	stop    atomic.Bool
	writers []*writer
}

// write runs the writers, then syncs (unless every append already did), and
// reads the log's counters.
func write(e env, s spec, l *mmapwal.Log) (*result, error) {
	b := &bench{spec: s, log: l, payload: measure.Pattern(s.sizeMax)}
	if s.duration > 0 {
		t := time.AfterFunc(s.duration, func() { b.stop.Store(true) })
		defer t.Stop()
	}
	for range s.writers {
		b.writers = append(b.writers, new(writer))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	sampled := make(chan []point, 1)
	start := time.Now()
	go func() { sampled <- b.sample(e, start, done) }()
	for i, w := range b.writers {
		quota := int64(0)
		if s.records > 0 { // split the count: the first writers take the remainder
			quota = s.records / int64(s.writers)
			if int64(i) < s.records%int64(s.writers) {
				quota++
			}
		}
		wg.Go(func() { b.run(w, quota, uint64(i)) })
	}
	wg.Wait()
	err := b.firstErr()
	if err == nil && s.durability != mmapwal.SyncAlways {
		if err = l.Sync(); err != nil { // the run ends when every record is durable
			err = fmt.Errorf("final Sync: %w", err)
		}
	}
	res := &result{spec: s, elapsed: time.Since(start), hist: new(measure.Hist), stats: l.Stats()}
	close(done)
	res.timeline = <-sampled
	if err != nil {
		return nil, err
	}
	if e.abort.Load() {
		return nil, errInterrupted
	}
	for _, w := range b.writers {
		res.records += w.count.Load()
		res.payloadBytes += w.bytes
		res.hist.Merge(&w.hist)
	}
	return res, nil
}

var errInterrupted = errors.New("interrupted")

// firstErr returns the first writer's error, phrased for the user.
func (b *bench) firstErr() error {
	for _, w := range b.writers {
		if w.err == nil {
			continue
		}
		if errors.Is(w.err, mmapwal.ErrRecordTooLarge) || errors.Is(w.err, mmapwal.ErrInvalidArgument) {
			return usagef("--size/--batch/--segment-size: %v", w.err)
		}
		return fmt.Errorf("append: %w", w.err)
	}
	return nil
}

// run is one writer: it appends until it wrote quota records (quota > 0) or
// until b.stop. A panic becomes the writer's error, so that walbench still
// ends with one line.
func (b *bench) run(w *writer, quota int64, id uint64) {
	defer func() {
		if r := recover(); r != nil {
			w.err = fmt.Errorf("panic: %v", r)
			b.stop.Store(true)
		}
	}()
	c := caller{bench: b, rng: rand.New(rand.NewPCG(id, 0x9e3779b97f4a7c15)), buf: b.payload}
	if b.spec.followers > 0 { // records carry stamps: this writer's own buffers
		c.buf = measure.Pattern(b.spec.sizeMax)
		for range b.spec.batch {
			c.bufs = append(c.bufs, measure.Pattern(b.spec.sizeMax))
		}
	}
	var every time.Duration // --rate: each writer's share
	if b.spec.rate > 0 {
		every = time.Duration(float64(b.spec.writers) / b.spec.rate * 1e9)
	}
	next := time.Now()
	for n := int64(0); (quota == 0 || n < quota) && !b.stop.Load(); {
		if every > 0 { // on a fixed schedule: a late call is not made up by a longer pause
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(every)
		}
		k := 1
		if b.spec.batch > 0 {
			k = b.spec.batch
			if quota > 0 {
				k = int(min(int64(k), quota-n))
			}
		}
		lat, nb, err := c.call(k)
		w.hist.Record(int64(lat))
		if err != nil {
			w.err = err
			b.stop.Store(true)
			return
		}
		n += int64(k)
		w.bytes += nb
		w.count.Store(n)
	}
}

// caller makes one writer's calls into the log.
type caller struct {
	*bench
	rng   *rand.Rand
	batch [][]byte // reused by AppendBatch calls
	buf   []byte   // the payload of Append: b.payload, or this writer's when records carry stamps
	bufs  [][]byte // the payloads of one AppendBatch when records carry stamps
}

// stamp writes t0, the time the call starts, into each record, for
// followers. It reuses the clock reading that times the call: reading the
// clock costs 20-200 ns depending on the machine, which would slow the
// writer measured with followers against the one without.
func (c *caller) stamp(t0 time.Time, recs ...[]byte) {
	if c.spec.followers == 0 {
		return
	}
	t := t0.UnixNano()
	for _, r := range recs {
		putStamp(r, t)
	}
}

// size picks the next record's size.
func (c *caller) size() int {
	if c.spec.sizeMin == c.spec.sizeMax {
		return c.spec.sizeMin
	}
	return c.spec.sizeMin + c.rng.IntN(c.spec.sizeMax-c.spec.sizeMin+1)
}

// call appends k records in one call (k > 1 only with --batch) and returns
// how long the call took and the payload bytes it wrote. The call is timed
// with time.Now/time.Since (monotonic clock, about 20–40 ns together);
// choosing sizes is not.
func (c *caller) call(k int) (time.Duration, int64, error) {
	var nb int64
	var err error
	switch {
	case c.spec.batch > 0:
		c.batch = c.batch[:0]
		for i := range k {
			sz := c.size()
			p := c.payload
			if c.bufs != nil {
				p = c.bufs[i]
			}
			c.batch = append(c.batch, p[:sz])
			nb += int64(sz)
		}
		t0 := time.Now()
		c.stamp(t0, c.batch...)
		_, err = c.log.AppendBatch(c.batch)
		return time.Since(t0), nb, err
	case c.spec.reserve:
		sz := c.size()
		t0 := time.Now()
		err = c.reserve(sz, t0)
		return time.Since(t0), int64(sz), err
	}
	sz := c.size()
	t0 := time.Now()
	c.stamp(t0, c.buf)
	_, err = c.log.Append(c.buf[:sz])
	return time.Since(t0), int64(sz), err
}

// reserve writes one record of n bytes through Reserve/Commit: the bytes go
// straight into the log's mapping.
func (b *bench) reserve(n int, t0 time.Time) error {
	r, err := b.log.Reserve(n)
	if err != nil {
		return err
	}
	copy(r.Bytes(), b.payload[:n])
	if b.spec.followers > 0 {
		putStamp(r.Bytes(), t0.UnixNano())
	}
	_, err = r.Commit()
	return err
}

// total is the number of records appended so far.
func (b *bench) total() int64 {
	var n int64
	for _, w := range b.writers {
		n += w.count.Load()
	}
	return n
}

// sample records throughput every sampleEvery until done is closed, relays
// an interrupt to the writers and refreshes the progress line. It returns
// the throughput timeline, its last bucket ending when the writers did.
func (b *bench) sample(e env, start time.Time, done <-chan struct{}) []point {
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	var pts []point
	var prevT time.Duration
	var prevN int64
	var shown time.Duration // when the progress line was last written
	add := func() {
		t, n := time.Since(start), b.total()
		if t > prevT {
			pts = append(pts, point{t: t, rate: float64(n-prevN) / (t - prevT).Seconds()})
		}
		prevT, prevN = t, n
	}
	for {
		select {
		case <-done:
			// The writers finished at most one final Sync ago; the last
			// bucket ends now.
			add()
			if shown > 0 {
				fmt.Fprint(e.progress, "\r\x1b[K")
			}
			return pts
		case <-tick.C:
			if e.abort.Load() {
				b.stop.Store(true)
			}
			add()
			if e.progress != nil && prevT >= progressAfter && prevT-shown >= progressEvery {
				shown = prevT
				b.showProgress(e.progress, prevT, prevN, pts)
			}
		}
	}
}

// showProgress rewrites the progress line on a terminal.
func (b *bench) showProgress(w io.Writer, t time.Duration, n int64, pts []point) {
	// The rate over the last second: the mean of the last ten buckets.
	var sum float64
	last := pts[max(0, len(pts)-10):]
	for _, p := range last {
		sum += p.rate
	}
	line := fmt.Sprintf("walbench: %s  %5.1fs  %d records  %s rec/s", b.spec.name, t.Seconds(), n, formatCount(sum/float64(len(last))))
	if b.spec.records > 0 {
		line += fmt.Sprintf("  %.0f%%", 100*float64(n)/float64(b.spec.records))
	}
	fmt.Fprintf(w, "\r%s\x1b[K", line)
}

// replay reopens the closed log, timing Open (recovery: it scans the newest
// segment and checks the seals of the others, whose frames the iteration
// verifies on first read), then iterates every record zero-copy, comparing
// it with what was written (so every byte is read, as a consumer would), and
// checks that it read back exactly the records and bytes that were written.
func replay(dir string, opts *mmapwal.Options, res *result) (*replayResult, error) {
	start := time.Now()
	l, err := mmapwal.Open(dir, opts)
	open := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("replay: Open: %w", err)
	}
	defer l.Close()
	// Not RecoveryReport.Records: Open does not read the sealed segments
	// of a version 2 log (RecoveryReport.Deferred); the iteration below
	// reads and checks them.
	rr := &replayResult{open: open}
	if first := l.FirstSeq(); first > 0 && l.LastSeq() >= first {
		rr.recovered = int(l.LastSeq() - first + 1)
	}
	it, err := l.NewIterator(1)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer it.Close()
	want := measure.Pattern(res.spec.sizeMax)
	skip := 0 // the stamp, with followers
	if res.spec.followers > 0 {
		skip = stampLen
	}
	start = time.Now()
	for it.Next() {
		v := it.Value()
		if len(v) > len(want) || len(v) < skip || !bytes.Equal(v[skip:], want[skip:len(v)]) {
			return nil, fmt.Errorf("replay: record %d differs from what was written", it.Seq())
		}
		rr.records++
		rr.bytes += int64(len(v))
	}
	rr.elapsed = time.Since(start)
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if rr.records != res.records || rr.bytes != res.payloadBytes {
		return nil, fmt.Errorf("replay: read %d records (%d bytes), wrote %d (%d bytes)", rr.records, rr.bytes, res.records, res.payloadBytes)
	}
	return rr, nil
}

// diskUsage is what a closed log occupies.
type diskUsage struct {
	used      int64 // bytes of segment files up to the end of their last frame
	segments  int   // segment files
	fileBytes int64 // their sizes (preallocated)
}

// measureDisk sums, over the segment files of the closed log in dir, the
// offset just past the last non-zero byte rounded up to 8: segments are
// preallocated and zero-filled, frames are 8-byte aligned, and payloads
// (measure.Pattern) hold no zero byte, so that is where each segment's last
// frame (or close mark) ends. bench's mmapwal adapter measures the same way.
func measureDisk(dir string) (diskUsage, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return diskUsage{}, err
	}
	u, err := measure.FilesUsage(names, measure.UsedToLastNonZero(8))
	if err != nil {
		return diskUsage{}, fmt.Errorf("measuring disk use: %w", err)
	}
	return diskUsage{used: u.Used, segments: u.Files, fileBytes: u.Apparent}, nil
}

// formatCount writes a rate or count with a k/M/G suffix.
func formatCount(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
