package mmapwal

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/mmapwal/mmapwal/segment"
)

// Iterator walks the log's records in sequence order, like bufio.Scanner:
//
//	it, err := l.NewIterator(from)
//	…
//	defer it.Close()
//	for it.Next() {
//		use(it.Seq(), it.Value())
//	}
//	if err := it.Err(); err != nil { … }
//
// An iterator that reaches the end returns false from Next with a nil Err;
// a later Next picks up records appended since. It holds its current
// segment mapped until it moves on or is closed. An Iterator is not safe for
// concurrent use; several iterators may run concurrently with each other and
// with writers.
//
// Under truncations it returns strictly increasing sequences ≥ from, each
// the record at that sequence when Next returned it, or stops with an error:
// once a TruncateBack dropped a record it returned, Next fails with a
// *TruncatedError (ErrTruncated, also ErrNotFound) before returning any
// record appended since; once a TruncateFront dropped a record it had still
// to return, with ErrNotFound. A TruncateFront that drops nothing it had
// still to return (a cut into a gap after its position) does not stop it.
// A Reset ends every iterator opened before it with a *TruncatedError.
//
// NextWait waits for records not appended yet (see wait.go); a Follower's
// iterators (Follower.NewIterator) are of this type too and read through
// the Follower (see followIter).
type Iterator struct {
	l    *Log
	s    *seg          // pinned segment, or nil
	f    *segment.File // its mapping
	i    int64         // next index position in s
	next uint64        // lowest sequence still to return
	top  bool          // the record math.MaxUint64 was returned: none can follow
	seq  uint64        // the last sequence returned, 0 before the first
	val  []byte
	// cut is the newest TruncateBack accounted for; cutPending says it
	// was under way then, so nothing above cut.last may be read until it
	// is done (and the iterator re-locates).
	cut        *backCut
	cutPending bool
	resets     uint64 // Log.resets when the iterator was opened
	bad        error  // the damage the verification of s found after its index's records
	buf        []byte // ReadOnly logs: the checked copy Value returns
	prev       roPrev // ReadOnly logs: where the last returned record is
	err        error
	closed     bool

	// ahead holds the payloads of the records at index positions aheadAt
	// up to aheadAt+aheadN of s, read under one fault guard by
	// nextInSegment (readAhead), whose checks of the truncations come
	// after the read as they do for a single record; aheadSeqs are their
	// sequences (nil: dense, aheadFirst+k). Only nextInSegment reads it;
	// drop and the general path of Next empty it (aheadN = 0).
	ahead      [aheadLen][]byte
	aheadSeqs  []uint64
	aheadFirst uint64
	aheadAt    int64
	aheadN     int

	durableOnly bool          // IteratorOptions.DurableOnly: nothing above DurableSeq
	ctxErr      error         // the ctx error of the last NextWait; not sticky
	wakeCh      chan struct{} // NextWait's wake-up, made at its first wait
	fol         *followIter   // set on a Follower's iterator: it reads through fol instead
	// NextWait's naps (wait.go): spun counts the records found during
	// the spins since the last park, waitGot the records NextWait returned
	// since its last first look that found nothing (a count: sequences may
	// have gaps), napTimer times a nap.
	spun     int
	waitGot  int
	napTimer *time.Timer
}

// NewIterator returns an iterator positioned before the first record whose
// sequence is ≥ from (records below FirstSeq are gone; iteration starts at
// the first one kept).
func (l *Log) NewIterator(from uint64) (*Iterator, error) {
	return l.NewIteratorWith(from, nil)
}

// NewIteratorWith is NewIterator with options; a nil o is NewIterator. It
// works on a ReadOnly Log too, where DurableOnly means what the files proved
// durable at Open; such a Log sees no later append, so NextWait at the end
// of what it read returns false with a sticky ErrInvalidArgument instead of
// waiting (OpenFollower follows a log as it grows).
func (l *Log) NewIteratorWith(from uint64, o *IteratorOptions) (*Iterator, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	c := l.cuts.Load()
	it := &Iterator{l: l, next: max(from, 1), cut: c, cutPending: c.pending.Load(), resets: l.resets.Load()}
	if o != nil {
		it.durableOnly = o.DurableOnly
	}
	return it, nil
}

// Next advances to the next record and reports whether there is one. It
// returns false at the end of the log (Err is nil: a later Next may find
// new records) or on an error (see Err).
func (it *Iterator) Next() bool {
	it.ctxErr = nil
	if it.fol != nil {
		return it.fol.next(it)
	}
	if it.err != nil || it.closed {
		return false
	}
	if it.nextInSegment() {
		return true
	}
	it.aheadN = 0 // what the general path finds is read again
	for {
		// The cuts and resets first: a record returned before a Close
		// may have been dropped before it, and the caller must learn that
		// (see Value).
		if !it.followCuts() {
			return false
		}
		if r := it.l.resets.Load(); r != it.resets {
			// A Reset dropped every record, those it had still to return
			// included, and may have restarted below them.
			return it.fail(&TruncatedError{Seq: it.next, LastSeq: it.l.last.Load()})
		}
		if it.l.closed.Load() {
			return it.fail(ErrClosed)
		}
		if !it.followFront() {
			return false
		}
		if ok, again := it.advance(); !again {
			if !ok && it.err == nil && it.durableOnly {
				if err := it.l.poisoned(); err != nil {
					// DurableSeq never rises again on this Log.
					return it.fail(err)
				}
			}
			return ok
		}
	}
}

// nextInSegment is Next's common case, in one function: the next record
// of the pinned segment, already verified, on a writable log, with no
// truncation, Reset or Close since the iterator last looked. It makes the
// same checks as the general path, after the record was read, and returns
// false, changing nothing but what it read ahead, as soon as one does not
// pass (or the record does not read): the general path then looks again.
//
// The records are read aheadLen at a time (readAhead: one fault guard,
// one call for the run), each checked when it is returned: a truncation
// that began before the check is seen, however long before it the record
// was read, as for a record read just before it.
func (it *Iterator) nextInSegment() bool {
	l, s := it.l, it.s
	if s == nil || it.cutPending || it.top || l.opts.ReadOnly {
		return false
	}
	k := it.i - it.aheadAt
	if k < 0 || k >= int64(it.aheadN) {
		if !it.readAhead() {
			return false
		}
		k = 0
	}
	seq := it.aheadFirst + uint64(k)
	if it.aheadSeqs != nil {
		seq = it.aheadSeqs[k]
	}
	if l.cuts.Load() != it.cut || l.resets.Load() != it.resets || l.closed.Load() || l.front.Load() > it.next {
		return false
	}
	if seq < it.next || (it.durableOnly && seq > l.durable.Load()) {
		return false
	}
	it.i++
	it.seq, it.val = seq, it.ahead[k]
	if seq == math.MaxUint64 {
		it.top = true
	} else {
		it.next = seq + 1
	}
	return true
}

// aheadLen is how many records nextInSegment reads at a time.
const aheadLen = 32

// readAhead reads the payloads of the published records from it.i on, at
// most aheadLen and within one chunk of the index, into it.ahead. It
// reports false, with nothing read ahead, when the record at it.i is not
// published or does not read (the general path reads it again, and says
// why).
func (it *Iterator) readAhead() bool {
	offs, seqs, first := it.s.idx.run(it.i, aheadLen)
	n, _ := it.f.RecordPayloads(it.ahead[:], offs, seqs, first)
	if n == 0 {
		it.aheadN = 0
		return false
	}
	it.aheadSeqs, it.aheadFirst, it.aheadAt, it.aheadN = seqs, first, it.i, n
	return true
}

// followCuts accounts for the TruncateBacks since the iterator last looked:
// it fails if one dropped a record the iterator returned, and re-locates
// when one moved the end of the log (or finished moving it).
func (it *Iterator) followCuts() bool {
	c := it.l.cuts.Load()
	if c == it.cut && (!it.cutPending || c.pending.Load()) {
		return true
	}
	newest, low := lowestCut(it.cut)
	if it.seq > low { // even if appends raised LastSeq again since
		return it.fail(&TruncatedError{Seq: low + 1, LastSeq: it.l.last.Load()})
	}
	it.cut, it.cutPending = newest, newest.pending.Load()
	it.drop() // re-locate: the end of the log moved
	return true
}

// followFront accounts for TruncateFront: records below front are gone. An
// iterator that returned records fails only if one it had still to return
// was removed (frontGone, stored before front, is the highest removed).
func (it *Iterator) followFront() bool {
	front := it.l.front.Load()
	if it.next >= front {
		return true
	}
	if it.seq != 0 && it.l.frontGone.Load() >= it.next {
		return it.fail(fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, front))
	}
	it.next = front
	it.drop() // the pinned position may be below front: re-locate
	return true
}

// advance makes the next record current. again asks Next to look at the
// truncations again: one began while the record was read.
func (it *Iterator) advance() (ok, again bool) {
	limit := ^uint64(0)
	if it.cutPending {
		limit = it.cut.last // the records above are being dropped
	}
	if it.durableOnly {
		limit = min(limit, it.l.durable.Load())
	}
	if it.top {
		return false, false // no sequence is above the one returned
	}
	for {
		if it.next > limit {
			return false, false // not even a seek: the segments there are being removed
		}
		if it.s == nil {
			if ok, again := it.seek(); !ok || again {
				return false, again
			}
		}
		if it.i >= it.s.idx.len() {
			if it.bad == nil && it.s.lazy.Load() != nil {
				// The verification of a sealed segment Open did not
				// read goes on a step ahead of the iterator.
				if ok, again := it.verifyMore(); !ok {
					return false, again
				}
				continue
			}
			if it.bad != nil {
				// The segment's verification found damage after the
				// records returned: never skip what it may have held.
				return it.fail(it.bad), false
			}
			segs := it.l.segments()
			if len(segs) == 0 || segs[len(segs)-1] == it.s {
				return false, false // at the end for now
			}
			it.drop()
			continue
		}
		seq := it.s.idx.seq(it.i)
		if seq < it.next {
			// Appended after a TruncateBack lowered the end below
			// where the iterator starts: not for this iterator.
			it.i++
			continue
		}
		if seq > limit {
			return false, false
		}
		return it.load(seq)
	}
}

// load reads the record seq at it.i and makes it current, unless a
// truncation that began meanwhile may have changed it (again).
func (it *Iterator) load(seq uint64) (ok, again bool) {
	l, s := it.l, it.s
	var val []byte
	var err error
	if l.opts.ReadOnly {
		it.buf, err = l.readVerified(it.buf[:0], s, it.f, it.i, seq)
		val = it.buf
		if err == nil && !it.prev.intact(it.f) {
			// The writer dropped the record returned last: going on would
			// mix records from before and after its truncation.
			err = &TruncatedError{Seq: it.seq, LastSeq: l.last.Load()}
		}
	} else {
		val, err = framePayload(s, it.f, it.i, seq)
	}
	if !l.settled(it.cut, seq) {
		return false, true
	}
	if front := l.front.Load(); front > it.next && it.seq != 0 && l.frontGone.Load() >= it.next {
		// A TruncateFront meanwhile removed records the iterator had
		// still to return; seek may have skipped them.
		return it.fail(fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, front)), false
	}
	if err != nil {
		return it.fail(err), false
	}
	if l.opts.ReadOnly {
		it.prev.set(s, it.f, s.idx.off(it.i))
	}
	it.i++
	it.seq, it.val = seq, val
	if seq == math.MaxUint64 {
		it.top = true // seq+1 would wrap to 0 and start again from the front
	} else {
		it.next = seq + 1
	}
	return true, false
}

// roPrev remembers, on a ReadOnly log, the frame of the record an iterator
// returned last, with a pin on its segment: before returning the next one,
// the iterator checks that the writer has not dropped it meanwhile (its
// checksum field changed, or its file was removed).
type roPrev struct {
	s   *seg
	f   *segment.File
	off int64
	crc uint32
}

// set makes the frame at off of s (mapped as f) the one to check.
func (p *roPrev) set(s *seg, f *segment.File, off int64) {
	if p.s != s {
		p.release()
		if _, err := s.pin(); err != nil {
			return // closed meanwhile: nothing to check against
		}
		p.s, p.f = s, f
	}
	p.off = off
	p.crc, _ = f.FrameCRC(off)
}

// intact reports whether the remembered frame is still in place. cur is the
// file of the record about to be returned, whose link was just checked.
func (p *roPrev) intact(cur *segment.File) bool {
	if p.s == nil {
		return true
	}
	if crc, err := p.f.FrameCRC(p.off); err != nil || crc != p.crc {
		return false
	}
	if p.f == cur {
		return true
	}
	linked, err := p.f.Linked()
	return err == nil && linked
}

func (p *roPrev) release() {
	if p.s != nil {
		p.s.unpin()
		p.s, p.f = nil, nil
	}
}

// seek pins the segment that holds the first record ≥ it.next. again says
// that the segment was removed meanwhile (by a truncation Next has to look
// at).
func (it *Iterator) seek() (ok, again bool) {
	segs := it.l.segments()
	k := sort.Search(len(segs), func(k int) bool { return segs[k].first > it.next }) - 1
	for k = max(k, 0); k < len(segs); k++ {
		s := segs[k]
		bad := s.readyFor(it.next) // a sealed segment Open did not read is verified first, as far as it.next
		var ce *CorruptionError
		switch {
		case errors.Is(bad, errSegGone):
			return false, true
		case bad != nil && !errors.As(bad, &ce):
			return it.fail(it.l.readErr(bad, it.next)), false
		}
		i, _ := s.idx.find(it.next)
		if i >= s.idx.len() && k < len(segs)-1 {
			if bad != nil {
				return it.fail(bad), false
			}
			continue
		}
		f, err := s.pin()
		if errors.Is(err, errSegGone) {
			return false, true
		}
		if err != nil {
			return it.fail(it.l.readErr(err, it.next)), false
		}
		it.s, it.f, it.i, it.bad = s, f, i, bad
		return true, false
	}
	return false, false
}

// verifyMore verifies the next step of the current segment, which Open did
// not read, at the end of what is verified; damage it finds is it.bad,
// returned once the records before it are. again says that the segment was
// removed meanwhile.
func (it *Iterator) verifyMore() (ok, again bool) {
	err := it.s.verifyPart(it.s.step()) // each step ends further on, or ends the frames
	if err == nil {
		return true, false
	}
	var ce *CorruptionError
	switch {
	case errors.Is(err, errSegGone):
		return false, true
	case errors.As(err, &ce):
		it.bad = err
	default:
		return it.fail(it.l.readErr(err, it.next)), false
	}
	return true, false
}

// drop unpins the current segment.
func (it *Iterator) drop() {
	if it.s != nil {
		it.s.unpin()
		it.s, it.f, it.bad = nil, nil, nil
	}
	it.aheadN = 0 // slices of the mapping just unpinned
}

func (it *Iterator) fail(err error) bool {
	it.err, it.val = err, nil
	it.drop()
	it.prev.release()
	return false
}

// Seq returns the current record's sequence.
func (it *Iterator) Seq() uint64 { return it.seq }

// Value returns the current record as a slice of the log's mapping: valid
// until the next call of Next or Close, read-only. A TruncateBack that drops
// the record meanwhile zeroes the bytes under the slice; the next Next then
// returns false with a *TruncatedError (ErrTruncated) whose Seq is at or
// below this record's — so a caller that must never act on a dropped record
// acts on a record only after the following Next (or checks Err after its
// loop). On a ReadOnly log, and on a Follower's iterator, Value is a
// checked copy in a buffer the iterator owns (valid until the next Next,
// NextWait or Close; it grows once and is reused).
func (it *Iterator) Value() []byte { return it.val }

// Err returns the error that stopped the iterator, or nil; after a
// NextWait that returned false because its context was done, that
// context's error (not sticky, see NextWait).
func (it *Iterator) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.ctxErr
}

// Close releases the iterator's segment. It always returns nil; a second
// Close does nothing.
func (it *Iterator) Close() error {
	if it.fol != nil {
		it.fol.close()
	}
	it.drop()
	it.prev.release()
	it.closed, it.val = true, nil
	return nil
}
