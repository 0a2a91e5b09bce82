package segment_test

import (
	"errors"
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestCloseBatchAt cuts a batch after its middle frame: FrameEndingAt finds
// the frame before the cut, CloseBatchAt retypes it to Last (once), and the
// zeroed segment scans to the kept records. Offsets that end no frame are
// left alone.
func TestCloseBatchAt(t *testing.T) {
	f := createSegment(t, 8192)
	frames := []frame{
		rec(crcframe.First, 10, 0, "ten"),
		rec(crcframe.Middle, 11, 0, "eleven"),
		rec(crcframe.Last, 12, 0, "twelve"),
	}
	offs, end := writeFrames(t, f, frames)
	for _, off := range []int64{offs[1] + 8, end + 8, 9000} {
		if _, ok, err := f.FrameEndingAt(off); ok || err != nil {
			t.Fatalf("FrameEndingAt(%d) = %v, %v: no frame ends there", off, ok, err)
		}
	}
	prev, ok, err := f.FrameEndingAt(offs[2])
	if !ok || err != nil || prev != offs[1] {
		t.Fatalf("FrameEndingAt(%d) = %d, %v, %v, want %d", offs[2], prev, ok, err, offs[1])
	}
	if closed, err := f.CloseBatchAt(offs[0], offs[2]); closed || err != nil {
		t.Fatalf("CloseBatchAt of a frame that does not end at the cut = %v, %v", closed, err)
	}
	if closed, err := f.CloseBatchAt(prev, offs[2]); !closed || err != nil {
		t.Fatalf("CloseBatchAt = %v, %v, want the frame closed", closed, err)
	}
	if closed, err := f.CloseBatchAt(prev, offs[2]); closed || err != nil {
		t.Fatalf("a second CloseBatchAt = %v, %v, want nothing to do", closed, err)
	}
	requireNoErr(t, f.Zero(offs[2], end), "Zero")
	e, seen := scan(f, testPrevSeq, 1024)
	want := []frame{frames[0], rec(crcframe.Last, 11, 0, "eleven")}
	requireVisited(t, seen, want, offs[:2])
	if !e.Clean() || e.Records != 2 || e.Offset != offs[2] {
		t.Fatalf("scan after the cut: %+v", e)
	}
}

// TestGuardedReadsTruncatedUnderMapping: DirtyEnd, FrameEndingAt and
// CloseBatchAt read a mapping whose file was truncated under it: the fault
// is an *Error with IOFault, not a crash.
func TestGuardedReadsTruncatedUnderMapping(t *testing.T) {
	f := createSegment(t, 8192)
	frames := []frame{
		{crcframe.Header{Seq: 10, Type: crcframe.First}, pattern(3000)},
		{crcframe.Header{Seq: 11, Type: crcframe.Middle}, pattern(3000)},
		{crcframe.Header{Seq: 12, Type: crcframe.Last}, pattern(10)},
	}
	offs, end := writeFrames(t, f, frames)
	requireNoErr(t, os.Truncate(f.Path(), 4096), "truncate")
	isFault := func(what string, err error) {
		t.Helper()
		var se *segment.Error
		if !errors.Is(err, crcframe.IOFault) || !errors.As(err, &se) {
			t.Fatalf("%s on a truncated file: %v, want an *Error with IOFault", what, err)
		}
	}
	_, err := f.DirtyEnd(segment.HeaderSize)
	isFault("DirtyEnd", err)
	_, _, err = f.FrameEndingAt(end)
	isFault("FrameEndingAt", err)
	_, err = f.CloseBatchAt(offs[1], offs[2])
	isFault("CloseBatchAt", err)
}
