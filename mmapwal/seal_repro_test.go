package mmapwal_test

// Regression tests of issue 8, bug 5: a zeroed tail read as a clean end.
// They use only the public API and the files, so that they also run
// against the version 1 code (where they fail: the log opens with a hole).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

// sealRecord is record seq of the logs these tests build.
func sealRecord(seq uint64) []byte {
	return bytes.Repeat([]byte{byte(seq), byte(seq >> 8)}, 60+int(seq%7)*20)
}

// sealBuild writes a log of 4 KiB segments holding records 1..n and closes
// it cleanly; it returns its directory.
func sealBuild(t *testing.T, n uint64) string {
	t.Helper()
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: segment.MinSize, Durability: mmapwal.SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= n; seq++ {
		if got, err := l.Append(sealRecord(seq)); err != nil || got != seq {
			t.Fatalf("Append %d = %d, %v", seq, got, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sealSegments returns the segment file names of dir, in order.
func sealSegments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if _, ok := segment.ParseName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	return names
}

// sealBoundaries returns the offsets of the frames of a segment file, and
// the end of the last one, walking the frames from the header.
func sealBoundaries(t *testing.T, img []byte) []int64 {
	t.Helper()
	h, err := segment.DecodeHeader(img)
	if err != nil {
		t.Fatal(err)
	}
	seed := crcframe.Seed(h.LogID, h.Number)
	offs := []int64{segment.HeaderSize}
	for off := int64(segment.HeaderSize); ; {
		_, _, n, err := crcframe.Decode(img[off:], seed, len(img))
		if err != nil {
			return offs
		}
		off += int64(n)
		offs = append(offs, off)
	}
}

// sealRequireCorrupt checks that dir, damaged, is refused with ErrCorrupt
// (damage to durable data, never a torn tail) by both repair policies, and
// that a ReadOnly open reports the damage and serves only true records.
func sealRequireCorrupt(t *testing.T, dir, label string) {
	t.Helper()
	for _, p := range []mmapwal.RepairPolicy{mmapwal.TruncatePartial, mmapwal.Strict} {
		l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: segment.MinSize, Repair: p})
		if err == nil {
			n := l.LastSeq()
			l.Close()
			t.Fatalf("%s, repair policy %d: opened (LastSeq %d), want ErrCorrupt", label, p, n)
		}
		var ce *mmapwal.CorruptionError
		if !errors.As(err, &ce) || !ce.Durable || ce.Reason == mmapwal.ReasonTornTail {
			t.Fatalf("%s, repair policy %d: %v, want ErrCorrupt of durable data", label, p, err)
		}
	}
	l, err := mmapwal.Open(dir, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		return // refused outright is fine for a salvage
	}
	defer l.Close()
	if l.Recovery().Corruption == nil {
		t.Fatalf("%s, ReadOnly: no corruption reported", label)
	}
	it, err := l.NewIterator(0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.Next() {
		if !bytes.Equal(it.Value(), sealRecord(it.Seq())) {
			t.Fatalf("%s, ReadOnly: record %d has other bytes", label, it.Seq())
		}
	}
}

// TestSealedSegmentZeroedTail: zeroing a sealed segment from any frame
// boundary to its end (the seal alone included) is corruption of durable
// data under both repair policies, not a clean end with a hole.
func TestSealedSegmentZeroedTail(t *testing.T) {
	src := sealBuild(t, 60)
	names := sealSegments(t, src)
	if len(names) < 4 {
		t.Fatalf("%d segments, want at least 4", len(names))
	}
	cases := 0
	for _, name := range names[:len(names)-1] {
		img, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		offs := sealBoundaries(t, img)
		end := offs[len(offs)-1]
		for _, off := range offs[:len(offs)-1] { // the last one is the end: nothing to zero
			dir := copyToTempDir(t, src)
			dmg := bytes.Clone(img)
			clear(dmg[off:])
			if err := os.WriteFile(filepath.Join(dir, name), dmg, 0o644); err != nil {
				t.Fatal(err)
			}
			sealRequireCorrupt(t, dir, fmt.Sprintf("%s zeroed from %d (frames end at %d)", name, off, end))
			os.RemoveAll(dir)
			cases++
		}
	}
	t.Logf("%d zeroed tails of sealed segments detected", cases)
}

// TestCleanCloseZeroedTail: after a clean Close, zeroing the newest segment
// from any frame boundary (the mark included) is corruption under both
// repair policies: the README promises that after a clean Close damage to
// any record is ErrCorrupt.
func TestCleanCloseZeroedTail(t *testing.T) {
	src := sealBuild(t, 40)
	names := sealSegments(t, src)
	name := names[len(names)-1]
	img, err := os.ReadFile(filepath.Join(src, name))
	if err != nil {
		t.Fatal(err)
	}
	offs := sealBoundaries(t, img)
	if len(offs) < 3 {
		t.Fatalf("the newest segment holds %d frames, want a record and the mark", len(offs)-1)
	}
	for _, off := range offs[:len(offs)-1] {
		dir := copyToTempDir(t, src)
		dmg := bytes.Clone(img)
		clear(dmg[off:])
		if err := os.WriteFile(filepath.Join(dir, name), dmg, 0o644); err != nil {
			t.Fatal(err)
		}
		sealRequireCorrupt(t, dir, fmt.Sprintf("newest segment %s zeroed from %d", name, off))
		os.RemoveAll(dir)
	}
	// Untouched, it opens with every record, also a second time (the
	// first writable open cleared the record, the Close wrote it again).
	for range 2 {
		l, err := mmapwal.Open(src, &mmapwal.Options{SegmentSize: segment.MinSize, Repair: mmapwal.Strict})
		if err != nil {
			t.Fatal(err)
		}
		if l.LastSeq() != 40 || !l.Recovery().Clean {
			t.Fatalf("LastSeq %d, Clean %v", l.LastSeq(), l.Recovery().Clean)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
