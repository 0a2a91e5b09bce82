package segment_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// decodeHeaderV1 is the header check of format version 1 exactly as the
// released v1 code wrote it (segment/header.go before version 2): it is
// what a v1 binary runs on every segment header it opens. Kept here so that
// the promise "a v1 binary answers unsupported version, never corruption,
// on a v2 log" is checked against the code that was released, not against
// a paraphrase.
func decodeHeaderV1(b []byte) error {
	if len(b) < segment.HeaderSize {
		return crcframe.IncompleteHeader
	}
	if [8]byte(b[:8]) != [8]byte{'m', 'm', 'a', 'p', 'w', 'a', 'l', 0} {
		return crcframe.BadMagic
	}
	if binary.LittleEndian.Uint32(b[60:]) != crcframe.Checksum(0, b[:60]) {
		return crcframe.HeaderChecksumMismatch
	}
	if binary.LittleEndian.Uint16(b[8:]) != 1 || binary.LittleEndian.Uint16(b[10:]) != segment.HeaderSize ||
		binary.LittleEndian.Uint32(b[12:]) != 0 || binary.LittleEndian.Uint32(b[56:]) != 0 {
		return crcframe.UnsupportedVersion
	}
	return nil
}

// v2Header is a version 2 header of the test segment that follows a
// sealed segment whose seal frame is at 4072.
func v2Header(size int64) segment.Header {
	h := testHeader(size)
	h.Version, h.Flags, h.PrevSeal = 2, segment.FlagPrevSealed, 4072
	return h
}

// TestHeaderV2RoundTrip: every version 2 header a writer produces (prepared,
// activated without a seal before it, activated after a seal) decodes to
// itself, and the v1 rules refuse each as an unsupported version.
func TestHeaderV2RoundTrip(t *testing.T) {
	prepared := testHeader(8192)
	prepared.Version, prepared.FirstSeq = 2, 0
	noSeal := testHeader(8192)
	noSeal.Version = 2
	for _, h := range []segment.Header{prepared, noSeal, v2Header(8192)} {
		b := make([]byte, segment.HeaderSize)
		segment.EncodeHeader(b, h)
		got, err := segment.DecodeHeader(b)
		requireNoErr(t, err, "DecodeHeader")
		if got != h {
			t.Fatalf("DecodeHeader = %+v, want %+v", got, h)
		}
		requireReason(t, decodeHeaderV1(b), crcframe.UnsupportedVersion)
	}
	// And the v1 rules still accept what a version 1 header is.
	v1 := make([]byte, segment.HeaderSize)
	segment.EncodeHeader(v1, testHeader(8192))
	requireNoErr(t, decodeHeaderV1(v1), "v1 rules on a v1 header")
}

// TestHeaderV2Refusals: well-formed version 2 headers (CRC valid) with bits
// this version does not implement, or a prev seal that contradicts the
// flags, are unsupported; never repaired.
func TestHeaderV2Refusals(t *testing.T) {
	cases := []struct {
		name     string
		flags    uint32
		prevSeal uint32
	}{
		{"reset", segment.FlagReset, 0},
		{"live-reader", segment.FlagLiveReader, 0},
		{"bit-31", 1 << 31, 0},
		{"recycled-offset-without-seal", segment.FlagRecycled, 4072},
		{"seal-offset-without-flag", 0, 4072},
		{"sealed-offset-0", segment.FlagPrevSealed, 0},
		{"sealed-offset-in-header", segment.FlagPrevSealed, 56},
		{"sealed-offset-unaligned", segment.FlagPrevSealed, 4073},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := make([]byte, segment.HeaderSize)
			segment.EncodeHeader(b, v2Header(8192))
			binary.LittleEndian.PutUint32(b[12:], c.flags)
			binary.LittleEndian.PutUint32(b[56:], c.prevSeal)
			resealHeader(b)
			h, err := segment.DecodeHeader(b)
			requireReason(t, err, crcframe.UnsupportedVersion)
			if h != (segment.Header{}) {
				t.Fatalf("a refused header decoded to %+v", h)
			}
		})
	}
}

// TestActivateAfterSeal: activation rewrites a prepared header as version 2
// with the seal's offset, or without the flag when there was no seal.
func TestActivateAfterSeal(t *testing.T) {
	f := createSegment(t, segment.MinSize)
	f.ActivateAfterSeal(42, 4000)
	h, err := segment.DecodeHeader(f.Data())
	requireNoErr(t, err, "DecodeHeader")
	want := testHeader(segment.MinSize)
	want.Version, want.Flags, want.PrevSeal, want.FirstSeq = 2, segment.FlagPrevSealed, 4000, 42
	if h != want || f.Header() != want {
		t.Fatalf("after ActivateAfterSeal: %+v (File says %+v), want %+v", h, f.Header(), want)
	}
	f.ActivateAfterSeal(43, 0)
	want.Flags, want.PrevSeal, want.FirstSeq = 0, 0, 43
	if h, _ := segment.DecodeHeader(f.Data()); h != want {
		t.Fatalf("after ActivateAfterSeal without a seal: %+v, want %+v", h, want)
	}
}

// goldenV2Sealed describes testdata/v2-sealed.wal: an 8192-byte version 2
// segment of the log 0x01…0x10, number 3, first seq 10, whose header says
// the previous segment's seal is at 4072, holding
//
//   - full record 10 ("first record", durable 0);
//   - a batch first/last 11, 12 (durable 104: record 10 was synced);
//   - the mark of a Close (seq 12, durable 184 = its offset);
//   - full record 13 appended after a reopen (durable 208);
//   - the seal a rotation writes (seq 13, durable 248: everything before
//     it had been synced);
//
// then zeros to the end.
var goldenV2Sealed = []goldenFrame{
	{64, rec(crcframe.Full, 10, 0, "first record")},
	{104, rec(crcframe.First, 11, 104, "batch one")},
	{144, rec(crcframe.Last, 12, 104, "batch two")},
	{184, rec(crcframe.Mark, 12, 184, "")},
	{208, rec(crcframe.Full, 13, 208, "after reopen")},
	{248, rec(crcframe.Seal, 13, 248, "")},
}

const (
	goldenV2SealedPath = "testdata/v2-sealed.wal"
	goldenV2SealedEnd  = 272 // where the seal ends
)

// TestGoldenV2Sealed locks the version 2 segment format: the header with
// FlagPrevSealed and the seal frame. Never regenerate it once version 2 is
// released.
func TestGoldenV2Sealed(t *testing.T) {
	hdr := v2Header(8192)
	frames := make([]frame, len(goldenV2Sealed))
	for i, g := range goldenV2Sealed {
		frames[i] = g.frame
	}
	want, offs, end := segImage(t, hdr, frames)
	for i, g := range goldenV2Sealed {
		if offs[i] != g.off {
			t.Fatalf("frame %d encoded at %d, the table says %d", i, offs[i], g.off)
		}
	}
	if end != goldenV2SealedEnd {
		t.Fatalf("frames end at %d, want %d", end, goldenV2SealedEnd)
	}
	if *update {
		requireNoErr(t, os.WriteFile(goldenV2SealedPath, want, 0o644), "write golden")
	}
	got, err := os.ReadFile(goldenV2SealedPath)
	requireNoErr(t, err, "read golden")
	if !bytes.Equal(got, want) {
		t.Fatalf("the encoders differ from %s", goldenV2SealedPath)
	}
	if h, err := segment.DecodeHeader(got); err != nil || h != hdr {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", h, err, hdr)
	}
	requireReason(t, decodeHeaderV1(got), crcframe.UnsupportedVersion)
	f := openImage(t, got)
	e, seen := scan(f, testPrevSeq, crcframe.MaxPayload)
	requireEnd(t, e, segment.End{Offset: goldenV2SealedEnd, Records: 4, LastSeq: 13, Durable: 248, Sealed: true,
		Reason: crcframe.CleanEnd, Bad: goldenV2SealedEnd, Dirty: goldenV2SealedEnd})
	// Records only: the mark and the seal are not visited.
	requireVisited(t, seen, []frame{frames[0], frames[1], frames[2], frames[4]}, []int64{64, 104, 144, 208})
}

// goldenV2Recycled describes testdata/v2-recycled.wal: an 8192-byte
// version 2 segment of the log 0x01…0x10, number 3, first seq 10, with the
// flags recycled and prev sealed (the previous segment's seal at 4072),
// reusing the file of segment 2 of the same log (FORMAT.md §9.7). The file
// first held, as segment 2, full records 1… of 38-byte payloads (64-byte frames) from 64 to
// the end (stale frames, seeded with number 2); over them it holds
//
//   - full record 10 ("first record", durable 0);
//   - a batch first/last 11, 12 (durable 104);
//   - the mark of a Close (seq 12, durable 184 = its offset);
//
// then the zero frame header the writer keeps after its last frame (at
// 208), then the stale bytes of segment 2 to the end.
var goldenV2Recycled = []goldenFrame{
	{64, rec(crcframe.Full, 10, 0, "first record")},
	{104, rec(crcframe.First, 11, 104, "batch one")},
	{144, rec(crcframe.Last, 12, 104, "batch two")},
	{184, rec(crcframe.Mark, 12, 184, "")},
}

const (
	goldenV2RecycledPath = "testdata/v2-recycled.wal"
	goldenV2RecycledEnd  = 208 // where the mark ends
)

// goldenRecycledImage builds testdata/v2-recycled.wal from the table.
func goldenRecycledImage(tb testing.TB) ([]byte, segment.Header, []frame, []int64) {
	old := testHeader(8192)
	old.Number = testNumber - 1
	var stale []frame
	for i := range (8192 - segment.HeaderSize) / 64 {
		stale = append(stale, rec(crcframe.Full, uint64(1+i), 0, "stale record of segment 2, 40 bytes..."))
	}
	img, _, _ := segImage(tb, old, stale)
	hdr := v2Header(8192)
	hdr.Flags |= segment.FlagRecycled
	frames := make([]frame, len(goldenV2Recycled))
	for i, g := range goldenV2Recycled {
		frames[i] = g.frame
	}
	fresh, offs, end := segImage(tb, hdr, frames)
	if end != goldenV2RecycledEnd {
		tb.Fatalf("frames end at %d, want %d", end, goldenV2RecycledEnd)
	}
	copy(img, fresh[:end])
	clear(img[end : end+crcframe.HeaderSize])
	return img, hdr, frames, offs
}

// TestGoldenV2Recycled locks the recycled segment (FORMAT.md §9.7): the
// header flag, the zero frame header after the frames, and that the stale
// frames behind it end the segment cleanly. Never regenerate it once the
// format is released.
func TestGoldenV2Recycled(t *testing.T) {
	want, hdr, frames, offs := goldenRecycledImage(t)
	for i, g := range goldenV2Recycled {
		if offs[i] != g.off {
			t.Fatalf("frame %d encoded at %d, the table says %d", i, offs[i], g.off)
		}
	}
	if *update {
		requireNoErr(t, os.WriteFile(goldenV2RecycledPath, want, 0o644), "write golden")
	}
	got, err := os.ReadFile(goldenV2RecycledPath)
	requireNoErr(t, err, "read golden")
	if !bytes.Equal(got, want) {
		t.Fatalf("the encoders differ from %s", goldenV2RecycledPath)
	}
	if h, err := segment.DecodeHeader(got); err != nil || h != hdr {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", h, err, hdr)
	}
	if crcframe.IsZero(got[goldenV2RecycledEnd+crcframe.HeaderSize:]) {
		t.Fatal("no stale bytes after the zero header")
	}
	requireReason(t, decodeHeaderV1(got), crcframe.UnsupportedVersion)
	f := openImage(t, got)
	if !f.Recycled() {
		t.Fatal("Recycled() = false")
	}
	e, seen := scan(f, testPrevSeq, crcframe.MaxPayload)
	requireEnd(t, e, segment.End{Offset: goldenV2RecycledEnd, Records: 3, LastSeq: 12, Durable: 184, Marked: true,
		Reason: crcframe.CleanEnd, Bad: goldenV2RecycledEnd, Dirty: goldenV2RecycledEnd})
	requireVisited(t, seen, frames[:3], offs[:3])
	// The same bytes under a header without the flag: the stale frames
	// after the end are garbage after a fresh segment's end.
	plain := bytes.Clone(got)
	binary.LittleEndian.PutUint32(plain[12:], segment.FlagPrevSealed)
	resealHeader(plain)
	if e, _ := scan(openImage(t, plain), testPrevSeq, crcframe.MaxPayload); e.Reason != crcframe.GarbageAfterEnd {
		t.Fatalf("without the flag: %v, want garbage after end", e.Reason)
	}
}
