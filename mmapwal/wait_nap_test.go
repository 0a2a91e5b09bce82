package mmapwal

import (
	"context"
	"errors"
	"testing"
	"time"
)

// NextWait's naps (wait.go): once a record came during the spins, the
// next end of the log is a nap that asks the writer for no wake-up, as
// long as each nap brings napRecords records; then spinning and parking
// again.

// napHook sets testHookNap to f for the test; f gets the nap's number.
func napHook(t *testing.T, f func(it *Iterator, nap int)) {
	t.Helper()
	n := 0
	testHookNap = func(it *Iterator) { f(it, n); n++ }
	t.Cleanup(func() { testHookNap = nil })
}

// napIterators are the iterators the nap tests run on: a Log's and a
// Follower's of the same log.
func napIterators(t *testing.T, l *Log) map[string]func() *Iterator {
	return map[string]func() *Iterator{
		"log": func() *Iterator {
			it, err := l.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { it.Close() })
			return it
		},
		"follower": func() *Iterator {
			it, err := openFollower(t, l.dir, nil).NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { it.Close() })
			return it
		},
	}
}

// startNapping has it find records 1..napAfter during its spins (so that
// NextWait naps at its next end) and then read the n appended after them.
func startNapping(t *testing.T, l *Log, it *Iterator, n int) {
	t.Helper()
	spinHook(t, func(sit *Iterator, spin int) {
		if sit == it && l.LastSeq() == it.Seq() { // at its first spin: a record comes during the spins
			if _, err := l.Append([]byte("spun")); err != nil {
				t.Error(err)
			}
		}
	})
	ctx, cancel := spinCtx(t)
	defer cancel()
	for s := uint64(1); s <= napAfter; s++ {
		if !it.NextWait(ctx) || it.Seq() != s {
			t.Fatalf("NextWait: seq %d, want %d, err %v", it.Seq(), s, it.Err())
		}
	}
	testHookSpin = nil
	for i := 0; i < n; i++ {
		if _, err := l.Append([]byte("bulk")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if !it.Next() {
			t.Fatalf("record %d: %v", napAfter+1+i, it.Err())
		}
	}
	if it.spun != napAfter {
		t.Fatalf("%d records found during the spins counted %d", napAfter, it.spun)
	}
}

// TestNextWaitNapsBehindBulkWriter: after napAfter records found during
// the spins, NextWait at the end naps, without registering (the writer is
// not asked to wake it), returns the records that came during the nap,
// and naps again at the next end since that brought napRecords; a nap
// that brought fewer ends the naps: the next end spins and parks.
func TestNextWaitNapsBehindBulkWriter(t *testing.T) {
	l := liveLog(t)
	for name, newIt := range napIterators(t, l) {
		t.Run(name, func(t *testing.T) {
			l := l
			if name == "follower" {
				l = liveLog(t)
				newIt = napIterators(t, l)[name]
			}
			it := newIt()
			startNapping(t, l, it, 0)
			naps := 0
			napHook(t, func(nit *Iterator, nap int) {
				if nit != it {
					return
				}
				naps++
				if l.wNew.n.Load() != 0 || l.listen.Load()&listenWaiters != 0 {
					t.Errorf("nap %d: registered (%d waiters, listeners word %#x)", nap, l.wNew.n.Load(), l.listen.Load())
				}
				k := napRecords
				if nap == 1 {
					k = 1 // too few: the naps end
				}
				for range k {
					if _, err := l.Append([]byte("during the nap")); err != nil {
						t.Error(err)
					}
				}
			})
			ctx, cancel := spinCtx(t)
			defer cancel()
			want := uint64(napAfter)
			for k := 0; k < napRecords+1; k++ {
				want++
				if !it.NextWait(ctx) || it.Seq() != want {
					t.Fatalf("record %d: seq %d, err %v", want, it.Seq(), it.Err())
				}
			}
			if naps != 2 {
				t.Fatalf("%d naps, want 2", naps)
			}
			// The second nap brought 1 record: the next end spins, then
			// parks, and an append wakes it.
			res := nextWaitAsync(it, ctx)
			if name == "log" {
				waitWaiters(t, &l.wNew, 1)
			} else {
				for deadline := time.Now().Add(20 * time.Second); l.listen.Load()&listenFutex == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the follower never slept on the futex word")
					}
				}
			}
			if naps != 2 {
				t.Fatalf("%d naps before the park, want 2", naps)
			}
			if _, err := l.Append([]byte("after the park")); err != nil {
				t.Fatal(err)
			}
			if r := <-res; !r.ok || r.seq != want+1 || string(r.val) != "after the park" {
				t.Fatalf("after the park: %+v", r)
			}
		})
	}
}

// TestNextWaitNapEnds: a cancellation during a nap ends NextWait with
// Canceled at once (not after the nap), and a Close with ErrClosed.
func TestNextWaitNapEnds(t *testing.T) {
	for _, byClose := range []bool{false, true} {
		for _, name := range []string{"log", "follower"} {
			t.Run(map[bool]string{false: "cancel", true: "close"}[byClose]+"/"+name, func(t *testing.T) {
				l := liveLog(t)
				it := napIterators(t, l)[name]()
				startNapping(t, l, it, napRecords)
				ctx, cancel := spinCtx(t)
				defer cancel()
				napHook(t, func(nit *Iterator, nap int) {
					if nit != it {
						return
					}
					if byClose {
						if it.fol != nil {
							it.fol.f.Close()
						} else {
							l.Close()
						}
					} else {
						cancel()
					}
				})
				want := context.Canceled
				if byClose {
					want = ErrClosed
				}
				start := time.Now()
				if it.NextWait(ctx) || !errors.Is(it.Err(), want) {
					t.Fatalf("NextWait: err %v, want %v", it.Err(), want)
				}
				if d := time.Since(start); !byClose && d > 100*napFor {
					t.Fatalf("NextWait returned %v after the cancellation", d)
				}
			})
		}
	}
}

// TestNextWaitParkResetsNapCount: records found during the spins count
// towards the naps only napAfter in a row: a park in between (a writer
// at 1,000 appends/s that appended a few records back to back) starts the
// count again.
func TestNextWaitParkResetsNapCount(t *testing.T) {
	for _, name := range []string{"log", "follower"} {
		t.Run(name, func(t *testing.T) {
			l := liveLog(t)
			it := napIterators(t, l)[name]()
			spinning := true
			spinHook(t, func(sit *Iterator, _ int) {
				if sit == it && spinning && l.LastSeq() == it.Seq() {
					if _, err := l.Append([]byte("spun")); err != nil {
						t.Error(err)
					}
				}
			})
			ctx, cancel := spinCtx(t)
			defer cancel()
			next := func(s uint64) {
				t.Helper()
				if !it.NextWait(ctx) || it.Seq() != s {
					t.Fatalf("NextWait: seq %d, want %d, err %v", it.Seq(), s, it.Err())
				}
			}
			for s := uint64(1); s < napAfter; s++ {
				next(s)
			}
			// A park: nothing comes during the spins, an append wakes it.
			spinning = false
			res := nextWaitAsync(it, ctx)
			if name == "log" {
				waitWaiters(t, &l.wNew, 1)
			} else {
				for deadline := time.Now().Add(20 * time.Second); l.listen.Load()&listenFutex == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the follower never slept on the futex word")
					}
				}
			}
			if _, err := l.Append([]byte("woken")); err != nil {
				t.Fatal(err)
			}
			if r := <-res; !r.ok || r.seq != napAfter {
				t.Fatalf("after the park: %+v", r)
			}
			spinning = true
			next(napAfter + 1)
			if it.spun >= napAfter {
				t.Fatalf("%d records found during the spins counted %d: the park did not reset the count", napAfter, it.spun)
			}
		})
	}
}

// TestNextWaitNapsAfterBacklog: a consumer that returned napRecords
// records since its last look at the end (it fell behind a bulk writer)
// naps at the next end, once: fewer than napRecords since, it spins and
// parks.
func TestNextWaitNapsAfterBacklog(t *testing.T) {
	for _, name := range []string{"log", "follower"} {
		t.Run(name, func(t *testing.T) {
			l := liveLog(t)
			it := napIterators(t, l)[name]()
			naps := 0
			napHook(t, func(nit *Iterator, _ int) {
				if nit == it {
					naps++
					if _, err := l.Append([]byte("during the nap")); err != nil {
						t.Error(err)
					}
				}
			})
			ctx, cancel := spinCtx(t)
			defer cancel()
			for range napRecords - 1 {
				if _, err := l.Append([]byte("backlog")); err != nil {
					t.Fatal(err)
				}
			}
			for s := uint64(1); s < napRecords; s++ {
				if !it.NextWait(ctx) || it.Seq() != s {
					t.Fatalf("record %d: %d %v", s, it.Seq(), it.Err())
				}
			}
			if naps != 0 {
				t.Fatalf("%d naps before the end", naps)
			}
			// napRecords-1 returned: this end spins and parks.
			res := nextWaitAsync(it, ctx)
			if name == "log" {
				waitWaiters(t, &l.wNew, 1)
			} else {
				for deadline := time.Now().Add(20 * time.Second); l.listen.Load()&listenFutex == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the follower never slept on the futex word")
					}
				}
			}
			for range napRecords {
				if _, err := l.Append([]byte("bulk")); err != nil {
					t.Fatal(err)
				}
			}
			if r := <-res; !r.ok || r.seq != napRecords || naps != 0 {
				t.Fatalf("after the park: %+v, %d naps", r, naps)
			}
			for s := uint64(napRecords + 1); s < 2*napRecords; s++ {
				if !it.NextWait(ctx) || it.Seq() != s {
					t.Fatalf("record %d: %d %v", s, it.Seq(), it.Err())
				}
			}
			// napRecords returned since the last end: a nap, which brings
			// one record.
			if !it.NextWait(ctx) || it.Seq() != 2*napRecords || naps != 1 {
				t.Fatalf("after the backlog: seq %d err %v, %d naps", it.Seq(), it.Err(), naps)
			}
		})
	}
}
