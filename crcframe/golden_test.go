package crcframe_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (never for a released format version)")

// goldenFrame is one frame of a golden file and the offset it starts at.
type goldenFrame struct {
	off     int
	h       crcframe.Header
	payload []byte
}

// goldenV1 describes testdata/frames-v1.bin, all with seed
// Seed({0x01, …, 0x10}, 7). Offsets, and so the durable watermarks, are
// relative to the start of the file, as if it were a segment's frame area
// starting at 0:
//
//   - full, seq 1, "hello", durable 0 (no claim yet);
//   - a batch first/middle/last, seqs 2, 3, 4, payloads of 0, 8 and 13
//     bytes, durable 32 (the full frame was synced before the batch);
//   - pad, seq 4 (the previous record's), 16 zero bytes, durable 128 (the
//     batch was synced);
//   - mark, seq 4 (the last sequence), no payload, durable 168 = its own
//     offset, as Close writes it.
var goldenV1 = []goldenFrame{
	{0, crcframe.Header{Seq: 1, Durable: 0, Type: crcframe.Full}, []byte("hello")},
	{32, crcframe.Header{Seq: 2, Durable: 32, Type: crcframe.First}, []byte{}},
	{56, crcframe.Header{Seq: 3, Durable: 32, Type: crcframe.Middle}, []byte("12345678")},
	{88, crcframe.Header{Seq: 4, Durable: 32, Type: crcframe.Last}, []byte("hello, world!")},
	{128, crcframe.Header{Seq: 4, Durable: 128, Type: crcframe.Pad}, make([]byte, 16)},
	{168, crcframe.Header{Seq: 4, Durable: 168, Type: crcframe.Mark}, []byte{}},
}

const goldenV1Path = "testdata/frames-v1.bin"

// encodeGolden encodes frames back to back, checking that each lands at its
// stated offset.
func encodeGolden(t *testing.T, frames []goldenFrame) []byte {
	t.Helper()
	var buf []byte
	for _, f := range frames {
		if f.off != len(buf) {
			t.Fatalf("frame %+v: stated offset %d, encoded at %d", f.h, f.off, len(buf))
		}
		buf = append(buf, encode(t, f.h, f.payload)...)
	}
	return buf
}

// TestGoldenV1 locks the version 1 wire format: Encode must produce the
// bytes of testdata/frames-v1.bin exactly, and Decode must read them back.
//
// Golden files: never regenerate once released: a future version must still
// read them. `go test ./crcframe -update` rewrites them, which is only right
// while a format version is still unreleased.
func TestGoldenV1(t *testing.T) {
	want := encodeGolden(t, goldenV1)
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenV1Path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenV1Path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s (%d bytes)", goldenV1Path, len(want))
	}
	got, err := os.ReadFile(goldenV1Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("Encode differs from %s at byte %d (file %d bytes, Encode %d bytes)", goldenV1Path, i, len(got), len(want))
	}
	checkDecodesGolden(t, got, goldenV1)
}

// checkDecodesGolden walks file with Decode and checks it yields exactly
// frames, then the clean end.
func checkDecodesGolden(t *testing.T, file []byte, frames []goldenFrame) {
	t.Helper()
	off := 0
	for _, f := range frames {
		h, p, n, err := crcframe.Decode(file[off:], testSeed, crcframe.MaxPayload)
		if err != nil {
			t.Fatalf("offset %d: Decode: %v", off, err)
		}
		if off != f.off || h != f.h || !bytes.Equal(p, f.payload) || n != crcframe.Size(len(f.payload)) {
			t.Fatalf("offset %d: Decode = %+v, %q, %d; want offset %d, %+v, %q, %d",
				off, h, p, n, f.off, f.h, f.payload, crcframe.Size(len(f.payload)))
		}
		off += n
	}
	// The end of the file, and zero fill after it, are the clean end.
	for _, tail := range [][]byte{file[off:], append(file[off:off:off], make([]byte, 64)...)} {
		if _, _, _, err := crcframe.Decode(tail, testSeed, crcframe.MaxPayload); !errors.Is(err, crcframe.CleanEnd) {
			t.Fatalf("after the last frame: Decode = %v, want CleanEnd", err)
		}
	}
}
