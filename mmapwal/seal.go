package mmapwal

import (
	"fmt"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Format version 2 makes the end of every segment checkable from outside it
// (FORMAT.md §9): rotation ends the old segment with a seal frame and
// records the seal's offset in the next segment's header; Close records
// where its durable mark is in META. Recovery then tells a zeroed tail from
// a clean end.

// Room every frame leaves behind it in its segment (FORMAT.md §9.2): a
// record leaves room for Close's durable mark and for the seal, a mark for
// the seal. So Close never needs a new segment, and rotation can always
// seal a segment a version 2 writer filled.
const (
	markSize   = crcframe.HeaderSize
	sealSize   = crcframe.HeaderSize
	recordRoom = markSize + sealSize
)

// upgradeLocked makes the log version 2 before this writer's first write:
// a version 1 META is rewritten as version 2 (FORMAT.md §9.4), and the
// segments made from now on get version 2 headers. Existing v1 segments
// keep their headers and their v1 rules. Writer only.
//
// A failure leaves the log as it was (version 1) and is returned; the next
// write tries again. A META whose replacement is in doubt is harmless here:
// a v2 reader reads a v1 META beside v2 segments, and a v1 reader refuses
// the v2 segments as unsupported.
func (l *Log) upgradeLocked() error {
	if l.meta.version >= metaVersion {
		return nil
	}
	m := l.meta
	m.version = metaVersion
	if err := writeMeta(l.dir, m); err != nil {
		return mapNoSpace(err)
	}
	l.meta = m
	l.prep.setVersion(segment.Version)
	return nil
}

// writeSealLocked ends old, the active segment being rotated away from,
// with its seal frame at l.off; the caller then syncs old, seal included.
// A segment that already ends with a seal (found so at Open) keeps it. A
// version 1 segment filled by a version 1 writer may lack the room: it is
// sealed the version 1 way, by rotation's sync alone, and the next header
// does not claim a seal. So is a segment rotated away from before the log
// ever held a record (LastSeq 0: a first record too large for a segment
// made with a smaller SegmentSize): there is nothing to lose, and a frame
// of sequence 0 is never valid.
//
// A log still at version 1 is rotated the version 1 way: no seal, and
// activateLocked keeps the next header at version 1. Every write makes the
// log version 2 first (waitWritable), so only Close, whose durable mark
// did not fit, rotates a version 1 log: one that this writer opened and
// never wrote to, which stays version 1 (FORMAT.md §9.4). Writer only.
func (l *Log) writeSealLocked(old *seg) error {
	if l.meta.version < metaVersion {
		return nil
	}
	if old.seal != 0 || old.size-l.off < sealSize || l.last.Load() == 0 {
		return nil
	}
	// Durable is the watermark as of now, like a record's: the seal is
	// written before the sync that makes the records before it durable,
	// and a crash before that sync may keep the seal and lose them.
	h := crcframe.Header{Seq: l.last.Load(), Durable: l.durableMark(old), Type: crcframe.Seal}
	if _, err := old.file.WriteFrame(l.off, h, nil); err != nil {
		return err
	}
	old.seal = l.off
	l.off += sealSize
	old.written = l.off
	old.file.EndHeader(l.off)
	return nil
}

// activateLocked makes next, the segment after old, active from sequence
// first: its header becomes version 2 and records old's seal, and it is
// synced before any frame enters next, so that the record that old must
// end with its seal is durable before next holds a byte. In a log still at
// version 1 (see writeSealLocked) the header keeps version 1, as prepared.
// A failed flush poisons the log (through the one flush path). Writer
// only.
func (l *Log) activateLocked(next *segment.File, old *seg, first uint64) error {
	if l.meta.version < metaVersion {
		next.Activate(first)
	} else {
		next.ActivateAfterSeal(first, old.seal)
	}
	return l.flush(next, 0, segment.HeaderSize, l.st.appends.Load())
}

// recordCleanCloseLocked writes the clean-close record into META after
// Close synced its durable mark at off in s (FORMAT.md
// §9.3). A version 1 log that this writer never wrote to stays version 1
// and gets no record. A failure is returned (Close reports it), though
// every record is durable already: a META without the record, or a
// replacement in doubt (either META is right), only means a weaker check at
// the next Open. Writer only.
//
// The segment being prepared in the background is finished and removed
// first (Close removes it anyway): a creation still in flight when the
// record became durable could leave, after a power cut, a newest file
// with a torn header sector beside a record that makes every invalid byte
// corruption. Finished first, the file is durable whole, then gone or an
// unused prepared segment, which recovery removes. (A failed removal
// leaves such a segment: the record still holds.)
func (l *Log) recordCleanCloseLocked(s *seg, off int64) error {
	if l.meta.version < metaVersion {
		return nil
	}
	l.prep.discard()
	m := l.meta
	m.clean = cleanClose{seg: s.num, off: uint32(off)}
	if err := writeMeta(l.dir, m); err != nil {
		return fmt.Errorf("mmapwal: Close: every record is durable, but META could not record the clean close: %w", mapNoSpace(err))
	}
	l.meta = m
	return nil
}

// clearCleanClose removes the clean-close record from META at a writable
// Open, before anything is written: from the first write on, the mark is
// no longer the end of the log. A ReadOnly open never changes META.
//
// A failure poisons the directory (openFlush): after the rename the new
// META may be the one a retry reads while the old one, with the record,
// is still on the disk, and frames appended after the mark would then
// read as damage after a power cut. In a poisoned directory META is
// rewritten whatever it says, since this process cannot tell whether a
// META it reads is durable.
func (l *Log) clearCleanClose() error {
	if l.opts.ReadOnly || l.meta.clean.seg == 0 && !wasPoisoned(l.dir) {
		return nil
	}
	m := l.meta
	m.clean = cleanClose{}
	if err := writeMeta(l.dir, m); err != nil {
		return l.openFlush(mapNoSpace(err))
	}
	l.meta = m
	return nil
}

// checkSeal checks, when the header h of the segment after prev records
// that prev was sealed, that prev ends with its seal frame at the recorded
// offset and nothing after it (FORMAT.md §9.2). Without the record prev
// keeps the version 1 rules.
func checkSeal(prev scanned, h segment.Header) error {
	if h.Flags&segment.FlagPrevSealed == 0 {
		return nil
	}
	e := prev.end
	if e.Clean() && e.Sealed && e.Offset-sealSize == int64(h.PrevSeal) {
		return nil
	}
	return &CorruptionError{Segment: prev.s.name, Offset: int64(h.PrevSeal), Reason: ReasonMissingSeal, Durable: true}
}

// checkCleanClose checks, when META records a clean Close, that the newest
// segment is the recorded one and ends with the mark at the recorded
// offset, and nothing after it (FORMAT.md §9.3). The frames before the mark
// all scanned valid, and every earlier segment ended as its successor's
// header says, so no record of the log is missing.
func (l *Log) checkCleanClose(out []scanned) error {
	c := l.meta.clean
	if !l.cleanCloseStands() {
		return nil
	}
	if len(out) > 0 {
		last := out[len(out)-1]
		e := last.end
		if last.s.num == c.seg && e.Clean() && e.Marked && e.Offset == int64(c.off)+markSize {
			return nil
		}
	}
	return &CorruptionError{Segment: segment.Name(c.seg), Offset: int64(c.off), Reason: ReasonMissingMark, Durable: true}
}

// cleanCloseStands reports whether META records a clean Close that still
// describes the files the scan read. A ReadOnly open takes no lock: a
// writer may have opened the log after META was read, cleared the record
// (before its first write, FORMAT.md §9.3) and appended after the mark,
// and the scan may have read those frames. So a ReadOnly open reads META
// again after the scan: one that changed no longer vouches for the files
// (the record is dropped, not checked). A re-read that fails leaves the
// record standing: a writer replaces META atomically, so a writer's change
// always reads back.
func (l *Log) cleanCloseStands() bool {
	if l.meta.clean.seg == 0 {
		return false
	}
	if !l.opts.ReadOnly {
		return true
	}
	m, err := readMeta(l.dir)
	return err != nil || m == l.meta
}
