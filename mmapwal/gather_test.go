package mmapwal

// Tests of the group-commit round's wait for company (gather.go): counted
// properties (rounds, waits, timeouts), never timings.

import (
	"context"
	"math"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// gatherLog opens a SyncManual log whose next sync round waits for want
// callers, with a bound of half an hour: a test that sees the wait end knows
// it was not the bound.
func gatherLog(t *testing.T, want uint64) *Log {
	t.Helper()
	l, err := Open(fastTempDir(t), &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	l.gc.want = want // no round runs yet: no leader owns it
	l.st.lastSync.Store(int64(time.Hour))
	l.gc.maxWait = time.Hour // above the bound: the cap is tested alone (TestGatherWaitCapped)
	return l
}

// syncAsync appends a record and syncs in a goroutine; the channel gets
// Sync's error.
func syncAsync(t *testing.T, l *Log) <-chan error {
	t.Helper()
	_, err := l.Append([]byte("rec"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- l.Sync() }()
	return done
}

// awaitWaits returns once n rounds of l have waited for company, and fails
// if they have not within a minute (a round that did not wait).
func awaitWaits(t *testing.T, l *Log, n uint64) {
	t.Helper()
	for give := time.Now().Add(time.Minute); l.gc.waits.Load() < n; {
		if time.Now().After(give) {
			t.Fatalf("%d rounds waited for company, want %d", l.gc.waits.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// result returns what done delivers, failing if nothing comes for a minute
// (a wait that only the half-hour bound would end).
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Sync still waiting after a minute: the round's wait for company was not ended")
		return nil
	}
}

// TestGatherWaitsForCompany: after a round of four callers, the next round
// waits for four and covers them in one flush. Without the wait the first
// caller flushes alone.
func TestGatherWaitsForCompany(t *testing.T) {
	l := gatherLog(t, 4)
	syncs := l.st.syncs.Load()
	first := syncAsync(t, l)
	awaitWaits(t, l, 1) // the first caller leads a round and waits
	var rest []<-chan error
	for range 3 {
		rest = append(rest, syncAsync(t, l))
	}
	require.NoError(t, result(t, first))
	for _, done := range rest {
		require.NoError(t, result(t, done))
	}
	require.Equal(t, syncs+1, l.st.syncs.Load(), "one flush for the four callers")
	require.Equal(t, uint64(4), l.DurableSeq())
	require.Zero(t, l.gc.timeouts.Load(), "the company ended the wait, not the bound")
	require.Equal(t, uint64(4), l.gc.want, "the next round waits for the four again")
}

// TestGatherLoneWriter: a lone writer never waits for company, under
// SyncManual (Append, Sync) or SyncAlways, and every record gets its own
// flush at once.
func TestGatherLoneWriter(t *testing.T) {
	for _, d := range []Durability{SyncManual, SyncAlways} {
		l, err := Open(fastTempDir(t), &Options{SegmentSize: 1 << 20, Durability: d})
		require.NoError(t, err)
		syncs := l.st.syncs.Load()
		for range 200 {
			_, err := l.Append([]byte("lone"))
			require.NoError(t, err)
			require.NoError(t, l.Sync())
		}
		require.Zero(t, l.gc.waits.Load(), "%v: a lone writer waited for company", d)
		require.Equal(t, syncs+200, l.st.syncs.Load(), "%v: one flush per record", d)
		require.NoError(t, l.Close())
	}
}

// TestGatherCompanyGone: when the writers of a busy round do not come back,
// the one left waits once, until the bound, and then not again.
func TestGatherCompanyGone(t *testing.T) {
	l := gatherLog(t, 16)
	l.st.lastSync.Store(int64(2 * time.Millisecond)) // bound 1 ms
	for range 50 {
		_, err := l.Append([]byte("alone"))
		require.NoError(t, err)
		require.NoError(t, l.Sync())
	}
	require.Equal(t, uint64(1), l.gc.waits.Load(), "rounds that waited")
	require.Equal(t, uint64(1), l.gc.timeouts.Load(), "the one wait ended at the bound")
	require.Equal(t, uint64(1), l.gc.want)
}

// TestGatherClose: Close ends a round's wait for company; the waiting Sync
// returns nil (Close made its record durable), and the record is there
// after a reopen.
func TestGatherClose(t *testing.T) {
	l := gatherLog(t, 4)
	done := syncAsync(t, l)
	awaitWaits(t, l, 1)
	require.NoError(t, l.Close())
	require.NoError(t, result(t, done))
	require.Zero(t, l.gc.timeouts.Load())
	l2, err := Open(l.dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, uint64(1), l2.DurableSeq())
}

// TestGatherFault: a flush that fails while a round waits for company (a
// rotation's) poisons the log and ends the wait: the waiting Sync fails with
// ErrPoisoned and DurableSeq does not rise.
func TestGatherFault(t *testing.T) {
	l := gatherLog(t, 4)
	done := syncAsync(t, l)
	awaitWaits(t, l, 1)
	durable := l.DurableSeq()
	psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, true))
	var err error
	for err == nil && l.st.rotations.Load() == 0 { // until a rotation, whose flush of the sealed segment fails
		_, err = l.Append(make([]byte, rcvSegSize/3))
	}
	require.ErrorIs(t, err, ErrPoisoned)
	require.ErrorIs(t, result(t, done), ErrPoisoned)
	require.Zero(t, l.gc.timeouts.Load())
	require.Equal(t, durable, l.DurableSeq(), "DurableSeq rose after the failed flush")
	require.ErrorIs(t, l.Sync(), ErrPoisoned)
}

// TestGatherWait checks gather.wait alone: it returns at once without
// company to wait for, at the bound when none comes, when the company is
// complete, when stop says so after a wake, and when ctx is done.
func TestGatherWait(t *testing.T) {
	never := func() bool { return false }
	newGather := func(want uint64) *gather {
		g := new(gather)
		g.init()
		g.want = want
		return g
	}

	g := newGather(1)
	g.wait(context.Background(), time.Hour, never)
	require.Zero(t, g.waits.Load(), "want 1: no wait")
	g = newGather(3)
	g.wait(context.Background(), 0, never)
	require.Zero(t, g.waits.Load(), "no bound (no flush yet): no wait")

	g = newGather(3)
	g.wait(context.Background(), time.Millisecond, never)
	require.Equal(t, uint64(1), g.timeouts.Load(), "nobody came: the bound ends the wait")
	require.Equal(t, uint64(math.MaxUint64), g.target.Load(), "no target left behind")

	g = newGather(3)
	ended := make(chan struct{})
	go func() { g.wait(context.Background(), time.Hour, never); close(ended) }()
	for g.target.Load() != 3 {
		runtime.Gosched()
	}
	for i := range 3 {
		g.arrive(uint64(i + 1))
	}
	<-ended
	require.Zero(t, g.timeouts.Load())
	g.snapshot(3)
	require.Equal(t, uint64(3), g.covered)
	g.arrive(2) // at or below the snapshot: released by the round in flight
	g.arrive(4)
	g.ended()
	require.Equal(t, uint64(5), g.want, "3 covered + 1 late + 1 waiting for the next round")

	g = newGather(3)
	var stopped atomic.Bool
	ended = make(chan struct{})
	go func() { g.wait(context.Background(), time.Hour, stopped.Load); close(ended) }()
	for g.waits.Load() != 1 {
		runtime.Gosched()
	}
	g.interrupt() // a wake with stop false: it waits on
	stopped.Store(true)
	g.interrupt()
	<-ended
	require.Zero(t, g.timeouts.Load())

	g = newGather(3)
	ctx, cancel := context.WithCancel(context.Background())
	ended = make(chan struct{})
	go func() { g.wait(ctx, time.Hour, never); close(ended) }()
	for g.waits.Load() != 1 {
		runtime.Gosched()
	}
	cancel()
	<-ended
	require.Zero(t, g.timeouts.Load())
}

// TestGatherWaitCapped: after a flush far slower than usual (a rotation's
// of a whole segment, a disk stall), a round whose company does not come
// waits at most gatherMaxWait, not half that flush: counted by the bound
// it was given, through a leader with no company at all.
func TestGatherWaitCapped(t *testing.T) {
	l := gatherLog(t, 1)
	if _, err := l.Append([]byte("a")); err != nil {
		t.Fatal(err)
	}
	l.gc.maxWait = gatherMaxWait                 // gatherLog raised it
	l.gc.want = 2                                // company expected, none will come
	l.st.lastSync.Store(int64(10 * time.Minute)) // as if the last flush had stalled
	done := make(chan error, 1)
	go func() { done <- l.Sync() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the round waits for company as long as half the last flush (5 minutes)")
	}
	if l.gc.timeouts.Load() != 1 {
		t.Fatalf("timeouts %d, want the one wait ended at its bound", l.gc.timeouts.Load())
	}
}
