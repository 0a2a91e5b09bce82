package mmapwal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// The idle path of a Follower's iterator: what NextWait costs and how it
// ends while nothing is appended.

// sleepBound is how long these tests let a NextWait that must return take
// before they fail: far below the PollInterval they set (an hour), far
// above any scheduling delay. It bounds a hang; it measures nothing.
const sleepBound = 20 * time.Second

// TestFollowerWaitEnds: with a PollInterval of an hour, a NextWait that
// sleeps (on the futex word with a control area, on a timer without one)
// returns at once when its context is cancelled (Err: context.Canceled, not
// sticky) and when the Follower is closed (ErrClosed).
func TestFollowerWaitEnds(t *testing.T) {
	for _, control := range []bool{true, false} {
		name := map[bool]string{true: "futex", false: "no control area"}[control]
		t.Run(name+"/cancel", func(t *testing.T) { followerWaitEnds(t, control, false) })
		t.Run(name+"/close", func(t *testing.T) { followerWaitEnds(t, control, true) })
	}
}

func followerWaitEnds(t *testing.T, control, byClose bool) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !control {
		rt3NoControl(t, l)
	}
	if _, err := l.Append(folPayload(1)); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, &FollowerOptions{PollInterval: time.Hour})
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	expect(t, it, 1)
	for round := range 2 { // the second reuses the iterator: ctx.Err is not sticky
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan bool, 1)
		go func() { res <- it.NextWait(ctx) }()
		if control {
			// It sleeps on the futex word once sleepOn is set.
			for deadline := time.Now().Add(sleepBound); it.fol.sleepOn.Load() == nil; {
				if time.Now().After(deadline) {
					t.Fatal("the iterator never went to sleep on the futex word")
				}
				time.Sleep(100 * time.Microsecond)
			}
		} else {
			time.Sleep(5 * time.Millisecond) // let it reach its sleep (either way it must end)
		}
		if byClose && round == 1 {
			closed := make(chan error, 1)
			go func() { closed <- f.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(sleepBound):
				t.Fatal("Follower.Close waits for a sleeping NextWait's PollInterval")
			}
		} else {
			cancel()
		}
		select {
		case ok := <-res:
			if ok {
				t.Fatalf("round %d: NextWait returned a record; none was appended", round)
			}
		case <-time.After(sleepBound):
			t.Fatalf("round %d: NextWait still sleeps %v after its end (PollInterval %v)", round, sleepBound, time.Hour)
		}
		cancel()
		if byClose && round == 1 {
			if !errors.Is(it.Err(), ErrClosed) {
				t.Fatalf("after Follower.Close: %v", it.Err())
			}
			return
		}
		if !errors.Is(it.Err(), context.Canceled) {
			t.Fatalf("round %d: Err after cancel: %v", round, it.Err())
		}
	}
	// Not sticky: a record appended now comes with a live context.
	if _, err := l.Append(folPayload(2)); err != nil {
		t.Fatal(err)
	}
	expect(t, it, 2)
}

// TestFollowerIdleLooksCostNothing: looks at the end of the active segment
// (what NextWait repeats while it spins) allocate nothing and map nothing,
// also every 16th, which checks that the writer's prepared next segment
// still has its name (it used to map it afresh).
func TestFollowerIdleLooksCostNothing(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(folPayload(1)); err != nil {
		t.Fatal(err)
	}
	waitPrepared(l) // segment 2 exists, not active
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	expect(t, it, 1)
	if it.Next() {
		t.Fatal("a record too many")
	}
	next := it.fol.nextF
	if next == nil || next.num != 2 {
		t.Fatalf("the prepared segment 2 is not held at the end: %+v", next)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if it.Next() {
			t.Fatal("a record too many")
		}
	}); a != 0 {
		t.Fatalf("%v allocations per idle look", a)
	}
	if it.fol.nextF != next {
		t.Fatal("idle looks mapped the prepared segment again")
	}
	// Still right: a record appended now comes.
	if _, err := l.Append(folPayload(2)); err != nil {
		t.Fatal(err)
	}
	expect(t, it, 2)
}

// TestFollowerRecheckByOFD: once a follower trusts a writer that holds the
// OFD lock on CONTROL, its rechecks ask that lock (one fcntl) instead of
// reading the lock holders again, and the lock gone withdraws the trust at
// the next recheck.
func TestFollowerRecheckByOFD(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(folPayload(1)); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	expect(t, it, 1)
	st, err := f.state()
	if err != nil || !st.trusted {
		t.Fatalf("the writer's area is not trusted: %+v %v", st, err)
	}
	judged := f.judges.Load()
	for range 3 {
		f.due.Store(true)
		if st, err := f.state(); err != nil || !st.trusted {
			t.Fatalf("a recheck with the writer alive: %+v %v", st, err)
		}
	}
	if n := f.judges.Load(); n != judged {
		t.Fatalf("rechecks read the lock holders %d times", n-judged)
	}
	// The writer's lock gone (as when its process dies): not trusted
	// after the next recheck.
	if err := sysutil.UnlockOFD(l.ctl.f); err != nil {
		t.Fatal(err)
	}
	f.due.Store(true)
	if st, err := f.state(); err != nil || st.trusted {
		t.Fatalf("trusted after the writer's OFD lock went: %+v %v", st, err)
	}
}

// TestFollowerTailNextUnopenable: at the end of the last segment, a next
// segment file that cannot be opened yet (the writer's preparer made it
// and has not written its header; here an empty file beside a closed log)
// is not opened again at every look: each open cost 11 allocations, which
// made a follower at 1,000 appends/s allocate ~4 times per record.
func TestFollowerTailNextUnopenable(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(folPayload(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segment.Name(2)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	expect(t, it, 1)
	if a := testing.AllocsPerRun(160, func() {
		if it.Next() {
			t.Fatalf("a record after the end: %d", it.Seq())
		}
	}); a > 2 { // 9 when every look opens the file again; 1 now (one open in 16, and the closed area's look)
		t.Fatalf("%.1f allocations per look at the end", a)
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
}
