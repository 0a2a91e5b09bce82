package segment_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

var update = flag.Bool("update", false, "rewrite segment/testdata (never a released format version's golden files)")

// goldenFrame is one frame of a golden segment and the offset it starts at.
type goldenFrame struct {
	off int64
	frame
}

// goldenV1Small describes testdata/v1-small.wal: an 8192-byte segment of
// the log 0x01…0x10, number 3, first seq 10, holding
//
//   - full records 10 ("first record", durable 0: no claim yet), 11 (empty,
//     durable 0) and 12 (32 bytes, durable 104: record 10 was synced);
//   - a batch first/middle/last 13, 14, 15, durable 184 (12 was synced);
//   - a pad frame (seq 15, 16 zero bytes, durable 304: the batch synced);
//   - the mark Close writes (seq 15, durable 344 = its own offset);
//
// then zeros to the end.
var goldenV1Small = []goldenFrame{
	{64, rec(crcframe.Full, 10, 0, "first record")},
	{104, rec(crcframe.Full, 11, 0, "")},
	{128, frame{crcframe.Header{Seq: 12, Durable: 104, Type: crcframe.Full}, pattern(32)}},
	{184, rec(crcframe.First, 13, 184, "batch one")},
	{224, rec(crcframe.Middle, 14, 184, "batch two")},
	{264, rec(crcframe.Last, 15, 184, "batch three")},
	{304, frame{crcframe.Header{Seq: 15, Durable: 304, Type: crcframe.Pad}, make([]byte, 16)}},
	{344, rec(crcframe.Mark, 15, 344, "")},
}

const (
	goldenV1SmallPath = "testdata/v1-small.wal"
	goldenV1SmallSize = 8192
	goldenV1SmallEnd  = 368 // where the mark ends
)

// TestGoldenV1Small locks the version 1 segment format: EncodeHeader and
// crcframe.Encode must produce testdata/v1-small.wal byte for byte, and Open
// and Scan must read every frame of it back.
//
// Never regenerate this file once format version 1 is released: every later
// version must still read it. `go test ./segment -update` rewrites it, which
// is only right while the format is unreleased.
func TestGoldenV1Small(t *testing.T) {
	hdr := testHeader(goldenV1SmallSize)
	frames := make([]frame, len(goldenV1Small))
	for i, g := range goldenV1Small {
		frames[i] = g.frame
	}
	want, offs, end := segImage(t, hdr, frames)
	for i, g := range goldenV1Small {
		if offs[i] != g.off {
			t.Fatalf("frame %d encoded at %d, the table says %d", i, offs[i], g.off)
		}
	}
	if end != goldenV1SmallEnd {
		t.Fatalf("frames end at %d, want %d", end, goldenV1SmallEnd)
	}
	if *update {
		requireNoErr(t, os.WriteFile(goldenV1SmallPath, want, 0o644), "write golden")
		t.Logf("rewrote %s", goldenV1SmallPath)
	}
	got, err := os.ReadFile(goldenV1SmallPath)
	requireNoErr(t, err, "read golden")
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the encoders differ from %s at byte %d (file %d bytes, encoded %d)", goldenV1SmallPath, i, len(got), len(want))
	}

	// Read the golden bytes (not the encoders' output) back through a file.
	if h, err := segment.DecodeHeader(got); err != nil || h != hdr {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", h, err, hdr)
	}
	f := openImage(t, got)
	if f.Header() != hdr || f.Size() != goldenV1SmallSize || f.Seed() != crcframe.Seed(testLogID, testNumber) {
		t.Fatalf("opened header %+v, size %d, seed %#x", f.Header(), f.Size(), f.Seed())
	}
	e, seen := scan(f, testPrevSeq, crcframe.MaxPayload)
	requireEnd(t, e, segment.End{Offset: goldenV1SmallEnd, Records: 6, LastSeq: 15, Durable: 344, Marked: true,
		Reason: crcframe.CleanEnd, Bad: goldenV1SmallEnd, Dirty: goldenV1SmallEnd})
	if !e.Clean() {
		t.Fatal("golden segment does not end cleanly")
	}
	// Records only: the pad and the mark are not visited.
	requireVisited(t, seen, frames[:6], offs[:6])
}
