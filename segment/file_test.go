package segment_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestCreateOpen creates a segment and checks the file (full size, the
// header on disk), the accessors, and that it reopens and scans as empty.
func TestCreateOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), segment.Name(testNumber))
	h := testHeader(8192)
	f, err := segment.Create(path, h)
	requireNoErr(t, err, "Create")
	if f.Path() != path || f.Header() != h || f.Size() != 8192 || f.Seed() != crcframe.Seed(testLogID, testNumber) || len(f.Data()) != 8192 {
		t.Fatalf("Create: path %s, header %+v, size %d, seed %#x, len(Data) %d", f.Path(), f.Header(), f.Size(), f.Seed(), len(f.Data()))
	}
	requireNoErr(t, f.Close(), "Close")
	requireNoErr(t, f.Close(), "second Close")

	disk, err := os.ReadFile(path)
	requireNoErr(t, err, "ReadFile")
	want := make([]byte, 8192)
	segment.EncodeHeader(want, h)
	if !bytes.Equal(disk, want) {
		t.Fatal("the file is not the encoded header followed by zeros")
	}

	for _, writable := range []bool{false, true} {
		f, err := segment.Open(path, testNumber, testLogID, writable)
		requireNoErr(t, err, "Open")
		if f.Header() != h {
			t.Fatalf("Open: header %+v, want %+v", f.Header(), h)
		}
		e, seen := scan(f, 41, 1024)
		requireEnd(t, e, segment.End{Offset: segment.HeaderSize, LastSeq: 41, Reason: crcframe.CleanEnd, Bad: segment.HeaderSize, Dirty: segment.HeaderSize})
		if !e.Clean() || len(seen) != 0 {
			t.Fatalf("empty segment: Clean %v, visited %d", e.Clean(), len(seen))
		}
		requireNoErr(t, f.Close(), "Close")
	}
}

// TestCreateExisting: Create never reuses a file, and its failure leaves
// the existing one alone.
func TestCreateExisting(t *testing.T) {
	f := createSegment(t, segment.MinSize)
	_, err := f.WriteFrame(segment.HeaderSize, crcframe.Header{Seq: 10, Type: crcframe.Full}, []byte("keep me"))
	requireNoErr(t, err, "WriteFrame")
	_, err = segment.Create(f.Path(), testHeader(segment.MinSize))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	g, err := segment.Open(f.Path(), testNumber, testLogID, false)
	requireNoErr(t, err, "Open the existing file")
	defer g.Close()
	if e, _ := scan(g, testPrevSeq, 1024); e.Records != 1 {
		t.Fatalf("the existing file lost its record: %+v", e)
	}
}

// TestCreateBadSize: a size outside [MinSize, MaxSize] or not a multiple of
// 8 is refused before any file is made.
func TestCreateBadSize(t *testing.T) {
	for _, size := range []int64{-8, 0, 8, segment.MinSize - 8, segment.MinSize + 4, segment.MaxSize + 8, 1 << 40} {
		dir := t.TempDir()
		f, err := segment.Create(filepath.Join(dir, segment.Name(testNumber)), testHeader(size))
		if err == nil {
			f.Close()
			t.Fatalf("Create with size %d succeeded", size)
		}
		requireEmptyDir(t, dir)
	}
}

// TestOpenMissing: a missing file is the OS's not-exist error, not a
// corruption reason.
func TestOpenMissing(t *testing.T) {
	_, err := segment.Open(filepath.Join(t.TempDir(), segment.Name(testNumber)), testNumber, testLogID, false)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	var r crcframe.Reason
	if errors.As(err, &r) {
		t.Fatalf("Open of a missing file carries reason %v", r)
	}
}

// TestWriteFrameBounds: WriteFrame writes a frame that fits exactly up to
// the end, and refuses with LengthOutOfBounds, writing nothing, a frame that
// does not fit or an offset outside the frame area. Fits agrees.
func TestWriteFrameBounds(t *testing.T) {
	const size = segment.MinSize
	f := createSegment(t, size)
	h := crcframe.Header{Seq: 10, Type: crcframe.Full}
	room := size - segment.HeaderSize - crcframe.HeaderSize // the largest payload of an empty segment
	cases := []struct {
		off  int64
		n    int
		fits bool
	}{
		{segment.HeaderSize, 0, true},
		{segment.HeaderSize, room, true},
		{segment.HeaderSize, room + 1, false},
		{size - crcframe.HeaderSize, 0, true},
		{size - crcframe.HeaderSize - 8, 8, true},
		{size - crcframe.HeaderSize - 8, 9, false},
		{size - 16, 0, false},
		{size, 0, false},
		{size + 8, 0, false},
		{0, 0, false}, // over the header
		{segment.HeaderSize - 8, 0, false},
	}
	for _, c := range cases {
		before := bytes.Clone(f.Data())
		n, err := f.WriteFrame(c.off, h, pattern(c.n))
		if c.fits {
			if err != nil || n != crcframe.Size(c.n) {
				t.Fatalf("WriteFrame(%d, %d bytes) = %d, %v", c.off, c.n, n, err)
			}
			got, p, m, err := crcframe.Decode(f.Data()[c.off:], f.Seed(), crcframe.MaxPayload)
			if err != nil || got != h || m != n || !bytes.Equal(p, pattern(c.n)) {
				t.Fatalf("frame written at %d decodes as %+v, %d, %v", c.off, got, m, err)
			}
		} else {
			requireReason(t, err, crcframe.LengthOutOfBounds)
			if n != 0 || !bytes.Equal(f.Data(), before) {
				t.Fatalf("refused WriteFrame(%d, %d bytes) returned %d or changed the mapping", c.off, c.n, n)
			}
		}
		if c.off >= segment.HeaderSize && f.Fits(c.off, c.n) != c.fits {
			t.Fatalf("Fits(%d, %d) = %v, want %v", c.off, c.n, !c.fits, c.fits)
		}
		clear(f.Data()[segment.HeaderSize:])
	}
	if f.Fits(segment.HeaderSize, -1) {
		t.Fatal("Fits with a negative length")
	}
}

// writeFrames writes frames from HeaderSize on and returns their offsets
// and their end.
func writeFrames(tb testing.TB, f *segment.File, frames []frame) ([]int64, int64) {
	tb.Helper()
	off := int64(segment.HeaderSize)
	var offs []int64
	for _, fr := range frames {
		n, err := f.WriteFrame(off, fr.h, fr.payload)
		requireNoErr(tb, err, "WriteFrame")
		offs = append(offs, off)
		off += int64(n)
	}
	return offs, off
}

// TestSyncActivate writes records into a prepared segment (first seq 0),
// activates it, syncs, and reopens: the file holds the new header and the
// records. Sync of an empty range is a no-op; StartWriteback and Prefault
// succeed.
func TestSyncActivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), segment.Name(testNumber))
	h := testHeader(8192)
	h.FirstSeq = 0
	f, err := segment.Create(path, h)
	requireNoErr(t, err, "Create")
	defer f.Close()
	requireNoErr(t, f.Prefault(segment.HeaderSize, f.Size()), "Prefault")
	requireNoErr(t, f.Prefault(100, 100), "empty Prefault")

	frames := base3()
	offs, end := writeFrames(t, f, frames)
	f.Activate(testFirstSeq)
	if f.Header().FirstSeq != testFirstSeq {
		t.Fatalf("Activate: header %+v", f.Header())
	}
	requireNoErr(t, f.StartWriteback(0, end), "StartWriteback")
	requireNoErr(t, f.StartWriteback(end, end), "empty StartWriteback")
	requireNoErr(t, f.Sync(0, end), "Sync")
	requireNoErr(t, f.Sync(end, end), "empty Sync")
	requireNoErr(t, f.Sync(end, 0), "reversed Sync")

	disk, err := os.ReadFile(path)
	requireNoErr(t, err, "ReadFile")
	if !bytes.Equal(disk, f.Data()) {
		t.Fatal("the file differs from the mapping after Sync")
	}
	g, err := segment.Open(path, testNumber, testLogID, false)
	requireNoErr(t, err, "reopen")
	defer g.Close()
	if g.Header() != testHeader(8192) {
		t.Fatalf("reopened header %+v, want first seq %d", g.Header(), testFirstSeq)
	}
	e, seen := scan(g, testPrevSeq, 1024)
	if !e.Clean() || e.Offset != end || e.Records != 3 {
		t.Fatalf("reopened scan: %+v", e)
	}
	requireVisited(t, seen, frames, offs)
}

// TestZero cuts frames off the end the durable way: the range reads as
// zero in the mapping and in the file, DirtyEnd from the cut is the cut,
// and the scan ends cleanly there. Ranges outside the frame area are
// refused without touching anything.
func TestZero(t *testing.T) {
	f := createSegment(t, 8192)
	frames := base3()
	offs, _ := writeFrames(t, f, frames)
	f.Data()[7000] = 1 // stray bytes further on go too

	for _, r := range [][2]int64{{0, 100}, {segment.HeaderSize - 8, 100}, {segment.HeaderSize, 8200}, {200, 100}} {
		before := bytes.Clone(f.Data())
		if err := f.Zero(r[0], r[1]); err == nil {
			t.Fatalf("Zero(%d, %d) succeeded", r[0], r[1])
		}
		if !bytes.Equal(f.Data(), before) {
			t.Fatalf("refused Zero(%d, %d) changed the mapping", r[0], r[1])
		}
	}

	cut := offs[1]
	if got, _ := f.DirtyEnd(cut); got != 7008 {
		t.Fatalf("DirtyEnd before Zero = %d, want 7008", got)
	}
	requireNoErr(t, f.Zero(cut, f.Size()), "Zero")
	if got, _ := f.DirtyEnd(cut); got != cut {
		t.Fatalf("DirtyEnd after Zero = %d, want %d", got, cut)
	}
	disk, err := os.ReadFile(f.Path())
	requireNoErr(t, err, "ReadFile")
	if !crcframe.IsZero(disk[cut:]) || !bytes.Equal(disk[:cut], f.Data()[:cut]) {
		t.Fatal("the file does not hold the zeroed range")
	}
	e, seen := scan(f, testPrevSeq, 1024)
	requireEnd(t, e, segment.End{Offset: cut, Records: 1, LastSeq: 10, Reason: crcframe.CleanEnd, Bad: cut, Dirty: cut})
	requireVisited(t, seen, frames[:1], offs[:1])
}

// TestDirtyEnd checks DirtyEnd against a byte-by-byte reference over
// images with stray bytes at page and word edges, from several offsets.
func TestDirtyEnd(t *testing.T) {
	const size = 3 * 4096
	f := createSegment(t, size)
	cases := []struct {
		name  string
		bytes []int64 // offsets set to non-zero
	}{
		{"zero", nil},
		{"first-word", []int64{64}},
		{"mid-word", []int64{100}},
		{"last-byte", []int64{size - 1}},
		{"last-word", []int64{size - 8}},
		{"page-edge-below", []int64{4095}},
		{"page-edge-above", []int64{4096}},
		{"two-pages", []int64{300, 8191}},
		{"far-apart", []int64{70, size - 4097}},
	}
	froms := []int64{segment.HeaderSize, 65, 96, 100, 101, 4096, 4097, 8192, size - 8, size}
	for _, c := range cases {
		clear(f.Data()[segment.HeaderSize:])
		for _, i := range c.bytes {
			f.Data()[i] = 0x80
		}
		for _, from := range froms {
			want := from
			for i := int64(size - 1); i >= from; i-- {
				if f.Data()[i] != 0 {
					want = max(from, (i+8)&^7)
					break
				}
			}
			if got, err := f.DirtyEnd(from); got != want || err != nil {
				t.Fatalf("%s: DirtyEnd(%d) = %d, %v, want %d", c.name, from, got, err, want)
			}
		}
	}
}

// TestQuarantine copies a range of the mapping to the file QuarantineName
// names, beside the segment; a second quarantine of the same offset fails
// and leaves the first intact.
func TestQuarantine(t *testing.T) {
	if got := segment.QuarantineName("0000000000000007.wal", 0x1a40); got != "0000000000000007.wal.torn-0000000000001a40" {
		t.Fatalf("QuarantineName = %q (FORMAT.md §1 names it 0000000000000007.wal.torn-0000000000001a40)", got)
	}
	f := createSegment(t, 8192)
	offs, end := writeFrames(t, f, base3())
	cut := offs[1]
	want := bytes.Clone(f.Data()[cut:end])

	q, err := f.Quarantine(cut, end)
	requireNoErr(t, err, "Quarantine")
	if q != segment.QuarantineName(f.Path(), cut) || filepath.Base(q) != "0000000000000003.wal.torn-0000000000000070" {
		t.Fatalf("Quarantine wrote %s", q)
	}
	got, err := os.ReadFile(q)
	requireNoErr(t, err, "read quarantine")
	if !bytes.Equal(got, want) {
		t.Fatalf("quarantine holds %d bytes, not the %d cut", len(got), len(want))
	}

	f.Data()[cut] ^= 1
	if _, err := f.Quarantine(cut, end); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Quarantine at %d: %v, want fs.ErrExist", cut, err)
	}
	if got, _ := os.ReadFile(q); !bytes.Equal(got, want) {
		t.Fatal("a failed Quarantine changed the existing file")
	}
}

// TestRemove closes the segment and deletes its file.
func TestRemove(t *testing.T) {
	dir := t.TempDir()
	f, err := segment.Create(filepath.Join(dir, segment.Name(testNumber)), testHeader(segment.MinSize))
	requireNoErr(t, err, "Create")
	requireNoErr(t, f.Remove(), "Remove")
	requireEmptyDir(t, dir)
	requireNoErr(t, f.Close(), "Close after Remove")
}

// TestName covers segment file names: 16 lower-case hex digits and ".wal",
// round-tripping through ParseName, which rejects everything else.
func TestName(t *testing.T) {
	for _, n := range []uint64{1, 3, 0xabc, 1 << 32, 1<<64 - 1} {
		name := segment.Name(n)
		if len(name) != 20 {
			t.Fatalf("Name(%d) = %q", n, name)
		}
		if got, ok := segment.ParseName(name); !ok || got != n {
			t.Fatalf("ParseName(%q) = %d, %v; want %d", name, got, ok, n)
		}
	}
	if got := segment.Name(0x1a); got != "000000000000001a.wal" {
		t.Fatalf("Name(0x1a) = %q", got)
	}
	for _, name := range []string{
		"x.wal",
		"0000000000000000.wal",  // segment numbers start at 1
		"00000000000000001.wal", // 17 digits
		"000000000000001.wal",   // 15 digits
		"000000000000000g.wal",
		"000000000000001A.wal", // upper case: Name never writes it, so Open of Name(0x1a) would miss it
		"0000000000000001.WAL",
		"0000000000000001.wal.torn-0000000000000040",
		"0000000000000001",
		"+000000000000001.wal",
		".wal",
		"",
		"META",
	} {
		if n, ok := segment.ParseName(name); ok {
			t.Fatalf("ParseName(%q) = %d, true; want a rejection", name, n)
		}
	}
}
