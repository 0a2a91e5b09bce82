package mmapwal

// Failing syscalls (issue 5 §4), the SQLite way: for each I/O call the
// engine makes through internal/sysutil, and N = 1, 2, 3, … until the
// workload completes without reaching it, fail the N-th call — once, or that
// call and every later one — with EIO and with ENOSPC, while a fixed
// workload runs: open, appends with rotations, a batch, a reservation, sync,
// truncations at both ends, close, a reopen that must repair a torn tail,
// more appends, close. Then:
//
//   - no error without a cause: every call that fails either failed while
//     the fault fired in it (and its error wraps the injected errno), or
//     failed with ErrPoisoned on a poisoned log;
//   - a failed msync of written records poisons the log: the call returns
//     ErrPoisoned wrapping the cause, and every later write and Sync fails
//     with ErrPoisoned, even when the fault was once only (a failed flush is
//     never retried into a success); Close returns ErrPoisoned and releases
//     the log;
//   - otherwise the log stays usable: with a fault that fires once, only the
//     call it fired in fails;
//   - while the log is open, every record it holds reads back byte for byte;
//   - with the fault removed, the directory opens, holds every acknowledged
//     record byte for byte, holds nothing that was not appended at its
//     sequence nor anything a successful truncation dropped, and takes
//     appends.
//
// Faults that fire where the engine ignores the error by design (cleanup of
// a file nobody needs) are listed in fltIgnored; any other fault that fires
// in a call that then succeeds fails the test.
//
// Segments are 4 KiB, so the workload rotates often and each run takes a few
// milliseconds. The fault hook is process-wide: nothing here runs in
// parallel.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// fltOps are the calls the loop fails.
var fltOps = []sysutil.Op{
	sysutil.OpMsync, sysutil.OpFdatasync, sysutil.OpFallocate, sysutil.OpMmap,
	sysutil.OpCreate, sysutil.OpRename, sysutil.OpSyncDir, sysutil.OpMadvise,
	sysutil.OpOpen, sysutil.OpRemove, sysutil.OpMunmap, sysutil.OpLock,
}

// fltMaxN caps N: the workload makes fewer calls of any one kind.
const fltMaxN = 120

// fltFiring is one time the fault fired in a caller's call.
type fltFiring struct {
	call string
	op   sysutil.Op
	path string
}

// fltIgnored reports whether the engine may ignore a fault that fired in a
// call which then succeeded: removing a file nobody needs (META.tmp at
// open, the unused prepared segment that TruncateBack, Close or a rotation
// discards), and unmapping a segment it lets go of.
func fltIgnored(f fltFiring) bool {
	if filepath.Base(f.path) == controlName {
		return true // optional: Open goes on without a control area (followers scan)
	}
	switch f.op {
	case sysutil.OpMunmap:
		return true
	case sysutil.OpRemove:
		return f.call != "TruncateFront" // which reports the segments it could not remove
	}
	return false
}

// fltRun is one run of the workload with one fault.
type fltRun struct {
	t       *testing.T
	dir     string
	op      sysutil.Op
	n       int
	errno   syscall.Errno
	forever bool
	dur     Durability

	caller  atomic.Uint64 // goroutine of the API call under way
	fired   atomic.Int64  // firings, anywhere
	mu      sync.Mutex
	here    []fltFiring // firings in the caller's call
	curCall string

	l        *Log
	poisoned bool
	tag      uint64
	allowed  map[uint64][][]byte // every payload appended (or tried) at a sequence
	live     map[uint64][]byte   // what the open log holds for sure
	acked    map[uint64][]byte   // durable for sure: must survive
	front    uint64              // highest TruncateFront that returned nil
	failures []string            // what failed, for the log
}

func (r *fltRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s: "+format, append([]any{r.label()}, args...)...)
}

func (r *fltRun) label() string {
	mode := "once"
	if r.forever {
		mode = "forever"
	}
	return fmt.Sprintf("%v #%d %s %v, %v", r.op, r.n, mode, r.errno, r.dur)
}

// hook wraps sysutil.FailNth and records where the fault fired.
func (r *fltRun) hook() func(sysutil.Op, string) error {
	fail := sysutil.FailNth(r.op, r.n, r.errno, r.forever)
	return func(op sysutil.Op, path string) error {
		err := fail(op, path)
		if err != nil {
			r.fired.Add(1)
			if g := r.caller.Load(); g != 0 && g == goroutineID() {
				r.mu.Lock()
				r.here = append(r.here, fltFiring{r.curCall, op, path})
				r.mu.Unlock()
			}
		}
		return err
	}
}

// call runs one API call of the workload and checks its error against the
// rules. write says whether the call is a write (which a poisoned log must
// refuse).
func (r *fltRun) call(name string, write bool, fn func() error) error {
	r.t.Helper()
	r.mu.Lock()
	r.curCall = name
	before := len(r.here)
	r.mu.Unlock()
	r.caller.Store(goroutineID())
	err := fn()
	r.caller.Store(0)
	r.mu.Lock()
	here := append([]fltFiring(nil), r.here[before:]...)
	r.mu.Unlock()
	wasPoisoned := r.poisoned
	if r.l != nil && name != "Close" {
		r.poisoned = r.l.Stats().Poisoned
	}
	switch {
	case err == nil && write && wasPoisoned:
		r.errorf("%s succeeded on a poisoned log", name)
	case err == nil:
		for _, f := range here {
			if !fltIgnored(f) {
				r.errorf("%s returned nil, but %v of %q failed in it", name, f.op, f.path)
			}
		}
	case errors.Is(err, ErrPoisoned):
		if !r.poisoned && name != "Close" {
			r.errorf("%s: %v, but Stats says the log is not poisoned", name, err)
		}
		if !wasPoisoned && !errors.Is(err, r.errno) {
			r.errorf("%s poisoned the log with %v, which does not wrap the injected %v", name, err, r.errno)
		}
		if !wasPoisoned && len(here) == 0 {
			r.errorf("%s poisoned the log (%v) without a fault in it", name, err)
		}
	default:
		if len(here) == 0 {
			r.errorf("%s: %v, but no fault fired in it", name, err)
		}
		if !errors.Is(err, r.errno) {
			r.errorf("%s: %v does not wrap the injected %v", name, err, r.errno)
		}
		if r.errno == syscall.ENOSPC && !errors.Is(err, ErrNoSpace) && name != "Close" && !strings.HasPrefix(name, "Open") &&
			!strings.HasPrefix(name, "Read") && !strings.HasPrefix(name, "Truncate") {
			r.errorf("%s: %v on ENOSPC, want ErrNoSpace", name, err)
		}
	}
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s: %v", name, err))
	}
	// A failed msync of written records poisons the log.
	for _, f := range here {
		if f.op == sysutil.OpMsync && r.l != nil && !strings.HasPrefix(name, "Open") && name != "Close" && !r.poisoned {
			r.errorf("msync failed in %s (%v), and the log is not poisoned", name, err)
		}
	}
	return err
}

// payload returns a new record's content: a function of a unique tag.
func (r *fltRun) payload() []byte {
	r.tag++
	return bbPayloadN(r.tag, int(r.tag*53%190))
}

func (r *fltRun) allow(seq uint64, p []byte) {
	r.allowed[seq] = append(r.allowed[seq], p)
}

func (r *fltRun) appended(seq uint64, p []byte) {
	r.live[seq] = p
	if r.dur == SyncAlways {
		r.acked[seq] = p
	}
}

func (r *fltRun) append() {
	if r.l == nil {
		return
	}
	next, p := r.l.LastSeq()+1, r.payload()
	r.allow(next, p)
	var seq uint64
	if r.call("Append", true, func() (err error) { seq, err = r.l.Append(p); return }) == nil {
		if seq != next {
			r.errorf("Append: sequence %d, want %d", seq, next)
		}
		r.appended(seq, p)
	}
}

func (r *fltRun) batch(n int) {
	if r.l == nil {
		return
	}
	next := r.l.LastSeq() + 1
	ps := make([][]byte, n)
	for i := range ps {
		ps[i] = r.payload()
		r.allow(next+uint64(i), ps[i])
	}
	var first uint64
	if r.call("AppendBatch", true, func() (err error) { first, err = r.l.AppendBatch(ps); return }) == nil {
		if first != next {
			r.errorf("AppendBatch: first %d, want %d", first, next)
		}
		for i, p := range ps {
			r.appended(next+uint64(i), p)
		}
	}
}

func (r *fltRun) reserve() {
	if r.l == nil {
		return
	}
	next, p := r.l.LastSeq()+1, r.payload()
	r.allow(next, p)
	var res *Reservation
	if r.call("Reserve", true, func() (err error) { res, err = r.l.Reserve(len(p)); return }) != nil {
		return
	}
	copy(res.Bytes(), p)
	var seq uint64
	if r.call("Commit", true, func() (err error) { seq, err = res.Commit(); return }) == nil {
		if seq != next {
			r.errorf("Commit: sequence %d, want %d", seq, next)
		}
		r.appended(seq, p)
	}
}

func (r *fltRun) sync() {
	if r.l == nil {
		return
	}
	if r.call("Sync", true, r.l.Sync) == nil {
		for s, p := range r.live {
			r.acked[s] = p
		}
	}
}

func (r *fltRun) truncateFront(k uint64) {
	if r.l == nil || r.l.LastSeq() == 0 {
		return
	}
	s := min(r.l.FirstSeq()+k, r.l.LastSeq()+1)
	err := r.call("TruncateFront", true, func() error { return r.l.TruncateFront(s) })
	for q := range r.live {
		if q < s {
			delete(r.live, q) // gone, or in doubt after a failure
			delete(r.acked, q)
		}
	}
	if err == nil {
		r.front = max(r.front, s)
	}
}

func (r *fltRun) truncateBack(k uint64) {
	if r.l == nil || r.l.LastSeq() < k || r.l.LastSeq()-k+1 < r.l.FirstSeq() {
		return
	}
	s := r.l.LastSeq() - k
	err := r.call("TruncateBack", true, func() error { return r.l.TruncateBack(s) })
	for q := range r.allowed {
		if q > s {
			delete(r.live, q)
			delete(r.acked, q)
			if err == nil {
				delete(r.allowed, q) // durably gone: must never come back
			}
		}
	}
}

// checkReads reads every record the open log holds for sure.
func (r *fltRun) checkReads() {
	if r.l == nil {
		return
	}
	for s, p := range r.live {
		var got []byte
		err := r.call("Read", false, func() (err error) { got, err = r.l.Read(s); return })
		if err == nil && !bytes.Equal(got, p) {
			r.errorf("Read(%d): other bytes than appended", s)
		}
		if err != nil && !(r.forever && (r.op == sysutil.OpMmap || r.op == sysutil.OpOpen)) {
			r.errorf("Read(%d) of a record the log holds: %v", s, err)
		}
	}
}

func (r *fltRun) open(name string) {
	var l *Log
	err := r.call(name, false, func() (err error) {
		l, err = Open(r.dir, &Options{SegmentSize: bbSegSize, Durability: r.dur, MaxMappedSegments: 2})
		return
	})
	if err != nil {
		r.l = nil
		return
	}
	r.l = l
	r.poisoned = false
	if l.Stats().Poisoned {
		r.errorf("%s: a new Log is poisoned", name)
	}
}

func (r *fltRun) close() {
	if r.l == nil {
		return
	}
	err := r.call("Close", false, r.l.Close)
	if err == nil {
		if r.poisoned {
			r.errorf("Close of a poisoned log returned nil")
		}
		for s, p := range r.live {
			r.acked[s] = p
		}
	} else if r.poisoned && !errors.Is(err, ErrPoisoned) {
		r.errorf("Close of a poisoned log: %v, want ErrPoisoned", err)
	}
	r.l = nil
}

// tearTail writes garbage after the end of the newest segment's frames, as
// a crash while appending would leave: the next Open must cut it.
func (r *fltRun) tearTail() {
	names, _ := listSegments(r.dir)
	if len(names) == 0 {
		return
	}
	// A torn tail is left by a writer that crashed while appending, and
	// its Open removed the clean-close record from META first.
	dropCleanClose(r.t, r.dir)
	path := r.segPath(names[len(names)-1])
	b, err := os.ReadFile(path)
	if err != nil {
		r.errorf("%v", err)
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	end = (end + 7) &^ 7
	if end+16 > len(b) {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		r.errorf("%v", err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("torn tail bytes!"), int64(end)); err != nil {
		r.errorf("%v", err)
	}
}

func (r *fltRun) segPath(n uint64) string { return filepath.Join(r.dir, fmt.Sprintf("%016x.wal", n)) }

// workload is the fixed sequence of calls.
func (r *fltRun) workload() {
	r.open("Open")
	for range 24 {
		r.append()
	}
	r.batch(3)
	r.sync()
	r.reserve()
	r.truncateFront(5)
	for range 10 {
		r.append()
	}
	r.sync()
	r.checkReads()
	r.truncateBack(4)
	for range 3 {
		r.append()
	}
	r.close()
	if !r.poisonedOnce() {
		r.tearTail()
	}
	r.open("Open (repair)")
	for range 12 {
		r.append()
	}
	r.sync()
	r.checkReads()
	r.close()
}

// poisonedOnce reports whether any call failed with ErrPoisoned.
func (r *fltRun) poisonedOnce() bool {
	for _, f := range r.failures {
		if strings.Contains(f, ErrPoisoned.Error()) {
			return true
		}
	}
	return false
}

// verify opens the directory without the fault and checks what survived.
func (r *fltRun) verify() {
	l, err := Open(r.dir, &Options{SegmentSize: bbSegSize, Durability: SyncManual})
	if err != nil {
		r.errorf("reopen without the fault: %v (failures: %q)", err, r.failures)
	}
	defer l.Close()
	if l.FirstSeq() < r.front && l.LastSeq() >= l.FirstSeq() {
		r.errorf("FirstSeq %d below the front truncation to %d", l.FirstSeq(), r.front)
	}
	got := map[uint64][]byte{}
	it, err := l.NewIterator(0)
	if err != nil {
		r.errorf("%v", err)
	}
	for it.Next() {
		got[it.Seq()] = bytes.Clone(it.Value())
	}
	if err := it.Err(); err != nil {
		r.errorf("iterating after reopen: %v", err)
	}
	it.Close()
	for s, p := range got {
		ok := false
		for _, a := range r.allowed[s] {
			ok = ok || bytes.Equal(a, p)
		}
		if !ok {
			r.errorf("after reopen, record %d holds bytes never appended there (or truncated away)", s)
		}
		if s < r.front {
			r.errorf("after reopen, record %d is below the front truncation to %d", s, r.front)
		}
	}
	for s, p := range r.acked {
		if !bytes.Equal(got[s], p) {
			r.errorf("acknowledged record %d lost or changed after reopen (failures: %q)", s, r.failures)
		}
	}
	if _, err := l.Append([]byte("after")); err != nil {
		r.errorf("Append after reopen: %v", err)
	}
}

// fltLoop runs the workload with the n-th call of op failing, for n = 1, 2,
// … until a run in which the fault never fired; it returns the runs done.
func fltLoop(t *testing.T, op sysutil.Op, errno syscall.Errno, forever bool, dur Durability) int {
	base := fastTempDir(t)
	for n := 1; n <= fltMaxN; n++ {
		dir, err := os.MkdirTemp(base, "run-")
		if err != nil {
			t.Fatal(err)
		}
		r := &fltRun{t: t, dir: dir, op: op, n: n, errno: errno, forever: forever, dur: dur,
			allowed: map[uint64][][]byte{}, live: map[uint64][]byte{}, acked: map[uint64][]byte{}}
		restore := sysutil.SetFault(r.hook())
		func() {
			defer restore()
			r.workload()
		}()
		if r.fired.Load() == 0 {
			if len(r.failures) > 0 {
				r.errorf("calls failed without a fault: %q", r.failures)
			}
			r.verify()
			os.RemoveAll(dir)
			return n
		}
		r.verify()
		os.RemoveAll(dir)
	}
	t.Fatalf("%v: the workload still reached call #%d", op, fltMaxN)
	return 0
}

// TestFaultEveryCall is the loop over every call, N, once/forever, EIO and
// ENOSPC, under SyncManual; msync and fdatasync also under SyncAlways.
func TestFaultEveryCall(t *testing.T) {
	total := 0
	for _, op := range fltOps {
		durs := []Durability{SyncManual}
		if op == sysutil.OpMsync || op == sysutil.OpFdatasync {
			durs = append(durs, SyncAlways)
		}
		for _, dur := range durs {
			for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
				for _, forever := range []bool{false, true} {
					runs := fltLoop(t, op, errno, forever, dur)
					total += runs
					t.Logf("%v %v forever=%v %v: %d runs", op, errno, forever, dur, runs)
				}
			}
		}
	}
	t.Logf("%d runs", total)
}
