package mmapwal

// Regression tests for the contract breaks that the trust review reproduced
// (issue 8, bugs 1, 4, 6 and 7): flushes that overlap, a crash inside Close
// followed by a power cut, sequence overflow, and Close racing an open
// reservation.

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// overlapKernel is a fault hook that models how Linux reports a write-back
// error: to only one of the msync calls that run at the same time on a file.
// Each msync is held for a while (so that concurrent ones overlap); an msync
// that starts while another is in flight fails with EIO and marks the other
// one's coming success a lie (overlapped is set).
type overlapKernel struct {
	inflight   atomic.Int32
	overlapped atomic.Bool
	hold       time.Duration
}

func (k *overlapKernel) hook(op sysutil.Op, _ string) error {
	if op != sysutil.OpMsync {
		return nil
	}
	if k.inflight.Add(1) > 1 {
		k.inflight.Add(-1)
		k.overlapped.Store(true)
		return syscall.EIO
	}
	time.Sleep(k.hold)
	k.inflight.Add(-1)
	return nil
}

// TestFlushesNeverOverlap: a SyncAlways append whose group-commit round is
// flushing while another writer rotates (which flushes the same segment)
// must not be acknowledged on a poisoned log. Before flushes were
// serialised, the rotation's msync ran during the round's, took the EIO,
// and the round raised DurableSeq anyway: Append returned nil on a
// poisoned log.
func TestFlushesNeverOverlap(t *testing.T) {
	for attempt := range 4 {
		k := &overlapKernel{hold: 10 * time.Millisecond}
		acked := flushRace(t, k)
		require.False(t, k.overlapped.Load(), "attempt %d: two msyncs of the log ran at the same time", attempt)
		require.Equal(t, 6*16, acked, "attempt %d: nothing failed, so every append must succeed", attempt)
	}
}

// flushRace runs SyncAlways appenders whose records force rotations while
// group-commit rounds flush, with k as the kernel, and returns how many
// appends succeeded. An append that fails must fail with ErrPoisoned.
func flushRace(t *testing.T, k *overlapKernel) int {
	l, err := Open(t.TempDir(), &Options{SegmentSize: rcvSegSize, Durability: SyncAlways})
	require.NoError(t, err)
	defer l.Close()
	remove := psnSetFault(t, k.hook)
	defer remove()
	big := make([]byte, rcvSegSize/3)
	var wg sync.WaitGroup
	var acked atomic.Int64
	errs := make(chan error, 6)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 16 {
				rec := []byte("small")
				if (g+i)%3 == 0 {
					rec = big // forces rotations while rounds flush
				}
				if _, err := l.Append(rec); err != nil {
					if !errors.Is(err, ErrPoisoned) {
						errs <- err
					}
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("append: %v", err)
	}
	return int(acked.Load())
}

// TestNoWatermarkAfterFailedFlush: once any flush failed, DurableSeq never
// rises again and every durable wait fails, whichever flush (a sync round,
// a rotation, Close) hit the error.
func TestNoWatermarkAfterFailedFlush(t *testing.T) {
	for _, nth := range []int{2, 3, 5, 8} {
		dir := t.TempDir()
		l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncAlways})
		require.NoError(t, err)
		remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, nth, syscall.EIO, false))
		big := make([]byte, rcvSegSize/3)
		var wg sync.WaitGroup
		var maxAcked atomic.Uint64
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					rec := []byte("x")
					if (g+i)%4 == 0 {
						rec = big
					}
					seq, err := l.Append(rec)
					if err != nil {
						return
					}
					for {
						m := maxAcked.Load()
						if seq <= m || maxAcked.CompareAndSwap(m, seq) {
							break
						}
					}
				}
			}()
		}
		wg.Wait()
		remove()
		require.Error(t, l.poisoned(), "nth=%d: the failed msync must poison", nth)
		d := l.DurableSeq()
		require.LessOrEqual(t, maxAcked.Load(), d, "nth=%d: an acknowledged record above DurableSeq", nth)
		require.ErrorIs(t, l.Sync(), ErrPoisoned)
		require.ErrorIs(t, l.Close(), ErrPoisoned)
		require.Equal(t, d, l.DurableSeq(), "nth=%d: DurableSeq rose after the failure", nth)
	}
}

// TestSequenceSpaceExhausted: no call may take a sequence above
// math.MaxUint64; it fails with ErrInvalidArgument and writes nothing.
// Before, Append after AppendSeq(MaxUint64) returned (0, nil) without a
// flush and LastSeq wrapped to 0.
func TestSequenceSpaceExhausted(t *testing.T) {
	for _, d := range []Durability{SyncManual, SyncAlways} {
		dir := t.TempDir()
		l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: d})
		require.NoError(t, err)
		require.NoError(t, l.AppendSeq(math.MaxUint64-2, []byte("a")))
		require.NoError(t, l.AppendBatchSeq(math.MaxUint64-1, [][]byte{[]byte("b"), []byte("c")}))
		require.Equal(t, uint64(math.MaxUint64), l.LastSeq())

		_, err = l.Append([]byte("over"))
		require.ErrorIs(t, err, ErrInvalidArgument)
		_, err = l.AppendBatch([][]byte{[]byte("over")})
		require.ErrorIs(t, err, ErrInvalidArgument)
		r, err := l.Reserve(4)
		require.NoError(t, err)
		copy(r.Bytes(), "over")
		_, err = r.Commit()
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Equal(t, uint64(math.MaxUint64), l.LastSeq())
		require.NoError(t, l.Sync())
		require.Equal(t, uint64(math.MaxUint64), l.DurableSeq())
		require.NoError(t, l.Close())

		l, err = Open(dir, &Options{SegmentSize: rcvSegSize, Durability: d})
		require.NoError(t, err)
		require.Equal(t, uint64(math.MaxUint64), l.LastSeq())
		got, err := l.Read(math.MaxUint64)
		require.NoError(t, err)
		require.Equal(t, []byte("c"), got)
		require.NoError(t, l.Close())

		// A batch that would cross the end fails whole.
		dir = t.TempDir()
		l, err = Open(dir, &Options{SegmentSize: rcvSegSize, Durability: d})
		require.NoError(t, err)
		require.NoError(t, l.AppendSeq(math.MaxUint64-1, []byte("a")))
		err = l.AppendBatchSeq(math.MaxUint64, [][]byte{[]byte("b"), []byte("c")})
		require.ErrorIs(t, err, ErrInvalidArgument)
		_, err = l.AppendBatch([][]byte{[]byte("b"), []byte("c")})
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Equal(t, uint64(math.MaxUint64-1), l.LastSeq())
		require.NoError(t, l.Close())
	}
}

var _ = bytes.Equal

// TestTruncateAtSequenceEnd: the bounds of TruncateFront and TruncateBack
// hold at the top of the sequence space (LastSeq+1 and FirstSeq-1 must not
// overflow into a refusal).
func TestTruncateAtSequenceEnd(t *testing.T) {
	l, err := Open(t.TempDir(), &Options{SegmentSize: rcvSegSize})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.AppendSeq(math.MaxUint64-3, []byte("a")))
	require.NoError(t, l.AppendSeq(math.MaxUint64-1, []byte("b")))
	require.NoError(t, l.AppendSeq(math.MaxUint64, []byte("c")))
	require.NoError(t, l.TruncateBack(math.MaxUint64), "TruncateBack(LastSeq) is a no-op")
	require.NoError(t, l.TruncateBack(math.MaxUint64-1))
	require.Equal(t, uint64(math.MaxUint64-1), l.LastSeq())
	require.NoError(t, l.AppendSeq(math.MaxUint64, []byte("d")))
	require.NoError(t, l.TruncateFront(math.MaxUint64))
	require.Equal(t, uint64(math.MaxUint64), l.FirstSeq())
	got, err := l.Read(math.MaxUint64)
	require.NoError(t, err)
	require.Equal(t, []byte("d"), got)
	err = l.TruncateFront(math.MaxUint64 - 5)
	require.ErrorIs(t, err, ErrInvalidArgument)
}
