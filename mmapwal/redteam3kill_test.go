package mmapwal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rt3KillPayload is record seq written by writer generation gen: its
// sequence and generation, then filler whose length and bytes depend on both.
func rt3KillPayload(seq, gen uint64) []byte {
	n := 16 + int(splitmix(seq*31+gen)%1500)
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[8:], gen)
	for i := 16; i < n; i++ {
		b[i] = byte(seq + gen*7 + uint64(i))
	}
	return b
}

func rt3KillCheck(seq uint64, b []byte) (gen uint64, ok bool) {
	if len(b) < 16 || binary.LittleEndian.Uint64(b) != seq {
		return 0, false
	}
	gen = binary.LittleEndian.Uint64(b[8:])
	return gen, string(rt3KillPayload(seq, gen)) == string(b)
}

// The child writer: appends (single records and batches), syncs now and
// then and, with RT3_CUTS=1, cuts the tail back and re-appends, until killed.
func rt3KillWriter() {
	dir := os.Getenv("RT3_DIR")
	gen, _ := strconv.ParseUint(os.Getenv("RT3_GEN"), 10, 64)
	cuts := os.Getenv("RT3_CUTS") == "1"
	l, err := Open(dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	r := rand.New(rand.NewPCG(gen, 99))
	for {
		next := l.LastSeq() + 1
		switch x := r.IntN(100); {
		case x < 70:
			if _, err := l.Append(rt3KillPayload(next, gen)); err != nil {
				os.Exit(4)
			}
		case x < 85:
			var recs [][]byte
			for k := range 2 + r.IntN(4) {
				recs = append(recs, rt3KillPayload(next+uint64(k), gen))
			}
			if _, err := l.AppendBatch(recs); err != nil {
				os.Exit(5)
			}
		case x < 95:
			l.Sync()
		default:
			if cuts && l.LastSeq() > 10 {
				if err := l.TruncateBack(l.LastSeq() - uint64(1+r.IntN(8))); err != nil {
					os.Exit(6)
				}
			}
		}
		if r.IntN(50) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// Writers in child processes are SIGKILLed at random and restarted (the
// next one's Open repairs the torn tail); followers in this process follow
// throughout. Every record a follower returned and was not told was cut
// (ErrTruncated) must be, byte for byte, the record the final log holds at
// that sequence; sequences strictly increase per iterator. DurableOnly
// followers have the same check (a record a recovery cut would differ or
// be missing).
//
//	go test -race -count=1 -run 'TestRedTeam3KillWriter' ./mmapwal
//	RT3_SEED=n RT3_ROUNDS=n to vary.
func TestRedTeam3KillWriter(t *testing.T) {
	if os.Getenv("RT3_CHILD") == "kill-writer" {
		rt3KillWriter()
		return
	}
	// with-cuts rolls back from TruncatedError.Seq, as the API says a
	// consumer may; with-cuts-rollback-all forgets everything at each
	// ErrTruncated and re-reads from 1, so that only a silent change fails.
	for _, c := range []struct {
		name      string
		cuts, all bool
	}{{"appends", false, false}, {"with-cuts", true, false}, {"with-cuts-rollback-all", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			rt3KillRun(t, c.cuts, c.all)
		})
	}
}

type rt3Applied struct {
	mu      sync.Mutex
	applied map[uint64]uint64 // seq -> gen
	errs    []string
	last    uint64
}

func rt3KillRun(t *testing.T, cuts, rollbackAll bool) {
	seed := uint64(testSeed(t))
	if s := os.Getenv("RT3_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rounds := envCount(t, "RT3_ROUNDS", 6)
	t.Logf("seed %d rounds %d", seed, rounds)
	r := rand.New(rand.NewPCG(seed, 1))
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	fols := []*rt3Applied{}
	for k, durableOnly := range []bool{false, false, true} {
		a := &rt3Applied{applied: map[uint64]uint64{}}
		fols = append(fols, a)
		f, err := OpenFollower(dir, &FollowerOptions{DurableOnly: durableOnly})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt3Follow(ctx, f, a, fmt.Sprintf("follower %d (DurableOnly %v)", k, durableOnly), rollbackAll)
		}()
	}
	for gen := uint64(1); gen <= uint64(rounds); gen++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRedTeam3KillWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RT3_CHILD=kill-writer", "RT3_DIR="+dir, "RT3_GEN="+strconv.FormatUint(gen, 10),
			"RT3_CUTS="+map[bool]string{false: "0", true: "1"}[cuts])
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+r.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	// The last recovery, in this process; then the followers catch up.
	l, err = Open(dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	final := map[uint64][]byte{}
	it, _ := l.NewIterator(1)
	for it.Next() {
		final[it.Seq()] = append([]byte(nil), it.Value()...)
	}
	it.Close()
	last := l.LastSeq()
	l.Sync()
	l.Close()
	t.Logf("final LastSeq %d", last)
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range fols {
		for {
			a.mu.Lock()
			done := a.last >= last
			a.mu.Unlock()
			if done || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop()
	wg.Wait()
	for k, a := range fols {
		for _, e := range a.errs {
			t.Errorf("follower %d: %s", k, e)
		}
		bad := 0
		for seq, gen := range a.applied {
			fb, ok := final[seq]
			if !ok || string(fb) != string(rt3KillPayload(seq, gen)) {
				if bad < 5 {
					fgen, _ := rt3KillCheck(seq, fb)
					t.Errorf("follower %d applied record %d of writer %d and was never told it was cut; the log holds %v (writer %d)", k, seq, gen, ok, fgen)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("follower %d: %d records applied that the log no longer holds", k, bad)
		}
		if a.last < last {
			t.Errorf("follower %d reached %d of %d", k, a.last, last)
		}
	}
}

// rt3Follow follows f until ctx ends, restarting after each ErrTruncated
// from its Seq (forgetting what it applied from there).
func rt3Follow(ctx context.Context, f *Follower, a *rt3Applied, name string, rollbackAll bool) {
	from := uint64(1)
	for ctx.Err() == nil {
		it, err := f.NewIterator(from)
		if err != nil {
			a.errs = append(a.errs, err.Error())
			return
		}
		prev := uint64(0)
		for it.NextWait(ctx) {
			seq := it.Seq()
			gen, ok := rt3KillCheck(seq, it.Value())
			a.mu.Lock()
			if !ok {
				a.errs = append(a.errs, fmt.Sprintf("record %d: bytes of no writer (%d bytes)", seq, len(it.Value())))
			}
			if seq <= prev {
				a.errs = append(a.errs, fmt.Sprintf("record %d after %d", seq, prev))
			}
			prev = seq
			a.applied[seq] = gen
			a.last = seq
			a.mu.Unlock()
		}
		err = it.Err()
		it.Close()
		var te *TruncatedError
		switch {
		case errors.As(err, &te):
			if rollbackAll {
				te = &TruncatedError{Seq: 1}
			}
			a.mu.Lock()
			for s := range a.applied {
				if s >= te.Seq {
					delete(a.applied, s)
				}
			}
			a.last = te.Seq - 1
			a.mu.Unlock()
			from = te.Seq
		case ctx.Err() != nil:
			return
		default:
			a.mu.Lock()
			a.errs = append(a.errs, fmt.Sprintf("%s: %v", name, err))
			a.mu.Unlock()
			return
		}
	}
}
