package mmapwal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// The control area's cut ring (FORMAT.md §9.6): the recent cuts — records
// a TruncateBack, a Reset or a new writer's recovery removed — so that a
// follower that last looked at epoch E0 and now sees E1 learns the lowest
// sequence removed in (E0, E1], even across writer restarts.
//
//	256: lineage u64     random; new when a writer's open finds no valid area to carry over
//	264: cuts u64        cuts recorded in this lineage
//	272: front gone u64  the highest record a TruncateFront (or Reset) removed
//	320: 16 entries of { epoch u64, first seq removed u64 } (entry i at slot i % 16)
//
// An entry's epoch is the (even) epoch its truncation ended at; a first
// seq of 0 is a Reset (every record removed). The writer writes an entry
// while the epoch is odd (or, at open, while the incarnation is 0), so a
// follower that reads the ring between two equal loads of an even epoch
// and the incarnation read it whole. When an entry leaves the ring its
// first seq is folded into the next one (the minimum): the oldest entry
// speaks for every older cut, so a follower that last looked long ago gets
// a lower (conservative) sequence, never a missed cut.
const (
	ctlLineageOff   = 256
	ctlCutsOff      = 264
	ctlFrontGoneOff = 272
	ctlRingOff      = 320
	ctlRingLen      = 16
	ctlRingEnd      = ctlRingOff + 16*ctlRingLen
)

// cutRing is the ring's words in a mapped control area, and (writer only)
// what ctlTruncating saw, to tell at its end what the truncation removed.
type cutRing struct {
	lineage, cuts, frontGone *atomic.Uint64
	ent                      [ctlRingLen][2]*atomic.Uint64 // epoch, first seq removed

	lastBefore, resetsBefore uint64 // writer only: at the even-to-odd epoch step
}

// mapRing sets c's ring words.
func (c *control) mapRing() error {
	var err error
	w := func(off int) *atomic.Uint64 {
		p, e := sysutil.Uint64At(c.m, off)
		err = errors.Join(err, e)
		return p
	}
	r := &c.ring
	r.lineage, r.cuts, r.frontGone = w(ctlLineageOff), w(ctlCutsOff), w(ctlFrontGoneOff)
	for i := range r.ent {
		r.ent[i] = [2]*atomic.Uint64{w(ctlRingOff + 16*i), w(ctlRingOff + 16*i + 8)}
	}
	return err
}

// carryRing keeps the epoch, lineage, cuts and front gone of a valid area
// of this log left by the previous writer (killed or closed), if holds (its
// fingerprint matches the log: no writer it did not see changed it, see
// tipHolds), or starts a new lineage. Writer's open only, with the
// incarnation 0. It returns whether it carried the ring over and whether a
// truncation was under way (the previous writer died in one: the epoch
// odd).
func (c *control) carryRing(logID [16]byte, holds bool) (carried, midCut bool, err error) {
	valid := holds && string(c.m[:8]) == controlMagic &&
		binary.LittleEndian.Uint32(c.m[ctlVersionOff:]) == controlVersion &&
		binary.LittleEndian.Uint32(c.m[ctlSizeOff:]) == controlSize &&
		[16]byte(c.m[ctlLogIDOff:ctlLogIDOff+16]) == logID &&
		c.ring.lineage.Load() != 0
	if valid {
		return true, c.epoch.Load()%2 == 1, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return false, false, err
	}
	r := &c.ring
	r.cuts.Store(0)
	r.frontGone.Store(0)
	for i := range r.ent {
		r.ent[i][0].Store(0)
		r.ent[i][1].Store(0)
	}
	r.lineage.Store(binary.LittleEndian.Uint64(b[:]) | 1)
	return false, false, nil
}

// openCut records the cut of a new writer's open at epoch: recovery may
// have cut a torn tail (records above LastSeq a follower saw), or finished
// a truncation the previous writer died in, of which the area cannot say
// which kind: a Reset, conservatively. Writer's open only.
func (l *Log) openCut(c *control, midCut bool) {
	seq := l.last.Load() + 1
	if midCut {
		seq = 0
	}
	c.addCut(c.epoch.Load(), seq)
	c.ring.frontGone.Store(max(c.ring.frontGone.Load(), l.frontGone.Load()))
}

// cutBegin remembers what a truncation starting now may remove. Writer
// only, at the epoch's step to odd.
func (l *Log) cutBegin(c *control) {
	c.ring.lastBefore, c.ring.resetsBefore = l.last.Load(), l.resets.Load()
}

// cutEnd records what the truncation ending now removed, before the epoch
// is made even. Writer only.
func (l *Log) cutEnd(c *control) {
	r := &c.ring
	reset := l.resets.Load() != r.resetsBefore
	if reset {
		r.frontGone.Store(l.frontGone.Load()) // a Reset may restart below the old records
	} else {
		r.frontGone.Store(max(r.frontGone.Load(), l.frontGone.Load()))
	}
	switch last := l.last.Load(); {
	case reset:
		c.addCut(c.epoch.Load()|1+1, 0)
	case last < r.lastBefore:
		c.addCut(c.epoch.Load()|1+1, last+1)
	}
	r.lastBefore, r.resetsBefore = l.last.Load(), l.resets.Load()
}

// addCut appends the entry {epoch, seq} to the ring, folding the one it
// replaces into the next. Writer only, while followers do not read the
// ring (epoch odd or incarnation 0).
func (c *control) addCut(epoch, seq uint64) {
	r := &c.ring
	n := r.cuts.Load()
	if n >= ctlRingLen {
		old := r.ent[n%ctlRingLen][1].Load()
		next := r.ent[(n+1)%ctlRingLen][1]
		next.Store(min(next.Load(), old))
	}
	e := r.ent[n%ctlRingLen]
	e[0].Store(epoch)
	e[1].Store(seq)
	r.cuts.Store(n + 1)
}

// cutsSince returns the lowest first seq removed by the cuts recorded
// after epoch e0 (0: a Reset; ^0: none), and front gone. The oldest entry
// of a ring that overflowed speaks for every cut that left it too, some
// perhaps at or before e0 (its first seq is their minimum): when it is
// after e0 its first seq is returned apart, as folded (^0 otherwise), and
// is not in low. Follower; the caller checks that the epoch and
// incarnation did not change meanwhile.
func (c *control) cutsSince(e0 uint64) (low, folded, frontGone uint64) {
	r := &c.ring
	low, folded = ^uint64(0), ^uint64(0)
	n := r.cuts.Load()
	for i := n - min(n, ctlRingLen); i < n; i++ {
		e := r.ent[i%ctlRingLen]
		switch {
		case e[0].Load() <= e0:
		case i == n-ctlRingLen && n > ctlRingLen:
			folded = e[1].Load()
		default:
			low = min(low, e[1].Load())
		}
	}
	return low, folded, r.frontGone.Load()
}

// lockControl takes the flock on CONTROL that tells followers a live
// writer maintains it (FORMAT.md §9.6): the kernel drops it when the
// writer's process dies, and a writer of an older version takes none, so
// a follower does not trust an area its writer left, whatever the pid.
// Where flock is not available the area is used without it (followers
// there cannot list lock holders and trust the incarnation). Writer's open
// only; closing the file releases it.
//
// It also takes an OFD lock on the whole file (where there are such locks):
// a follower that judged the area trusted asks that lock, with one fcntl,
// whether the writer still holds it, rather than read /proc/locks again.
func lockControl(f *os.File) error {
	if err := sysutil.Lock(f); err != nil && !errors.Is(err, sysutil.ErrUnsupported) {
		return err
	}
	if err := sysutil.LockOFD(f); err != nil && !errors.Is(err, sysutil.ErrUnsupported) {
		return err
	}
	return nil
}

// The lineage's fingerprint (FORMAT.md §9.6): what the area last
// published, so that the next writer of this version (or a follower that
// would trust the area closed) can tell whether a writer it did not see —
// an older version, which leaves CONTROL alone, or one that could not
// lock it — changed the log since: then the ring does not hold that
// writer's cuts, and the lineage ends.
//
//	576: tip segment u64   the number of the segment of LastSeq's frame (0: no frame)
//	584: tip offset u64    that frame's offset in it
//	592: tip seq u64       LastSeq when it was recorded
//	600: tip CRC u64       the frame's stored checksum (low 32 bits)
//	608: floor seq u64     META's floor seq then (every TruncateBack sets it)
//	616: front seq u64     META's first seq then (TruncateFront, Reset)
//	624: recorded u64      1 once the six words above are written; 0: not recorded
//
// Zero (an area of an earlier build) means not recorded: the lineage is
// not carried over, and a closed area is not trusted.
const (
	ctlTipSegOff   = 576
	ctlTipOffOff   = 584
	ctlTipSeqOff   = 592
	ctlTipCRCOff   = 600
	ctlTipFloorOff = 608
	ctlTipFrontOff = 616
	ctlTipSetOff   = 624
)

// tip is the fingerprint's words in memory.
type tip struct {
	seg, off, seq uint64
	crc           uint32
	floor, front  uint64
	recorded      bool
}

// tipWords returns the fingerprint's words of c's mapping.
func (c *control) tipWords() (w [7]*atomic.Uint64, err error) {
	for i := range w {
		p, e := sysutil.Uint64At(c.m, ctlTipSegOff+8*i)
		if e != nil {
			return w, e
		}
		w[i] = p
	}
	return w, nil
}

// loadTip reads the fingerprint (the recorded word first: it is stored
// last).
func (c *control) loadTip() tip {
	w := c.tip
	t := tip{recorded: w[6].Load() == 1}
	t.seg, t.off, t.seq, t.crc = w[0].Load(), w[1].Load(), w[2].Load(), uint32(w[3].Load())
	t.floor, t.front = w[4].Load(), w[5].Load()
	return t
}

// storeTip writes the fingerprint t. Writer only, while no follower reads
// it: at open (incarnation 0), in a truncation (epoch odd) and at Close
// (before the pid goes to 0); followers read it only in a closed area.
func (c *control) storeTip(t tip) {
	w := c.tip
	w[6].Store(0)
	w[0].Store(t.seg)
	w[1].Store(t.off)
	w[2].Store(t.seq)
	w[3].Store(uint64(t.crc))
	w[4].Store(t.floor)
	w[5].Store(t.front)
	w[6].Store(1)
}

// recordTip stores the fingerprint of the log as the writer holds it now:
// LastSeq's frame (when the log holds that record), META's floor and
// first seq. Writer only (see storeTip).
func (l *Log) recordTip(c *control) {
	t := tip{seq: l.last.Load(), floor: l.meta.floor, front: l.meta.firstSeq, recorded: true}
	if s, off := l.frameOf(t.seq); s != nil {
		if f, err := s.pin(); err == nil {
			if crc, err := f.FrameCRC(off); err == nil {
				t.seg, t.off, t.crc = s.num, uint64(off), crc
			}
			s.unpin()
		}
	}
	c.storeTip(t)
}

// frameOf returns the segment and offset of record seq's frame, or nil
// when the log does not hold it. Unlike locate it also serves Close (the
// Log already marked closed). Writer only.
func (l *Log) frameOf(seq uint64) (*seg, int64) {
	segs := l.segments()
	for k := len(segs) - 1; k >= 0; k-- {
		s := segs[k]
		if s.first > seq {
			continue
		}
		if s.lazy.Load() != nil {
			return nil, 0 // not indexed (a sealed segment Open did not read): no tip
		}
		if i, ok := s.idx.find(seq); ok {
			return s, s.idx.off(i)
		}
		return nil, 0
	}
	return nil, 0
}

// tipHolds reports whether the log this writer opened (recovered, before
// any write) is still the one the area's fingerprint describes: META's
// floor and first seq unchanged, LastSeq not below the tip, and the tip's
// frame, when one was recorded, still at its place with its sequence and
// checksum. False means some writer that does not maintain the area
// changed the log since (a TruncateBack sets floor seq; a rewrite changes
// the tip's checksum), or that none was recorded. Writer's open only.
func (l *Log) tipHolds(c *control) bool {
	t := c.loadTip()
	switch {
	case !t.recorded, t.floor != l.meta.floor, t.front != l.meta.firstSeq, l.last.Load() < t.seq:
		return false
	case t.seg == 0:
		return true // no frame: the log held no record at LastSeq
	}
	for _, s := range l.segments() {
		if s.num != t.seg {
			continue
		}
		f, err := s.pin()
		if err != nil {
			return false
		}
		defer s.unpin()
		h, _, ok := f.PeekFrame(int64(t.off), framePayloadIn(s.size))
		crc, err := f.FrameCRC(int64(t.off))
		return ok && err == nil && h.Type.IsRecord() && h.Seq == t.seq && crc == t.crc
	}
	return false
}
