package mmapwal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFollowerCrash: a child process writes the log — single records,
// batches, reservations, AppendSeq gaps, rotation into small segments,
// TruncateFront and TruncateBack — and is SIGKILLed at random and restarted,
// while followers in this process (DurableOnly and not, one of them started
// while no writer runs) check every record they return:
//
//   - sequences strictly increase within an iterator (each once);
//   - each record is byte-identical to lcPayload of the (seq, generation,
//     epoch) its header names: never a partial or stale frame;
//   - a follower never returns, without ErrTruncated first, a record
//     written after a truncation (a TruncateBack, or the recovery of the next
//     writer) that removed a record it had returned: never different records
//     at the same sequences;
//   - a DurableOnly follower never returned a record that the recovery of a
//     later writer cut (TruncateBack may remove durable records on purpose);
//   - every follower reaches the last record of the final writer.
//
// The child logs its generation's LastSeq after Open ("O"), and each
// TruncateBack before ("t") and after ("T") it, in an events file; the
// checks read it. Sizes: 10 generations of 0.2-0.6 s by default, 80 with
// MMAPWAL_TORTURE=1. Seeded by MMAPWAL_SEED (the kill timing is not
// reproducible).
func TestFollowerCrash(t *testing.T) { followerCrash(t, 0) }

// TestFollowerCrashRecycled is TestFollowerCrash with writers that recycle
// segments (Options.RecycleSegments 2, FORMAT.md §9.7) and truncate the
// front often: followers in this process read segments that the writer
// moves to its pool and reuses under them, and must take them for removed
// (ErrNotFound, or a re-validation), never return a stale or rewritten
// frame, never report corruption.
func TestFollowerCrashRecycled(t *testing.T) { followerCrash(t, 2) }

func followerCrash(t *testing.T, recycle int) {
	if os.Getenv(lcChildEnv) != "" {
		lcChildMain()
		return
	}
	seed := testSeed(t)
	gens := 10
	if tortureMode() {
		gens = 80
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	base := t.TempDir()
	dir := filepath.Join(base, "log")
	ev := &lcEvents{path: filepath.Join(base, "events")}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var lcs []*lcFollower
	startFollower := func(durableOnly bool) {
		f := &lcFollower{t: t, dir: dir, ev: ev, durableOnly: durableOnly, id: len(lcs)}
		lcs = append(lcs, f)
		wg.Go(func() { f.run(ctx) })
	}

	gen := uint32(0)
	for g := range gens {
		gen++
		child, err := startLcChild(t.Name(), dir, ev.path, seed, gen, recycle)
		if err != nil {
			t.Fatal(err)
		}
		if g == 0 { // the log exists once the first writer has opened it
			if err := ev.waitOpen(gen, child); err != nil {
				child.kill()
				t.Fatal(err)
			}
			startFollower(false)
			startFollower(false)
			startFollower(true)
		}
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		child.kill()
		if out := child.out.String(); strings.Contains(out, "FAIL") || strings.Contains(out, "panic") {
			t.Fatalf("generation %d: the child failed:\n%s", gen, out)
		}
		if g == 1 { // a follower that starts while no writer runs
			startFollower(true)
			startFollower(false)
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond) // followers wait on a log nobody writes
		}
		if t.Failed() {
			break
		}
	}

	// A last writer in this process: recovery, a few records, a Sync, Close;
	// every follower must reach its last record.
	gen++
	l, err := Open(dir, &Options{SegmentSize: lcSegSize, Durability: SyncManual, RecycleSegments: recycle})
	if err != nil {
		t.Fatal(err)
	}
	ev.log("O %d %d", gen, l.LastSeq())
	for range 5 {
		if _, err := l.Append(lcPayload(l.LastSeq()+1, gen, 0)); err != nil {
			t.Fatal(err)
		}
	}
	last := l.LastSeq()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := readMeta(dir); recycle > 0 && (err != nil || !m.recycled) {
		t.Fatalf("no writer reused a segment file (META %+v, %v): the test proves nothing", m, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range lcs {
		for f.seen.Load() < last && !f.done.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	events := ev.read(t)
	total := 0
	for _, f := range lcs {
		total += f.returned
		if got := f.seen.Load(); got != last && !t.Failed() {
			t.Errorf("follower %d (DurableOnly %v) reached %d, the log ends at %d", f.id, f.durableOnly, got, last)
		}
		if f.durableOnly {
			for _, r := range f.histEnds {
				if e, ok := recoveryCut(events, r); ok {
					t.Errorf("DurableOnly follower %d returned record %d (generation %d epoch %d), which the recovery of generation %d cut (LastSeq %d)",
						f.id, r.seq, r.gen, r.epoch, e.gen, e.cut)
				}
			}
		}
	}
	t.Logf("%d generations, %d followers, %d records returned in all, %d events, log ends at %d", gen, len(lcs), total, len(events), last)
}

const (
	lcChildEnv  = "MMAPWAL_FOLCRASH_DIR"
	lcEventsEnv = "MMAPWAL_FOLCRASH_EVENTS"
	lcSeedEnv   = "MMAPWAL_FOLCRASH_SEED"
	lcGenEnv    = "MMAPWAL_FOLCRASH_GEN"
	lcRecEnv    = "MMAPWAL_FOLCRASH_RECYCLE"
	lcSegSize   = 64 << 10
	lcHeader    = 16 // seq, generation, epoch
)

// lcPayload is the record seq written by generation gen in its epoch-th
// TruncateBack era: a header naming the three, then bytes derived from them;
// its length too derives from them.
func lcPayload(seq uint64, gen, epoch uint32) []byte {
	n := lcHeader + int(splitmix(seq^uint64(gen)<<40^uint64(epoch)<<56)%1500)
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint32(b[8:], gen)
	binary.LittleEndian.PutUint32(b[12:], epoch)
	fillPayload(b[lcHeader:], seq, gen<<16|epoch)
	return b
}

// lcRec is a record a follower returned: its sequence and tag.
type lcRec struct {
	seq        uint64
	gen, epoch uint32
}

// before orders tags: the writer's history is generation, then epoch.
func (r lcRec) before(o lcRec) bool {
	return r.gen < o.gen || r.gen == o.gen && r.epoch < o.epoch
}

// lcEvent is a line of the events file: kind O (a generation opened: cut is
// its LastSeq after recovery, epoch 0), t (a TruncateBack to cut is about to
// start the epoch) or T (it is done).
type lcEvent struct {
	kind       byte
	gen, epoch uint32
	cut        uint64
}

func (e lcEvent) tag() lcRec { return lcRec{gen: e.gen, epoch: e.epoch} }

// lcEvents is the events file.
type lcEvents struct {
	path string
	mu   sync.Mutex // serialises log's appends
}

func (ev *lcEvents) log(format string, args ...any) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	f, err := os.OpenFile(ev.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, format+"\n", args...); err != nil {
		panic(err)
	}
}

// read parses the events file (a last line cut by a kill is skipped).
func (ev *lcEvents) read(t testing.TB) []lcEvent {
	b, err := os.ReadFile(ev.path)
	if err != nil && !os.IsNotExist(err) {
		t.Error(err)
	}
	var out []lcEvent
	for line := range strings.Lines(string(b)) {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		f := strings.Fields(line)
		var e lcEvent
		var g, ep uint64
		var err1, err2, err3 error
		switch {
		case len(f) == 3 && f[0] == "O":
			g, err1 = strconv.ParseUint(f[1], 10, 32)
			e.cut, err2 = strconv.ParseUint(f[2], 10, 64)
		case len(f) == 4 && (f[0] == "t" || f[0] == "T"):
			g, err1 = strconv.ParseUint(f[1], 10, 32)
			ep, err2 = strconv.ParseUint(f[2], 10, 32)
			e.cut, err3 = strconv.ParseUint(f[3], 10, 64)
		default:
			t.Errorf("events: bad line %q", line)
			continue
		}
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Errorf("events: %q: %v", line, err)
			continue
		}
		e.kind, e.gen, e.epoch = f[0][0], uint32(g), uint32(ep)
		out = append(out, e)
	}
	return out
}

// waitOpen waits for generation gen's O event.
func (ev *lcEvents) waitOpen(gen uint32, c *lcChild) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(ev.path)
		if strings.Contains(string(b), fmt.Sprintf("O %d ", gen)) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("generation %d never opened the log:\n%s", gen, c.out.String())
}

// recoveryCut reports the recovery (an O event) that cut r, unless a
// TruncateBack begun after r and before that recovery removed it first.
func recoveryCut(events []lcEvent, r lcRec) (lcEvent, bool) {
	for _, e := range events {
		if !r.before(e.tag()) || e.cut >= r.seq {
			continue
		}
		if e.kind == 'O' {
			return e, true
		}
		return lcEvent{}, false // a TruncateBack (t or T) removed it on purpose
	}
	return lcEvent{}, false
}

// lcFollower is one follower of the test and what it checked.
type lcFollower struct {
	t           *testing.T
	dir         string
	ev          *lcEvents
	durableOnly bool
	id          int
	seen        atomic.Uint64 // the last sequence returned
	done        atomic.Bool
	returned    int
	histEnds    []lcRec // DurableOnly: the last record of each iterator's run (checked at the end)
}

// run follows the log until ctx is done, restarting its iterator after
// ErrTruncated (from the sequence cut) and ErrNotFound (from FirstSeq).
func (f *lcFollower) run(ctx context.Context) {
	defer f.done.Store(true)
	fol, err := OpenFollower(f.dir, &FollowerOptions{DurableOnly: f.durableOnly})
	if err != nil {
		f.t.Errorf("follower %d: OpenFollower: %v", f.id, err)
		return
	}
	defer fol.Close()
	from := uint64(1)
	for {
		it, err := fol.NewIterator(from)
		if err != nil {
			f.t.Errorf("follower %d: NewIterator(%d): %v", f.id, from, err)
			return
		}
		prev, ok := f.follow(ctx, it)
		it.Close()
		if f.durableOnly && prev.seq != 0 {
			f.histEnds = append(f.histEnds, prev)
		}
		if !ok {
			return
		}
		var te *TruncatedError
		switch err := it.Err(); {
		case ctx.Err() != nil:
			return
		case errors.As(err, &te):
			if te.Seq == 0 {
				f.t.Errorf("follower %d: %v", f.id, err)
				return
			}
			from = min(te.Seq, prev.seq+1) // records from te.Seq on are gone
			if prev.seq == 0 {
				from = te.Seq
			}
		case errors.Is(err, ErrNotFound):
			from = max(fol.FirstSeq(), prev.seq+1)
		default:
			f.t.Errorf("follower %d (DurableOnly %v): NextWait stopped: %v", f.id, f.durableOnly, err)
			return
		}
		f.seen.Store(from - 1)
	}
}

// follow returns records until NextWait returns false, checking each; it
// returns the last record returned, and false after a failed check.
func (f *lcFollower) follow(ctx context.Context, it *Iterator) (lcRec, bool) {
	var prev lcRec
	var events []lcEvent
	for it.NextWait(ctx) {
		seq, v := it.Seq(), it.Value()
		if len(v) < lcHeader || binary.LittleEndian.Uint64(v) != seq {
			f.t.Errorf("follower %d: record %d: %d bytes, header %x", f.id, seq, len(v), v[:min(len(v), lcHeader)])
			return prev, false
		}
		r := lcRec{seq: seq, gen: binary.LittleEndian.Uint32(v[8:]), epoch: binary.LittleEndian.Uint32(v[12:])}
		if !bytes.Equal(v, lcPayload(seq, r.gen, r.epoch)) {
			f.t.Errorf("follower %d: record %d (generation %d epoch %d): %d bytes, not the ones written", f.id, seq, r.gen, r.epoch, len(v))
			return prev, false
		}
		if prev.seq != 0 {
			if seq <= prev.seq {
				f.t.Errorf("follower %d: record %d after %d", f.id, seq, prev.seq)
				return prev, false
			}
			if r.before(prev) {
				f.t.Errorf("follower %d: record %d of generation %d epoch %d after record %d of the later generation %d epoch %d",
					f.id, seq, r.gen, r.epoch, prev.seq, prev.gen, prev.epoch)
				return prev, false
			}
			if prev.before(r) {
				// Every truncation between the two was logged before r was
				// written: none may have removed prev.
				if n := len(events); n == 0 || events[n-1].tag().before(r) {
					events = f.ev.read(f.t)
				}
				for _, e := range events {
					if e.kind != 't' && prev.before(e.tag()) && !r.before(e.tag()) && e.cut < prev.seq {
						f.t.Errorf("follower %d (DurableOnly %v): returned record %d (generation %d epoch %d) after record %d (generation %d epoch %d), which %c %d %d cut to %d: no ErrTruncated",
							f.id, f.durableOnly, seq, r.gen, r.epoch, prev.seq, prev.gen, prev.epoch, e.kind, e.gen, e.epoch, e.cut)
						return prev, false
					}
				}
			}
		}
		prev = r
		f.returned++
		f.seen.Store(seq)
	}
	return prev, true
}

// The child: one writer generation, killed by the parent.

// lcChild is a running child process.
type lcChild struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startLcChild(test, dir, events string, seed uint64, gen uint32, recycle int) (*lcChild, error) {
	c := &lcChild{}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=5m")
	c.cmd.Env = append(os.Environ(), lcChildEnv+"="+dir, lcEventsEnv+"="+events,
		lcSeedEnv+"="+strconv.FormatUint(seed, 10), lcGenEnv+"="+strconv.FormatUint(uint64(gen), 10),
		lcRecEnv+"="+strconv.Itoa(recycle))
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	return c, c.cmd.Start()
}

// kill SIGKILLs the child (if it still runs) and reaps it.
func (c *lcChild) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// lcChildMain is the child's body: it writes until it is killed.
func lcChildMain() {
	dir := os.Getenv(lcChildEnv)
	ev := &lcEvents{path: os.Getenv(lcEventsEnv)}
	seed, _ := strconv.ParseUint(os.Getenv(lcSeedEnv), 10, 64)
	g, _ := strconv.ParseUint(os.Getenv(lcGenEnv), 10, 32)
	gen := uint32(g)
	rng := rand.New(rand.NewPCG(seed, uint64(gen)))
	die := func(err error) {
		fmt.Printf("FAIL: generation %d: %v\n", gen, err)
		os.Exit(2)
	}
	recycle, _ := strconv.Atoi(os.Getenv(lcRecEnv))
	l, err := Open(dir, &Options{SegmentSize: lcSegSize, Durability: SyncManual, RecycleSegments: recycle})
	if err != nil {
		die(err)
	}
	ev.log("O %d %d", gen, l.LastSeq())
	epoch := uint32(0)
	for i := 0; ; i++ {
		next, first, last := l.LastSeq()+1, l.FirstSeq(), l.LastSeq()
		switch p := rng.IntN(100); {
		case p < 40:
			_, err = l.Append(lcPayload(next, gen, epoch))
		case p < 55:
			batch := make([][]byte, 1+rng.IntN(6))
			for k := range batch {
				batch[k] = lcPayload(next+uint64(k), gen, epoch)
			}
			_, err = l.AppendBatch(batch)
		case p < 65:
			rec := lcPayload(next, gen, epoch)
			var r *Reservation
			if r, err = l.Reserve(len(rec)); err == nil {
				copy(r.Bytes(), rec)
				_, err = r.Commit()
			}
		case p < 72:
			seq := next + 1 + uint64(rng.IntN(3))
			err = l.AppendSeq(seq, lcPayload(seq, gen, epoch))
		case p < 76:
			if last < first+8 {
				continue
			}
			cut := last - 1 - uint64(rng.IntN(5))
			ev.log("t %d %d %d", gen, epoch+1, cut)
			if err = l.TruncateBack(cut); err == nil {
				epoch++
				ev.log("T %d %d %d", gen, epoch, cut)
			}
		case p < 78:
			if last > first+200 {
				err = l.TruncateFront(first + uint64(rng.IntN(int(last-first)/2)))
			}
		case p < 80 && recycle > 0:
			if last > first+60 { // whole segments go to the pool, to be reused soon
				err = l.TruncateFront(last - 40)
			}
		case p < 90:
			err = l.Sync()
		}
		if err != nil {
			die(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // let the followers catch up at times
		}
	}
}
