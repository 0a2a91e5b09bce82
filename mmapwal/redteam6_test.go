package mmapwal

// Red team 6: properties of this session's changes (the follower's trust
// recheck, ctx cancellation of a sleeping follower, publication every
// 64th append, the stepped verification of deferred sealed segments) that
// were tried and hold. Repros of broken properties, if any, are in
// redteam6fail_test.go behind the redteam6 build tag.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRT6CancelRacesClose: a NextWait asleep (PollInterval an hour, on the
// futex word or, without a control area, on a timer) whose context is
// cancelled while the Follower closes, round after round: every NextWait
// ends (ErrClosed or context.Canceled, never a record), Close returns,
// and no goroutine is left (the AfterFunc registrations, the trust
// recheck).
func TestRT6CancelRacesClose(t *testing.T) {
	for _, control := range []bool{true, false} {
		dir := fastTempDir(t)
		l, err := Open(dir, folOpts())
		if err != nil {
			t.Fatal(err)
		}
		if !control {
			rt3NoControl(t, l)
		}
		if _, err := l.Append(folPayload(1)); err != nil {
			t.Fatal(err)
		}
		before := runtime.NumGoroutine()
		for round := 0; round < 40; round++ {
			f, err := OpenFollower(dir, &FollowerOptions{PollInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			its := make([]*Iterator, 3)
			for i := range its {
				its[i], _ = f.NewIterator(1)
				expect(t, its[i], 1)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			res := make(chan error, len(its))
			for _, it := range its {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if it.NextWait(ctx) {
						res <- errors.New("NextWait returned a record; none was appended")
						return
					}
					if e := it.Err(); !errors.Is(e, ErrClosed) && !errors.Is(e, context.Canceled) {
						res <- e
					}
				}()
			}
			if round%2 == 0 {
				runtime.Gosched()
			} else {
				time.Sleep(time.Duration(round%5) * 100 * time.Microsecond)
			}
			closed := make(chan error, 1)
			go func() { closed <- f.Close() }()
			if round%3 != 0 {
				cancel()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(sleepBound):
				cancel()
				t.Fatalf("control=%v round %d: a NextWait still sleeps after Close", control, round)
			}
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(sleepBound):
				t.Fatalf("control=%v round %d: Close hangs", control, round)
			}
			close(res)
			for err := range res {
				t.Fatalf("control=%v round %d: %v", control, round, err)
			}
			cancel()
			for _, it := range its {
				it.Close()
			}
		}
		l.Close()
		var after int
		for deadline := time.Now().Add(sleepBound); ; time.Sleep(time.Millisecond) {
			if after = runtime.NumGoroutine(); after <= before || time.Now().After(deadline) {
				break
			}
		}
		if after > before {
			buf := make([]byte, 1<<16)
			t.Fatalf("control=%v: %d goroutines before, %d after 40 followers closed:\n%s", control, before, after, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestRT6UnpublishedTail: the writer publishes last seq every 64th append
// only; a trusted follower still reports LastSeq, Reads and iterates the
// records past the last publication, byte for byte, and a DurableOnly one
// never returns a record above the DurableSeq it reports.
func TestRT6UnpublishedTail(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, nil)
	fd := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	it, _ := f.NewIterator(1)
	defer it.Close()
	dit, _ := fd.NewIterator(1)
	defer dit.Close()
	seq := uint64(0)
	for round := 1; round <= 30; round++ {
		n := uint64(round*7%65 + 1)
		for range n {
			seq++
			if got, err := l.Append(folPayload(seq)); err != nil || got != seq {
				t.Fatalf("append %d: %d %v", seq, got, err)
			}
		}
		if got := f.LastSeq(); got != seq {
			t.Fatalf("round %d: follower LastSeq %d, writer %d", round, got, seq)
		}
		if b, err := f.Read(seq); err != nil || !bytes.Equal(b, folPayload(seq)) {
			t.Fatalf("round %d: Read(%d): %v", round, seq, err)
		}
		for it.Seq() < seq {
			if !nextWithin(it) || !bytes.Equal(it.Value(), folPayload(it.Seq())) {
				t.Fatalf("round %d: iterator at %d: %v", round, it.Seq(), it.Err())
			}
		}
		if round%3 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		ds := fd.DurableSeq()
		if ds > l.DurableSeq() {
			t.Fatalf("round %d: follower DurableSeq %d above the writer's %d", round, ds, l.DurableSeq())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		for dit.NextWait(ctx) {
			if dit.Seq() > l.DurableSeq() || !bytes.Equal(dit.Value(), folPayload(dit.Seq())) {
				cancel()
				t.Fatalf("round %d: DurableOnly follower returned %d, writer DurableSeq %d", round, dit.Seq(), l.DurableSeq())
			}
		}
		cancel()
		if dit.Err() != nil && !errors.Is(dit.Err(), context.DeadlineExceeded) {
			t.Fatalf("round %d: DurableOnly iterator: %v", round, dit.Err())
		}
	}
}

// TestRT6SteppedVerificationDamage: damage in the middle of a sealed
// segment Open deferred, found by an iterator's stepped verification (from
// the start, and from a seek into the damaged segment): every
// record returned has its own bytes, in order, and the iterator stops with
// a *CorruptionError, never skipping the damage.
func TestRT6SteppedVerificationDamage(t *testing.T) {
	base := fastTempDir(t)
	l, err := Open(base, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	for s := uint64(1); s <= n; s++ {
		if _, err := l.Append(folPayload(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(base)
	var segs []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") || strings.HasSuffix(e.Name(), ".wal") {
			segs = append(segs, e.Name())
		}
	}
	if len(segs) < 4 {
		t.Fatalf("want several segments, have %v", ents)
	}
	tested := 0
	for _, at := range []int64{folSegSize / 3, folSegSize / 2, folSegSize * 7 / 8} {
		dir := fastTempDir(t)
		if err := copyDir(base, dir); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, segs[1])
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[at] ^= 0x40
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, folOpts())
		if err != nil {
			continue // Open itself may find it (a torn segment it reads): not this test's case
		}
		tested++
		mid := uint64(n * 3 / (2 * len(segs)))
		for _, from := range []uint64{1, mid} {
			it, err := l.NewIterator(from)
			if err != nil {
				t.Fatal(err)
			}
			prev := uint64(0)
			for it.Next() {
				if it.Seq() <= prev || it.Seq() < from || !bytes.Equal(it.Value(), folPayload(it.Seq())) {
					t.Fatalf("damage at %d of %s: record %d after %d has other bytes", at, segs[1], it.Seq(), prev)
				}
				prev = it.Seq()
			}
			var ce *CorruptionError
			if !errors.As(it.Err(), &ce) {
				t.Fatalf("damage at %d of %s: iterator from %d ended at %d with %v, want *CorruptionError", at, segs[1], from, prev, it.Err())
			}
			it.Close()
		}
		l.Close()
	}
	if tested == 0 {
		t.Fatal("Open found every damage itself: the stepped verification was not exercised")
	}
}

// TestRT6ClosedAreaUnseenReset: a follower that returned 1..50 and reuses
// a closed area's verdict (the recheck held off: within trustRecheck)
// while a writer that does not maintain the area Resets the log (to
// below, inside, just past and past what it returned) and appends with
// other bytes: the per-record checks end it with ErrTruncated, never a
// record of the new generation. (Its LastSeq field is the closed area's
// 100 after Reset(1): see TestRT6ClosedAreaStaleTail.)
func TestRT6ClosedAreaUnseenReset(t *testing.T) {
	for _, next := range []uint64{1, 40, 51, 101} {
		dir := fastTempDir(t)
		l, err := Open(dir, folOpts())
		if err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 1, 100, 1)
		f := openFollower(t, dir, nil)
		it, _ := f.NewIterator(1)
		for s := uint64(1); s <= 50; s++ {
			if !nextWithin(it) || it.Seq() != s {
				t.Fatalf("record %d: %v", s, it.Err())
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		f.LastSeq()      // a look: the closed area judged
		f.recheck.Stop() // the next look comes within trustRecheck
		testHookNoControl = true
		l2, err := Open(dir, folOpts())
		testHookNoControl = false
		if err != nil {
			t.Fatal(err)
		}
		if err := l2.Reset(next); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l2, next, next+60, 2)
		var te *TruncatedError
		if nextWithin(it) {
			t.Fatalf("after an unseen Reset(%d): record %d returned, want ErrTruncated", next, it.Seq())
		} else if !errors.As(it.Err(), &te) {
			t.Fatalf("after an unseen Reset(%d): %v, want ErrTruncated", next, it.Err())
		}
		it.Close()
		l2.Close()
	}
}
