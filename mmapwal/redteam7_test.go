package mmapwal

// Red team 7: the group-commit round's wait for company (gather.go). These
// tests pass: they are the attacks the wait withstood. The ones that fail
// are in redteam7fail_test.go, behind the redteam7 tag.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
