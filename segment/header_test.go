package segment_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestEncodeHeaderLayout pins every field of the version 1 header to the
// offsets FORMAT.md §2 gives.
func TestEncodeHeaderLayout(t *testing.T) {
	h := segment.Header{Version: 1, LogID: testLogID, Number: 0x0102030405060708, FirstSeq: 0x1112131415161718, Size: 1 << 20}
	b := bytes.Repeat([]byte{0xee}, segment.HeaderSize+8)
	segment.EncodeHeader(b, h)
	want := make([]byte, segment.HeaderSize)
	copy(want, "mmapwal\x00")
	binary.LittleEndian.PutUint16(want[8:], 1)
	binary.LittleEndian.PutUint16(want[10:], 64)
	copy(want[16:], testLogID[:])
	binary.LittleEndian.PutUint64(want[32:], h.Number)
	binary.LittleEndian.PutUint64(want[40:], h.FirstSeq)
	binary.LittleEndian.PutUint64(want[48:], 1<<20)
	binary.LittleEndian.PutUint32(want[60:], crcframe.Checksum(0, want[:60]))
	if !bytes.Equal(b[:segment.HeaderSize], want) {
		t.Fatalf("EncodeHeader =\n% x\nwant\n% x", b[:segment.HeaderSize], want)
	}
	if !bytes.Equal(b[segment.HeaderSize:], bytes.Repeat([]byte{0xee}, 8)) {
		t.Fatal("EncodeHeader wrote past the header")
	}
	if got, err := segment.DecodeHeader(b); err != nil || got != h {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", got, err, h)
	}
}

// TestDecodeHeaderTable mutates a valid header per case: flips (caught by
// the CRC), and well-formed headers (CRC recomputed) that version 1 must
// refuse as unsupported rather than repair.
func TestDecodeHeaderTable(t *testing.T) {
	valid := make([]byte, segment.HeaderSize)
	segment.EncodeHeader(valid, testHeader(8192))
	u16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
	}
	u32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	u64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	cases := []struct {
		name   string
		mutate func([]byte)
		reseal bool
		want   crcframe.Reason // 0: decodes
	}{
		{"valid", func([]byte) {}, false, 0},
		{"first-seq-0", u64(40, 0), true, 0},
		{"max-size", u64(48, segment.MaxSize), true, 0},
		{"magic", func(b []byte) { b[7] = '!' }, false, crcframe.BadMagic},
		{"magic-resealed", func(b []byte) { b[0] = 'M' }, true, crcframe.BadMagic},
		{"zero", func(b []byte) { clear(b) }, false, crcframe.BadMagic},
		{"flip-version", func(b []byte) { b[8] ^= 2 }, false, crcframe.HeaderChecksumMismatch},
		{"flip-log-id", func(b []byte) { b[20] ^= 1 }, false, crcframe.HeaderChecksumMismatch},
		{"flip-number", func(b []byte) { b[32] ^= 1 }, false, crcframe.HeaderChecksumMismatch},
		{"flip-size", func(b []byte) { b[49] ^= 1 }, false, crcframe.HeaderChecksumMismatch},
		{"flip-crc", func(b []byte) { b[63] ^= 0x80 }, false, crcframe.HeaderChecksumMismatch},
		{"version-2", u16(8, 2), true, 0},
		{"version-3", u16(8, 3), true, crcframe.UnsupportedVersion},
		{"version-0", u16(8, 0), true, crcframe.UnsupportedVersion},
		{"hdrsize-128", u16(10, 128), true, crcframe.UnsupportedVersion},
		{"flags", u32(12, 1<<31), true, crcframe.UnsupportedVersion},
		{"reserved", u32(56, 1), true, crcframe.UnsupportedVersion},
		{"number-0", u64(32, 0), true, crcframe.UnsupportedVersion},
		{"size-small", u64(48, segment.MinSize-8), true, crcframe.UnsupportedVersion},
		{"size-large", u64(48, segment.MaxSize+8), true, crcframe.UnsupportedVersion},
		{"size-negative", u64(48, 1<<63), true, crcframe.UnsupportedVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(valid)
			c.mutate(b)
			if c.reseal {
				resealHeader(b)
			}
			h, err := segment.DecodeHeader(b)
			if c.want == 0 {
				requireNoErr(t, err, "DecodeHeader")
				var again [segment.HeaderSize]byte
				segment.EncodeHeader(again[:], h)
				if !bytes.Equal(again[:], b) {
					t.Fatalf("%+v does not re-encode to its bytes", h)
				}
				return
			}
			requireReason(t, err, c.want)
			if h != (segment.Header{}) {
				t.Fatalf("on error got header %+v", h)
			}
		})
	}
	for n := range segment.HeaderSize {
		if _, err := segment.DecodeHeader(valid[:n]); err != crcframe.IncompleteHeader {
			t.Fatalf("DecodeHeader of %d bytes: %v, want IncompleteHeader", n, err)
		}
	}
}

// TestScanRules checks the sequence and batch rules of FORMAT.md §3 and §5
// one frame pattern at a time (in memory images; the corpus holds one file
// per reason). Offsets: frames of a 1-byte payload take 32 bytes, so the
// k-th frame starts at 64+32k.
func TestScanRules(t *testing.T) {
	r := func(ty crcframe.Type, seq uint64) frame { return rec(ty, seq, 0, "x") }
	F, B, M, L, P, K := crcframe.Full, crcframe.First, crcframe.Middle, crcframe.Last, crcframe.Pad, crcframe.Mark
	cases := []struct {
		name    string
		prev    uint64
		frames  []frame
		bad     int64 // index of the first invalid frame, or -1 when all are valid
		reason  crcframe.Reason
		records int
		lastSeq uint64
		marked  bool
		batch   int64 // index of an unfinished batch's first frame, or -1
	}{
		{"full", 9, []frame{r(F, 10), r(F, 11)}, -1, crcframe.CleanEnd, 2, 11, false, -1},
		{"gap", 9, []frame{r(F, 10), r(F, 20)}, -1, crcframe.CleanEnd, 2, 20, false, -1},
		{"prev-equal", 10, []frame{r(F, 10)}, 0, crcframe.SequenceViolation, 0, 10, false, -1},
		{"decreasing", 9, []frame{r(F, 11), r(F, 10)}, 1, crcframe.SequenceViolation, 1, 11, false, -1},
		{"batch", 9, []frame{r(B, 10), r(M, 11), r(M, 12), r(L, 13), r(F, 14)}, -1, crcframe.CleanEnd, 5, 14, false, -1},
		{"batch-of-two", 9, []frame{r(B, 10), r(L, 11)}, -1, crcframe.CleanEnd, 2, 11, false, -1},
		{"batch-last-gap", 9, []frame{r(B, 10), r(L, 12)}, 1, crcframe.SequenceViolation, 0, 9, false, 0},
		{"batch-repeat", 9, []frame{r(B, 10), r(M, 10)}, 1, crcframe.SequenceViolation, 0, 9, false, 0},
		{"middle-alone", 9, []frame{r(F, 10), r(M, 11)}, 1, crcframe.SequenceViolation, 1, 10, false, -1},
		{"last-alone", 9, []frame{r(L, 10)}, 0, crcframe.SequenceViolation, 0, 9, false, -1},
		{"first-in-batch", 9, []frame{r(B, 10), r(B, 11)}, 1, crcframe.SequenceViolation, 0, 9, false, 0},
		{"full-in-batch", 9, []frame{r(F, 9+1), r(B, 11), r(F, 12)}, 2, crcframe.SequenceViolation, 1, 10, false, 1},
		{"pad-in-batch", 9, []frame{r(B, 10), r(P, 10)}, 1, crcframe.SequenceViolation, 0, 9, false, 0},
		{"mark-in-batch", 9, []frame{r(B, 10), r(K, 10)}, 1, crcframe.SequenceViolation, 0, 9, false, 0},
		{"unfinished-batch", 9, []frame{r(F, 10), r(B, 11), r(M, 12)}, -1, crcframe.CleanEnd, 1, 10, false, 1},
		{"unfinished-after-mark", 9, []frame{r(F, 10), r(K, 10), r(B, 11)}, -1, crcframe.CleanEnd, 1, 10, false, 2},
		{"pad", 9, []frame{r(F, 10), r(P, 10), r(F, 11)}, -1, crcframe.CleanEnd, 2, 11, false, -1},
		{"pad-first", 9, []frame{r(P, 9), r(F, 10)}, -1, crcframe.CleanEnd, 1, 10, false, -1},
		{"pad-wrong-seq", 9, []frame{r(F, 10), r(P, 11)}, 1, crcframe.SequenceViolation, 1, 10, false, -1},
		{"pad-old-seq", 9, []frame{r(F, 10), r(P, 9)}, 1, crcframe.SequenceViolation, 1, 10, false, -1},
		{"mark", 9, []frame{r(F, 10), r(K, 10)}, -1, crcframe.CleanEnd, 1, 10, true, -1},
		{"mark-raised", 9, []frame{r(F, 10), r(K, 15)}, -1, crcframe.CleanEnd, 1, 15, true, -1},
		{"mark-only", 9, []frame{r(K, 9)}, -1, crcframe.CleanEnd, 0, 9, true, -1},
		{"mark-low", 9, []frame{r(F, 10), r(K, 9)}, 1, crcframe.SequenceViolation, 1, 10, false, -1},
		{"record-after-mark", 9, []frame{r(F, 10), r(K, 10), r(F, 11)}, -1, crcframe.CleanEnd, 2, 11, false, -1},
		{"record-at-mark-seq", 9, []frame{r(F, 10), r(K, 12), r(F, 12)}, 2, crcframe.SequenceViolation, 1, 12, true, -1},
		{"type-0", 9, []frame{r(F, 10), r(0, 11)}, 1, crcframe.UnknownType, 1, 10, false, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, offs, end := segImage(t, testHeader(segment.MinSize), c.frames)
			f := openImage(t, img)
			e, seen := scan(f, c.prev, 1024)
			bad := end
			if c.bad >= 0 {
				bad = offs[c.bad]
			}
			want := segment.End{Records: c.records, LastSeq: c.lastSeq, Marked: c.marked, Reason: c.reason, Bad: bad, Dirty: end}
			want.Offset = bad
			if c.batch >= 0 {
				want.OpenBatch = offs[c.batch]
				want.Offset = offs[c.batch]
			}
			e.Durable = 0 // every frame claims 0
			requireEnd(t, e, want)
			if e.Clean() != (c.reason == crcframe.CleanEnd && c.batch < 0) {
				t.Fatalf("Clean() = %v", e.Clean())
			}
			if len(seen) != c.records {
				t.Fatalf("visited %d records, want %d (only the prefix's)", len(seen), c.records)
			}
		})
	}
}

// TestScanFullSegment: frames that fill the segment to its last byte end
// cleanly at the segment's size.
func TestScanFullSegment(t *testing.T) {
	room := segment.MinSize - segment.HeaderSize - 2*crcframe.HeaderSize // two frames, the second fills the segment
	frames := []frame{rec(crcframe.Full, 10, 0, ""), {crcframe.Header{Seq: 11, Type: crcframe.Full}, pattern(room)}}
	img, offs, end := segImage(t, testHeader(segment.MinSize), frames)
	if end != segment.MinSize {
		t.Fatalf("frames end at %d", end)
	}
	e, seen := scan(openImage(t, img), testPrevSeq, segment.MinSize)
	requireEnd(t, e, segment.End{Offset: end, Records: 2, LastSeq: 11, Reason: crcframe.CleanEnd, Bad: end, Dirty: end})
	requireVisited(t, seen, frames, offs)
}

// TestScanForeignFrames: frames checksummed for another segment number, or
// for another log, never validate in this one (FORMAT.md §6).
func TestScanForeignFrames(t *testing.T) {
	for _, h := range []segment.Header{
		{LogID: testLogID, Number: testNumber - 1, FirstSeq: testFirstSeq, Size: segment.MinSize},
		{LogID: otherLogID, Number: testNumber, FirstSeq: testFirstSeq, Size: segment.MinSize},
	} {
		img, _, _ := segImage(t, h, base3())
		segment.EncodeHeader(img, testHeader(segment.MinSize)) // relabel the file as ours
		e, seen := scan(openImage(t, img), testPrevSeq, segment.MinSize)
		if e.Reason != crcframe.ChecksumMismatch || e.Offset != segment.HeaderSize || e.ValidAfter || len(seen) != 0 {
			t.Fatalf("frames of log %x segment %d: End %+v, %d visits", h.LogID[0], h.Number, e, len(seen))
		}
	}
}

// TestScanEvidence checks the read-ahead that tells a torn tail from
// corruption (FORMAT.md §5): a damaged record 11 at 112 followed by frames
// whose durable watermarks are above, equal to, or below 112, by stray
// bytes, or by nothing.
func TestScanEvidence(t *testing.T) {
	const bad = 112
	cases := []struct {
		name   string
		after  []frame // frames after the damaged record 11 (at 160 on)
		stray  int64   // a non-zero byte here, if > 0
		valid  bool
		dAfter uint32
	}{
		{"nothing", nil, 0, false, 0},
		{"stray-bytes", nil, 3000, false, 0},
		{"above", []frame{rec(crcframe.Full, 12, 160, "record 12 payload")}, 0, true, 160},
		{"equal", []frame{rec(crcframe.Full, 12, bad, "record 12 payload")}, 0, true, bad},
		{"below", []frame{rec(crcframe.Full, 12, 64, "record 12 payload")}, 0, true, 64},
		{"no-claim", []frame{rec(crcframe.Full, 12, 0, "record 12 payload")}, 0, true, 0},
		{"highest-wins", []frame{rec(crcframe.Full, 12, 64, "record 12 payload"), rec(crcframe.Full, 13, 160, "record 13 payload"), rec(crcframe.Full, 14, 100, "record 14 payload")}, 0, true, 160},
		// The read-ahead judges frames on their own: a valid frame proves
		// durability even out of sequence.
		{"out-of-sequence", []frame{rec(crcframe.Full, 5, 208, "record 05 payload")}, 0, true, 208},
		{"mark", []frame{rec(crcframe.Full, 12, 160, "record 12 payload"), rec(crcframe.Mark, 12, 208, "")}, 2000, true, 208},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frames := append(base3()[:2], c.after...)
			img, _, end := segImage(t, testHeader(segment.MinSize), frames)
			img[bad+30] ^= 0x04 // damage record 11's payload
			dirty := end
			if c.stray > 0 {
				img[c.stray] = 0x11
				dirty = c.stray + 8
			}
			e, _ := scan(openImage(t, img), testPrevSeq, segment.MinSize)
			requireEnd(t, e, segment.End{Offset: bad, Records: 1, LastSeq: 10, Reason: crcframe.ChecksumMismatch, Bad: bad,
				ValidAfter: c.valid, DurableAfter: c.dAfter, Dirty: dirty})
			if e.ProvenDurable() != (c.valid && c.dAfter > bad) {
				t.Fatalf("ProvenDurable() = %v", e.ProvenDurable())
			}
		})
	}
}

// TestScanReadAheadRandomPayloads damages the first record of a 32 MiB
// segment full of random 128-byte records (compressed or encrypted data
// looks like this) and scans it with the engine's default record bound of
// 16 MiB. The read-ahead looks for a valid frame at every 8-byte offset
// after the damage; random bytes there claim lengths of up to 16 MiB, and
// checksumming each claim made this scan take minutes. The bound below is
// generous (the scan takes milliseconds) so that it only catches that.
func TestScanReadAheadRandomPayloads(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 32 MiB segment")
	}
	f := createSegment(t, 32<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, 128)
	off, seq := int64(segment.HeaderSize), uint64(0)
	for f.Fits(off, len(payload)) {
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		seq++
		n, err := f.WriteFrame(off, crcframe.Header{Seq: seq, Durable: uint32(off), Type: crcframe.Full}, payload)
		requireNoErr(t, err, "WriteFrame")
		off += int64(n)
	}
	f.Data()[segment.HeaderSize+crcframe.HeaderSize] ^= 1
	start := time.Now()
	e := f.Scan(0, 16<<20, func(int64, crcframe.Header, []byte) {})
	took := time.Since(start)
	t.Logf("scan of %d records after damage at the first: %v", seq, took)
	requireEnd(t, e, segment.End{Offset: segment.HeaderSize, Reason: crcframe.ChecksumMismatch, Bad: segment.HeaderSize,
		ValidAfter: true, DurableAfter: uint32(off - 152), Dirty: off})
	if took > 10*time.Second {
		t.Fatalf("the read-ahead over %d MiB took %v", f.Size()>>20, took)
	}
}
