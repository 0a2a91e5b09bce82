package mmapwal

// Real process crashes (issue 5, §1; reliability plan AT-04).
//
// TestCrashSIGKILL re-executes the test binary as a child (TestCrashChild)
// that appends, batches, reserves, truncates and syncs on a log with small
// segments, and reports every call to the parent over a pipe (fd 3): an
// intent line before the call, a done line after it returns, and an ack line
// when a sync made records durable. The parent SIGKILLs the child at a
// random moment — after a random delay, right after a rotation, in the middle
// of a truncation, or while the child's own Open is recovering the directory
// the previous kill left — then opens a copy of the directory (sometimes the
// directory itself) and checks it against the model built from the reports.
// The next round's child reopens the same directory.
//
// A SIGKILL leaves the page cache intact, so the check is exact: the log must
// hold every record whose call returned (not only the acknowledged ones), in
// order and byte for byte, and the call in flight must have taken effect
// wholly or not at all (a batch, a truncation, a record). Open must succeed
// with no repair but a torn tail; under Strict it must open or report a torn
// tail.
//
// TestCrashSIGKILLXFS does the same on a loop-mounted xfs.
//
// Sizes: 120 kills by default, 20,000 with MMAPWAL_TORTURE=1 (xfs: 60 and
// 2,000);
// MMAPWAL_CRASH_KILLS overrides both. Replay a run's workloads with
// MMAPWAL_SEED (the kill timing is not reproducible).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	crashChildEnv = "MMAPWAL_CRASH_CHILD"
	crashDirEnv   = "MMAPWAL_CRASH_DIR"
	crashSeedEnv  = "MMAPWAL_CRASH_SEED"
	crashRoundEnv = "MMAPWAL_CRASH_ROUND"
	// crashRecycleEnv, set by TestCrashSIGKILLRecycled (and inherited by
	// its children), makes the children recycle segments.
	crashRecycleEnv = "MMAPWAL_CRASH_RECYCLE"
)

// ---------------------------------------------------------------- the child

// TestCrashChild is the child of TestCrashSIGKILL; run directly it skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the child process of TestCrashSIGKILL: runs only when re-executed by it")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	round, _ := strconv.ParseUint(os.Getenv(crashRoundEnv), 10, 64)
	c := &crashChild{
		ev:    os.NewFile(3, "events"),
		rng:   rand.New(rand.NewPCG(seed, round)),
		round: uint32(round),
	}
	c.run(os.Getenv(crashDirEnv))
}

type crashChild struct {
	ev      *os.File
	out     []byte // event lines not yet written
	rng     *rand.Rand
	l       *Log
	mode    Durability
	segSize int64
	maxRec  int
	round   uint32
	tbs     uint32 // TruncateBacks so far: part of the salt
	batches uint64
	rot     uint64
	buf     []byte
}

// emit queues an event line; flush writes the queue in one write(2).
func (c *crashChild) emit(format string, args ...any) {
	c.out = fmt.Appendf(c.out, format, args...)
	c.out = append(c.out, '\n')
}

func (c *crashChild) flush() {
	if _, err := c.ev.Write(c.out); err != nil {
		os.Exit(3) // the parent is gone
	}
	c.out = c.out[:0]
}

func (c *crashChild) fail(format string, args ...any) {
	c.emit("E "+format, args...)
	c.flush()
	os.Exit(4)
}

// intent reports the call about to be made (with the reports of the previous
// call) before making it.
func (c *crashChild) intent(format string, args ...any) {
	c.emit(format, args...)
	c.flush()
}

// done reports that the call returned; it reaches the parent with the next
// intent.
func (c *crashChild) done() {
	if r := c.l.st.rotations.Load(); r != c.rot {
		c.rot = r
		c.emit("D R")
		c.flush() // the parent may be waiting for a rotation
		return
	}
	c.emit("D")
}

func (c *crashChild) salt() uint32 { return c.round<<8 | c.tbs&0xff }

func (c *crashChild) run(dir string) {
	c.mode = Durability(c.rng.IntN(3))
	c.segSize = []int64{8 << 10, 16 << 10, 32 << 10}[c.rng.IntN(3)]
	c.maxRec = maxPayloadIn(c.segSize)
	opts := &Options{SegmentSize: c.segSize, Durability: c.mode, SyncInterval: time.Duration(1+c.rng.IntN(5)) * time.Millisecond}
	if c.rng.IntN(4) == 0 {
		opts.BytesPerSync = 4096
	}
	if os.Getenv(crashRecycleEnv) != "" {
		opts.RecycleSegments = 1 + c.rng.IntN(3)
	}
	c.intent("P")
	l, err := Open(dir, opts)
	if err != nil {
		c.fail("Open: %v", err)
	}
	c.l = l
	torn := 0
	if l.Recovery().TornTail != nil {
		torn = 1
	}
	c.rot = l.st.rotations.Load()
	c.intent("O %d %d %d %d", l.FirstSeq(), l.LastSeq(), torn, c.mode)
	deadline := time.Now().Add(2 * time.Minute) // the parent kills long before
	for time.Now().Before(deadline) {
		c.step()
	}
	c.fail("not killed within 2 minutes")
}

func (c *crashChild) size() int {
	switch r := c.rng.IntN(100); {
	case r < 5:
		return 0
	case r < 55:
		return c.rng.IntN(200)
	case r < 82:
		return c.rng.IntN(2000)
	case r < 96:
		return c.rng.IntN(c.maxRec/2 + 1)
	default:
		return c.maxRec - c.rng.IntN(min(64, c.maxRec)+1)
	}
}

func (c *crashChild) payload(seq uint64, n int) []byte {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	fillPayload(b, seq, c.salt())
	return b
}

// fill writes a reserved record in place: at once, or (a third of the time)
// slowly, a sector at a time, the way a caller that receives it from the
// network would; a kill then often finds it half written.
func (c *crashChild) fill(b []byte, seq uint64) {
	if c.rng.IntN(3) != 0 {
		fillPayload(b, seq, c.salt())
		return
	}
	src := c.payload(seq, len(b))
	for i := 0; i < len(b); i += 512 {
		copy(b[i:], src[i:min(i+512, len(b))])
		time.Sleep(20 * time.Microsecond)
	}
}

// acked reports that every record up to seq is durable.
func (c *crashChild) acked(seq uint64) { c.emit("A %d", seq) }

func (c *crashChild) afterAppend(last uint64) {
	c.done()
	if c.mode == SyncAlways {
		c.acked(last)
	}
}

func (c *crashChild) step() {
	l := c.l
	first, last := l.FirstSeq(), l.LastSeq()
	held := uint64(0)
	if first > 0 && last >= first {
		held = last - first + 1
	}
	// A child that recycles keeps few segments, so that TruncateFront
	// pools files and rotations reuse them within a short life.
	if held > 400 || len(l.segments()) > 12 || l.opts.RecycleSegments > 0 && len(l.segments()) > 3 {
		c.truncateFront(max(first, last-min(last, uint64(c.rng.IntN(60)))))
		return
	}
	switch r := c.rng.IntN(100); {
	case r < 35:
		n := c.size()
		seq := last + 1
		c.intent("a %d %d %d", seq, n, c.salt())
		got, err := l.Append(c.payload(seq, n))
		if err != nil || got != seq {
			c.fail("Append: seq %d, want %d: %v", got, seq, err)
		}
		c.afterAppend(seq)
	case r < 45:
		n := c.size()
		seq := last + 2 + uint64(c.rng.IntN(10))
		c.intent("a %d %d %d", seq, n, c.salt())
		if err := l.AppendSeq(seq, c.payload(seq, n)); err != nil {
			c.fail("AppendSeq(%d): %v", seq, err)
		}
		c.afterAppend(seq)
	case r < 60:
		c.batch(last)
	case r < 70:
		n := c.size()
		seq := last + 1
		c.intent("r %d %d %d", seq, n, c.salt())
		res, err := l.Reserve(n)
		if err != nil {
			c.fail("Reserve(%d): %v", n, err)
		}
		c.fill(res.Bytes(), seq)
		got, err := res.Commit()
		if err != nil || got != seq {
			c.fail("Commit: seq %d, want %d: %v", got, seq, err)
		}
		c.afterAppend(seq)
	case r < 73:
		n := c.size()
		c.intent("x %d", n)
		res, err := l.Reserve(n)
		if err != nil {
			c.fail("Reserve(%d): %v", n, err)
		}
		c.fill(res.Bytes(), last+1)
		res.Abort()
		c.done()
	case r < 76:
		if held > 0 {
			c.truncateFront(first + uint64(c.rng.IntN(int(held/2)+2)))
		}
	case r < 80:
		if held > 0 {
			c.truncateBack(last - 1 - uint64(c.rng.IntN(int(min(held, 40)))))
		}
	case r < 82:
		c.reset(1 + uint64(c.rng.IntN(int(last)+50))) // below, at or above LastSeq+1
	default:
		c.intent("s")
		switch c.mode {
		case SyncInterval:
			if last == 0 {
				c.done()
				return
			}
			if err := l.WaitDurable(context.Background(), last); err != nil {
				c.fail("WaitDurable(%d): %v", last, err)
			}
		default:
			if err := l.Sync(); err != nil {
				c.fail("Sync: %v", err)
			}
		}
		c.done()
		c.acked(last)
	}
}

func (c *crashChild) batch(last uint64) {
	n := 2 + c.rng.IntN(7)
	sizes := make([]int, n)
	total := 0
	for i := range sizes {
		sizes[i] = c.rng.IntN(300)
		if c.rng.IntN(5) == 0 {
			sizes[i] = c.rng.IntN(c.maxRec/n + 1)
		}
		total += (24 + sizes[i] + 7) &^ 7
	}
	for total > int(c.segSize)-64 { // keep it within one segment
		total = 0
		for i := range sizes {
			sizes[i] /= 2
			total += (24 + sizes[i] + 7) &^ 7
		}
	}
	first := last + 1
	gap := c.rng.IntN(4) == 0
	if gap {
		first += 1 + uint64(c.rng.IntN(5))
	}
	c.batches++
	id := uint64(c.round)<<32 | c.batches
	var sb strings.Builder
	for i, s := range sizes {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(s))
	}
	recs := make([][]byte, n)
	for i, s := range sizes {
		recs[i] = make([]byte, s)
		fillPayload(recs[i], first+uint64(i), c.salt())
	}
	c.intent("b %d %d %d %s", first, c.salt(), id, sb.String())
	if gap {
		if err := c.l.AppendBatchSeq(first, recs); err != nil {
			c.fail("AppendBatchSeq(%d): %v", first, err)
		}
	} else if got, err := c.l.AppendBatch(recs); err != nil || got != first {
		c.fail("AppendBatch: first %d, want %d: %v", got, first, err)
	}
	c.afterAppend(first + uint64(n) - 1)
}

func (c *crashChild) truncateFront(s uint64) {
	c.intent("f %d", s)
	if err := c.l.TruncateFront(s); err != nil {
		c.fail("TruncateFront(%d): %v", s, err)
	}
	c.done()
}

func (c *crashChild) reset(next uint64) {
	c.intent("z %d", next)
	if err := c.l.Reset(next); err != nil {
		c.fail("Reset(%d): %v", next, err)
	}
	c.tbs++ // records appended at the dropped sequences are told apart
	c.done()
}

func (c *crashChild) truncateBack(s uint64) {
	c.intent("k %d", s)
	if err := c.l.TruncateBack(s); err != nil {
		c.fail("TruncateBack(%d): %v", s, err)
	}
	c.tbs++
	c.done()
}

// --------------------------------------------------------------- the parent

// crashOp is one reported call.
type crashOp struct {
	kind  byte   // a (append), r (reserve+commit), x (reserve+abort), b (batch), f, k (truncations), z (Reset), s (sync)
	seq   uint64 // a, r: the record; b: the first; f, k: the truncation point; z: the next sequence
	sizes []int
	salt  uint32
	batch uint64
}

// crashState is what the log holds: its records and LastSeq.
type crashState struct {
	recs []crec
	last uint64
}

// apply returns the state after op returned. It never modifies st.
func (st crashState) apply(op crashOp) crashState {
	switch op.kind {
	case 'a', 'r':
		return crashState{append(slices.Clip(st.recs), crec{seq: op.seq, size: op.sizes[0], salt: op.salt}), op.seq}
	case 'b':
		recs := slices.Clip(st.recs)
		for i, n := range op.sizes {
			recs = append(recs, crec{seq: op.seq + uint64(i), size: n, salt: op.salt, batch: op.batch})
		}
		return crashState{recs, op.seq + uint64(len(op.sizes)) - 1}
	case 'f':
		i, _ := slices.BinarySearchFunc(st.recs, op.seq, func(r crec, s uint64) int { return cmpU64(r.seq, s) })
		return crashState{st.recs[i:], st.last}
	case 'k':
		if op.seq == st.last {
			return st
		}
		i, _ := slices.BinarySearchFunc(st.recs, op.seq+1, func(r crec, s uint64) int { return cmpU64(r.seq, s) })
		last := op.seq
		if i > 0 {
			last = st.recs[i-1].seq
		}
		return crashState{slices.Clip(st.recs[:i]), last}
	case 'z':
		return crashState{nil, op.seq - 1}
	}
	return st
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseCrashOp(f []string) (crashOp, error) {
	num := func(i int) uint64 {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseUint(f[i], 10, 64)
		return v
	}
	op := crashOp{kind: f[0][0]}
	switch op.kind {
	case 'a', 'r':
		op.seq, op.sizes, op.salt = num(1), []int{int(num(2))}, uint32(num(3))
	case 'x':
		op.sizes = []int{int(num(1))}
	case 'b':
		op.seq, op.salt, op.batch = num(1), uint32(num(2)), num(3)
		if len(f) < 5 {
			return op, fmt.Errorf("bad batch line %q", f)
		}
		for _, s := range strings.Split(f[4], ",") {
			n, err := strconv.Atoi(s)
			if err != nil {
				return op, fmt.Errorf("bad batch line %q", f)
			}
			op.sizes = append(op.sizes, n)
		}
	case 'f', 'k', 'z':
		op.seq = num(1)
	case 's':
	default:
		return op, fmt.Errorf("unknown event %q", f)
	}
	return op, nil
}

// killPlan says when the parent kills the child.
type killPlan struct {
	name    string
	trigger string // the event that starts the delay: "P" (Open called), "O" (Open returned), "T" (truncation intent), "V" (reservation intent), "R" (rotation)
	nth     int    // which occurrence of the trigger
	delay   time.Duration
}

func pickKillPlan(rng *rand.Rand) killPlan {
	us := func(n int) time.Duration { return time.Duration(rng.IntN(n+1)) * time.Microsecond }
	switch p := rng.IntN(100); {
	case p < 25:
		return killPlan{name: "random delay", trigger: "P", nth: 1, delay: us(15000)}
	case p < 45:
		return killPlan{name: "random delay after open", trigger: "O", nth: 1, delay: us(25000)}
	case p < 60:
		return killPlan{name: "during the child's open/recovery", trigger: "P", nth: 1, delay: us(1500)}
	case p < 75:
		return killPlan{name: "during a truncation", trigger: "T", nth: 1 + rng.IntN(3), delay: us(400)}
	case p < 87:
		return killPlan{name: "during a reservation", trigger: "V", nth: 1 + rng.IntN(3), delay: us(1000)}
	default:
		return killPlan{name: "right after a rotation", trigger: "R", nth: 1 + rng.IntN(3), delay: us(300)}
	}
}

// crashWorker runs rounds on one directory.
type crashWorker struct {
	t       *testing.T
	id      int
	dir     string
	scratch string
	seed    uint64
	rng     *rand.Rand
	model   crashState
	first   uint64 // FirstSeq of the model, as the last verification found it
	fresh   bool   // the directory is empty: the child creates the log
	dirty   bool   // the directory holds work for recovery (the last check repaired a copy)
	stats   *crashStats
	ro      *crashROStats // when not nil, a ReadOnly Log in this process reads the log while the child writes (crashro_test.go)
}

type crashStats struct {
	mu                                  sync.Mutex
	rounds, duringOpen, torn, strict    int
	duringRepair                        int
	finished, records, acked, fresh     int
	pending                             map[string]int
	plans                               map[string]int
	killedAfterRotation, killedMidTrunc int
	toP                                 time.Duration
}

func (s *crashStats) add(f func(*crashStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestCrashSIGKILL(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 120
	if tortureMode() {
		kills = 20000
	}
	runCrashSIGKILL(t, t.TempDir(), kills)
}

// TestCrashSIGKILLRecycled runs the SIGKILL rounds with children that
// recycle segments (RecycleSegments 1–3, FORMAT.md §9.7): kills land in
// moves into the pool, rotations into pool files and appends into
// recycled segments, and the log must hold exactly what the calls that
// returned wrote, never a stale frame: 60 kills by default, 5,000 with
// MMAPWAL_TORTURE=1.
func TestCrashSIGKILLRecycled(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 60
	if tortureMode() {
		kills = 5000
	}
	t.Setenv(crashRecycleEnv, "1")
	before := crashRecycledLogs.Load()
	runCrashSIGKILL(t, t.TempDir(), kills)
	n := crashRecycledLogs.Load() - before
	t.Logf("%d of the checked logs held recycled segments (META feature bit 1)", n)
	if n == 0 && !t.Failed() {
		t.Fatal("no child reused a segment file: the test proves nothing")
	}
}

// crashRecycledLogs counts the logs verify opened whose META records
// recycled segments.
var crashRecycledLogs atomic.Int64

// TestCrashSIGKILLXFS runs the SIGKILL rounds on a loop-mounted xfs: 60 by
// default, 2,000 with MMAPWAL_TORTURE=1.
func TestCrashSIGKILLXFS(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 60
	if tortureMode() {
		kills = 2000
	}
	runCrashSIGKILL(t, mountLoopFS(t, "xfs", 300), kills)
}

// runCrashSIGKILL runs kills rounds (MMAPWAL_CRASH_KILLS overrides) in
// directories under root.
func runCrashSIGKILL(t *testing.T, root string, kills int) { runCrashRounds(t, root, kills, nil) }

// runCrashRounds is runCrashSIGKILL; with ro not nil, every round also
// runs a ReadOnly reader beside the child (crashro_test.go).
func runCrashRounds(t *testing.T, root string, kills int, ro *crashROStats) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs SIGKILL and fd passing")
	}
	seed := testSeed(t)
	kills = envCount(t, "MMAPWAL_CRASH_KILLS", kills)
	workers := max(3, runtime.GOMAXPROCS(0)+1)
	stats := &crashStats{pending: map[string]int{}, plans: map[string]int{}}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cw := &crashWorker{
				t: t, id: w, seed: seed, stats: stats, fresh: true, ro: ro,
				dir:     filepath.Join(root, fmt.Sprintf("log%d", w)),
				scratch: filepath.Join(root, fmt.Sprintf("scratch%d", w)),
				rng:     rand.New(rand.NewPCG(seed, uint64(w))),
			}
			for !failed.Load() {
				n := next.Add(1)
				if n > int64(kills) {
					return
				}
				if err := cw.round(int(n)); err != nil {
					if failed.CompareAndSwap(false, true) {
						t.Errorf("worker %d, round %d (seed %d): %v", w, n, seed, err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	stats.mu.Lock()
	defer stats.mu.Unlock()
	t.Logf("%d SIGKILLs in %v (%d workers): %d during the child's Open (%d of them with a repair to do), %d right after a rotation, %d during a truncation; "+
		"%d torn tails cut, %d interrupted TruncateBacks or Resets finished, %d Strict opens, %d fresh logs; %d records checked (%d acknowledged)",
		stats.rounds, el.Round(time.Millisecond), workers, stats.duringOpen, stats.duringRepair, stats.killedAfterRotation, stats.killedMidTrunc,
		stats.torn, stats.finished, stats.strict, stats.fresh, stats.records, stats.acked)
	t.Logf("exec to open: %v", stats.toP/time.Duration(max(1, stats.rounds)))
	t.Logf("kill plans: %v; call in flight at the kill: %v", stats.plans, stats.pending)
	if ro != nil {
		ro.log(t)
	}
}

// round runs one child, kills it and checks the directory.
func (w *crashWorker) round(n int) error {
	if !w.fresh && w.rng.IntN(50) == 0 { // now and then start over: kills during creation
		if err := emptyDir(w.dir); err != nil {
			return err
		}
		w.model, w.first, w.fresh = crashState{}, 0, true
	}
	if w.fresh {
		w.stats.add(func(s *crashStats) { s.fresh++ })
	}
	plan := pickKillPlan(w.rng)
	c, err := startCrashChild(w.dir, mix(w.seed, "round", n), n)
	if err != nil {
		return err
	}
	var rd *crashROReader
	if w.ro != nil {
		rd = startCrashROReader(w.dir, mix(w.seed, "reader", n))
	}
	evs := c.watch(plan, w.stats)
	if err := c.wait(evs); err != nil {
		rd.stop()
		return err
	}
	if err := rd.check(w.model, evs, w.ro); err != nil {
		return fmt.Errorf("the ReadOnly reader beside the child: %v", err)
	}
	w.stats.add(func(s *crashStats) { s.rounds++; s.plans[plan.name]++ })
	return w.check(evs, plan)
}

// crashProc is a running child and the events it reports.
type crashProc struct {
	cmd   *exec.Cmd
	out   bytes.Buffer // its stdout and stderr
	lines chan string
	start time.Time
}

// startCrashChild re-executes the test binary as TestCrashChild on dir, its
// events on fd 3.
func startCrashChild(dir string, seed uint64, round int) (*crashProc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c := &crashProc{lines: make(chan string, 4096), start: time.Now()}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	c.cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+dir,
		crashSeedEnv+"="+strconv.FormatUint(seed, 10), crashRoundEnv+"="+strconv.Itoa(round))
	c.cmd.ExtraFiles = []*os.File{pw}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	err = c.cmd.Start()
	pw.Close() // the child holds the write end: EOF when it dies
	if err != nil {
		pr.Close()
		return nil, err
	}
	go func() {
		defer close(c.lines)
		defer pr.Close()
		r := bufio.NewReaderSize(pr, 64<<10)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				c.lines <- strings.TrimSuffix(s, "\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return c, nil
}

// watch reads the child's events and SIGKILLs it as the plan says (or after
// 5 seconds in any case); it returns every event the child reported.
func (c *crashProc) watch(plan killPlan, stats *crashStats) []string {
	var evs []string
	seen := 0
	var fire <-chan time.Time
	fallback := time.After(5 * time.Second)
	killed := false
	for !killed {
		select {
		case s, ok := <-c.lines:
			if !ok {
				return evs // it ended by itself: wait says why
			}
			evs = append(evs, s)
			if s == "P" {
				stats.add(func(st *crashStats) { st.toP += time.Since(c.start) })
			}
			if fire == nil && matchesTrigger(s, plan.trigger) {
				if seen++; seen == plan.nth {
					fire = time.After(plan.delay)
				}
			}
		case <-fire:
			killed = true
		case <-fallback:
			killed = true
		}
	}
	c.cmd.Process.Kill()
	for s := range c.lines {
		evs = append(evs, s)
	}
	return evs
}

// wait reaps the child and checks that the SIGKILL ended it.
func (c *crashProc) wait(evs []string) error {
	werr := c.cmd.Wait()
	for _, s := range evs {
		if strings.HasPrefix(s, "E ") {
			return fmt.Errorf("child failed: %s\n%s", s[2:], c.out.String())
		}
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("child ended without being killed: %v\n%s", werr, c.out.String())
	}
	return nil
}

func matchesTrigger(s, trigger string) bool {
	switch trigger {
	case "P":
		return s == "P"
	case "O":
		return strings.HasPrefix(s, "O ")
	case "T":
		return strings.HasPrefix(s, "f ") || strings.HasPrefix(s, "k ") || strings.HasPrefix(s, "z ")
	case "R":
		return s == "D R"
	case "V":
		return strings.HasPrefix(s, "r ") || strings.HasPrefix(s, "x ")
	}
	return false
}

// crashReplay is what a round's events say about the log.
type crashReplay struct {
	st           crashState // after every call that returned
	pending      *crashOp   // the call in flight at the kill, if any
	acked        uint64     // the highest sequence acknowledged durable
	sawP, opened bool       // the child called Open; Open returned
}

// replay applies the events to the model st. first is the FirstSeq the
// previous check found, which the child's Open must find too.
func replay(st crashState, first uint64, evs []string) (crashReplay, error) {
	r := crashReplay{st: st}
	for _, s := range evs {
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "P":
			r.sawP = true
		case "O":
			r.opened = true
			var gotFirst, gotLast uint64
			fmt.Sscan(f[1], &gotFirst)
			fmt.Sscan(f[2], &gotLast)
			if gotFirst != first || gotLast != r.st.last {
				return r, fmt.Errorf("the child's Open found FirstSeq %d LastSeq %d; the previous check found %d, %d", gotFirst, gotLast, first, r.st.last)
			}
		case "D":
			if r.pending == nil {
				return r, fmt.Errorf("done without a call: %q", s)
			}
			r.st, r.pending = r.st.apply(*r.pending), nil
		case "A":
			v, _ := strconv.ParseUint(f[1], 10, 64)
			r.acked = max(r.acked, v)
		default:
			op, err := parseCrashOp(f)
			if err != nil {
				return r, err
			}
			if r.pending != nil {
				return r, fmt.Errorf("call %q before the previous one returned", s)
			}
			r.pending = &op
		}
	}
	return r, nil
}

// candidates are the states the log may be in: the call in flight did not
// happen, or happened wholly.
func (r crashReplay) candidates() []crashState {
	if r.pending == nil {
		return []crashState{r.st}
	}
	return []crashState{r.st, r.st.apply(*r.pending)}
}

// check replays the events into the model and verifies the directory.
func (w *crashWorker) check(evs []string, plan killPlan) error {
	r, err := replay(w.model, w.first, evs)
	if err != nil {
		return err
	}
	if _, err := os.Stat(w.dir); errors.Is(err, fs.ErrNotExist) {
		// Killed before its first Open created the directory.
		if r.acked > 0 {
			return fmt.Errorf("the log directory is gone with records acknowledged up to %d", r.acked)
		}
		return nil
	}
	cands := r.candidates()
	inFlight := "none"
	if r.pending != nil {
		inFlight = string(r.pending.kind)
	}
	w.stats.add(func(s *crashStats) {
		s.pending[inFlight]++
		if r.sawP && !r.opened {
			s.duringOpen++
			if w.dirty {
				s.duringRepair++
			}
		}
		if plan.trigger == "R" {
			s.killedAfterRotation++
		}
		if inFlight == "f" || inFlight == "k" || inFlight == "z" {
			s.killedMidTrunc++
		}
	})
	// Strict, on a copy: opens, or reports a torn tail.
	if w.rng.IntN(4) == 0 {
		if err := w.checkStrict(cands, r.acked); err != nil {
			return err
		}
	}
	// TruncatePartial, on a copy (the child then recovers the original) or,
	// now and then, on the directory itself.
	dir := w.dir
	if w.rng.IntN(4) != 0 {
		if err := emptyDir(w.scratch); err != nil {
			return err
		}
		if err := copyDir(w.dir, w.scratch); err != nil {
			return err
		}
		dir = w.scratch
	}
	if err := w.verify(dir, cands, r.acked); err != nil {
		return fmt.Errorf("after the kill (in flight: %s, plan %q): %v\nfiles: %s", inFlight, plan.name, err, describeDir(dir))
	}
	return nil
}

// verify opens dir under TruncatePartial, checks it against the candidate
// states and makes the one it holds the model of the next round.
func (w *crashWorker) verify(dir string, cands []crashState, acked uint64) error {
	o := &Options{SegmentSize: 8 << 10, Durability: SyncManual}
	if os.Getenv(crashRecycleEnv) != "" {
		o.RecycleSegments = 2 // keep the pool (the next child may reuse it)
	}
	l, err := Open(dir, o)
	if err != nil {
		return fmt.Errorf("Open: %v", err)
	}
	defer l.Close()
	if l.meta.recycled {
		crashRecycledLogs.Add(1)
	}
	rep := l.Recovery()
	if rep.Corruption != nil {
		return fmt.Errorf("recovery reported corruption: %v", rep.Corruption)
	}
	got, err := readAllRecords(l)
	if err != nil {
		return fmt.Errorf("reading the log: %v", err)
	}
	k, why := matchCrashState(got, l.LastSeq(), cands, acked)
	if k < 0 {
		return errors.New(why)
	}
	if fs := l.FirstSeq(); !firstSeqOK(fs, got, l.LastSeq()) {
		return fmt.Errorf("FirstSeq %d, want %d (LastSeq %d, %d records)", fs, firstSeqFor(got, l.LastSeq()), l.LastSeq(), len(got))
	}
	nAcked := 0
	for _, r := range got {
		if r.seq <= acked {
			nAcked++
		}
	}
	w.stats.add(func(s *crashStats) {
		s.records += len(got)
		s.acked += nAcked
		if rep.TornTail != nil {
			s.torn++
		}
		if rep.FinishedTruncation {
			s.finished++
		}
	})
	w.model = crashState{recs: cands[k].recs, last: l.LastSeq()}
	w.first, w.fresh = l.FirstSeq(), false
	w.dirty = dir != w.dir && (rep.TornTail != nil || rep.FinishedTruncation || len(rep.Removed) > 0)
	return nil
}

// checkStrict opens a copy of the directory under Strict.
func (w *crashWorker) checkStrict(cands []crashState, acked uint64) error {
	if err := emptyDir(w.scratch); err != nil {
		return err
	}
	if err := copyDir(w.dir, w.scratch); err != nil {
		return err
	}
	w.stats.add(func(s *crashStats) { s.strict++ })
	l, err := Open(w.scratch, &Options{SegmentSize: 8 << 10, Durability: SyncManual, Repair: Strict})
	if err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) && ce.Reason == ReasonTornTail && !ce.Durable {
			return nil
		}
		return fmt.Errorf("Strict Open after the kill: %v (want success or a torn tail)\nfiles: %s", err, describeDir(w.scratch))
	}
	defer l.Close()
	got, err := readAllRecords(l)
	if err != nil {
		return fmt.Errorf("Strict: reading the log: %v", err)
	}
	if k, why := matchCrashState(got, l.LastSeq(), cands, acked); k < 0 {
		return fmt.Errorf("Strict open after the kill: %s", why)
	}
	if tt := l.Recovery().TornTail; tt != nil {
		return fmt.Errorf("Strict open succeeded with a torn tail %+v", tt)
	}
	return nil
}

// matchCrashState returns the index of the candidate state the log equals
// (records and LastSeq), or -1 and why none does.
func matchCrashState(got []grec, last uint64, cands []crashState, acked uint64) (int, string) {
	for i, c := range cands {
		if len(got) == len(c.recs) && commonPrefix(got, c.recs) == len(got) && last == c.last {
			return i, ""
		}
	}
	var sb strings.Builder
	for _, c := range cands {
		for _, r := range c.recs {
			if r.seq > acked {
				break
			}
			if !slices.ContainsFunc(got, func(g grec) bool { return g.seq == r.seq }) {
				fmt.Fprintf(&sb, "ACKNOWLEDGED record %v lost (acked through %d); ", r, acked)
				break
			}
		}
	}
	for i, c := range cands {
		fmt.Fprintf(&sb, "[candidate %d, LastSeq %d: %s] ", i, c.last, describeMismatch(got, c.recs))
	}
	fmt.Fprintf(&sb, "log LastSeq %d", last)
	return -1, sb.String()
}
