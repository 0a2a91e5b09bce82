package mmapwal

// Failure tests (issue 3 "Behaviour: Failure"), with faults injected through
// sysutil.SetFault:
//
//   - a failed msync of written records poisons the log: the failing call
//     and every later write return ErrPoisoned, even once the fault is gone
//     (a failed flush is never retried into a success); reads of durable
//     records keep working; Close releases the log and returns ErrPoisoned;
//     a reopen recovers every acknowledged record;
//   - a failure before any record depends on it (no space to prepare the
//     next segment, a META write of TruncateFront) returns an error, writes
//     nothing and leaves the log usable.
//
// The fault hook is process-wide: none of these tests runs in parallel.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

func psnOpts(d Durability) *Options {
	return &Options{SegmentSize: rcvSegSize, Durability: d}
}

// psnSetFault installs a fault hook and returns the func that removes it
// (also run when the test ends).
func psnSetFault(t *testing.T, fn func(sysutil.Op, string) error) (remove func()) {
	t.Helper()
	restore := sysutil.SetFault(fn)
	var once sync.Once
	remove = func() { once.Do(restore) }
	t.Cleanup(remove)
	return remove
}

// psnRequirePoisoned checks that every write of l fails with ErrPoisoned.
func psnRequirePoisoned(t *testing.T, l *Log) {
	t.Helper()
	_, err := l.Append([]byte("after"))
	require.ErrorIs(t, err, ErrPoisoned, "Append")
	require.ErrorIs(t, l.AppendSeq(l.LastSeq()+10, []byte("after")), ErrPoisoned, "AppendSeq")
	_, err = l.AppendBatch([][]byte{[]byte("a"), []byte("b")})
	require.ErrorIs(t, err, ErrPoisoned, "AppendBatch")
	require.ErrorIs(t, l.AppendBatchSeq(l.LastSeq()+10, [][]byte{[]byte("a")}), ErrPoisoned, "AppendBatchSeq")
	_, err = l.Reserve(8)
	require.ErrorIs(t, err, ErrPoisoned, "Reserve")
	require.ErrorIs(t, l.TruncateFront(l.FirstSeq()), ErrPoisoned, "TruncateFront")
	if l.LastSeq() > 0 {
		require.ErrorIs(t, l.TruncateBack(l.LastSeq()-1), ErrPoisoned, "TruncateBack")
	}
	require.ErrorIs(t, l.Sync(), ErrPoisoned, "Sync")
	require.True(t, l.Stats().Poisoned)
}

// psnRequireRecords checks that the records in want (by sequence) read back.
func psnRequireRecords(t *testing.T, l *Log, want map[uint64][]byte, msg string) {
	t.Helper()
	for seq, p := range want {
		b, err := l.Read(seq)
		require.NoError(t, err, "%s: Read(%d)", msg, seq)
		require.Equal(t, string(p), string(b), "%s: record %d", msg, seq)
	}
}

// psnReopen closes the poisoned log (ErrPoisoned), reopens it without faults
// and checks that every acknowledged record is there, and that whatever else
// was recovered is what was appended.
func psnReopen(t *testing.T, l *Log, dir string, acked, appended map[uint64][]byte) {
	t.Helper()
	require.ErrorIs(t, l.Close(), ErrPoisoned, "Close of a poisoned log")
	require.NoError(t, l.Close(), "a second Close")
	l2, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l2.Close()
	psnRequireRecords(t, l2, acked, "after reopen")
	for seq := uint64(1); seq <= l2.LastSeq(); seq++ {
		b, err := l2.Read(seq)
		if errors.Is(err, ErrNotFound) {
			_, ok := appended[seq]
			require.False(t, ok, "record %d was appended and is not recovered, but later ones are", seq)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, string(appended[seq]), string(b), "recovered record %d", seq)
	}
	_, err = l2.Append([]byte("reopened"))
	require.NoError(t, err, "the reopened log takes writes")
}

// TestPoisonMsyncSyncAlways fails the n-th msync during SyncAlways appends.
func TestPoisonMsyncSyncAlways(t *testing.T) {
	for _, tc := range []struct {
		n       int
		forever bool
	}{{1, false}, {1, true}, {3, false}, {10, true}} {
		t.Run(fmt.Sprintf("n=%d,forever=%v", tc.n, tc.forever), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, psnOpts(SyncAlways))
			require.NoError(t, err)
			defer l.Close()
			acked, appended := map[uint64][]byte{}, map[uint64][]byte{}
			for i := range 250 { // a few segments
				p := fmt.Appendf(nil, "before-%d-%0*d", i, 100+i%90, 0)
				seq, err := l.Append(p)
				require.NoError(t, err)
				acked[seq], appended[seq] = p, p
			}
			require.Greater(t, len(l.segments()), 2)
			remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, tc.n, syscall.EIO, tc.forever))
			var failed error
			for i := 0; i < tc.n && failed == nil; i++ {
				p := fmt.Appendf(nil, "during-%d", i)
				seq, err := l.Append(p)
				if err != nil {
					failed = err
					appended[l.LastSeq()] = p // written to the mapping, never acknowledged
					break
				}
				acked[seq], appended[seq] = p, p
			}
			require.Error(t, failed, "the %d-th msync fails an append", tc.n)
			require.ErrorIs(t, failed, ErrPoisoned)
			require.ErrorIs(t, failed, syscall.EIO)
			require.Equal(t, uint64(len(acked)), l.DurableSeq(), "DurableSeq stays at the last acknowledged record")
			remove()
			psnRequirePoisoned(t, l)
			require.ErrorIs(t, l.WaitDurable(context.Background(), l.LastSeq()), ErrPoisoned)
			psnRequireRecords(t, l, acked, "poisoned log")
			it, err := l.NewIterator(1)
			require.NoError(t, err)
			n := 0
			for it.Next() && it.Seq() <= l.DurableSeq() {
				n++
			}
			require.NoError(t, it.Err())
			it.Close()
			require.Equal(t, len(acked), n)
			psnReopen(t, l, dir, acked, appended)
		})
	}
}

// TestPoisonMsyncManualSync fails the n-th msync of manual Syncs.
func TestPoisonMsyncManualSync(t *testing.T) {
	for _, tc := range []struct {
		n       int
		forever bool
	}{{1, false}, {2, true}, {4, false}} {
		t.Run(fmt.Sprintf("n=%d,forever=%v", tc.n, tc.forever), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, psnOpts(SyncManual))
			require.NoError(t, err)
			defer l.Close()
			waitPrepared(l)
			acked, appended := map[uint64][]byte{}, map[uint64][]byte{}
			remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, tc.n, syscall.EIO, tc.forever))
			var failed error
			for round := 0; failed == nil && round < tc.n; round++ {
				var batch []uint64
				for i := range 20 { // 20 small records never rotate a 16 KiB segment
					p := fmt.Appendf(nil, "r%d-%d", round, i)
					seq, err := l.Append(p)
					require.NoError(t, err)
					appended[seq] = p
					batch = append(batch, seq)
				}
				if failed = l.Sync(); failed == nil {
					for _, seq := range batch {
						acked[seq] = appended[seq]
					}
				}
			}
			require.ErrorIs(t, failed, ErrPoisoned)
			require.ErrorIs(t, failed, syscall.EIO)
			require.Len(t, acked, 20*(tc.n-1))
			remove()
			psnRequirePoisoned(t, l)
			psnRequireRecords(t, l, acked, "poisoned log")
			psnReopen(t, l, dir, acked, appended)
		})
	}
}

// TestPoisonMsyncAtRotation: the sealing sync of a rotation fails; the append
// that needed the rotation fails with ErrPoisoned and writes nothing.
func TestPoisonMsyncAtRotation(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l.Close()
	acked, appended := map[uint64][]byte{}, map[uint64][]byte{}
	for i := range 30 {
		p := fmt.Appendf(nil, "synced-%d", i)
		seq, err := l.Append(p)
		require.NoError(t, err)
		acked[seq], appended[seq] = p, p
	}
	require.NoError(t, l.Sync())
	p := make([]byte, 300)
	for activeRoom(l) >= int64(2*len(p)) { // unsynced records up to the end of the segment
		seq, err := l.Append(p)
		require.NoError(t, err)
		appended[seq] = p
	}
	waitPrepared(l)
	segs, last := len(l.segments()), l.LastSeq()
	remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, false))
	_, err = l.Append(make([]byte, 1000)) // does not fit: rotates
	require.ErrorIs(t, err, ErrPoisoned)
	require.ErrorIs(t, err, syscall.EIO)
	remove()
	require.Equal(t, last, l.LastSeq(), "the failed append wrote nothing")
	require.Len(t, l.segments(), segs, "no rotation happened")
	psnRequirePoisoned(t, l)
	psnRequireRecords(t, l, acked, "poisoned log")
	psnReopen(t, l, dir, acked, appended)
}

// TestPoisonGroupCommit: concurrent SyncAlways appenders share syncs; when
// one fails, every appender waiting on it gets ErrPoisoned, and every append
// that returned nil is recovered.
func TestPoisonGroupCommit(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncAlways))
	require.NoError(t, err)
	defer l.Close()
	remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMsync, 25, syscall.EIO, false))
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 { // the failure comes long before
				p := fmt.Appendf(nil, "g%d-%d", g, i)
				seq, err := l.Append(p)
				if err != nil {
					errs[g] = err
					return
				}
				mu.Lock()
				acked[seq] = p
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	remove()
	for g, err := range errs {
		require.ErrorIs(t, err, ErrPoisoned, "appender %d", g)
	}
	require.NotEmpty(t, acked)
	for seq := range acked {
		require.LessOrEqual(t, seq, l.DurableSeq(), "an acknowledged record is durable")
	}
	psnRequirePoisoned(t, l)
	psnRequireRecords(t, l, acked, "poisoned log")
	require.ErrorIs(t, l.Close(), ErrPoisoned)
	l2, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l2.Close()
	psnRequireRecords(t, l2, acked, "after reopen")
}

// TestPoisonTruncateBackFailure: a TruncateBack that fails half way (a
// segment cannot be removed) poisons the log — Sync included, although
// nothing is left to flush — and its redo record makes the reopen finish it.
func TestPoisonTruncateBackFailure(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncAlways))
	require.NoError(t, err)
	defer l.Close()
	acked := map[uint64][]byte{}
	for i := range 250 {
		p := fmt.Appendf(nil, "rec-%d-%0*d", i, 100+i%100, 0)
		seq, err := l.Append(p)
		require.NoError(t, err)
		acked[seq] = p
	}
	segs := l.segments()
	require.Greater(t, len(segs), 2)
	newest := segs[len(segs)-1].path
	keep := segs[0].lastSeq() - 3
	waitPrepared(l)
	remove := psnSetFault(t, func(op sysutil.Op, path string) error {
		if op == sysutil.OpRemove && path == newest {
			return syscall.EIO
		}
		return nil
	})
	err = l.TruncateBack(keep)
	require.ErrorIs(t, err, ErrPoisoned)
	require.ErrorIs(t, err, syscall.EIO)
	remove()
	psnRequirePoisoned(t, l)
	kept := map[uint64][]byte{}
	for seq := uint64(1); seq <= keep; seq++ {
		kept[seq] = acked[seq]
	}
	psnRequireRecords(t, l, kept, "poisoned log")
	require.ErrorIs(t, l.Close(), ErrPoisoned)

	l2, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l2.Close()
	require.True(t, l2.Recovery().FinishedTruncation)
	require.Equal(t, keep, l2.LastSeq())
	psnRequireRecords(t, l2, kept, "after reopen")
}

// TestPoisonNotOnNoSpace: no space to prepare the next segment (fallocate
// fails with ENOSPC in the background and in the synchronous retry) fails
// the append that needs the rotation with ErrNoSpace, writes nothing and
// does not poison the log; once space is back, appends succeed.
func TestPoisonNotOnNoSpace(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	for i := range 10 {
		_, err := l.Append(fmt.Appendf(nil, "first-%d", i))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	remove := psnSetFault(t, sysutil.FailNth(sysutil.OpFallocate, 1, syscall.ENOSPC, true))
	l, err = Open(dir, psnOpts(SyncManual)) // the background preparation fails
	require.NoError(t, err)
	defer l.Close()
	waitPrepared(l)
	p := make([]byte, 500)
	for activeRoom(l) >= int64(2*len(p)) {
		_, err := l.Append(p)
		require.NoError(t, err)
	}
	files := snapshotDir(t, dir).segNames()
	last := l.LastSeq()
	big := make([]byte, 2000)
	_, err = l.Append(big)
	require.ErrorIs(t, err, ErrNoSpace)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorIs(t, l.AppendSeq(last+5, big), ErrNoSpace)
	_, err = l.AppendBatch([][]byte{big})
	require.ErrorIs(t, err, ErrNoSpace)
	_, err = l.Reserve(len(big))
	require.ErrorIs(t, err, ErrNoSpace)
	require.Equal(t, last, l.LastSeq(), "nothing was written")
	require.False(t, l.Stats().Poisoned)
	require.Equal(t, files, snapshotDir(t, dir).segNames(), "no partial segment left behind")
	require.NoError(t, l.Sync(), "the log is not poisoned")
	_, err = l.Append([]byte("small fits"))
	require.NoError(t, err, "an append that needs no new segment works")

	remove()
	seq, err := l.Append(big)
	require.NoError(t, err, "space is back")
	require.Equal(t, last+2, seq)
	require.NoError(t, l.Close())
	l2, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, last+2, l2.LastSeq())
	b, err := l2.Read(last + 2)
	require.NoError(t, err)
	require.Equal(t, big, b)
}

// TestPoisonNotOnNoSpaceRetry: the background preparation failed but the
// synchronous retry at rotation finds space: the append succeeds.
func TestPoisonNotOnNoSpaceRetry(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	psnSetFault(t, sysutil.FailNth(sysutil.OpFallocate, 1, syscall.ENOSPC, false))
	l, err = Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	defer l.Close()
	waitPrepared(l)
	n := uint64(0)
	for len(l.segments()) < 3 {
		_, err := l.Append(make([]byte, 700))
		require.NoError(t, err)
		n++
	}
	require.Equal(t, n, l.LastSeq())
	require.False(t, l.Stats().Poisoned)
}

// TestPoisonNotOnNoSpaceAtCreate: a new log that cannot create its first
// segment fails Open with ErrNoSpace; a later Open succeeds.
func TestPoisonNotOnNoSpaceAtCreate(t *testing.T) {
	dir := filepath.Join(fastTempDir(t), "log")
	remove := psnSetFault(t, sysutil.FailNth(sysutil.OpFallocate, 1, syscall.ENOSPC, true))
	_, err := Open(dir, psnOpts(SyncManual))
	require.ErrorIs(t, err, ErrNoSpace)
	require.ErrorIs(t, err, syscall.ENOSPC)
	remove()
	l, err := Open(dir, psnOpts(SyncManual))
	require.NoError(t, err)
	seq, err := l.Append([]byte("one"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq)
	require.NoError(t, l.Close())
}

// TestPoisonNotOnMetaFailure: TruncateFront's META write fails before the
// rename: the call returns the error and the log stays usable. (A failed
// directory sync after the rename poisons: TestTruncateFrontMetaInDoubt.)
func TestPoisonNotOnMetaFailure(t *testing.T) {
	for _, op := range []sysutil.Op{sysutil.OpRename, sysutil.OpFdatasync, sysutil.OpCreate} {
		t.Run(op.String(), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, psnOpts(SyncManual))
			require.NoError(t, err)
			defer l.Close()
			recs := map[uint64][]byte{}
			for i := range 250 {
				p := fmt.Appendf(nil, "rec-%d-%0*d", i, 100+i%100, 0)
				seq, err := l.Append(p)
				require.NoError(t, err)
				recs[seq] = p
			}
			require.NoError(t, l.Sync())
			segs := l.segments()
			require.Greater(t, len(segs), 2)
			front := segs[1].first + 1
			waitPrepared(l) // the background preparation syncs the directory too
			metaTmp := filepath.Join(dir, metaTmpName)
			remove := psnSetFault(t, func(o sysutil.Op, path string) error {
				if o == op && (path == metaTmp || path == dir) {
					return syscall.EIO
				}
				return nil
			})
			err = l.TruncateFront(front)
			require.ErrorIs(t, err, syscall.EIO)
			require.NotErrorIs(t, err, ErrPoisoned)
			remove()
			require.False(t, l.Stats().Poisoned)
			require.Equal(t, uint64(1), l.FirstSeq(), "the failed TruncateFront changed nothing")
			require.Len(t, l.segments(), len(segs))
			psnRequireRecords(t, l, recs, "after the failure")
			seq, err := l.Append([]byte("more"))
			require.NoError(t, err)
			recs[seq] = []byte("more")
			require.NoError(t, l.Sync())
			require.NoError(t, l.TruncateFront(front), "a retry succeeds")
			require.Equal(t, front, l.FirstSeq())
			require.NoError(t, l.Close())

			l2, err := Open(dir, psnOpts(SyncManual))
			require.NoError(t, err)
			defer l2.Close()
			require.Equal(t, front, l2.FirstSeq())
			require.Equal(t, seq, l2.LastSeq())
			for s := range recs {
				if s < front {
					delete(recs, s)
				}
			}
			psnRequireRecords(t, l2, recs, "after reopen")
			_, err = os.Stat(filepath.Join(dir, segment.Name(segs[0].num)))
			require.ErrorIs(t, err, os.ErrNotExist, "the segment below the front is gone")
		})
	}
}
