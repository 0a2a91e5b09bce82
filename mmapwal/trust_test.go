package mmapwal

// Regression tests for the contract breaks that the trust review reproduced
// (issue 8, bugs 1, 4, 6 and 7): flushes that overlap, a crash inside Close
// followed by a power cut, sequence overflow, and Close racing an open
// reservation.

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
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

// diskModel records what the disk holds for the segment files of one
// directory: a file's bytes at its creation, then every range a successful
// flush covered (rounded out to 4 KiB pages, as msync writes them). What it
// holds is what survives a power cut; everything else is the page cache.
type diskModel struct {
	mu    sync.Mutex
	dir   string
	files map[string][]byte
}

func installDiskModel(t *testing.T, dir string) *diskModel {
	m := &diskModel{dir: dir, files: map[string][]byte{}}
	prevSynced, prevCreated := testHookSynced, testHookCreated
	testHookCreated = func(path string) {
		if filepath.Dir(path) == dir {
			b, err := os.ReadFile(path)
			if err == nil {
				m.mu.Lock()
				m.files[filepath.Base(path)] = b
				m.mu.Unlock()
			}
		}
	}
	testHookSynced = func(path string, from, to int64) {
		if filepath.Dir(path) != dir {
			return
		}
		cur, err := os.ReadFile(path)
		if err != nil {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		img := m.files[filepath.Base(path)]
		if img == nil {
			img = make([]byte, len(cur))
			m.files[filepath.Base(path)] = img
		}
		from, to = from&^4095, min((to+4095)&^4095, int64(len(cur)))
		copy(img[from:to], cur[from:to])
	}
	t.Cleanup(func() { testHookSynced, testHookCreated = prevSynced, prevCreated })
	return m
}

// powerCut writes the disk's segment images and the current META (written
// with fsync and rename, so durable) into a new directory.
func (m *diskModel) powerCut(t *testing.T) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := t.TempDir()
	for name, img := range m.files {
		if _, err := os.Stat(filepath.Join(m.dir, name)); err != nil {
			continue // removed
		}
		require.NoError(t, os.WriteFile(filepath.Join(out, name), img, 0o644))
	}
	meta, err := os.ReadFile(filepath.Join(m.dir, metaName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, metaName), meta, 0o644))
	return out
}

// closeKilledBeforeMarkFlush does what Close does up to the moment a kill
// can land between storing the durable mark and flushing it: the records
// are flushed, the mark is in the mapping (the page cache) only. The caller
// then lets go of l as a crash would (crashRelease).
func closeKilledBeforeMarkFlush(l *Log) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.syncActiveLocked(); err != nil {
		return err
	}
	last := l.last.Load()
	if last == 0 {
		return nil
	}
	if err := l.ensureRoom(crcframe.HeaderSize); err != nil {
		return err
	}
	s := l.active
	if _, err := s.file.WriteFrame(l.off, crcframe.Header{Seq: last, Durable: uint32(l.off), Type: crcframe.Mark}, nil); err != nil {
		return err
	}
	l.off += crcframe.HeaderSize
	s.written = l.off
	return nil
}

// TestCrashInCloseThenPowerCut: the process dies inside Close after storing
// the durable mark and before flushing it; it restarts in the same boot
// (the page cache still holds the mark), appends and syncs, and then the
// power fails. Every synced record must survive. Before, Open saw a clean
// Close and did not flush the mark, the new frames' durable watermark
// claimed it durable, and after the power cut both policies refused the
// log as corrupt.
func TestCrashInCloseThenPowerCut(t *testing.T) {
	dir := t.TempDir()
	disk := installDiskModel(t, dir)
	o := &Options{SegmentSize: rcvSegSize}
	l, err := Open(dir, o)
	require.NoError(t, err)
	// Records up to the end of the first page but the mark's 24 bytes, so
	// that the mark is the last thing in its page.
	var want [][]byte
	for l.off != 4096-24 {
		n := min(200, int(4096-24-l.off)-24)
		rec := bytes.Repeat([]byte{byte(len(want) + 1)}, n)
		_, err := l.Append(rec)
		require.NoError(t, err)
		want = append(want, rec)
	}
	require.NoError(t, l.Sync())

	require.NoError(t, closeKilledBeforeMarkFlush(l))
	crashRelease(l)

	l, err = Open(dir, o)
	require.NoError(t, err)
	require.True(t, l.Recovery().Clean)
	for i := range 3 {
		rec := bytes.Repeat([]byte{0xa0 + byte(i)}, 100)
		_, err := l.Append(rec)
		require.NoError(t, err)
		want = append(want, rec)
	}
	require.NoError(t, l.Sync())
	crashRelease(l)

	cut := disk.powerCut(t)
	for _, p := range []RepairPolicy{Strict, TruncatePartial} {
		dir := t.TempDir()
		require.NoError(t, copyDir(cut, dir))
		l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Repair: p})
		require.NoError(t, err, "policy %v", p)
		require.Equal(t, uint64(len(want)), l.LastSeq(), "policy %v", p)
		for i, rec := range want {
			got, err := l.Read(uint64(i + 1))
			require.NoError(t, err, "policy %v, record %d", p, i+1)
			require.Equal(t, rec, got, "policy %v, record %d", p, i+1)
		}
		require.NoError(t, l.Close())
	}
}

// TestCloseOrphansReservation: Close does not wait for an open
// reservation, and does not pull its memory from under the holder. Before,
// Close aborted and unmapped it: a holder still filling Bytes died with
// SIGSEGV (and raced Close), and a Commit that returned ErrClosed could
// leave its record in the log after a reopen.
func TestCloseOrphansReservation(t *testing.T) {
	for _, d := range []Durability{SyncManual, SyncAlways} {
		for _, size := range []int{0, 10, 5000} {
			dir := t.TempDir()
			o := &Options{SegmentSize: rcvSegSize, Durability: d}
			l, err := Open(dir, o)
			require.NoError(t, err)
			for range 3 {
				_, err := l.Append([]byte("kept"))
				require.NoError(t, err)
			}
			r, err := l.Reserve(size)
			require.NoError(t, err)
			b := r.Bytes()
			stop, filled := make(chan struct{}), make(chan struct{})
			go func() { // the holder: fills its space until told to stop
				defer close(filled)
				for i := 0; ; i++ {
					for j := range b {
						b[j] = byte(i + j)
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
			require.NoError(t, l.Close())
			time.Sleep(2 * time.Millisecond) // the holder goes on storing after Close
			close(stop)
			<-filled
			_, err = r.Commit()
			require.ErrorIs(t, err, ErrClosed, "Commit after Close")
			require.Nil(t, r.Bytes())
			r.Abort() // after the Commit: nothing

			for _, p := range []RepairPolicy{Strict, TruncatePartial} {
				l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Repair: p})
				require.NoError(t, err, "durability %v size %d policy %v", d, size, p)
				require.True(t, l.Recovery().Clean, "a clean Close, whatever the holder stored")
				require.Nil(t, l.Recovery().TornTail)
				require.Equal(t, uint64(3), l.LastSeq(), "the orphaned reservation left a record")
				seq, err := l.Append([]byte("next"))
				require.NoError(t, err)
				require.Equal(t, uint64(4), seq)
				require.NoError(t, l.TruncateBack(3))
				require.NoError(t, l.Close())
			}
		}
	}
}

// TestCloseFromTheHolder: the goroutine holding the reservation is the one
// that calls Close; Abort and Commit after it end the reservation.
func TestCloseFromTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentSize: rcvSegSize})
	require.NoError(t, err)
	r, err := l.Reserve(64)
	require.NoError(t, err)
	copy(r.Bytes(), "before close")
	require.NoError(t, l.Close())
	copy(r.Bytes(), "after close, never in the file")
	r.Abort()
	require.Nil(t, r.Bytes())
	_, err = r.Commit()
	require.ErrorIs(t, err, ErrInvalidArgument, "Commit after Abort")

	l, err = Open(dir, &Options{SegmentSize: rcvSegSize, Repair: Strict})
	require.NoError(t, err)
	require.Equal(t, uint64(0), l.LastSeq())
	require.NoError(t, l.Close())
	seg, err := os.ReadFile(filepath.Join(dir, segment.Name(1)))
	require.NoError(t, err)
	require.False(t, bytes.Contains(seg, []byte("close")), "the holder's bytes reached the file")
}

// TestCloseOrphanFails: when the reservation's pages cannot be detached,
// Close reports it, writes no durable mark (the holder's stores may still
// reach the file), and the records before the reservation stay.
func TestCloseOrphanFails(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentSize: rcvSegSize})
	require.NoError(t, err)
	_, err = l.Append([]byte("kept"))
	require.NoError(t, err)
	r, err := l.Reserve(100)
	require.NoError(t, err)
	copy(r.Bytes(), "holder bytes")
	remove := psnSetFault(t, sysutil.FailNth(sysutil.OpMmap, 1, syscall.EIO, true))
	require.ErrorIs(t, l.Close(), syscall.EIO)
	remove()
	_, err = r.Commit()
	require.ErrorIs(t, err, ErrClosed)

	l, err = Open(dir, &Options{SegmentSize: rcvSegSize, Repair: TruncatePartial})
	require.NoError(t, err)
	require.False(t, l.Recovery().Clean)
	require.Equal(t, uint64(1), l.LastSeq())
	require.Equal(t, []byte("kept"), mustReadInternal(t, l, 1))
	require.NoError(t, l.Close())
}

func mustReadInternal(t *testing.T, l *Log, seq uint64) []byte {
	t.Helper()
	b, err := l.Read(seq)
	require.NoError(t, err)
	return b
}

// TestReadOnlyDurableSeq (issue 13, bug 5): a ReadOnly log beside a
// SyncManual writer claimed DurableSeq 10 while the writer's was 0, and its
// Sync and WaitDurable returned nil at once. It cannot sync: both fail, and
// DurableSeq is what the files prove.
func TestReadOnlyDurableSeq(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncManual})
	require.NoError(t, err)
	defer w.Close()
	for range 10 {
		_, err := w.Append([]byte("unsynced"))
		require.NoError(t, err)
	}
	require.Equal(t, uint64(0), w.DurableSeq())
	ro, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, uint64(10), ro.LastSeq())
	require.Equal(t, uint64(0), ro.DurableSeq(), "nothing was synced")
	require.ErrorIs(t, ro.Sync(), ErrInvalidArgument)
	require.ErrorIs(t, ro.WaitDurable(context.Background(), 5), ErrInvalidArgument)
	require.NoError(t, ro.Close())

	require.NoError(t, w.Sync())
	for range 3 {
		_, err := w.Append([]byte("later")) // carries the watermark of the sync
		require.NoError(t, err)
	}
	ro, err = Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, uint64(13), ro.LastSeq())
	require.Equal(t, uint64(10), ro.DurableSeq(), "the durable watermark of records 11..13 proves 1..10")
	require.NoError(t, ro.Close())

	require.NoError(t, w.Close())
	ro, err = Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, uint64(13), ro.DurableSeq(), "the durable mark proves everything")
	require.NoError(t, ro.Close())
}

// TestPreparedRemovalFailurePoisons: TruncateBack discards the segment
// prepared in the background. When that removal failed, the error was
// ignored: the file stayed, every later rotation failed with EEXIST on a
// log that was not poisoned, and when TruncateBack had also removed the
// segment before it, the next Open refused the log with a segment gap
// though every record was intact. Now the failure poisons, the redo record
// stays in META, and the reopen finishes the cut.
func TestPreparedRemovalFailurePoisons(t *testing.T) {
	for _, acrossSegments := range []bool{false, true} {
		dir := t.TempDir()
		o := &Options{SegmentSize: bbSegSize, Durability: SyncManual}
		l, err := Open(dir, o)
		require.NoError(t, err)
		rec := make([]byte, 1000)
		for range 3 {
			_, err := l.Append(rec)
			require.NoError(t, err)
		}
		for acrossSegments && len(l.segments()) < 2 {
			_, err := l.Append(rec)
			require.NoError(t, err)
		}
		waitPrepared(l)
		prepared := segment.Name(l.nextNum)
		var failed atomic.Bool
		remove := psnSetFault(t, func(op sysutil.Op, path string) error {
			if op == sysutil.OpRemove && filepath.Base(path) == prepared && failed.CompareAndSwap(false, true) {
				return syscall.EIO
			}
			return nil
		})
		err = l.TruncateBack(1)
		remove()
		require.True(t, failed.Load(), "the prepared segment's removal was not tried")
		require.ErrorIs(t, err, ErrPoisoned)
		require.ErrorIs(t, err, syscall.EIO)
		_, err = l.Append(rec)
		require.ErrorIs(t, err, ErrPoisoned)
		require.ErrorIs(t, l.Close(), ErrPoisoned)

		l, err = Open(dir, o)
		require.NoError(t, err, "across segments %v", acrossSegments)
		require.True(t, l.Recovery().FinishedTruncation)
		require.Equal(t, uint64(1), l.LastSeq())
		for range 10 { // rotations work again
			_, err := l.Append(rec)
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
	}
}

// TestCleanCloseReadOnlyBesideWriterReservation: the torn-tail side of the
// red-team's ReadOnlyOpenBesideWriterOpen. A ReadOnly open reads META (a
// clean Close recorded); a writer then opens the log, appends and holds a
// reservation with bytes in it — a zero frame header followed by
// non-zero bytes, the shape of a torn tail. The ReadOnly scan meets them:
// with the stale record taken as proof that every byte was durable
// (judgeEnd), it reported durable corruption of a healthy log. It must
// report a torn tail it leaves in place, and serve the records before it.
func TestCleanCloseReadOnlyBesideWriterReservation(t *testing.T) {
	dir := t.TempDir()
	o := &Options{SegmentSize: 64 << 10, Durability: SyncManual}
	l, err := Open(dir, o)
	require.NoError(t, err)
	for range 5 {
		_, err := l.Append([]byte("before"))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	blocked, release := make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	t.Cleanup(sysutil.SetFault(func(op sysutil.Op, _ string) error {
		if op == sysutil.OpOpen && armed.CompareAndSwap(true, false) {
			close(blocked)
			<-release
		}
		return nil
	}))
	type result struct {
		l   *Log
		err error
	}
	done := make(chan result)
	go func() {
		ro, err := Open(dir, &Options{ReadOnly: true})
		done <- result{ro, err}
	}()
	<-blocked // the ReadOnly open has read META

	w, err := Open(dir, o)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Append([]byte("after"))
	require.NoError(t, err)
	r, err := w.Reserve(100)
	require.NoError(t, err)
	copy(r.Bytes(), "held, not committed")
	close(release)

	res := <-done
	require.NoError(t, res.err)
	defer res.l.Close()
	rep := res.l.Recovery()
	require.Nil(t, rep.Corruption, "a healthy log reported corrupt")
	require.NotNil(t, rep.TornTail, "the reservation's bytes read as a torn tail")
	require.False(t, rep.TornTail.Repaired)
	require.Equal(t, uint64(6), res.l.LastSeq())
	got, err := res.l.Read(6)
	require.NoError(t, err)
	require.Equal(t, []byte("after"), got)
	r.Abort()
}

// TestCleanCloseRecordAfterPreparation: Close wrote the clean-close record
// while the background preparation of the next segment could still be
// creating its file. A power cut then could keep the record and a newest
// file whose header sector was torn (a prepared header, garbage after it),
// which the record makes durable corruption under both policies: the
// power-loss restarts family found such an image (a Close in reopen while
// the preparation lagged). The preparation must be finished, and its file
// removed, before META is renamed with the record.
func TestCleanCloseRecordAfterPreparation(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	var mu sync.Mutex
	var events []string
	var closing atomic.Bool
	prepared := segment.Name(2)
	t.Cleanup(sysutil.SetFault(func(op sysutil.Op, path string) error {
		name := filepath.Base(path)
		switch {
		case op == sysutil.OpCreate && name == prepared:
			<-release // the preparation lags
		case !closing.Load():
		case op == sysutil.OpRemove && name == prepared:
			mu.Lock()
			events = append(events, "remove prepared")
			mu.Unlock()
		case op == sysutil.OpRename && name == metaTmpName:
			mu.Lock()
			events = append(events, "rename META")
			mu.Unlock()
			free() // a Close that did not wait: let the preparation go now
		}
		return nil
	}))
	l, err := Open(dir, &Options{SegmentSize: 64 << 10})
	require.NoError(t, err)
	for range 3 {
		_, err := l.Append([]byte("record"))
		require.NoError(t, err)
	}
	closing.Store(true)
	time.AfterFunc(100*time.Millisecond, free) // a Close that waits
	require.NoError(t, l.Close())
	free()
	mu.Lock()
	require.Equal(t, []string{"remove prepared", "rename META"}, events,
		"the clean-close record was renamed into place before the preparation ended")
	mu.Unlock()
	l, err = Open(dir, &Options{SegmentSize: 64 << 10, Repair: Strict})
	require.NoError(t, err)
	require.True(t, l.Recovery().Clean)
	require.NoError(t, l.Close())
}
