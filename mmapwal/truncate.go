package mmapwal

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TruncateFront drops the records below seq, durably; FirstSeq() ≤ seq ≤
// LastSeq()+1. After TruncateFront(LastSeq()+1) the log holds no record,
// LastSeq keeps its value and the next Append continues after it (the way
// Raft compacts). Segments that hold only dropped records are deleted.
// Iterators that had still to return a dropped record fail with
// ErrNotFound; the others go on.
func (l *Log) TruncateFront(seq uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	defer l.truncated() // waiting iterators and followers look at what changed
	if err := l.waitWritable(); err != nil {
		return err
	}
	first, last := l.first.Load(), l.last.Load()
	if seq < first || (seq > last && seq-last > 1) { // seq ≤ last+1 without overflow
		return fmt.Errorf("%w: TruncateFront(%d) outside [FirstSeq %d, LastSeq+1 %d]", ErrInvalidArgument, seq, first, last+1)
	}
	// The segments the truncation reads are verified before anything
	// changes (seg.ready): a damaged one fails it here.
	gone, err := l.lastBelow(seq)
	var newFirst uint64
	if err == nil {
		newFirst, err = l.firstFrom(seq)
	}
	if err != nil {
		return err
	}
	m := l.meta
	m.firstSeq = seq
	if err := writeMeta(l.dir, m); err != nil {
		if errors.Is(err, errMetaInDoubt) {
			// The new META may be on disk: a reopen may drop the records
			// below seq though this call failed.
			return l.setPoison(err)
		}
		return mapNoSpace(err)
	}
	l.meta = m
	l.ctlTruncating()
	l.frontGone.Store(max(l.frontGone.Load(), gone)) // before front: see Iterator.followFront
	// FirstSeq before front: a Read that finds its record below the
	// front (ErrNotFound) must find FirstSeq above it when it looks, or
	// it would take a truncation for a lost record.
	l.first.Store(newFirst)
	l.front.Store(seq)
	return l.dropFrontSegments(seq)
}

// lastBelow returns the highest record below seq, or 0. A segment that
// starts at or above seq holds none: only the one it needs is verified
// (seg.ready), and its damage is returned. Writer only.
func (l *Log) lastBelow(seq uint64) (uint64, error) {
	segs := l.segments()
	for k := len(segs) - 1; k >= 0; k-- {
		s := segs[k]
		if s.first >= seq {
			continue
		}
		if err := s.ready(); err != nil {
			return 0, err
		}
		if i, _ := s.idx.find(seq); i > 0 {
			return s.idx.seq(i - 1), nil
		}
	}
	return 0, nil
}

// dropFrontSegments deletes the sealed segments whose records are all below
// seq. Writer only.
func (l *Log) dropFrontSegments(seq uint64) error {
	segs := l.segments()
	k := 0
	// A segment Open did not verify is known below seq by its seal: the
	// next segment's first sequence is above it (seg.bound).
	for k < len(segs)-1 && segs[k+1].first <= seq && segs[k].bound() < seq {
		k++
	}
	if k == 0 {
		return nil
	}
	l.publishSegs(append([]*seg(nil), segs[k:]...))
	// All are out of the list now: retire them before a removal can fail,
	// or the rest would stay mapped and open with nothing to release them.
	idle := make([]bool, k)
	for i, s := range segs[:k] {
		idle[i] = s.retire(true)
	}
	// Oldest first, the directory synced after each removal (or move into
	// the pool of files to recycle): removals that one fsync covers may
	// persist in any order after a power cut, and a hole in the middle of
	// the remaining segments would read as a missing segment.
	for i, s := range segs[:k] {
		if err := l.poolOrRemove(s, idle[i]); err != nil {
			return err
		}
	}
	return nil
}

// TruncateBack drops the records above seq, durably; FirstSeq()-1 ≤ seq ≤
// LastSeq(). Afterwards LastSeq is the highest remaining record (seq when
// it exists; seq when no record remains) and the next Append continues
// after it. Iterators that already returned a dropped record fail with a
// *TruncatedError (ErrTruncated) before they return any record appended
// since.
//
// It is crash safe: a redo record in META makes recovery finish a
// truncation that a crash interrupted.
func (l *Log) TruncateBack(seq uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	defer l.truncated() // waiting iterators and followers look at what changed
	if err := l.waitWritable(); err != nil {
		return err
	}
	first, last := l.first.Load(), l.last.Load()
	if (first > 0 && seq < first-1) || seq > last { // seq ≥ first-1 without overflow
		return fmt.Errorf("%w: TruncateBack(%d) outside [FirstSeq-1 %d, LastSeq %d]", ErrInvalidArgument, seq, first-min(first, 1), last)
	}
	if seq == last {
		return nil
	}
	segs := l.segments()
	j, i, err := l.cutPoint(segs, seq)
	if err != nil {
		return err // a damaged segment, verified before anything changes
	}
	cut := segs[j]
	off := cut.written
	if i < cut.idx.len() {
		off = cut.idx.off(i)
	}
	newLast := seq
	if i > 0 && cut.idx.seq(i-1) >= l.front.Load() {
		newLast = cut.idx.seq(i - 1)
	}
	// 1. The redo record: from here on a crash finishes the truncation.
	m := l.meta
	m.backSeg, m.backOff, m.floor = cut.num, uint32(off), newLast
	if err := writeMeta(l.dir, m); err != nil {
		if errors.Is(err, errMetaInDoubt) {
			// The redo record may be on disk: a reopen would finish the
			// truncation and drop whatever is appended after this call.
			return l.setPoison(err)
		}
		return mapNoSpace(err)
	}
	l.meta = m
	l.ctlTruncating()
	c := l.addCut(newLast) // before anything changes: readers check it after reading
	l.st.gen.Add(1)        // sync rounds in flight must not raise DurableSeq
	l.gc.truncated(newLast)
	if err := l.cutBack(segs, j, i, off, newLast); err != nil {
		return l.setPoison(err) // c stays pending: readers never look above newLast
	}
	c.pending.Store(false)
	// 2. The truncation is done: clear the redo record.
	m.backSeg, m.backOff = 0, 0
	if err := writeMeta(l.dir, m); err != nil {
		return l.setPoison(err)
	}
	l.meta = m
	return nil
}

// backCut is one TruncateBack in a chain that readers follow. It is
// published (addCut) before the cut changes anything and marked done
// (pending false) once the index is unpublished, the bytes zeroed and the
// segment list and LastSeq updated.
//
// Readers use the chain as a sequence lock: they load the newest cut, read
// an index entry and its frame, and load the newest cut again. When a cut
// began meanwhile whose last is below the record, the record may be dropped
// or its slot reused by a re-append, so they look again; a record at or
// below every such last was kept, and its entry and bytes did not change.
// While a cut is pending nothing above its last is read: those records are
// being dropped.
//
// Iterators also hold the newest cut they accounted for and, when the end of
// the log moved, walk the later ones to learn how low the log was cut
// meanwhile (LastSeq alone cannot tell: appends after the cut may have
// raised it again); one that returned a record above that fails. Cuts point
// forward only, so the ones no reader holds are freed.
type backCut struct {
	last    uint64                  // LastSeq right after the cut
	pending atomic.Bool             // the cut is under way (or failed, poisoning the log)
	next    atomic.Pointer[backCut] // the next cut, nil for the newest
}

// addCut appends a pending cut to LastSeq last to the chain and returns it.
// Writer only.
func (l *Log) addCut(last uint64) *backCut {
	c := &backCut{last: last}
	c.pending.Store(true)
	l.cuts.Load().next.Store(c)
	l.cuts.Store(c)
	return c
}

// lowestCut follows the cuts after c and returns the newest one and the
// lowest LastSeq any of them left (^0 when there is none).
func lowestCut(c *backCut) (*backCut, uint64) {
	low := ^uint64(0)
	for n := c.next.Load(); n != nil; n = n.next.Load() {
		c, low = n, min(low, n.last)
	}
	return c, low
}

// settled reports whether what a reader found for seq, having loaded the
// newest cut c before it started, still holds: no TruncateBack began since
// that could drop seq or reuse its slot.
func (l *Log) settled(c *backCut, seq uint64) bool {
	if l.cuts.Load() == c {
		return true
	}
	_, low := lowestCut(c)
	return seq <= low
}

// cutPoint finds the segment j and index position i of the first record
// above seq to drop. The segments it looks into are verified first
// (seg.ready): a segment that starts above seq holds only records to drop
// and is not read. Writer only.
func (l *Log) cutPoint(segs []*seg, seq uint64) (int, int64, error) {
	for j := len(segs) - 1; j >= 0; j-- {
		if segs[j].first > seq && j > 0 {
			continue
		}
		if err := segs[j].ready(); err != nil {
			return 0, 0, err
		}
		i, _ := segs[j].idx.find(seq + 1)
		if i > 0 || j == 0 {
			return j, i, nil
		}
	}
	return 0, 0, nil
}

// cutBack removes the segments after segs[j], zeroes segs[j] from off and
// makes it the active segment. Writer only.
func (l *Log) cutBack(segs []*seg, j int, i, off int64, newLast uint64) error {
	if err := l.prep.discard(); err != nil {
		return err // poisons: the redo record in META finishes the cut at reopen
	}
	for k := len(segs) - 1; k > j; k-- {
		segs[k].retire(true)
		if err := sysutil.Remove(segs[k].path); err != nil {
			return err
		}
	}
	if err := sysutil.SyncDir(l.dir); err != nil {
		return err
	}
	cut := segs[j]
	if cut != l.active {
		if _, err := cut.pin(); err != nil { // becomes the writer's pin
			return err
		}
		l.active.unpin()
		l.active = cut
		l.publishSegs(append([]*seg(nil), segs[:j+1]...))
	}
	l.last.Store(newLast) // before the index shrinks below the tail's start
	cut.idx.truncate(i)
	end := cut.written
	cut.written = off
	if cut.seal >= off {
		cut.seal = 0 // zeroed with the tail: sealed again at its next rotation
	}
	if err := cut.file.Clear(off, end); err != nil {
		return err
	}
	if err := l.flush(cut.file, off, end, l.st.appends.Load()); err != nil {
		return err
	}
	if i > 0 {
		flush := func(from, to int64) error { return l.flush(cut.file, from, to, l.st.appends.Load()) }
		if err := closeBatchAt(cut.file, cut.idx.off(i-1), off, flush); err != nil {
			return err
		}
	}
	cut.synced.Store(min(cut.synced.Load(), off))
	l.off, l.wbFrom, l.popAt = off, off, off // wbFrom may have been another segment's
	l.setWritebackAt()
	l.last.Store(newLast)
	l.durable.Store(min(l.durable.Load(), newLast))
	l.updateFirst()
	l.maxNum = max(l.maxNum, l.nextNum)
	l.nextNum = cut.num + 1
	l.prepareNext()
	return nil
}
