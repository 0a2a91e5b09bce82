package mmapwal

import (
	"context"
	"errors"
	"testing"
	"time"
)

// NextWait's spins (waitSpins): a record, a cancellation or a Close that
// comes while an iterator spins ends its NextWait there, without a
// registration (so without a wake-up for the writer to pay for).

// spinHook sets testHookSpin to f for the test; f gets the spin's number.
func spinHook(t *testing.T, f func(it *Iterator, spin int)) {
	t.Helper()
	n := 0
	testHookSpin = func(it *Iterator) { f(it, n); n++ }
	t.Cleanup(func() { testHookSpin = nil })
}

// spinCtx bounds a NextWait that must return by itself: a hang fails the
// test (with DeadlineExceeded) instead of blocking it.
func spinCtx(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// checkNeverParked fails unless no NextWait registered on l: no waiter,
// and the writer was never asked to wake one (listenLocal clear).
func checkNeverParked(t *testing.T, l *Log) {
	t.Helper()
	if n := l.wNew.n.Load(); n != 0 || l.listen.Load()&listenLocal != 0 {
		t.Fatalf("a NextWait parked: %d waiters, listeners word %#x", n, l.listen.Load())
	}
}

// TestNextWaitSpinFindsRecord: a record appended while the iterator spins
// is returned without it parking, and the append finds nobody to wake.
func TestNextWaitSpinFindsRecord(t *testing.T) {
	l := liveLog(t)
	it, err := l.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	spinHook(t, func(_ *Iterator, spin int) {
		if spin == waitSpins/2 {
			if _, err := l.Append([]byte("spun")); err != nil {
				t.Error(err)
			}
		}
	})
	ctx, cancel := spinCtx(t)
	defer cancel()
	if !it.NextWait(ctx) || it.Seq() != 1 || string(it.Value()) != "spun" {
		t.Fatalf("NextWait: seq %d, err %v", it.Seq(), it.Err())
	}
	checkNeverParked(t, l)
}

// TestNextWaitSpinEnds: a cancellation or a Close during the spins ends
// NextWait at once (Canceled, not sticky; ErrClosed, sticky).
func TestNextWaitSpinEnds(t *testing.T) {
	for _, byClose := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancel", true: "close"}[byClose], func(t *testing.T) {
			l := liveLog(t)
			it, err := l.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			ctx, cancel := spinCtx(t)
			defer cancel()
			spinHook(t, func(_ *Iterator, spin int) {
				if spin == 3 {
					if byClose {
						l.Close()
					} else {
						cancel()
					}
				}
			})
			want := context.Canceled
			if byClose {
				want = ErrClosed
			}
			if it.NextWait(ctx) || !errors.Is(it.Err(), want) {
				t.Fatalf("NextWait: err %v, want %v", it.Err(), want)
			}
			if byClose {
				ctx = context.Background() // sticky: no wait, no spin
			} else {
				checkNeverParked(t, l)
				// Not sticky: the next NextWait finds the record.
				testHookSpin = nil
				if _, err := l.Append([]byte("x")); err != nil {
					t.Fatal(err)
				}
				ctx, cancel = spinCtx(t)
				defer cancel()
				want = nil
			}
			if got := it.NextWait(ctx); got != (want == nil) || !errors.Is(it.Err(), want) {
				t.Fatalf("second NextWait: %v, err %v, want %v", got, it.Err(), want)
			}
		})
	}
}

// TestNextWaitSpinsAgainAfterWake: an iterator woken with nothing new for
// it (here a bare wake of the DurableOnly waiters) spins waitSpins times
// again before it parks again, and the next durable record still reaches
// it.
func TestNextWaitSpinsAgainAfterWake(t *testing.T) {
	l := liveLog(t)
	it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	spins := make(chan int, 4*waitSpins)
	spinHook(t, func(_ *Iterator, spin int) { spins <- spin })
	res := nextWaitAsync(it, context.Background())
	waitWaiters(t, &l.wDurable, 1)
	l.wDurable.wake() // a wake-up with nothing new: it looks, spins, parks again
	waitWaiters(t, &l.wDurable, 1)
	if n := len(spins); n != 2*waitSpins {
		t.Fatalf("%d spins before the second park, want %d", n, 2*waitSpins)
	}
	if _, err := l.Append([]byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !r.ok || r.seq != 1 || r.err != nil {
		t.Fatalf("after Sync: %+v", r)
	}
}
