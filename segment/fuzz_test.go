package segment_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// The fuzzed segment: 4096 bytes of the test log, scanned after record 9
// with a bound below the segment size, so both kinds of length bound are
// reachable.
const (
	fuzzSize       = segment.MinSize
	fuzzMaxPayload = 2048
)

// FuzzScan opens arbitrary bytes as the frames of a segment: the input is
// copied after a valid header and zero-padded or cut to 4096 bytes. Scan
// never panics, and everything it reports is re-derived from the bytes
// independently (see checkScan). Seeded from the golden segment, the scan
// corpus and encoded frame sequences, so the fuzzer starts from inputs
// whose checksums hold.
func FuzzScan(f *testing.F) {
	// A seed is the frames of an image without its trailing zeros, which
	// the zero padding restores: short inputs keep the fuzzer's
	// minimization of new inputs (up to a minute each) short.
	addBody := func(img []byte) {
		body := img[segment.HeaderSize:min(len(img), fuzzSize)]
		f.Add(bytes.Clone(bytes.TrimRight(body, "\x00")))
	}
	golden, err := os.ReadFile(goldenV1SmallPath)
	requireNoErr(f, err, "read golden")
	addBody(golden)
	corpus, err := filepath.Glob(filepath.Join(corpusDir, "scan-*.wal"))
	requireNoErr(f, err, "glob corpus")
	for _, path := range corpus {
		img, err := os.ReadFile(path)
		requireNoErr(f, err, "read corpus")
		addBody(img)
	}
	r := func(ty crcframe.Type, seq uint64, durable uint32, n int) frame {
		return frame{crcframe.Header{Seq: seq, Durable: durable, Type: ty}, pattern(n)}
	}
	for _, frames := range [][]frame{
		base3(),
		{r(crcframe.Full, 10, 0, 0), r(crcframe.First, 11, 88, 7), r(crcframe.Middle, 12, 88, 8), r(crcframe.Last, 13, 88, 9), r(crcframe.Mark, 13, 224, 0)},
		{r(crcframe.Full, 10, 0, 100), r(crcframe.First, 11, 64, 100)},
		{r(crcframe.Pad, 9, 0, 40), r(crcframe.Full, 10, 0, 1), r(crcframe.Mark, 12, 0, 0), r(crcframe.Full, 13, 0, 2000)},
		{r(crcframe.Full, 10, 0, fuzzMaxPayload)},
		{r(crcframe.Full, 10, 0, 3), r(crcframe.Seal, 10, 96, 0)},
		{r(crcframe.Full, 10, 0, 3), r(crcframe.Seal, 10, 96, 0), r(crcframe.Full, 11, 0, 3)},
		{r(crcframe.Full, 10, 0, 8), r(crcframe.Full, 11, 0, fuzzMaxPayload+1)},
	} {
		img, _, _ := segImage(f, testHeader(fuzzSize), frames)
		addBody(img)
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))

	seg := createSegment(f, fuzzSize)
	f.Fuzz(func(t *testing.T, body []byte) {
		data := seg.Data()
		clear(data[segment.HeaderSize:])
		copy(data[segment.HeaderSize:], body)
		e, seen := scan(seg, testPrevSeq, fuzzMaxPayload)
		checkScan(t, data, seg.Seed(), e, seen)
	})
}

// checkScan re-derives a Scan result from the segment image data:
//
//   - Offset and Bad are frame boundaries with HeaderSize ≤ Offset ≤ Bad ≤
//     size; they differ exactly when a batch is left open, at Offset;
//   - the frames from HeaderSize to Offset all decode, follow the sequence
//     and batch rules, and tile [HeaderSize, Offset) exactly; the visit
//     func saw exactly their records, and Records, LastSeq, Durable and
//     Marked are theirs;
//   - Reason is what Decode says at Bad (a sequence rule for a frame that
//     decodes), CleanEnd only for an all-zero rest, GarbageAfterEnd for a
//     zero header followed by other bytes;
//   - Dirty is the end of the last non-zero byte from Bad, rounded to 8,
//     and ValidAfter and DurableAfter describe the frames that decode at
//     the 8-byte offsets after Bad.
func checkScan(t *testing.T, data []byte, seed uint32, e segment.End, seen []visited) {
	t.Helper()
	size := int64(len(data))
	if e.Offset < segment.HeaderSize || e.Offset > e.Bad || e.Bad > size || e.Offset%8 != 0 || e.Bad%8 != 0 {
		t.Fatalf("bounds: %+v", e)
	}
	if (e.OpenBatch != 0) != (e.Bad != e.Offset) || (e.OpenBatch != 0 && e.OpenBatch != e.Offset) {
		t.Fatalf("OpenBatch %d with Offset %d and Bad %d", e.OpenBatch, e.Offset, e.Bad)
	}

	// The prefix, and then the unfinished batch up to Bad; prefix is the
	// model's state at Offset.
	m := seqModel{prev: testPrevSeq, lastSeq: testPrevSeq}
	prefix := m
	var records []visited
	off := int64(segment.HeaderSize)
	for off < e.Bad {
		if off == e.Offset {
			prefix = m
		}
		h, p, n, err := crcframe.Decode(data[off:], seed, fuzzMaxPayload)
		if err != nil || !m.follows(h) || badSeal(h, p) {
			t.Fatalf("frame at %d, before Bad %d: %+v, %v", off, e.Bad, h, err)
		}
		switch {
		case off < e.Offset && h.Type.IsRecord():
			records = append(records, visited{off, h, p})
		case off == e.Offset && h.Type != crcframe.First, off > e.Offset && h.Type != crcframe.Middle:
			t.Fatalf("the unfinished batch at %d holds a frame of type %d at %d", e.Offset, h.Type, off)
		}
		m.take(h)
		off += int64(n)
	}
	if off != e.Bad {
		t.Fatalf("frames run to %d, past Bad %d", off, e.Bad)
	}
	if e.OpenBatch == 0 {
		prefix = m
	}
	if prefix.inBatch {
		t.Fatalf("the prefix ends at %d inside a batch", e.Offset)
	}
	want := segment.End{Offset: e.Offset, Records: len(records), LastSeq: prefix.lastSeq, Durable: prefix.durable,
		Marked: prefix.marked && e.OpenBatch == 0, Sealed: prefix.sealed && e.OpenBatch == 0, OpenBatch: e.OpenBatch, Bad: e.Bad}
	if got := (segment.End{Offset: e.Offset, Records: e.Records, LastSeq: e.LastSeq, Durable: e.Durable, Marked: e.Marked,
		Sealed: e.Sealed, OpenBatch: e.OpenBatch, Bad: e.Bad}); got != want {
		t.Fatalf("prefix summary %+v, want %+v", got, want)
	}
	if len(seen) != len(records) {
		t.Fatalf("visited %d records, the prefix holds %d", len(seen), len(records))
	}
	for i, v := range seen {
		if v.off != records[i].off || v.h != records[i].h || !bytes.Equal(v.payload, records[i].payload) {
			t.Fatalf("visit %d = %+v, want %+v", i, v, records[i])
		}
	}

	// The stopping point: m is the state after the last frame before Bad.
	h, p, _, err := crcframe.Decode(data[e.Bad:], seed, fuzzMaxPayload)
	var reason crcframe.Reason
	switch {
	case err == nil && m.follows(h):
		if !badSeal(h, p) {
			t.Fatalf("the frame at Bad %d decodes and follows: %+v", e.Bad, h)
		}
		reason = crcframe.UnknownType
	case err == nil:
		reason = crcframe.SequenceViolation
	case errors.Is(err, crcframe.IncompletePayload):
		reason = crcframe.LengthOutOfBounds
	case errors.Is(err, crcframe.CleanEnd) && !crcframe.IsZero(data[e.Bad:]):
		reason = crcframe.GarbageAfterEnd
	default:
		errors.As(err, &reason)
	}
	if e.Reason != reason {
		t.Fatalf("Reason %v at %d, want %v", e.Reason, e.Bad, reason)
	}
	if e.Clean() != (reason == crcframe.CleanEnd && e.OpenBatch == 0) || e.Clean() && !crcframe.IsZero(data[e.Offset:]) {
		t.Fatalf("Clean() = %v with reason %v", e.Clean(), reason)
	}

	// The evidence after it.
	if d := naiveDirty(data, e.Bad); e.Dirty != d {
		t.Fatalf("Dirty %d, want %d", e.Dirty, d)
	}
	valid, durable := false, uint32(0)
	for o := e.Bad + 8; o+crcframe.HeaderSize <= size; o += 8 {
		if h, _, _, err := crcframe.Decode(data[o:], seed, fuzzMaxPayload); err == nil {
			valid, durable = true, max(durable, h.Durable)
		}
	}
	if e.ValidAfter != valid || e.DurableAfter != durable {
		t.Fatalf("ValidAfter %v, DurableAfter %d; want %v, %d", e.ValidAfter, e.DurableAfter, valid, durable)
	}
}

// seqModel is FORMAT.md's sequence and batch rules, written out again for
// the fuzz check.
type seqModel struct {
	prev    uint64 // sequence of the previous frame
	inBatch bool
	lastSeq uint64 // of the prefix's last record or mark
	durable uint32
	marked  bool
	sealed  bool // the last frame was a seal: nothing may follow
}

// badSeal reports whether h, with payload p, is a seal frame of a shape no
// writer produces (one with a payload).
func badSeal(h crcframe.Header, p []byte) bool {
	return h.Type == crcframe.Seal && len(p) != 0
}

// follows reports whether h may come next.
func (m *seqModel) follows(h crcframe.Header) bool {
	switch h.Type {
	case crcframe.Full, crcframe.First:
		return !m.inBatch && !m.sealed && h.Seq > m.prev
	case crcframe.Middle, crcframe.Last:
		return m.inBatch && h.Seq == m.prev+1
	case crcframe.Pad:
		return !m.inBatch && !m.sealed && h.Seq == m.prev
	case crcframe.Mark, crcframe.Seal:
		return !m.inBatch && !m.sealed && h.Seq >= m.prev
	}
	return false
}

// take accepts h into the prefix.
func (m *seqModel) take(h crcframe.Header) {
	m.inBatch = h.Type == crcframe.First || h.Type == crcframe.Middle
	m.prev, m.lastSeq, m.marked = h.Seq, h.Seq, h.Type == crcframe.Mark
	m.sealed = h.Type == crcframe.Seal
	m.durable = max(m.durable, h.Durable)
}
