package mmapwal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// The control area (FORMAT.md §9.6): a small file, CONTROL, that the writer
// maps shared and rebuilds at each Open, through which followers in other
// processes learn what changed and are woken. It needs no durability and is
// never synced; nothing in it is needed to read the log (a follower that
// finds none, or one it cannot trust, scans the frames).
//
//	0        8        12       16                32            40         48       56
//	+--------+--------+--------+-----------------+-------------+----------+--------+---------+
//	| magic  |version | size   | log identity    | incarnation | writer   | epoch  | durable |
//	| 8 B    | u32=1  | u32    | 16 B            | u64         | pid u64  | u64    | seq u64 |
//	+--------+--------+--------+-----------------+-------------+----------+--------+---------+
//	64: last seq u64, 72: first seq u64, 80: active segment u64, 88: end offset u64,
//	96: resets u64, 104: poisoned u64; 128: listeners u64 (followers u32 at 128,
//	waiters u32 at 132); 192: futex word u32; 256–575: the cut ring and
//	576–631: the lineage's fingerprint (cutring.go).
//
// Every field from 32 on is an atomic word written by the writer alone,
// except the listeners word (flags that followers set and the writer
// clears, see listenFollower) and the futex word.
const (
	controlName    = "CONTROL"
	controlMagic   = "mmapwalC"
	controlVersion = 1
	controlSize    = 4096

	ctlVersionOff     = 8
	ctlSizeOff        = 12
	ctlLogIDOff       = 16
	ctlIncarnationOff = 32  // random per writer Open; 0 while it is rebuilt
	ctlPIDOff         = 40  // the writer's process id: the lock holder; 0 after Close
	ctlEpochOff       = 48  // truncations: odd while one is under way
	ctlDurableOff     = 56  // DurableSeq
	ctlLastOff        = 64  // LastSeq, stored after the frames are in the mapping
	ctlFirstOff       = 72  // FirstSeq
	ctlSegmentOff     = 80  // the active segment's number
	ctlEndOff         = 88  // the end of the frames in it
	ctlResetsOff      = 96  // Resets by this writer
	ctlPoisonedOff    = 104 // non-zero once a failed truncation poisoned the writer
	ctlListenOff      = 128 // the listeners word: followers (u32) and waiters (u32 at 132)
	ctlWaitersOff     = 132
	ctlFutexOff       = 192
)

// The listeners word (bytes 128–135, one little-endian u64: the followers
// u32 at 128 is its low half, the waiters u32 at 132 its high half). It is
// made of flags, never counts, so that a reader that dies (SIGKILL, no
// clean-up) cannot leave the writer paying for it: the writer clears the
// flags it acts on, and live readers set them again.
//
// Rules (each access one sequentially consistent atomic on the whole
// word):
//   - a follower that trusts the incarnation sets listenFollower at each
//     look if it finds it clear; the writer then publishes last seq,
//     segment and end every publishEvery appends and before each wake-up,
//     and clears the flag every
//     listenDecay publications and at every wake-up, so a dead follower
//     costs at most listenDecay publications;
//   - a reader that is about to sleep sets listenFutex (a follower, which
//     sleeps on the futex word) or listenLocal (an iterator of the
//     writer's process, in NextWait) before its last look, then sleeps; the
//     writer, after it published (a seq-cst store), loads the word and, if a
//     waiter flag is set, clears the waiter flags and the follower flag and
//     wakes: the futex, and the process's own waiters. A reader that slept
//     sets its flag again before its next sleep, so clearing it never
//     loses a wake-up: a reader whose flag a clear overwrote set it before
//     the clear, and the wake that follows the clear reaches it (the futex
//     word changed after it loaded it; its channel was registered before);
//   - a writer's open stores 0 (and then wakes the futex word).
//
// Without a control area the writer keeps the word in its own memory
// (Log.ownListen), for its in-process waiters. Append pays one atomic load
// of it when nobody listens.
const (
	listenFollower = 1 << 0  // bit 0 of followers
	listenFutex    = 1 << 32 // bit 0 of waiters: a follower sleeps on the futex word
	listenLocal    = 1 << 33 // bit 1 of waiters: an iterator in the writer's process waits
	listenWaiters  = listenFutex | listenLocal

	// listenDecay is how many appends the writer publishes for a follower
	// flag before it clears it: a live follower sets it again at its next
	// look.
	listenDecay = 1024

	// publishEvery is how many appends the writer makes, while the
	// follower flag is set, per publication of last seq, segment and end
	// (and it publishes before each wake-up). A power of two dividing
	// listenDecay.
	publishEvery = 64
)

// control is a mapped control area: the writer's (read-write) or a
// follower's. Its words alias the mapping and are valid until unmap.
type control struct {
	f *os.File
	m []byte

	incarnation, pid, epoch, durable *atomic.Uint64
	last, first, segment, end        *atomic.Uint64
	resets, poisoned                 *atomic.Uint64
	listen                           *atomic.Uint64 // the listeners word (see listenFollower)
	futex                            *atomic.Uint32
	ring                             cutRing           // cutring.go
	tip                              [7]*atomic.Uint64 // the lineage's fingerprint (cutring.go)
	// head views bytes 0–31 (magic, version and size, log identity) as
	// four words, for a follower's fast check (holds) that reads no
	// field Close changes.
	head [4]*atomic.Uint64
	// followers and waiters are the two halves of listen, as u32 views,
	// for tests only: every access in the package goes through listen.
	followers, waiters *atomic.Uint32
}

// mapControl maps the control area file f (at least controlSize bytes).
func mapControl(f *os.File, writable bool) (*control, error) {
	m, err := sysutil.Mmap(f, controlSize, writable)
	if err != nil {
		return nil, err
	}
	c := &control{f: f, m: m}
	u64 := func(off int) *atomic.Uint64 {
		w, e := sysutil.Uint64At(m, off)
		err = errors.Join(err, e)
		return w
	}
	u32 := func(off int) *atomic.Uint32 {
		w, e := sysutil.Uint32At(m, off)
		err = errors.Join(err, e)
		return w
	}
	c.incarnation, c.pid, c.epoch, c.durable = u64(ctlIncarnationOff), u64(ctlPIDOff), u64(ctlEpochOff), u64(ctlDurableOff)
	c.last, c.first, c.segment, c.end = u64(ctlLastOff), u64(ctlFirstOff), u64(ctlSegmentOff), u64(ctlEndOff)
	c.resets, c.poisoned, c.listen = u64(ctlResetsOff), u64(ctlPoisonedOff), u64(ctlListenOff)
	c.followers, c.waiters, c.futex = u32(ctlListenOff), u32(ctlWaitersOff), u32(ctlFutexOff)
	for i := range c.head {
		c.head[i] = u64(8 * i)
	}
	err = errors.Join(err, c.mapRing())
	if w, e := c.tipWords(); e == nil {
		c.tip = w
	} else {
		err = errors.Join(err, e)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *control) close() {
	if c.m != nil {
		sysutil.Munmap(c.m)
		c.m = nil
	}
	c.f.Close()
}

// wakeFutex wakes every follower blocked on the futex word.
func (c *control) wakeFutex() {
	c.futex.Add(1)
	sysutil.FutexWake(c.m, ctlFutexOff, 0)
}

// openControl (re)builds the control area of a writer that has just opened
// the log: incarnation 0 first (followers do not trust it meanwhile), then
// every field, then a new incarnation. A failure leaves the log without
// one: followers then scan. Writer only, before any append.
func (l *Log) openControl() {
	if testHookNoControl {
		return // a writer of an older version
	}
	c, err := l.createControl()
	if err != nil {
		// A writer that does not maintain the area must not leave a former
		// writer's behind: a follower would trust its published end and cut
		// ring while this writer cuts and rewrites records. Removed, it is
		// dropped by the followers that map it (they check its link count)
		// and they read the frames alone.
		if rerr := sysutil.Remove(filepath.Join(l.dir, controlName)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			l.log.Error("mmapwal: no control area, and a former writer's could not be removed: followers may trust it", "dir", l.dir, "err", err, "remove", rerr)
			return
		}
		l.log.Warn("mmapwal: no control area: followers will scan the frames", "dir", l.dir, "err", err)
		return
	}
	l.lmu.Lock()
	l.ctl, l.listen = c, c.listen
	l.lmu.Unlock()
}

func (l *Log) createControl() (*control, error) {
	path := filepath.Join(l.dir, controlName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.Size() != controlSize {
		if err == nil {
			err = f.Truncate(controlSize)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	c, err := mapControl(f, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Incarnation 0 before the lock: a follower that finds the lock held
	// (FORMAT.md §9.6: its OFD recheck) then finds the incarnation changed,
	// never a former writer's area vouched for by this writer's lock.
	c.incarnation.Store(0)
	if err := lockControl(f); err != nil {
		c.disown()
		c.close()
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		c.disown()
		c.close()
		return nil, err
	}
	inc := binary.LittleEndian.Uint64(b[:]) | 1 // never 0
	carried, midCut, err := c.carryRing(l.meta.logID, l.tipHolds(c))
	if err != nil {
		c.disown()
		c.close()
		return nil, err
	}
	c.writeHeader(l.meta.logID)
	c.pid.Store(uint64(os.Getpid()))
	c.epoch.Store((c.epoch.Load() + 2) &^ 1) // even: no truncation under way
	if carried {
		l.openCut(c, midCut)
	}
	c.listen.Store(0) // flags of a former writer's readers: live ones set them again
	c.resets.Store(0)
	c.poisoned.Store(0)
	l.publishAll(c)
	c.incarnation.Store(inc)
	c.wakeFutex()
	return c, nil
}

// disown makes an area this writer will not maintain (it could not lock
// it, or not rebuild it) untrustworthy in place before openControl removes
// it: incarnation 0, which every follower's look at it sees at once (it is
// "being rebuilt" while this writer holds LOCK, untrusted after), and
// lineage 0, so that no later writer carries its ring over. This writer
// holds LOCK: no other maintains the area. Writer's open only.
func (c *control) disown() {
	c.incarnation.Store(0)
	c.ring.lineage.Store(0)
	c.tip[6].Store(0)
}

// writeHeader writes the fields before the incarnation: they never change
// under one (a follower checks them after loading it).
func (c *control) writeHeader(logID [16]byte) {
	copy(c.m[:8], controlMagic)
	binary.LittleEndian.PutUint32(c.m[ctlVersionOff:], controlVersion)
	binary.LittleEndian.PutUint32(c.m[ctlSizeOff:], controlSize)
	copy(c.m[ctlLogIDOff:ctlLogIDOff+16], logID[:])
}

// publishAll stores every sequence a follower reads. Writer only.
func (l *Log) publishAll(c *control) {
	c.durable.Store(l.durable.Load())
	c.first.Store(l.first.Load())
	c.last.Store(l.last.Load())
	if l.active != nil {
		c.segment.Store(l.active.num)
		c.end.Store(uint64(l.off))
	}
	l.recordTip(c)
}

// publish tells followers that records up to last were appended to
// segment num, whose frames end at end. Writer only.
func (c *control) publish(num uint64, end int64, last uint64) {
	c.segment.Store(num)
	c.end.Store(uint64(end))
	c.last.Store(last)
}

// notifyAppend tells listeners of an append of records up to last into s:
// one atomic load when nobody listens (inlined in advance), after the
// records are published (an index store, sequentially consistent: see
// listenFollower for the lost wake-up). Writer only.
func (l *Log) notifyAppend(s *seg, last uint64) {
	if v := l.listen.Load(); v != 0 {
		l.notifySlow(s, last, v)
	}
}

// notifySlow is notifyAppend's slow path, kept out of line.
//
//go:noinline
func (l *Log) notifySlow(s *seg, last uint64, v uint64) {
	if v&listenFollower != 0 {
		// Not every append: followers read the frames themselves (each
		// checked after its copy) and take the published end as a lower
		// bound only (Follower.LastSeq), while each store here makes the
		// followers' next look pull the line from the writer's core.
		// Before a wake-up, so that the woken see it fresh.
		if l.pubs++; l.pubs%publishEvery == 0 || v&listenWaiters != 0 {
			if c := l.ctl; c != nil {
				c.publish(s.num, l.off, last)
			}
		}
		if l.pubs%listenDecay == 0 {
			l.listen.And(^uint64(listenFollower))
		}
	}
	if v&listenWaiters != 0 {
		l.wakeListeners()
	}
}

// wakeListeners clears the waiter flags (and the follower flag: the readers
// it wakes look again and set it) and wakes the waiters they name. Writer
// only; called after the change the waiters must see was stored.
func (l *Log) wakeListeners() {
	old := l.listen.And(^uint64(listenWaiters | listenFollower))
	if old&listenFutex != 0 {
		if c := l.ctl; c != nil {
			c.wakeFutex()
		}
	}
	if old&listenLocal != 0 {
		l.wNew.wakeAll()
	}
}

// listenLocalWaiter sets listenLocal for an iterator of this process that
// is about to wait (it registered its channel first). Any goroutine.
func (l *Log) listenLocalWaiter() {
	l.lmu.Lock()
	if l.listen.Load()&listenLocal == 0 {
		l.listen.Or(listenLocal)
	}
	l.lmu.Unlock()
}

// testHookNoControl, set by a test, makes writers maintain no control
// area, as older versions do. False in production.
var testHookNoControl bool

// ctlDurable publishes a DurableSeq that rose.
func (l *Log) ctlDurable() {
	if c := l.ctl; c != nil {
		c.durable.Store(l.durable.Load())
	}
	if l.listen.Load()&listenWaiters != 0 {
		l.wakeListeners()
	}
}

// ctlTruncating marks a truncation under way (the epoch odd) before it
// changes anything a follower reads; ctlTruncated marks it done and
// publishes what it changed. A truncation that fails and poisons the log
// marks the area poisoned first, then ends the epoch the same way, so that
// followers are never left waiting on an odd epoch (see ctlPoison).
// Writer only.
func (l *Log) ctlTruncating() {
	if c := l.ctl; c != nil {
		if c.epoch.Load()%2 == 0 {
			l.cutBegin(c)
			c.epoch.Add(1)
		}
	}
}

func (l *Log) ctlTruncated() {
	c := l.ctl
	if c == nil {
		return
	}
	poisoned := l.poisoned() != nil
	if poisoned {
		l.ctlPoison(c)
	} else {
		l.publishAll(c)
	}
	c.resets.Store(l.resets.Load())
	if c.epoch.Load()%2 == 1 {
		if last := c.last.Load(); poisoned && last < c.ring.lastBefore {
			// The failed cut counts as done for followers: the records
			// above its last may be gone.
			c.addCut(c.epoch.Load()|1+1, last+1)
		}
		l.cutEnd(c)
		c.epoch.Add(1)
	}
	c.wakeFutex()
}

// ctlPoison publishes the state of a log that a failed truncation
// poisoned: no record will be appended, and the records a follower may
// still return are those the writer's own readers return, up to the
// pending cut (its last) when one failed. DurableSeq is capped the same
// way. Then the poisoned flag: a follower that finds it returns what is at
// or below last seq and, instead of waiting for more, ends with
// ErrPoisoned. Writer only.
func (l *Log) ctlPoison(c *control) {
	last := l.last.Load()
	if cut := l.cuts.Load(); cut.pending.Load() {
		last = min(last, cut.last)
	}
	c.first.Store(l.first.Load())
	c.last.Store(last)
	c.durable.Store(min(l.durable.Load(), last))
	c.poisoned.Store(1)
}

// ctlPoisoned tells followers at once that the log was poisoned (by a
// failed flush too, which may run outside the writer lock): they stop
// waiting for records that cannot come. Any goroutine (setPoison); l.ctl
// is read under lmu. A truncation that poisons publishes again when it
// ends (ctlTruncated), with its cut.
func (l *Log) ctlPoisoned() {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	if c := l.ctl; c != nil {
		l.ctlPoison(c)
		c.wakeFutex()
	}
}

// ctlClose publishes the final state and that no writer holds the log.
func (l *Log) ctlClose() {
	if c := l.ctl; c != nil {
		if l.poisoned() != nil {
			l.ctlPoison(c)
		} else {
			l.publishAll(c)
		}
		c.pid.Store(0)
		c.wakeFutex()
		l.lmu.Lock()
		l.ctl, l.listen = nil, &l.ownListen
		l.lmu.Unlock()
		c.close()
	}
}

// ctlSnap is one look at a follower's mapped control area.
type ctlSnap struct {
	header                  bool // bytes 0–31 are this version's, of this log
	valid                   bool // header, and a non-zero incarnation that stayed the same
	inc, pid, epoch, resets uint64
	lineage                 uint64 // the cut ring's (cutring.go)
	durable, last, first    uint64
	segment, end            uint64
	tip                     tip // the lineage's fingerprint (cutring.go)
	poisoned                bool
}

// snapshot reads the control area for a follower of the log logID, under
// a fault guard: another process may shrink the file under the mapping
// (errControlFault then, never a crash). ErrUnsupportedVersion for an area
// of a newer version.
func (c *control) snapshot(logID [16]byte) (s ctlSnap, err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	m := c.m
	if v := binary.LittleEndian.Uint32(m[ctlVersionOff:]); string(m[:8]) == controlMagic && v > controlVersion {
		return ctlSnap{}, fmt.Errorf("%w: control area version %d (this reader knows %d)", ErrUnsupportedVersion, v, controlVersion)
	}
	s.inc = c.incarnation.Load()
	s.pid, s.epoch, s.resets = c.pid.Load(), c.epoch.Load(), c.resets.Load()
	s.durable, s.last, s.first = c.durable.Load(), c.last.Load(), c.first.Load()
	s.poisoned = c.poisoned.Load() != 0
	s.lineage = c.ring.lineage.Load()
	s.segment, s.end = c.segment.Load(), c.end.Load()
	s.tip = c.loadTip()
	s.header = string(m[:8]) == controlMagic &&
		binary.LittleEndian.Uint32(m[ctlVersionOff:]) == controlVersion &&
		binary.LittleEndian.Uint32(m[ctlSizeOff:]) == controlSize &&
		[16]byte(m[ctlLogIDOff:ctlLogIDOff+16]) == logID
	s.valid = s.inc != 0 && s.header && c.incarnation.Load() == s.inc
	return s, nil
}

// ringSince is cutsSince(e0) for a follower, under a fault guard; stable
// says the epoch and incarnation were still epoch and inc after the ring
// was read (false after a fault too).
func (c *control) ringSince(e0, epoch, inc uint64) (low, folded, gone uint64, stable bool) {
	var err error
	func() {
		old := debug.SetPanicOnFault(true)
		defer unguardControl(old, &err)
		low, folded, gone = c.cutsSince(e0)
		stable = c.epoch.Load() == epoch && c.incarnation.Load() == inc
	}()
	return low, folded, gone, stable && err == nil
}

// incEpoch reads the incarnation and epoch, under a fault guard.
func (c *control) incEpoch() (inc, epoch uint64, err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	return c.incarnation.Load(), c.epoch.Load(), nil
}

// listenAs sets a listeners flag (listenFollower or listenFutex) for a
// follower, if it is clear, under a fault guard.
func (c *control) listenAs(flag uint64) (err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	if c.listen.Load()&flag == 0 {
		c.listen.Or(flag)
	}
	return nil
}

// prepareSleep is a follower's step before it sleeps on the futex word: it
// loads the word (the value to wait on) and sets listenFutex, under a
// fault guard.
func (c *control) prepareSleep() (v uint32, err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	v = c.futex.Load()
	if c.listen.Load()&listenFutex == 0 {
		c.listen.Or(listenFutex)
	}
	return v, nil
}

// wakeFutexGuarded is wakeFutex for a follower (its Close), under a fault
// guard.
func (c *control) wakeFutexGuarded() (err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	c.wakeFutex()
	return nil
}

// unguardControl, deferred around a follower's access to its mapping of
// the control area with debug.SetPanicOnFault(true) in force, restores the
// previous setting and turns a memory fault (the file shrank under the
// mapping) into errControlFault. The setting is per goroutine.
func unguardControl(old bool, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		*err = errControlFault
	}
}

// published reads the active segment and the end of its frames as the
// writer last published them, under a fault guard.
func (c *control) published() (seg, end uint64, err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	return c.segment.Load(), c.end.Load(), nil
}

// holds reports whether the area is still of this version and of the log
// logID, at incarnation inc and epoch epoch, and held by a live writer
// (pid not 0: Close stores 0 and keeps the incarnation): the check of a
// follower's fast path after a copy (what a snapshot would find changed
// under a live writer's trusted area), under a fault guard (a fault:
// false).
func (c *control) holds(logID [16]byte, inc, epoch uint64) (ok bool) {
	var err error
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	return c.incarnation.Load() == inc && c.epoch.Load() == epoch && c.pid.Load() != 0 &&
		c.head[0].Load() == binary.LittleEndian.Uint64([]byte(controlMagic)) &&
		c.head[1].Load() == controlVersion|controlSize<<32 &&
		c.head[2].Load() == binary.LittleEndian.Uint64(logID[:8]) &&
		c.head[3].Load() == binary.LittleEndian.Uint64(logID[8:])
}

// futexValue loads the futex word, under a fault guard: the value a
// follower's nap waits on.
func (c *control) futexValue() (v uint32, err error) {
	old := debug.SetPanicOnFault(true)
	defer unguardControl(old, &err)
	return c.futex.Load(), nil
}
