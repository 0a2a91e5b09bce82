package mmapwal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// Regression tests of the writer's side of the control area (control.go):
// the listeners word, a poisoned truncation, a CONTROL file shrunk under a
// follower, NextWait on a ReadOnly Log.

// runInChild runs body in a child process (this test binary re-executed
// with only the calling test selected): in the child it runs body and
// exits 0; in the parent it returns the command, not started.
func runInChild(t *testing.T, env string, body func()) *exec.Cmd {
	t.Helper()
	if os.Getenv("RT3_CHILD") == env {
		body()
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RT3_CHILD="+env)
	return cmd
}

// A follower SIGKILLed while it sleeps in NextWait leaves its flags in the
// listeners word; the writer's next append clears them (it wakes the
// futex once, for no one), and a new writer's open starts from none: with
// no live reader, an append pays the one load again.
func TestControlKilledFollowerExpires(t *testing.T) {
	dir := os.Getenv("RT3_DIR")
	cmd := runInChild(t, "killed-follower", func() {
		f, err := OpenFollower(dir, nil)
		if err != nil {
			os.Exit(3)
		}
		it, _ := f.NewIterator(1 << 40)
		it.NextWait(context.Background()) // sleeps on the futex until killed
		os.Exit(4)
	})
	dir = fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append([]byte("one"))
	cmd.Env = append(cmd.Env, "RT3_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for l.listen.Load()&listenFutex == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never waited")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	l.Append([]byte("more"))
	if v := l.listen.Load(); v != 0 {
		t.Fatalf("listeners word %#x after the only follower was killed and one append", v)
	}
	l.ctl.listen.Store(listenFollower | listenFutex) // what a killed one may leave
	l.Close()
	l, err = Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v := l.listen.Load(); v != 0 {
		t.Fatalf("listeners word %#x after the writer reopened", v)
	}
}

// Flags that no live reader sets again expire: a follower flag after
// listenDecay appends, waiter flags at the first append (or DurableSeq
// rise); live followers and waiters keep being served (the wake-up tests).
func TestControlListenFlagsExpire(t *testing.T) {
	l, err := Open(fastTempDir(t), folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.listen.Or(listenFollower)
	for i := range listenDecay {
		if l.listen.Load() == 0 {
			t.Fatalf("follower flag cleared after %d appends, before listenDecay", i)
		}
		l.Append([]byte("r"))
	}
	if v := l.listen.Load(); v != 0 {
		t.Fatalf("listeners word %#x after listenDecay appends", v)
	}
	for _, flag := range []uint64{listenFutex, listenLocal, listenFollower | listenFutex} {
		l.listen.Or(flag)
		l.Append([]byte("r"))
		if v := l.listen.Load(); v != 0 {
			t.Fatalf("flags %#x: word %#x after an append", flag, v)
		}
		l.listen.Or(flag)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if v := l.listen.Load(); v != 0 {
			t.Fatalf("flags %#x: word %#x after a Sync", flag, v)
		}
	}
}

// A writer without a control area keeps the listeners word in its own
// memory: its in-process waiters are woken through it.
func TestControlListenWithoutArea(t *testing.T) {
	l := liveLog(t)
	rt3NoControl(t, l)
	if l.listen != &l.ownListen {
		t.Fatal("the listeners word still points into the control area")
	}
	it, _ := l.NewIterator(1)
	defer it.Close()
	res := make(chan bool)
	go func() { res <- it.NextWait(context.Background()) }()
	for l.listen.Load()&listenLocal == 0 {
		time.Sleep(time.Millisecond)
	}
	l.Append([]byte("x"))
	if !<-res || it.Seq() != 1 {
		t.Fatalf("NextWait: %v", it.Err())
	}
}

// A TruncateBack that fails and poisons the log leaves the control area
// readable: a follower returns what the writer's own iterators return,
// then NextWait ends with ErrPoisoned (no record can come) instead of
// waiting on an odd epoch forever.
func TestControlPoisonedCutFollowers(t *testing.T) {
	for _, durableOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("durableOnly=", durableOnly), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncAlways})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := range 250 {
				if _, err := l.Append(fmt.Appendf(nil, "rec-%d-%0*d", i, 100+i%100, 0)); err != nil {
					t.Fatal(err)
				}
			}
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
			it, _ := f.NewIterator(1)
			defer it.Close()
			if !nextWithin(it) || it.Seq() != 1 {
				t.Fatalf("record 1: %v", it.Err())
			}
			segs := l.segments()
			newest := segs[len(segs)-1].path
			keep := segs[0].lastSeq() - 3
			waitPrepared(l)
			restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
				if op == sysutil.OpRemove && path == newest {
					return syscall.EIO
				}
				return nil
			})
			err = l.TruncateBack(keep)
			restore()
			if !errors.Is(err, ErrPoisoned) {
				t.Fatalf("TruncateBack: %v", err)
			}
			own, _ := l.NewIterator(2)
			defer own.Close()
			var want []uint64
			for own.Next() {
				want = append(want, own.Seq())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, seq := range want {
				if !it.NextWait(ctx) || it.Seq() != seq {
					t.Fatalf("follower: record %d: got %d (%v); the writer's iterator reads %d..%d",
						seq, it.Seq(), it.Err(), want[0], want[len(want)-1])
				}
			}
			if it.NextWait(ctx) {
				t.Fatalf("follower returned %d, above what the poisoned writer's iterators read (..%d)", it.Seq(), want[len(want)-1])
			}
			if !errors.Is(it.Err(), ErrPoisoned) {
				t.Fatalf("err %v, want ErrPoisoned", it.Err())
			}
		})
	}
}

// CONTROL shrunk under a follower that maps it (an operator's ': >
// CONTROL', a copy tool): the follower's next look is an error it recovers
// from (it scans the frames), never a SIGBUS that kills the process.
func TestControlShrunkUnderFollower(t *testing.T) {
	dir := os.Getenv("RT3_DIR")
	cmd := runInChild(t, "shrunk-control", func() {
		f, err := OpenFollower(dir, nil)
		if err != nil {
			os.Exit(3)
		}
		if f.LastSeq() != 10 { // maps CONTROL
			os.Exit(4)
		}
		it, _ := f.NewIterator(1)
		it.Next()
		if err := os.Truncate(filepath.Join(dir, controlName), 0); err != nil {
			os.Exit(5)
		}
		if f.LastSeq() != 10 || f.DurableSeq() != 10 {
			os.Exit(6)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		for seq := uint64(2); seq <= 10; seq++ {
			if !it.NextWait(ctx) || it.Seq() != seq {
				os.Exit(7)
			}
		}
		if it.NextWait(ctx) || !errors.Is(it.Err(), context.DeadlineExceeded) {
			os.Exit(8)
		}
		it.Close()
		f.Close()
	})
	dir = fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		l.Append(folPayload(seq))
	}
	l.Close()
	cmd.Env = append(cmd.Env, "RT3_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(string(out), "\n")
		t.Fatalf("the follower process failed: %v: %s", err, first)
	}
}

// NextWait at the end of a ReadOnly Log does not wait for records it can
// never see: it ends with a sticky ErrInvalidArgument, at once. Records it
// read at Open come first, DurableOnly ones too.
func TestNextWaitReadOnly(t *testing.T) {
	for _, durableOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("durableOnly=", durableOnly), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for seq := uint64(1); seq <= 5; seq++ {
				l.Append(folPayload(seq))
			}
			l.Sync()
			l.Append(folPayload(6)) // not durable when the ReadOnly Log opens
			ro, err := Open(dir, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			it, err := ro.NewIteratorWith(1, &IteratorOptions{DurableOnly: durableOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			n := uint64(6)
			if durableOnly {
				n = ro.DurableSeq()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for seq := uint64(1); seq <= n; seq++ {
				if !it.NextWait(ctx) || it.Seq() != seq {
					t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
				}
			}
			l.Append(folPayload(7)) // a ReadOnly Log does not see it
			// Sticky: the second call fails the same way.
			for range 2 {
				if it.NextWait(ctx) {
					t.Fatalf("record %d", it.Seq())
				}
				if !errors.Is(it.Err(), ErrInvalidArgument) || ctx.Err() != nil {
					t.Fatalf("err %v (ctx %v), want ErrInvalidArgument at once", it.Err(), ctx.Err())
				}
			}
		})
	}
}

// A failed flush poisons the log outside any truncation: a DurableOnly
// follower, which would wait for a DurableSeq that never rises again, and
// a plain one at the end, end with ErrPoisoned instead of waiting.
func TestControlPoisonedFlushFollowers(t *testing.T) {
	for _, durableOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("durableOnly=", durableOnly), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for seq := uint64(1); seq <= 5; seq++ {
				l.Append(folPayload(seq))
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(6); seq <= 8; seq++ {
				l.Append(folPayload(seq))
			}
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
			it, _ := f.NewIterator(1)
			defer it.Close()
			want := seqRange(1, 8)
			if durableOnly {
				want = seqRange(1, 5)
			}
			expect(t, it, want...)
			res := make(chan bool)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			go func() { res <- it.NextWait(ctx) }()
			restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpMsync, 1, syscall.EIO, true))
			err = l.Sync()
			restore()
			if !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Sync: %v", err)
			}
			if <-res {
				t.Fatalf("record %d after the poisoning", it.Seq())
			}
			if !errors.Is(it.Err(), ErrPoisoned) {
				t.Fatalf("err %v, want ErrPoisoned", it.Err())
			}
		})
	}
}

// No lost wake-up through the listeners word: readers of every kind (the
// writer's iterators, plain and DurableOnly, and Followers whose poll
// interval is an hour, so that a lost futex wake-up would hang them) each
// get every record before the next is appended, while the writer clears
// their flags (wake-ups, Syncs, the follower flag's decay, forced here at
// random).
func TestControlNoLostWakeup(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var its []*Iterator
	for k := range 4 {
		var it *Iterator
		switch k {
		case 0:
			it, err = l.NewIterator(1)
		case 1:
			it, err = l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
		default:
			f := openFollower(t, dir, &FollowerOptions{PollInterval: time.Hour, DurableOnly: k == 3})
			it, err = f.NewIterator(1)
		}
		if err != nil {
			t.Fatal(err)
		}
		its = append(its, it)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make([]chan uint64, len(its))
	defer func() {
		if t.Failed() {
			return // a reader may sleep for its hour: leave it
		}
		cancel() // the readers end before their iterators close
		for k := range got {
			for range got[k] {
			}
			its[k].Close()
		}
	}()
	for k, it := range its {
		got[k] = make(chan uint64, 1)
		go func() {
			for it.NextWait(ctx) {
				got[k] <- it.Seq()
			}
			close(got[k])
		}()
	}
	rnd := rand.New(rand.NewPCG(testSeed(t), 0))
	const records = 300
	for seq := uint64(1); seq <= records; seq++ {
		if _, err := l.Append(folPayload(seq)); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil { // the DurableOnly readers need it
			t.Fatal(err)
		}
		if rnd.IntN(4) == 0 {
			l.wmu.Lock()
			l.listen.And(^uint64(listenFollower)) // the decay
			l.wmu.Unlock()
		}
		for k := range its {
			select {
			case s := <-got[k]:
				if s != seq {
					t.Fatalf("reader %d: record %d, want %d", k, s, seq)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("reader %d never woke for record %d (listeners word %#x)", k, seq, l.listen.Load())
			}
		}
		if rnd.IntN(2) == 0 {
			time.Sleep(time.Duration(rnd.IntN(200)) * time.Microsecond) // let them fall asleep
		}
	}
}
