package mmapwal

// What red team 3 tried that held (they pass): regression tests.
//
//	go test -race -count=1 -run TestRT3Held ./mmapwal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestRT3HeldFollowerMaxSeq(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	l.Append([]byte("one"))
	if err := l.AppendSeq(math.MaxUint64, []byte("top")); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	var got []uint64
	for i := 0; i < 5 && it.Next(); i++ {
		got = append(got, it.Seq())
	}
	// force a re-validation: writer closes (trust changes)
	l.Close()
	for i := 0; i < 5 && it.Next(); i++ {
		got = append(got, it.Seq())
	}
	if len(got) != 2 {
		t.Fatalf("follower returned %v", got)
	}
	if b, err := f.Read(math.MaxUint64); err != nil || string(b) != "top" {
		t.Fatalf("Read(Max) %q %v", b, err)
	}
	if _, err := f.Read(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(0) %v", err)
	}
	if _, err := f.Read(math.MaxUint64 - 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(Max-1) %v", err)
	}
	it2, _ := f.NewIterator(math.MaxUint64)
	defer it2.Close()
	got = nil
	for i := 0; i < 5 && it2.Next(); i++ {
		got = append(got, it2.Seq())
	}
	if len(got) != 1 {
		t.Fatalf("from Max: %v", got)
	}
}

func TestRT3HeldFollowerEmpty(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	f := openFollower(t, dir, &FollowerOptions{PollInterval: -1})
	if f.FirstSeq() != l.FirstSeq() || f.LastSeq() != 0 || f.DurableSeq() != 0 {
		t.Fatalf("empty: %d %d %d vs %d", f.FirstSeq(), f.LastSeq(), f.DurableSeq(), l.FirstSeq())
	}
	l.Reset(100)
	if f.FirstSeq() != 100 || f.LastSeq() != 99 {
		t.Fatalf("after Reset(100): first %d last %d durable %d", f.FirstSeq(), f.LastSeq(), f.DurableSeq())
	}
	l.Append([]byte("x"))
	if f.FirstSeq() != 100 || f.LastSeq() != 100 {
		t.Fatalf("after append: first %d last %d", f.FirstSeq(), f.LastSeq())
	}
	l.TruncateFront(101)
	if f.FirstSeq() != 101 || f.LastSeq() != 100 {
		t.Fatalf("after TruncateFront(101): first %d last %d", f.FirstSeq(), f.LastSeq())
	}
	l.Close()
	if f.FirstSeq() != 101 || f.LastSeq() != 100 {
		t.Fatalf("closed: first %d last %d", f.FirstSeq(), f.LastSeq())
	}
}

// Close racing NextWait, double close, use after close; goroutines.
func TestRT3HeldFollowerCloseRace(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	before := runtime.NumGoroutine()
	for round := 0; round < 50; round++ {
		f, err := OpenFollower(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for k := 0; k < 4; k++ {
			it, _ := f.NewIterator(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it.NextWait(context.Background()) {
				}
				if !errors.Is(it.Err(), ErrClosed) {
					t.Errorf("err %v", it.Err())
				}
				it.Close()
				it.Close()
				if it.Next() || it.NextWait(context.Background()) {
					t.Error("after Close")
				}
			}()
		}
		go func() {
			for i := 0; i < 20; i++ {
				f.LastSeq()
				f.DurableSeq()
				f.FirstSeq()
			}
		}()
		l.Append([]byte("r"))
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		f.Close()
		f.Close()
		wg.Wait()
		if _, err := f.Read(1); !errors.Is(err, ErrClosed) {
			t.Errorf("Read after Close: %v", err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+1 {
		t.Fatalf("goroutines %d -> %d", before, after)
	}
	// The listeners word holds flags, not counts: the writer clears what no
	// live reader sets again within listenDecay appends.
	for range listenDecay {
		l.Append([]byte("r"))
	}
	if v := l.listen.Load(); v != 0 {
		t.Fatalf("listeners word %#x after all followers closed", v)
	}
}

// In-process: cancelled ctx, TruncateBack under a waiter, TruncateFront past.
func TestRT3HeldInProcess(t *testing.T) {
	l := liveLog(t)
	for i := 1; i <= 10; i++ {
		l.Append([]byte("r"))
	}
	it, _ := l.NewIterator(1)
	defer it.Close()
	for it.Next() {
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if it.NextWait(ctx) || !errors.Is(it.Err(), context.Canceled) {
		t.Fatal("cancelled")
	}
	res := nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wNew, 1)
	l.TruncateBack(5)
	r := <-res
	var te *TruncatedError
	if r.ok || !errors.As(r.err, &te) || te.Seq != 6 || te.LastSeq != 5 || !errors.Is(r.err, ErrNotFound) {
		t.Fatalf("TruncateBack under waiter: %+v %+v", r, te)
	}
	// TruncateFront past a waiting iterator positioned before records.
	it2, _ := l.NewIterator(1)
	defer it2.Close()
	it2.Next() // 1
	for i := 6; i <= 20; i++ {
		l.Append([]byte("r"))
	}
	l.TruncateFront(15)
	if it2.NextWait(context.Background()) || !errors.Is(it2.Err(), ErrNotFound) || errors.Is(it2.Err(), ErrTruncated) {
		t.Fatalf("TruncateFront past: %v seq %d", it2.Err(), it2.Seq())
	}
	// ReadOnly
}

func TestRT3HeldReadOnlyDurableOnly(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	for i := 1; i <= 10; i++ {
		l.Append([]byte("r"))
	}
	l.Sync()
	l.Append([]byte("11"))
	ro := mustOpen(t, dir, &Options{ReadOnly: true, SegmentSize: folSegSize})
	defer ro.Close()
	it, err := ro.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.Next() {
		n++
	}
	t.Logf("ReadOnly DurableOnly read %d records, ro.DurableSeq %d err %v", n, ro.DurableSeq(), it.Err())
	if uint64(n) > ro.DurableSeq() {
		t.Fatalf("beyond DurableSeq")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.Append([]byte("12"))
	l.Sync()
	start := time.Now()
	ok := it.NextWait(ctx)
	t.Logf("ReadOnly NextWait at end: %v %v after %v", ok, it.Err(), time.Since(start))
	all, _ := ro.NewIterator(1)
	n = 0
	for all.Next() {
		n++
	}
	start = time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	ok = all.NextWait(ctx2)
	t.Logf("ReadOnly plain: read %d; NextWait %v %v after %v", n, ok, all.Err(), time.Since(start))
}

func TestRT3HeldWakeStress(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 256 << 10})
	defer l.Close()
	const total = 6000
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	f := openFollower(t, dir, nil)
	fd := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	for k := 0; k < 8; k++ {
		var it *Iterator
		switch k % 4 {
		case 0:
			it, _ = l.NewIterator(1)
		case 1:
			it, _ = l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
		case 2:
			it, _ = f.NewIterator(1)
		case 3:
			it, _ = fd.NewIterator(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer it.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			want := uint64(1)
			for want <= total {
				if !it.NextWait(ctx) {
					errs <- fmt.Sprintf("waiter %d stuck at %d: %v", k, want, it.Err())
					return
				}
				if it.Seq() != want {
					errs <- fmt.Sprintf("waiter %d: got %d want %d", k, it.Seq(), want)
					return
				}
				want++
			}
		}()
	}
	rec := make([]byte, 64)
	for n := 0; n < total; {
		if n%7 == 3 && n+3 <= total {
			l.AppendBatch([][]byte{rec, rec, rec})
			n += 3
		} else {
			l.Append(rec)
			n++
		}
		if n%13 == 0 {
			l.Sync()
		}
		if n%500 == 0 {
			runtime.Gosched()
		}
		if n%5 == 0 {
			time.Sleep(time.Duration(n%300) * time.Microsecond)
		}
	}
	l.Sync()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Allocations per record on a follower catching up, with and without a
// control area, DurableOnly or not. (Following a live writer record by
// record does allocate: TestRedTeam3FollowerTailReopensPrepared. The
// writer's Sync allocates once per call; not a follower's cost.)
func TestRT3HeldAllocs(t *testing.T) {
	for _, c := range []struct {
		name               string
		noCtl, durableOnly bool
	}{{"trusted", false, false}, {"trusted-durable", false, true}, {"frames", true, false}, {"frames-durable", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
			defer l.Close()
			if c.noCtl {
				rt3NoControl(t, l)
			}
			rec := make([]byte, 200)
			for i := 0; i < 6000; i++ {
				l.Append(rec)
				if i%100 == 0 {
					l.Sync()
				}
			}
			l.Sync()
			l.Append(rec)
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: c.durableOnly})
			it, _ := f.NewIterator(1)
			defer it.Close()
			ctx := context.Background()
			it.NextWait(ctx)
			if a := testing.AllocsPerRun(4000, func() {
				if !it.NextWait(ctx) {
					t.Fatal(it.Err())
				}
			}); a != 0 {
				t.Errorf("catching up: %v allocations per record", a)
			}
		})
	}
}
