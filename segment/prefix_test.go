package segment_test

import (
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestScanPrefix scans a segment as a truncation at a frame boundary would
// leave it: frames from the limit on are not seen, and a batch the limit
// cuts through keeps its records before the limit.
func TestScanPrefix(t *testing.T) {
	frames := []frame{
		rec(crcframe.Full, 10, 0, "ten"),
		rec(crcframe.First, 11, 0, "eleven"),
		rec(crcframe.Middle, 12, 0, "twelve"),
		rec(crcframe.Middle, 13, 0, "thirteen"),
		rec(crcframe.Last, 14, 0, "fourteen"),
		rec(crcframe.Full, 15, 0, "fifteen"),
	}
	img, offs, end := segImage(t, testHeader(segment.MinSize), frames)
	f := openImage(t, img)
	for _, c := range []struct {
		name   string
		limit  int64
		kept   int // frames visited
		reason crcframe.Reason
	}{
		{"before a batch", offs[1], 1, crcframe.CleanEnd},
		{"inside a batch", offs[3], 3, crcframe.CleanEnd},
		{"after the first frame of a batch", offs[2], 2, crcframe.CleanEnd},
		{"after the batch", offs[5], 5, crcframe.CleanEnd},
		{"at the end", end, 6, crcframe.CleanEnd},
		{"beyond the segment", segment.MinSize + 100, 6, crcframe.CleanEnd},
		{"at the header", segment.HeaderSize, 0, crcframe.CleanEnd},
		{"inside a frame", offs[1] + 8, 1, crcframe.IncompleteHeader},
	} {
		var seen []visited
		got := f.ScanPrefix(testPrevSeq, 1000, c.limit, func(off int64, h crcframe.Header, p []byte) {
			seen = append(seen, visited{off, h, append([]byte(nil), p...)})
		})
		requireVisited(t, seen, frames[:c.kept], offs[:c.kept])
		wantOff, wantLast := int64(segment.HeaderSize), uint64(testPrevSeq)
		if c.kept > 0 {
			wantOff, wantLast = offs[c.kept-1]+int64(crcframe.Size(len(frames[c.kept-1].payload))), frames[c.kept-1].h.Seq
		}
		if got.Reason != c.reason || got.Offset != wantOff || got.Records != c.kept || got.LastSeq != wantLast || got.OpenBatch != 0 {
			t.Fatalf("%s: End %+v, want reason %v, offset %d, %d records, last %d, no open batch", c.name, got, c.reason, wantOff, c.kept, wantLast)
		}
	}
}
