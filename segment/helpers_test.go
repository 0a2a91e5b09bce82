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

// The identity every test segment belongs to, the same as the golden
// files': log identity 0x01…0x10, segment number 3, first sequence 10, so
// the record before the segment is 9.
var (
	testLogID  = [16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	otherLogID = [16]byte{0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0xf0}
)

const (
	testNumber   = 3
	testFirstSeq = 10
	testPrevSeq  = testFirstSeq - 1
)

// testHeader is the header of a test segment of size bytes.
func testHeader(size int64) segment.Header {
	return segment.Header{Version: 1, LogID: testLogID, Number: testNumber, FirstSeq: testFirstSeq, Size: size}
}

// frame is one frame of a test image.
type frame struct {
	h       crcframe.Header
	payload []byte
}

func rec(ty crcframe.Type, seq uint64, durable uint32, payload string) frame {
	return frame{crcframe.Header{Seq: seq, Durable: durable, Type: ty}, []byte(payload)}
}

// segImage returns the image of a segment of h.Size bytes: the header h,
// then frames back to back from HeaderSize, each checksummed with the seed
// of h, then zeros. It also returns the offset of every frame and the end
// of the last one.
func segImage(tb testing.TB, h segment.Header, frames []frame) (img []byte, offs []int64, end int64) {
	tb.Helper()
	img = make([]byte, h.Size)
	segment.EncodeHeader(img, h)
	seed := crcframe.Seed(h.LogID, h.Number)
	end = segment.HeaderSize
	for _, f := range frames {
		n, err := crcframe.Encode(img[end:], seed, f.h, f.payload)
		if err != nil {
			tb.Fatalf("encode %+v at %d: %v", f.h, end, err)
		}
		offs = append(offs, end)
		end += int64(n)
	}
	return img, offs, end
}

// writeFile writes img to a new file named after the test segment in a
// fresh temporary directory and returns its path.
func writeFile(tb testing.TB, img []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), segment.Name(testNumber))
	if err := os.WriteFile(path, img, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// openImage writes img to a file and opens it as the test segment,
// read-write, closing it when the test ends.
func openImage(tb testing.TB, img []byte) *segment.File {
	tb.Helper()
	f, err := segment.Open(writeFile(tb, img), testNumber, testLogID, true)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// createSegment creates a fresh test segment of size bytes in a temporary
// directory, closing it when the test ends.
func createSegment(tb testing.TB, size int64) *segment.File {
	tb.Helper()
	f, err := segment.Create(filepath.Join(tb.TempDir(), segment.Name(testNumber)), testHeader(size))
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// visited is one call of a Scan visit func, with the payload copied.
type visited struct {
	off     int64
	h       crcframe.Header
	payload []byte
}

// scan runs f.Scan and returns its End and what the visit func saw.
func scan(f *segment.File, prevSeq uint64, maxPayload int) (segment.End, []visited) {
	var seen []visited
	end := f.Scan(prevSeq, maxPayload, func(off int64, h crcframe.Header, p []byte) {
		seen = append(seen, visited{off, h, bytes.Clone(p)})
	})
	return end, seen
}

// requireVisited checks that the visits are exactly the frames at offs, in
// order.
func requireVisited(tb testing.TB, seen []visited, frames []frame, offs []int64) {
	tb.Helper()
	if len(seen) != len(frames) {
		tb.Fatalf("visited %d records, want %d: %+v", len(seen), len(frames), seen)
	}
	for i, v := range seen {
		if v.off != offs[i] || v.h != frames[i].h || !bytes.Equal(v.payload, frames[i].payload) {
			tb.Fatalf("visit %d = {%d %+v %q}, want {%d %+v %q}", i, v.off, v.h, v.payload, offs[i], frames[i].h, frames[i].payload)
		}
	}
}

// requireEnd checks a whole End.
func requireEnd(tb testing.TB, got, want segment.End) {
	tb.Helper()
	if got != want {
		tb.Fatalf("End =\n\t%+v\nwant\n\t%+v", got, want)
	}
}

// requireReason checks that err carries exactly the Reason want, through
// errors.Is and errors.As.
func requireReason(tb testing.TB, err error, want crcframe.Reason) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("err = %v, want %v", err, want)
	}
	var r crcframe.Reason
	if !errors.As(err, &r) || r != want {
		tb.Fatalf("errors.As(%v) = %v, want %v", err, r, want)
	}
}

// requireNoErr fails the test on a non-nil err.
func requireNoErr(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

// requireEmptyDir checks that dir holds no entries.
func requireEmptyDir(tb testing.TB, dir string) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	requireNoErr(tb, err, "ReadDir")
	if len(ents) != 0 {
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		tb.Fatalf("%s holds %v, want nothing", dir, names)
	}
}

// pattern returns n bytes, none of them zero, so that every cut or flip of
// a payload changes it.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + 1
	}
	return b
}
