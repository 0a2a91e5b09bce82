package mmapwal

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/mmapwal/mmapwal/segment"
)

// Sync makes every record appended so far durable. It returns nil only when
// they are: a failure poisons the log (ErrPoisoned), and a failed flush is
// never retried into a success. On a poisoned log it returns ErrPoisoned
// even when nothing is left to flush; on a ReadOnly log ErrInvalidArgument.
//
// Concurrent callers share one flush (group commit): a flush covers
// everything appended before it started. After a flush that released
// several callers, the next one waits for as many to call again, at most
// half as long as the last flush took; a lone caller's flush starts at once.
func (l *Log) Sync() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return fmt.Errorf("%w: Sync of a log opened ReadOnly", ErrInvalidArgument)
	}
	if err := l.poisoned(); err != nil {
		return err
	}
	return l.syncTo(context.Background(), l.last.Load(), true)
}

// WaitDurable returns once the record seq (and everything before it) is
// durable, syncing if no one else is about to. It fails for a sequence above
// LastSeq (ErrInvalidArgument), when ctx is done first, after Close
// (ErrClosed) and on a poisoned log (ErrPoisoned) — like Sync, even when
// the record is already durable: a nil WaitDurable means the log was open
// and unpoisoned when it was called. On a ReadOnly log, which cannot sync,
// it fails with ErrInvalidArgument.
func (l *Log) WaitDurable(ctx context.Context, seq uint64) error {
	if l.opts.ReadOnly {
		return fmt.Errorf("%w: WaitDurable on a log opened ReadOnly (it cannot sync; DurableSeq is what the files prove)", ErrInvalidArgument)
	}
	if l.closed.Load() {
		return ErrClosed
	}
	if last := l.last.Load(); seq > last {
		return fmt.Errorf("%w: WaitDurable(%d) above LastSeq %d", ErrInvalidArgument, seq, last)
	}
	if err := l.poisoned(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.syncTo(ctx, seq, true)
}

// syncTo returns once DurableSeq ≥ seq. One caller at a time runs a sync
// round; the others wait for it and check again (group commit). company
// says the caller counts for gather: a writer that will call again as soon
// as it is released (not SyncInterval's flusher).
func (l *Log) syncTo(ctx context.Context, seq uint64, company bool) error {
	if d := l.durable.Load(); d >= seq || d >= l.last.Load() {
		return nil // the loop's first test, before the caller counts as company
	}
	if company {
		l.gc.arrive(seq)
	}
	for {
		// A TruncateBack since the call may have dropped the records up to
		// seq: then everything still in the log being durable is enough
		// (without it, the loop would spin until appends pass seq again).
		if d := l.durable.Load(); d >= seq || d >= l.last.Load() {
			return nil
		}
		if err := l.poisoned(); err != nil {
			return err
		}
		l.smu.Lock()
		if l.durable.Load() >= seq {
			l.smu.Unlock()
			return nil
		}
		if l.syncing {
			done := l.syncDone
			l.smu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		l.syncing = true
		done := l.syncDone
		l.smu.Unlock()

		// Let the appenders that the last round just released append again
		// before this round takes its snapshot, so that it covers them too:
		// without it, rounds alternate between halves of the writers. The
		// wait for them is bounded (see gather); Gosched then lets those
		// that have just appended reach Sync.
		l.gc.wait(ctx, min(time.Duration(l.st.lastSync.Load())/gatherFraction, l.gc.maxWait), l.stopGather)
		runtime.Gosched()
		err := l.syncRound()
		l.gc.ended()

		l.smu.Lock()
		l.syncing = false
		l.syncDone = make(chan struct{})
		l.smu.Unlock()
		close(done)
		if errors.Is(err, ErrClosed) && l.durable.Load() >= seq {
			// Close flushed the record (under the writer lock, after it
			// was written) before this round could: it is durable, and
			// an ErrClosed would make a caller append it again.
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// stopGather reports whether a round waiting for company should start at
// once: the log was closed or poisoned.
func (l *Log) stopGather() bool { return l.closed.Load() || l.poisoned() != nil }

// syncRound flushes the active segment up to what is written now and
// raises DurableSeq. Sealed segments are already durable (rotation synced
// them). The flush itself runs without the writer lock, so appenders keep
// going while it waits for the disk; it goes through l.flush, so it never
// overlaps another flush of the log.
func (l *Log) syncRound() error {
	l.wmu.Lock()
	if l.closed.Load() {
		l.wmu.Unlock()
		return ErrClosed
	}
	if err := l.poisoned(); err != nil {
		l.wmu.Unlock()
		return err
	}
	s, from, to, last, gen, appends := l.active, l.active.synced.Load(), l.off, l.last.Load(), l.st.gen.Load(), l.st.appends.Load()
	l.gc.snapshot(last)
	f, err := s.pin()
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	// The zero header after the frames is by now perhaps the start of a
	// frame appended since: unsynced, which recovery judges as any
	// unsynced frame.
	err = l.flush(f, from, flushEnd(f, from, to), appends)
	s.unpin()
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	// A flush that failed after this one (rotation, Close, TruncateBack)
	// may have reported the same lost pages: once poisoned, nothing rises.
	if err := l.poisoned(); err != nil {
		return err
	}
	if l.st.gen.Load() == gen { // no truncation moved the end meanwhile
		if to > s.synced.Load() {
			s.synced.Store(to)
		}
		if last > l.durable.Load() {
			l.durable.Store(last)
			l.durableRose()
		}
	}
	return nil
}

// flushEnd is where a flush of f's frames [from, to) ends: to, or in a
// recycled segment the end of the zero header after them, so that the
// clean end is durable with them (FORMAT.md §9.7); nothing when there is
// nothing to flush.
func flushEnd(f *segment.File, from, to int64) int64 {
	if to > from {
		return f.EndHeaderEnd(to)
	}
	return to
}

// syncSegLocked makes everything written to s durable; with s the active
// segment it raises DurableSeq to LastSeq. Writer only.
func (l *Log) syncSegLocked(s *seg) error {
	from, to := s.synced.Load(), s.written
	if err := l.flush(s.file, from, flushEnd(s.file, from, to), l.st.appends.Load()); err != nil {
		return err
	}
	if err := l.poisoned(); err != nil {
		return err // a later flush failed: nothing rises after it
	}
	if to > from {
		s.synced.Store(to)
	}
	if s == l.active {
		l.durable.Store(l.last.Load())
		l.durableRose()
	}
	return nil
}

// syncActiveLocked syncs the active segment. Writer only.
func (l *Log) syncActiveLocked() error { return l.syncSegLocked(l.active) }

// testHookSynced, when set by a test, is called after every successful flush
// of a segment's range [from, to), by l.flush (and by recovery's repairs
// before the Log exists): the crash-state generator records what the disk is
// guaranteed to hold. Nil in production (one predictable branch per flush).
var testHookSynced func(path string, from, to int64)

// testHookCreated, when set by a test, is called after segment.Create made a
// new segment file durable (the file synced with its header, the directory
// synced): the crash-state generator takes its bytes as the file's first
// durable image. Nil in production.
var testHookCreated func(path string)

// flusher syncs every SyncInterval (Durability SyncInterval).
func (l *Log) flusher() {
	defer close(l.flushDone)
	t := time.NewTicker(l.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.flushStop:
			return
		case <-t.C:
			if last := l.last.Load(); last > l.durable.Load() && l.poisoned() == nil {
				l.syncTo(context.Background(), last, false) // a failure poisons the log; not company: it comes back only at the next tick
			}
		}
	}
}
