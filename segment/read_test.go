package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// readImage returns a test segment of 8192 bytes holding base3 and a frame
// whose payload crosses 4096 (so that a cut there faults inside it), and
// the frames' offsets.
func readImage(t *testing.T) (*segment.File, []byte, []frame, []int64) {
	frames := append(base3(), frame{crcframe.Header{Seq: 13, Type: crcframe.Full}, pattern(5000)})
	img, offs, _ := segImage(t, testHeader(8192), frames)
	return openImage(t, img), img, frames, offs
}

// requireAt checks that err is an *segment.Error at off with reason want.
func requireAt(t *testing.T, err error, off int64, want crcframe.Reason, what string) {
	t.Helper()
	var se *segment.Error
	if !errors.As(err, &se) || se.Offset != off || se.Reason != want {
		t.Fatalf("%s: %v, want a *segment.Error at %d with %v", what, err, off, want)
	}
}

// TestReadPath: RecordPayload, AppendRecord, AppendFrame and FrameCRC read
// what the frame at an offset holds, and say why when it does not hold the
// record asked for.
func TestReadPath(t *testing.T) {
	f, img, frames, offs := readImage(t)
	for i, fr := range frames {
		off := offs[i]
		p, err := f.RecordPayload(off, fr.h.Seq)
		requireNoErr(t, err, "RecordPayload")
		if !bytes.Equal(p, fr.payload) {
			t.Fatalf("RecordPayload(%d) = %q, want %q", off, p, fr.payload)
		}
		out, err := f.AppendRecord([]byte("x"), off, fr.h.Seq)
		requireNoErr(t, err, "AppendRecord")
		if !bytes.Equal(out, append([]byte("x"), fr.payload...)) {
			t.Fatalf("AppendRecord(%d) = %q", off, out)
		}
		size := int64(crcframe.Size(len(fr.payload)))
		out, ok, err := f.AppendFrame([]byte("x"), off)
		requireNoErr(t, err, "AppendFrame")
		if !ok || !bytes.Equal(out, append([]byte("x"), img[off:off+size]...)) {
			t.Fatalf("AppendFrame(%d) = %v, %x", off, ok, out)
		}
		crc, err := f.FrameCRC(off)
		requireNoErr(t, err, "FrameCRC")
		if want := binary.LittleEndian.Uint32(img[off:]); crc != want {
			t.Fatalf("FrameCRC(%d) = %#x, want %#x", off, crc, want)
		}
	}
	end := int64(len(f.Data()))
	for _, c := range []struct {
		name string
		off  int64
		seq  uint64
		want crcframe.Reason
	}{
		{"other sequence", offs[1], 12, crcframe.SequenceViolation},
		{"negative offset", -8, 10, crcframe.LengthOutOfBounds},
		{"header past the end", end - 8, 10, crcframe.LengthOutOfBounds},
		{"offset past the end", end + 8, 10, crcframe.LengthOutOfBounds},
	} {
		_, err := f.RecordPayload(c.off, c.seq)
		requireAt(t, err, c.off, c.want, "RecordPayload: "+c.name)
		out, err := f.AppendRecord([]byte("x"), c.off, c.seq)
		requireAt(t, err, c.off, c.want, "AppendRecord: "+c.name)
		if string(out) != "x" {
			t.Fatalf("AppendRecord: %s: %q, want dst unchanged", c.name, out)
		}
		if c.want == crcframe.LengthOutOfBounds {
			if out, ok, err := f.AppendFrame([]byte("x"), c.off); ok || err != nil || string(out) != "x" {
				t.Fatalf("AppendFrame: %s: %v %v %q, want not ok", c.name, ok, err, out)
			}
		}
	}
	for _, c := range []struct {
		name string
		off  int64
	}{{"negative", -1}, {"last bytes", end - 3}} {
		_, err := f.FrameCRC(c.off)
		requireAt(t, err, c.off, crcframe.LengthOutOfBounds, "FrameCRC: "+c.name)
	}
}

// TestRecordPayloads: a run of frames reads as RecordPayload reads each,
// dense (first+k) or with sequences given, at most len(out); it stops at
// the first frame that does not hold its record, out of the mapping or
// faulting, with the count read and RecordPayload's error for that frame.
func TestRecordPayloads(t *testing.T) {
	f, _, frames, offs := readImage(t)
	offs32 := make([]uint32, len(offs))
	seqs := make([]uint64, len(offs))
	for i, off := range offs {
		offs32[i], seqs[i] = uint32(off), frames[i].h.Seq
	}
	end := uint32(len(f.Data()))
	for _, c := range []struct {
		name    string
		outLen  int
		offs    []uint32
		seqs    []uint64
		first   uint64
		n       int
		bad     int64 // offset of the error, 0: none
		badWhy  crcframe.Reason
		cutFile bool
	}{
		{name: "dense", outLen: 4, offs: offs32, first: 10, n: 4},
		{name: "sequences", outLen: 4, offs: offs32, seqs: seqs, n: 4},
		{name: "out shorter", outLen: 2, offs: offs32, first: 10, n: 2},
		{name: "offs shorter", outLen: 8, offs: offs32[1:3], first: 11, n: 2},
		{name: "none", outLen: 4, offs: nil, first: 10, n: 0},
		{name: "other sequence", outLen: 4, offs: offs32, seqs: []uint64{10, 11, 99, 13}, n: 2, bad: offs[2], badWhy: crcframe.SequenceViolation},
		{name: "dense from the wrong first", outLen: 4, offs: offs32, first: 11, n: 0, bad: offs[0], badWhy: crcframe.SequenceViolation},
		{name: "offset past the end", outLen: 4, offs: []uint32{offs32[0], end + 8}, first: 10, n: 1, bad: int64(end) + 8, badWhy: crcframe.LengthOutOfBounds},
		{name: "fault", outLen: 4, offs: []uint32{offs32[0], offs32[1], 4096 + 64}, first: 10, n: 2, bad: 4096 + 64, badWhy: crcframe.IOFault, cutFile: true},
	} {
		if c.cutFile {
			requireNoErr(t, os.Truncate(f.Path(), 4096), "truncate") // a header past it faults
		}
		out := make([][]byte, c.outLen)
		n, err := f.RecordPayloads(out, c.offs, c.seqs, c.first)
		if n != c.n {
			t.Fatalf("%s: read %d, want %d (%v)", c.name, n, c.n, err)
		}
		if c.bad == 0 {
			requireNoErr(t, err, c.name)
		} else {
			requireAt(t, err, c.bad, c.badWhy, c.name)
		}
		for k := range n {
			i := slices.Index(offs, int64(c.offs[k]))
			if !bytes.Equal(out[k], frames[i].payload) {
				t.Fatalf("%s: payload %d = %q, want %q", c.name, k, out[k], frames[i].payload)
			}
		}
	}
}

// TestReadPathBadLength: a length field that runs out of the mapping, or
// above crcframe.MaxPayload, is LengthOutOfBounds for RecordPayload and not
// ok for AppendFrame, which copies nothing.
func TestReadPathBadLength(t *testing.T) {
	for _, n := range []uint32{8192, crcframe.MaxPayload + 1, 1<<32 - 1} {
		frames := base3()
		img, offs, _ := segImage(t, testHeader(8192), frames)
		binary.LittleEndian.PutUint32(img[offs[1]+4:], n)
		f := openImage(t, img)
		_, err := f.RecordPayload(offs[1], 11)
		requireAt(t, err, offs[1], crcframe.LengthOutOfBounds, "RecordPayload")
		if out, ok, err := f.AppendFrame(nil, offs[1]); ok || err != nil || len(out) != 0 {
			t.Fatalf("AppendFrame with length %d: %v %v %d bytes, want not ok", n, ok, err, len(out))
		}
	}
}

// TestReadPathTruncatedUnderMapping: once the file is cut under the mapping,
// a read past the cut faults (SIGBUS) and each method returns an *Error
// with IOFault at the frame's offset instead of crashing; frames before the
// cut still read.
func TestReadPathTruncatedUnderMapping(t *testing.T) {
	f, _, frames, offs := readImage(t)
	requireNoErr(t, os.Truncate(f.Path(), 4096), "truncate")
	p, err := f.RecordPayload(offs[0], frames[0].h.Seq)
	requireNoErr(t, err, "RecordPayload before the cut")
	if !bytes.Equal(p, frames[0].payload) {
		t.Fatalf("RecordPayload before the cut = %q", p)
	}
	last := offs[3] // its payload crosses the cut
	if _, err := f.AppendRecord(nil, last, 13); err == nil {
		t.Fatal("AppendRecord across the cut did not fault")
	} else {
		requireAt(t, err, last, crcframe.IOFault, "AppendRecord across the cut")
	}
	_, _, err = f.AppendFrame(nil, last)
	requireAt(t, err, last, crcframe.IOFault, "AppendFrame across the cut")
	past := int64(4096 + 64)
	_, err = f.RecordPayload(past, 13)
	requireAt(t, err, past, crcframe.IOFault, "RecordPayload past the cut")
	_, err = f.FrameCRC(past)
	requireAt(t, err, past, crcframe.IOFault, "FrameCRC past the cut")
}

// TestReadPathAllocs: the read path (RecordPayloads too) allocates nothing (ReadInto, View and
// iteration call it for every record).
func TestReadPathAllocs(t *testing.T) {
	f, _, frames, offs := readImage(t)
	dst := make([]byte, 0, 8192)
	offs32 := make([]uint32, len(offs))
	for i, off := range offs {
		offs32[i] = uint32(off)
	}
	var run [4][]byte
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		for i, fr := range frames {
			p, _ := f.RecordPayload(offs[i], fr.h.Seq)
			out, _ := f.AppendRecord(dst[:0], offs[i], fr.h.Seq)
			fb, _, _ := f.AppendFrame(dst[:0], offs[i])
			crc, _ := f.FrameCRC(offs[i])
			sink += len(p) + len(out) + len(fb) + int(crc&1)
		}
		n, _ := f.RecordPayloads(run[:], offs32, nil, frames[0].h.Seq)
		sink += n
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run of the read path, want 0", allocs)
	}
	_ = sink
}
