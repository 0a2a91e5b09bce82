package segment_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestDetach: after Detach, stores into the range stay in memory; the file
// changes only through WriteFrameThrough and ClearThrough, which the scan
// then reads.
func TestDetach(t *testing.T) {
	f := createSegment(t, 16384)
	n, err := f.WriteFrame(segment.HeaderSize, crcframe.Header{Seq: 1, Type: crcframe.Full}, []byte("kept"))
	requireNoErr(t, err, "WriteFrame")
	off := segment.HeaderSize + int64(n)
	requireNoErr(t, f.Sync(segment.HeaderSize, off), "Sync")

	requireNoErr(t, f.Detach(off, off+5000), "Detach")
	held := f.Data()[off : off+5000]
	copy(held, bytes.Repeat([]byte("holder"), 800))
	requireNoErr(t, f.ClearThrough(off, off+5000), "ClearThrough")
	requireNoErr(t, f.WriteFrameThrough(off, crcframe.Header{Seq: 1, Durable: uint32(off), Type: crcframe.Mark}, nil, off+crcframe.HeaderSize), "WriteFrameThrough")
	requireNoErr(t, f.SyncFile(), "SyncFile")
	copy(held, "stored after")

	disk, err := os.ReadFile(f.Path())
	requireNoErr(t, err, "ReadFile")
	if bytes.Contains(disk, []byte("holder")) || bytes.Contains(disk, []byte("stored after")) {
		t.Fatal("stores into detached pages reached the file")
	}
	g := openImage(t, disk)
	end, seen := scan(g, 0, 1<<20)
	if len(seen) != 1 || !end.Marked || end.Offset != off+crcframe.HeaderSize || !end.Clean() {
		t.Fatalf("scan of the file: %+v, %d records", end, len(seen))
	}
}

func TestDetachBadRanges(t *testing.T) {
	f := createSegment(t, 8192)
	h := crcframe.Header{Seq: 1, Type: crcframe.Mark}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"detach before the frames", f.Detach(10, 100)},
		{"detach past the end", f.Detach(100, 9000)},
		{"detach backwards", f.Detach(200, 100)},
		{"clear past the end", f.ClearThrough(100, 9000)},
		{"clear before the frames", f.ClearThrough(0, 100)},
		{"frame past the end", f.WriteFrameThrough(8190, h, nil, 8214)},
		{"frame longer than clearTo", f.WriteFrameThrough(64, h, []byte("abc"), 70)},
		{"frame before the frames", f.WriteFrameThrough(8, h, nil, 64)},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
