package mmapwal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Follower reads a log that a Log in another process (or this one) writes,
// as it grows, with no lock: it never blocks or stops the writer. It maps
// the segments read-only and trusts no byte of them: every record is
// copied into a buffer the iterator owns and checked after the copy (its
// checksum, its sequence, and that no truncation began meanwhile), so that
// the writer may zero, truncate or replace bytes under it at any time.
//
// It learns what changed from the log's control area (FORMAT.md §9.6),
// which the writer rebuilds at each Open: truncations, DurableSeq, and a
// futex word the writer wakes it with. Without one it can trust (no control
// area, or one the process holding the log's lock does not maintain, or a
// closed area the files no longer match) it scans the frames alone and
// polls. Whatever it trusts, a follower that returned records later cut
// or rewritten gets ErrTruncated, never the new records at the same
// sequences; FORMAT.md §9.6 says which Seq it reports when the area cannot
// tell (a writer without one cut below the last 64 records it returned:
// the first record it returned).
//
// A Follower's methods are safe for concurrent use; each of its Iterators,
// like a Log's, is not.
type Follower struct {
	dir   string
	opts  FollowerOptions
	log   *slog.Logger
	logID [16]byte

	mu     sync.Mutex          // guards the fields below
	files  map[uint64]*folFile // mapped segments by number
	ctl    *control            // the control area, nil when none could be mapped
	ctlTry time.Time           // when mapping it was last tried
	idDue  bool                // ctl's file is to be checked to still be CONTROL (replacedLocked)
	reg    uint64              // the incarnation this Follower trusts and flags itself in (listenFollower; 0: none)
	faulty []*control          // areas dropped after a fault, unmapped at Close (sleepers may hold them)
	trust  trustVerdict
	tail   [2]*Iterator // LastSeq's and DurableSeq's scans, used under tmu
	closed atomic.Bool
	done   chan struct{} // closed by Close: ends the sleeps that have no futex to be woken on
	// due is set by recheck, trustRecheck after the last look that
	// consumed it: that the lock holders and CONTROL's name be checked
	// again. A look pays one atomic load for it, not a clock read.
	due     atomic.Bool
	recheck *time.Timer
	// gen counts the changes of ctl and of the trust verdict (and Close),
	// each made under mu: an iterator's fast path (fastNext) reads it
	// instead of taking mu to learn that the area it validated its
	// position under is still the one the Follower uses and trusts.
	gen atomic.Uint64

	tmu      sync.Mutex     // serialises LastSeq's and DurableSeq's scans; taken before mu
	sleepers sync.RWMutex   // read-held by iterators sleeping on ctl's futex word
	refresh  sync.WaitGroup // the trust recheck running (refreshTrust); Close waits for it
	judges   atomic.Int64   // reads of the lock holders (judgeHolders), for tests
}

// FollowerOptions configure a Follower. The zero value (and nil) is the
// default.
type FollowerOptions struct {
	// DurableOnly: the Follower's iterators return no record above the
	// writer's DurableSeq, so that none of them can be taken back by a
	// crash (TruncateBack and Reset, which drop durable records on
	// purpose, still end them with ErrTruncated).
	DurableOnly bool
	// PollInterval is the longest an idle NextWait sleeps between two
	// looks at the log; default 1ms. It spins briefly first, and a writer
	// that maintains the control area wakes it sooner.
	PollInterval time.Duration
	// Logger receives what the Follower falls back to (Info); nil is
	// silent.
	Logger *slog.Logger
}

// DefaultPollInterval is FollowerOptions.PollInterval's default.
const DefaultPollInterval = time.Millisecond

// trustVerdict caches whether the control area's writer holds the lock.
type trustVerdict struct {
	inc, pid   uint64
	judged     bool // inc, pid and ok hold a verdict
	ok         bool
	ofd        bool // the writer held an OFD lock on CONTROL when ok was judged: rechecks ask that lock
	stale      bool // older than trustRecheck: to be judged again
	refreshing bool // a recheck of this verdict runs (refreshTrust)
}

// trustRecheck is how old a trust verdict may grow, while the incarnation
// stays the same, before it is checked again: a writer of an older version
// that took the lock since does not maintain the area. A writer that holds
// CONTROL's OFD lock is rechecked with one F_OFD_GETLK, in the look; any
// other verdict (a closed area, a writer without the OFD lock) is judged
// again beside the looks, which use it until that is done: the judgement
// reads /proc/locks, which takes the kernel's file-lock rwsem for writing
// (an RCU grace period, milliseconds here), and a look that waited for it
// would hold every record back as long.
const trustRecheck = 50 * time.Millisecond

// folFile is a segment mapped by a Follower, shared by its iterators.
type folFile struct {
	num  uint64
	f    *segment.File
	refs int // the Follower's own reference (while in files) plus the iterators'
}

// OpenFollower opens the log in dir for following. It takes no lock and
// writes nothing but its registration in the control area. Errors: those of
// reading META (ErrCorrupt for a missing or bad one), ErrUnsupportedVersion
// for a log of a newer format or a newer control area.
func OpenFollower(dir string, opts *FollowerOptions) (*Follower, error) {
	f := &Follower{dir: dir, files: map[uint64]*folFile{}, done: make(chan struct{})}
	f.recheck = time.AfterFunc(trustRecheck, func() { f.due.Store(true) })
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.PollInterval <= 0 {
		f.opts.PollInterval = DefaultPollInterval
	}
	f.log = f.opts.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	m, err := readMeta(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &CorruptionError{Segment: metaName, Reason: ReasonMissingMeta, Durable: true}
	}
	if err != nil {
		return nil, err
	}
	f.logID = m.logID
	f.mu.Lock()
	_, err = f.stateLocked()
	f.mu.Unlock()
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close releases the Follower; its iterators end with ErrClosed. A second
// Close returns nil.
func (f *Follower) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	close(f.done)
	f.recheck.Stop()
	f.tmu.Lock()
	for _, t := range f.tail {
		if t != nil {
			t.Close()
		}
	}
	f.tmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reg = 0
	c := f.ctl
	f.ctl = nil
	f.gen.Add(1)
	faulty := f.faulty
	f.faulty = nil
	for num, ff := range f.files {
		delete(f.files, num)
		f.releaseLocked(ff)
	}
	f.mu.Unlock()
	if c != nil {
		c.wakeFutexGuarded() // iterators sleeping on it look again and find the Follower closed
	}
	f.sleepers.Lock()
	if c != nil {
		c.close()
	}
	for _, c := range faulty {
		c.close()
	}
	f.sleepers.Unlock()
	f.refresh.Wait() // no recheck starts once closed is set
	f.mu.Lock()
	return nil
}

// ctlState is what a look at the control area found.
type ctlState struct {
	ctl                *control // the area it was read from (nil: none)
	trusted            bool     // the writer holding the lock maintains it, or a closed area the files still match
	closed             bool     // trusted, and no writer holds the log: the area is how the last one left it
	rebuilding         bool     // incarnation 0 while a writer holds the lock: its open rebuilds the area
	poisoned           bool     // trusted, and a failed truncation poisoned the writer: no record above last comes
	poisonEnds         bool     // poisoned and the writer still holds the log: NextWait ends with ErrPoisoned
	inc, epoch, resets uint64   // resets: informational (the cut ring records Resets)
	lineage            uint64   // the cut ring's (cutring.go)
	durable, last      uint64
	first              uint64
	segment            uint64 // the active segment the writer last published
}

// state reads the control area; ErrUnsupportedVersion when it is of a
// newer version.
func (f *Follower) state() (ctlState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateLocked()
}

func (f *Follower) stateLocked() (ctlState, error) {
	if f.closed.Load() {
		return ctlState{}, ErrClosed
	}
	if f.ctl == nil && time.Since(f.ctlTry) >= f.opts.PollInterval {
		f.ctlTry = time.Now()
		if err := f.mapControlLocked(); err != nil {
			return ctlState{}, err
		}
	}
	c := f.ctl
	if c == nil {
		return ctlState{}, nil
	}
	if f.due.Load() {
		f.due.Store(false)
		f.idDue, f.trust.stale = true, true
		f.recheck.Reset(trustRecheck)
	}
	sn, err := c.snapshot(f.logID)
	if errors.Is(err, errControlFault) {
		f.dropControlLocked(err)
		return ctlState{}, nil
	}
	if err != nil {
		return ctlState{}, err
	}
	if f.replacedLocked(c) {
		// CONTROL was removed and made again (a new writer's open):
		// map the new one.
		f.faulty = append(f.faulty, f.ctl)
		f.ctl, f.reg, f.ctlTry = nil, 0, time.Time{}
		f.gen.Add(1)
		return f.stateLocked()
	}
	inc := sn.inc
	if inc == 0 && sn.header {
		pids, _, err := sysutil.LockHolders(filepath.Join(f.dir, lockName))
		return ctlState{rebuilding: err == nil && len(pids) != 0}, nil
	}
	if !sn.valid {
		return ctlState{inc: inc}, nil // being rebuilt, or not this log's
	}
	st := ctlState{ctl: c, inc: inc, epoch: sn.epoch, resets: sn.resets,
		durable: sn.durable, last: sn.last, first: sn.first, lineage: sn.lineage, segment: sn.segment}
	st.trusted = f.trustedLocked(c, sn)
	st.closed = st.trusted && sn.pid == 0
	st.poisoned = st.trusted && sn.poisoned
	st.poisonEnds = st.poisoned && sn.pid != 0 && sn.epoch%2 == 0 // a failing truncation publishes its cut first
	if st.trusted {
		// The writer publishes each append while the flag is set; it
		// clears it now and then, and each look sets it again.
		if err := c.listenAs(listenFollower); err != nil {
			f.dropControlLocked(err)
			return ctlState{}, nil
		}
		f.reg = inc
	}
	return st, nil
}

// unchanged reports whether the control area still says what st says
// (the same area, incarnation, epoch and trust): the check after a copy.
// With a trusted area it reads two words, not the whole area.
func (f *Follower) unchanged(st ctlState) bool {
	if !st.trusted {
		st2, err := f.state()
		return err == nil && st2.inc == st.inc && st2.epoch == st.epoch && !st2.trusted
	}
	f.mu.Lock()
	ok := f.ctl == st.ctl && f.trust.judged && f.trust.ok && f.trust.inc == st.inc && !f.closed.Load()
	f.mu.Unlock()
	if !ok {
		return false
	}
	inc, epoch, err := st.ctl.incEpoch()
	return err == nil && inc == st.inc && epoch == st.epoch
}

// replacedLocked reports, at most once per trustRecheck, whether the file
// named CONTROL is no longer the one c maps (removed, and perhaps made
// again).
func (f *Follower) replacedLocked(c *control) bool {
	if !f.idDue {
		return false
	}
	f.idDue = false
	linked, err := sysutil.Linked(c.f)
	return err == nil && !linked
}

// dropControlLocked stops using the control area after a fault (the file
// shrank under the mapping): the Follower scans the frames, and maps the
// file again once it is whole (a writer's open rebuilds it). The mapping
// stays until Close: an iterator may be asleep on it.
func (f *Follower) dropControlLocked(err error) {
	f.log.Info("mmapwal: follower: control area dropped", "dir", f.dir, "err", err)
	f.faulty = append(f.faulty, f.ctl)
	f.ctl, f.reg = nil, 0
	f.ctlTry = time.Now()
	f.gen.Add(1)
}

// tells reports whether a live writer maintains the area: it tells of
// every change of the log (a closed area only of those before its Close).
func (st ctlState) tells() bool { return st.trusted && !st.closed }

// trustedLocked reports whether the process holding the log's lock is the
// one that wrote the control area's incarnation sn.inc, or, with no writer
// (a closed area), whether the files are still as the area's fingerprint
// describes them. A new incarnation or pid is judged at once; a verdict
// older than trustRecheck is judged again: with one F_OFD_GETLK when the
// writer holds CONTROL's OFD lock, else in the background (refreshTrust),
// the verdict used meanwhile.
func (f *Follower) trustedLocked(c *control, sn ctlSnap) bool {
	pid, inc := sn.pid, sn.inc
	t := &f.trust
	if t.inc == inc && t.pid == pid && t.judged {
		if t.stale && t.ofd {
			// The writer locks CONTROL for OFD locks too: one fcntl says
			// whether it still holds it (it cannot have given it to
			// another writer without that one changing the incarnation).
			if held, known, err := sysutil.LockedOFD(c.f); err == nil && known {
				if held {
					t.stale = false
				} else {
					f.setTrustLocked(pid, inc, false)
				}
				return t.ok
			}
		}
		if t.stale && !t.refreshing && !f.closed.Load() {
			t.refreshing = true
			f.refresh.Add(1)
			go f.refreshTrust(sn)
		}
		return t.ok
	}
	ok := f.judgeHolders(pid)
	if ok && pid == 0 {
		ok = f.closedHoldsLocked(sn)
	}
	f.setTrustLocked(pid, inc, ok)
	if ok && pid != 0 {
		held, known, err := sysutil.LockedOFD(c.f)
		t.ofd = err == nil && known && held
	}
	return ok
}

// refreshTrust judges the verdict of sn's writer again, reading the lock
// holders without f.mu, and stores it if it still speaks for the area.
func (f *Follower) refreshTrust(sn ctlSnap) {
	defer f.refresh.Done()
	pid, inc := sn.pid, sn.inc
	ok := f.judgeHolders(pid)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trust.refreshing = false
	if f.trust.inc == inc && f.trust.pid == pid && !f.closed.Load() {
		if ok && pid == 0 {
			ok = f.closedHoldsLocked(sn)
		}
		f.setTrustLocked(pid, inc, ok)
	}
}

// setTrustLocked records a verdict, logging a change.
func (f *Follower) setTrustLocked(pid, inc uint64, ok bool) {
	t := &f.trust
	if ok != t.ok || t.inc != inc {
		f.log.Info("mmapwal: follower", "dir", f.dir, "control area trusted", ok, "writer pid", pid)
	}
	if t.inc != inc || t.pid != pid || !ok {
		t.ofd = false
	}
	t.inc, t.pid, t.ok, t.judged, t.stale = inc, pid, ok, true, false
	f.gen.Add(1)
}

// judgeHolders reads the lock holders: whether the writer pid may be
// trusted, or, for pid 0 (a closed area), whether no writer holds the log
// (trustedLocked then checks the files against the area). Without f.mu.
func (f *Follower) judgeHolders(pid uint64) bool {
	f.judges.Add(1)
	pids, known, err := sysutil.LockHolders(filepath.Join(f.dir, lockName))
	var ok bool
	if pid != 0 {
		ok = err == nil && (!known || slices.Contains(pids, int(pid)) || slices.Contains(pids, 0))
		if ok {
			// The pid is no identity (reuse, a container's pid 1): the
			// writer that maintains the area also holds a flock on
			// CONTROL, which its death drops and an older writer never
			// takes (lockControl).
			cpids, cknown, err := sysutil.LockHolders(filepath.Join(f.dir, controlName))
			ok = err == nil && (!cknown || slices.Contains(cpids, int(pid)) || slices.Contains(cpids, 0))
		}
	} else {
		// Closed, and no writer holds the log: the area says how the last
		// one left it (its cuts included), unless a writer that does not
		// maintain the area (an older version) changed the log since.
		ok = err == nil && known && len(pids) == 0
	}
	return ok
}

// closedHoldsLocked reports whether the log is still as the closed area sn
// describes it: META's floor and first seq as recorded and no redo
// record, the tip frame (LastSeq's) at its place with its sequence and
// checksum, and nothing after the end the area published (no valid frame
// there, no later segment made active).
func (f *Follower) closedHoldsLocked(sn ctlSnap) bool {
	t := sn.tip
	m, err := readMeta(f.dir)
	if err != nil || !t.recorded || m.floor != t.floor || m.firstSeq != t.front || m.backSeg != 0 || m.reset != 0 {
		return false
	}
	if t.seg != 0 {
		ff, err := f.acquireLocked(t.seg)
		if err != nil || ff == nil {
			return false
		}
		h, _, ok := peek(ff, int64(t.off))
		crc, err := ff.f.FrameCRC(int64(t.off))
		f.releaseLocked(ff)
		if !ok || err != nil || !h.Type.IsRecord() || h.Seq != t.seq || crc != t.crc {
			return false
		}
	}
	if sn.segment == 0 {
		return true
	}
	ff, err := f.acquireLocked(sn.segment)
	if err != nil || ff == nil {
		return false
	}
	_, _, after := peek(ff, int64(sn.end))
	f.releaseLocked(ff)
	nf, err := f.acquireLocked(sn.segment + 1)
	if err != nil {
		return false
	}
	if nf != nil {
		after = after || activeFrom(nf) != 0
		f.releaseLocked(nf)
	}
	return !after
}

// mapControlLocked maps the control area if there is one: writable, to
// register, or read-only when the file does not allow more. A damaged
// one (too short) is left alone: the Follower scans.
func (f *Follower) mapControlLocked() error {
	path := filepath.Join(f.dir, controlName)
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	writable := err == nil
	if err != nil {
		if file, err = os.Open(path); err != nil {
			return nil // none (yet)
		}
	}
	st, err := file.Stat()
	if err != nil || st.Size() < controlSize {
		file.Close()
		return nil
	}
	c, err := mapControl(file, writable)
	if err != nil {
		file.Close()
		return nil
	}
	if _, err := c.snapshot(f.logID); err != nil {
		c.close()
		if errors.Is(err, errControlFault) {
			return nil // shrunk since the Stat: none
		}
		return err // a newer version
	}
	if !writable {
		// Registration and waiting need stores: poll instead.
		c.listen = new(atomic.Uint64)
	}
	f.ctl = c
	f.gen.Add(1)
	return nil
}

// acquire returns segment num mapped, with a reference, or nil when there
// is no such segment (now). A cached mapping whose file was removed or
// replaced since is dropped first.
func (f *Follower) acquire(num uint64) (*folFile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acquireLocked(num)
}

func (f *Follower) acquireLocked(num uint64) (*folFile, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	if ff := f.files[num]; ff != nil {
		if linked, err := ff.f.Linked(); err == nil && linked {
			ff.refs++
			return ff, nil
		}
		delete(f.files, num)
		f.releaseLocked(ff)
	}
	sf, err := segment.Open(filepath.Join(f.dir, segment.Name(num)), num, f.logID, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		var se *segment.Error
		if errors.As(err, &se) && se.Reason == crcframe.UnsupportedVersion {
			return nil, &unsupportedError{name: segment.Name(num)}
		}
		return nil, nil // being created or removed: not there yet
	}
	ff := &folFile{num: num, f: sf, refs: 2}
	f.files[num] = ff
	return ff, nil
}

// ref adds a reference to ff.
func (f *Follower) ref(ff *folFile) {
	f.mu.Lock()
	ff.refs++
	f.mu.Unlock()
}

func (f *Follower) release(ff *folFile) {
	if ff == nil {
		return
	}
	f.mu.Lock()
	f.releaseLocked(ff)
	f.mu.Unlock()
}

func (f *Follower) releaseLocked(ff *folFile) {
	ff.refs--
	if ff.refs == 1 && f.files[ff.num] == ff {
		// Only the cache holds it: unmap it (a log of many segments is
		// not kept mapped whole).
		delete(f.files, ff.num)
		ff.refs--
	}
	if ff.refs == 0 {
		ff.f.Close()
	}
}

// activeFrom returns the first sequence of segment ff as its header in the
// mapping says now: 0 while it is prepared but not active (or its header
// is being rewritten).
func activeFrom(ff *folFile) uint64 {
	var hb [segment.HeaderSize]byte
	return activeFromBuf(ff, &hb)
}

// activeFromBuf is activeFrom copying the header into hb (an iterator's:
// a local array would escape, one allocation per look).
func activeFromBuf(ff *folFile, hb *[segment.HeaderSize]byte) uint64 {
	if err := ff.f.CopyAt(hb[:], 0); err != nil {
		return 0
	}
	h, err := segment.DecodeHeader(hb[:])
	if err != nil || h.Number != ff.num {
		return 0
	}
	return h.FirstSeq
}

// segmentNums lists the segment numbers in the directory, ascending.
func (f *Follower) segmentNums() ([]uint64, error) {
	nums, err := listSegments(f.dir)
	var ce *CorruptionError
	if errors.As(err, &ce) {
		return nums, nil // the segments before the bad entry
	}
	return nums, err
}

// NewIterator returns an iterator positioned before the first record whose
// sequence is ≥ from, the same Iterator type as a Log's: Next, NextWait,
// Seq, Value, Err, Close. Its Value is a checked copy in a buffer the
// iterator owns, valid until the next Next or NextWait.
func (f *Follower) NewIterator(from uint64) (*Iterator, error) {
	if f.closed.Load() {
		return nil, ErrClosed
	}
	return &Iterator{fol: &followIter{f: f, want: max(from, 1), durableOnly: f.opts.DurableOnly}}, nil
}

// FirstSeq returns the sequence of the first record the log holds (as the
// Follower sees it now), or LastSeq()+1 when it holds none.
func (f *Follower) FirstSeq() uint64 {
	st, _ := f.state()
	it, err := f.NewIterator(1)
	if err != nil {
		return 0
	}
	defer it.Close()
	if st.tells() { // not a closed area: a writer it did not see may have changed the log since
		it.fol.want = max(st.first, 1)
	} else if m, err := readMeta(f.dir); err == nil {
		it.fol.want = max(m.firstSeq, 1)
	}
	if it.Next() {
		return it.Seq()
	}
	if last := f.LastSeq(); last > 0 {
		return last + 1
	}
	return it.fol.want - 1
}

// LastSeq returns the sequence of the last record the Follower can see
// (or, when the writer maintains the control area, the writer's LastSeq if
// it is higher: records being appended).
func (f *Follower) LastSeq() uint64 { return f.tailSeq(0) }

// DurableSeq returns the writer's DurableSeq as its control area says, or,
// without one it can trust, the last record the files prove durable.
func (f *Follower) DurableSeq() uint64 { return f.tailSeq(1) }

// tailSeq scans to the end of the log with the tail iterator k (0: all
// records, 1: durable ones) and returns the last sequence found, or the
// control area's when higher.
func (f *Follower) tailSeq(k int) uint64 {
	st, err := f.state()
	if err != nil {
		return 0
	}
	f.tmu.Lock()
	defer f.tmu.Unlock()
	var it *Iterator
	for try := 0; try < 2; try++ {
		// A second scan from the start when the log changed under the
		// first (a cut ends the tail iterator half way).
		if it = f.tail[k]; it == nil || it.Err() != nil {
			if it != nil {
				it.Close()
			}
			it = &Iterator{fol: &followIter{f: f, want: 1, durableOnly: k == 1, tail: true}}
			f.tail[k] = it
		}
		for it.Next() {
		}
		if it.Err() == nil {
			break
		}
	}
	seq := it.fol.returned
	if st.tells() { // not a closed area: a writer it did not see may have changed the log since
		if k == 1 {
			return max(seq, st.durable)
		}
		return max(seq, st.last)
	}
	return seq
}

// Read returns a copy of the record seq, or ErrNotFound.
func (f *Follower) Read(seq uint64) ([]byte, error) {
	it, err := f.NewIterator(seq)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	it.fol.durableOnly = false
	if it.Next() && it.Seq() == seq {
		return slices.Clone(it.Value()), nil
	}
	if err := it.Err(); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: sequence %d", ErrNotFound, seq)
}

// followIter is the state of a Follower's iterator.
type followIter struct {
	f           *Follower
	durableOnly bool
	tail        bool // one of f.tail: runs under f.tmu

	file  *folFile // the segment the position is in (referenced), nil to locate
	nextF *folFile // the one after it, once seen (referenced; nextFile), or nil
	off   int64    // the next frame's offset in it
	want  uint64   // the lowest sequence still to return

	// The last record returned, to re-validate after any truncation or
	// change of writer: gone or different is a *TruncatedError.
	returned   uint64
	firstRet   uint64 // the first record returned (0: none yet)
	retCRC     uint32
	retFile    *folFile // referenced while set
	retOff     int64
	batchEnd   int64  // frames of file before it belong to a batch seen complete
	durableEnd int64  // bytes of file before it are proven durable by its frames (fallback)
	durWalk    int64  // where the walk for durableEnd stopped
	inc, epoch uint64 // the control area's when the position was last validated
	lineage    uint64 // the cut ring's lineage then
	trusted    bool
	idle       int // looks in a row that found nothing new
	// The next segment's number when the last try to open it found it
	// not there (yet), 0 after one that did; missLeft: throttled looks
	// before the next try (nextFile).
	missNum  uint64
	missLeft int
	missRun  int // the tries in a row that found missNum not there
	// The last records returned (hist[i % len(hist)] for i < nhist), to
	// tell, without a cut ring to trust, the first one a cut removed.
	hist   [64]retMark
	nhist  uint64
	buf    []byte
	hdr    [crcframe.HeaderSize]byte
	segHdr [segment.HeaderSize]byte // activeFromBuf's copy

	// The fast path (fastNext). fast says that the look which returned
	// the last record found a live writer's area trusted (fastSt, taken
	// while the Follower's gen was fastGen) and the position validated
	// under it: the next records of the same segment may be read with
	// no other look at the area than its incarnation and epoch after
	// each copy. chunk holds frames copied at once from chunkOff of
	// chunkFile (the position's segment), the next ones to return;
	// every slow look empties it.
	fast      bool
	fastSt    ctlState
	fastGen   uint64
	fastMax   int // the largest payload a frame of the position's segment may have
	chunk     []byte
	chunkFile *folFile
	chunkOff  int64

	// Sleeping (sleep). sleepOn is the control area whose futex word the
	// iterator waits on, nil when it does not: the cancellation of
	// waitCtx (stopCancel undoes its registration) wakes it there. timer
	// bounds a sleep with no futex. The iterator's goroutine owns all but
	// sleepOn, which onCancel reads.
	sleepOn    atomic.Pointer[control]
	waitCtx    context.Context
	stopCancel func() bool
	timer      *time.Timer
}

func (fi *followIter) close() {
	if fi.stopCancel != nil {
		fi.stopCancel()
		fi.stopCancel, fi.waitCtx = nil, nil
	}
	if fi.timer != nil {
		fi.timer.Stop()
	}
	fi.f.release(fi.file)
	fi.f.release(fi.retFile)
	fi.dropNext()
	fi.file, fi.retFile = nil, nil
}

// next is Iterator.Next for a Follower's iterator.
func (fi *followIter) next(it *Iterator) bool {
	if it.err != nil || it.closed {
		return false
	}
	if fi.fast {
		if fi.fastNext(it) {
			return true
		}
		fi.fast = false
	}
	// The slow look may move, re-locate or re-validate the position:
	// nothing copied before it is read again.
	fi.chunkFile, fi.chunk = nil, fi.chunk[:0]
	for tries := 0; ; tries++ {
		gen := fi.f.gen.Load() // before the look: a change during it fails the fast path's check
		st, err := fi.f.state()
		if err != nil {
			return fi.fail(it, err)
		}
		if !fi.checkState(it, st) {
			return false
		}
		if st.trusted && st.epoch%2 == 1 {
			return false // a truncation is under way
		}
		ok, again := fi.advance(it, st)
		if ok && st.tells() && !st.poisoned && st.ctl != nil {
			fi.fast, fi.fastSt, fi.fastGen = true, st, gen
			fi.fastMax = framePayloadIn(fi.file.f.Size())
		}
		if !again || tries > 100 {
			return ok
		}
	}
}

// fastChunk is the most bytes fastNext copies at once: the frames the
// writer published after the position, up to this many.
const fastChunk = 16 << 10

// fastGuess is how many bytes fastNext copies after the published end.
const fastGuess = 2 << 10

// fastNext is next's common case: the next record of the position's
// segment, after a look that returned one under a live writer's trusted
// area (fi.fast), read without taking the Follower's lock and without
// another snapshot of the area. It makes the checks a look makes after
// its copy (the frame's checksum on the copy; the area, its trust, its
// incarnation and epoch unchanged since the look that validated the
// position) and refuses, changing nothing but the chunk, whatever the
// general path decides otherwise: a seal, the end of the frames, a
// batch not seen complete, a sequence below the position, a record not
// durable yet for a DurableOnly iterator, a trust recheck due. The
// frames are copied a chunk at a time (fill), each checked when it is
// returned: a truncation that began before the check is seen however
// long before it the frame was copied.
func (fi *followIter) fastNext(it *Iterator) bool {
	f, ff := fi.f, fi.file
	if ff == nil || f.due.Load() || f.gen.Load() != fi.fastGen || f.closed.Load() {
		return false
	}
	pos := fi.off - fi.chunkOff
	if fi.chunkFile != ff || pos < 0 || pos+crcframe.HeaderSize > int64(len(fi.chunk)) {
		if !fi.fill(false) {
			return false
		}
		pos = 0
	}
	h, payload, n, err := crcframe.Decode(fi.chunk[pos:], ff.f.Seed(), fi.fastMax)
	if errors.Is(err, crcframe.IncompletePayload) {
		// The frame runs past the chunk: copy it alone, whole.
		if !fi.fill(true) {
			return false
		}
		pos = 0
		h, payload, n, err = crcframe.Decode(fi.chunk, ff.f.Seed(), fi.fastMax)
	}
	if err != nil || !h.Type.IsRecord() || h.Seq < fi.want {
		return false
	}
	size := int64(n)
	if (h.Type == crcframe.First || h.Type == crcframe.Middle) && fi.off >= fi.batchEnd {
		return false // not seen complete yet: the general path looks
	}
	if fi.durableOnly && h.Seq > fi.fastSt.durable {
		return false // DurableSeq may have risen since: the general path looks
	}
	// After the copy: nothing may have changed under it.
	if f.gen.Load() != fi.fastGen || f.closed.Load() {
		return false
	}
	if !fi.fastSt.ctl.holds(f.logID, fi.fastSt.inc, fi.fastSt.epoch) {
		return false
	}
	fi.setReturned(h.Seq, fi.off, binary.LittleEndian.Uint32(fi.chunk[pos:]))
	it.seq, it.val = h.Seq, payload
	fi.off += size
	fi.want = h.Seq + 1
	fi.idle = 0
	return true
}

// fill copies frames of the position's segment from the position into
// fi.chunk: those the writer published as written (the area's end, when
// it is in this segment and after the position; the rest of the segment
// when the writer went on to a later one), at most fastChunk bytes, else
// fastGuess bytes; or, when one is set (a frame longer than the chunk),
// the frame at the position alone, as long as its length field says. The
// copy is checked frame by frame when each is decoded; false when
// nothing could be copied (chunk emptied).
func (fi *followIter) fill(one bool) bool {
	ff := fi.file
	fi.chunkFile, fi.chunk = nil, fi.chunk[:0]
	limit := int64(len(ff.f.Data()))
	var n int64
	if !one {
		seg, end, err := fi.fastSt.ctl.published()
		switch {
		case err != nil:
		case seg == ff.num && int64(end) > fi.off:
			n = min(int64(end), limit) - fi.off
		case seg > ff.num:
			n = limit - fi.off // the writer went on to a later segment: this one's frames are all written
		default:
			// Not published yet (the writer publishes every
			// publishEvery appends): a few frames' worth, on the
			// chance that they are there.
			n = min(limit-fi.off, fastGuess)
		}
		n = min(n, fastChunk)
	}
	if n < crcframe.HeaderSize {
		if ff.f.CopyAt(fi.hdr[:], fi.off) != nil {
			return false
		}
		l := binary.LittleEndian.Uint32(fi.hdr[4:])
		if int64(l) > int64(fi.fastMax) {
			return false
		}
		n = int64(crcframe.Size(int(l)))
	}
	if n <= 0 || fi.off+n > limit {
		return false
	}
	if int64(cap(fi.chunk)) < n {
		fi.chunk = make([]byte, 0, max(n, min(2*int64(cap(fi.chunk)), fastChunk)))
	}
	fi.chunk = fi.chunk[:n]
	if ff.f.CopyAt(fi.chunk, fi.off) != nil {
		fi.chunk = fi.chunk[:0]
		return false
	}
	fi.chunkFile, fi.chunkOff = ff, fi.off
	return true
}

// checkState re-validates the position when the control area says the log
// may have changed under it (a truncation, another writer, trust gained or
// lost). False: the iterator failed or must wait.
func (fi *followIter) checkState(it *Iterator, st ctlState) bool {
	changed := st.trusted != fi.trusted || st.inc != fi.inc || (st.trusted && st.epoch != fi.epoch)
	if !changed {
		return true
	}
	if st.rebuilding && fi.trusted {
		return false // the new writer's open is rebuilding it: its cuts are in the ring after
	}
	if st.trusted && st.epoch%2 == 1 {
		return false // re-validate once it is done
	}
	if st.trusted && fi.trusted && st.lineage != 0 && st.lineage == fi.lineage {
		if !fi.followRing(it, st) {
			return false
		}
		// A closed area does not tell what a writer that does not
		// maintain it did since it was last checked: the records do.
		if st.closed && !fi.revalidate(it, st) {
			return false
		}
	} else if !fi.revalidate(it, st) {
		return false
	}
	fi.trusted, fi.inc, fi.epoch, fi.lineage = st.trusted, st.inc, st.epoch, st.lineage
	return true
}

// followRing accounts for the truncations between the epoch the position
// was validated at and st's, from the control area's cut ring (the same
// lineage: the writers since carried it over): a cut at or below the last
// record returned fails the iterator with the first sequence it returned
// that is gone; a TruncateFront past the position fails it only if it
// removed a record still to return. False: the iterator failed, or the
// area changed while the ring was read (look again).
func (fi *followIter) followRing(it *Iterator, st ctlState) bool {
	f := fi.f
	f.mu.Lock()
	c := f.ctl
	var low, folded, gone uint64
	stable := false
	if c != nil {
		low, folded, gone, stable = c.ringSince(fi.epoch, st.epoch, st.inc) // a fault: not stable, and the next look drops the area
	}
	f.mu.Unlock()
	if !stable {
		return false
	}
	switch {
	case low == 0: // a Reset: every record is gone
		// As the writer's own iterators say it: the Reset's next (front
		// gone + 1) when that is below the position, else the position.
		seq := fi.want
		if gone < seq {
			seq = gone + 1
		}
		return fi.truncated(it, seq, st)
	case fi.returned != 0 && low <= fi.returned:
		return fi.truncated(it, max(low, fi.firstRet), st)
	case fi.returned != 0 && (folded <= fi.returned || st.inc != fi.inc):
		// The ring cannot say it for sure: its oldest entry folds cuts
		// this iterator may have accounted for already (more than 16
		// since it looked), or another writer opened since (one of an
		// older version may have run in between and cut records the
		// fingerprint check of the new one did not see). The records
		// returned say it: the marks of the last 64.
		if seq := fi.cutFrom(st.first); seq <= fi.returned {
			return fi.truncated(it, seq, st)
		}
	}
	if st.first > fi.want {
		if fi.returned != 0 && gone >= fi.want {
			return fi.fail(it, fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, st.first))
		}
		fi.want = st.first
	}
	// What follows the position may have been cut and rewritten, or its
	// segment removed: locate it again. The last record returned stays
	// (referenced) for a re-validation should trust be lost.
	f.release(fi.file)
	fi.dropNext()
	fi.file, fi.batchEnd, fi.durableEnd, fi.durWalk = nil, 0, 0, 0
	return true
}

// truncated ends the iterator with a *TruncatedError at seq, or with
// ErrClosed when the Follower was closed meanwhile: then the files it
// could not look at again were unmapped by Close, not cut.
func (fi *followIter) truncated(it *Iterator, seq uint64, st ctlState) bool {
	if fi.f.closed.Load() {
		return fi.fail(it, ErrClosed)
	}
	return fi.fail(it, &TruncatedError{Seq: seq, LastSeq: fi.lastSeqNow(st)})
}

// lastSeqNow is the LastSeq of a TruncatedError: what the files hold now
// (the area publishes last seq only now and then: a lower bound), as the
// writer's own iterators report it.
func (fi *followIter) lastSeqNow(st ctlState) uint64 {
	if fi.tail {
		return st.last // LastSeq's own scan: no scan within it
	}
	return fi.f.LastSeq()
}

// revalidate checks that the record returned last is still in the log,
// byte for byte (its frame's checksum), and re-locates the position.
func (fi *followIter) revalidate(it *Iterator, st ctlState) bool {
	f := fi.f
	fi.f.release(fi.file)
	fi.dropNext()
	fi.file, fi.batchEnd, fi.durableEnd, fi.durWalk = nil, 0, 0, 0
	if fi.returned == 0 || fi.retFile == nil {
		return true
	}
	m, err := readMeta(f.dir)
	if err != nil {
		return fi.fail(it, err)
	}
	if !st.tells() && (m.backSeg != 0 || m.reset != 0) {
		return false // a truncation's redo record: wait until it is done
	}
	ff, err := f.acquire(fi.retFile.num)
	if err != nil {
		return fi.fail(it, err)
	}
	if ff != nil {
		h, _, ok := fi.frameAt(ff, fi.retOff)
		if ok && h.Seq == fi.returned && binary.LittleEndian.Uint32(fi.buf) == fi.retCRC &&
			fi.cutFrom(m.firstSeq) > fi.returned { // every mark, not the last only
			f.release(fi.retFile)
			f.ref(ff) // position and returned record share it
			fi.retFile, fi.file = ff, ff
			fi.off = fi.retOff + int64(len(fi.buf))
			fi.batchEnd = fi.off
			return true
		}
		f.release(ff)
	}
	if ff == nil && m.firstSeq > fi.returned && m.reset == 0 {
		if m.firstSeq > fi.want {
			// A TruncateFront overtook it (and removed its segment).
			return fi.fail(it, fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, m.firstSeq))
		}
		// Its segment went with a TruncateFront to just after it: the
		// position is re-located from next, if the frame is still in the
		// removed file as it was (a cut zeroes it in place first).
		if c, err := fi.retFile.f.FrameCRC(fi.retOff); err == nil && c == fi.retCRC {
			f.release(fi.retFile)
			fi.retFile = nil // gone for good: nothing left to check it against
			return true
		}
	}
	return fi.truncated(it, min(fi.cutFrom(m.firstSeq), fi.returned), st)
}

// frameAt copies the frame at off of ff into fi.buf and decodes the copy;
// ok is false when there is no valid frame there (now).
func (fi *followIter) frameAt(ff *folFile, off int64) (crcframe.Header, []byte, bool) {
	if ff.f.CopyAt(fi.hdr[:], off) != nil {
		return crcframe.Header{}, nil, false
	}
	n := int64(binary.LittleEndian.Uint32(fi.hdr[4:]))
	maxPayload := framePayloadIn(ff.f.Size())
	if n > int64(maxPayload) {
		return crcframe.Header{}, nil, false
	}
	size := int64(crcframe.Size(int(n)))
	if off+size > int64(len(ff.f.Data())) {
		return crcframe.Header{}, nil, false // a length no frame here can have: grow nothing for it
	}
	if int64(cap(fi.buf)) < size {
		fi.buf = make([]byte, size, max(size, 2*int64(cap(fi.buf))))
	}
	fi.buf = fi.buf[:size]
	if ff.f.CopyAt(fi.buf, off) != nil {
		return crcframe.Header{}, nil, false
	}
	h, payload, _, err := crcframe.Decode(fi.buf, ff.f.Seed(), maxPayload)
	if err != nil {
		return crcframe.Header{}, nil, false
	}
	return h, payload, true
}

// peek decodes the frame at off of ff in place (no copy: the caller only
// learns where frames end, and checks what it returns on a copy).
func peek(ff *folFile, off int64) (h crcframe.Header, size int64, ok bool) {
	return ff.f.PeekFrame(off, framePayloadIn(ff.f.Size()))
}

// locate positions the iterator at the first record ≥ next: in the newest
// active segment whose first sequence is at or below it.
func (fi *followIter) locate(it *Iterator, st ctlState) (found bool) {
	f := fi.f
	front := st.first
	if !st.trusted {
		m, err := readMeta(f.dir)
		if err != nil {
			return fi.fail(it, err)
		}
		if m.backSeg != 0 || m.reset != 0 {
			return false // a truncation is under way: wait
		}
		front = m.firstSeq
	}
	if fi.returned != 0 && fi.want < front {
		return fi.fail(it, fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, front))
	}
	fi.want = max(fi.want, front, 1)
	nums, err := f.segmentNums()
	if err != nil {
		return fi.fail(it, err)
	}
	for k := len(nums) - 1; k >= 0; k-- {
		h, err := segment.ReadHeader(filepath.Join(f.dir, segment.Name(nums[k])))
		if errors.Is(err, crcframe.UnsupportedVersion) {
			return fi.fail(it, &unsupportedError{name: segment.Name(nums[k])})
		}
		if err != nil || h.FirstSeq == 0 || (h.FirstSeq > fi.want && k > 0) {
			continue // gone, being made, prepared, or after the position
		}
		ff, err := f.acquire(nums[k])
		if err != nil {
			return fi.fail(it, err)
		}
		if ff == nil {
			continue
		}
		fi.file, fi.off, fi.batchEnd, fi.durableEnd, fi.durWalk = ff, segment.HeaderSize, 0, 0, 0
		return true
	}
	return false
}

// advance finds the next record from the position. again asks next to
// look at the control area again (it changed while a record was copied).
func (fi *followIter) advance(it *Iterator, st ctlState) (ok, again bool) {
	f := fi.f
	if fi.file == nil && !fi.locate(it, st) {
		return false, false
	}
	for {
		h, payload, valid := fi.frameAt(fi.file, fi.off)
		if !valid {
			// No seal here: the next segment's open is throttled, unless
			// the live writer tells it went on to a later segment (a
			// rotation that had no room for a seal).
			moved, err := fi.nextSegment(!st.tells() || st.segment <= fi.file.num)
			if err != nil {
				return fi.fail(it, err), false
			}
			if !moved {
				return fi.atEnd(it, st), false
			}
			continue
		}
		size := int64(crcframe.Size(len(payload)))
		switch {
		case h.Type == crcframe.Seal:
			moved, err := fi.nextSegment(false)
			if err != nil {
				return fi.fail(it, err), false
			}
			if !moved {
				return fi.atEnd(it, st), false
			}
			continue
		case !h.Type.IsRecord() || h.Seq < fi.want:
			if h.Type.IsRecord() && fi.retFile == fi.file && fi.off > fi.retOff && h.Seq <= fi.returned {
				// Sequences go down: the tail was rewritten.
				return false, fi.forceRevalidate()
			}
			fi.off += size
			continue
		}
		if st.poisoned && h.Seq > st.last {
			return fi.atEnd(it, st), false // above what the poisoned writer's own readers return
		}
		if (h.Type == crcframe.First || h.Type == crcframe.Middle) && fi.off >= fi.batchEnd && !fi.batchComplete(fi.off) {
			return false, false // the batch is still being written
		}
		if fi.durableOnly && !fi.durable(st, h.Seq, fi.off+size) {
			return fi.atEnd(it, st), false
		}
		// After the copy: nothing may have changed under it.
		if !f.unchanged(st) {
			return false, true
		}
		if fi.retFile != nil && !st.tells() {
			// The last record returned must still be in place: a cut
			// zeroes it, a re-append rewrites it.
			if c, err := fi.retFile.f.FrameCRC(fi.retOff); err != nil || c != fi.retCRC {
				return false, fi.forceRevalidate()
			}
		}
		if fi.retFile != nil && fi.retFile != fi.file && !st.tells() {
			// The first record of a segment after the one returned last:
			// that one must still be the log's (not removed by a cut).
			if linked, err := fi.retFile.f.Linked(); err != nil || !linked {
				return false, fi.forceRevalidate()
			}
		}
		if !st.tells() {
			// Nothing tells of a cut that removed the position's segment
			// (its mapping still holds the records cut): the file must
			// still be the log's after the copy.
			if linked, err := fi.file.f.Linked(); err != nil || !linked {
				return false, fi.forceRevalidate()
			}
		}
		fi.setReturned(h.Seq, fi.off, binary.LittleEndian.Uint32(fi.buf))
		it.seq, it.val = h.Seq, payload
		fi.off += size
		fi.want = h.Seq + 1
		fi.idle = 0
		return true, false
	}
}

// retMark is where a record returned was: its segment, offset and frame
// checksum.
type retMark struct {
	seq, num uint64
	off      int64
	crc      uint32
}

// cutFrom returns the first record returned that the files no longer hold
// as it was, from the marks of the last records returned: the one after
// the newest mark, oldest first, still intact (a record below front, whose
// segment a TruncateFront removed, counts as intact); the first record
// returned when even the oldest mark is not (conservative: older ones may
// be gone too); the one after the last returned when every mark is intact.
func (fi *followIter) cutFrom(front uint64) uint64 {
	seq := fi.firstRet
	var ff *folFile
	defer func() { fi.f.release(ff) }()
	for i := fi.nhist - min(fi.nhist, uint64(len(fi.hist))); i < fi.nhist; i++ {
		m := fi.hist[i%uint64(len(fi.hist))]
		if ff == nil || ff.num != m.num {
			fi.f.release(ff)
			var err error
			if ff, err = fi.f.acquire(m.num); err != nil {
				break
			}
		}
		intact := ff == nil && m.seq < front
		if ff != nil {
			c, err := ff.f.FrameCRC(m.off)
			intact = err == nil && c == m.crc
		}
		if !intact {
			break
		}
		seq = m.seq + 1
	}
	return min(seq, fi.returned+1) // returned+1: every mark is intact
}

// forceRevalidate makes the next look re-validate the last record.
func (fi *followIter) forceRevalidate() bool {
	fi.inc = ^uint64(0) // with a trusted area, the cut ring says what changed
	return true
}

// setReturned remembers the record just returned, whose frame at off of
// the position's segment has the checksum crc.
func (fi *followIter) setReturned(seq uint64, off int64, crc uint32) {
	if fi.retFile != fi.file {
		fi.f.release(fi.retFile)
		fi.f.ref(fi.file)
		fi.retFile = fi.file
	}
	fi.returned, fi.retOff, fi.retCRC = seq, off, crc
	fi.hist[fi.nhist%uint64(len(fi.hist))] = retMark{seq: seq, num: fi.file.num, off: off, crc: fi.retCRC}
	fi.nhist++
	if fi.firstRet == 0 {
		fi.firstRet = seq
	}
}

// atEnd is what Next returns with nothing new at the position: false; a
// look that finds nothing new without a control area to trust re-validates
// the last record (a writer that does not tell of its truncations).
func (fi *followIter) atEnd(it *Iterator, st ctlState) bool {
	fi.idle++
	if st.tells() || fi.idle%16 != 1 {
		return false
	}
	// Not at every look: records are checked against the last one
	// returned anyway (advance); this catches a cut with no append, and a
	// position in a segment removed since.
	if fi.returned != 0 {
		fi.forceRevalidate()
	} else if linked, err := fi.file.f.Linked(); err != nil || !linked {
		fi.f.release(fi.file)
		fi.file = nil
	}
	return false
}

// batchComplete reports whether the batch whose frame starts at off ends
// (a valid last frame) in the segment; it remembers where.
func (fi *followIter) batchComplete(off int64) bool {
	for o := off; ; {
		h, size, ok := peek(fi.file, o)
		if !ok || !h.Type.IsRecord() {
			return false
		}
		o += size
		if h.Type == crcframe.Last || h.Type == crcframe.Full {
			fi.batchEnd = o
			return h.Type == crcframe.Last
		}
	}
}

// durable reports whether the record seq, whose frame ends at end, is
// durable: at or below the control area's DurableSeq, or, without one to
// trust, proven by the files (a later segment is active: rotation synced
// this one; or a later frame's durable field, or a mark, covers it; a seal
// proves nothing: it is written before the sync).
func (fi *followIter) durable(st ctlState, seq uint64, end int64) bool {
	if st.tells() { // not a closed area: a writer it did not see may have changed the log since
		return seq <= st.durable
	}
	if end <= fi.durableEnd {
		return true
	}
	o := max(fi.off, fi.durWalk)
	for {
		h, size, ok := peek(fi.file, o)
		if !ok {
			break
		}
		d := int64(h.Durable)
		if h.Type == crcframe.Mark {
			d = max(d, o) // everything before a mark was synced
		}
		// Not so a seal: rotation writes it before the sync; the next
		// segment's activation, after the sync, proves the segment.
		fi.durableEnd = max(fi.durableEnd, d)
		o += size
	}
	fi.durWalk = o
	if end <= fi.durableEnd {
		return true
	}
	if ff, _ := fi.nextFile(false); ff != nil {
		if activeFromBuf(ff, &fi.segHdr) != 0 && linkedNow(ff) {
			fi.durableEnd = fi.file.f.Size()
			return true
		}
	}
	return false
}

// nextSegment moves the position to the next segment once it is active
// (the writer rotated): the frames of this one are then complete.
func (fi *followIter) nextSegment(recheck bool) (bool, error) {
	f := fi.f
	nf, err := fi.nextFile(recheck) // recheck: no seal at the position
	if err != nil || nf == nil {
		return false, err
	}
	first := activeFromBuf(nf, &fi.segHdr)
	if first == 0 {
		return false, nil // prepared, not active yet: nf stays mapped for the next look
	}
	if linked, err := nf.f.Linked(); err != nil || !linked {
		fi.dropNext() // a cut or Reset removed it since it was mapped: look again
		return false, nil
	}
	if fi.returned != 0 && first <= fi.returned {
		// Not a rotation after the records returned (which starts above
		// them): a cut or a Reset made it. Re-validate first.
		fi.dropNext()
		fi.forceRevalidate()
		return false, nil
	}
	// Rotation wrote and synced the old segment before activating the
	// next: one more look at the position, now final.
	if _, _, ok := peek(fi.file, fi.off); ok && recheck {
		return true, nil // a frame after all: read it
	}
	f.release(fi.file)
	fi.nextF = nil // its reference goes to the position
	fi.file, fi.off, fi.batchEnd, fi.durableEnd, fi.durWalk = nf, segment.HeaderSize, 0, 0, 0
	return true, nil
}

// nextFile returns the segment after the position's, mapped, or nil when
// there is none (yet). It keeps it (fi.nextF) so that looks at the end of
// the active segment do not map the writer's prepared next segment again
// each time; every 16th idle look checks that it still has its name (a
// Reset or a cut may have removed it and made another file of that number)
// and takes it afresh if not. One fstat, not a map and unmap: those cost
// the follower allocations and the writer's process TLB shootdowns.
//
// A next segment that is not there or cannot be opened yet (the writer's
// preparer has created it but not written its header: on a loaded machine
// that lasted whole seconds, and each open cost 11 allocations and a few
// syscalls per look, that is per record at 1,000 appends/s) is tried again
// at most every missLooks-th look when throttle is set: the look at the end
// of the active segment, with no seal there; each try in a row that finds
// it missing doubles that, up to missLooks<<missDoublings looks (a
// preparer that waits for its first append, or a loaded machine's, kept
// the follower at 0.2–0.8 allocations per record at 1,000 appends/s with
// 16). A rotation writes the seal first, and the look that finds it calls
// with throttle unset: only a rotation without a seal (a version 1 log, a
// segment with no room for one) waits for the throttled looks.
func (fi *followIter) nextFile(throttle bool) (*folFile, error) {
	num := fi.file.num + 1
	if fi.nextF != nil && (fi.nextF.num != num || fi.idle%16 == 15 && !linkedNow(fi.nextF)) {
		fi.dropNext()
	}
	if fi.nextF == nil {
		if throttle && fi.missNum == num && fi.missLeft > 0 {
			fi.missLeft--
			return nil, nil
		}
		nf, err := fi.f.acquire(num)
		if err != nil {
			return nil, err
		}
		if nf == nil {
			if fi.missNum != num {
				fi.missRun = 0
			}
			fi.missNum, fi.missLeft = num, missLooks<<min(fi.missRun, missDoublings)-1
			fi.missRun++
			return nil, nil
		}
		fi.missNum, fi.missRun, fi.nextF = 0, 0, nf
	}
	return fi.nextF, nil
}

// missLooks, missDoublings: see nextFile.
const (
	missLooks     = 16
	missDoublings = 8
)

// linkedNow reports whether ff's file still has its name.
func linkedNow(ff *folFile) bool {
	linked, err := ff.f.Linked()
	return err == nil && linked
}

// dropNext releases fi.nextF.
func (fi *followIter) dropNext() {
	fi.f.release(fi.nextF)
	fi.nextF = nil
}

func (fi *followIter) fail(it *Iterator, err error) bool {
	it.err, it.val = err, nil
	fi.close()
	return false
}

// nextWait is Iterator.NextWait for a Follower's iterator: it looks, spins
// briefly, then sleeps on the control area's futex word (woken by the
// writer) or, without one, for PollInterval, and looks again.
func (fi *followIter) nextWait(it *Iterator, ctx context.Context) bool {
	for spins := 0; ; spins++ {
		if it.Next() {
			if spins > 0 && spins < 50 {
				it.spunRecord() // the writer outpaces the spins (wait.go)
			}
			return true
		}
		if it.err != nil || it.closed {
			return false
		}
		if err := ctx.Err(); err != nil {
			it.ctxErr = err
			return false
		}
		if st, err := fi.f.state(); err == nil && st.poisonEnds {
			// No record will come: the writer must be reopened.
			return fi.fail(it, fmt.Errorf("%w: the writer's log was poisoned (a truncation failed)", ErrPoisoned))
		}
		if spins == 0 && it.napNow() {
			it.nap(ctx, fi)
			spins = -1
			continue
		}
		if spins < 50 {
			if testHookSpin != nil {
				testHookSpin(it)
			}
			runtime.Gosched()
			continue
		}
		it.spun = 0
		if fi.sleep(it, ctx) {
			return true
		}
	}
}

// sleep waits for a wake-up of the writer, at most PollInterval (or until
// ctx's deadline), and returns early when ctx is done or the Follower
// closed, whatever PollInterval; true when the look it takes after
// registering as a waiter found a record (it is current then).
func (fi *followIter) sleep(it *Iterator, ctx context.Context) bool {
	f := fi.f
	d := untilDeadline(ctx, f.opts.PollInterval)
	f.sleepers.RLock() // Close unmaps the control area only once no one sleeps on it
	defer f.sleepers.RUnlock()
	f.mu.Lock()
	c, reg := f.ctl, f.reg
	f.mu.Unlock()
	if c == nil || reg == 0 {
		fi.sleepPlain(ctx, d)
		return false
	}
	v, err := c.prepareSleep() // sets listenFutex: the writer clears it when it wakes us
	if err != nil {
		fi.sleepPlain(ctx, d) // the area faulted: the next look drops it
		return false
	}
	// Look again after registering as a waiter: an append before it did
	// not wake us.
	if it.Next() {
		return true
	}
	if it.err == nil {
		fi.futexSleep(ctx, c, v, d)
	}
	return false
}

// untilDeadline is d, or less when ctx's deadline comes first (at least
// 1 µs).
func untilDeadline(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		d = max(min(d, time.Until(dl)), time.Microsecond)
	}
	return d
}

// futexSleep sleeps on c's futex word while it holds v, d at most, unless
// the Follower is closed or ctx done; ctx's cancellation wakes it
// (onCancel). Called with f.sleepers read-locked.
func (fi *followIter) futexSleep(ctx context.Context, c *control, v uint32, d time.Duration) {
	if ctx.Done() != nil && fi.waitCtx != ctx {
		// Registered once per context, not per sleep: no allocation
		// per record for a consumer that passes the same ctx.
		if fi.stopCancel != nil {
			fi.stopCancel()
		}
		fi.waitCtx, fi.stopCancel = ctx, context.AfterFunc(ctx, fi.onCancel)
	}
	fi.sleepOn.Store(c)
	// After the store: a cancellation that onCancel found no sleeper for
	// is seen here (its ctx is done before onCancel runs).
	if !fi.f.closed.Load() && ctx.Err() == nil {
		sysutil.FutexWait(c.m, ctlFutexOff, v, d)
	}
	fi.sleepOn.Store(nil)
}

// napFutex is a nap (Iterator.nap) on the control area's futex word, of
// d at most, without the waiter flag: the writer's truncations and Close
// end it, its appends do not. False, with no sleep, when the Follower has
// no area to sleep on.
func (fi *followIter) napFutex(ctx context.Context, d time.Duration) bool {
	f := fi.f
	d = untilDeadline(ctx, d)
	f.sleepers.RLock() // Close unmaps the control area only once no one sleeps on it
	defer f.sleepers.RUnlock()
	f.mu.Lock()
	c, reg := f.ctl, f.reg
	f.mu.Unlock()
	if c == nil || reg == 0 {
		return false
	}
	v, err := c.futexValue()
	if err != nil {
		return false
	}
	fi.futexSleep(ctx, c, v, d)
	return true
}

// onCancel runs when the context of a NextWait is done: it wakes the
// iterator if it sleeps on a futex word (any goroutine; the area stays
// mapped while it holds sleepers).
func (fi *followIter) onCancel() {
	fi.f.sleepers.RLock()
	defer fi.f.sleepers.RUnlock()
	if c := fi.sleepOn.Load(); c != nil {
		c.wakeFutexGuarded() // a spurious wake-up for its other sleepers, if any
	}
}

// sleepPlain sleeps for d, or until ctx is done or the Follower closed.
func (fi *followIter) sleepPlain(ctx context.Context, d time.Duration) {
	if fi.timer == nil {
		fi.timer = time.NewTimer(d)
	} else {
		fi.timer.Reset(d)
	}
	select {
	case <-fi.timer.C:
	case <-ctx.Done():
	case <-fi.f.done:
	}
	fi.timer.Stop()
}
