package mmapwal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// RecoveryReport says what Open found and did.
type RecoveryReport struct {
	Segments int // segment files opened (scanned, or Deferred)
	Records  int // records found in the segments scanned (not in the Deferred ones)
	// Deferred counts the sealed segments (format version 2, writable
	// opens) whose frames Open did not read: it checked their headers and
	// the seal frame that ends each, where the next segment's header
	// records it, and nothing else. Each is scanned and verified
	// (checksums, sequences, its end) the first time a read, an iterator, a
	// truncation or Verify needs it; damage found then is a
	// *CorruptionError (Durable) from that call, and no record after the
	// damage is returned. Open scans every other segment whole: those of a
	// version 1 log, the newest (up to the durable mark a clean Close
	// recorded in META, else to its end), the one holding the first record
	// at or above the front truncation point when it is not the first of
	// its segment, and every segment of a ReadOnly open (salvage: its
	// Corruption says where the valid records end).
	Deferred int
	FirstSeq uint64        // FirstSeq after recovery
	LastSeq  uint64        // LastSeq after recovery
	Clean    bool          // the log had been closed cleanly (it ended with a durable mark)
	Duration time.Duration // time Open took
	// TornTail describes a torn tail found at the end of the newest segment,
	// or is nil. Under TruncatePartial it was cut (Repaired); under ReadOnly
	// it was left in place and the log serves the records before it.
	TornTail *TornTail
	// Corruption is the damage a ReadOnly open found; the log serves the
	// valid records before it. Nil otherwise (a writable open fails instead).
	Corruption *CorruptionError
	// FinishedTruncation reports that a TruncateBack or a Reset interrupted
	// by a crash was completed.
	FinishedTruncation bool
	// PendingTruncation reports that a ReadOnly open found a TruncateBack
	// or a Reset that a crash interrupted (its redo record is in META) and applied it
	// in memory: the log serves what a writable open, which finishes the
	// truncation, would leave. The files are not changed.
	PendingTruncation bool
	// Removed lists the files recovery deleted: a prepared segment that was
	// never used, a newest segment whose creation a crash interrupted,
	// segments wholly below a front truncation, segments beyond an
	// interrupted TruncateBack. Recovery never deletes, by its own
	// judgement, a file that holds a valid frame.
	Removed []string
	// Quarantined lists the quarantine files (paths) that hold the non-zero
	// bytes of files in Removed which recovery judged never to have held a
	// record (a segment whose creation a crash interrupted, with bytes in
	// its header's sector). Recovery never removes non-zero bytes of such a
	// file without keeping a copy.
	Quarantined []string
}

// TornTail is the residue of a crash while appending records that were never
// acknowledged.
type TornTail struct {
	Segment      string // segment file name
	Offset       int64  // where the valid records end
	Reason       Reason // what the first invalid frame looked like
	BytesDropped int64  // bytes cut (zeroed) from Offset on
	Quarantine   string // path of the file holding the cut bytes ("" if none)
	Repaired     bool   // cut under TruncatePartial
}

// scanned is one segment as recovery found it.
type scanned struct {
	s   *seg
	f   *segment.File // its mapping while recovery needs it, or nil (deferred, or unmapped to bound the mappings)
	end segment.End   // of a deferred segment: as its seal says the scan will find it
}

// below reports whether every record of the segment is below front (none
// is at or above it). For a deferred segment Open knows it from the seal,
// or from the first record it read (deferScan reads it exactly when the
// seal does not tell).
func (sc scanned) below(front uint64) bool {
	if d := sc.s.lazy.Load(); d != nil {
		return d.sealSeq < front || (d.none && front > 0)
	}
	return sc.s.lastSeq() < front
}

// recover opens and checks every segment, judges the end of the log,
// repairs a torn tail and publishes the result. Steps (FORMAT.md §5):
//  1. finish an interrupted TruncateBack;
//  2. open every segment: consecutive numbers, right identity and version;
//  3. scan each one's frames, checking sequence continuity across segments;
//  4. judge the first invalid spot: corruption in a sealed segment or proven
//     durable is fatal; otherwise it is a torn tail, cut or refused by policy;
//  5. drop segments wholly before the front truncation point and an unused
//     prepared segment; sync the tail so that DurableSeq = LastSeq.
func (l *Log) recover(nums []uint64) error {
	poisoned := wasPoisoned(l.dir)
	if poisoned {
		// Before anything reads a segment, the redo of a TruncateBack
		// included: pages whose write-back failed may read as what the
		// disk does not hold.
		if err := l.evictPageCache(nums); err != nil {
			return err
		}
	}
	hdrs, err := l.refuseNewerFormat(nums)
	if err != nil {
		return err
	}
	if poisoned {
		hdrs = nil // verify every segment, as after any doubt about the pages
	}
	if l.meta.reset != 0 { // a Reset a crash interrupted (reset.go)
		var err error
		if nums, err = l.finishReset(nums); err != nil {
			return err
		}
	}
	if l.meta.backSeg != 0 && l.opts.ReadOnly {
		nums = l.pendingTruncateBack(nums)
	} else if l.meta.backSeg != 0 {
		if nums, err = l.finishTruncateBack(nums); err != nil {
			return l.openFlush(err)
		}
	}
	l.front.Store(l.meta.firstSeq)
	segs, err := l.scanAll(nums, hdrs)
	if err != nil {
		for _, sc := range segs {
			if sc.f != nil {
				sc.f.Close()
			}
		}
		return err
	}
	return l.adopt(segs)
}

// refuseNewerFormat fails with ErrUnsupportedVersion, before anything is
// changed, if any segment was written by a newer format version: such a log
// is never repaired, whatever else recovery would find first. It returns the
// headers that check, by segment number (those that do not are the scan's
// to report): they say which segments are sealed under format version 2.
func (l *Log) refuseNewerFormat(nums []uint64) (map[uint64]segment.Header, error) {
	hdrs := make(map[uint64]segment.Header, len(nums))
	for _, num := range nums {
		name := segment.Name(num)
		// Only the header: damage is the scan's to report, not this.
		h, err := segment.ReadHeader(filepath.Join(l.dir, name))
		var r crcframe.Reason
		switch {
		case errors.Is(err, crcframe.UnsupportedVersion):
			return nil, &unsupportedError{name: name}
		case err != nil && !errors.As(err, &r):
			return nil, err // an I/O error
		case err == nil:
			hdrs[num] = h
		}
	}
	return hdrs, nil
}

// scanAll opens and scans the segments in order and stops at the first
// damage. A writable open returns the damage as an error (unless it is a torn
// tail it may cut); a ReadOnly open records it and keeps the valid prefix.
//
// A writable open of a format version 2 log does not read the frames of
// the segments sealed under it (deferScan): it checks their headers and
// seals, and their frames are verified when first needed (seg.ready). hdrs
// are the headers read before (nil: defer nothing). Every other segment is
// scanned whole, and unmapped once scanned unless it is among the last
// MaxMappedSegments, so that Open maps and holds open O(MaxMappedSegments)
// files, however many segments the log has.
func (l *Log) scanAll(nums []uint64, hdrs map[uint64]segment.Header) ([]scanned, error) {
	var out []scanned
	prev := uint64(0)
	needFirst := true // no record at or above META's first seq seen yet: FirstSeq is still to find
	for i, num := range nums {
		if sc, ok, err := l.deferScan(nums, hdrs, i, out, prev, needFirst); err != nil {
			return out, err
		} else if ok {
			out = append(out, sc)
			prev = sc.end.LastSeq
			needFirst = needFirst && !sc.has(l.meta.firstSeq)
			l.recovery.Segments++
			l.recovery.Deferred++
			l.unmapScanned(out)
			continue
		}
		name := segment.Name(num)
		newest := i == len(nums)-1
		f, err := segment.Open(filepath.Join(l.dir, name), num, l.meta.logID, !l.opts.ReadOnly)
		if err != nil {
			if newest {
				unused, uerr := l.unusedNewest(name, err)
				if uerr != nil {
					return out, uerr
				}
				if unused {
					break // the clean-close check below still runs
				}
			}
			return out, l.damage(corruptionFromOpen(name, err))
		}
		l.recovery.Segments++
		h := f.Header()
		if i > 0 && num != nums[i-1]+1 {
			f.Close()
			return out, l.damage(&CorruptionError{Segment: name, Reason: ReasonSegmentGap, Durable: true})
		}
		if newest && unusedPrepared(f) {
			if err := l.removeUnused(f); err != nil { // prepared in the background, never used
				return out, err
			}
			break
		}
		if err := l.checkFirstSeq(name, i, h, prev); err != nil {
			f.Close()
			return out, l.damage(err)
		}
		s := l.segFromFile(f)
		if s.first == 0 {
			s.first = prev + 1 // activated, but the new header did not reach the disk
		}
		if i > 0 {
			if err := checkSeal(out[len(out)-1], h); err != nil {
				f.Close()
				return out, l.damage(err)
			}
		}
		end := l.scanSegment(f, max(prev, s.first-1), framePayloadIn(h.Size), newest, func(off int64, h crcframe.Header, _ []byte) {
			s.idx.put(off, h.Seq)
		})
		s.idx.truncate(int64(end.Records))
		s.idx.publish() // once: the segment is not published yet
		if end.Sealed {
			s.seal = end.Offset - sealSize // appends go to the next segment
		}
		sc := scanned{s: s, f: f, end: end}
		out = append(out, sc)
		prev = end.LastSeq
		needFirst = needFirst && !sc.has(l.meta.firstSeq)
		if !end.Clean() {
			sealed, err := l.laterActivated(nums[i+1:])
			if err == nil {
				err = l.judgeEnd(sc, sealed)
			}
			if err != nil {
				return out, err
			}
			if l.opts.ReadOnly {
				break // serve the prefix before the damage
			}
		}
		l.recovery.Clean = end.Marked && end.Clean() // a durable mark, and nothing after it
		l.unmapScanned(out)
	}
	if l.recovery.Corruption == nil {
		if err := l.checkCleanClose(out); err != nil {
			return out, l.damage(err)
		}
	}
	return out, nil
}

// checkFirstSeq checks the first sequence of the header h of the i-th
// segment, prev being the previous segment's last sequence.
func (l *Log) checkFirstSeq(name string, i int, h segment.Header, prev uint64) error {
	// FirstSeq is LastSeq+1 at activation, which is above the previous
	// record when a truncation raised LastSeq past the last record.
	if i > 0 && h.FirstSeq != 0 && h.FirstSeq <= prev {
		return &CorruptionError{Segment: name, Reason: ReasonSegmentGap, Durable: true}
	}
	// Segments leave the front only after TruncateFront raised META's
	// first seq above their records, so the first segment starts at or
	// below it: one starting above was preceded by a segment that is
	// missing. Or at floor+1: a TruncateBack that left no record raised
	// LastSeq to floor, and the next segment started after it.
	if i == 0 && h.FirstSeq > max(l.meta.firstSeq, l.meta.floor+1, 1) {
		return &CorruptionError{Segment: name, Reason: ReasonSegmentGap, Durable: true}
	}
	return nil
}

// deferScan opens the i-th segment without reading its frames when a
// writable open may leave them to be verified on first use: the next
// segment's header checks, has a first sequence and the flag prev sealed
// (FORMAT.md §9.2), so the segment must end with a seal at the offset that
// header records; the header of this one opens; the seal there is a valid
// seal frame that follows prev, below the next header's first sequence.
// Recovery's rules need nothing else of a sealed segment at Open: the rest
// (every frame valid, nothing after the seal) is what ready checks. When
// needFirst and the seal does not show every record below META's first
// seq, the segment decides FirstSeq: its first record is read (front at or
// below its first sequence), or it is not deferred (front inside it).
//
// ok is false when any of this does not hold, or is not known: then the
// segment is scanned whole, as a version 1 log's, and the scan gives the
// verdict.
func (l *Log) deferScan(nums []uint64, hdrs map[uint64]segment.Header, i int, out []scanned, prev uint64, needFirst bool) (scanned, bool, error) {
	if l.opts.ReadOnly || hdrs == nil || i+1 >= len(nums) || nums[i+1] != nums[i]+1 || (i > 0 && (nums[i] != nums[i-1]+1 || len(out) != i)) {
		return scanned{}, false, nil
	}
	num := nums[i]
	next, ok := hdrs[nums[i+1]]
	if !ok || next.Flags&segment.FlagPrevSealed == 0 || next.FirstSeq == 0 || next.LogID != l.meta.logID || next.Number != nums[i+1] {
		return scanned{}, false, nil
	}
	name := segment.Name(num)
	path := filepath.Join(l.dir, name)
	seal := int64(next.PrevSeal)
	h, sh, err := segment.Peek(path, num, l.meta.logID, seal, 0)
	if err != nil {
		return scanned{}, false, ioError(err)
	}
	if l.checkFirstSeq(name, i, h, prev) != nil || (i > 0 && checkSeal(out[i-1], h) != nil) {
		return scanned{}, false, nil
	}
	first := h.FirstSeq
	if first == 0 {
		first = prev + 1
	}
	p := max(prev, first-1)
	if sh.Type != crcframe.Seal || sh.Seq < p || next.FirstSeq <= sh.Seq {
		return scanned{}, false, nil
	}
	d := &deferredCheck{prev: p, seal: seal, sealSeq: sh.Seq}
	front := l.meta.firstSeq
	var f *segment.File
	if needFirst && sh.Seq >= front {
		if front > first {
			return scanned{}, false, nil // FirstSeq is inside: index the segment now
		}
		if f, err = segment.Open(path, num, l.meta.logID, true); err != nil {
			return scanned{}, false, ioError(err)
		}
		rec, found, ferr := f.FirstRecord(p, framePayloadIn(h.Size))
		if ferr != nil {
			f.Close()
			return scanned{}, false, ioError(ferr)
		}
		d.first, d.none = rec.Seq, !found
	}
	s := &seg{
		num: num, path: path, name: name, size: h.Size, first: first, idx: newIndex(maxRecords(h.Size)),
		file: f, logID: h.LogID, write: true, maps: &l.maps, seal: seal,
	}
	s.written = seal + sealSize
	s.synced.Store(s.written)
	s.lazy.Store(d)
	end := segment.End{Offset: seal + sealSize, LastSeq: sh.Seq, Durable: sh.Durable, Sealed: true, Reason: crcframe.CleanEnd, Bad: seal + sealSize, Dirty: seal + sealSize}
	return scanned{s: s, f: f, end: end}, true, nil
}

// ioError returns err unless it is about a segment's content (a
// *segment.Error, which the full scan reports in its own terms): a failed
// read of the disk fails Open, as it would the scan.
func ioError(err error) error {
	var se *segment.Error
	if errors.As(err, &se) {
		return nil
	}
	return err
}

// has reports whether sc's segment is known to hold a record at or above
// front.
func (sc scanned) has(front uint64) bool {
	if d := sc.s.lazy.Load(); d != nil {
		return d.first != 0 && d.first >= front
	}
	_, found, _ := sc.s.firstAtOrAbove(front)
	return found
}

// unmapScanned unmaps the scanned segments but the last
// MaxMappedSegments+1, so that Open never maps more than that.
func (l *Log) unmapScanned(out []scanned) {
	if k := len(out) - l.opts.MaxMappedSegments - 2; k >= 0 && out[k].f != nil {
		out[k].s.release()
		out[k].f = nil
	}
}

// damage returns a corruption as Open's error, or, when ReadOnly, records it
// and returns nil so that the valid prefix is served.
func (l *Log) damage(err error) error {
	var ce *CorruptionError
	if l.opts.ReadOnly && errors.As(err, &ce) {
		l.recovery.Corruption = ce
		return nil
	}
	return err
}

// judgeEnd decides what the first invalid spot of a segment is.
func (l *Log) judgeEnd(sc scanned, sealed bool) error {
	e := sc.end
	// After a clean Close recorded in META every byte was durable: nothing
	// is a torn tail (FORMAT.md §9.3).
	durable := sealed || e.ProvenDurable() || l.cleanCloseStands()
	if durable || e.Reason == crcframe.IOFault {
		return l.damage(&CorruptionError{Segment: sc.s.name, Offset: e.Bad, Reason: e.Reason, Durable: durable})
	}
	reason := e.Reason
	if reason == crcframe.CleanEnd { // an unfinished batch, then zeros
		reason = ReasonTornTail
	}
	tt := &TornTail{Segment: sc.s.name, Offset: e.Offset, Reason: reason, BytesDropped: e.Dirty - e.Offset}
	l.recovery.TornTail = tt
	l.recovery.Clean = false // whatever a sealed segment ended with: the log did not end with a mark
	switch {
	case l.opts.ReadOnly:
		return nil
	case l.opts.Repair == Strict:
		return &CorruptionError{Segment: sc.s.name, Offset: e.Offset, Reason: ReasonTornTail}
	}
	// A quarantine file of that name is left by a crash during an earlier
	// repair at this offset, or by an earlier tear at the same spot: replace
	// it (Quarantine creates with O_EXCL), or the log could never open again.
	if err := sysutil.Remove(segment.QuarantineName(sc.s.path, e.Offset)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return l.openFlush(err)
	}
	q, err := sc.f.Quarantine(e.Offset, e.Dirty)
	if err != nil {
		return l.openFlush(mapNoSpace(err))
	}
	if err := sc.f.Zero(e.Offset, e.Dirty); err != nil {
		return l.openFlush(err)
	}
	if testHookSynced != nil {
		testHookSynced(sc.s.path, e.Offset, e.Dirty)
	}
	tt.Quarantine, tt.Repaired = q, true
	l.log.Warn("mmapwal: cut a torn tail", "segment", sc.s.name, "offset", e.Offset,
		"reason", e.Reason.String(), "bytes", tt.BytesDropped, "quarantine", q)
	return nil
}

// laterActivated reports whether any of the later segments was ever
// activated: then the earlier ones were sealed, hence fully durable. (None
// was for the newest segment, which has no later one.)
func (l *Log) laterActivated(nums []uint64) (bool, error) {
	for _, num := range nums {
		st, err := segment.Probe(filepath.Join(l.dir, segment.Name(num)), num, l.meta.logID)
		switch {
		case err != nil:
			return false, err
		case st.State == segment.CreationInterrupted, st.State == segment.Prepared:
			// Never activated: activation rewrites a header that the
			// creation synced, and writes a frame after it.
			continue
		case st.State == segment.PreparedDirty && st.Dirty <= segment.CreationSector:
			// A prepared header whose sector a crash during the creation
			// tore after it: never activated either.
			continue
		}
		return true, nil
	}
	return false, nil
}

// unusedNewest judges the newest segment, which did not open. A file whose
// creation a crash interrupted (segment.CreationInterrupted: it never held
// a frame) is removed, after its non-zero bytes were copied to a
// quarantine file; it reports true then. Anything else — a header that
// does not check in front of a valid frame of this segment, bytes a
// creation never writes — is left to the caller to report as corruption.
func (l *Log) unusedNewest(name string, openErr error) (bool, error) {
	var se *segment.Error
	if !errors.As(openErr, &se) || se.Reason == crcframe.UnsupportedVersion || se.Reason == crcframe.ForeignSegment {
		return false, nil
	}
	num, ok := segment.ParseName(name)
	if !ok {
		return false, nil
	}
	path := filepath.Join(l.dir, name)
	st, err := segment.Probe(path, num, l.meta.logID)
	if err == nil && l.opts.ReadOnly && se.Reason != crcframe.SegmentShort && st.Size >= st.Header.Size &&
		(st.State == segment.Prepared || st.State == segment.PreparedDirty || st.State == segment.Active) {
		// The header did not check when the file was opened and does now,
		// at full size (a creation preallocates before it writes the
		// header): a live writer (a ReadOnly open takes no lock) was
		// creating the segment. It held no record then: the view is what came before.
		return true, nil
	}
	if err != nil || st.State != segment.CreationInterrupted {
		return false, err // nil: the open error says what is wrong
	}
	if l.opts.ReadOnly {
		return true, nil
	}
	if err := l.openFlush(l.removeJudged(path, st.FileDirty)); err != nil {
		return false, err
	}
	return true, nil
}

// removeJudged removes a file that recovery judged never to have held a
// record, after copying its bytes [0, dirty) to a quarantine file when
// dirty > 0, and syncs the directory.
func (l *Log) removeJudged(path string, dirty int64) error {
	if dirty > 0 {
		q, err := segment.QuarantineFile(path, 0, dirty)
		if err != nil {
			return mapNoSpace(err)
		}
		l.recovery.Quarantined = append(l.recovery.Quarantined, q)
		l.log.Warn("mmapwal: quarantined an unused segment before removing it", "segment", filepath.Base(path), "bytes", dirty, "quarantine", q)
	}
	if err := sysutil.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l.recovery.Removed = append(l.recovery.Removed, filepath.Base(path))
	return sysutil.SyncDir(l.dir)
}

// creationSector is the part of a segment file that its creation writes
// (segment.CreationSector).
const creationSector = segment.CreationSector

// openFlush returns err, after marking the directory poisoned when it is not
// nil: err is the failure of a step of Open that writes to the disk (a
// flush, a zeroing, a quarantine, a directory sync, finishing a
// TruncateBack), whose bytes may be in the page cache but not on the disk.
// A retried Open in this process then evicts those pages instead of
// trusting them.
func (l *Log) openFlush(err error) error {
	if err != nil {
		markPoisoned(l.dir)
	}
	return err
}

// unusedPrepared reports whether the newest segment f, which opened, is one
// prepared in the background and never used: a prepared header and only
// zeros after it. A prepared header followed by other bytes is left to the
// scan, which judges them (a torn tail is quarantined before it is cut).
func unusedPrepared(f *segment.File) bool {
	if f.Header().FirstSeq != 0 {
		return false
	}
	end, err := f.DirtyEnd(segment.HeaderSize)
	return err == nil && end == segment.HeaderSize // a fault is the scan's to report
}

// removeUnused removes the newest segment f, prepared and never used (it
// holds nothing but its header), unless the log is ReadOnly.
func (l *Log) removeUnused(f *segment.File) error {
	if l.opts.ReadOnly {
		return f.Close()
	}
	if f.FileSize() > f.Size() {
		// Bytes past the segment size are no segment's, but they are not
		// ours to delete unseen: quarantine them with the file.
		path, num := f.Path(), f.Header().Number
		if err := f.Close(); err != nil {
			return err
		}
		st, err := segment.Probe(path, num, l.meta.logID)
		if err != nil {
			return err
		}
		return l.openFlush(l.removeJudged(path, st.FileDirty))
	}
	name := filepath.Base(f.Path())
	if err := f.Remove(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l.recovery.Removed = append(l.recovery.Removed, name)
	return l.openFlush(sysutil.SyncDir(l.dir))
}

// adopt publishes the scanned segments: it drops those wholly before the
// front truncation point, picks the active segment, computes the sequences
// and syncs the tail.
func (l *Log) adopt(scs []scanned) error {
	front := l.meta.firstSeq
	var segs []*seg
	lastSeq := max(l.meta.floor, front-min(front, 1))
	for i, sc := range scs {
		lastSeq = max(lastSeq, sc.end.LastSeq, sc.s.first-1)
		l.recovery.Records += int(sc.s.idx.len())
		// Only a prefix may go: a later segment without records (one that
		// holds only a durable mark) must stay, or the numbers have a gap.
		if len(segs) == 0 && i < len(scs)-1 && sc.below(front) && !l.opts.ReadOnly {
			l.recovery.Removed = append(l.recovery.Removed, sc.s.name)
			sc.s.release()
			sysutil.Remove(sc.s.path)
			sysutil.SyncDir(l.dir) // one removal at a time: see dropFrontSegments
			continue
		}
		sc.s.written = sc.end.Offset
		sc.s.synced.Store(sc.end.Offset)
		segs = append(segs, sc.s)
	}
	if len(l.recovery.Removed) > 0 {
		sysutil.SyncDir(l.dir)
	}
	l.last.Store(lastSeq)
	l.durable.Store(lastSeq)
	if l.opts.ReadOnly {
		l.durable.Store(min(lastSeq, provenDurable(scs, lastSeq)))
	}
	if len(segs) == 0 {
		if l.opts.ReadOnly {
			l.publishSegs(nil)
			l.updateFirst()
			return nil
		}
		s, err := l.newSeg(l.nextNumAfter(scs), lastSeq+1)
		if err != nil {
			return err
		}
		segs = append(segs, s)
	}
	l.publishSegs(segs)
	act := segs[len(segs)-1]
	l.nextNum = act.num + 1
	if !l.opts.ReadOnly {
		l.setActive(act, act.written)
		if err := l.syncTailAtOpen(act); err != nil {
			return err
		}
	}
	// What FirstSeq needs was read by the scan (deferScan); a damaged
	// oldest record is found here.
	if first, err := l.firstFrom(front); err != nil {
		return l.damage(err)
	} else {
		l.first.Store(first)
	}
	l.recovery.FirstSeq, l.recovery.LastSeq = l.FirstSeq(), l.LastSeq()
	l.trimMapped()
	return nil
}

// syncTailAtOpen makes durable what the frames appended from now on will
// claim durable (their durable watermark is the segment's synced end).
// After a process crash the page cache survives: what the scan read is not
// necessarily on disk. Without a clean Close, any of the tail may be
// unsynced, so all of it is flushed. After a clean Close only the durable
// mark may be: Close stores it after its flush of everything before it
// succeeded, and a crash between that store and the mark's own flush leaves
// it in the page cache alone. The mark is flushed again here (cheap when
// its page is clean), or a power cut after more appends could lose the mark
// while later frames claim its place durable.
func (l *Log) syncTailAtOpen(act *seg) error {
	from := int64(segment.HeaderSize)
	if l.recovery.Clean {
		from = l.off - crcframe.HeaderSize
	}
	to := act.file.EndHeaderEnd(l.off) // a recycled segment's zero header at the end too
	if err := act.file.Sync(from, to); err != nil {
		markPoisoned(l.dir)
		return fmt.Errorf("mmapwal: sync the tail at open: %w", err)
	}
	if testHookSynced != nil {
		testHookSynced(act.path, from, to)
	}
	return nil
}

// provenDurable is DurableSeq for a ReadOnly open, which cannot sync and
// may sit beside a live writer whose newest records are not durable yet: it
// counts only what the files prove. A durable mark proves everything; else
// the segments before the newest are sealed (rotation synced them before
// the newest took a record), and in the newest a record is durable when its
// frame ends at or below the highest durable watermark of its frames.
func provenDurable(scs []scanned, lastSeq uint64) uint64 {
	if len(scs) == 0 || scs[len(scs)-1].end.Marked {
		return lastSeq
	}
	sc := scs[len(scs)-1]
	proven := uint64(0)
	if len(scs) > 1 {
		proven = scs[len(scs)-2].end.LastSeq
	}
	x, w := sc.s.idx, int64(sc.end.Durable)
	for i := x.len() - 1; i >= 0; i-- {
		end := sc.end.Offset
		if i+1 < x.len() {
			end = x.off(i + 1)
		}
		if end <= w {
			return max(proven, x.seq(i))
		}
	}
	return proven
}

func (l *Log) nextNumAfter(scs []scanned) uint64 {
	if len(scs) == 0 {
		return 1
	}
	return scs[len(scs)-1].s.num + 1
}

// finishTruncateBack completes a TruncateBack that a crash interrupted (its
// redo record is in META) and returns the segment numbers that remain.
func (l *Log) finishTruncateBack(nums []uint64) ([]uint64, error) {
	keep := nums[:0:0]
	for _, n := range nums {
		if n <= l.meta.backSeg {
			keep = append(keep, n)
		}
	}
	for i := len(nums) - 1; i >= 0 && nums[i] > l.meta.backSeg; i-- {
		name := segment.Name(nums[i])
		if err := sysutil.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		l.recovery.Removed = append(l.recovery.Removed, name)
	}
	if err := sysutil.SyncDir(l.dir); err != nil {
		return nil, err
	}
	if len(keep) > 0 && keep[len(keep)-1] == l.meta.backSeg {
		f, err := segment.Open(filepath.Join(l.dir, segment.Name(l.meta.backSeg)), l.meta.backSeg, l.meta.logID, true)
		if err != nil {
			return nil, corruptionFromOpen(segment.Name(l.meta.backSeg), err)
		}
		err = l.finishCut(f, int64(l.meta.backOff))
		f.Close()
		if err != nil {
			return nil, corruptionFromOpen(segment.Name(l.meta.backSeg), err)
		}
	}
	l.meta.backSeg, l.meta.backOff = 0, 0
	if err := writeMeta(l.dir, l.meta); err != nil {
		return nil, err
	}
	l.recovery.FinishedTruncation = true
	return keep, nil
}

// pendingTruncateBack is finishTruncateBack for a ReadOnly open, which must
// not write: it returns the segment numbers a writable open would keep, and
// scanSegment hides the bytes it would zero.
func (l *Log) pendingTruncateBack(nums []uint64) []uint64 {
	keep := nums[:0:0]
	for _, n := range nums {
		if n <= l.meta.backSeg {
			keep = append(keep, n)
		}
	}
	l.recovery.PendingTruncation = true
	return keep
}

// scanSegment scans f. In a ReadOnly open with a pending TruncateBack, the
// segment the truncation cuts is scanned as the truncation leaves it: up to
// the redo offset, with a batch cut there closed (segment.File.ScanPrefix).
// The newest segment of a log whose META records a clean Close in it is
// not read past the end of the recorded mark when its frames end there
// (FORMAT.md §9.3: Close made every byte durable, and the mark must end
// the frames): the zeros after it are not read (segment.File.ScanUntil).
func (l *Log) scanSegment(f *segment.File, prev uint64, maxPayload int, newest bool, visit segment.Visit) segment.End {
	num := f.Header().Number
	switch {
	case l.opts.ReadOnly && l.meta.backSeg != 0 && num == l.meta.backSeg:
		return f.ScanPrefix(prev, maxPayload, int64(l.meta.backOff), visit)
	case newest && l.meta.clean.seg == num:
		return f.ScanUntil(prev, maxPayload, int64(l.meta.clean.off)+markSize, visit)
	}
	return f.Scan(prev, maxPayload, visit)
}

// finishCut zeroes segment f from the redo offset off on and closes a batch
// the cut went through, as TruncateBack's cutBack does, flushing with
// recovery's own flush (the Log is not published yet). Reads of the
// mapping are guarded: a fault is a segment.Error with IOFault.
//
// The flush covers everything from off to the segment's end, not only the
// bytes still non-zero in the mapping: after a process crash inside
// TruncateBack the page cache may already hold its zeros while the disk
// still holds the cut frames, whose durable watermarks claim the segment
// durable past off. msync writes back only dirty pages, so flushing the
// clean rest costs little.
func (l *Log) finishCut(f *segment.File, off int64) error {
	flush := func(from, to int64) error {
		if err := f.Sync(from, to); err != nil {
			return err
		}
		if testHookSynced != nil {
			testHookSynced(f.Path(), from, to)
		}
		return nil
	}
	to, err := f.LiveEnd(off, framePayloadIn(f.Size())) // a recycled segment's stale bytes stay
	if err != nil {
		return err
	}
	if err := f.Clear(off, to); err != nil {
		return err
	}
	if err := flush(off, f.Size()); err != nil {
		return err
	}
	prev, ok, err := f.FrameEndingAt(off)
	if err != nil || !ok {
		return err
	}
	return closeBatchAt(f, prev, off, flush)
}

// closeBatchAt closes the batch a truncation at off cut through, the frame
// at prev being the last one kept (segment.File.CloseBatchAt), and makes
// the rewritten header durable with flush (the Log's serialised flush path;
// recovery's own before the Log is published).
func closeBatchAt(f *segment.File, prev, off int64, flush func(from, to int64) error) error {
	closed, err := f.CloseBatchAt(prev, off)
	if err != nil || !closed {
		return err
	}
	return flush(prev, off)
}

// evictPageCache drops the cached pages of every segment, so that a reopen
// after a failed write-back reads what really is on the disk. A failure
// fails Open: the pages could not be kept from being trusted.
func (l *Log) evictPageCache(nums []uint64) error {
	for _, n := range nums {
		if err := segment.DropCache(filepath.Join(l.dir, segment.Name(n))); err != nil {
			return fmt.Errorf("mmapwal: evict the page cache: %w", err)
		}
	}
	return nil
}

// updateFirst recomputes FirstSeq from the front truncation point and the
// segments. It keeps the old value when a segment it needs fails to verify
// (TruncateFront verified them before it changed anything, see firstFrom).
func (l *Log) updateFirst() {
	if first, err := l.firstFrom(l.front.Load()); err == nil {
		l.first.Store(first)
	}
}

// firstFrom returns FirstSeq for the front truncation point front: the
// first record at or above it, else LastSeq+1, or front on a log that
// holds no record and LastSeq 0 (0 on a log that never held one). The segments it needs are verified (seg.firstAtOrAbove):
// their damage is returned.
func (l *Log) firstFrom(front uint64) (uint64, error) {
	for _, s := range l.segments() {
		seq, ok, err := s.firstAtOrAbove(front)
		if ok {
			return seq, nil
		}
		if err != nil {
			return 0, err
		}
	}
	if last := l.last.Load(); last > 0 {
		return last + 1, nil
	}
	// An empty log at the very start: 0, or the sequence a Reset or a
	// TruncateFront set as the next one (Reset(1): FirstSeq 1).
	return front, nil
}

// trimMapped unmaps idle sealed segments beyond Options.MaxMappedSegments.
func (l *Log) trimMapped() {
	segs := l.segments()
	mapped, over := 0, false
	for i := len(segs) - 2; i >= 0; i-- { // the active one is not counted
		if !segs[i].mapped() {
			continue
		}
		if mapped < l.opts.MaxMappedSegments {
			mapped++
			continue
		}
		if !segs[i].release() {
			over = true // pinned: the last unpin trims (mapSet.over)
		}
	}
	if over {
		l.maps.over.Store(true)
	}
}
