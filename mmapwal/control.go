package mmapwal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
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
//	96: resets u64; 128: followers u32, 132: waiters u32; 192: futex word u32.
//
// Every field from 32 on is an atomic word written by the writer alone,
// except followers and waiters (added to by followers) and the futex word.
const (
	controlName    = "CONTROL"
	controlMagic   = "mmapwalC"
	controlVersion = 1
	controlSize    = 4096

	ctlVersionOff     = 8
	ctlSizeOff        = 12
	ctlLogIDOff       = 16
	ctlIncarnationOff = 32 // random per writer Open; 0 while it is rebuilt
	ctlPIDOff         = 40 // the writer's process id: the lock holder; 0 after Close
	ctlEpochOff       = 48 // truncations: odd while one is under way
	ctlDurableOff     = 56 // DurableSeq
	ctlLastOff        = 64 // LastSeq, stored after the frames are in the mapping
	ctlFirstOff       = 72 // FirstSeq
	ctlSegmentOff     = 80 // the active segment's number
	ctlEndOff         = 88 // the end of the frames in it
	ctlResetsOff      = 96 // Resets by this writer
	ctlFollowersOff   = 128
	ctlWaitersOff     = 132
	ctlFutexOff       = 192
)

// control is a mapped control area: the writer's (read-write) or a
// follower's. Its words alias the mapping and are valid until unmap.
type control struct {
	f *os.File
	m []byte

	incarnation, pid, epoch, durable *atomic.Uint64
	last, first, segment, end        *atomic.Uint64
	resets                           *atomic.Uint64
	followers, waiters, futex        *atomic.Uint32
	ring                             cutRing // cutring.go
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
	c.resets = u64(ctlResetsOff)
	c.followers, c.waiters, c.futex = u32(ctlFollowersOff), u32(ctlWaitersOff), u32(ctlFutexOff)
	err = errors.Join(err, c.mapRing())
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

// wake wakes the followers blocked on the futex word, if any.
func (c *control) wake() {
	if c.waiters.Load() != 0 {
		c.futex.Add(1)
		sysutil.FutexWake(c.m, ctlFutexOff, 0)
	}
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
		l.log.Warn("mmapwal: no control area: followers will scan the frames", "dir", l.dir, "err", err)
		return
	}
	l.ctl, l.ctlFollowers = c, c.followers
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
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		c.close()
		return nil, err
	}
	inc := binary.LittleEndian.Uint64(b[:]) | 1 // never 0
	c.incarnation.Store(0)
	carried, midCut, err := c.carryRing(l.meta.logID)
	if err != nil {
		c.close()
		return nil, err
	}
	c.writeHeader(l.meta.logID)
	c.pid.Store(uint64(os.Getpid()))
	c.epoch.Store((c.epoch.Load() + 2) &^ 1) // even: no truncation under way
	if carried {
		l.openCut(c, midCut)
	}
	c.followers.Store(0) // followers register again on the new incarnation
	c.resets.Store(0)
	l.publishAll(c)
	c.incarnation.Store(inc)
	c.wake()
	return c, nil
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
}

// publish tells followers that records up to last were appended to
// segment num, whose frames end at end, and wakes the sleeping ones.
// Writer only.
func (c *control) publish(num uint64, end int64, last uint64) {
	c.segment.Store(num)
	c.end.Store(uint64(end))
	c.last.Store(last) // the seq-cst store orders the frames before the waiters load
	c.wake()
}

// ctlPublish publishes an append on the control area only while followers
// are registered: with none, one atomic load (inlined in advance). Writer
// only.
func (l *Log) ctlPublish(s *seg, last uint64) {
	if l.ctlFollowers.Load() != 0 {
		l.publishAppend(s, last)
	}
}

// publishAppend is ctlPublish's slow path, kept out of line.
//
//go:noinline
func (l *Log) publishAppend(s *seg, last uint64) {
	if c := l.ctl; c != nil {
		c.publish(s.num, l.off, last)
	}
}

// testHookNoControl, set by a test, makes writers maintain no control
// area, as older versions do. False in production.
var testHookNoControl bool

// noFollowers is the followers word of a Log without a control area.
var noFollowers atomic.Uint32

// ctlDurable publishes a DurableSeq that rose.
func (l *Log) ctlDurable() {
	if c := l.ctl; c != nil {
		c.durable.Store(l.durable.Load())
		c.wake()
	}
}

// ctlTruncating marks a truncation under way (the epoch odd) before it
// changes anything a follower reads; ctlTruncated marks it done and
// publishes what it changed. A truncation that fails and poisons the log
// leaves the epoch odd: followers return nothing more until the next
// writer's Open finishes it. Writer only.
func (l *Log) ctlTruncating() {
	if c := l.ctl; c != nil {
		if c.epoch.Load()%2 == 0 {
			l.cutBegin(c)
			c.epoch.Add(1)
		}
	}
}

func (l *Log) ctlTruncated() {
	if c := l.ctl; c != nil && l.poisoned() == nil {
		l.publishAll(c)
		c.resets.Store(l.resets.Load())
		if c.epoch.Load()%2 == 1 {
			l.cutEnd(c)
			c.epoch.Add(1)
		}
		c.futex.Add(1)
		sysutil.FutexWake(c.m, ctlFutexOff, 0)
	}
}

// ctlClose publishes the final state and that no writer holds the log.
func (l *Log) ctlClose() {
	if c := l.ctl; c != nil {
		l.publishAll(c)
		c.pid.Store(0)
		c.futex.Add(1)
		sysutil.FutexWake(c.m, ctlFutexOff, 0)
		c.close()
		l.ctl, l.ctlFollowers = nil, &noFollowers
	}
}
