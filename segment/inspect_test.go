package segment_test

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestOpenStandalone: a segment opens without its log's identity, whichever
// log wrote it, and its frames decode under the identity of its header;
// what does not check is the reason Open gives.
func TestOpenStandalone(t *testing.T) {
	h := testHeader(4096)
	h.LogID = otherLogID
	frames := []frame{rec(crcframe.Full, 10, 0, "ten"), rec(crcframe.Full, 11, 64, "eleven")}
	img, offs, end := segImage(t, h, frames)
	f, err := segment.OpenStandalone(writeFile(t, img))
	requireNoErr(t, err, "OpenStandalone")
	defer f.Close()
	if f.Header() != h {
		t.Fatalf("Header = %+v, want %+v", f.Header(), h)
	}
	e, seen := scan(f, testPrevSeq, f.MaxFramePayload())
	requireVisited(t, seen, frames, offs)
	if e.Offset != end || !e.Clean() {
		t.Fatalf("End = %+v, want a clean end at %d", e, end)
	}
	if got, want := f.MaxFramePayload(), 4096-segment.HeaderSize-crcframe.HeaderSize; got != want {
		t.Fatalf("MaxFramePayload = %d, want %d", got, want)
	}

	bad := func(name string, damage func([]byte) []byte, want crcframe.Reason) {
		t.Helper()
		c := damage(append([]byte(nil), img...))
		_, err := segment.OpenStandalone(writeFile(t, c))
		var se *segment.Error
		if !errors.As(err, &se) {
			t.Fatalf("%s: err = %v, want a *segment.Error", name, err)
		}
		requireReason(t, err, want)
	}
	bad("magic", func(b []byte) []byte { b[0] ^= 1; return b }, crcframe.BadMagic)
	bad("header crc", func(b []byte) []byte { b[33] ^= 1; return b }, crcframe.HeaderChecksumMismatch)
	bad("short", func(b []byte) []byte { return b[:2048] }, crcframe.SegmentShort)
	bad("empty", func(b []byte) []byte { return b[:0] }, crcframe.IncompleteHeader)
	bad("newer", func(b []byte) []byte {
		binary.LittleEndian.PutUint16(b[8:], 9)
		binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
		return b
	}, crcframe.UnsupportedVersion)
	if _, err := segment.OpenStandalone(filepath.Join(t.TempDir(), "missing.wal")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

// TestFrameAt: every field of a frame's header as stored, the stored CRC
// included; what does not decode is its crcframe reason.
func TestFrameAt(t *testing.T) {
	frames := []frame{rec(crcframe.First, 10, 0, "a"), rec(crcframe.Last, 11, 64, "bcdefghij"), rec(crcframe.Mark, 11, 120, "")}
	img, offs, end := segImage(t, testHeader(4096), frames)
	f := openImage(t, img)
	for i, fr := range frames {
		got, err := f.FrameAt(offs[i], f.MaxFramePayload())
		requireNoErr(t, err, "FrameAt")
		wantSize := crcframe.Size(len(fr.payload))
		if got.Header != fr.h || got.Offset != offs[i] || got.Size != wantSize || string(got.Payload) != string(fr.payload) ||
			got.CRC != binary.LittleEndian.Uint32(img[offs[i]:]) {
			t.Fatalf("FrameAt(%d) = %+v, want %+v of %d bytes", offs[i], got, fr, wantSize)
		}
	}
	if _, err := f.FrameAt(end, f.MaxFramePayload()); !errors.Is(err, crcframe.CleanEnd) {
		t.Fatalf("FrameAt(end) err = %v, want CleanEnd", err)
	}
	if _, err := f.FrameAt(offs[1]+4, f.MaxFramePayload()); !errors.Is(err, crcframe.LengthOutOfBounds) {
		t.Fatalf("FrameAt(unaligned) err = %v, want LengthOutOfBounds", err)
	}
	if _, err := f.FrameAt(offs[1], 2); !errors.Is(err, crcframe.LengthOutOfBounds) {
		t.Fatalf("FrameAt(maxPayload 2) err = %v, want LengthOutOfBounds", err)
	}
	img[offs[1]+crcframe.HeaderSize] ^= 1
	f = openImage(t, img)
	if _, err := f.FrameAt(offs[1], f.MaxFramePayload()); !errors.Is(err, crcframe.ChecksumMismatch) {
		t.Fatalf("FrameAt(damaged) err = %v, want ChecksumMismatch", err)
	}
}

// TestFramesAfter: after a damaged frame, the frames that still decode are
// found, with their durable watermarks (the read-ahead's evidence); the
// damaged one is not.
func TestFramesAfter(t *testing.T) {
	frames := []frame{rec(crcframe.Full, 10, 0, "a"), rec(crcframe.Full, 11, 64, "damaged"), rec(crcframe.Full, 12, 96, "c"), rec(crcframe.Mark, 12, 160, "")}
	img, offs, _ := segImage(t, testHeader(4096), frames)
	img[offs[1]+crcframe.HeaderSize] ^= 1
	f := openImage(t, img)
	var got []int64
	err := f.FramesAfter(offs[1], f.MaxFramePayload(), func(fr segment.Frame) {
		got = append(got, fr.Offset)
		if fr.Header != frames[len(got)+1].h {
			t.Errorf("frame at %d: %+v, want %+v", fr.Offset, fr.Header, frames[len(got)+1].h)
		}
	})
	requireNoErr(t, err, "FramesAfter")
	if len(got) != 2 || got[0] != offs[2] || got[1] != offs[3] {
		t.Fatalf("FramesAfter found frames at %v, want %v", got, offs[2:])
	}
}

// TestParseQuarantineName: the names QuarantineName makes parse back; no
// other name does.
func TestParseQuarantineName(t *testing.T) {
	name := segment.QuarantineName(segment.Name(7), 0x1a40)
	seg, num, off, ok := segment.ParseQuarantineName(name)
	if !ok || seg != segment.Name(7) || num != 7 || off != 0x1a40 {
		t.Fatalf("ParseQuarantineName(%q) = %q, %d, %#x, %v", name, seg, num, off, ok)
	}
	for _, bad := range []string{
		segment.Name(7),
		"0000000000000007.wal.torn-1a40",
		"0000000000000007.wal.torn-0000000000001A40",
		"000000000000000A.wal.torn-0000000000001a40",
		"0000000000000007.wal.torn-0000000000001a40.tmp",
		"0000000000000007.wal.torn-8000000000000000",
		"META",
	} {
		if _, _, _, ok := segment.ParseQuarantineName(bad); ok {
			t.Errorf("ParseQuarantineName(%q) accepted it", bad)
		}
	}
}
