package mmapwal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Repairs an operator asks for (cmd/mmapwal repair): what a writable Open
// would do, told before it is done, and the one repair that drops
// acknowledged records, Salvage. Both are decided here, from what a
// ReadOnly open of the log found (its Recovery report, its segments and
// META), so that the tool re-implements nothing of recovery.

// RepairPlan is what a writable Open with the TruncatePartial policy would
// do to a log, found without changing a byte (PlanRepair).
type RepairPlan struct {
	// Corruption is damage to durable data, which no Open repairs (nil when
	// there is none): Open fails with it, or, when it lies in a sealed
	// segment that a writable Open of a version 2 log verifies on first
	// read (RecoveryReport.Deferred), the first read there and Log.Verify
	// do. The plan then changes nothing; only Salvage repairs such a log.
	Corruption *CorruptionError
	// TornTail is the torn tail Open would cut: its bytes copied to the
	// quarantine file named in Quarantine, then zeroed (Repaired is
	// false: it was not cut yet). Nil when there is none.
	TornTail *TornTail
	// FinishTruncation reports that META holds the redo record of a
	// TruncateBack that a crash interrupted: Open completes it, zeroing
	// TruncationSegment from TruncationOffset on and removing every later
	// segment (those are in Remove). The records it drops were truncated by
	// the application; they are not quarantined.
	FinishTruncation  bool
	TruncationSegment string
	TruncationOffset  int64
	// Remove lists the files Open would delete, in its order (as its
	// RecoveryReport.Removed would), and Quarantine the quarantine files it
	// would write first for those among them that hold bytes no record
	// owns (as RecoveryReport.Quarantined).
	Remove     []string
	Quarantine []string
	// Create names the segment file Open would create because no segment
	// is left ("" when one is).
	Create string
	// ClearCleanClose reports that META records a clean Close, which a
	// writable Open removes before any write (META is rewritten; no record
	// changes). RemoveMetaTmp reports a META.tmp left by a crash, which it
	// deletes.
	ClearCleanClose bool
	RemoveMetaTmp   bool
	// Unjudged lists segment files after a torn tail that Open judges only
	// when it reaches them (a prepared header followed by non-zero bytes):
	// the plan does not say what becomes of them.
	Unjudged []string
	// FirstSeq, LastSeq and Records are the log's after the repair
	// (Records: in every segment; a writable Open's RecoveryReport counts
	// those it read).
	FirstSeq, LastSeq uint64
	Records           int
}

// Changes reports whether Open would change any file.
func (p *RepairPlan) Changes() bool {
	return p.Corruption == nil && (p.TornTail != nil || p.FinishTruncation || len(p.Remove) > 0 ||
		p.Create != "" || p.ClearCleanClose || p.RemoveMetaTmp || len(p.Unjudged) > 0)
}

// PlanRepair returns what Open(dir, TruncatePartial) would do, without
// changing anything: it opens the log ReadOnly (so its errors are those of
// a ReadOnly Open: a missing directory, not a log, ErrUnsupportedVersion)
// and reads the rest from what that open found. Open's filesystem checks
// (a writable Open refuses some filesystems) are not part of the plan.
func PlanRepair(dir string) (*RepairPlan, error) {
	l, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rec := l.Recovery()
	p := &RepairPlan{Corruption: rec.Corruption, FirstSeq: l.FirstSeq(), LastSeq: l.LastSeq(), Records: rec.Records}
	if p.Corruption != nil {
		return p, nil
	}
	nums, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if l.meta.backSeg != 0 {
		p.FinishTruncation = true
		p.TruncationSegment, p.TruncationOffset = segment.Name(l.meta.backSeg), int64(l.meta.backOff)
		for i := len(nums) - 1; i >= 0 && nums[i] > l.meta.backSeg; i-- {
			p.Remove = append(p.Remove, segment.Name(nums[i]))
		}
		nums = slices.DeleteFunc(nums, func(n uint64) bool { return n > l.meta.backSeg })
	}
	if rec.TornTail != nil {
		tt := *rec.TornTail
		tt.Quarantine = segment.QuarantineName(filepath.Join(dir, tt.Segment), tt.Offset)
		p.TornTail = &tt
	}
	scanned, err := l.planLater(p, nums)
	if err != nil || p.Corruption != nil {
		return p, err
	}
	l.planFront(p, scanned)
	p.ClearCleanClose = l.meta.clean.seg != 0
	if _, err := os.Lstat(filepath.Join(dir, metaTmpName)); err == nil {
		p.RemoveMetaTmp = true
	}
	return p, nil
}

// planLater plans what Open does with the segment files after the last
// one of the view (l a ReadOnly Log): the newest, when it never held a
// record, is removed; the others are there only after a torn tail (nothing
// later was activated, or the tail would be damage). It returns the
// segments Open would scan and keep, with their last record (0: none).
func (l *Log) planLater(p *RepairPlan, nums []uint64) ([]planned, error) {
	var out []planned
	last := uint64(0)
	for _, s := range l.segments() {
		out = append(out, planned{num: s.num, lastSeq: s.lastSeq()})
		last = s.num
	}
	for i, num := range nums {
		if num <= last {
			continue
		}
		path := filepath.Join(l.dir, segment.Name(num))
		st, err := segment.Probe(path, num, l.meta.logID)
		if err != nil {
			return nil, err
		}
		newest := i == len(nums)-1
		switch {
		case newest && (st.State == segment.CreationInterrupted || st.State == segment.Prepared):
			// removeJudged / removeUnused: the bytes no segment owns (a
			// torn header sector, or past the segment size) are kept first.
			if st.State == segment.CreationInterrupted && st.FileDirty > 0 || st.State == segment.Prepared && st.Size > st.Header.Size {
				p.Quarantine = append(p.Quarantine, segment.QuarantineName(path, 0))
			}
			p.Remove = append(p.Remove, segment.Name(num))
		case st.State == segment.Prepared:
			out = append(out, planned{num: num}) // opens, holds nothing: kept
		case st.State == segment.CreationInterrupted:
			// Not the newest: a header that does not check is damage.
			f, err := segment.Open(path, num, l.meta.logID, false)
			if err == nil {
				f.Close()
				p.Unjudged = append(p.Unjudged, segment.Name(num))
				continue
			}
			ce := &CorruptionError{}
			if !errors.As(corruptionFromOpen(segment.Name(num), err), &ce) {
				return nil, err
			}
			*p = RepairPlan{Corruption: ce, FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, Records: p.Records}
			return nil, nil // Open would fail there
		default:
			p.Unjudged = append(p.Unjudged, segment.Name(num))
			out = append(out, planned{num: num})
		}
	}
	return out, nil
}

// planned is a segment a writable Open would scan and keep.
type planned struct {
	num     uint64
	lastSeq uint64 // its last record's sequence, 0 when it holds none
}

// planFront plans adopt's removals: the oldest segments but the last whose
// records are all below the front truncation point go; when no segment is
// left, Open creates one.
func (l *Log) planFront(p *RepairPlan, scanned []planned) {
	front, kept := l.meta.firstSeq, 0
	for i, s := range scanned {
		if kept == 0 && i < len(scanned)-1 && s.lastSeq < front {
			p.Remove = append(p.Remove, segment.Name(s.num))
			continue
		}
		kept++
	}
	if kept == 0 {
		next := uint64(1)
		if len(scanned) > 0 {
			next = scanned[len(scanned)-1].num + 1
		}
		p.Create = segment.Name(next)
	}
}

// SalvageReport says what Salvage dropped, or would drop.
type SalvageReport struct {
	// KeepThrough is the sequence asked for: records ≤ it are kept.
	KeepThrough uint64
	// Corruption and TornTail are what a ReadOnly open found before the
	// salvage: where the log's valid records ended (nil, nil for an intact
	// log).
	Corruption *CorruptionError
	TornTail   *TornTail
	// Segment and Offset are the cut: the end of the frame of the last
	// record kept (or the first frame's offset when none is kept in it).
	// Every byte from there on, and every later segment file, is moved
	// into quarantine files. Segment is "" when no segment is kept.
	Segment string
	Offset  int64
	// Dropped counts the intact records above KeepThrough (readable
	// before), DroppedFirst and DroppedLast are the first and last of them
	// (0 when none). Damaged bytes hold no record that could be counted.
	Dropped                   int
	DroppedFirst, DroppedLast uint64
	// Moved lists the bytes moved into quarantine files, in the order
	// Salvage moves them.
	Moved []MovedBytes
	// Applied reports that the files were changed (Salvage; PlanSalvage
	// changes nothing).
	Applied bool
	// FirstSeq and LastSeq are the log's after the salvage.
	FirstSeq, LastSeq uint64
}

// MovedBytes is a range of a segment file moved into a quarantine file.
type MovedBytes struct {
	Segment    string // the segment file's name
	Offset     int64  // the first byte moved
	Bytes      int64  // how many: to its last non-zero byte, or the whole file
	WholeFile  bool   // the file itself was renamed into the quarantine file
	Quarantine string // the quarantine file's path
}

// PlanSalvage returns what Salvage(dir, keepThrough) would do, changing
// nothing.
func PlanSalvage(dir string, keepThrough uint64) (*SalvageReport, error) {
	r, _, err := planSalvage(dir, keepThrough)
	return r, err
}

// Salvage makes the log in dir hold exactly its records ≤ keepThrough, for
// a log whose durable data is damaged (ErrCorrupt at Open), the only repair
// that drops acknowledged records: every byte after the last kept record's
// frame, and every later segment file, is moved into quarantine files
// (FORMAT.md §1 names), never deleted. Afterwards LastSeq is keepThrough
// and the log opens.
//
// keepThrough must be at most the last record a ReadOnly open serves (its
// LastSeq: the records before the damage) and at least META's front
// truncation point − 1; otherwise ErrInvalidArgument, and nothing changes.
// Salvage holds the writer's lock throughout (ErrLocked if a writer has
// the log open). A quarantine file that would be overwritten with other
// bytes makes it fail before any change.
//
// Order, so that a crash at any point loses no byte: the tail of the cut
// segment is copied to its quarantine file and synced; the later segment
// files are renamed into quarantine files, newest first, each rename
// synced; META is written with a TruncateBack redo record for the cut (and
// floor = keepThrough, no clean-close record); the redo is carried out as
// recovery does it. A crash after META leaves a redo that any writable
// Open completes, the bytes it zeroes being in quarantine already.
func Salvage(dir string, keepThrough uint64) (*SalvageReport, error) {
	if err := isLogDir(dir); err != nil {
		return nil, err
	}
	w := &Log{dir: dir, log: slog.New(slog.DiscardHandler)}
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	defer w.releaseAll()
	r, m, err := planSalvage(dir, keepThrough)
	if err != nil {
		return nil, err
	}
	if err := checkMoves(r.Moved); err != nil {
		return r, err
	}
	if err := w.salvage(r, m); err != nil {
		return r, err
	}
	r.Applied = true
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		return r, err
	}
	defer ro.Close()
	r.FirstSeq, r.LastSeq = ro.FirstSeq(), ro.LastSeq()
	if rec := ro.Recovery(); rec.Corruption != nil {
		return r, rec.Corruption
	}
	return r, nil
}

// salvage carries out the moves of r and cuts the kept segment, m being
// META as the plan read it. Writer lock held.
func (w *Log) salvage(r *SalvageReport, m meta) error {
	for _, mv := range r.Moved {
		path := filepath.Join(w.dir, mv.Segment)
		if !mv.WholeFile {
			if _, err := segment.QuarantineFile(path, mv.Offset, mv.Offset+mv.Bytes); err != nil {
				return mapNoSpace(err)
			}
			continue
		}
		if err := sysutil.Rename(path, mv.Quarantine); err != nil {
			return err
		}
		if err := sysutil.SyncDir(w.dir); err != nil {
			return err
		}
	}
	// LastSeq is at least floor: it becomes the LastSeq the salvage
	// leaves, which may be above KeepThrough (salvagedSeqs) but never
	// below a kept header's first sequence − 1 (else the oldest segment
	// would start after a gap).
	m.clean, m.floor = cleanClose{}, r.LastSeq
	m.backSeg, m.backOff = 0, 0
	if r.Segment != "" {
		num, _ := segment.ParseName(r.Segment)
		m.backSeg, m.backOff = num, uint32(r.Offset)
	}
	if err := writeMeta(w.dir, m); err != nil {
		return mapNoSpace(err)
	}
	w.meta = m
	if m.backSeg == 0 {
		return nil
	}
	nums, err := listSegments(w.dir)
	if err != nil {
		return err
	}
	_, err = w.finishTruncateBack(nums)
	return err
}

// planSalvage finds the cut and what moves, from a ReadOnly open of dir;
// it also returns META as that open read it.
func planSalvage(dir string, keep uint64) (*SalvageReport, meta, error) {
	l, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		return nil, meta{}, err
	}
	defer l.Close()
	rec := l.Recovery()
	r := &SalvageReport{KeepThrough: keep, Corruption: rec.Corruption, TornTail: rec.TornTail}
	front := l.meta.firstSeq
	switch {
	case keep > l.LastSeq():
		return nil, meta{}, invalidf("salvage through %d: the log's intact records end at %d", keep, l.LastSeq())
	case front > 0 && keep < front-1:
		return nil, meta{}, invalidf("salvage through %d: records below %d were truncated away already; keep at least through %d", keep, front, front-1)
	}
	cutNum, err := l.planCut(r)
	if err != nil {
		return nil, meta{}, err
	}
	if err := planWholeFiles(dir, r, cutNum); err != nil {
		return nil, meta{}, err
	}
	r.FirstSeq, r.LastSeq = salvagedSeqs(l, r, keep)
	return r, l.meta, nil
}

// planCut finds the cut in the view of l (ReadOnly): after the frame of the
// last record ≤ r.KeepThrough, or at the first frame of the oldest segment
// when there is none; it fills in the cut, the dropped records and the
// move of the cut segment's tail, and returns the cut segment's number (0:
// no segment is kept).
func (l *Log) planCut(r *SalvageReport) (uint64, error) {
	segs := l.segments()
	for _, s := range segs {
		n := s.idx.len()
		i, _ := s.idx.find(r.KeepThrough + 1)
		if i < n {
			if r.Dropped == 0 {
				r.DroppedFirst = s.idx.seq(i)
			}
			r.Dropped += int(n - i)
			r.DroppedLast = s.idx.seq(n - 1)
		}
	}
	if len(segs) == 0 {
		return 0, nil
	}
	cut, off := segs[0], int64(segment.HeaderSize)
	for k := len(segs) - 1; k >= 0; k-- {
		if i, _ := segs[k].idx.find(r.KeepThrough + 1); i > 0 {
			fr, err := l.Frame(segs[k].idx.seq(i - 1))
			if err != nil {
				return 0, err
			}
			cut, off = segs[k], fr.Offset+int64(crcframe.Size(fr.Length))
			break
		}
	}
	r.Segment, r.Offset = cut.name, off
	f, err := cut.pin()
	if err != nil {
		return 0, err
	}
	defer cut.unpin()
	dirty, err := f.LiveEnd(off, framePayloadIn(f.Size())) // a recycled segment's stale bytes stay
	if err != nil {
		return 0, corruptionFromOpen(cut.name, err)
	}
	if dirty > off {
		r.Moved = append(r.Moved, MovedBytes{Segment: cut.name, Offset: off, Bytes: dirty - off,
			Quarantine: segment.QuarantineName(cut.path, off)})
	}
	return cut.num, nil
}

// planWholeFiles adds the move of every directory entry named like a
// segment numbered above cutNum, newest first.
func planWholeFiles(dir string, r *SalvageReport, cutNum uint64) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for i := len(ents) - 1; i >= 0; i-- { // ReadDir sorts by name: number order
		num, ok := segment.ParseName(ents[i].Name())
		if !ok || num <= cutNum {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, ents[i].Name()))
		if err != nil {
			return err
		}
		r.Moved = append(r.Moved, MovedBytes{Segment: ents[i].Name(), Bytes: fi.Size(), WholeFile: true,
			Quarantine: segment.QuarantineName(filepath.Join(dir, ents[i].Name()), 0)})
	}
	return nil
}

// salvagedSeqs returns FirstSeq and LastSeq after the salvage (the open
// afterwards reports what they are): LastSeq is keep, or above it when the
// kept segment's header starts higher; FirstSeq is the first kept record
// at or above the front, else LastSeq+1.
func salvagedSeqs(l *Log, r *SalvageReport, keep uint64) (uint64, uint64) {
	last := keep
	if front := l.meta.firstSeq; front > 0 {
		last = max(last, front-1)
	}
	first := uint64(0)
	for _, s := range l.segments() {
		if r.Segment == s.name && r.Offset == segment.HeaderSize {
			last = max(last, s.first-min(s.first, 1))
		}
		if i, _ := s.idx.find(l.meta.firstSeq); first == 0 && i < s.idx.len() && s.idx.seq(i) <= keep {
			first = s.idx.seq(i)
		}
	}
	if first == 0 && last > 0 {
		first = last + 1
	}
	return first, last
}

// checkMoves fails when a quarantine file a move would write exists with
// other bytes: an earlier repair's, which a salvage must not overwrite.
// The tail of the cut segment may already be in its quarantine file,
// byte for byte, from an earlier Salvage a crash interrupted.
func checkMoves(moves []MovedBytes) error {
	for _, mv := range moves {
		path := "" // a whole file's rename would replace any file there
		if !mv.WholeFile {
			path = filepath.Join(filepath.Dir(mv.Quarantine), mv.Segment)
		}
		exists, same, err := segment.QuarantineHolds(mv.Quarantine, path, mv.Offset)
		switch {
		case err != nil:
			return err
		case !exists || same:
			continue
		}
		return fmt.Errorf("%w: quarantine file %s exists: move it away (or remove it with `mmapwal quarantine DIR rm`) first", ErrInvalidArgument, mv.Quarantine)
	}
	return nil
}
