package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// Live followers (--followers): each record carries the wall-clock time
// its append call started, in its first stampLen bytes; a follower takes the
// difference with the time its NextWait returned the record. Wall clock,
// not monotonic, so that a follower in another process can compare it.

// stampLen is the size of a record's time stamp: 64 bits in 7-bit groups,
// each byte with its high bit set, so that a stamp holds no zero byte (see
// measureDisk).
const stampLen = 10

// putStamp writes t (ns since the epoch) into b[:stampLen].
func putStamp(b []byte, t int64) {
	v := uint64(t)
	for i := range stampLen {
		b[i] = 0x80 | byte(v>>(7*i))&0x7f
	}
}

// readStamp is the inverse of putStamp.
func readStamp(b []byte) int64 {
	var v uint64
	for i := range stampLen {
		v |= uint64(b[i]&0x7f) << (7 * i)
	}
	return int64(v)
}

// followResult is what the followers of one run measured.
type followResult struct {
	followers int
	process   bool
	hist      measure.Hist // append call start -> NextWait return, ns, over every follower
	records   int64        // records seen, summed over the followers
	mallocs   uint64       // heap allocations while following (in-process: the whole process's)
}

// allocsPerRecord is mallocs per record seen.
func (f *followResult) allocsPerRecord() float64 {
	if f.records == 0 {
		return 0
	}
	return float64(f.mallocs) / float64(f.records)
}

// follower is one live reader in progress.
type follower struct {
	seen atomic.Uint64 // the last sequence it returned
	hist measure.Hist
	n    int64
	err  error
}

// follow reads records from it until ctx is done, timing each. It
// allocates nothing per record.
func (f *follower) follow(ctx context.Context, it *mmapwal.Iterator) {
	var c clock
	for c.next(ctx, it) {
		v := it.Value()
		if len(v) >= stampLen {
			f.hist.Record(max(c.now-readStamp(v), 0))
		}
		f.n++
		f.seen.Store(it.Seq())
	}
	if err := it.Err(); err != nil && !errors.Is(err, context.Canceled) {
		f.err = err
	}
}

// clock is a follower's reading of the wall clock for the record it just
// returned. Reading the clock costs about as much as returning a record
// (it was half of the followers' CPU in a bulk run, taken from the cores
// the writer is measured on), so records that were already there when the
// follower asked share a reading with up to clockEvery-1 records before
// them: their latency reads low by the time the follower took to return
// those, a fraction of a µs each, against latencies of ms when followers
// fall behind. A record the follower had to wait for (NextWait) gets its
// own reading, so latencies at a rate the followers keep up with are exact.
type clock struct {
	now  int64 // ns since the epoch
	left int   // records that may still share now
}

const clockEvery = 16

// next is it.NextWait(ctx), setting c.now for the record returned.
func (c *clock) next(ctx context.Context, it *mmapwal.Iterator) bool {
	if it.Next() {
		if c.left--; c.left <= 0 {
			c.now, c.left = time.Now().UnixNano(), clockEvery
		}
		return true
	}
	if it.Err() != nil || !it.NextWait(ctx) {
		return false
	}
	c.now, c.left = time.Now().UnixNano(), clockEvery
	return true
}

// catchUpWait bounds how long the followers may take to read the last
// records once the writers are done.
const catchUpWait = 30 * time.Second

// followers are the live readers of one run: goroutines on the Log, or
// child processes on its directory.
type followers struct {
	res    *followResult
	cancel context.CancelFunc
	wg     sync.WaitGroup
	local  []*follower
	procs  []*followerProc
	before runtime.MemStats
}

// startFollowers starts s.followers readers from sequence 1 and returns once
// each is ready (waiting for the first record).
func startFollowers(s spec, l *mmapwal.Log, dir string) (*followers, error) {
	fs := &followers{res: &followResult{followers: s.followers, process: s.followProc}}
	if s.followProc {
		for range s.followers {
			p, err := startFollowerProc(dir)
			if err != nil {
				fs.kill()
				return nil, err
			}
			fs.procs = append(fs.procs, p)
		}
		return fs, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	fs.cancel = cancel
	runtime.ReadMemStats(&fs.before)
	for range s.followers {
		it, err := l.NewIterator(1)
		if err != nil {
			cancel()
			return nil, err
		}
		f := new(follower)
		fs.local = append(fs.local, f)
		fs.wg.Go(func() {
			defer it.Close()
			f.follow(ctx, it)
		})
	}
	return fs, nil
}

// finish waits for every follower to reach last, stops them and collects
// what they measured.
func (fs *followers) finish(last uint64) (*followResult, error) {
	if fs.procs != nil {
		var err error
		for _, p := range fs.procs {
			if perr := p.finish(last, fs.res); err == nil {
				err = perr
			}
		}
		return fs.res, err
	}
	deadline := time.Now().Add(catchUpWait)
	for _, f := range fs.local {
		for f.seen.Load() < last && f.err == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fs.cancel()
	fs.wg.Wait()
	fs.res.mallocs = after.Mallocs - fs.before.Mallocs
	for _, f := range fs.local {
		if f.err != nil {
			return nil, fmt.Errorf("follower: %w", f.err)
		}
		if got := f.seen.Load(); got < last {
			return nil, fmt.Errorf("follower: reached %d of %d in %s", got, last, catchUpWait)
		}
		fs.res.hist.Merge(&f.hist)
		fs.res.records += f.n
	}
	return fs.res, nil
}

// kill stops the followers after a failure.
func (fs *followers) kill() {
	if fs.cancel != nil {
		fs.cancel()
		fs.wg.Wait()
	}
	for _, p := range fs.procs {
		p.cmd.Process.Kill()
		<-p.done
		p.cmd.Wait()
	}
}

// The child protocol of --followers-process. The child (walbench itself,
// with followerEnv naming the log's directory) writes little-endian int64s
// to its stdout: msgReady once it waits for the first record, then, once
// done, msgEnd, its allocations while following, the number of records it
// saw and the length of its latency histogram (ns), followed by the
// histogram (measure.Hist.AppendBinary). It reads from stdin the last
// sequence to expect, stops once it has seen it (or after catchUpWait), and
// exits. The child keeps the histogram itself: a message per record would
// have the writer's process read and record millions of them while it
// appends, on the cores the writer is measured on.
const (
	followerEnv = "WALBENCH_FOLLOWER"
	msgReady    = -2
	msgEnd      = -1
)

// followerProc is one child follower.
type followerProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	done    chan struct{} // closed when drain returns; the fields below are drain's until then
	hist    measure.Hist
	n       int64
	mallocs uint64
	err     error
}

func startFollowerProc(dir string) (*followerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--followers-process: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), followerEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--followers-process: %w", err)
	}
	p := &followerProc{cmd: cmd, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<16)}
	if v, err := p.read(); err != nil || v != msgReady {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("follower process did not start (%v)", err)
	}
	p.done = make(chan struct{})
	go p.drain()
	return p, nil
}

func (p *followerProc) read() (int64, error) {
	var b [8]byte
	if _, err := io.ReadFull(p.out, b[:]); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

// drain waits for the child's end message and reads its figures.
func (p *followerProc) drain() {
	defer close(p.done)
	p.err = p.readEnd()
}

func (p *followerProc) readEnd() error {
	v, err := p.read()
	if err != nil {
		return fmt.Errorf("follower process: %w", err)
	}
	if v != msgEnd {
		return fmt.Errorf("follower process: message %d, want its end (%d)", v, msgEnd)
	}
	var w [3]int64
	for i := range w {
		if w[i], err = p.read(); err != nil {
			return fmt.Errorf("follower process: %w", err)
		}
	}
	if w[2] < 0 || w[2] > 1<<20 {
		return fmt.Errorf("follower process: a histogram of %d bytes", w[2])
	}
	b := make([]byte, w[2])
	if _, err := io.ReadFull(p.out, b); err != nil {
		return fmt.Errorf("follower process: %w", err)
	}
	if err := p.hist.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("follower process: %w", err)
	}
	p.mallocs, p.n = uint64(w[0]), w[1]
	return nil
}

// finish tells the child the last sequence, waits for its figures and its
// exit, and adds the figures to res.
func (p *followerProc) finish(last uint64, res *followResult) error {
	fmt.Fprintf(p.stdin, "%d\n", last)
	p.stdin.Close()
	<-p.done
	err := p.err
	if werr := p.cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("follower process: %w", werr)
	}
	if err == nil {
		res.hist.Merge(&p.hist)
		res.mallocs += p.mallocs
		res.records += p.n
	}
	return err
}
