package mmapwal_test

// The API against Close and truncation (issue 8, "Cover the classes"):
// every public method runs in its own goroutine, in a loop, while others
// call Close, TruncateFront and TruncateBack. Run it under -race. Each run
// checks that
//
//   - nothing faults (a SIGSEGV or SIGBUS would kill the test binary) and
//     the race detector sees no race;
//   - every error is of a documented kind for its method: ErrClosed after
//     Close; ErrNotFound for a read of a record a truncation dropped;
//     ErrSequence for an AppendSeq that a concurrent append overtook;
//     ErrInvalidArgument for a truncation point or a WaitDurable sequence
//     that a concurrent truncation moved out of range;
//   - every record a read returns (Read, ReadInto, View, an iterator) holds
//     the bytes appended (self-describing payloads: a tag, then bytes
//     derived from it), with the sequence its write returned;
//   - Close returns nil, and after a reopen the log holds only records that
//     were appended, each at the sequence its write returned, and every
//     record acknowledged durable (a nil SyncAlways write, or covered by a
//     nil Sync, WaitDurable or Close) that no truncation may have dropped.
//
// Half of the runs leave TruncateBack out. With it, the zero-copy readers
// (View's fn, an iterator's Value) may see a record's bytes zeroed by a
// TruncateBack that drops it meanwhile: that is allowed only when the read
// then says so (View returns a *TruncatedError, the iterator's next Next
// fails with one at or below the record), and counted. Read and ReadInto
// copy and are never wrong.
// MMAPWAL_TORTURE=1 (make torture) runs 20 times as many rounds.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// arWrite is a record whose write returned nil.
type arWrite struct {
	seq, tag   uint64
	start, end uint64 // ticks of the run's clock around the call
	data       []byte
}

// arTrunc is one truncation call, whatever it returned.
type arTrunc struct {
	back       bool
	seq        uint64
	start, end uint64
	ok         bool // it returned nil
}

// arRun is one run: a log, its goroutines and what they saw.
type arRun struct {
	t      *testing.T
	l      *mmapwal.Log
	dir    string
	opts   *mmapwal.Options
	back   bool // TruncateBack runs too
	gen    uint64
	clock  atomic.Uint64
	tags   atomic.Uint64
	closed atomic.Bool // Close was called

	mu      sync.Mutex
	writes  []arWrite
	acked   map[int]bool // indexes of writes acknowledged durable
	truncs  []arTrunc
	errs    []string
	calls   map[string]int
	racing  int // wrong reads explained by a racing TruncateBack
	tagSeqs map[uint64]uint64
}

func (r *arRun) tick() uint64 { return r.clock.Add(1) }

func (r *arRun) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *arRun) count(name string) {
	r.mu.Lock()
	r.calls[name]++
	r.mu.Unlock()
}

// newPayload returns a record with a tag unique in the test.
func (r *arRun) newPayload(n int) []byte {
	return payload(r.gen<<40|r.tags.Add(1), n)
}

// allowed reports whether err is a documented outcome of the call name.
func (r *arRun) allowed(name string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, mmapwal.ErrClosed):
		return r.closed.Load()
	}
	switch name {
	case "Read", "ReadInto", "View", "Iterator":
		return errors.Is(err, mmapwal.ErrNotFound)
	case "AppendSeq", "AppendBatchSeq":
		return errors.Is(err, mmapwal.ErrSequence)
	case "TruncateFront", "TruncateBack", "WaitDurable":
		return errors.Is(err, mmapwal.ErrInvalidArgument)
	}
	return false
}

func (r *arRun) check(name string, err error) {
	r.count(name)
	if !r.allowed(name, err) {
		r.errorf("%s: %v (closed %v)", name, err, r.closed.Load())
	}
}

// wrote records records whose write returned nil.
func (r *arRun) wrote(first, start uint64, recs ...[]byte) {
	end := r.tick()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range recs {
		seq, tag := first+uint64(i), tagOf(p)
		if prev, ok := r.tagSeqs[tag]; ok {
			r.errs = append(r.errs, fmt.Sprintf("tag %x written twice (%d, %d)", tag, prev, seq))
		}
		r.tagSeqs[tag] = seq
		r.writes = append(r.writes, arWrite{seq: seq, tag: tag, start: start, end: end, data: p})
		if r.opts.Durability == mmapwal.SyncAlways {
			r.acked[len(r.writes)-1] = true
		}
	}
}

// ackBefore marks acknowledged every write that returned before start.
func (r *arRun) ackBefore(start uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.writes {
		if w.end < start {
			r.acked[i] = true
		}
	}
}

func tagOf(p []byte) uint64 {
	var tag uint64
	for i := 7; i >= 0; i-- {
		tag = tag<<8 | uint64(p[i])
	}
	return tag
}

// recordErr says what is wrong with the bytes a read returned for seq, or
// nil when they are the record appended there.
func (r *arRun) recordErr(seq uint64, b []byte) error {
	err := checkPayload(b)
	if err == nil {
		r.mu.Lock()
		want, ok := r.tagSeqs[tagOf(b)]
		r.mu.Unlock()
		if ok && want != seq {
			err = fmt.Errorf("tag %x was appended at %d", tagOf(b), want)
		}
	}
	return err
}

// checkRecord fails bytes a copying read returned for seq that are not the
// record appended there.
func (r *arRun) checkRecord(name string, seq uint64, b []byte) {
	if err := r.recordErr(seq, b); err != nil {
		r.errorf("%s(%d): %v", name, seq, err)
	}
}

// zeroCopyWrong judges a zero-copy read whose bytes were wrong (bad): it is
// allowed when the reader then reported the truncation of the record (te,
// from View or from the iterator's next Next, at or below seq) while
// TruncateBack is in the mix; it is counted then.
func (r *arRun) zeroCopyWrong(name string, seq uint64, bad, next error) {
	var te *mmapwal.TruncatedError
	if r.back && errors.As(next, &te) && te.Seq <= seq {
		r.mu.Lock()
		r.racing++
		r.mu.Unlock()
		return
	}
	r.errorf("%s(%d): %v, and then %v", name, seq, bad, next)
}

// keepGoing reports whether a goroutine makes another call: until a few
// calls after Close, or its budget (a safety cap) is spent.
func (r *arRun) keepGoing(after, budget *int) bool {
	*budget--
	if r.closed.Load() {
		*after++
		return *after <= 3 && *budget >= 0
	}
	return *budget >= 0
}

// pick returns a sequence in the log's range, or 0.
func pick(l *mmapwal.Log, rng *rand.Rand) uint64 {
	first, last := l.FirstSeq(), l.LastSeq()
	if last == 0 || first > last {
		return 0
	}
	return first + rng.Uint64N(last-first+1)
}

// writer runs one write method in a loop.
func (r *arRun) writer(name string, budget int, rng *rand.Rand) {
	l := r.l
	for after := 0; r.keepGoing(&after, &budget); {
		start := r.tick()
		var err error
		switch name {
		case "Append":
			p := r.newPayload(rng.IntN(500))
			var seq uint64
			if seq, err = l.Append(p); err == nil {
				r.wrote(seq, start, p)
			}
		case "AppendSeq":
			p, seq := r.newPayload(rng.IntN(500)), l.LastSeq()+1+rng.Uint64N(2)
			if err = l.AppendSeq(seq, p); err == nil {
				r.wrote(seq, start, p)
			}
		case "AppendBatch", "AppendBatchSeq":
			recs := make([][]byte, 1+rng.IntN(4))
			for i := range recs {
				recs[i] = r.newPayload(rng.IntN(300))
			}
			var first uint64
			if name == "AppendBatch" {
				first, err = l.AppendBatch(recs)
			} else {
				first = l.LastSeq() + 1
				err = l.AppendBatchSeq(first, recs)
			}
			if err == nil {
				r.wrote(first, start, recs...)
			}
		case "Reserve":
			err = r.reserve(rng) // checks its calls itself
		}
		if name != "Reserve" {
			r.check(name, err)
		}
		if errors.Is(err, mmapwal.ErrClosed) {
			return
		}
	}
}

// reserve is one Reserve, Bytes filled in several steps (Close may come in
// between), then Commit or Abort.
func (r *arRun) reserve(rng *rand.Rand) error {
	p := r.newPayload(rng.IntN(2000))
	res, err := r.l.Reserve(len(p))
	r.check("Reserve", err)
	if err != nil {
		return err
	}
	b := res.Bytes()
	for i := 0; i < len(b); i += 256 {
		copy(b[i:], p[i:min(i+256, len(p))])
		if rng.IntN(8) == 0 {
			time.Sleep(10 * time.Microsecond)
		}
	}
	if rng.IntN(5) == 0 {
		res.Abort()
		if res.Bytes() != nil {
			r.errorf("Bytes after Abort: not nil")
		}
		return nil
	}
	start := r.tick()
	seq, err := res.Commit()
	if err == nil {
		r.wrote(seq, start, p)
	}
	r.check("Commit", err)
	if res.Bytes() != nil {
		r.errorf("Bytes after Commit: not nil")
	}
	return err
}

// reader runs one read method in a loop.
func (r *arRun) reader(name string, budget int, rng *rand.Rand) {
	l := r.l
	var buf []byte
	for after := 0; r.keepGoing(&after, &budget); {
		seq := pick(l, rng)
		if seq == 0 {
			seq = 1
		}
		var err error
		switch name {
		case "Read":
			var b []byte
			if b, err = l.Read(seq); err == nil {
				r.checkRecord(name, seq, b)
			}
		case "ReadInto":
			if buf, err = l.ReadInto(buf[:0], seq); err == nil {
				r.checkRecord(name, seq, buf)
			}
		case "View":
			var bad error
			err = l.View(seq, func(b []byte) error {
				bad = r.recordErr(seq, b)
				return nil
			})
			if bad != nil {
				r.zeroCopyWrong(name, seq, bad, err)
				continue
			}
		case "Iterator":
			err = r.iterate(seq, rng)
		}
		r.check(name, err)
		if errors.Is(err, mmapwal.ErrClosed) {
			return
		}
	}
}

// iterate reads up to a few dozen records from seq.
func (r *arRun) iterate(from uint64, rng *rand.Rand) error {
	it, err := r.l.NewIterator(from)
	if err != nil {
		return err
	}
	defer it.Close()
	var bad error // the current record's bytes are wrong
	var badSeq uint64
	for k := rng.IntN(40); k > 0; k-- {
		if !it.Next() {
			break
		}
		if bad != nil {
			r.errorf("Iterator(%d): %v, yet Next went on to %d", badSeq, bad, it.Seq())
		}
		if bad = r.recordErr(it.Seq(), it.Value()); bad != nil {
			badSeq = it.Seq()
		}
	}
	if bad != nil {
		it.Next() // must fail: the record was dropped under Value
		r.zeroCopyWrong("Iterator", badSeq, bad, it.Err())
		return nil
	}
	if err := it.Err(); err != nil {
		return err
	}
	return it.Close()
}

// syncer calls Sync, WaitDurable and the accessors in a loop.
func (r *arRun) syncer(budget int, rng *rand.Rand) {
	l := r.l
	for after := 0; r.keepGoing(&after, &budget); {
		start := r.tick()
		switch rng.IntN(3) {
		case 0:
			err := l.Sync()
			if err == nil {
				r.ackBefore(start)
			}
			r.check("Sync", err)
		case 1:
			seq := l.LastSeq()
			err := l.WaitDurable(context.Background(), seq)
			if err == nil {
				r.ackBefore(start) // every write before covers at most seq
			}
			r.check("WaitDurable", err)
		case 2:
			st := l.Stats()
			_, _, _ = l.FirstSeq(), l.LastSeq(), l.DurableSeq()
			_ = l.Recovery()
			if st.Poisoned {
				r.errorf("Stats: poisoned without a fault")
			}
			r.count("Stats")
		}
	}
}

// truncator calls TruncateFront or TruncateBack in a loop.
func (r *arRun) truncator(back bool, budget int, rng *rand.Rand) {
	l := r.l
	for after := 0; r.keepGoing(&after, &budget); {
		time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
		start := r.tick()
		var seq uint64
		var err error
		name := "TruncateFront"
		if back {
			name = "TruncateBack"
			seq = l.LastSeq() - min(l.LastSeq(), uint64(rng.IntN(4)))
			err = l.TruncateBack(seq)
		} else {
			seq = min(l.FirstSeq()+uint64(rng.IntN(6)), l.LastSeq()+1)
			err = l.TruncateFront(seq)
		}
		end := r.tick()
		r.mu.Lock()
		r.truncs = append(r.truncs, arTrunc{back: back, seq: seq, start: start, end: end, ok: err == nil})
		r.mu.Unlock()
		r.check(name, err)
		if errors.Is(err, mmapwal.ErrClosed) {
			return
		}
	}
}

// front returns the highest TruncateFront that returned nil: no record
// below it may come back after a reopen.
func (r *arRun) front() uint64 {
	var f uint64
	for _, tr := range r.truncs {
		if !tr.back && tr.ok {
			f = max(f, tr.seq)
		}
	}
	return f
}

// dropped reports whether a truncation may have removed w: one that did
// not end before w's write started and whose cut covers w.seq.
func (r *arRun) dropped(w arWrite) bool {
	for _, tr := range r.truncs {
		if tr.end >= w.start && ((tr.back && w.seq > tr.seq) || (!tr.back && w.seq < tr.seq)) {
			return true
		}
	}
	return false
}

// run starts every goroutine, closes the log while they run, and waits.
func (r *arRun) run(rng *rand.Rand) {
	var wg sync.WaitGroup
	spawn := func(f func(*rand.Rand)) {
		s := rng.Uint64()
		wg.Go(func() { f(rand.New(rand.NewPCG(s, 7))) })
	}
	for _, name := range []string{"Append", "AppendSeq", "AppendBatch", "AppendBatchSeq", "Reserve"} {
		spawn(func(rng *rand.Rand) { r.writer(name, 5000, rng) })
	}
	for _, name := range []string{"Read", "ReadInto", "View", "Iterator"} {
		spawn(func(rng *rand.Rand) { r.reader(name, 20000, rng) })
	}
	spawn(func(rng *rand.Rand) { r.syncer(5000, rng) })
	spawn(func(rng *rand.Rand) { r.truncator(false, 2000, rng) })
	if r.back {
		spawn(func(rng *rand.Rand) { r.truncator(true, 2000, rng) })
	}
	// Close while they all run: after a few hundred writes, or a while.
	target, deadline := 50+rng.IntN(400), time.Now().Add(50*time.Millisecond)
	for r.writesDone() < target && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	start := r.tick()
	r.closed.Store(true)
	err := r.l.Close()
	if err != nil {
		r.errorf("Close: %v", err)
	} else {
		r.ackBefore(start)
	}
	wg.Wait()
	if err := r.l.Close(); err != nil {
		r.errorf("second Close: %v", err)
	}
}

func (r *arRun) writesDone() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// verify reopens the directory and checks what it holds.
func (r *arRun) verify() {
	l, err := mmapwal.Open(r.dir, r.opts)
	if err != nil {
		r.errorf("reopen: %v", err)
		return
	}
	defer l.Close()
	if !l.Recovery().Clean {
		r.errorf("reopen after a nil Close: not clean")
	}
	got := map[uint64][]byte{}
	it, err := l.NewIterator(0)
	require.NoError(r.t, err)
	defer it.Close()
	for it.Next() {
		b := it.Value()
		if err := checkPayload(b); err != nil {
			r.errorf("after reopen, record %d: %v", it.Seq(), err)
			continue
		}
		if want, ok := r.tagSeqs[tagOf(b)]; ok && want != it.Seq() {
			r.errorf("after reopen, tag %x at %d, appended at %d", tagOf(b), it.Seq(), want)
		}
		if it.Seq() < r.front() {
			r.errorf("after reopen, record %d is below the front truncation to %d", it.Seq(), r.front())
		}
		got[it.Seq()] = append([]byte(nil), b...)
	}
	if err := it.Err(); err != nil {
		r.errorf("iterating after reopen: %v", err)
	}
	for i := range r.acked {
		w := r.writes[i]
		if !r.dropped(w) && string(got[w.seq]) != string(w.data) {
			r.errorf("record %d (tag %x), acknowledged durable, lost or changed after reopen", w.seq, w.tag)
		}
	}
}

// TestAPIRaceTorture runs the rounds (see the top of the file).
func TestAPIRaceTorture(t *testing.T) {
	rounds := 24
	if os.Getenv("MMAPWAL_TORTURE") == "1" {
		rounds *= 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	total := map[string]int{}
	var racing, acked, writes int
	for i := range rounds {
		dur := []mmapwal.Durability{mmapwal.SyncManual, mmapwal.SyncAlways}[i%2]
		opts := &mmapwal.Options{SegmentSize: 16 << 10, Durability: dur, MaxMappedSegments: 2}
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, opts)
		require.NoError(t, err)
		r := &arRun{t: t, l: l, dir: dir, opts: opts, back: i%4 >= 2, gen: uint64(i + 1),
			acked: map[int]bool{}, calls: map[string]int{}, tagSeqs: map[uint64]uint64{}}
		for range 20 { // something to read and truncate from the start
			start := r.tick()
			p := r.newPayload(100)
			seq, err := l.Append(p)
			require.NoError(t, err)
			r.wrote(seq, start, p)
		}
		r.run(rng)
		r.verify()
		if len(r.errs) > 0 {
			t.Fatalf("round %d (%v, TruncateBack %v, seed %d):\n  %s", i, dur, r.back, seed, strings.Join(r.errs, "\n  "))
		}
		for k, v := range r.calls {
			total[k] += v
		}
		racing += r.racing
		acked += len(r.acked)
		writes += len(r.writes)
	}
	t.Logf("%d rounds: %d writes, %d acknowledged durable and checked after reopen; calls %v; %d reads of records being truncated", rounds, writes, acked, total, racing)
}

// TestWaitDurableClosedOrPoisoned: WaitDurable fails after Close
// (ErrClosed) and on a poisoned log (ErrPoisoned), as its documentation
// says and as Sync does, even for a record that is already durable. Before,
// it returned nil for any record at or below DurableSeq, so the race tests
// could not tell a WaitDurable that started after Close or after the
// poisoning from one that finished before.
func TestWaitDurableClosedOrPoisoned(t *testing.T) {
	ctx := context.Background()
	l, _ := openLog(t, manual())
	mustAppend(t, l, []byte("a"))
	require.NoError(t, l.Sync())
	require.NoError(t, l.WaitDurable(ctx, 1))
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.WaitDurable(ctx, 1), mmapwal.ErrClosed, "WaitDurable after Close")
	require.ErrorIs(t, l.WaitDurable(ctx, 0), mmapwal.ErrClosed, "WaitDurable(0) after Close")

	l, _ = openLog(t, manual())
	mustAppend(t, l, []byte("a"))
	require.NoError(t, l.Sync())
	mustAppend(t, l, []byte("b"))
	restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, false))
	require.ErrorIs(t, l.Sync(), mmapwal.ErrPoisoned)
	restore()
	require.Equal(t, uint64(1), l.DurableSeq())
	err := l.WaitDurable(ctx, 1)
	require.ErrorIs(t, err, mmapwal.ErrPoisoned, "WaitDurable of a durable record on a poisoned log")
	require.ErrorIs(t, err, syscall.EIO, "the cause")
	require.ErrorIs(t, l.WaitDurable(ctx, 2), mmapwal.ErrPoisoned)
	require.ErrorIs(t, l.WaitDurable(ctx, 3), mmapwal.ErrInvalidArgument, "above LastSeq")
	require.ErrorIs(t, l.Close(), mmapwal.ErrPoisoned)
}
