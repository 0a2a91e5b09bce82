package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// TestProbe classifies crafted files: every State, the evidence it rests on
// (a valid frame at HeaderSize checked with the seed of the log identity and
// number, non-zero bytes after the header's sector), and Dirty.
func TestProbe(t *testing.T) {
	const size = 256 << 10 // room for a frame larger than the probe's chunk
	prepared := testHeader(size)
	prepared.FirstSeq = 0
	one := []frame{rec(crcframe.Full, testFirstSeq, 0, "first record")}
	two := []frame{one[0], rec(crcframe.Full, testFirstSeq+1, 0, "the second record")}
	big := []frame{rec(crcframe.Full, testFirstSeq, 0, string(pattern(100<<10)))}
	withFrames := func(h segment.Header, fs []frame) []byte {
		img, _, _ := segImage(t, h, fs)
		return img
	}
	flipHeader := func(img []byte) []byte {
		img[40] ^= 0x10
		return img
	}
	garble := func(img []byte, from, to int) []byte {
		for i := from; i < to; i++ {
			img[i] = byte(i*7 + 1)
		}
		return img
	}
	newer := func() []byte {
		img := withFrames(testHeader(size), nil)
		binary.LittleEndian.PutUint16(img[8:], segment.Version+1)
		binary.LittleEndian.PutUint32(img[60:], crcframe.Checksum(0, img[:60]))
		return img
	}
	cases := []struct {
		name   string
		img    []byte // nil: no file
		state  segment.State
		reason crcframe.Reason
		frame  bool
		dirty  int64
	}{
		{name: "absent", state: segment.Absent},
		{name: "empty file", img: []byte{}, state: segment.CreationInterrupted, reason: crcframe.IncompleteHeader},
		{name: "all zeros", img: make([]byte, size), state: segment.CreationInterrupted, reason: crcframe.BadMagic},
		{name: "garbage sector", img: garble(make([]byte, size), 0, 300), state: segment.CreationInterrupted, reason: crcframe.BadMagic, dirty: 304},
		{name: "garbage after the sector", img: garble(make([]byte, size), 0, 600), state: segment.Damaged, reason: crcframe.BadMagic, dirty: 600},
		{name: "short garbage", img: garble(make([]byte, 100), 0, 100), state: segment.Damaged, reason: crcframe.BadMagic, dirty: 100},
		{name: "short garbage header", img: garble(make([]byte, 40), 0, 40), state: segment.Damaged, reason: crcframe.IncompleteHeader, dirty: 40},
		{name: "bad header, frame", img: flipHeader(withFrames(testHeader(size), one)), state: segment.Damaged, reason: crcframe.HeaderChecksumMismatch, frame: true, dirty: 64 + 40},
		{name: "bad header, large frame", img: flipHeader(withFrames(testHeader(size), big)), state: segment.Damaged, reason: crcframe.HeaderChecksumMismatch, frame: true, dirty: 64 + 24 + 100<<10},
		{name: "bad header, damaged large frame", img: flipHeader(garble(withFrames(testHeader(size), big), 90000, 90001)), state: segment.Damaged, reason: crcframe.HeaderChecksumMismatch, dirty: 64 + 24 + 100<<10},
		{name: "bad header, frame of another segment", img: flipHeader(withFrames(segment.Header{LogID: otherLogID, Number: testNumber, FirstSeq: 1, Size: size}, one)), state: segment.CreationInterrupted, reason: crcframe.HeaderChecksumMismatch, dirty: 64 + 40},
		{name: "bad header, damaged first frame, second frame", img: garble(flipHeader(withFrames(testHeader(size), two)), 70, 71), state: segment.Damaged, reason: crcframe.HeaderChecksumMismatch, dirty: 64 + 40 + 48},
		{name: "prepared", img: withFrames(prepared, nil), state: segment.Prepared, dirty: 64},
		{name: "prepared, dirty", img: garble(withFrames(prepared, nil), 1000, 1100), state: segment.PreparedDirty, dirty: 1104},
		{name: "prepared, frame", img: withFrames(prepared, one), state: segment.Active, frame: true},
		{name: "active", img: withFrames(testHeader(size), nil), state: segment.Active},
		{name: "newer", img: newer(), state: segment.Newer, reason: crcframe.UnsupportedVersion},
		{name: "foreign", img: withFrames(segment.Header{LogID: otherLogID, Number: testNumber, FirstSeq: 1, Size: size}, nil), state: segment.Foreign, reason: crcframe.ForeignSegment},
		{name: "other number", img: withFrames(segment.Header{LogID: testLogID, Number: testNumber + 1, FirstSeq: 1, Size: size}, nil), state: segment.Foreign, reason: crcframe.SegmentNumberMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), segment.Name(testNumber))
			if c.img != nil {
				path = writeFile(t, c.img)
			}
			st, err := segment.Probe(path, testNumber, testLogID)
			requireNoErr(t, err, "Probe")
			if st.State != c.state || st.Reason != c.reason || st.Frame != c.frame || st.Dirty != c.dirty {
				t.Fatalf("Probe = %v (reason %v, frame %v, dirty %d), want %v (reason %v, frame %v, dirty %d)",
					st.State, st.Reason, st.Frame, st.Dirty, c.state, c.reason, c.frame, c.dirty)
			}
			if c.img != nil && st.Size != int64(len(c.img)) {
				t.Fatalf("Size = %d, want %d", st.Size, len(c.img))
			}
		})
	}
}

// TestProbeNotRegular: a directory of a segment's name is an *Error
// (BadMagic), never a state that could let it be skipped.
func TestProbeNotRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), segment.Name(testNumber))
	requireNoErr(t, os.Mkdir(path, 0o755), "mkdir")
	_, err := segment.Probe(path, testNumber, testLogID)
	var se *segment.Error
	if !errors.As(err, &se) || se.Reason != crcframe.BadMagic {
		t.Fatalf("Probe of a directory: %v, want a *segment.Error with BadMagic", err)
	}
}

// TestProbeFaults: Probe, QuarantineFile and DropCache open files through
// the fault seam, and return its error.
func TestProbeFaults(t *testing.T) {
	path := writeFile(t, make([]byte, segment.MinSize))
	restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpOpen, 1, syscall.EIO, true))
	_, perr := segment.Probe(path, testNumber, testLogID)
	_, qerr := segment.QuarantineFile(path, 0, 10)
	derr := segment.DropCache(path)
	restore()
	for what, err := range map[string]error{"Probe": perr, "QuarantineFile": qerr, "DropCache": derr} {
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("%s with a failing open: %v, want EIO", what, err)
		}
	}
	restore = sysutil.SetFault(sysutil.FailNth(sysutil.OpFdatasync, 1, syscall.EIO, false))
	_, qerr = segment.QuarantineFile(path, 0, 10)
	restore()
	if !errors.Is(qerr, syscall.EIO) {
		t.Fatalf("QuarantineFile with a failing fdatasync: %v, want EIO", qerr)
	}
	if _, err := os.Stat(segment.QuarantineName(path, 0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed quarantine left its file: %v", err)
	}
	requireNoErr(t, segment.DropCache(filepath.Join(t.TempDir(), "missing")), "DropCache of a missing file")
	requireNoErr(t, segment.DropCache(path), "DropCache")
}

// TestQuarantineFile copies a range of a file, replacing a stale
// quarantine file of the same name.
func TestQuarantineFile(t *testing.T) {
	img := pattern(200 << 10)
	path := writeFile(t, img)
	requireNoErr(t, os.WriteFile(segment.QuarantineName(path, 100), []byte("stale"), 0o644), "stale quarantine")
	q, err := segment.QuarantineFile(path, 100, 150<<10)
	requireNoErr(t, err, "QuarantineFile")
	if q != segment.QuarantineName(path, 100) {
		t.Fatalf("quarantine path %s, want %s", q, segment.QuarantineName(path, 100))
	}
	got, err := os.ReadFile(q)
	requireNoErr(t, err, "read the quarantine")
	if !bytes.Equal(got, img[100:150<<10]) {
		t.Fatalf("quarantine holds %d bytes, want bytes [100, %d) of the file", len(got), 150<<10)
	}
}

// TestReadHeader reads only a file's header: a valid one, a newer format's,
// a short file, a missing one, and a failing open.
func TestReadHeader(t *testing.T) {
	img, _, _ := segImage(t, testHeader(segment.MinSize), nil)
	h, err := segment.ReadHeader(writeFile(t, img))
	if err != nil || h != testHeader(segment.MinSize) {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	binary.LittleEndian.PutUint16(img[8:], segment.Version+1)
	binary.LittleEndian.PutUint32(img[60:], crcframe.Checksum(0, img[:60]))
	_, err = segment.ReadHeader(writeFile(t, img))
	requireReason(t, err, crcframe.UnsupportedVersion)
	_, err = segment.ReadHeader(writeFile(t, img[:10]))
	requireReason(t, err, crcframe.IncompleteHeader)
	if _, err := segment.ReadHeader(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadHeader of a missing file: %v", err)
	}
	restore := sysutil.SetFault(sysutil.FailNth(sysutil.OpOpen, 1, syscall.EIO, false))
	_, err = segment.ReadHeader(writeFile(t, img))
	restore()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("ReadHeader with a failing open: %v, want EIO", err)
	}
}
