package segment_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// scanSteps is ScanFrom from the start in steps of step bytes until it is
// done; it checks that each step that is not the last stopped at a frame
// boundary at or past its limit, having visited only records before it.
func scanSteps(tb testing.TB, f *segment.File, prevSeq uint64, maxPayload int, step int64) (segment.End, []visited) {
	tb.Helper()
	var seen []visited
	visit := func(off int64, h crcframe.Header, p []byte) {
		seen = append(seen, visited{off, h, bytes.Clone(p)})
	}
	end := segment.End{Offset: segment.HeaderSize, LastSeq: prevSeq}
	for range f.Size() + 1 { // every step but the last ends further on
		limit := end.Offset + step
		if f.ScanFrom(&end, maxPayload, limit, visit) {
			return end, seen
		}
		if end.Offset < limit {
			tb.Fatalf("step %d: stopped at %d, before its limit %d", step, end.Offset, limit)
		}
		if end.Records != len(seen) {
			tb.Fatalf("step %d: %d records visited, End.Records %d", step, len(seen), end.Records)
		}
		for _, v := range seen {
			if v.off >= end.Offset {
				tb.Fatalf("step %d: visited a record at %d, past End.Offset %d", step, v.off, end.Offset)
			}
		}
	}
	tb.Fatalf("step %d: ScanFrom never done", step)
	return end, nil
}

// TestScanFromSteps: a Scan in steps (ScanFrom, as the engine verifies a
// sealed segment ahead of an iterator) finds exactly what one Scan finds,
// End and visits, whatever the step, on every file of the corruption
// corpus (each reason, unfinished and finished batches, marks, seals) and
// on a segment of batches, pads, marks and a seal, where steps end inside
// batches (a step goes on to the batch's end).
func TestScanFromSteps(t *testing.T) {
	type image struct {
		name       string
		img        []byte
		maxPayload int
	}
	var images []image
	for _, c := range corruptCases() {
		if c.openErr == 0 {
			images = append(images, image{strings.TrimSuffix(c.file, ".wal"), c.build(t), c.maxPayload})
		}
	}
	mixed, _, _ := segImage(t, v2Header(8192), []frame{
		rec(crcframe.Full, 10, 0, "one"),
		rec(crcframe.First, 11, 0, "batch of three"),
		rec(crcframe.Middle, 12, 0, strings.Repeat("m", 100)),
		rec(crcframe.Last, 13, 64, "end of batch"),
		rec(crcframe.Pad, 13, 0, ""),
		rec(crcframe.Mark, 13, 200, ""),
		rec(crcframe.First, 14, 0, "a"),
		rec(crcframe.Last, 15, 0, "b"),
		rec(crcframe.Full, 16, 0, strings.Repeat("f", 300)),
		rec(crcframe.Seal, 16, 400, ""),
	})
	images = append(images, image{"mixed", mixed, 8192})
	if testing.Short() {
		images = images[len(images)-1:]
	}
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			f := openImage(t, im.img)
			want, wantSeen := scan(f, testPrevSeq, im.maxPayload)
			if im.name == "mixed" && (!want.Clean() || !want.Sealed || want.Records != 7) {
				t.Fatalf("the mixed segment scans as %+v, want 7 records and a clean seal", want)
			}
			for step := int64(1); step <= want.Bad-segment.HeaderSize+16; step++ {
				got, seen := scanSteps(t, f, testPrevSeq, im.maxPayload, step)
				requireEnd(t, got, want)
				if fmt.Sprint(seen) != fmt.Sprint(wantSeen) {
					t.Fatalf("step %d: visited %+v, Scan visited %+v", step, seen, wantSeen)
				}
			}
		})
	}
}
