package mmapwal

// Red team 7's two repros of wasted group-commit waits, fixed: the
// flusher is no company (syncTo's company), and TruncateBack and Reset
// lower the snapshot sequence (gather.truncated).

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestRed7FlusherDelaysLoneWriter (failed before the fix): under SyncInterval, one writer that
// calls Sync is delayed by the library's own flusher. When a flusher tick
// lands during the writer's flush (or the writer's Sync during the
// flusher's), the second caller is counted (late, or next) and gather.ended
// sets want = 2; the flusher does not come back, so the writer's next Sync,
// alone, waits for company until the bound (half the last flush). Every
// tick that coincides with a Sync costs the lone writer one such wait.
// Breaks: "a lone writer flushes at once" (gather.go:20-21, Sync's doc).
// Cause: gather.ended (gather.go:103-106) counts every caller of syncTo as
// company that will return, including the flusher (sync.go:218), whose
// calls come at SyncInterval, not after its release.
func TestRed7FlusherDelaysLoneWriter(t *testing.T) {
	l, err := Open(fastTempDir(t), &Options{SegmentSize: 1 << 20, Durability: SyncInterval, SyncInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer l.Close()
	var armed atomic.Bool
	armed.Store(true)
	psnSetFault(t, func(op sysutil.Op, _ string) error {
		if op != sysutil.OpMsync || !armed.CompareAndSwap(true, false) {
			return nil
		}
		// Hold the first round's flush over three ticks of the flusher:
		// it calls (and waits for this round) meanwhile, whichever led.
		time.Sleep(3 * l.opts.SyncInterval)
		return nil
	})
	_, err = l.Append([]byte("one"))
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	require.False(t, armed.Load(), "no flush held")
	require.LessOrEqual(t, l.gc.want, uint64(1), "the flusher counted as company of the next round")
	_, err = l.Append([]byte("two"))
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	require.Zero(t, l.gc.waits.Load(), "the lone writer's Sync waited for company (timeouts %d)", l.gc.timeouts.Load())
}

// TestRed7CompanyAfterTruncateBackCounted (failed before the fix): after TruncateBack (or a
// Reset) lowers LastSeq below the last snapshot, the callers that come for
// the new records are counted late (seq ≤ snapSeq), never next, so a
// leader waiting for company never sees it arrive and waits to the bound
// although the company it waited for is there. One round per truncation,
// bounded by half the last flush: the cost is the wasted wait.
// Cause: gather.arrive (gather.go:75-83) compares seq with snapSeq, which
// no truncation lowers; TruncateBack/Reset bump l.st.gen but leave
// gc.snapSeq at the old, higher LastSeq.
func TestRed7CompanyAfterTruncateBackCounted(t *testing.T) {
	l := gatherLog(t, 1)
	for range 10 {
		_, err := l.Append([]byte("before"))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync()) // snapSeq 10
	require.NoError(t, l.TruncateBack(2))
	l.gc.want = 2                                      // as after a round of two callers (this goroutine led the last round)
	l.st.lastSync.Store(int64(200 * time.Millisecond)) // bound 100 ms; counted below, not timed
	first := syncAsync(t, l)                           // seq 3 leads and waits for one more
	awaitWaits(t, l, 1)
	second := syncAsync(t, l) // seq 4: the company
	require.NoError(t, result(t, first))
	require.NoError(t, result(t, second))
	require.Zero(t, l.gc.timeouts.Load(), "the company came but the wait ran to the bound (late %d, next %d)", l.gc.late.Load(), l.gc.next.Load())
}
