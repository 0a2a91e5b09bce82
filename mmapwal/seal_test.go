package mmapwal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// dropCleanClose removes the clean-close record from dir's META, as a
// writer's Open does before its first write, without going through the
// sysutil seam (so that fault-injection counts are not disturbed). Tests
// that fake a crash of a writer after a clean Close use it.
func dropCleanClose(tb testing.TB, dir string) {
	tb.Helper()
	path := filepath.Join(dir, metaName)
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := decodeMeta(b)
	if err != nil {
		tb.Fatal(err)
	}
	if m.clean.seg == 0 {
		return
	}
	m.clean = cleanClose{}
	if err := os.WriteFile(path, m.encode(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// bbWithoutCleanClose returns a copy of META bytes without the clean-close
// record, as a writer's Open leaves it (or as a version 1 log has none).
func bbWithoutCleanClose(tb testing.TB, b []byte) []byte {
	tb.Helper()
	m, err := decodeMeta(b)
	if err != nil {
		tb.Fatal(err)
	}
	m.clean = cleanClose{}
	return m.encode()
}

// decodeMetaV1 is the META check of format version 1 exactly as the
// released v1 code wrote it (mmapwal/meta.go before version 2): what a v1
// binary runs first on any log. It returns nil for a META it accepts.
func decodeMetaV1(b []byte) error {
	if len(b) != metaSize || [8]byte(b[:8]) != metaMagic {
		return &CorruptionError{Segment: metaName, Reason: ReasonMissingMeta}
	}
	if binary.LittleEndian.Uint32(b[60:]) != crcframe.Checksum(0, b[:60]) {
		return &CorruptionError{Segment: metaName, Reason: ReasonHeaderChecksumMismatch}
	}
	if binary.LittleEndian.Uint16(b[8:]) != 1 || !crcframe.IsZero(b[10:12]) || !crcframe.IsZero(b[56:60]) {
		return fmt.Errorf("%w: META version %d", ErrUnsupportedVersion, binary.LittleEndian.Uint16(b[8:]))
	}
	return nil
}

var sealTestLogID = [16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}

// goldenMetaV2 is testdata/meta-v2-clean.bin: a version 2 META of the log
// 0x01…0x10 with first seq 5, floor seq 3 and the clean-close record of a
// mark at offset 4000 of segment 3.
var goldenMetaV2 = meta{version: 2, logID: sealTestLogID, firstSeq: 5, floor: 3, clean: cleanClose{seg: 3, off: 4000}}

const goldenMetaV2Path = "testdata/meta-v2-clean.bin"

// TestGoldenMetaV2 locks the version 2 META with a clean-close record, and
// checks that the version 1 rules refuse it as an unsupported version
// (never as damage). Never regenerate it once version 2 is released.
func TestGoldenMetaV2(t *testing.T) {
	want := goldenMetaV2.encode()
	if bbUpdating() {
		if err := os.WriteFile(goldenMetaV2Path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(goldenMetaV2Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("meta.encode differs from %s:\n% x\n% x", goldenMetaV2Path, want, got)
	}
	m, err := decodeMeta(got)
	if err != nil || m != goldenMetaV2 {
		t.Fatalf("decodeMeta = %+v, %v; want %+v", m, err, goldenMetaV2)
	}
	for _, b := range [][]byte{got, (meta{version: 2, logID: sealTestLogID}).encode()} {
		if err := decodeMetaV1(b); !errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("v1 rules on a v2 META: %v, want ErrUnsupportedVersion", err)
		}
	}
	// A version 1 META still reads, and the v1 rules accept what it writes.
	v1 := meta{version: 1, logID: sealTestLogID, firstSeq: 5, backSeg: 2, backOff: 800, floor: 3}
	if err := decodeMetaV1(v1.encode()); err != nil {
		t.Fatal(err)
	}
	if m, err := decodeMeta(v1.encode()); err != nil || m != v1 {
		t.Fatalf("decodeMeta(v1) = %+v, %v; want %+v", m, err, v1)
	}
}

// TestMetaV2Refusals: well-formed METAs (CRC valid) that this version did
// not write are refused as unsupported, never repaired; a clean-close record
// no writer produces is damage.
func TestMetaV2Refusals(t *testing.T) {
	set := func(off int, v uint32, width int) []byte {
		b := goldenMetaV2.encode()
		switch width {
		case 2:
			binary.LittleEndian.PutUint16(b[off:], uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(b[off:], v)
		case 8:
			binary.LittleEndian.PutUint64(b[off:], uint64(v))
		}
		binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
		return b
	}
	for name, b := range map[string][]byte{
		"version 3":               set(8, 3, 2),
		"version 0":               set(8, 0, 2),
		"reserved u16":            set(10, 1, 2),
		"live-reader feature":     set(56, metaLiveReader, 4),
		"feature bit 31":          set(56, 1<<31, 4),
		"version 1 with features": func() []byte { b := set(8, 1, 2); return b }(),
	} {
		if _, err := decodeMeta(b); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("%s: decodeMeta = %v, want ErrUnsupportedVersion", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"clean close in segment 0":  set(40, 0, 8),
		"clean close in the header": set(12, 8, 4),
		// The reset feature is defined (§9.5): its record has no offset and
		// never comes with a clean close.
		"reset record with an offset": set(56, metaReset, 4),
		"reset and clean close":       set(56, metaReset|metaCleanClose, 4),
	} {
		if _, err := decodeMeta(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeMeta = %v, want ErrCorrupt", name, err)
		}
	}
}

// sealPayload is record seq's content.
func sealPayload(seq uint64) []byte { return bbPayloadN(seq, 40+int(seq%5)*30) }

// writeV1Log writes, into dir, a log as the version 1 writer left it after
// a clean Close: a v1 META, nsegs 4 KiB segments with v1 headers and perSeg
// records each (the sealed ones end without a seal), the newest ending
// with the durable mark. It returns LastSeq.
func writeV1Log(t *testing.T, dir string, nsegs, perSeg int) uint64 {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, metaName), (meta{version: 1, logID: sealTestLogID}).encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	for n := uint64(1); n <= uint64(nsegs); n++ {
		img := make([]byte, segment.MinSize)
		segment.EncodeHeader(img, segment.Header{Version: 1, LogID: sealTestLogID, Number: n, FirstSeq: seq + 1, Size: segment.MinSize})
		seed := crcframe.Seed(sealTestLogID, n)
		off := int64(segment.HeaderSize)
		for range perSeg {
			seq++
			k, err := crcframe.Encode(img[off:], seed, crcframe.Header{Seq: seq, Durable: uint32(off), Type: crcframe.Full}, sealPayload(seq))
			if err != nil {
				t.Fatal(err)
			}
			off += int64(k)
		}
		if n == uint64(nsegs) {
			crcframe.Encode(img[off:], seed, crcframe.Header{Seq: seq, Durable: uint32(off), Type: crcframe.Mark}, nil)
		}
		if err := os.WriteFile(filepath.Join(dir, segment.Name(n)), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// sealRequireRecords checks that l holds exactly the records 1..last.
func sealRequireRecords(t *testing.T, l *Log, last uint64) {
	t.Helper()
	if l.FirstSeq() != 1 || l.LastSeq() != last {
		t.Fatalf("FirstSeq %d, LastSeq %d; want 1, %d", l.FirstSeq(), l.LastSeq(), last)
	}
	for seq := uint64(1); seq <= last; seq++ {
		got, err := l.Read(seq)
		if err != nil || !bytes.Equal(got, sealPayload(seq)) {
			t.Fatalf("Read(%d) = %d bytes, %v", seq, len(got), err)
		}
	}
}

func sealReadFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestV1LogUpgrade: a log written by format version 1 opens; an open
// without writes leaves it version 1 (META and headers byte for byte); the
// first write rewrites META as version 2, rotation seals the v1 segment and
// gives the new segments v2 headers; the old v1 headers are never
// rewritten, and every record survives.
func TestV1LogUpgrade(t *testing.T) {
	dir := t.TempDir()
	last := writeV1Log(t, dir, 3, 8)
	v1Meta := sealReadFile(t, dir, metaName)
	if err := decodeMetaV1(v1Meta); err != nil {
		t.Fatal(err)
	}
	var v1Headers [][]byte
	for n := uint64(1); n <= 3; n++ {
		v1Headers = append(v1Headers, sealReadFile(t, dir, segment.Name(n))[:segment.HeaderSize])
	}

	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	sealRequireRecords(t, l, last)
	if !l.Recovery().Clean {
		t.Fatal("a cleanly closed v1 log not reported clean")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sealReadFile(t, dir, metaName); !bytes.Equal(got, v1Meta) {
		t.Fatalf("an open without writes changed the v1 META")
	}

	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	for seq := last + 1; l.Stats().Rotations < 2; seq++ {
		if got, err := l.Append(sealPayload(seq)); err != nil || got != seq {
			t.Fatalf("Append = %d, %v", got, err)
		}
		last = seq
	}
	m, err := readMeta(dir)
	if err != nil || m.version != 2 {
		t.Fatalf("META after the first write: %+v, %v; want version 2", m, err)
	}
	if err := decodeMetaV1(sealReadFile(t, dir, metaName)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("v1 rules on the upgraded META: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= 3; n++ {
		if got := sealReadFile(t, dir, segment.Name(n))[:segment.HeaderSize]; !bytes.Equal(got, v1Headers[n-1]) {
			t.Fatalf("the v1 header of segment %d was rewritten", n)
		}
	}
	// Segment 3 (v1, active at the upgrade) was sealed by the rotation, and
	// segment 4 says so; segment 5 records segment 4's seal.
	for n := uint64(4); n <= 5; n++ {
		h, err := segment.DecodeHeader(sealReadFile(t, dir, segment.Name(n)))
		if err != nil || h.Version != 2 || h.Flags != segment.FlagPrevSealed {
			t.Fatalf("segment %d header %+v, %v; want version 2, prev sealed", n, h, err)
		}
		prev := sealReadFile(t, dir, segment.Name(n-1))
		if typ := crcframe.Type(prev[h.PrevSeal+20]); typ != crcframe.Seal {
			t.Fatalf("segment %d: frame type %d at the recorded seal offset %d", n-1, typ, h.PrevSeal)
		}
	}
	m, err = readMeta(dir)
	if err != nil || m.clean.seg != 5 {
		t.Fatalf("META after Close: %+v, %v; want a clean-close record in segment 5", m, err)
	}

	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sealRequireRecords(t, l, last)
}

// TestV1SealedSegmentsKeepV1Rules: in a version 1 log, a sealed segment
// has no seal and opens as before (the v1 rules), also after an upgraded
// writer sealed the segments that followed.
func TestV1SealedSegmentsKeepV1Rules(t *testing.T) {
	dir := t.TempDir()
	last := writeV1Log(t, dir, 4, 6)
	for _, p := range []RepairPolicy{Strict, TruncatePartial} {
		l, err := Open(dir, manualOpts(bbSegSize, p))
		if err != nil {
			t.Fatalf("repair policy %d: %v", p, err)
		}
		sealRequireRecords(t, l, last)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoomForMarkAndSeal: MaxRecordSize is at most segment size − 64 − 24 −
// 48 (one frame and the room for a mark and a seal); one byte more is
// refused; records of exactly the maximum fill a segment each, rotate, are
// sealed, and Close puts its mark in the last one without a new segment.
func TestRoomForMarkAndSeal(t *testing.T) {
	const size = segment.MinSize
	const largest = size - segment.HeaderSize - crcframe.HeaderSize - recordRoom
	if _, err := Open(t.TempDir(), &Options{SegmentSize: size, MaxRecordSize: largest + 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("MaxRecordSize %d: %v, want ErrInvalidArgument", largest+1, err)
	}
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentSize: size, MaxRecordSize: largest, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	big := func(seq uint64) []byte { return bytes.Repeat([]byte{byte(seq)}, largest) }
	for seq := uint64(1); seq <= 3; seq++ {
		if got, err := l.Append(big(seq)); err != nil || got != seq {
			t.Fatalf("Append of %d bytes = %d, %v", largest, got, err)
		}
	}
	if _, err := l.Append(make([]byte, largest+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Append of %d bytes: %v", largest+1, err)
	}
	if _, err := l.AppendBatch([][]byte{make([]byte, largest/2), make([]byte, largest/2)}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("a batch of two frames larger than a segment's room: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := listSegments(dir); len(names) != 3 {
		t.Fatalf("%d segments after 3 records of the maximum size and Close, want 3", len(names))
	}
	l, err = Open(dir, &Options{SegmentSize: size, Repair: Strict})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		if got, err := l.Read(seq); err != nil || !bytes.Equal(got, big(seq)) {
			t.Fatalf("Read(%d): %d bytes, %v", seq, len(got), err)
		}
	}
}

// sealFill appends records from LastSeq+1 until the log has rotated n more
// times; it returns LastSeq.
func sealFill(t *testing.T, l *Log, n uint64) uint64 {
	t.Helper()
	stop := l.Stats().Rotations + n
	for l.Stats().Rotations < stop {
		seq := l.LastSeq() + 1
		if got, err := l.Append(sealPayload(seq)); err != nil || got != seq {
			t.Fatalf("Append = %d, %v", got, err)
		}
	}
	return l.LastSeq()
}

// TestTruncateBackIntoSealedSegment: TruncateBack into a sealed segment
// zeroes its seal with the tail (the removed later segments carried the
// record that it must have one); the segment is sealed again at its next
// rotation; at the very end of a sealed segment the seal stays and the next
// rotation reuses it. Each state reopens under Strict.
func TestTruncateBackIntoSealedSegment(t *testing.T) {
	for _, atEnd := range []bool{false, true} {
		dir := t.TempDir()
		l, err := Open(dir, manualOpts(bbSegSize, Strict))
		if err != nil {
			t.Fatal(err)
		}
		sealFill(t, l, 3)
		segs := l.segments()
		cut := segs[0].lastSeq() - 2
		if atEnd {
			cut = segs[0].lastSeq()
		}
		if err := l.TruncateBack(cut); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil { // the mark goes after the cut (or into a new segment)
			t.Fatal(err)
		}
		l, err = Open(dir, manualOpts(bbSegSize, Strict))
		if err != nil {
			t.Fatalf("atEnd %v: reopen after TruncateBack(%d): %v", atEnd, cut, err)
		}
		sealRequireRecords(t, l, cut)
		last := sealFill(t, l, 2)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(dir, manualOpts(bbSegSize, Strict))
		if err != nil {
			t.Fatalf("atEnd %v: reopen after the new rotations: %v", atEnd, err)
		}
		sealRequireRecords(t, l, last)
		l.Close()
	}
}

// TestTruncateFrontRemovesSealedPredecessor: the oldest remaining segment's
// header says its (removed) predecessor was sealed: recovery demands no
// seal of a segment that is gone.
func TestTruncateFrontRemovesSealedPredecessor(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	last := sealFill(t, l, 3)
	front := l.segments()[2].first
	if err := l.TruncateFront(front); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := listSegments(dir)
	if names[0] != 3 {
		t.Fatalf("segments %v after TruncateFront(%d), want 3 first", names, front)
	}
	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.FirstSeq() != front || l.LastSeq() != last {
		t.Fatalf("FirstSeq %d, LastSeq %d; want %d, %d", l.FirstSeq(), l.LastSeq(), front, last)
	}
}

// TestNewestSegmentEndsWithSeal: a crash after rotation sealed a segment,
// before anything entered the next one, leaves the sealed segment newest.
// It opens; the next append goes to a new segment whose header records the
// existing seal (no second seal is written).
func TestNewestSegmentEndsWithSeal(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	sealFill(t, l, 2)
	sealed := l.segments()[1]
	last, seal := sealed.lastSeq(), sealed.seal
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: the newest segment never got a byte (drop it and the
	// clean-close record, which a crashed writer would not have written).
	names, _ := listSegments(dir)
	if err := os.Remove(filepath.Join(dir, segment.Name(names[len(names)-1]))); err != nil {
		t.Fatal(err)
	}
	dropCleanClose(t, dir)

	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	sealRequireRecords(t, l, last)
	if got, err := l.Append(sealPayload(last + 1)); err != nil || got != last+1 {
		t.Fatalf("Append = %d, %v", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := segment.DecodeHeader(sealReadFile(t, dir, segment.Name(sealed.num+1)))
	if err != nil || h.Flags != segment.FlagPrevSealed || int64(h.PrevSeal) != seal {
		t.Fatalf("next header %+v, %v; want prev sealed at %d", h, err, seal)
	}
	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sealRequireRecords(t, l, last+1)
}

// TestCleanCloseRecord: Close records the mark's place in META; a ReadOnly
// open never changes META; a writable Open clears the record before it
// returns (before any write), and Close writes it again.
func TestCleanCloseRecord(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, manualOpts(bbSegSize, Strict))
	sealFill(t, l, 1)
	act, off := l.active, l.off
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := readMeta(dir)
	if err != nil || m.clean != (cleanClose{seg: act.num, off: uint32(off)}) {
		t.Fatalf("META after Close: %+v, %v; want the mark at %s:%d", m, err, act.name, off)
	}
	closed := sealReadFile(t, dir, metaName)
	for range 2 {
		ro := mustOpen(t, dir, &Options{ReadOnly: true})
		ro.Close()
		if !bytes.Equal(sealReadFile(t, dir, metaName), closed) {
			t.Fatal("a ReadOnly open changed META")
		}
	}
	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := readMeta(dir); err != nil || m.clean.seg != 0 || m.version != 2 {
		t.Fatalf("META while a writer has the log open: %+v, %v; want no clean-close record", m, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := readMeta(dir); err != nil || m.clean.seg == 0 {
		t.Fatalf("META after the second Close: %+v, %v", m, err)
	}
}

// TestZeroedSealOrMarkReason: zeroing only the seal of a sealed segment is
// ReasonMissingSeal at the offset the next header records; zeroing only
// the mark after a clean Close is ReasonMissingMark at the recorded place;
// both under both repair policies, and the files are left as they were.
func TestZeroedSealOrMarkReason(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, manualOpts(bbSegSize, Strict))
	sealFill(t, l, 2)
	first, markSeg, markOff := l.segments()[0], l.active, l.off
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		seg    string
		off    int64
		reason Reason
	}{
		{"seal", first.name, first.seal, ReasonMissingSeal},
		{"mark", markSeg.name, markOff, ReasonMissingMark},
	} {
		img := snapshotDir(t, dir)
		clear(img[c.seg][c.off : c.off+crcframe.HeaderSize])
		d := writeImage(t, t.TempDir(), img)
		for _, p := range []RepairPolicy{TruncatePartial, Strict} {
			_, err := Open(d, manualOpts(bbSegSize, p))
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Reason != c.reason || ce.Segment != c.seg || ce.Offset != c.off || !ce.Durable {
				t.Fatalf("%s zeroed, repair policy %d: %v; want %v at %s:%d", c.name, p, err, c.reason, c.seg, c.off)
			}
			if e := sameFiles(t, d, img); e != nil {
				t.Fatalf("%s zeroed, repair policy %d: the refused log was modified: %v", c.name, p, e)
			}
		}
	}
}

// TestRotateBeforeAnyRecord: the first record of a log too large for its
// first segment (made under a smaller SegmentSize) rotates while LastSeq is
// 0: no seal is written (a frame of sequence 0 is never valid, and there is
// nothing to lose), the next header claims none, and the log reopens. The
// SIGKILL test found the seal of sequence 0 that an earlier version wrote.
func TestRotateBeforeAnyRecord(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	big := &Options{SegmentSize: 4 * segment.MinSize, Durability: SyncManual, Repair: Strict}
	l, err = Open(dir, big)
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.Repeat([]byte{7}, 2*segment.MinSize)
	if seq, err := l.Append(rec); err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v", seq, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := segment.DecodeHeader(sealReadFile(t, dir, segment.Name(2)))
	if err != nil || h.Flags != 0 {
		t.Fatalf("segment 2 header %+v, %v; want no prev sealed flag", h, err)
	}
	l, err = Open(dir, big)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, err := l.Read(1); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("Read(1): %d bytes, %v", len(got), err)
	}
}

// TestV1CloseWithoutWritesStaysV1: a version 1 log, left by a crash with
// free bytes free after its last record, is opened and closed without a
// write. Close's mark is placed the version 1 way: with no room kept for a
// seal, and after a version 1 rotation (a new v1 segment holding only the
// mark) when it does not fit. META stays version 1 byte for byte, every
// header version 1, the reopen finds a clean Close; the first write then
// upgrades as usual.
func TestV1CloseWithoutWritesStaysV1(t *testing.T) {
	for _, free := range []int64{0, 16, 24, 32, 48} {
		t.Run(fmt.Sprintf("free=%d", free), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, metaName), (meta{version: 1, logID: sealTestLogID}).encode(), 0o644); err != nil {
				t.Fatal(err)
			}
			img := make([]byte, segment.MinSize)
			segment.EncodeHeader(img, segment.Header{Version: 1, LogID: sealTestLogID, Number: 1, FirstSeq: 1, Size: segment.MinSize})
			want := bbPayloadN(1, int(segment.MinSize-segment.HeaderSize-crcframe.HeaderSize-free))
			if _, err := crcframe.Encode(img[segment.HeaderSize:], crcframe.Seed(sealTestLogID, 1), crcframe.Header{Seq: 1, Durable: segment.HeaderSize, Type: crcframe.Full}, want); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, segment.Name(1)), img, 0o644); err != nil {
				t.Fatal(err)
			}
			v1Meta := sealReadFile(t, dir, metaName)
			o := manualOpts(bbSegSize, TruncatePartial)
			l := mustOpen(t, dir, o)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := sealReadFile(t, dir, metaName); !bytes.Equal(got, v1Meta) {
				t.Fatalf("META changed by an Open and Close without writes: %x", got)
			}
			nums, err := listSegments(dir)
			if err != nil {
				t.Fatal(err)
			}
			if wantSegs := map[bool]int{true: 2, false: 1}[free < markSize]; len(nums) != wantSegs {
				t.Fatalf("%d segments, want %d", len(nums), wantSegs)
			}
			for _, num := range nums {
				h, err := segment.ReadHeader(filepath.Join(dir, segment.Name(num)))
				if err != nil || h.Version != 1 || h.Flags != 0 {
					t.Fatalf("segment %d: header %+v, %v; want version 1, no flags", num, h, err)
				}
			}
			l, err = Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if rep := l.Recovery(); !rep.Clean || rep.LastSeq != 1 {
				t.Fatalf("reopen: %+v, want a clean Close at LastSeq 1", rep)
			}
			if got, err := l.Read(1); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read(1): %d bytes, %v", len(got), err)
			}
			if _, err := l.Append(sealPayload(2)); err != nil { // upgrades, rotates as needed
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = Open(dir, manualOpts(bbSegSize, Strict))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got, err := l.Read(2); err != nil || !bytes.Equal(got, sealPayload(2)) || l.meta.version != metaVersion {
				t.Fatalf("after a write: Read(2) %d bytes, %v; META version %d", len(got), err, l.meta.version)
			}
		})
	}
}
