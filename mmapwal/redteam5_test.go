//go:build redteam5

package mmapwal

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// Red team 5 (brief R3) repros against the live readers (issue 11). Each
// test fails on the library as it is at the commit that adds it.
//
//	go test -tags redteam5 -race -count=1 -run 'TestRT5' ./mmapwal

// rt5Payload is the content of record seq written by writer generation gen.
func rt5Payload(seq, gen uint64) []byte {
	return append(bytes.Repeat([]byte{byte(seq), byte(gen)}, 8+int(seq%50)), byte(gen))
}

func rt5Append(t *testing.T, l *Log, from, to, gen uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		got, err := l.Append(rt5Payload(s, gen))
		if err != nil || got != s {
			t.Fatalf("append %d: got %d, %v", s, got, err)
		}
	}
}

// TestRT5OlderWriterBetweenRestartsHidesCut: a writer of this version
// closes (the ring says: no cut), a writer of an older version (no control
// area: testHookNoControl) opens, TruncateBack(10), re-appends 11..100 with
// other bytes, closes; then a writer of this version opens again: CONTROL
// is still the same lineage, so carryRing carries the ring over, and the
// open cut it records is LastSeq+1 = 101. A follower that returned 1..95
// of the first generation and did not look while the older writer ran
// (nothing forces it to) then follows the ring, learns of no cut at or
// below 95, and returns record 96 of the *second* generation: silently
// different records at the same sequences (must be ErrTruncated).
func TestRT5OlderWriterBetweenRestartsHidesCut(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 95; s++ {
		if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 1)) {
			t.Fatalf("gen 1 record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// An older writer (no control area): cut and rewrite.
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	if err != nil {
		testHookNoControl = false
		t.Fatal(err)
	}
	if err := l2.TruncateBack(10); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 11, 100, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	testHookNoControl = false

	l3, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if nextWithin(it) {
		if it.Seq() == 96 && bytes.Equal(it.Value(), rt5Payload(96, 2)) {
			t.Fatalf("follower returned record 96 of generation 2 after 1..95 of generation 1 (records 11..95 it returned were cut by TruncateBack(10)): want *TruncatedError{Seq: 11}")
		}
		t.Fatalf("follower returned record %d (%d bytes) after gen 1's 95; want *TruncatedError", it.Seq(), len(it.Value()))
	}
	var te *TruncatedError
	if !errors.As(it.Err(), &te) || te.Seq != 11 {
		t.Fatalf("err %v, want *TruncatedError{Seq: 11}", it.Err())
	}
}

// TestRT5RingOverflowSpuriousTruncation: more than 16 cuts between two
// looks of a follower fold the oldest cut (TruncateBack(90): 91 removed)
// into the next entry, whose epoch is after the follower's last look. A
// follower that had already seen that cut, re-read 91..150 of the new
// records, and then sleeps through 16 cuts that all remove records above
// 200 gets ErrTruncated{Seq: 91} although every record it returned is
// still in the log, byte for byte (the conservative fold should fall back
// to checking the records, as revalidate does, not fail the iterator).
func TestRT5RingOverflowSpuriousTruncation(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 50; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.TruncateBack(90); err != nil { // cut #1: removes 91..100, none returned
		t.Fatal(err)
	}
	rt5Append(t, l, 91, 150, 2)
	for s := uint64(51); s <= 150; s++ {
		gen := uint64(1)
		if s > 90 {
			gen = 2
		}
		if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, gen)) {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	// 16 more cuts, all above anything the follower returned.
	rt5Append(t, l, 151, 210, 2)
	for i := 0; i < 16; i++ {
		if err := l.TruncateBack(200); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 201, 210, uint64(3+i))
	}
	if !nextWithin(it) {
		t.Fatalf("after 16 cuts above 200 (every record returned, 1..150, intact): NextWait false, err %v; want record 151", it.Err())
	}
	if it.Seq() != 151 || !bytes.Equal(it.Value(), rt5Payload(151, 2)) {
		t.Fatalf("got record %d, want 151", it.Seq())
	}
}

// rt5Counts returns the process's open fds and mappings of files in dir.
func rt5Counts(t *testing.T, dir string) (fds, maps int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, e := range ents {
		if p, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(p, dir) {
			fds++
		}
	}
	b, _ := os.ReadFile("/proc/self/maps")
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, dir) {
			maps++
		}
	}
	return fds, maps
}
