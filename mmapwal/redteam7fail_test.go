//go:build redteam7

package mmapwal

// Red team 7, failing repros (run: go test -race -count=1 -tags redteam7
// -run 'TestRed7Fail' ./mmapwal).

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestRed7FailFlusherDelaysLoneWriter: under SyncInterval, one writer that
// calls Sync is delayed by the library's own flusher. When a flusher tick
// lands during the writer's flush (or the writer's Sync during the
// flusher's), the second caller is counted (late, or next) and gather.ended
// sets want = 2; the flusher does not come back, so the writer's next Sync,
// alone, waits for company until the bound (half the last flush). Every
// tick that coincides with a Sync costs the lone writer one such wait.
// Breaks: "a lone writer flushes at once" (gather.go:20-21, Sync's doc).
// Cause: gather.ended (gather.go:101-104) counts every caller of syncTo as
// company that will return, including the flusher (sync.go:218), whose
// calls come at SyncInterval, not after its release.
func TestRed7FailFlusherDelaysLoneWriter(t *testing.T) {
	l, err := Open(fastTempDir(t), &Options{SegmentSize: 1 << 20, Durability: SyncInterval, SyncInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer l.Close()
	var armed atomic.Bool
	armed.Store(true)
	psnSetFault(t, func(op sysutil.Op, _ string) error {
		if op != sysutil.OpMsync || !armed.CompareAndSwap(true, false) {
			return nil
		}
		// Hold the first round's flush until the other caller (the writer
		// or the flusher, whichever did not lead) has arrived.
		for give := time.Now().Add(10 * time.Second); l.gc.late.Load()+l.gc.next.Load() == 0 && time.Now().Before(give); {
			time.Sleep(100 * time.Microsecond)
		}
		return nil
	})
	_, err = l.Append([]byte("one"))
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	require.False(t, armed.Load(), "no flush held")
	require.Equal(t, uint64(2), l.gc.want, "the flusher counted as company of the next round")
	_, err = l.Append([]byte("two"))
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	require.Zero(t, l.gc.waits.Load(), "the lone writer's Sync waited for company (timeouts %d)", l.gc.timeouts.Load())
}
