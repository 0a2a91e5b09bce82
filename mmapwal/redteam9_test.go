package mmapwal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Red team 9: the follower's fast path (fastNext), NextWait's naps and the
// next-segment backoff (phase 5, issue 11).

// rt9Payload is record seq of generation gen: its length depends on seq
// alone (a re-append after a cut puts frames of other bytes at the same
// offsets, the copy a stale chunk could still hold), its bytes on both.
func rt9Payload(seq, gen uint64) []byte {
	p := make([]byte, 16+int(seq*7%120))
	binary.LittleEndian.PutUint64(p, seq)
	binary.LittleEndian.PutUint64(p[8:], gen)
	for i := 16; i < len(p); i++ {
		p[i] = byte(gen + uint64(i))
	}
	return p
}

// rt9Decode checks a payload against rt9Payload and returns its generation.
func rt9Decode(p []byte) (seq, gen uint64, ok bool) {
	if len(p) < 16 {
		return 0, 0, false
	}
	seq, gen = binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])
	want := rt9Payload(seq, gen)
	if len(want) != len(p) {
		return seq, gen, false
	}
	for i := range p {
		if p[i] != want[i] {
			return seq, gen, false
		}
	}
	return seq, gen, true
}

// TestRT9FastPathCutsModel: a writer appends (single records and batches,
// small segments: rotations), syncs now and then, and cuts its tail with
// TruncateBack and appends other bytes at the same sequences (same
// lengths: the same offsets), while two Followers' iterators (one
// DurableOnly) read with NextWait in their fast path. Each record a
// follower returns must be whole and in order; what a follower returned
// and was not told was cut (a *TruncatedError at or below it) must be what
// the log holds at the end; a DurableOnly follower never returns a record
// above the writer's DurableSeq (when no truncation ran meanwhile).
func TestRT9FastPathCutsModel(t *testing.T) { rt9Model(t, false) }

// TestRT9FastPathRestartsModel is TestRT9FastPathCutsModel with writer
// restarts (Close and Open: a new incarnation), Resets (to the next
// sequence) and TruncateFronts too, and two iterators on one Follower.
func TestRT9FastPathRestartsModel(t *testing.T) { rt9Model(t, true) }

func rt9Model(t *testing.T, more bool) {
	dir := fastTempDir(t)
	opts := &Options{Durability: SyncManual, SegmentSize: 64 << 10}
	var lp atomic.Pointer[Log]
	lp.Store(mustOpen(t, dir, opts))
	defer func() { lp.Load().Close() }()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 9))

	var mu sync.Mutex
	final := map[uint64]uint64{} // seq → gen, the writer's truth
	var cuts atomic.Uint64       // truncations begun
	var cutsDone atomic.Uint64   // truncations whose records final no longer holds
	var done atomic.Bool
	var resets atomic.Uint64 // Resets begun: a Reset's *TruncatedError names the position
	var front atomic.Uint64  // records below were removed by TruncateFront (or Reset)

	type reader struct {
		name        string
		durableOnly bool
		seen        map[uint64]uint64
		err         error
		ev          []string
		from        uint64 // where the last iterator started
	}
	readers := []*reader{{name: "plain"}, {name: "durable", durableOnly: true}}
	if more {
		readers = append(readers, &reader{name: "plain2"})
	}
	var wg sync.WaitGroup
	var plainF *Follower
	for _, r := range readers {
		r.seen = map[uint64]uint64{}
		var f *Follower
		if r.name == "plain2" {
			f = plainF // a second iterator of the same Follower
		} else {
			f = openFollower(t, dir, &FollowerOptions{DurableOnly: r.durableOnly})
		}
		if r.name == "plain" {
			plainF = f
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := uint64(1)
			it, err := f.NewIterator(from)
			if err != nil {
				r.err = err
				return
			}
			defer func() {
				if it != nil {
					it.Close()
				}
			}()
			prev := uint64(0)
			idle := 0
			for {
				c0 := cuts.Load()
				d0 := cutsDone.Load()
				rs0 := resets.Load()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
				ok := it.NextWait(ctx)
				cancel()
				if !ok {
					var te *TruncatedError
					switch {
					case errors.As(it.Err(), &te):
						r.ev = append(r.ev, fmt.Sprintf("truncated %d (last %d) at prev %d", te.Seq, te.LastSeq, prev))
						if cuts.Load() == c0 && cutsDone.Load() == c0 && resets.Load() == 0 {
							// Every cut ended before this Next began: final is
							// what the log held during it.
							mu.Lock()
							for s, g := range r.seen {
								if fg, ok := final[s]; s < te.Seq && s >= front.Load() && (!ok || fg != g) {
									t.Errorf("%s: *TruncatedError{Seq: %d}, but record %d it returned (generation %d) is gone too (the log holds generation %d, present %v)", r.name, te.Seq, s, g, fg, ok)
									r.err = errors.New("cut below the TruncatedError")
								}
							}
							mu.Unlock()
							if r.err != nil {
								return
							}
						}
						r.seen = map[uint64]uint64{}
						r.from = te.Seq
						it.Close()
						if it, err = f.NewIterator(te.Seq); err != nil {
							r.err = err
							return
						}
						prev = te.Seq - 1
						continue
					case errors.Is(it.Err(), ErrNotFound) && more:
						// A TruncateFront overtook it: from the front again.
						r.ev = append(r.ev, fmt.Sprintf("not found at prev %d: %v", prev, it.Err()))
						it.Close()
						r.seen = map[uint64]uint64{}
						r.from = front.Load()
						if it, err = f.NewIterator(r.from); err != nil {
							r.err = err
							return
						}
						prev = 0
						continue
					case it.Err() != nil && !errors.Is(it.Err(), context.DeadlineExceeded):
						r.err = it.Err()
						return
					}
					if done.Load() {
						if idle++; idle > 40 {
							return
						}
					}
					continue
				}
				idle = 0
				seq := it.Seq()
				s2, gen, whole := rt9Decode(it.Value())
				if !whole || s2 != seq {
					r.err = errors.New("a record not as appended")
					t.Errorf("%s: record %d: %d bytes, not a whole record (seq field %d gen %d)", r.name, seq, len(it.Value()), s2, gen)
					return
				}
				if seq <= prev && resets.Load() == rs0 {
					t.Errorf("%s: record %d after %d", r.name, seq, prev)
					return
				}
				prev = seq
				if r.durableOnly && d0 == c0 && seq > lp.Load().DurableSeq() && cuts.Load() == c0 { // no cut ran during the Next (one lowers DurableSeq)
					t.Errorf("%s: record %d above DurableSeq %d", r.name, seq, lp.Load().DurableSeq())
					return
				}
				if d0 == c0 && cuts.Load() == c0 {
					mu.Lock()
					fg, ok := final[seq]
					mu.Unlock()
					if ok && fg != gen && cuts.Load() == c0 {
						t.Errorf("%s: record %d of generation %d returned while the log held generation %d and no cut ran", r.name, seq, gen, fg)
						r.err = errors.New("stale record")
						return
					}
				}
				r.seen[seq] = gen
				r.ev = append(r.ev, fmt.Sprintf("got %d g%d", seq, gen))
			}
		}()
	}

	gen := uint64(1)
	var wev []string
	deadline := time.Now().Add(700 * time.Millisecond)
	for ops := 0; time.Now().Before(deadline); ops++ {
		l := lp.Load()
		last := l.LastSeq()
		x := rng.IntN(100)
		if y := rng.IntN(100); more && y < 4 && last > 0 {
			switch y {
			case 0: // a writer restart: a new incarnation
				wev = append(wev, fmt.Sprintf("restart at last %d", last))
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				lp.Store(mustOpen(t, dir, opts))
			case 1: // Reset to the next sequence: every record gone
				wev = append(wev, fmt.Sprintf("Reset(%d), gen %d", last+1, gen+1))
				cuts.Add(1)
				resets.Add(1)
				front.Store(last + 1)
				if err := l.Reset(last + 1); err != nil {
					t.Fatal(err)
				}
				gen++
				mu.Lock()
				clear(final)
				mu.Unlock()
				cutsDone.Add(1)
			default: // TruncateFront a little below the end
				if to := last - min(last, uint64(rng.IntN(200))); to > front.Load() && to > l.FirstSeq() {
					wev = append(wev, fmt.Sprintf("TruncateFront(%d)", to))
					front.Store(to)
					if err := l.TruncateFront(to); err != nil {
						t.Fatal(err)
					}
				}
			}
			continue
		}
		switch {
		case x < 3 && last > 40:
			to := max(last-uint64(rng.IntN(40)), l.FirstSeq()-min(l.FirstSeq(), 1))
			cuts.Add(1)
			wev = append(wev, fmt.Sprintf("TruncateBack(%d) at last %d, gen %d", to, last, gen+1))
			if err := l.TruncateBack(to); err != nil {
				t.Fatal(err)
			}
			gen++
			mu.Lock()
			for s := to + 1; s <= last; s++ {
				delete(final, s)
			}
			mu.Unlock()
			cutsDone.Add(1)
		case x < 8:
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		case x < 20:
			n := 2 + rng.IntN(5)
			recs := make([][]byte, n)
			for i := range recs {
				recs[i] = rt9Payload(last+1+uint64(i), gen)
			}
			if _, err := l.AppendBatch(recs); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			for i := range recs {
				final[last+1+uint64(i)] = gen
			}
			mu.Unlock()
		default:
			if _, err := l.Append(rt9Payload(last+1, gen)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			final[last+1] = gen
			mu.Unlock()
		}
		if ops%64 == 0 {
			time.Sleep(50 * time.Microsecond) // let the readers catch up now and then
		}
	}
	l := lp.Load()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	done.Store(true)
	wg.Wait()
	last := l.LastSeq()
	for _, r := range readers {
		if r.err != nil {
			t.Fatalf("%s: %v (seed %d)", r.name, r.err, seed)
		}
		for s, g := range r.seen {
			if fg, ok := final[s]; s >= front.Load() && (!ok || fg != g) {
				for _, e := range wev {
					t.Log("writer:", e)
				}
				t.Logf("%s's last events: %s", r.name, strings.Join(r.ev[max(0, len(r.ev)-200):], ", "))
				t.Fatalf("%s: returned record %d of generation %d, not told it was cut; the log holds generation %d (present %v) (seed %d)", r.name, s, g, fg, ok, seed)
			}
		}
		for s := max(r.from, front.Load(), 1); s <= last; s++ {
			if _, ok := r.seen[s]; !ok && final[s] != 0 {
				t.Fatalf("%s: never returned record %d of %d (seed %d)", r.name, s, last, seed)
			}
		}
	}
	kinds := map[string]int{}
	for _, e := range wev {
		kinds[strings.FieldsFunc(e, func(r rune) bool { return r == '(' || r == ' ' })[0]]++
	}
	for _, r := range readers {
		for _, e := range r.ev {
			if !strings.HasPrefix(e, "got") {
				kinds[r.name+" "+strings.SplitN(e, " ", 2)[0]]++
			}
		}
	}
	t.Logf("%d records, generation %d, %v", last, gen, kinds)
}

// TestRT9NoNapsForSparseSequences: a writer that appends a record now and
// then at sequences of its own (AppendSeq with gaps: timestamps, offsets)
// is the 1,000 appends/s writer the naps must leave alone (each record
// comes after a park, none during the spins): its consumers must not nap.
// napNow counted the records returned since the last empty look as a
// difference of sequences, so that each record with a gap of 64 or more
// made the next end a nap, and each record after it waited up to napFor
// with no wake-up asked for.
func TestRT9NoNapsForSparseSequences(t *testing.T) {
	for _, name := range []string{"log", "follower"} {
		t.Run(name, func(t *testing.T) {
			l := liveLog(t)
			it := napIterators(t, l)[name]()
			var naps atomic.Int64
			napHook(t, func(nit *Iterator, nap int) {
				if nit == it {
					naps.Add(1)
				}
			})
			got := make(chan uint64)
			ctx, cancel := spinCtx(t)
			defer cancel()
			go func() {
				defer close(got)
				for it.NextWait(ctx) {
					got <- it.Seq()
				}
			}()
			for i := uint64(1); i <= 10; i++ {
				seq := i * 1000
				time.Sleep(2 * time.Millisecond) // the consumer spun and parked
				if err := l.AppendSeq(seq, []byte("sparse")); err != nil {
					t.Fatal(err)
				}
				if s := <-got; s != seq {
					t.Fatalf("got %d, want %d", s, seq)
				}
			}
			cancel()
			for range got {
			}
			if n := naps.Load(); n != 0 {
				t.Fatalf("%d naps for 10 records appended 2 ms apart at sequences 1,000 apart", n)
			}
		})
	}
}

// TestRT9NapEndsAtCloseWithoutArea: a Follower with no control area to
// sleep on (the writer is of an older version) naps on a timer; its Close
// must end the nap at once, as it ends that Follower's sleeps
// (sleepPlain), not napFor later.
func TestRT9NapEndsAtCloseWithoutArea(t *testing.T) {
	best := time.Hour
	for range 3 {
		testHookNoControl = true
		l := liveLog(t)
		testHookNoControl = false
		f := openFollower(t, l.dir, nil)
		it, err := f.NewIterator(1)
		if err != nil {
			t.Fatal(err)
		}
		startNapping(t, l, it, napRecords)
		var closed time.Time
		napHook(t, func(nit *Iterator, nap int) {
			if nit == it && closed.IsZero() {
				f.Close()
				closed = time.Now()
			}
		})
		ctx, cancel := spinCtx(t)
		if it.NextWait(ctx) || !errors.Is(it.Err(), ErrClosed) {
			t.Fatalf("NextWait: err %v, want ErrClosed", it.Err())
		}
		cancel()
		if closed.IsZero() {
			t.Fatal("no nap")
		}
		best = min(best, time.Since(closed))
		it.Close()
		testHookNap = nil
	}
	if best >= napFor {
		t.Fatalf("NextWait returned %v after the Follower's Close (best of 3), a whole nap", best)
	}
}

// TestRT9FollowerAllocsPerRecord: a Follower's Next and NextWait over
// records of a live writer (the fast path, chunk after chunk), DurableOnly
// too, allocate nothing per record once warm. (A rotation costs ~10: the
// next segment's open and map.)
func TestRT9FollowerAllocsPerRecord(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "durable"}[durable], func(t *testing.T) {
			dir := fastTempDir(t)
			l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 16 << 20})
			defer l.Close()
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: durable})
			it, err := f.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			p := make([]byte, 100)
			if _, err := l.Append(p); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if !it.Next() {
				t.Fatal(it.Err())
			}
			const runs, per = 20, 2000
			for range (runs + 2) * 2 * per {
				if _, err := l.Append(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, wait := range []bool{false, true} {
				n := testing.AllocsPerRun(runs, func() {
					for range per {
						if ok := wait && it.NextWait(ctx) || !wait && it.Next(); !ok {
							t.Fatalf("record after %d: %v", it.Seq(), it.Err())
						}
					}
				})
				if n != 0 {
					t.Errorf("NextWait %v: %.1f allocations per %d records", wait, n, per)
				}
			}
		})
	}
}

// TestRT9NapEndsPromptly: a nap in progress ends at once — not napFor
// later — when NextWait's ctx is cancelled (from another goroutine, during
// the nap), or when the Log (its own iterators) closes. Best of 3: the
// machine is loaded.
func TestRT9NapEndsPromptly(t *testing.T) {
	for _, c := range []struct{ name, it, by string }{
		{"cancel/log", "log", "cancel"},
		{"cancel/follower", "follower", "cancel"},
		{"close/log", "log", "close"},
	} {
		t.Run(c.name, func(t *testing.T) {
			best := time.Hour
			for range 3 {
				l := liveLog(t)
				it := napIterators(t, l)[c.it]()
				startNapping(t, l, it, napRecords)
				ctx, cancel := spinCtx(t)
				var ended atomic.Int64 // UnixNano of the cancel or Close
				napHook(t, func(nit *Iterator, nap int) {
					if nit != it || nap != 0 {
						return
					}
					if c.by == "close" {
						l.Close()
						ended.Store(time.Now().UnixNano())
						return
					}
					go func() {
						time.Sleep(200 * time.Microsecond) // into the nap
						ended.Store(time.Now().UnixNano())
						cancel()
					}()
				})
				want := context.Canceled
				if c.by == "close" {
					want = ErrClosed
				}
				if it.NextWait(ctx) || !errors.Is(it.Err(), want) {
					t.Fatalf("NextWait: err %v, want %v", it.Err(), want)
				}
				cancel()
				best = min(best, time.Since(time.Unix(0, ended.Load())))
				testHookNap = nil
			}
			if best >= napFor/2 {
				t.Fatalf("NextWait returned %v after the %s (best of 3)", best, c.by)
			}
		})
	}
}

// TestRT9FollowerCloseUnderFastPath: the Follower closes while iterators
// of it run their fast path (Next behind a bulk writer) or nap and sleep
// (NextWait) in other goroutines: each ends with ErrClosed, soon, having
// returned only whole records in order (and -race finds nothing).
func TestRT9FollowerCloseUnderFastPath(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 128 << 10})
	defer l.Close()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 19))
	for s := uint64(1); s <= 3000; s++ {
		if _, err := l.Append(rt9Payload(s, 1)); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wwg sync.WaitGroup
	wwg.Add(1)
	go func() { // a bulk writer
		defer wwg.Done()
		for s := l.LastSeq() + 1; !stop.Load(); s++ {
			if _, err := l.Append(rt9Payload(s, 1)); err != nil {
				t.Error(err)
				return
			}
			if s%256 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	defer func() { stop.Store(true); wwg.Wait() }()
	for round := range 8 {
		f, err := OpenFollower(dir, &FollowerOptions{DurableOnly: round%4 == 3})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for k := range 3 {
			it, err := f.NewIterator(1 + uint64(rng.IntN(2000)))
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer it.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				prev := uint64(0)
				for {
					ok := k == 0 && it.Next() || k != 0 && it.NextWait(ctx)
					if !ok {
						if it.Err() == nil && k == 0 {
							runtime.Gosched()
							continue
						}
						if !errors.Is(it.Err(), ErrClosed) {
							t.Errorf("iterator %d: %v, want ErrClosed", k, it.Err())
						}
						return
					}
					s, _, whole := rt9Decode(it.Value())
					if !whole || s != it.Seq() || it.Seq() <= prev {
						t.Errorf("iterator %d: record %d after %d (whole %v)", k, it.Seq(), prev, whole)
						return
					}
					prev = it.Seq()
				}
			}()
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		start := time.Now()
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the iterators ended %v after Close", d)
		}
	}
}

// TestRT9SeallessRotationAfterIdle: a follower that idled at the end of
// the active segment (its tries to open the next one now missLooks <<
// missDoublings looks apart) must not take thousands of looks to follow a
// rotation that left no seal (a segment a version 1 writer filled, which
// an upgraded writer rotates from without room for one) when the live
// writer's area tells that the log went on to the next segment. Simulated
// here by zeroing the seal of a rotation before the follower's next look.
func TestRT9SeallessRotationAfterIdle(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	defer l.Close()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if _, err := l.Append(rt9Payload(1, 1)); err != nil {
		t.Fatal(err)
	}
	if !it.Next() || it.Seq() != 1 {
		t.Fatalf("record 1: %v", it.Err())
	}
	// A writer that has not appended yet has prepared no next segment.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	defer l.Close()
	for range 1 << 13 { // idle at the end: the tries come missLooks<<missDoublings looks apart
		if it.Next() {
			t.Fatalf("a record after the end: %d", it.Seq())
		}
	}
	old := l.active
	big := make([]byte, 40<<10)
	for l.active == old {
		if _, err := l.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	if old.seal == 0 {
		t.Fatal("the rotation wrote no seal")
	}
	wf, err := os.OpenFile(old.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wf.WriteAt(make([]byte, sealSize), old.seal); err != nil {
		t.Fatal(err)
	}
	wf.Close()
	// The records of the old segment, then a record of the new one while
	// NextWait sleeps (the append publishes the segment before it wakes).
	last := l.LastSeq()
	for s := it.Seq() + 1; s < last; s++ {
		if !it.Next() || it.Seq() != s {
			t.Fatalf("record %d: %d %v", s, it.Seq(), it.Err())
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			time.Sleep(500 * time.Microsecond)
			if _, err := l.Append([]byte("after")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for it.Seq() < last {
		if !it.NextWait(ctx) {
			t.Fatal(it.Err())
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("%v to follow a rotation without a seal after an idle end, with a live writer appending every 0.5 ms", d)
	}
}

// TestRT9NoNapWhereNextWaitCannotWait: a ReadOnly Log's iterator never
// sees another record (NextWait fails at the end instead of waiting), and
// a poisoned Log gets none: a NextWait that returned napRecords records
// must not nap at the end before it says so.
func TestRT9NoNapWhereNextWaitCannotWait(t *testing.T) {
	for _, mode := range []string{"readonly", "poisoned"} {
		t.Run(mode, func(t *testing.T) {
			dir := fastTempDir(t)
			l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
			defer l.Close()
			for s := uint64(1); s <= 2*napRecords; s++ {
				if _, err := l.Append(rt9Payload(s, 1)); err != nil {
					t.Fatal(err)
				}
			}
			r := l
			if mode == "readonly" {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				r = mustOpen(t, dir, &Options{ReadOnly: true})
				defer r.Close()
			}
			it, err := r.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			naps := 0
			napHook(t, func(nit *Iterator, _ int) {
				if nit == it {
					naps++
				}
			})
			ctx, cancel := spinCtx(t)
			defer cancel()
			for s := uint64(1); s <= 2*napRecords; s++ {
				if !it.NextWait(ctx) || it.Seq() != s {
					t.Fatalf("record %d: %v", s, it.Err())
				}
			}
			if mode == "poisoned" {
				l.setPoison(errors.New("red9: a failed flush"))
			}
			if it.NextWait(ctx) || it.Err() == nil {
				t.Fatalf("NextWait at the end: %d, err %v", it.Seq(), it.Err())
			}
			if naps != 0 {
				t.Fatalf("%d naps before NextWait failed with %v", naps, it.Err())
			}
		})
	}
}
