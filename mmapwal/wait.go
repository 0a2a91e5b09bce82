package mmapwal

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// waitSet holds the goroutines blocked in Iterator.NextWait on one kind of
// change of a Log (records appended, or DurableSeq raised). No goroutine
// runs per waiter: each blocked iterator has a channel of capacity one,
// registered here while it waits.
//
// Ordering (the lost wake-up): a waiter increments n (in register) before
// it looks at the log again; the writer changes the log before it loads n
// (in wake). Both are sequentially consistent atomics, so either the
// waiter's second look sees the change or the writer sees the waiter and
// sends to its channel. With no waiter, wake is one atomic load.
//
// Appends do not load n: a waiter of wNew also sets listenLocal in the
// Log's listeners word after it registered, and an append that finds the
// flag calls wakeAll (see listenFollower); the word is the one load an
// append pays for followers and waiters together.
type waitSet struct {
	n   atomic.Int32    // registered waiters; written under mu, read by wake without it
	mu  sync.Mutex      // guards chs
	chs []chan struct{} // the registered waiters' channels
}

// register adds ch; the next wake sends to it (without blocking) and
// removes it.
func (w *waitSet) register(ch chan struct{}) {
	w.mu.Lock()
	w.chs = append(w.chs, ch)
	w.n.Store(int32(len(w.chs)))
	w.mu.Unlock()
}

// unregister removes ch if a wake has not already done so.
func (w *waitSet) unregister(ch chan struct{}) {
	w.mu.Lock()
	for i, c := range w.chs {
		if c == ch {
			last := len(w.chs) - 1
			w.chs[i] = w.chs[last]
			w.chs[last] = nil
			w.chs = w.chs[:last]
			break
		}
	}
	w.n.Store(int32(len(w.chs)))
	w.mu.Unlock()
}

// wake wakes every registered waiter. One atomic load when there is none
// (DurableSeq rising, wakeAll; appends go through the listeners word).
func (w *waitSet) wake() {
	if w.n.Load() != 0 {
		w.wakeAll()
	}
}

func (w *waitSet) wakeAll() {
	w.mu.Lock()
	for i, ch := range w.chs {
		select {
		case ch <- struct{}{}:
		default: // already woken
		}
		w.chs[i] = nil
	}
	w.chs = w.chs[:0]
	w.n.Store(0)
	w.mu.Unlock()
}

// durableRose wakes the DurableOnly waiters and followers after DurableSeq
// rose. Writer only.
func (l *Log) durableRose() {
	l.wDurable.wake()
	l.ctlDurable()
}

// truncated wakes every waiter and follower after a truncation (or one
// that failed). Writer only.
func (l *Log) truncated() {
	l.ctlTruncated()
	l.wakeAll()
}

// wakeAll wakes the waiters of both kinds: the log changed in a way every
// iterator must look at (a truncation, Close, poisoning).
func (l *Log) wakeAll() {
	l.wNew.wake()
	l.wDurable.wake()
}

// NextWait is Next, but when no record is available yet it blocks until one
// is, and returns false only when ctx is done, the log (or follower) is
// closed, or an error ends the iterator; Err says which. After ctx is done
// Err returns ctx.Err(), which is not sticky: a later NextWait with a live
// context waits again. The other errors are sticky, as for Next: ErrClosed,
// a *TruncatedError (ErrTruncated), ErrNotFound (a TruncateFront overtook
// the iterator), a *CorruptionError, ErrPoisoned (a DurableOnly iterator on
// a poisoned log, or any iterator that would wait on a poisoned log: no
// record can come), ErrUnsupportedVersion (a follower that finds a newer
// control area) and ErrInvalidArgument for an iterator of a ReadOnly Log at
// the end of what it read at Open: such a Log never sees records appended
// since, so NextWait does not wait for them (OpenFollower follows a log as
// it grows).
//
// No goroutine runs for a waiting iterator: the writer wakes it when it
// appends (Append, AppendSeq, AppendBatch, Reservation.Commit), when
// DurableSeq rises (DurableOnly iterators), and on truncations and Close.
// A ctx that is already done returns at once, without waiting.
func (it *Iterator) NextWait(ctx context.Context) bool {
	if it.nextWait(ctx) {
		it.waitGot++ // napNow counts records, not sequences: AppendSeq leaves gaps
		return true
	}
	return false
}

func (it *Iterator) nextWait(ctx context.Context) bool {
	it.ctxErr = nil
	if it.fol != nil {
		return it.fol.nextWait(it, ctx)
	}
	for spins := 0; ; spins++ {
		if it.Next() {
			if spins > 0 && spins <= waitSpins {
				it.spunRecord() // the writer outpaces the spins
			}
			return true
		}
		if it.err != nil || it.closed {
			return false
		}
		if err := ctx.Err(); err != nil {
			it.ctxErr = err
			return false
		}
		if spins == 0 && it.l.poisoned() == nil && !it.l.opts.ReadOnly && it.napNow() { // wait fails at once on those
			it.nap(ctx, nil)
			spins = -1
			continue
		}
		if spins < waitSpins {
			if testHookSpin != nil {
				testHookSpin(it)
			}
			runtime.Gosched()
			continue
		}
		it.spun = 0
		if ok, done := it.wait(ctx); done {
			return ok
		}
		spins = -1 // woken: spin again before the next park
	}
}

// waitSpins is how many times NextWait yields (runtime.Gosched, about
// 0.2 µs each on the 2-core machine we measure on) and looks again before
// it parks: a consumer that keeps up with a fast writer finds the next
// record within a spin or two, and a parked consumer would cost each
// append a wake-up (a channel send, and often a futex wake of an idle
// thread, inside Append): at bulk rates nearly every append. A writer
// slower than the spins wakes a parked waiter as before; the waiter then
// spends the spins once per record. 32 spins (~6 µs) made the p90 latency
// at 1,000 appends/s with 2 iterators 5 µs worse in 5 of 5 interleaved
// rounds (34.7 against 28.4 µs, medians); 8 did not (26 against 29).
const waitSpins = 8

// testHookSpin, set by a test, is called at each of NextWait's spins
// before it yields. Nil in production.
var testHookSpin func(*Iterator)

// wait blocks until the log may have changed for the iterator, or ctx is
// done. done says NextWait has its answer (ok): a record found after the
// registration, an error, or ctx done.
func (it *Iterator) wait(ctx context.Context) (ok, done bool) {
	l := it.l
	if err := l.poisoned(); err != nil {
		it.fail(err) // no writer will append to this Log again
		return false, true
	}
	if l.opts.ReadOnly {
		it.fail(errReadOnlyWait) // it never sees another process's appends
		return false, true
	}
	ws := &l.wNew
	if it.durableOnly {
		ws = &l.wDurable
	}
	if it.wakeCh == nil {
		it.wakeCh = make(chan struct{}, 1)
	}
	select {
	case <-it.wakeCh: // a stale token from an earlier wake
	default:
	}
	ws.register(it.wakeCh)
	if ws == &l.wNew {
		l.listenLocalWaiter() // appends wake it through the listeners word
	}
	// Look again after registering: a record published before the
	// registration did not wake us.
	if it.Next() {
		ws.unregister(it.wakeCh)
		return true, true
	}
	if it.err != nil {
		ws.unregister(it.wakeCh)
		return false, true
	}
	select {
	case <-it.wakeCh:
		return false, false
	case <-ctx.Done():
		ws.unregister(it.wakeCh)
		it.ctxErr = ctx.Err()
		return false, true
	}
}

// Naps. A consumer that keeps up with a writer appending faster than it
// reads, or faster than its spins last (a bulk writer: a record every
// fraction of a µs), would, at each record it catches up with, spin and
// often park: it runs the whole time on a core the writer needs (2 cores:
// the writer and two such consumers), and each park costs an append a
// wake-up. So NextWait, at its first look that finds nothing, naps
// instead (napFor, no registration: the writer is not asked to wake it)
// when the writer looks like a bulk one, and then reads the records that
// came meanwhile in one go: when NextWait returned at least napRecords
// records since the last such look (the consumer had fallen behind, or
// its last nap brought them), or when records came during the spins
// napAfter times with no park between (a consumer that keeps up closely).
// A nap that brings fewer, and a writer at 1,000 appends/s (a record per
// look, none during the spins), spin and park as before. The records a
// nap lets come wait for it up to napFor: the price of a bulk writer's
// cores, at rates where latency is not what a consumer can have anyway.
const (
	napFor     = time.Millisecond
	napRecords = 64
	napAfter   = 16
)

// spunRecord counts a record NextWait found during its spins (a park
// resets the count). Not one but napAfter of them start the naps: a
// writer at 1,000 appends/s that falls behind its pace and appends a few
// records back to back (a loaded machine) would have its consumers nap,
// and the next record wait up to napFor (p99.9 at 1,000 appends/s with 2
// iterators went from ~250 µs to 1–1.4 ms so).
func (it *Iterator) spunRecord() { it.spun++ }

// testHookNap, set by a test, is called as each nap begins. Nil in
// production.
var testHookNap func(*Iterator)

// napNow is NextWait's decision at its first look that found nothing:
// whether to nap (see Naps above).
func (it *Iterator) napNow() bool {
	got := it.waitGot
	it.waitGot = 0
	if got >= napRecords || it.spun >= napAfter {
		it.spun = 0
		return true
	}
	return false
}

// nap sleeps for napFor, or until ctx is done; a Follower's iterator
// sleeps on the control area's futex word without asking the writer to
// wake it (fol non-nil, with an area): truncations and Close still do.
func (it *Iterator) nap(ctx context.Context, fol *followIter) {
	if testHookNap != nil {
		testHookNap(it)
	}
	var closed chan struct{}
	if fol != nil {
		if fol.napFutex(ctx, napFor) {
			return
		}
		closed = fol.f.done // no area to sleep on: Close ends the nap as it ends sleepPlain
	} else {
		closed = it.l.done // the Log's Close ends the nap, as it wakes its waiters
	}
	if it.napTimer == nil {
		it.napTimer = time.NewTimer(napFor)
	} else {
		it.napTimer.Reset(napFor)
	}
	select {
	case <-it.napTimer.C:
	case <-ctx.Done():
	case <-closed:
	}
	it.napTimer.Stop()
}
