package mmapwal

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// gather decides when a sync round takes its snapshot (group commit).
//
// A round releases the callers whose records it covered; each of them
// appends again and calls again a few microseconds later. A round that
// starts at once covers only the callers that were already waiting (those
// that arrived while the last round flushed), and the rounds alternate
// between two halves of the writers. So the leader of the next round first
// waits for company: until as many callers arrived with records the last
// snapshot did not cover as the last round had in all (those it released,
// and those that were already waiting for the next one when it ended), or
// until a bound of gatherFraction of the last flush's duration, never
// longer. A lone writer (a last round of one caller) flushes at once, and
// so does the first round. Close and poisoning end a wait at once.
//
// The wait comes before the round's snapshot, so it changes which records a
// flush covers, never whether a caller gets nil for a record its flush did
// not cover: syncRound, flush and the watermarks are as without it.
//
// Counts are estimates that err toward starting early: an arrival that races
// a snapshot may be counted for the next round although the snapshot
// covers it.
type gather struct {
	// snapSeq is LastSeq at the last round's snapshot (stored under wmu,
	// before that snapshot's counts are taken): a caller arriving for a
	// higher sequence needs a later round.
	snapSeq atomic.Uint64
	// next counts the callers that arrived for a sequence above snapSeq:
	// the company of the coming round. Reset to 0 at each snapshot.
	next atomic.Uint64
	// late counts the callers that arrived for a sequence at or below
	// snapSeq while the round flushed: it releases them too. Reset at each
	// snapshot and at each round's end.
	late atomic.Uint64
	// target is the value of next whose arrival wakes the waiting leader;
	// math.MaxUint64 while no leader waits.
	target atomic.Uint64
	// wake (capacity 1) tells the waiting leader to look again: next
	// reached target, or the log was closed or poisoned. A stale token
	// only makes it look again.
	wake chan struct{}

	// Leader only: set and read by the caller that holds the sync round
	// (Log.syncing), which smu hands from one leader to the next.
	timer   *time.Timer   // bounds the wait; stopped between waits
	maxWait time.Duration // the cap of the bound: gatherMaxWait (tests set more)
	covered uint64        // next at the last snapshot: the callers it covered
	want    uint64        // company the coming round waits for (0 or 1: none)

	// For tests: waits counts the rounds that waited for company, timeouts
	// those whose wait ended at the bound.
	waits, timeouts atomic.Uint64
}

// gatherFraction bounds a round's wait for company: at most the last
// flush's duration divided by it.
const gatherFraction = 2

// gatherMaxWait caps a round's wait for company whatever the last flush
// took: every flush sets it, a rotation's of a whole sealed segment too,
// and one slow flush must not make the next rounds' missing company cost
// as much.
const gatherMaxWait = 2 * time.Millisecond

// init makes g ready; no leader waits.
func (g *gather) init() {
	g.target.Store(math.MaxUint64)
	g.wake = make(chan struct{}, 1)
	g.maxWait = gatherMaxWait
	g.timer = time.NewTimer(time.Hour)
	g.timer.Stop()
}

// arrive counts a caller of syncTo that needs seq durable.
func (g *gather) arrive(seq uint64) {
	if seq <= g.snapSeq.Load() {
		g.late.Add(1)
		return
	}
	if g.next.Add(1) == g.target.Load() {
		g.interrupt()
	}
}

// truncated lowers snapSeq to last after a TruncateBack or Reset made it
// LastSeq (under wmu): callers for the sequences appended again are
// company for the coming round, not callers the last snapshot covered.
func (g *gather) truncated(last uint64) {
	if g.snapSeq.Load() > last {
		g.snapSeq.Store(last)
	}
}

// interrupt makes a waiting leader look again (Close, poisoning, company).
func (g *gather) interrupt() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// snapshot records a round's snapshot of LastSeq last. Under wmu, by the
// leader.
func (g *gather) snapshot(last uint64) {
	g.snapSeq.Store(last)
	g.covered = g.next.Swap(0)
	g.late.Store(0)
}

// ended sets the company of the next round once a round's flush ended, before
// it releases its callers. Leader only.
func (g *gather) ended() {
	g.want = g.covered + g.late.Swap(0) + g.next.Load()
	g.covered = 0
}

// wait returns once the coming round has its company, or after bound, or
// when stop reports true after a wake (Close, poisoning) or ctx is done.
// Leader only.
func (g *gather) wait(ctx context.Context, bound time.Duration, stop func() bool) {
	want := g.want
	if want <= 1 || bound <= 0 || g.next.Load() >= want {
		return
	}
	g.target.Store(want)
	defer g.target.Store(math.MaxUint64)
	select { // a token from an earlier wait
	case <-g.wake:
	default:
	}
	if g.next.Load() >= want || stop() { // arrived before target was set
		return
	}
	g.waits.Add(1)
	g.timer.Reset(bound)
	defer g.timer.Stop()
	for {
		select {
		case <-g.wake:
			if g.next.Load() >= want || stop() {
				return
			}
		case <-g.timer.C:
			g.timeouts.Add(1)
			return
		case <-ctx.Done():
			return
		}
	}
}
