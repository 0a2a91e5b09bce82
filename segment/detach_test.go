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

// TestPayloadCommitFrame: a payload filled in place and committed reads
// back as the frame; out-of-range frames are refused.
func TestPayloadCommitFrame(t *testing.T) {
	f := createSegment(t, 8192)
	p := f.Payload(segment.HeaderSize, 5)
	if len(p) != 5 || cap(p) != 5 {
		t.Fatalf("Payload: len %d cap %d", len(p), cap(p))
	}
	copy(p, "hello")
	n, err := f.CommitFrame(segment.HeaderSize, crcframe.Header{Seq: 7, Type: crcframe.Full}, 5)
	requireNoErr(t, err, "CommitFrame")
	if n != crcframe.Size(5) {
		t.Fatalf("CommitFrame size %d", n)
	}
	_, seen := scan(f, 0, 1<<20)
	if len(seen) != 1 || seen[0].h.Seq != 7 || string(seen[0].payload) != "hello" {
		t.Fatalf("scan: %+v", seen)
	}
	if f.Payload(8, 5) != nil || f.Payload(8192-16, 5) != nil || f.Payload(segment.HeaderSize, -1) != nil {
		t.Error("Payload out of range returned space")
	}
	for _, c := range []struct {
		off int64
		n   int
	}{{8, 5}, {8192 - 16, 5}, {segment.HeaderSize, -1}} {
		if _, err := f.CommitFrame(c.off, crcframe.Header{Seq: 8, Type: crcframe.Full}, c.n); err == nil {
			t.Errorf("CommitFrame(%d, %d): no error", c.off, c.n)
		}
	}
}
