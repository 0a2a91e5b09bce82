package mmapwal

import (
	"context"
	"errors"
	"slices"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Verify reads every segment of the log and checks it as Open's full scan
// does (FORMAT.md §5 and §9): every frame's checksum, type and sequence,
// the sequences across segments, each sealed segment's end (its seal
// where the next header records it, nothing after), and that nothing
// follows the newest segment's frames (which Open does not read after the
// durable mark of a clean Close). The sealed segments a
// writable Open of a format version 2 log did not read (see
// RecoveryReport.Deferred) are verified for good, as their first read
// would; the others are read again. So Open followed by Verify finds what
// a full scan at Open would.
//
// It returns the first damage in log order as a *CorruptionError
// (ErrCorrupt, Durable), ctx.Err() when ctx is done first, ErrClosed once
// the log is closed; nil when every record is intact. It maps one segment
// at a time (MaxMappedSegments still bounds the mappings) and takes no lock
// but over the newest segment, which is read up to its last committed
// frame while appends wait. A segment a truncation removes or cuts while
// Verify reads it is skipped. On a ReadOnly log beside a live writer it
// may report as damage what the writer is changing meanwhile.
func (l *Log) Verify(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.wmu.Lock()
	segs := l.segments()
	seals := make([]int64, len(segs))
	for i, s := range segs {
		seals[i] = s.seal
	}
	l.wmu.Unlock()
	c := l.cuts.Load()
	prev := uint64(0)
	for i, s := range segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i == len(segs)-1 {
			return l.verifyNewest(s, prev)
		}
		last, err := l.verifySealed(s, max(prev, s.first-1), seals[i])
		if err != nil && !l.cutUnder(s, c, last) {
			return err
		}
		prev = last
	}
	return nil
}

// cutUnder reports whether the sealed segment s, whose records end at last,
// was removed or cut by a truncation since the cut c: then what Verify read
// of it may be bytes being zeroed, and is not damage. A TruncateBack that
// left s whole (it cut a later segment) is not.
func (l *Log) cutUnder(s *seg, c *backCut, last uint64) bool {
	if !slices.Contains(l.segments(), s) {
		return true
	}
	if l.cuts.Load() == c {
		return false
	}
	_, low := lowestCut(c)
	return low < last
}

// verifySealed checks the sealed segment s, whose first frame follows
// prev and which ends with a seal at seal (0: none, a version 1 segment),
// and returns its last sequence. A segment Open did not read is verified
// for good (seg.ready).
func (l *Log) verifySealed(s *seg, prev uint64, seal int64) (uint64, error) {
	if d := s.lazy.Load(); d != nil {
		err := s.ready()
		if errors.Is(err, errSegGone) {
			return d.sealSeq, nil
		}
		return d.sealSeq, err
	}
	f, err := s.pin()
	switch {
	case errors.Is(err, errSegGone):
		return prev, nil // removed by a TruncateFront meanwhile
	case err != nil:
		return prev, err
	}
	defer s.unpin()
	end := f.Scan(prev, framePayloadIn(s.size), func(int64, crcframe.Header, []byte) {})
	if seal != 0 {
		if ce := sealedEnd(s.name, end, seal); ce != nil {
			return end.LastSeq, ce
		}
	} else if !end.Clean() {
		return end.LastSeq, &CorruptionError{Segment: s.name, Offset: end.Bad, Reason: end.Reason, Durable: true}
	}
	return end.LastSeq, nil
}

// verifyNewest checks the frames of the newest segment s up to the end of
// what was committed, with appends held off meanwhile (on a ReadOnly log:
// up to the end Open found).
func (l *Log) verifyNewest(s *seg, prev uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	if segs := l.segments(); len(segs) == 0 || segs[len(segs)-1] != s {
		return nil // rotated or cut meanwhile
	}
	f, err := s.pin()
	if errors.Is(err, errSegGone) {
		return nil
	}
	if err != nil {
		return err
	}
	defer s.unpin()
	to := s.written
	end := f.ScanPrefix(max(prev, s.first-1), framePayloadIn(s.size), to, func(int64, crcframe.Header, []byte) {})
	if end.Offset != to || !end.Clean() {
		return &CorruptionError{Segment: s.name, Offset: end.Bad, Reason: verifyReason(end), Durable: true}
	}
	if l.resv != nil {
		return nil // its payload is being written after the frames
	}
	if l.opts.ReadOnly && (l.recovery.TornTail != nil || l.recovery.PendingTruncation) {
		// The bytes after the frames are a torn tail or records a pending
		// TruncateBack drops: a writable Open cuts them, this one leaves
		// them (Recovery says so), and they are not damage.
		return nil
	}
	if f.Recycled() {
		return l.verifyRecycledEnd(s, f, to, end.Sealed)
	}
	// Nothing after the frames (FORMAT.md §5): what Open did not read
	// after a clean Close's mark (Log.scanSegment).
	dirty, err := f.DirtyEnd(to)
	if err != nil {
		return corruptionFromOpen(s.name, err)
	}
	if dirty > to {
		return &CorruptionError{Segment: s.name, Offset: to, Reason: ReasonGarbageAfterEnd, Durable: true}
	}
	return nil
}

// verifyReason is the reason for frames that end before what was
// committed: the invalid frame's, or, when they end in zeros there,
// ReasonIncompletePayload (committed bytes are missing).
func verifyReason(end segment.End) Reason {
	if end.Reason == crcframe.CleanEnd {
		return ReasonIncompletePayload
	}
	return end.Reason
}

// verifyRecycledEnd is the check of what follows the frames, ending at to,
// of a recycled segment (FORMAT.md §9.7): a seal ends them with nothing
// read after it, and so does an end within a frame header of the
// segment's end; otherwise a zero frame header must be at to and no frame
// valid under the segment's seed after it (the stale bytes never
// validate).
func (l *Log) verifyRecycledEnd(s *seg, f *segment.File, to int64, sealed bool) error {
	if sealed || to+crcframe.HeaderSize > s.size {
		return nil
	}
	end, err := f.LiveEnd(to, framePayloadIn(s.size))
	if err != nil {
		return corruptionFromOpen(s.name, err)
	}
	if end > to+crcframe.HeaderSize || !f.ZeroAt(to, crcframe.HeaderSize) {
		return &CorruptionError{Segment: s.name, Offset: to, Reason: ReasonGarbageAfterEnd, Durable: true}
	}
	return nil
}
