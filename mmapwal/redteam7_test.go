package mmapwal

// Red team 7: the group-commit round's wait for company (gather.go). These
// tests pass: they are the attacks the wait withstood. The ones that fail
// are in redteam7fail_test.go, behind the redteam7 tag.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestRed7CancelledWaiterDuringWait: a WaitDurable that joined a round
// still waiting for company returns ctx's error when its ctx is done, and
// the leader it left behind is not lost: Close ends its wait, it gets nil,
// and both records are durable after a reopen.
func TestRed7CancelledWaiterDuringWait(t *testing.T) {
	l := gatherLog(t, 4)
	first := syncAsync(t, l)
	awaitWaits(t, l, 1)
	seq, err := l.Append([]byte("second"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() { waiter <- l.WaitDurable(ctx, seq) }()
	for l.gc.next.Load() < 2 { // the waiter counted as company
		time.Sleep(100 * time.Microsecond)
	}
	cancel()
	require.ErrorIs(t, result(t, waiter), context.Canceled)
	require.NoError(t, l.Close())
	require.NoError(t, result(t, first))
	require.Zero(t, l.gc.timeouts.Load())
	l2, err := Open(l.dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, seq, l2.DurableSeq())
}

// TestRed7LeaderCtxCancelled: a WaitDurable that leads a round waiting for
// company (bound half an hour) returns once its ctx is done; nil only with
// its record durable.
func TestRed7LeaderCtxCancelled(t *testing.T) {
	l := gatherLog(t, 4)
	seq, err := l.Append([]byte("lead"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.WaitDurable(ctx, seq) }()
	awaitWaits(t, l, 1)
	cancel()
	err = result(t, done)
	if err == nil {
		require.GreaterOrEqual(t, l.DurableSeq(), seq, "nil WaitDurable with its record not durable")
	} else {
		require.ErrorIs(t, err, context.Canceled)
	}
	require.Zero(t, l.gc.timeouts.Load())
}

// TestRed7FlusherLeaderClose: the SyncInterval flusher leads a round that
// waits for company (bound half an hour); Close ends the wait, does not
// hang on the flusher, and the record is durable after a reopen.
func TestRed7FlusherLeaderClose(t *testing.T) {
	l, err := Open(fastTempDir(t), &Options{SegmentSize: rcvSegSize, Durability: SyncInterval, SyncInterval: time.Millisecond})
	require.NoError(t, err)
	l.gc.want = 4 // before the first append: the flusher has no round to run yet
	l.st.lastSync.Store(int64(time.Hour))
	l.gc.maxWait = time.Hour
	seq, err := l.Append([]byte("flusher"))
	require.NoError(t, err)
	awaitWaits(t, l, 1) // the flusher leads and waits
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	require.NoError(t, result(t, closed))
	require.Zero(t, l.gc.timeouts.Load())
	l2, err := Open(l.dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, seq, l2.DurableSeq())
}

// TestRed7CloseFailsDuringWait: Close's flush fails while a round waits for
// company. The waiting Sync must not get nil (nothing made its record
// durable), and DurableSeq does not rise.
func TestRed7CloseFailsDuringWait(t *testing.T) {
	l := gatherLog(t, 4)
	done := syncAsync(t, l)
	awaitWaits(t, l, 1)
	durable := l.DurableSeq()
	psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, true))
	require.ErrorIs(t, l.Close(), ErrPoisoned)
	err := result(t, done)
	require.Error(t, err, "Sync got nil although Close's flush failed")
	require.True(t, errors.Is(err, ErrPoisoned) || errors.Is(err, ErrClosed), "%v", err)
	require.Equal(t, durable, l.DurableSeq(), "DurableSeq rose after the failed flush")
	require.Zero(t, l.gc.timeouts.Load())
}

// TestRed7WritersRaceClose: eight writers Append and Sync while the log is
// closed under them, rounds waiting for company throughout. No Sync hangs,
// and every record whose Sync returned nil is durable after a reopen.
func TestRed7WritersRaceClose(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	var acked atomic.Uint64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				seq, err := l.Append([]byte("racer"))
				if err != nil {
					return
				}
				if l.Sync() != nil {
					return
				}
				for a := acked.Load(); seq > a && !acked.CompareAndSwap(a, seq); a = acked.Load() {
				}
			}
		})
	}
	for acked.Load() < 300 {
		time.Sleep(100 * time.Microsecond)
	}
	require.NotZero(t, l.gc.waits.Load(), "no round waited for company: the race is not exercised")
	require.NoError(t, l.Close())
	ended := make(chan error, 1)
	go func() { wg.Wait(); ended <- nil }()
	require.NoError(t, result(t, ended))
	l2, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	defer l2.Close()
	require.GreaterOrEqual(t, l2.DurableSeq(), acked.Load(), "an acknowledged record was lost")
}

// TestRed7Churn: writers under SyncInterval (the flusher leading rounds
// too), WaitDurable callers whose ctx ends early, and TruncateBack, all at
// once, then Close. Under -race: no data race on the gather's leader-only
// fields, no Sync or WaitDurable left hanging, Close returns, and a nil
// Sync means DurableSeq reached the record (or a truncation took it).
func TestRed7Churn(t *testing.T) {
	l, err := Open(fastTempDir(t), &Options{SegmentSize: rcvSegSize, Durability: SyncInterval, SyncInterval: time.Millisecond})
	require.NoError(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Uint64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				gen := l.st.gen.Load() // before the append: a truncation after it may drop the record
				seq, err := l.Append([]byte("churn"))
				if err != nil {
					continue
				}
				if l.Sync() == nil && l.DurableSeq() < seq && l.st.gen.Load() == gen {
					bad.Add(1)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if last := l.LastSeq(); last > 0 {
					ctx, cancel := context.WithCancel(context.Background())
					go cancel()
					l.WaitDurable(ctx, last)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if last := l.LastSeq(); last > 2 {
				l.TruncateBack(last - 2)
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	for l.gc.waits.Load() < 20 {
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	ended := make(chan error, 1)
	go func() { wg.Wait(); ended <- l.Close() }()
	require.NoError(t, result(t, ended))
	require.Zero(t, bad.Load(), "Sync returned nil with its record not durable")
}
