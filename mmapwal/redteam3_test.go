//go:build redteam3

package mmapwal

// Red team 3 (issue 11, live readers): each test here FAILS on the code it
// was written against and shows one broken guarantee. They are behind the
// build tag so that the branch stays green:
//
//	go test -tags redteam3 -race -count=1 -run TestRedTeam3 ./mmapwal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rt3Payload is record seq of generation gen, n bytes long.
func rt3Payload(gen byte, seq uint64, n int) []byte {
	b := bytes.Repeat([]byte{gen, byte(seq), byte(seq >> 8)}, n/3+1)
	return b[:n]
}

// A follower that returned records later cut by TruncateBack must get
// ErrTruncated, never silently different records at the same sequences.
// Here the writer cuts back below what the follower returned, re-appends
// other records at the same sequences, and a TruncateFront then removes the
// segment that held the follower's last record, before the follower looks
// again. Its revalidation takes the missing segment for a TruncateFront
// that took nothing back (follower.go revalidate: ff == nil &&
// m.firstSeq > fi.returned) and it goes on with the new records.
func TestRedTeam3FollowerCutThenFrontIsSilent(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if _, err := l.Append(rt3Payload('a', seq, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if !nextWithin(it) || it.Seq() != seq || !bytes.Equal(it.Value(), rt3Payload('a', seq, 1000)) {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	// The follower has applied a1..a40. The writer takes a21..a40 back
	// and writes b21..b60 (bigger, so that they spread over more segments).
	if err := l.TruncateBack(20); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(21); seq <= 60; seq++ {
		if _, err := l.Append(rt3Payload('b', seq, 4000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(41); err != nil {
		t.Fatal(err)
	}
	if nextWithin(it) {
		t.Fatalf("follower applied a21..a40, the log now holds b21..b40, and it goes on silently with record %d (%c...)",
			it.Seq(), it.Value()[0])
	}
	if !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", it.Err())
	}
}

// The same with no TruncateFront: the writer cuts back and re-appends
// records of the same sizes, the one at the follower's last sequence byte
// for byte as before, the others different. The follower re-validates only
// its last record (follower.go revalidate: frame at retOff, same seq and
// CRC), finds it intact and goes on: it applied a36..a39 the log no longer
// holds.
func TestRedTeam3FollowerCutSameLastRecord(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		l.Append(rt3Payload('a', seq, 100))
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	if err := l.TruncateBack(35); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(36); seq <= 39; seq++ {
		l.Append(rt3Payload('b', seq, 100))
	}
	l.Append(rt3Payload('a', 40, 100)) // record 40 as it was
	l.Append(rt3Payload('b', 41, 100))
	if got, _ := f.Read(36); !bytes.Equal(got, rt3Payload('b', 36, 100)) {
		t.Fatalf("the log does not hold b36: %q", got)
	}
	if nextWithin(it) {
		t.Fatalf("follower applied a36..a39, the log holds b36..b39, and it goes on silently with record %d (%c...)",
			it.Seq(), it.Value()[0])
	}
	if !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", it.Err())
	}
}

// A Reset ends every iterator opened before it with ErrTruncated (README,
// issue 11), followers included. When the follower looks only after the
// writer closed (or reopened: a new incarnation), the Reset counter it
// compares is gone and revalidate takes the removed segments for a
// TruncateFront: Reset(last+1) goes on silently, Reset above it ends with
// a bare ErrNotFound (locate), not ErrTruncated.
func TestRedTeam3FollowerResetAcrossRestart(t *testing.T) {
	for _, next := range []uint64{11, 1000} {
		for _, reopen := range []bool{false, true} {
			t.Run(map[bool]string{false: "close", true: "reopen"}[reopen]+"-"+map[uint64]string{11: "next11", 1000: "next1000"}[next], func(t *testing.T) {
				dir := fastTempDir(t)
				l, err := Open(dir, folOpts())
				if err != nil {
					t.Fatal(err)
				}
				for seq := uint64(1); seq <= 10; seq++ {
					l.Append(folPayload(seq))
				}
				f := openFollower(t, dir, nil)
				it, _ := f.NewIterator(1)
				defer it.Close()
				expect(t, it, seqRange(1, 10)...)
				if err := l.Reset(next); err != nil {
					t.Fatal(err)
				}
				l.Append([]byte("after the reset"))
				l.Close()
				if reopen {
					l, err = Open(dir, folOpts())
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
				}
				if nextWithin(it) {
					t.Fatalf("returned %d %q after Reset(%d) dropped the records it returned", it.Seq(), it.Value(), next)
				}
				if !errors.Is(it.Err(), ErrTruncated) {
					t.Fatalf("err %v, want ErrTruncated", it.Err())
				}
			})
		}
	}
}

// deletedFDs counts this process's descriptors on removed files of dir.
func deletedFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd") // not a finding: the platform cannot tell
	}
	n := 0
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(p, dir) && strings.HasSuffix(p, "(deleted)") {
			n++
		}
	}
	return n
}

// A follower keeps every segment it ever mapped open and mapped: a segment
// leaves Follower.files only when acquire is asked for its number again
// (follower.go acquire), which never happens once TruncateFront removed it.
// A long-running follower beside a writer that rotates and compacts leaks a
// descriptor and a mapping per segment, and the disk space of every removed
// segment stays allocated until the follower closes.
func TestRedTeam3FollowerLeaksRemovedSegments(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	rec := make([]byte, 2000)
	for seq := uint64(1); seq <= 2000; seq++ {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
		if seq%50 == 0 {
			if err := l.TruncateFront(seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	it.Next()
	if n := deletedFDs(t, dir); n > 4 {
		f.mu.Lock()
		mapped := len(f.files)
		f.mu.Unlock()
		t.Fatalf("the follower holds %d descriptors on removed segments (%d segments mapped); the writer has %d segments", n, mapped, len(l.segments()))
	}
}
