package mmapwal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Tests of the in-process live readers: Iterator.NextWait and
// IteratorOptions.DurableOnly (issue 11).

// liveLog opens a SyncManual log of small segments in a fresh directory.
func liveLog(t *testing.T) *Log {
	t.Helper()
	l, err := Open(fastTempDir(t), &Options{Durability: SyncManual, SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waitWaiters waits until n iterators are blocked in ws.
func waitWaiters(t *testing.T, ws *waitSet, n int32) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ws.n.Load() != n; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("waiters: %d, want %d", ws.n.Load(), n)
		}
	}
}

// waitResult is what one NextWait returned.
type waitResult struct {
	ok  bool
	seq uint64
	val []byte
	err error
}

// nextWaitAsync runs it.NextWait(ctx) in a goroutine.
func nextWaitAsync(it *Iterator, ctx context.Context) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		ok := it.NextWait(ctx)
		ch <- waitResult{ok, it.Seq(), bytes.Clone(it.Value()), it.Err()}
	}()
	return ch
}

func TestNextWaitWakesOnEachWriteKind(t *testing.T) {
	kinds := []struct {
		name  string
		write func(*Log) ([]uint64, error)
	}{
		{"Append", func(l *Log) ([]uint64, error) {
			s, err := l.Append([]byte("rec"))
			return []uint64{s}, err
		}},
		{"AppendSeq", func(l *Log) ([]uint64, error) {
			s := l.LastSeq() + 5
			return []uint64{s}, l.AppendSeq(s, []byte("rec"))
		}},
		{"AppendBatch", func(l *Log) ([]uint64, error) {
			s, err := l.AppendBatch([][]byte{[]byte("rec"), []byte("rec"), []byte("rec")})
			return []uint64{s, s + 1, s + 2}, err
		}},
		{"Commit", func(l *Log) ([]uint64, error) {
			r, err := l.Reserve(3)
			if err != nil {
				return nil, err
			}
			copy(r.Bytes(), "rec")
			s, err := r.Commit()
			return []uint64{s}, err
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			l := liveLog(t)
			if _, err := l.Append([]byte("first")); err != nil {
				t.Fatal(err)
			}
			it, err := l.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			if !it.NextWait(context.Background()) || it.Seq() != 1 {
				t.Fatalf("first record: seq %d, err %v", it.Seq(), it.Err())
			}
			res := nextWaitAsync(it, context.Background())
			waitWaiters(t, &l.wNew, 1)
			seqs, err := k.write(l)
			if err != nil {
				t.Fatal(err)
			}
			r := <-res
			if !r.ok || r.seq != seqs[0] || string(r.val) != "rec" {
				t.Fatalf("NextWait woke with %+v, want seq %d", r, seqs[0])
			}
			for _, want := range seqs[1:] {
				if !it.NextWait(context.Background()) || it.Seq() != want || string(it.Value()) != "rec" {
					t.Fatalf("record %d: got %d %q (%v)", want, it.Seq(), it.Value(), it.Err())
				}
			}
		})
	}
}

func TestNextWaitCancelIsNotSticky(t *testing.T) {
	l := liveLog(t)
	it, err := l.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if it.NextWait(ctx) || !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("cancelled ctx: err %v", it.Err())
	}
	// A ctx cancelled while waiting.
	ctx, cancel = context.WithCancel(context.Background())
	res := nextWaitAsync(it, ctx)
	waitWaiters(t, &l.wNew, 1)
	cancel()
	if r := <-res; r.ok || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancel while waiting: %+v", r)
	}
	waitWaiters(t, &l.wNew, 0) // unregistered
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if it.NextWait(ctx) || !errors.Is(it.Err(), context.DeadlineExceeded) {
		t.Fatalf("deadline: err %v", it.Err())
	}
	// Not sticky: the next call waits again and gets the record.
	res = nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wNew, 1)
	if _, err := l.Append([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !r.ok || r.seq != 1 || r.err != nil {
		t.Fatalf("after cancel: %+v", r)
	}
	// Plain Next clears it too.
	if it.NextWait(ctx) || it.Err() == nil {
		t.Fatal("expired ctx: NextWait did not report it")
	}
	if it.Next() || it.Err() != nil {
		t.Fatalf("Next at the end: err %v", it.Err())
	}
}

func TestNextWaitClose(t *testing.T) {
	l := liveLog(t)
	its := make([]*Iterator, 2)
	res := make([]<-chan waitResult, 2)
	for i := range its {
		it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: i == 1})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		its[i], res[i] = it, nextWaitAsync(it, context.Background())
	}
	waitWaiters(t, &l.wNew, 1)
	waitWaiters(t, &l.wDurable, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range its {
		if r := <-res[i]; r.ok || !errors.Is(r.err, ErrClosed) {
			t.Fatalf("iterator %d after Close: %+v", i, r)
		}
		if its[i].NextWait(context.Background()) || !errors.Is(its[i].Err(), ErrClosed) {
			t.Fatal("ErrClosed is not sticky")
		}
	}
}

func TestNextWaitTruncateBack(t *testing.T) {
	for _, wait := range []bool{true, false} {
		t.Run(fmt.Sprintf("wait=%v", wait), func(t *testing.T) {
			l := liveLog(t)
			for i := 1; i <= 5; i++ {
				if _, err := l.Append([]byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			it, err := l.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for it.Next() {
			}
			var err2 error
			if wait {
				res := nextWaitAsync(it, context.Background())
				waitWaiters(t, &l.wNew, 1)
				if err := l.TruncateBack(3); err != nil {
					t.Fatal(err)
				}
				r := <-res
				if r.ok {
					t.Fatalf("NextWait after TruncateBack returned record %d", r.seq)
				}
				err2 = r.err
			} else {
				if err := l.TruncateBack(3); err != nil {
					t.Fatal(err)
				}
				l.Append([]byte("new 4"))
				if it.Next() {
					t.Fatalf("Next after TruncateBack returned record %d", it.Seq())
				}
				err2 = it.Err()
			}
			var te *TruncatedError
			if !errors.As(err2, &te) || !errors.Is(err2, ErrTruncated) || !errors.Is(err2, ErrNotFound) {
				t.Fatalf("err %v, want a *TruncatedError", err2)
			}
			if te.Seq != 4 || te.LastSeq < 3 {
				t.Fatalf("%+v, want Seq 4, LastSeq ≥ 3", te)
			}
			if it.NextWait(context.Background()) || it.Err() != err2 {
				t.Fatal("the error is not sticky")
			}
		})
	}
}

// An iterator waiting at its position is not stopped by a TruncateBack
// that drops nothing it returned; it gets the record appended after.
func TestNextWaitTruncateBackAboveIt(t *testing.T) {
	l := liveLog(t)
	for i := 0; i < 5; i++ {
		l.Append([]byte("x"))
	}
	it, _ := l.NewIterator(1)
	defer it.Close()
	for i := 0; i < 3; i++ {
		it.Next()
	}
	if err := l.TruncateBack(3); err != nil {
		t.Fatal(err)
	}
	res := nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wNew, 1)
	l.Append([]byte("new"))
	if r := <-res; !r.ok || r.seq != 4 || string(r.val) != "new" {
		t.Fatalf("%+v", r)
	}
}

func TestNextWaitTruncateFront(t *testing.T) {
	l := liveLog(t)
	rec := make([]byte, 1000)
	for i := 0; i < 60; i++ { // several segments
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	it, _ := l.NewIterator(1)
	defer it.Close()
	if !it.Next() {
		t.Fatal(it.Err())
	}
	if err := l.TruncateFront(40); err != nil {
		t.Fatal(err)
	}
	if it.NextWait(context.Background()) {
		t.Fatalf("returned %d after TruncateFront(40) dropped 2..39", it.Seq())
	}
	if err := it.Err(); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrTruncated) {
		t.Fatalf("err %v, want ErrNotFound (not ErrTruncated)", err)
	}
	// A waiter at the end is not stopped by a TruncateFront to the end.
	it2, _ := l.NewIterator(40)
	defer it2.Close()
	for it2.Next() {
	}
	res := nextWaitAsync(it2, context.Background())
	waitWaiters(t, &l.wNew, 1)
	if err := l.TruncateFront(61); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("61"))
	if r := <-res; !r.ok || r.seq != 61 {
		t.Fatalf("%+v", r)
	}
}

func TestNextWaitReset(t *testing.T) {
	l := liveLog(t)
	l.Append([]byte("x"))
	it, _ := l.NewIterator(1)
	defer it.Close()
	it.Next()
	res := nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wNew, 1)
	if err := l.Reset(100); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.ok || !errors.Is(r.err, ErrTruncated) {
		t.Fatalf("%+v", r)
	}
}

func TestNextWaitDurableOnly(t *testing.T) {
	l := liveLog(t)
	for i := 0; i < 3; i++ {
		l.Append([]byte("x"))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("not durable"))
	it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.Next() {
		n++
		if it.Seq() > l.DurableSeq() {
			t.Fatalf("record %d above DurableSeq %d", it.Seq(), l.DurableSeq())
		}
	}
	if n != 3 || it.Err() != nil {
		t.Fatalf("%d durable records, err %v", n, it.Err())
	}
	res := nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wDurable, 1)
	l.Append([]byte("5")) // wakes wNew only: the waiter stays
	if l.wDurable.n.Load() != 1 {
		t.Fatal("an append woke a DurableOnly waiter")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !r.ok || r.seq != 4 || string(r.val) != "not durable" {
		t.Fatalf("%+v", r)
	}
	if !it.Next() || it.Seq() != 5 {
		t.Fatal("record 5, durable since the Sync")
	}
	// Durable records dropped on purpose are ErrTruncated too.
	if err := l.TruncateBack(2); err != nil {
		t.Fatal(err)
	}
	if it.Next() || !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("after TruncateBack: %v", it.Err())
	}
}

func TestNextWaitPoisoned(t *testing.T) {
	l := liveLog(t)
	l.Append([]byte("1"))
	l.Sync()
	l.Append([]byte("2"))
	dur, _ := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	defer dur.Close()
	all, _ := l.NewIterator(1)
	defer all.Close()
	if !dur.NextWait(context.Background()) || dur.Seq() != 1 {
		t.Fatal("durable record 1")
	}
	res := nextWaitAsync(dur, context.Background())
	waitWaiters(t, &l.wDurable, 1)
	l.setPoison(errors.New("test: a failed flush"))
	if r := <-res; r.ok || !errors.Is(r.err, ErrPoisoned) {
		t.Fatalf("DurableOnly waiter on a poisoned log: %+v", r)
	}
	// Every record is still served to the others; then ErrPoisoned, not
	// a wait for ever.
	for i := uint64(1); i <= 2; i++ {
		if !all.NextWait(context.Background()) || all.Seq() != i {
			t.Fatalf("record %d: %v", i, all.Err())
		}
	}
	if all.NextWait(context.Background()) || !errors.Is(all.Err(), ErrPoisoned) {
		t.Fatalf("NextWait at the end of a poisoned log: %v", all.Err())
	}
	d2, _ := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	defer d2.Close()
	if !d2.Next() || d2.Next() || !errors.Is(d2.Err(), ErrPoisoned) {
		t.Fatalf("plain Next of a DurableOnly iterator on a poisoned log: %v", d2.Err())
	}
}

func TestNextWaitManyWaiters(t *testing.T) {
	l := liveLog(t)
	const waiters, records = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for w := 0; w < waiters; w++ {
		it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: w%2 == 1})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer it.Close()
			for want := uint64(1); want <= records; want++ {
				if !it.NextWait(context.Background()) {
					errs <- fmt.Errorf("record %d: %v", want, it.Err())
					return
				}
				if it.Seq() != want || string(it.Value()) != fmt.Sprint(want) {
					errs <- fmt.Errorf("got %d %q, want %d", it.Seq(), it.Value(), want)
					return
				}
			}
		}()
	}
	for i := 1; i <= records; i++ {
		if _, err := l.Append([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 || i == records {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNewIteratorWithReadOnly(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("1"))
	l.Append([]byte("2"))
	l.Sync()
	l.Append([]byte("3"))
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	defer l.Close()
	it, err := ro.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var got []uint64
	for it.Next() {
		got = append(got, it.Seq())
	}
	if it.Err() != nil || uint64(len(got)) != ro.DurableSeq() || ro.DurableSeq() > 2 {
		t.Fatalf("got %v, DurableSeq %d, err %v", got, ro.DurableSeq(), it.Err())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if it.NextWait(ctx) || !errors.Is(it.Err(), context.Canceled) {
		t.Fatal(it.Err())
	}
}

func TestNextWaitAllocs(t *testing.T) {
	l := liveLog(t)
	for i := 0; i < 2000; i++ {
		l.Append([]byte("payload"))
	}
	l.Sync()
	for _, durable := range []bool{false, true} {
		it, _ := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: durable})
		defer it.Close()
		ctx := context.Background()
		it.NextWait(ctx)
		if a := testing.AllocsPerRun(1000, func() {
			if !it.NextWait(ctx) {
				t.Fatal(it.Err())
			}
		}); a != 0 {
			t.Fatalf("DurableOnly %v: %v allocations per record", durable, a)
		}
	}
}

// Appends keep their zero allocations with a waiter registered.
func TestAppendAllocsWithWaiter(t *testing.T) {
	l := liveLog(t)
	it, _ := l.NewIterator(1)
	defer it.Close()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan bool)
	go func() {
		for it.NextWait(ctx) {
		}
		res <- true
	}()
	rec := []byte("payload")
	if a := testing.AllocsPerRun(500, func() { l.Append(rec) }); a != 0 {
		t.Fatalf("%v allocations per append", a)
	}
	cancel()
	<-res
}

// BenchmarkAppendListeners measures what an append pays for live readers:
// none (the check only), registered followers (the control area's
// publication; they do not read here), a waiting in-process iterator.
func BenchmarkAppendListeners(b *testing.B) {
	for _, kind := range []string{"none", "followers=2", "waiter=1"} {
		b.Run(kind, func(b *testing.B) {
			dir := fastTempDir(b)
			l, err := Open(dir, &Options{Durability: SyncManual})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			switch kind {
			case "followers=2":
				for i := 0; i < 2; i++ {
					f, err := OpenFollower(dir, nil)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
				}
				// Flagged (listenFollower); followers that never look
				// again lose the flag after listenDecay appends.
				if l.listen.Load()&listenFollower == 0 {
					b.Fatalf("no follower flagged: listeners word %#x", l.listen.Load())
				}
			case "waiter=1":
				it, _ := l.NewIterator(1)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan bool)
				go func() {
					for it.NextWait(ctx) {
					}
					done <- true
				}()
				defer func() { cancel(); <-done; it.Close() }()
			}
			rec := make([]byte, 128)
			b.SetBytes(128)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendNoListener is exactly what Append does for live readers
// when none is registered (no follower, no waiter): notifyAppend, the one
// call advance makes for them, on a log whose listeners word is 0 (one
// atomic load and a branch). Issue 11 bounds it at 5 ns per append; the
// benchmark fails above that, so that a lock, a clock read or a store
// added to the no-listener path shows. BenchmarkAppend (bench/) is the
// whole append it is part of.
func BenchmarkAppendNoListener(b *testing.B) {
	l, err := Open(fastTempDir(b), &Options{Durability: SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	seq, err := l.Append(make([]byte, 128))
	if err != nil {
		b.Fatal(err)
	}
	l.wmu.Lock() // the writer's: advance calls it under wmu
	defer l.wmu.Unlock()
	if v := l.listen.Load(); v != 0 {
		b.Fatalf("listeners word %#x with no reader", v)
	}
	s := l.active
	for b.Loop() {
		l.notifyAppend(s, seq)
	}
	if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); ns > 5 {
		b.Fatalf("%.2f ns per append for live readers with none registered, want ≤ 5", ns)
	}
}
