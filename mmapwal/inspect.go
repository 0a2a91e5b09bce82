package mmapwal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// This file is what an operator's tool (cmd/mmapwal) reads of a log beside
// the records: META's fields, the segment files and what each is, where a
// record's frame is, who holds the writer's lock, and the quarantine files.
// It reads the format through the same code as recovery: nothing here
// decodes bytes of its own.

// FeatureCleanClose is META's feature bit 0 (FORMAT.md §9.1): the log was
// closed cleanly, and META records where the durable mark is.
const FeatureCleanClose = metaCleanClose

// FeatureRecycled is META's feature bit 1 (FORMAT.md §9.7): the log may
// hold recycled segments (Options.RecycleSegments).
const FeatureRecycled = metaRecycled

// MetaInfo is what META said when the log was opened (FORMAT.md §4, §9).
type MetaInfo struct {
	Version  int      // format version of META: 1 or 2
	Features uint32   // feature bits (FeatureCleanClose, FeatureRecycled)
	LogID    [16]byte // the log's identity, in every segment header too
	FrontSeq uint64   // records below it were truncated away (TruncateFront)
	FloorSeq uint64   // LastSeq is at least this (set by TruncateBack)
	// MarkSegment and MarkOffset are where the durable mark of a clean
	// Close is, when META records one (Features has FeatureCleanClose);
	// "" and 0 otherwise.
	MarkSegment string
	MarkOffset  int64
	// BackSegment and BackOffset are the redo record of a TruncateBack that
	// a crash interrupted: the first byte to drop (every later segment goes
	// too); a writable Open finishes it. "" and 0 when there is none.
	BackSegment string
	BackOffset  int64
}

// Meta returns what META said when the log was opened, as the log has
// since changed it (a writable Log rewrites it on truncations and Close).
func (l *Log) Meta() MetaInfo {
	l.wmu.Lock()
	m := l.meta
	l.wmu.Unlock()
	mi := MetaInfo{Version: int(max(m.version, 1)), LogID: m.logID, FrontSeq: m.firstSeq, FloorSeq: m.floor}
	if m.clean.seg != 0 {
		mi.Features |= FeatureCleanClose
		mi.MarkSegment, mi.MarkOffset = segment.Name(m.clean.seg), int64(m.clean.off)
	}
	if m.backSeg != 0 {
		mi.BackSegment, mi.BackOffset = segment.Name(m.backSeg), int64(m.backOff)
	}
	if m.recycled {
		mi.Features |= FeatureRecycled
	}
	return mi
}

// SegmentState is what a segment file is to the log.
type SegmentState int

// The states of a segment file, as [Log.Segments] reports them.
const (
	// SegmentSealed: a later segment was activated (or it ends with a seal
	// frame): rotation made it durable, and nothing is appended to it again.
	SegmentSealed SegmentState = iota + 1
	// SegmentActive: the log's newest segment, where appends go.
	SegmentActive
	// SegmentPrepared: prepared in the background and never used (first
	// seq 0, zeros after the header). Not part of the log; a writable Open
	// removes it when it is the newest file.
	SegmentPrepared
	// SegmentRecycled is reserved for recycled segment files (feature bit
	// 1, FORMAT.md §9.1): no segment is in this state in this version.
	SegmentRecycled
	// SegmentInterrupted: a crash interrupted its creation before its
	// header was written whole; it never held a record (FORMAT.md §2). Not
	// part of the log; a writable Open removes it (its non-zero bytes
	// quarantined first) when it is the newest file.
	SegmentInterrupted
	// SegmentTruncated: numbered above a TruncateBack that a crash
	// interrupted (META's redo record): not part of the log; a writable
	// Open removes it.
	SegmentTruncated
	// SegmentUnread: after the damage or the torn tail where the log's
	// valid records end: the open did not read it, and it serves nothing.
	SegmentUnread
)

var segmentStateNames = [...]string{
	SegmentSealed:      "sealed",
	SegmentActive:      "active",
	SegmentPrepared:    "prepared",
	SegmentRecycled:    "recycled",
	SegmentInterrupted: "creation interrupted",
	SegmentTruncated:   "truncated (pending)",
	SegmentUnread:      "not read (after the damage)",
}

func (s SegmentState) String() string {
	if s > 0 && int(s) < len(segmentStateNames) {
		return segmentStateNames[s]
	}
	return fmt.Sprintf("SegmentState(%d)", int(s))
}

// SegmentInfo describes one segment file of the log directory.
type SegmentInfo struct {
	Name   string // file name, e.g. "0000000000000001.wal"
	Number uint64
	State  SegmentState
	// Version, Flags and HeaderFirstSeq are the header's fields; all zero
	// when the header does not check.
	Version        int
	Flags          uint32
	HeaderFirstSeq uint64
	Size           int64 // the segment size its header records (the file's size when the header does not check)
	FileSize       int64 // the file's size
	Allocated      int64 // the bytes it takes on disk (st_blocks × 512; FileSize where the OS does not tell)
	// Records counts the records of its valid frames, FirstSeq and LastSeq
	// are the first and the last one's sequences (0 when it holds none), and
	// Used is where its valid frames end (marks and the seal included). All
	// zero for a file that is not part of the log's view (State prepared,
	// creation interrupted, truncated, not read).
	Records           int
	FirstSeq, LastSeq uint64
	Used              int64
	// SealFrame reports that its frames end with a seal frame (format
	// version 2): it is sealed even when it is the newest.
	SealFrame bool
}

// Segments describes every segment file in the log's directory, in number
// order: those of the log as Open found them (since changed by this Log's
// own writes), and the others (prepared, interrupted, beyond damage) as
// [segment.Probe] classifies them. On a ReadOnly log beside a live writer
// the files may have changed since Open: a file the writer added since is
// described as a file outside the view.
func (l *Log) Segments() ([]SegmentInfo, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	l.wmu.Lock() // written and seal are the writer's
	view := map[uint64]SegmentInfo{}
	segs := l.segments()
	for i, s := range segs {
		view[s.num] = viewInfo(s, i == len(segs)-1)
	}
	m := l.meta
	l.wmu.Unlock()
	var out []SegmentInfo
	for _, e := range ents {
		num, ok := segment.ParseName(e.Name())
		if !ok {
			continue
		}
		si, inView := view[num]
		if !inView {
			si = outsideInfo(filepath.Join(l.dir, e.Name()), num, m)
		}
		si.Name, si.Number = e.Name(), num
		fillFile(&si, filepath.Join(l.dir, e.Name()))
		out = append(out, si)
	}
	slices.SortFunc(out, func(a, b SegmentInfo) int { return cmpUint(a.Number, b.Number) })
	// The newest segment of the view is sealed when the damage that ended
	// the view lies after it, in a later segment file that was activated.
	for i := len(out) - 1; i > 0; i-- {
		if out[i].State == SegmentUnread && out[i-1].State == SegmentActive {
			out[i-1].State = SegmentSealed
		}
	}
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// viewInfo describes a segment of the log's view. Writer lock held.
func viewInfo(s *seg, newest bool) SegmentInfo {
	n := s.idx.len()
	if s.lazy.Load() != nil && s.bad.Load() == nil {
		n = 0 // not verified yet (an iterator may have verified a part): nothing read
	}
	si := SegmentInfo{State: SegmentSealed, Used: s.written, SealFrame: s.seal != 0, Records: int(n)}
	if newest && s.seal == 0 {
		si.State = SegmentActive
	}
	if n > 0 {
		si.FirstSeq, si.LastSeq = s.idx.seq(0), s.idx.seq(n-1)
	}
	return si
}

// outsideInfo describes a segment file that is not part of the log's view.
func outsideInfo(path string, num uint64, m meta) SegmentInfo {
	if m.backSeg != 0 && num > m.backSeg {
		return SegmentInfo{State: SegmentTruncated}
	}
	st, err := segment.Probe(path, num, m.logID)
	switch {
	case err != nil:
		return SegmentInfo{State: SegmentUnread}
	case st.State == segment.Prepared:
		return SegmentInfo{State: SegmentPrepared}
	case st.State == segment.CreationInterrupted:
		return SegmentInfo{State: SegmentInterrupted}
	}
	return SegmentInfo{State: SegmentUnread}
}

// fillFile fills in what the file and its header say.
func fillFile(si *SegmentInfo, path string) {
	if fi, err := os.Lstat(path); err == nil {
		si.FileSize, si.Size = fi.Size(), fi.Size()
		si.Allocated, _ = sysutil.Allocated(fi)
	}
	if h, err := segment.ReadHeader(path); err == nil {
		si.Version, si.Flags, si.HeaderFirstSeq, si.Size = int(max(h.Version, 1)), h.Flags, h.FirstSeq, h.Size
	}
}

// RecordFrame says where and how a record is stored: its frame's place and
// header fields (FORMAT.md §3).
type RecordFrame struct {
	Seq     uint64
	Segment string        // the segment file's name
	Offset  int64         // the frame's offset in the segment
	Length  int           // the payload's length
	Type    crcframe.Type // Full, or First, Middle, Last in a batch
	Durable uint32        // the frame's durable watermark: its segment was durable up to there when it was written
	CRC     uint32        // the frame's stored checksum (it matched)
}

// Frame returns where and how the record seq is stored. The frame is
// decoded again (its checksum checked) where the index says it is; on a
// ReadOnly log a frame the writer changed since Open is ErrTruncated, as
// for Read. ErrNotFound when there is no such record.
func (l *Log) Frame(seq uint64) (RecordFrame, error) {
	for {
		c := l.cuts.Load()
		fr, err := l.frameOnce(seq, c)
		if l.settled(c, seq) {
			return fr, err
		}
	}
}

func (l *Log) frameOnce(seq uint64, c *backCut) (RecordFrame, error) {
	s, f, i, err := l.pinRecord(seq, c)
	if err != nil {
		return RecordFrame{}, err
	}
	defer s.unpin()
	off := s.idx.off(i)
	fr, err := f.FrameAt(off, framePayloadIn(s.size))
	ok := err == nil && fr.Seq == seq && fr.Type.IsRecord()
	if ok && l.opts.ReadOnly {
		linked, lerr := f.Linked()
		ok = lerr == nil && linked
	}
	switch {
	case !ok && l.opts.ReadOnly:
		return RecordFrame{}, l.changed(seq)
	case !ok:
		var r Reason
		if !errors.As(err, &r) {
			r = ReasonSequenceViolation
		}
		return RecordFrame{}, &CorruptionError{Segment: s.name, Offset: off, Reason: r, Durable: true}
	}
	return RecordFrame{Seq: seq, Segment: s.name, Offset: off, Length: len(fr.Payload), Type: fr.Type, Durable: fr.Header.Durable, CRC: fr.CRC}, nil
}

// LockHolders returns the ids of the processes that hold the writer's lock
// of the log in dir, read from the kernel's list of locks (/proc/locks on
// Linux) without taking the lock, which could make a writer that is
// starting at that moment fail with ErrLocked. known is false where the OS
// keeps no such list. An id is 0 when the holder's process is not visible
// from here (another pid namespace).
func LockHolders(dir string) (pids []int, known bool, err error) {
	return sysutil.LockHolders(filepath.Join(dir, lockName))
}

// QuarantineFile is a file holding bytes that a repair cut from a segment
// (FORMAT.md §1): mmapwal never reads it.
type QuarantineFile struct {
	Name      string // its name in the log's directory
	Segment   string // the segment file the bytes came from
	Offset    int64  // where they were cut (0: a whole file, or an interrupted creation's bytes)
	Size      int64
	Allocated int64 // the bytes it takes on disk
}

// QuarantineFiles lists the quarantine files in the log directory dir, in
// name order.
func QuarantineFiles(dir string) ([]QuarantineFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []QuarantineFile
	for _, e := range ents {
		seg, _, off, ok := segment.ParseQuarantineName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		q := QuarantineFile{Name: e.Name(), Segment: seg, Offset: off}
		if fi, err := e.Info(); err == nil {
			q.Size = fi.Size()
			q.Allocated, _ = sysutil.Allocated(fi)
		}
		out = append(out, q)
	}
	return out, nil
}

// RemoveQuarantine deletes every quarantine file of the log in dir and
// syncs the directory, holding the writer's lock meanwhile (ErrLocked when
// a writer has the log open: its Open may be writing one). It returns the
// files it removed. A directory that is not a log (no META, no segment) is
// refused with ErrCorrupt (ReasonMissingMeta), and no LOCK is made in it.
func RemoveQuarantine(dir string) ([]QuarantineFile, error) {
	if err := isLogDir(dir); err != nil {
		return nil, err
	}
	w := &Log{dir: dir}
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	defer w.releaseAll()
	qs, err := QuarantineFiles(dir)
	if err != nil {
		return nil, err
	}
	for i, q := range qs {
		if err := sysutil.Remove(filepath.Join(dir, q.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			sysutil.SyncDir(dir)
			return qs[:i], err
		}
	}
	if len(qs) > 0 {
		return qs, sysutil.SyncDir(dir)
	}
	return qs, nil
}

// isLogDir returns nil when dir holds a META or a segment file, the error
// of a ReadOnly Open of a directory that is not a log otherwise.
func isLogDir(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, metaName)); err == nil {
		return nil
	}
	nums, _ := listSegments(dir)
	if len(nums) > 0 {
		return nil
	}
	return &CorruptionError{Segment: metaName, Reason: ReasonMissingMeta, Durable: true}
}

// DiskUsage returns the bytes the log's own files in dir take on disk
// (st_blocks × 512: preallocated space included): META, LOCK and the
// segment files, not the quarantine files nor anything else.
func DiskUsage(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if _, seg := segment.ParseName(e.Name()); !seg && e.Name() != metaName && e.Name() != lockName {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile (a live writer's rotation)
		}
		if err != nil {
			return n, err
		}
		a, _ := sysutil.Allocated(fi)
		n += a
	}
	return n, nil
}
