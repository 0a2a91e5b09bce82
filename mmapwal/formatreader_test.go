package mmapwal_test

// A second reader of the on-disk format, written from FORMAT.md alone. It
// shares no code with crcframe or segment: it uses the standard library
// (hash/crc32 for CRC-32C) and calls mmapwal only to write logs and to
// compare with what the library reads. When the two disagree about a log,
// FORMAT.md is wrong or incomplete, or the library does not do what it says.
//
// The reader only reads: where mmapwal's writer would repair (a torn tail)
// or delete (a file that never held a record), it reads the log the way a
// ReadOnly open does. Section numbers (§) are FORMAT.md's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/mmapwal"
)

var (
	frLE         = binary.LittleEndian
	frCastagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// frCRC is the plain CRC-32C of b.
func frCRC(b []byte) uint32 { return crc32.Checksum(b, frCastagnoli) }

// frSeed is a segment's seed (§2): CRC-32C(identity ‖ number as u64).
func frSeed(id [16]byte, number uint64) uint32 {
	return frCRC(frLE.AppendUint64(id[:], number))
}

// frFrameCRC is a frame's CRC (§3): the CRC-32C of identity ‖ number ‖
// frame bytes 4…end, computed by continuing the seed. crc32.Update inverts
// its argument on entry and its result on exit: that is what "continuing"
// means.
func frFrameCRC(seed uint32, frame []byte) uint32 {
	return crc32.Update(seed, frCastagnoli, frame[4:])
}

func frZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// frZeroFrom reports whether every byte of b from off on is zero.
func frZeroFrom(b []byte, off int) bool { return len(b) <= off || frZero(b[off:]) }

// Verdicts, named as FORMAT.md names them (the strings of mmapwal's Reason
// values).
const (
	frUnsupported = "unsupported format version"
	frBadFrameHdr = "incomplete frame header"
	frLength      = "length out of bounds"
	frChecksum    = "checksum mismatch"
	frUnknownType = "unknown frame type"
	frSequence    = "sequence violation"
	frGarbage     = "garbage after end"
	frGap         = "segment gap"
	frUnfinished  = "unfinished batch" // mmapwal says "clean end" here (see frWalk)
	frZeroHeader  = "zero header"      // the clean-end candidate, not a verdict
	frMissingSeal = "missing or misplaced seal of a sealed segment"
	frMissingMark = "missing or misplaced mark of a clean Close"
)

// frError is damage the reader found, or a format it does not know.
type frError struct {
	segment string // segment file name, or "META"
	off     int64
	why     string
}

func (e *frError) Error() string { return fmt.Sprintf("%s at %d: %s", e.segment, e.off, e.why) }

// frMeta is META (§4, §9).
type frMeta struct {
	version         uint16 // 1 or 2 (0 encodes as 1)
	logID           [16]byte
	firstSeq, floor uint64
	backSeg         uint64 // TruncateBack redo: segment (0 = none) …
	backOff         uint32 // … and offset
	cleanSeg        uint64 // v2 clean-close record (§9.3): the mark's segment (0 = none) …
	cleanOff        uint32 // … and offset
	resetSeg        uint64 // v2 reset record (§9.5): the segment the Reset creates (0 = none)
	recycled        bool   // v2 feature bit 1 (§9.7): the log may hold recycled segments
}

func frParseMeta(b []byte) (frMeta, error) {
	switch {
	case len(b) != 64 || string(b[:8]) != "mmapwalM":
		return frMeta{}, &frError{"META", 0, "missing or bad META"}
	case frLE.Uint32(b[60:]) != frCRC(b[:60]):
		return frMeta{}, &frError{"META", 0, "segment header checksum mismatch"}
	}
	v, features := frLE.Uint16(b[8:]), frLE.Uint32(b[56:])
	if v != 1 && v != 2 || !frZero(b[10:12]) || v == 1 && features != 0 || features&^7 != 0 {
		return frMeta{}, &frError{"META", 0, frUnsupported}
	}
	m := frMeta{
		version: v, logID: [16]byte(b[16:32]), firstSeq: frLE.Uint64(b[32:]), floor: frLE.Uint64(b[48:]),
		backSeg: frLE.Uint64(b[40:]), backOff: frLE.Uint32(b[12:]), recycled: features&2 != 0,
	}
	if features&1 != 0 { // §9.3: the back fields hold the mark's place
		m.cleanSeg, m.cleanOff, m.backSeg, m.backOff = m.backSeg, m.backOff, 0, 0
		if m.cleanSeg == 0 || m.cleanOff < 64 {
			return frMeta{}, &frError{"META", 0, "missing or bad META"}
		}
	}
	if features&4 != 0 { // §9.5: bytes 40–47 name the segment the Reset creates
		m.resetSeg, m.backSeg = m.backSeg, 0
		if features&1 != 0 || m.backOff != 0 || m.resetSeg == 0 || m.firstSeq == 0 || m.floor != m.firstSeq-1 {
			return frMeta{}, &frError{"META", 0, "missing or bad META"}
		}
	}
	return m, nil
}

// frMetaBytes encodes META; the tests use it to craft logs.
func frMetaBytes(m frMeta) []byte {
	b := make([]byte, 64)
	copy(b, "mmapwalM")
	frLE.PutUint16(b[8:], max(m.version, 1))
	frLE.PutUint32(b[12:], m.backOff)
	copy(b[16:32], m.logID[:])
	frLE.PutUint64(b[32:], m.firstSeq)
	frLE.PutUint64(b[40:], m.backSeg)
	frLE.PutUint64(b[48:], m.floor)
	if m.version == 2 && m.cleanSeg != 0 && m.backSeg == 0 {
		frLE.PutUint32(b[12:], m.cleanOff)
		frLE.PutUint64(b[40:], m.cleanSeg)
		frLE.PutUint32(b[56:], 1)
	}
	if m.version == 2 && m.resetSeg != 0 && m.backSeg == 0 && m.cleanSeg == 0 {
		frLE.PutUint64(b[40:], m.resetSeg)
		frLE.PutUint32(b[56:], 4)
	}
	frLE.PutUint32(b[60:], frCRC(b[:60]))
	return b
}

// frHeader is a segment header (§2, §9).
type frHeader struct {
	version  uint16 // 1 or 2 (0 encodes as 1)
	flags    uint32 // v2: bit 0 = prev sealed, bit 1 = recycled (§9.7)
	logID    [16]byte
	number   uint64
	firstSeq uint64
	size     int64
	prevSeal uint32 // v2 with prev sealed: the previous segment's seal offset
}

// frCheckHeader runs the checks that need only the header's 64 bytes (§2):
// why is "" when the header checks.
func frCheckHeader(b []byte) (h frHeader, why string) {
	switch {
	case len(b) < 64:
		return h, frBadFrameHdr
	case string(b[:8]) != "mmapwal\x00":
		return h, "bad segment magic"
	case frLE.Uint32(b[60:]) != frCRC(b[:60]):
		return h, "segment header checksum mismatch"
	}
	h = frHeader{version: frLE.Uint16(b[8:]), flags: frLE.Uint32(b[12:]), logID: [16]byte(b[16:32]), number: frLE.Uint64(b[32:]),
		firstSeq: frLE.Uint64(b[40:]), size: int64(frLE.Uint64(b[48:])), prevSeal: frLE.Uint32(b[56:])}
	known := h.version == 1 && h.flags == 0 && h.prevSeal == 0 ||
		h.version == 2 && h.flags&^3 == 0 && (h.flags&1 == 0 && h.prevSeal == 0 || h.flags&1 == 1 && h.prevSeal >= 64 && h.prevSeal%8 == 0)
	if !known || frLE.Uint16(b[10:]) != 64 || h.size < 4096 || h.size > 1<<31 || h.number == 0 {
		return frHeader{}, frUnsupported
	}
	return h, ""
}

// frFrameBytes encodes a frame of the segment with seed seed; the tests use
// it to craft logs.
func frFrameBytes(seed uint32, typ byte, seq uint64, durable uint32, payload []byte) []byte {
	b := make([]byte, (24+len(payload)+7)&^7)
	frLE.PutUint32(b[4:], uint32(len(payload)))
	frLE.PutUint64(b[8:], seq)
	frLE.PutUint32(b[16:], durable)
	b[20] = typ
	copy(b[24:], payload)
	frLE.PutUint32(b, frFrameCRC(seed, b))
	return b
}

// frHeaderBytes encodes a segment header; the tests use it to craft logs.
func frHeaderBytes(h frHeader) []byte {
	b := make([]byte, 64)
	copy(b, "mmapwal\x00")
	frLE.PutUint16(b[8:], max(h.version, 1))
	frLE.PutUint16(b[10:], 64)
	frLE.PutUint32(b[12:], h.flags)
	frLE.PutUint32(b[56:], h.prevSeal)
	copy(b[16:32], h.logID[:])
	frLE.PutUint64(b[32:], h.number)
	frLE.PutUint64(b[40:], h.firstSeq)
	frLE.PutUint64(b[48:], uint64(h.size))
	frLE.PutUint32(b[60:], frCRC(b[:60]))
	return b
}

// Frame types (§3).
const (
	frFull   = 1
	frFirst  = 2
	frMiddle = 3
	frLast   = 4
	frPad    = 5
	frMark   = 6
	frSeal   = 7 // version 2 (§9.2)
)

// frFrame is one frame (§3).
type frFrame struct {
	seq     uint64
	durable uint32
	typ     byte
	payload []byte
	size    int64 // bytes the frame takes, padding included
}

// frFrameAt parses the frame at off of seg (a segment's first `segment size`
// bytes), with every check of §3 but the sequence rules. why is "" for a
// valid frame and frZeroHeader for a zero header.
func frFrameAt(seg []byte, off int64, seed uint32) (f frFrame, why string) {
	rest := seg[off:]
	if frZero(rest[:min(24, len(rest))]) {
		return f, frZeroHeader
	}
	if len(rest) < 24 {
		return f, frBadFrameHdr
	}
	n := int64(frLE.Uint32(rest[4:]))
	f.size = (24 + n + 7) &^ 7
	if f.size > int64(len(rest)) {
		return f, frLength
	}
	if frLE.Uint32(rest) != frFrameCRC(seed, rest[:f.size]) {
		return f, frChecksum
	}
	f.seq, f.durable, f.typ, f.payload = frLE.Uint64(rest[8:]), frLE.Uint32(rest[16:]), rest[20], rest[24:24+n]
	if f.typ < frFull || f.typ > frSeal || f.typ == frSeal && n != 0 || !frZero(rest[21:24]) || !frZero(rest[24+n:f.size]) {
		return f, frUnknownType
	}
	if f.seq == 0 {
		return f, frSequence
	}
	return f, ""
}

// frFollows is §3's table of sequence rules.
func frFollows(f frFrame, prev uint64, inBatch bool) bool {
	switch f.typ {
	case frFull, frFirst:
		return !inBatch && f.seq > prev
	case frMiddle, frLast:
		return inBatch && f.seq == prev+1
	case frPad:
		return !inBatch && f.seq == prev
	default: // mark, seal
		return !inBatch && f.seq >= prev
	}
}

// frRecord is a record and where it is.
type frRecord struct {
	seq     uint64
	payload []byte
	segment string
	off     int64
}

// frScan is what walking one segment's frames found (§3, §5).
type frScan struct {
	records []frRecord // the records of the valid prefix
	last    uint64     // the segment's last sequence (§3)
	marked  bool       // the valid prefix ends with a mark
	sealed  bool       // the valid prefix ends with a seal (§9.2)
	end     int64      // where the valid prefix ends
	bad     int64      // where the walk stopped
	why     string     // "" for a clean end, else the verdict at bad
	proven  bool       // a frame after bad claims bad durable
}

// frWalk walks the frames of seg from offset from, the first frame
// following sequence prev. In a recycled segment (§9.7) the bytes after the
// end are stale: a seal or fewer than 24 bytes left end the frames, and a
// zero header ends them when no frame valid under the seed starts after it.
func frWalk(seg []byte, from int64, seed uint32, prev uint64, recycled bool) frScan {
	sc := frScan{end: from, last: prev}
	var batch []frRecord // records of the batch being read
	inBatch := false
	off := from
	for {
		if recycled && !inBatch && (sc.sealed || int64(len(seg))-off < 24) {
			sc.bad = off
			return sc // nothing after a seal is read, nor fewer than 24 bytes
		}
		f, why := frFrameAt(seg, off, seed)
		if why == "" && (!frFollows(f, prev, inBatch) || sc.sealed) { // nothing follows a seal
			why = frSequence
		}
		if why != "" {
			sc.bad, sc.why = off, why
			break
		}
		if f.typ <= frLast {
			batch = append(batch, frRecord{seq: f.seq, payload: f.payload, off: off})
		}
		prev, off = f.seq, off+f.size
		inBatch = f.typ == frFirst || f.typ == frMiddle
		if !inBatch {
			sc.records = append(sc.records, batch...)
			batch = nil
			sc.end, sc.last, sc.marked, sc.sealed = off, f.seq, f.typ == frMark, f.typ == frSeal
		}
	}
	if sc.why == frZeroHeader {
		switch {
		case recycled && frValidAfter(seg, sc.bad, seed):
			sc.why = frGarbage
		case !recycled && !frZeroFrom(seg, int(sc.bad)):
			sc.why = frGarbage
		case inBatch:
			// mmapwal reports the reason "clean end" at the zero header.
			sc.why = frUnfinished
			return sc
		default:
			sc.why = ""
			return sc
		}
	}
	// Read ahead for proof (§5): a valid frame, sequence rules aside,
	// whose durable watermark is past the bad spot.
	for o := sc.bad + 8; o+24 <= int64(len(seg)); o += 8 {
		if !recycled && frZero(seg[o:o+8]) {
			continue
		}
		if f, why := frFrameAt(seg, o, seed); why == "" && int64(f.durable) > sc.bad {
			sc.proven = true
		}
	}
	return sc
}

// frValidAfter reports whether a valid frame (§2: §3's checks without the
// sequence rules) starts at an 8-byte aligned offset after bad: in a
// recycled segment, what tells the stale bytes after its end (§9.7) from
// frames of the segment.
func frValidAfter(seg []byte, bad int64, seed uint32) bool {
	for o := bad + 8; o+24 <= int64(len(seg)); o += 8 {
		if _, why := frFrameAt(seg, o, seed); why == "" {
			return true
		}
	}
	return false
}

// frFile is a segment file of the directory.
type frFile struct {
	name   string
	number uint64
	data   []byte
}

// frLog is what the reader makes of a log directory.
type frLog struct {
	records           []frRecord // the records at or above META's first seq
	firstSeq, lastSeq uint64
	clean             bool   // the last segment of the log ends with a mark
	tornTail          string // "segment@offset" of an unproven invalid spot, or ""
}

// frRead reads the log in dir. On damage it returns the error and the
// records before the damage.
func frRead(dir string) (*frLog, error) {
	files, err := frSegmentFiles(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "META"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &frError{"META", 0, "missing or bad META"}
	} else if err != nil {
		return nil, err
	}
	m, err := frParseMeta(b)
	if err != nil {
		return nil, err
	}
	// A newer format in any segment refuses the whole log first (§2).
	for _, f := range files {
		if _, why := frCheckHeader(f.data); why == frUnsupported {
			return nil, &frError{f.name, 0, frUnsupported}
		}
	}
	if m.backSeg != 0 {
		files = frRedo(files, m)
	}
	if m.resetSeg != 0 {
		// §9.5's recovery rule: every segment file goes, segment N is
		// created empty at first seq next, nothing is scanned.
		lg := &frLog{lastSeq: m.floor, records: []frRecord{}}
		if lg.lastSeq > 0 {
			lg.firstSeq = m.firstSeq
		}
		return lg, nil
	}
	lg := &frLog{}
	err = lg.scan(files, m)
	lg.lastSeq = max(lg.lastSeq, m.floor, m.firstSeq-min(m.firstSeq, 1))
	kept := lg.records[:0]
	for _, r := range lg.records {
		if r.seq >= m.firstSeq {
			kept = append(kept, r)
		}
	}
	lg.records = kept
	switch {
	case len(kept) > 0:
		lg.firstSeq = kept[0].seq
	case lg.lastSeq > 0:
		lg.firstSeq = lg.lastSeq + 1
	}
	return lg, err
}

// scan reads the segment files in order (§2, §5).
func (lg *frLog) scan(files []frFile, m frMeta) error {
	var last uint64  // the previous segment's last sequence
	var prev *frScan // the previous segment's scan
	for i, f := range files {
		newest := i == len(files)-1
		h, why := frCheckHeader(f.data)
		checks, at := why == "", int64(0)
		switch {
		case why != "":
		case h.logID != m.logID:
			why = "foreign segment"
		case h.number != f.number:
			why = "segment number mismatch"
		case int64(len(f.data)) < h.size:
			why, at = "segment file short", int64(len(f.data))
		}
		if why != "" {
			// Only a header that does not check can be an interrupted
			// creation (§2): the creation writes the right number into a
			// preallocated file.
			if newest && !checks && frCreationInterrupted(f, m.logID) {
				return frCleanClose(m, files[:i], prev) // never held a record
			}
			return &frError{f.name, at, why}
		}
		if i > 0 && f.number != files[i-1].number+1 {
			return &frError{f.name, 0, frGap}
		}
		if newest && h.firstSeq == 0 && frZeroFrom(f.data[:h.size], 64) {
			return frCleanClose(m, files[:i], prev) // an unused prepared segment
		}
		if i > 0 && h.firstSeq != 0 && h.firstSeq <= last ||
			i == 0 && h.firstSeq > max(m.firstSeq, m.floor+1, 1) {
			return &frError{f.name, 0, frGap}
		}
		if i > 0 && h.flags&1 != 0 && !(prev.sealed && prev.end-24 == int64(h.prevSeal)) {
			return &frError{files[i-1].name, int64(h.prevSeal), frMissingSeal} // §9.2
		}
		first := h.firstSeq
		if first == 0 {
			first = last + 1
		}
		sc := frWalk(f.data[:h.size], 64, frSeed(h.logID, h.number), max(last, first-1), h.flags&2 != 0)
		for _, r := range sc.records {
			r.segment = f.name
			lg.records = append(lg.records, r)
		}
		last, lg.clean = sc.last, sc.marked
		lg.lastSeq = max(lg.lastSeq, sc.last)
		prev = &sc
		if sc.why == "" {
			continue
		}
		// After a clean Close recorded in META nothing is a torn tail (§9.3).
		if sc.proven || m.cleanSeg != 0 || !newest && frAnyActivated(files[i+1:], m.logID) {
			return &frError{f.name, sc.bad, sc.why}
		}
		lg.tornTail = fmt.Sprintf("%s@%d", f.name, sc.end)
		lg.clean = false // the log did not end with its mark (§4)
		return nil       // a ReadOnly reader serves the records before it
	}
	return frCleanClose(m, files, prev)
}

// frCleanClose checks META's clean-close record (§9.3) against the last
// segment read, files[len(files)-1] with its scan sc: it must be the
// recorded segment and end with the mark at the recorded offset.
func frCleanClose(m frMeta, files []frFile, sc *frScan) error {
	if m.cleanSeg == 0 {
		return nil
	}
	if len(files) > 0 && sc != nil && files[len(files)-1].number == m.cleanSeg && sc.why == "" && sc.marked && sc.end == int64(m.cleanOff)+24 {
		return nil
	}
	return &frError{fmt.Sprintf("%016x.wal", m.cleanSeg), int64(m.cleanOff), frMissingMark}
}

// frCreationInterrupted reports whether f, a segment file whose header
// does not check, is a creation a crash interrupted (§2, "Files that never
// held a record"): all zero, or longer than a sector with only zeros after
// it and no valid frame of the segment anywhere in it. The seed comes from
// META's identity and the file's number: the header is not needed.
func frCreationInterrupted(f frFile, logID [16]byte) bool {
	d := f.data
	if frZero(d) {
		return true
	}
	return len(d) > 512 && frZeroFrom(d, 512) && !frFrameInSector(d, frSeed(logID, f.number))
}

// frFrameInSector reports whether a valid frame (§3's checks, the sequence
// rules aside, ending within d) starts at an aligned offset in 64…511.
func frFrameInSector(d []byte, seed uint32) bool {
	for off := int64(64); off < 512 && off < int64(len(d)); off += 8 {
		if _, why := frFrameAt(d, off, seed); why == "" {
			return true
		}
	}
	return false
}

// frAnyActivated reports whether any of files is activated (§2, "Activated
// segments"), which seals the segments before it. Not activated are an
// interrupted creation, and a prepared header of this log and file with no
// valid frame at 64 and only zeros from 512 up to its segment size.
func frAnyActivated(files []frFile, logID [16]byte) bool {
	for _, f := range files {
		d := f.data
		h, why := frCheckHeader(d)
		switch {
		case why != "":
			if !frCreationInterrupted(f, logID) {
				return true
			}
		case h.logID != logID || h.number != f.number || h.firstSeq != 0:
			return true
		default:
			if _, why := frFrameAt(d, 64, frSeed(logID, f.number)); why == "" || !frZeroFrom(d[:min(int64(len(d)), h.size)], 512) {
				return true
			}
		}
	}
	return false
}

// frRedo applies a pending TruncateBack redo (§4) to the files in memory:
// later segments go, the cut segment reads as zero from the offset, and the
// frame ending at the offset is retyped when it was inside a batch.
func frRedo(files []frFile, m frMeta) []frFile {
	var kept []frFile
	for _, f := range files {
		if f.number <= m.backSeg {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 || kept[len(kept)-1].number != m.backSeg {
		return kept
	}
	f := &kept[len(kept)-1]
	d := append([]byte(nil), f.data...)
	off := min(int64(m.backOff), int64(len(d)))
	clear(d[off:])
	f.data = d
	for p := int64(64); p+24 <= off && !frZero(d[p:p+24]); {
		next := p + (24+int64(frLE.Uint32(d[p+4:]))+7)&^7
		if next == off {
			frRetype(d[p:off], frSeed(m.logID, m.backSeg))
			break
		}
		p = next
	}
	return kept
}

// frRetype closes a batch at frame: first becomes full, middle becomes last,
// when the stored CRC matches the frame with either type.
func frRetype(frame []byte, seed uint32) {
	to := map[byte]byte{frFirst: frFull, frFull: frFull, frMiddle: frLast, frLast: frLast}[frame[20]]
	from := map[byte]byte{frFull: frFirst, frLast: frMiddle}[to]
	if to == 0 {
		return
	}
	crcWith := func(t byte) uint32 {
		g := append([]byte(nil), frame...)
		g[20] = t
		return frFrameCRC(seed, g)
	}
	if c := frLE.Uint32(frame); c == crcWith(from) || c == crcWith(to) {
		frame[20] = to
		frLE.PutUint32(frame, crcWith(to))
	}
}

// frSegmentFiles reads the segment files of dir (§1) in number order.
func frSegmentFiles(dir string) ([]frFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []frFile
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".wal")
		n, err := strconv.ParseUint(hex, 16, 64)
		if !ok || len(hex) != 16 || err != nil || n == 0 || hex != strings.ToLower(hex) || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, frFile{e.Name(), n, data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].number < files[j].number })
	return files, nil
}

// ---- Comparing with the library ----

// frStrings renders records for comparison: "seq:payload in hex".
func frStrings(recs []frRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d:%x", r.seq, r.payload))
	}
	return out
}

// frLibView is what mmapwal serves of a log.
type frLibView struct {
	records     []string
	first, last uint64
	report      mmapwal.RecoveryReport
}

// frLibRead opens a copy of dir with mmapwal (ReadOnly, or a writer with
// the default repair policy) and returns what it serves.
func frLibRead(t *testing.T, dir string, readOnly bool) (frLibView, error) {
	t.Helper()
	l, err := mmapwal.Open(copyToTempDir(t, dir), &mmapwal.Options{ReadOnly: readOnly, Durability: mmapwal.SyncManual})
	if err != nil {
		return frLibView{}, err
	}
	defer l.Close()
	v := frLibView{first: l.FirstSeq(), last: l.LastSeq(), report: l.Recovery()}
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	defer it.Close()
	for it.Next() {
		v.records = append(v.records, fmt.Sprintf("%d:%x", it.Seq(), it.Value()))
	}
	require.NoError(t, it.Err())
	if v.records == nil {
		v.records = []string{}
	}
	return v, nil
}

// frAgree reads dir with the reader and with mmapwal and requires the same
// verdict, the same records and, for a log read whole, the same FirstSeq,
// LastSeq, clean flag and torn tail. It returns the reader's result.
func frAgree(t *testing.T, dir string, readOnly bool) (*frLog, error) {
	t.Helper()
	rd, rerr := frRead(dir)
	lib, lerr := frLibRead(t, dir, readOnly)
	var fe *frError
	if errors.As(rerr, &fe) && fe.why == frUnsupported {
		require.ErrorIs(t, lerr, mmapwal.ErrUnsupportedVersion, "the reader says %v", rerr)
		return rd, rerr
	}
	require.NotErrorIs(t, lerr, mmapwal.ErrUnsupportedVersion, "the reader says %v", rerr)
	libCorrupt := lib.report.Corruption
	var ce *mmapwal.CorruptionError
	if errors.As(lerr, &ce) {
		libCorrupt = ce
	} else {
		require.NoError(t, lerr)
	}
	if rerr == nil {
		require.Nil(t, libCorrupt, "mmapwal found damage the reader did not")
	} else {
		require.ErrorAs(t, rerr, &fe)
		require.NotNil(t, libCorrupt, "the reader found %v, mmapwal nothing", rerr)
		why := fe.why
		if why == frUnfinished {
			why = "clean end"
		}
		require.Equal(t, fmt.Sprintf("%s at %d: %s", fe.segment, fe.off, why),
			fmt.Sprintf("%s at %d: %s", libCorrupt.Segment, libCorrupt.Offset, libCorrupt.Reason.String()), "the verdicts")
	}
	if lerr != nil {
		return rd, rerr
	}
	require.NotNil(t, rd, "the reader refused the whole log (%v), mmapwal opened it", rerr)
	require.Equal(t, frStrings(rd.records), lib.records, "the records")
	torn := ""
	if tt := lib.report.TornTail; tt != nil {
		torn = fmt.Sprintf("%s@%d", tt.Segment, tt.Offset)
	}
	require.Equal(t, rd.tornTail, torn, "the torn tail")
	if rerr == nil {
		require.Equal(t, [2]uint64{rd.firstSeq, rd.lastSeq}, [2]uint64{lib.first, lib.last}, "FirstSeq, LastSeq")
	}
	if rerr == nil {
		// A torn tail means no clean Close, whatever the open mode (§4).
		require.Equal(t, rd.clean, lib.report.Clean, "closed cleanly")
	}
	return rd, rerr
}

// frVerdict renders what the reader found: its error, "torn tail at
// segment@offset", or "" for a log read whole.
func frVerdict(lg *frLog, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case lg.tornTail != "":
		return "torn tail at " + lg.tornTail
	}
	return ""
}

// ---- The golden files ----

var frGoldenID = [16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}

// frGoldenFrame is a frame as a golden test describes it.
type frGoldenFrame struct {
	off     int64
	typ     byte
	seq     uint64
	durable uint32
	payload string
}

// frCheckFrames walks data's frames from from and requires exactly want.
func frCheckFrames(t *testing.T, data []byte, from int64, seed uint32, want []frGoldenFrame) {
	t.Helper()
	off := from
	for _, w := range want {
		f, why := frFrameAt(data, off, seed)
		require.Empty(t, why, "frame at %d", off)
		require.Equal(t, w, frGoldenFrame{off, f.typ, f.seq, f.durable, string(f.payload)})
		off += f.size
	}
	_, why := frFrameAt(data, off, seed)
	require.Equal(t, frZeroHeader, why, "after the last frame")
}

// frRegister is CRC-32C computed bit by bit from an explicit register value,
// without the final inversion: the textbook definition FORMAT §2 refers to.
func frRegister(reg uint32, b []byte) uint32 {
	for _, c := range b {
		reg ^= uint32(c)
		for range 8 {
			if reg&1 != 0 {
				reg = reg>>1 ^ 0x82F63B78
			} else {
				reg >>= 1
			}
		}
	}
	return reg
}

// TestFormatReaderCheckValues checks the CRC check values FORMAT §2 gives,
// and that the frame CRC is the CRC-32C of identity ‖ number ‖ frame bytes.
func TestFormatReaderCheckValues(t *testing.T) {
	require.Equal(t, uint32(0xE3069283), frCRC([]byte("123456789")))
	require.Equal(t, uint32(0xE3069283), frRegister(0xFFFFFFFF, []byte("123456789"))^0xFFFFFFFF)
	seed := frSeed(frGoldenID, 7)
	require.Equal(t, uint32(0x27663BBA), seed)
	file, err := os.ReadFile("../crcframe/testdata/frames-v1.bin")
	require.NoError(t, err)
	frame := file[:32]
	stored := frLE.Uint32(frame)
	require.Equal(t, uint32(0x32C2A58C), stored)
	require.Equal(t, stored, frFrameCRC(seed, frame))
	concat := append(frLE.AppendUint64(frGoldenID[:], 7), frame[4:]...)
	require.Equal(t, stored, frCRC(concat), "CRC-32C of identity ‖ number ‖ bytes 4…end")
	require.Equal(t, stored, frRegister(seed^0xFFFFFFFF, frame[4:])^0xFFFFFFFF, "register holding seed XOR 0xFFFFFFFF")
	require.Equal(t, uint32(0x3AF49D1A), frRegister(seed, frame[4:])^0xFFFFFFFF, "register loaded with the seed (wrong)")
}

// TestFormatReaderGoldenFrames decodes crcframe/testdata/frames-v1.bin as
// crcframe's golden test describes it: frames from offset 0 of the file,
// seed of identity 01…10 and segment 7.
func TestFormatReaderGoldenFrames(t *testing.T) {
	file, err := os.ReadFile("../crcframe/testdata/frames-v1.bin")
	require.NoError(t, err)
	seed := frSeed(frGoldenID, 7)
	frCheckFrames(t, file, 0, seed, []frGoldenFrame{
		{0, frFull, 1, 0, "hello"},
		{32, frFirst, 2, 32, ""},
		{56, frMiddle, 3, 32, "12345678"},
		{88, frLast, 4, 32, "hello, world!"},
		{128, frPad, 4, 128, string(make([]byte, 16))},
		{168, frMark, 4, 168, ""},
	})
	sc := frWalk(file, 0, seed, 0, false)
	require.Equal(t, "", sc.why)
	require.Equal(t, []string{"1:68656c6c6f", "2:", "3:3132333435363738", "4:68656c6c6f2c20776f726c6421"}, frStrings(sc.records))
	require.True(t, sc.marked)
	require.Equal(t, uint64(4), sc.last)
	require.Equal(t, int64(len(file)), sc.end)

	t.Run("every bit flip is rejected", func(t *testing.T) {
		for i := range len(file) * 8 {
			bad := append([]byte(nil), file...)
			bad[i/8] ^= 1 << (i % 8)
			if sc := frWalk(bad, 0, seed, 0, false); sc.why == "" {
				t.Fatalf("bit %d of byte %d flipped: the walk still ends cleanly after %d records", i%8, i/8, len(sc.records))
			}
		}
	})
}

// TestFormatReaderGoldenSegment decodes segment/testdata/v1-small.wal as
// segment's golden test describes it, and, made into a log directory, as
// mmapwal reads it.
func TestFormatReaderGoldenSegment(t *testing.T) {
	data, err := os.ReadFile("../segment/testdata/v1-small.wal")
	require.NoError(t, err)
	h, why := frCheckHeader(data)
	require.Empty(t, why)
	require.Equal(t, frHeader{version: 1, logID: frGoldenID, number: 3, firstSeq: 10, size: 8192}, h)
	require.Len(t, data, 8192)
	pattern := make([]byte, 32)
	for i := range pattern {
		pattern[i] = byte(i%251) + 1
	}
	seed := frSeed(h.logID, h.number)
	frCheckFrames(t, data, 64, seed, []frGoldenFrame{
		{64, frFull, 10, 0, "first record"},
		{104, frFull, 11, 0, ""},
		{128, frFull, 12, 104, string(pattern)},
		{184, frFirst, 13, 184, "batch one"},
		{224, frMiddle, 14, 184, "batch two"},
		{264, frLast, 15, 184, "batch three"},
		{304, frPad, 15, 304, string(make([]byte, 16))},
		{344, frMark, 15, 344, ""},
	})
	sc := frWalk(data, 64, seed, h.firstSeq-1, false)
	require.Equal(t, frScan{records: sc.records, last: 15, marked: true, end: 368, bad: 368}, sc)
	require.Len(t, sc.records, 6)

	// As the only segment of a log whose front is at 10.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "META"), frMetaBytes(frMeta{logID: frGoldenID, firstSeq: 10}), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0000000000000003.wal"), data, 0o644))
	rd, err := frAgree(t, dir, true)
	require.NoError(t, err)
	require.Equal(t, frStrings(sc.records), frStrings(rd.records))
	require.Equal(t, [2]uint64{10, 15}, [2]uint64{rd.firstSeq, rd.lastSeq})
	require.True(t, rd.clean)

	// §3's rules, one at a time: a field changed and the frame's CRC
	// recomputed, so that only the rule can reject it.
	t.Run("the rules", func(t *testing.T) {
		set := func(off, at int64, put func([]byte)) func([]byte) {
			return func(b []byte) {
				put(b[off+at:])
				size := (24 + int64(frLE.Uint32(b[off+4:])) + 7) &^ 7
				frLE.PutUint32(b[off:], frFrameCRC(seed, b[off:off+size]))
			}
		}
		seq := func(off int64, v uint64) func([]byte) {
			return set(off, 8, func(b []byte) { frLE.PutUint64(b, v) })
		}
		byteAt := func(off, at int64, v byte) func([]byte) { return set(off, at, func(b []byte) { b[0] = v }) }
		for _, c := range []struct {
			name   string
			change func([]byte)
			want   string // the verdict, "torn tail at …", or "" (read whole)
		}{
			{"full not above prev", seq(104, 10), "0000000000000003.wal at 104: " + frSequence},
			{"full of sequence 0", seq(64, 0), "0000000000000003.wal at 64: " + frSequence},
			{"middle not prev+1", seq(224, 15), "0000000000000003.wal at 224: " + frSequence},
			{"pad not prev", seq(304, 16), "0000000000000003.wal at 304: " + frSequence},
			{"mark below prev, nothing after", seq(344, 14), "torn tail at 0000000000000003.wal@344"},
			{"mark above prev", seq(344, 20), ""},
			{"full inside a batch", byteAt(264, 20, frFull), "0000000000000003.wal at 264: " + frSequence},
			{"mark inside a batch", byteAt(264, 20, frMark), "0000000000000003.wal at 264: " + frSequence},
			{"type 7", byteAt(304, 20, 7), "0000000000000003.wal at 304: " + frUnknownType},
			{"reserved byte, nothing after", byteAt(344, 21, 1), "torn tail at 0000000000000003.wal@344"},
			{"padding byte", byteAt(64, 37, 1), "0000000000000003.wal at 64: " + frUnknownType},
			{"length past the end (no CRC to fix)", func(b []byte) { frLE.PutUint32(b[344+4:], 8192) }, "torn tail at 0000000000000003.wal@344"},
			{"length past the end, proven", func(b []byte) { frLE.PutUint32(b[224+4:], 8192) }, "0000000000000003.wal at 224: " + frLength},
			{"an unfinished batch, then zeros", func(b []byte) { clear(b[264:368]) }, "torn tail at 0000000000000003.wal@184"},
		} {
			t.Run(c.name, func(t *testing.T) {
				bad := append([]byte(nil), data...)
				c.change(bad)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "0000000000000003.wal"), bad, 0o644))
				require.Equal(t, c.want, frVerdict(frAgree(t, dir, true)))
			})
		}
	})

	// FORMAT §3: an unfinished batch is a torn tail, which Strict refuses.
	t.Run("an unfinished batch under Strict", func(t *testing.T) {
		bad := append([]byte(nil), data...)
		clear(bad[264:368])
		d := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(d, "META"), frMetaBytes(frMeta{logID: frGoldenID, firstSeq: 10}), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(d, "0000000000000003.wal"), bad, 0o644))
		_, err := mmapwal.Open(d, &mmapwal.Options{Repair: mmapwal.Strict})
		var ce *mmapwal.CorruptionError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "0000000000000003.wal at 184: torn tail", fmt.Sprintf("%s at %d: %s", ce.Segment, ce.Offset, ce.Reason.String()))

		// Sealed by an activated segment 4, the unfinished batch is
		// corruption, at the zero header after it.
		seg4 := make([]byte, 4096)
		copy(seg4, frHeaderBytes(frHeader{logID: frGoldenID, number: 4, firstSeq: 16, size: 4096}))
		require.NoError(t, os.WriteFile(filepath.Join(d, "0000000000000004.wal"), seg4, 0o644))
		_, err = frAgree(t, d, true)
		require.EqualError(t, err, "0000000000000003.wal at 264: "+frUnfinished)
	})

	t.Run("byte flips agree with mmapwal", func(t *testing.T) {
		// Every byte of the header and the frames, and some of the zero tail.
		offs := []int{}
		for i := range 368 + 64 {
			offs = append(offs, i)
		}
		offs = append(offs, 4096, 8191)
		for _, i := range offs {
			bad := append([]byte(nil), data...)
			bad[i] ^= 1 << (i % 8)
			t.Run(fmt.Sprintf("byte %d", i), func(t *testing.T) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "0000000000000003.wal"), bad, 0o644))
				rd, err := frAgree(t, dir, true)
				if err == nil && len(rd.records) == 6 && rd.tornTail == "" {
					t.Fatal("read whole")
				}
			})
		}
	})
}

// TestFormatReaderCorpus reads the damaged logs of testdata/corrupt, which
// mmapwal wrote and TestBadBytesCorpus damaged: the reader must find the same
// damage at the same place, and the same records before it.
func TestFormatReaderCorpus(t *testing.T) {
	ents, err := os.ReadDir("testdata/corrupt")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			_, err := frAgree(t, filepath.Join("testdata/corrupt", e.Name()), true)
			require.Error(t, err, "every corpus log is damaged")
		})
	}
	require.NotZero(t, n)
}

// ---- Logs written through the public API ----

// frOptions: segments of the smallest size, so that a few records rotate.
func frOptions() *mmapwal.Options {
	return &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual}
}

func frPayload(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// frServed returns the records l serves now.
func frServed(t *testing.T, l *mmapwal.Log) []string {
	t.Helper()
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	defer it.Close()
	out := []string{}
	for it.Next() {
		out = append(out, fmt.Sprintf("%d:%x", it.Seq(), it.Value()))
	}
	require.NoError(t, it.Err())
	return out
}

// frClose closes l and returns what it served just before, and its
// FirstSeq and LastSeq.
func frClose(t *testing.T, l *mmapwal.Log) ([]string, [2]uint64) {
	t.Helper()
	recs, seqs := frServed(t, l), [2]uint64{l.FirstSeq(), l.LastSeq()}
	require.NoError(t, l.Close())
	return recs, seqs
}

// frCheckClosed reads a log closed with records recs and sequences seqs:
// the reader must find them, agree with mmapwal (ReadOnly, and a writer
// on a copy), and still agree after a writer opened and closed the log.
func frCheckClosed(t *testing.T, dir string, recs []string, seqs [2]uint64, clean bool) *frLog {
	t.Helper()
	rd, err := frAgree(t, dir, true)
	require.NoError(t, err)
	require.Equal(t, recs, frStrings(rd.records))
	require.Equal(t, seqs, [2]uint64{rd.firstSeq, rd.lastSeq}, "FirstSeq, LastSeq")
	require.Equal(t, clean, rd.clean, "closed cleanly")
	_, err = frAgree(t, dir, false)
	require.NoError(t, err)
	c := copyToTempDir(t, dir)
	l, err := mmapwal.Open(c, frOptions())
	require.NoError(t, err)
	require.NoError(t, l.Close())
	again, err := frAgree(t, c, true)
	require.NoError(t, err)
	require.Equal(t, recs, frStrings(again.records), "after a writer's reopen")
	require.Equal(t, seqs[1] > 0, again.clean, "closed cleanly after a writer's reopen")
	return rd
}

// frBuildLog writes a log that rotates many times and uses every writing
// call: batches, AppendSeq gaps (one across a rotation), reservations
// committed and aborted, Sync (durable watermarks), TruncateFront inside a
// segment and TruncateBack inside a batch; then Close.
func frBuildLog(t *testing.T, dir string) ([]string, [2]uint64) {
	t.Helper()
	l, err := mmapwal.Open(dir, frOptions())
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(8, 1))
	appendSome := func(n int) {
		for range n {
			_, err := l.Append(frPayload(rng, rng.IntN(400)))
			require.NoError(t, err)
		}
	}
	batch := func(n int) [][]byte {
		b := make([][]byte, n)
		for i := range b {
			b[i] = frPayload(rng, rng.IntN(200))
		}
		return b
	}
	appendSome(30)
	_, err = l.AppendBatch(batch(3))
	require.NoError(t, err)
	require.NoError(t, l.AppendSeq(l.LastSeq()+7, frPayload(rng, 50)))
	require.NoError(t, l.Sync())
	r, err := l.Reserve(120)
	require.NoError(t, err)
	copy(r.Bytes(), frPayload(rng, 120))
	_, err = r.Commit()
	require.NoError(t, err)
	r, err = l.Reserve(60)
	require.NoError(t, err)
	copy(r.Bytes(), frPayload(rng, 60))
	r.Abort()
	require.NoError(t, l.AppendBatchSeq(l.LastSeq()+3, batch(4)))
	// Does not fit in what is left: the next segment's header says
	// LastSeq+1, its first record is 100 above.
	require.NoError(t, l.AppendSeq(l.LastSeq()+100, frPayload(rng, 3000)))
	appendSome(30)
	require.NoError(t, l.TruncateFront(l.FirstSeq()+45))
	first, err := l.AppendBatch(batch(5))
	require.NoError(t, err)
	require.NoError(t, l.TruncateBack(first+2))
	appendSome(20)
	require.NoError(t, l.Sync())
	appendSome(5)
	return frClose(t, l)
}

func TestFormatReaderFreshLog(t *testing.T) {
	t.Run("every writing call", func(t *testing.T) {
		dir := t.TempDir()
		recs, seqs := frBuildLog(t, dir)
		require.Greater(t, len(recs), 50)
		rd := frCheckClosed(t, dir, recs, seqs, true)
		files, err := frSegmentFiles(dir)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(files), 5, "rotations")
		require.NotEqual(t, rd.records[0].segment, rd.records[len(rd.records)-1].segment)
	})
	t.Run("the largest record leaves room for the mark", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(8, 2))
		for range 10 {
			_, err := l.Append(frPayload(rng, 300))
			require.NoError(t, err)
		}
		// 64 + Size(3960) = 4048: 48 bytes left, the mark's and the seal's
		// (§9.2), so Close needs no new segment.
		_, err = l.Append(frPayload(rng, 4096-136))
		require.NoError(t, err)
		recs, seqs := frClose(t, l)
		rd := frCheckClosed(t, dir, recs, seqs, true)
		files, err := frSegmentFiles(dir)
		require.NoError(t, err)
		newest := files[len(files)-1]
		require.Equal(t, newest.name, rd.records[len(rd.records)-1].segment)
		f, why := frFrameAt(newest.data, 4048, frSeed([16]byte(newest.data[16:32]), newest.number))
		require.Empty(t, why)
		require.Equal(t, [2]uint64{frMark, seqs[1]}, [2]uint64{uint64(f.typ), f.seq})
	})
	t.Run("closed with a reservation open", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(8, 4))
		for range 25 {
			_, err := l.Append(frPayload(rng, rng.IntN(400)))
			require.NoError(t, err)
		}
		r, err := l.Reserve(500)
		require.NoError(t, err)
		copy(r.Bytes(), frPayload(rng, 500))
		recs, seqs := frClose(t, l) // the mark goes where the reservation was
		_, err = r.Commit()
		require.ErrorIs(t, err, mmapwal.ErrClosed)
		frCheckClosed(t, dir, recs, seqs, true)
	})
	t.Run("emptied by TruncateBack", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		for range 20 {
			_, err := l.Append(make([]byte, 250))
			require.NoError(t, err)
		}
		require.NoError(t, l.TruncateFront(10))
		require.NoError(t, l.TruncateBack(9)) // the floor keeps LastSeq at 9
		recs, seqs := frClose(t, l)
		require.Equal(t, [2]uint64{10, 9}, seqs)
		frCheckClosed(t, dir, recs, seqs, true)
	})
	t.Run("emptied by TruncateBack, the floor above the front", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		require.NoError(t, l.AppendSeq(5, make([]byte, 250)))
		for range 20 {
			_, err := l.Append(make([]byte, 250))
			require.NoError(t, err)
		}
		require.NoError(t, l.TruncateBack(4)) // META: front 0, floor 4
		recs, seqs := frClose(t, l)
		require.Equal(t, [2]uint64{5, 4}, seqs)
		frCheckClosed(t, dir, recs, seqs, true)

		// Without Close's mark (seq 4), only the floor says LastSeq is 4.
		files, err := frSegmentFiles(dir)
		require.NoError(t, err)
		newest := files[len(files)-1]
		f, why := frFrameAt(newest.data, 64, frSeed([16]byte(newest.data[16:32]), newest.number))
		require.Empty(t, why)
		require.Equal(t, byte(frMark), f.typ, "the cut left nothing before the mark")
		clear(newest.data[64:88])
		require.NoError(t, os.WriteFile(filepath.Join(dir, newest.name), newest.data, 0o644))
		// As a crash before the mark leaves it: no clean-close record (§9.3).
		mb, err := os.ReadFile(filepath.Join(dir, "META"))
		require.NoError(t, err)
		m, err := frParseMeta(mb)
		require.NoError(t, err)
		m.cleanSeg, m.cleanOff = 0, 0
		require.NoError(t, os.WriteFile(filepath.Join(dir, "META"), frMetaBytes(m), 0o644))
		rd, err := frAgree(t, dir, true)
		require.NoError(t, err)
		require.Equal(t, [2]uint64{5, 4}, [2]uint64{rd.firstSeq, rd.lastSeq})
		require.False(t, rd.clean)
	})
	t.Run("emptied by TruncateFront", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		for range 20 {
			_, err := l.Append(make([]byte, 250))
			require.NoError(t, err)
		}
		require.NoError(t, l.TruncateFront(21))
		recs, seqs := frClose(t, l)
		require.Equal(t, [2]uint64{21, 20}, seqs)
		frCheckClosed(t, dir, recs, seqs, true)
	})
	t.Run("never written", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		recs, seqs := frClose(t, l)
		require.Equal(t, [2]uint64{0, 0}, seqs)
		frCheckClosed(t, dir, recs, seqs, false)
	})
	t.Run("open, with a prepared segment", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		rng := rand.New(rand.NewPCG(8, 3))
		for range 40 {
			_, err := l.Append(frPayload(rng, rng.IntN(300)))
			require.NoError(t, err)
		}
		require.NoError(t, l.Sync())
		// The next segment is prepared in the background: wait for it (a
		// header that checks with first seq 0), then take a copy.
		var snap string
		for deadline := time.Now().Add(30 * time.Second); snap == ""; {
			files, err := frSegmentFiles(dir)
			require.NoError(t, err)
			if h, why := frCheckHeader(files[len(files)-1].data); why == "" && h.firstSeq == 0 {
				snap = copyToTempDir(t, dir)
			}
			require.True(t, time.Now().Before(deadline), "no prepared segment after 30 s")
			time.Sleep(time.Millisecond)
		}
		rd, err := frAgree(t, snap, true)
		require.NoError(t, err)
		require.Equal(t, frServed(t, l), frStrings(rd.records))
		require.Equal(t, [2]uint64{l.FirstSeq(), l.LastSeq()}, [2]uint64{rd.firstSeq, rd.lastSeq})
		require.False(t, rd.clean)
		files, err := frSegmentFiles(snap)
		require.NoError(t, err)
		prepared := files[len(files)-1]
		prepSeed := frSeed([16]byte(prepared.data[16:32]), prepared.number)

		// The prepared segment activated with a first seq above LastSeq+1
		// (CRC valid), no frame yet: LastSeq follows its header.
		act := copyToTempDir(t, snap)
		b := append([]byte(nil), prepared.data...)
		frLE.PutUint64(b[40:], l.LastSeq()+50)
		frLE.PutUint32(b[60:], frCRC(b[:60]))
		require.NoError(t, os.WriteFile(filepath.Join(act, prepared.name), b, 0o644))
		rd, err = frAgree(t, act, true)
		require.NoError(t, err)
		require.Equal(t, l.LastSeq()+49, rd.lastSeq)

		// The prepared segment as an interrupted creation leaves it (§2:
		// a header that does not check, nothing after the header's sector,
		// no valid frame in it), and ones that held something or are not
		// this segment's.
		for _, c := range []struct {
			name string
			file func() []byte
			want string // the verdict, "torn tail at …", or "" (not part of the log)
		}{
			{"empty", func() []byte { return nil }, ""},
			{"zero filled", func() []byte { return make([]byte, 4096) }, ""},
			// A creation preallocates before it writes the header (§2).
			{"cut short, header checks", func() []byte { return prepared.data[:1000] }, prepared.name + " at 1000: segment file short"},
			{"cut short to the header sector, header checks", func() []byte { return prepared.data[:512] }, prepared.name + " at 512: segment file short"},
			{"torn header sector", func() []byte {
				b := make([]byte, 4096)
				copy(b[100:512], frPayload(rng, 412))
				copy(b, prepared.data[:40])
				return b
			}, ""},
			// A frame inside the sector shows the file held a record,
			// wherever the frame is (§2).
			{"torn header sector over a frame at 64", func() []byte {
				b := make([]byte, 4096)
				copy(b, prepared.data[:40])
				copy(b[64:], frFrameBytes(prepSeed, frFull, l.LastSeq()+1, 64, []byte("in the sector")))
				return b
			}, prepared.name + " at 0: segment header checksum mismatch"},
			{"torn header sector over a frame at 200", func() []byte {
				b := make([]byte, 4096)
				copy(b, prepared.data[:40])
				copy(b[100:200], frPayload(rng, 100))
				copy(b[200:], frFrameBytes(prepSeed, frFull, l.LastSeq()+2, 64, []byte("in the sector")))
				return b
			}, prepared.name + " at 0: segment header checksum mismatch"},
			{"torn header sector, a foreign frame in it", func() []byte {
				b := make([]byte, 4096)
				copy(b, prepared.data[:40])
				copy(b[200:], frFrameBytes(frSeed(frGoldenID, prepared.number), frFull, l.LastSeq()+2, 64, []byte("another log")))
				return b
			}, ""},
			{"a prepared header of another number, zeros after it", func() []byte {
				b := make([]byte, 4096)
				copy(b, frHeaderBytes(frHeader{logID: [16]byte(prepared.data[16:32]), number: prepared.number + 1, size: 4096}))
				return b
			}, prepared.name + " at 0: segment number mismatch"},
			{"a prepared header of another log, zeros after it", func() []byte {
				b := make([]byte, 4096)
				copy(b, frHeaderBytes(frHeader{logID: frGoldenID, number: prepared.number, size: 4096}))
				return b
			}, prepared.name + " at 0: foreign segment"},
			{"a file of 512 bytes, not all zero", func() []byte {
				b := make([]byte, 512)
				b[300] = 1
				return b
			}, prepared.name + " at 0: bad segment magic"},
			{"torn header sector, a byte after it", func() []byte {
				b := make([]byte, 4096)
				copy(b, prepared.data[:40])
				b[600] = 1
				return b
			}, prepared.name + " at 0: segment header checksum mismatch"},
			{"a frame header's byte after a prepared header", func() []byte {
				b := append([]byte(nil), prepared.data...)
				b[70] = 1
				return b
			}, "torn tail at " + prepared.name + "@64"},
		} {
			t.Run(c.name, func(t *testing.T) {
				d := copyToTempDir(t, snap)
				require.NoError(t, os.WriteFile(filepath.Join(d, prepared.name), c.file(), 0o644))
				got, err := frAgree(t, d, true)
				require.Equal(t, c.want, frVerdict(got, err))
				if err == nil {
					require.Equal(t, frStrings(rd.records), frStrings(got.records))
				}
			})
		}

		// Closed cleanly, then the prepared segment left behind (as a crash
		// inside Close would leave it): still a clean log.
		recs, seqs := frClose(t, l)
		_, err = os.Stat(filepath.Join(dir, prepared.name))
		require.ErrorIs(t, err, os.ErrNotExist, "Close used the prepared segment for its mark")
		require.NoError(t, os.WriteFile(filepath.Join(dir, prepared.name), prepared.data, 0o644))
		rd = frCheckClosed(t, dir, recs, seqs, true)
		require.True(t, rd.clean)
	})
	t.Run("a pending TruncateBack redo", func(t *testing.T) {
		dir := t.TempDir()
		l, err := mmapwal.Open(dir, frOptions())
		require.NoError(t, err)
		for range 10 {
			_, err := l.Append(make([]byte, 300))
			require.NoError(t, err)
		}
		_, err = l.AppendBatch([][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}) // 11…14
		require.NoError(t, err)
		for range 30 {
			_, err := l.Append(make([]byte, 300))
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
		// What TruncateBack(12) writes first, as if a crash followed: the
		// redo record names the frame of record 13, a middle frame.
		rd, err := frRead(dir)
		require.NoError(t, err)
		r13 := rd.records[12]
		require.Equal(t, uint64(13), r13.seq)
		num, err := strconv.ParseUint(strings.TrimSuffix(r13.segment, ".wal"), 16, 64)
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, "META"))
		require.NoError(t, err)
		m, err := frParseMeta(b)
		require.NoError(t, err)
		m.backSeg, m.backOff, m.floor = num, uint32(r13.off), 12
		require.NoError(t, os.WriteFile(filepath.Join(dir, "META"), frMetaBytes(m), 0o644))
		// A writer finishes the redo, a ReadOnly open applies it in memory
		// (§4); the reader reads the log as it will be.
		for _, readOnly := range []bool{false, true} {
			rd, err = frAgree(t, dir, readOnly)
			require.NoError(t, err)
			require.Len(t, rd.records, 12)
			require.Equal(t, "12:62", frStrings(rd.records)[11])
			require.Equal(t, [2]uint64{1, 12}, [2]uint64{rd.firstSeq, rd.lastSeq})
		}
		lib, err := frLibRead(t, dir, true)
		require.NoError(t, err)
		require.True(t, lib.report.PendingTruncation)
	})
}

// TestFormatReaderDamage damages a log written through the API in the ways
// FORMAT.md distinguishes, and requires the reader's verdict (so that a
// reader and a library that both miss it still fail) and mmapwal's to be
// the same.
func TestFormatReaderDamage(t *testing.T) {
	dir := t.TempDir()
	frBuildLog(t, dir)
	rd, err := frRead(dir)
	require.NoError(t, err)
	files, err := frSegmentFiles(dir)
	require.NoError(t, err)
	oldest, newest := files[0], files[len(files)-1]
	last := rd.records[len(rd.records)-1]
	require.Equal(t, newest.name, last.segment, "the last record is in the newest segment")
	var sealed frRecord // a record with a payload in a sealed segment
	for _, r := range rd.records {
		if r.segment != newest.name && len(r.payload) > 0 {
			sealed = r
			break
		}
	}
	require.NotZero(t, sealed.seq)
	mark := last.off + (24+int64(len(last.payload))+7)&^7

	flip := func(off int64) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x10; return b }
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	fixCRC := func(b []byte) []byte { frLE.PutUint32(b[60:], frCRC(b[:60])); return b }
	for _, c := range []struct {
		name, file string
		damage     func([]byte) []byte
		want       string // the reader's verdict, "torn tail at …", or "" (read whole)
	}{
		{"the newest segment cut short", newest.name, cut(2048), newest.name + " at 2048: segment file short"},
		{"a sealed segment cut short", oldest.name, cut(2048), oldest.name + " at 2048: segment file short"},
		{"a sealed segment's header with first seq 0, CRC valid", files[1].name, func(b []byte) []byte { frLE.PutUint64(b[40:], 0); return fixCRC(b) }, ""},
		{"the oldest segment's header with first seq 0, CRC valid", oldest.name, func(b []byte) []byte { frLE.PutUint64(b[40:], 0); return fixCRC(b) }, ""},
		{"payload byte in a sealed segment", sealed.segment, flip(sealed.off + 24),
			fmt.Sprintf("%s at %d: %s", sealed.segment, sealed.off, frChecksum)},
		{"the last record, proven by the mark", last.segment, flip(last.off + 8),
			fmt.Sprintf("%s at %d: %s", last.segment, last.off, frChecksum)},
		// With META's clean-close record nothing is a torn tail (§9.3).
		{"the mark, after a clean Close", newest.name, flip(mark + 8),
			fmt.Sprintf("%s at %d: %s", newest.name, mark, frChecksum)},
		{"a sealed segment's header", oldest.name, flip(33),
			oldest.name + " at 0: segment header checksum mismatch"},
		{"a sealed segment's version 3, CRC valid", oldest.name, func(b []byte) []byte { b[8] = 3; return fixCRC(b) },
			oldest.name + " at 0: " + frUnsupported},
		{"a sealed segment's prev seal unaligned, CRC valid", oldest.name, func(b []byte) []byte { b[56] |= 1; return fixCRC(b) },
			oldest.name + " at 0: " + frUnsupported},
		{"a sealed segment's reserved flag, CRC valid", oldest.name, func(b []byte) []byte { b[12] |= 4; return fixCRC(b) },
			oldest.name + " at 0: " + frUnsupported},
		{"a segment size out of range, CRC valid", oldest.name, func(b []byte) []byte { frLE.PutUint64(b[48:], 2048); return fixCRC(b) },
			oldest.name + " at 0: " + frUnsupported},
		{"META's CRC", "META", flip(61), "META at 0: segment header checksum mismatch"},
		{"META's reserved bytes, CRC valid", "META", func(b []byte) []byte { b[10] = 1; return fixCRC(b) }, "META at 0: " + frUnsupported},
		{"META's version 3, CRC valid", "META", func(b []byte) []byte { b[8] = 3; return fixCRC(b) }, "META at 0: " + frUnsupported},
		{"META's reserved feature, CRC valid", "META", func(b []byte) []byte { b[56] |= 8; return fixCRC(b) }, "META at 0: " + frUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := copyToTempDir(t, dir)
			path := filepath.Join(d, c.file)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b = c.damage(b)
			require.NoError(t, os.WriteFile(path, b, 0o644))
			for _, readOnly := range []bool{true, false} {
				got, err := frAgree(t, d, readOnly)
				require.Equal(t, c.want, frVerdict(got, err))
				if err == nil {
					require.Equal(t, frStrings(rd.records), frStrings(got.records), "every record is served")
				}
			}
		})
	}
}

// TestFormatReaderGoldenV2 decodes the version 2 golden files as FORMAT §9
// describes them: segment/testdata/v2-sealed.wal (a header recording the
// previous segment's seal, frames ending with a seal) and
// mmapwal/testdata/meta-v2-clean.bin (a META with a clean-close record).
func TestFormatReaderGoldenV2(t *testing.T) {
	data, err := os.ReadFile("../segment/testdata/v2-sealed.wal")
	require.NoError(t, err)
	h, why := frCheckHeader(data)
	require.Empty(t, why)
	require.Equal(t, frHeader{version: 2, flags: 1, logID: frGoldenID, number: 3, firstSeq: 10, size: 8192, prevSeal: 4072}, h)
	seed := frSeed(h.logID, h.number)
	frCheckFrames(t, data, 64, seed, []frGoldenFrame{
		{64, frFull, 10, 0, "first record"},
		{104, frFirst, 11, 104, "batch one"},
		{144, frLast, 12, 104, "batch two"},
		{184, frMark, 12, 184, ""},
		{208, frFull, 13, 208, "after reopen"},
		{248, frSeal, 13, 248, ""},
	})
	sc := frWalk(data, 64, seed, h.firstSeq-1, false)
	require.Equal(t, frScan{records: sc.records, last: 13, sealed: true, end: 272, bad: 272}, sc)
	require.Len(t, sc.records, 4)

	b, err := os.ReadFile("testdata/meta-v2-clean.bin")
	require.NoError(t, err)
	m, err := frParseMeta(b)
	require.NoError(t, err)
	require.Equal(t, frMeta{version: 2, logID: frGoldenID, firstSeq: 5, floor: 3, cleanSeg: 3, cleanOff: 4000}, m)
	require.Equal(t, b, frMetaBytes(m))

	b, err = os.ReadFile("testdata/meta-v2-reset.bin")
	require.NoError(t, err)
	m, err = frParseMeta(b)
	require.NoError(t, err)
	require.Equal(t, frMeta{version: 2, logID: frGoldenID, firstSeq: 100, floor: 99, resetSeg: 7}, m)
	require.Equal(t, b, frMetaBytes(m))
}

// TestFormatReaderReset: §9.5. A crash inside Reset after its META is
// durable leaves the reset record beside the old segments (and maybe
// segment N): the reader and the library both show the reset log — no
// record, LastSeq next−1 — in a ReadOnly open and in a writable one, and
// after a finished Reset the log reads as an ordinary one at next.
func TestFormatReaderReset(t *testing.T) {
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual})
	require.NoError(t, err)
	for i := range 300 {
		_, err := l.Append(fmt.Appendf(nil, "record %d", i))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	files, err := frSegmentFiles(dir)
	require.NoError(t, err)
	require.Greater(t, len(files), 2)
	b, err := os.ReadFile(filepath.Join(dir, "META"))
	require.NoError(t, err)
	m, err := frParseMeta(b)
	require.NoError(t, err)

	for _, next := range []uint64{3, 100} {
		crashed := copyToTempDir(t, dir)
		reset := frMeta{version: 2, logID: m.logID, firstSeq: next, floor: next - 1, resetSeg: uint64(len(files) + 5)}
		require.NoError(t, os.WriteFile(filepath.Join(crashed, "META"), frMetaBytes(reset), 0o644))
		for _, ro := range []bool{true, false} {
			lg, err := frAgree(t, crashed, ro)
			require.NoError(t, err)
			require.Empty(t, lg.records)
			require.Equal(t, next-1, lg.lastSeq)
		}
	}

	l, err = mmapwal.Open(dir, &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual})
	require.NoError(t, err)
	require.NoError(t, l.Reset(7))
	_, err = l.Append([]byte("seven"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	lg, err := frAgree(t, dir, true)
	require.NoError(t, err)
	require.Len(t, lg.records, 1)
	require.Equal(t, uint64(7), lg.records[0].seq)
}

// frCraftLog writes a log of identity frGoldenID into a new directory:
// META (front 0) and the given segment files, numbered from 1.
func frCraftLog(t *testing.T, segs ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "META"), frMetaBytes(frMeta{logID: frGoldenID}), 0o644))
	for i, b := range segs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016x.wal", i+1)), b, 0o644))
	}
	return dir
}

// frCraftSegment returns a 4096-byte segment number num of frGoldenID with
// the header's first seq and the given frames from offset 64.
func frCraftSegment(num, firstSeq uint64, frames ...[]byte) []byte {
	b := make([]byte, 4096)
	copy(b, frHeaderBytes(frHeader{logID: frGoldenID, number: num, firstSeq: firstSeq, size: 4096}))
	off := 64
	for _, f := range frames {
		off += copy(b[off:], f)
	}
	return b
}

// TestFormatReaderActivated tests §2's "Activated segments": whether a
// later segment file seals segment 1, whose last frame is invalid and
// unproven (a torn tail unless segment 1 is sealed).
func TestFormatReaderActivated(t *testing.T) {
	seed1, seed2 := frSeed(frGoldenID, 1), frSeed(frGoldenID, 2)
	torn := frFrameBytes(seed1, frFull, 3, 0, []byte("torn"))
	torn[30] ^= 1 // a payload byte: checksum mismatch
	seg1 := frCraftSegment(1, 1,
		frFrameBytes(seed1, frFull, 1, 0, []byte("one")),
		frFrameBytes(seed1, frFull, 2, 0, []byte("two")),
		torn)
	sealed := "0000000000000001.wal at 128: " + frChecksum
	tornTail := "torn tail at 0000000000000001.wal@128"
	header2 := func(firstSeq uint64) []byte { return frCraftSegment(2, firstSeq)[:64] }
	with := func(b []byte, off int, put []byte) []byte { copy(b[off:], put); return b }
	for _, c := range []struct {
		name     string
		seg2     []byte
		want     string
		readOnly bool // only ReadOnly compares: a writer cuts segment 1 and goes on into segment 2
	}{
		// The 512 rule: a prepared header with frames only in bytes
		// 64–511 is an activation whose header rewrite did not reach the
		// disk, so segment 1 is sealed.
		{"prepared header, frames only in bytes 64–511", frCraftSegment(2, 0,
			frFrameBytes(seed2, frFull, 3, 64, []byte("three")),
			frFrameBytes(seed2, frFull, 4, 64, make([]byte, 300))), sealed, false},
		// Without a valid frame at 64, bytes only in the sector are what a
		// torn creation leaves: not activated.
		{"prepared header, junk only in bytes 64–511", with(frCraftSegment(2, 0), 64, frBytes(448)), tornTail, true},
		{"prepared header, junk at 88–511", with(frCraftSegment(2, 0), 88, frBytes(424)), tornTail, true},
		{"prepared header, a byte after 512", with(frCraftSegment(2, 0), 600, []byte{1}), sealed, false},
		{"prepared header, a frame after 512", with(frCraftSegment(2, 0), 512, frFrameBytes(seed2, frFull, 3, 64, []byte("three"))), sealed, false},
		{"unused prepared", frCraftSegment(2, 0), tornTail, false},
		{"active header, nothing after it", frCraftSegment(2, 3), sealed, false},
		{"prepared header of another segment number", with(make([]byte, 4096), 0, frHeaderBytes(frHeader{logID: frGoldenID, number: 3, size: 4096})), sealed, false},
		{"all zero", make([]byte, 4096), tornTail, false},
		{"empty", nil, tornTail, false},
		{"torn header sector", with(with(make([]byte, 4096), 0, header2(0)[:40]), 100, frBytes(300)), tornTail, false},
		{"torn header sector over a frame", with(with(make([]byte, 4096), 0, header2(0)[:40]), 200, frFrameBytes(seed2, frFull, 3, 64, []byte("three"))), sealed, false},
		{"torn header sector, a byte after it", with(with(make([]byte, 4096), 0, header2(0)[:40]), 4000, []byte{1}), sealed, false},
		{"a file of 100 bytes, not all zero", with(make([]byte, 100), 50, []byte{1}), sealed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := frCraftLog(t, seg1, c.seg2)
			require.Equal(t, c.want, frVerdict(frAgree(t, dir, true)))
			if !c.readOnly {
				_, err := frAgree(t, dir, false)
				require.Equal(t, c.want == sealed, err != nil, "a writer refuses the log exactly when segment 1 is sealed: %v", err)
			}
		})
	}
}

// frBytes returns n non-zero bytes.
func frBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + 1
	}
	return b
}

// TestFormatReaderQuarantineFiles: quarantine files (§1) beside the
// segments, whatever they hold, are not part of the log for either reader.
func TestFormatReaderQuarantineFiles(t *testing.T) {
	dir := t.TempDir()
	recs, seqs := frBuildLog(t, dir)
	files, err := frSegmentFiles(dir)
	require.NoError(t, err)
	oldest, newest := files[0], files[len(files)-1]
	for name, b := range map[string][]byte{
		// A copy of a whole segment, a torn tail's bytes, the sector of a
		// removed interrupted creation numbered after the newest.
		oldest.name + ".torn-0000000000000040":                          oldest.data,
		newest.name + ".torn-0000000000000a48":                          newest.data[64:512],
		fmt.Sprintf("%016x.wal.torn-0000000000000000", newest.number+1): newest.data[:512],
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	frCheckClosed(t, dir, recs, seqs, true)
	l, err := mmapwal.Open(dir, frOptions())
	require.NoError(t, err)
	require.Empty(t, l.Recovery().Removed)
	require.NoError(t, l.Close())
	for _, name := range []string{oldest.name + ".torn-0000000000000040", fmt.Sprintf("%016x.wal.torn-0000000000000000", newest.number+1)} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "a writer's open leaves quarantine files")
	}
	rd, err := frAgree(t, dir, true)
	require.NoError(t, err)
	require.Equal(t, recs, frStrings(rd.records))
}

// TestFormatReaderSealInTornSector: FORMAT §2 says an interrupted creation
// holds no valid frame anywhere in the header's sector, and a seal (type 7)
// is a valid frame. segment.Probe once looked only for types 1–6 there, so a
// newest segment whose header and first frame were damaged, with a seal
// intact further in the sector, was removed as an interrupted creation
// instead of reported as corruption.
func TestFormatReaderSealInTornSector(t *testing.T) {
	seed1, seed2 := frSeed(frGoldenID, 1), frSeed(frGoldenID, 2)
	seg1 := frCraftSegment(1, 1, frFrameBytes(seed1, frFull, 1, 0, []byte("one")))
	seg2 := make([]byte, 4096)
	copy(seg2, frHeaderBytes(frHeader{logID: frGoldenID, number: 2, firstSeq: 2, size: 4096})[:40])
	rec := frFrameBytes(seed2, frFull, 2, 64, []byte("two"))
	rec[30] ^= 1 // torn: checksum mismatch
	copy(seg2[64:], rec)
	copy(seg2[64+len(rec):], frFrameBytes(seed2, frSeal, 2, 64, nil))
	dir := frCraftLog(t, seg1, seg2)

	want := "0000000000000002.wal at 0: segment header checksum mismatch"
	_, err := frRead(dir)
	require.EqualError(t, err, want, "the reader follows FORMAT §2")

	_, err = frAgree(t, dir, true)
	require.Error(t, err)
}

// TestFormatReaderActivatedWithinSegmentSize: FORMAT §2 says only the first
// `segment size` bytes of a file are read, and a later file whose prepared
// header is followed by zeros up to its segment size is not activated.
// segment.Probe once read to the end of the file, so bytes past the segment
// size made the file activated and an unproven torn tail before it was
// reported as corruption. The bytes past the size are no segment's, but the
// removal of the unused file quarantines them.
func TestFormatReaderActivatedWithinSegmentSize(t *testing.T) {
	seed1 := frSeed(frGoldenID, 1)
	torn := frFrameBytes(seed1, frFull, 2, 0, []byte("torn"))
	torn[30] ^= 1
	seg1 := frCraftSegment(1, 1, frFrameBytes(seed1, frFull, 1, 0, []byte("one")), torn)
	seg2 := append(frCraftSegment(2, 0), make([]byte, 4096)...)
	seg2[5000] = 1 // past segment 2's size (4096)
	dir := frCraftLog(t, seg1, seg2)

	lg, err := frRead(dir)
	require.NoError(t, err)
	require.Equal(t, "0000000000000001.wal@96", lg.tornTail, "the reader follows FORMAT §2")

	_, err = frAgree(t, dir, true)
	require.NoError(t, err)
	_, err = frAgree(t, dir, false) // cuts the tail, removes segment 2 as unused prepared
	require.NoError(t, err)
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	require.NoError(t, err)
	defer l.Close()
	rec := l.Recovery()
	require.Contains(t, rec.Removed, "0000000000000002.wal")
	var past bool
	for _, name := range rec.Quarantined {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		past = past || (len(b) > 5000 && b[5000] == 1)
	}
	require.True(t, past, "the byte past segment 2's size is kept in a quarantine file: %v", rec.Quarantined)
}
