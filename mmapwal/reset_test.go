package mmapwal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mmapwal/mmapwal/segment"
)

// Log.Reset (issue 10): every record dropped durably, the next append at
// any sequence ≥ 1, crash safe through META's reset record (FORMAT.md §9.5).

func resetOpts() *Options { return &Options{SegmentSize: segment.MinSize, Durability: SyncManual} }

// resetFill appends n records of 300 bytes (several 4 KiB segments).
func resetFill(t *testing.T, l *Log, n int) {
	t.Helper()
	for range n {
		seq := l.LastSeq() + 1
		if _, err := l.Append(bbPayloadN(seq, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// resetSegNums returns the segment numbers in dir.
func resetSegNums(t *testing.T, dir string) []uint64 {
	t.Helper()
	nums, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return nums
}

// resetCheckEmpty checks the state Reset(next) promises: no record,
// LastSeq = DurableSeq = next−1, FirstSeq = next (also for next 1, as the
// issue says).
func resetCheckEmpty(t *testing.T, l *Log, next uint64, old []uint64) {
	t.Helper()
	wantFirst := next
	if l.LastSeq() != next-1 || l.DurableSeq() != next-1 || l.FirstSeq() != wantFirst {
		t.Fatalf("after Reset(%d): First/Last/Durable %d/%d/%d, want %d/%d/%d",
			next, l.FirstSeq(), l.LastSeq(), l.DurableSeq(), wantFirst, next-1, next-1)
	}
	for _, seq := range old {
		if _, err := l.Read(seq); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Read(%d) after Reset(%d) = %v, want ErrNotFound", seq, next, err)
		}
	}
}

func TestReset(t *testing.T) {
	cases := []struct {
		name    string
		records int    // appended first
		front   uint64 // TruncateFront point, 0 = none
		next    uint64
	}{
		{"below LastSeq", 40, 0, 7},
		{"to 1", 40, 0, 1},
		{"at LastSeq+1", 40, 0, 41},
		{"above LastSeq", 40, 0, 1000},
		{"at LastSeq", 40, 0, 40},
		{"below FirstSeq", 40, 30, 3},
		{"after a full TruncateFront", 40, 41, 20},
		{"new log", 0, 0, 55},
		{"new log to 1", 0, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, resetOpts())
			if err != nil {
				t.Fatal(err)
			}
			resetFill(t, l, c.records)
			if c.front != 0 {
				if err := l.TruncateFront(c.front); err != nil {
					t.Fatal(err)
				}
			}
			old := make([]uint64, 0, c.records)
			for s := uint64(1); s <= uint64(c.records); s++ {
				old = append(old, s)
			}
			before := resetSegNums(t, dir)
			if err := l.Reset(c.next); err != nil {
				t.Fatal(err)
			}
			resetCheckEmpty(t, l, c.next, old)
			after := resetSegNums(t, dir)
			if len(after) == 0 || len(before) > 0 && after[0] <= slices.Max(before) {
				t.Fatalf("segments %v after Reset, %v before: numbers must keep increasing", after, before)
			}
			// Reopen without a Close (a crash), then with one.
			crashRelease(l)
			l, err = Open(dir, resetOpts())
			if err != nil {
				t.Fatal(err)
			}
			resetCheckEmpty(t, l, c.next, old)
			if r := l.Recovery(); r.FinishedTruncation {
				t.Fatalf("Recovery after a completed Reset: %+v", r)
			}
			// The next append takes next, and continues from there.
			for i := range 30 {
				seq, err := l.Append(bbPayloadN(c.next+uint64(i), 300))
				if err != nil || seq != c.next+uint64(i) {
					t.Fatalf("Append after Reset(%d) = %d, %v; want %d", c.next, seq, err, c.next+uint64(i))
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = Open(dir, resetOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.FirstSeq() != c.next || l.LastSeq() != c.next+29 {
				t.Fatalf("reopened: First/Last %d/%d, want %d/%d", l.FirstSeq(), l.LastSeq(), c.next, c.next+29)
			}
			for i := range uint64(30) {
				b, err := l.Read(c.next + i)
				if err != nil || !bytes.Equal(b, bbPayloadN(c.next+i, 300)) {
					t.Fatalf("Read(%d) after reopen: %v", c.next+i, err)
				}
			}
		})
	}
}

func TestResetErrors(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, resetOpts())
	if err != nil {
		t.Fatal(err)
	}
	resetFill(t, l, 5)
	if err := l.Reset(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Reset(0) = %v, want ErrInvalidArgument", err)
	}
	if l.LastSeq() != 5 {
		t.Fatalf("Reset(0) changed LastSeq to %d", l.LastSeq())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(3); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after Close = %v, want ErrClosed", err)
	}
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Reset(3); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Reset on a ReadOnly log = %v, want ErrInvalidArgument", err)
	}
}

// TestResetIterators: an iterator opened before a Reset ends with a
// *TruncatedError (ErrTruncated and ErrNotFound), whatever its position —
// even one that returned nothing or is at the end — and never returns a
// record appended after the Reset.
func TestResetIterators(t *testing.T) {
	for _, next := range []uint64{3, 200} {
		t.Run(fmt.Sprint(next), func(t *testing.T) {
			l, err := Open(t.TempDir(), resetOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			resetFill(t, l, 40)
			var its []*Iterator
			for _, from := range []uint64{1, 10, 41} {
				it, err := l.NewIterator(from)
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				if from == 10 {
					for range 5 {
						if !it.Next() {
							t.Fatal(it.Err())
						}
					}
				}
				its = append(its, it)
			}
			if err := l.Reset(next); err != nil {
				t.Fatal(err)
			}
			resetFill(t, l, 10)
			for i, it := range its {
				if it.Next() {
					t.Fatalf("iterator %d returned %d after Reset(%d)", i, it.Seq(), next)
				}
				var te *TruncatedError
				if err := it.Err(); !errors.As(err, &te) || !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrTruncated) {
					t.Fatalf("iterator %d: Err = %v, want a *TruncatedError", i, err)
				}
			}
			// A new iterator sees the records after the Reset.
			it, err := l.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			var got []uint64
			for it.Next() {
				got = append(got, it.Seq())
			}
			if it.Err() != nil || len(got) != 10 || got[0] != next || got[9] != next+9 {
				t.Fatalf("new iterator: %v, %v", got, it.Err())
			}
		})
	}
}

// resetInterrupted builds a log of several segments and writes the redo
// record of Reset(next) into its META, as Reset's first step does, then
// lets go of the log the way a crash would. It returns the directory and
// the segment number the record names.
func resetInterrupted(t *testing.T, next uint64) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, resetOpts())
	if err != nil {
		t.Fatal(err)
	}
	resetFill(t, l, 40)
	l.wmu.Lock()
	m := l.meta
	m.reset, m.firstSeq, m.floor = l.nextNum+1, next, next-1
	err = writeMeta(dir, m)
	num := m.reset
	l.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	crashRelease(l)
	return dir, num
}

// TestResetInterrupted: a crash after the redo record leaves the reset log
// whatever else of the Reset reached the disk: no segment removed, some,
// all, the new segment created or half created. A ReadOnly open serves the
// reset log without changing anything.
func TestResetInterrupted(t *testing.T) {
	const next = 9
	states := map[string]func(t *testing.T, dir string, num uint64){
		"nothing after the record": func(*testing.T, string, uint64) {},
		"oldest segments removed": func(t *testing.T, dir string, _ uint64) {
			nums := resetSegNums(t, dir)
			for _, n := range nums[:len(nums)/2] {
				os.Remove(filepath.Join(dir, segment.Name(n)))
			}
		},
		"every segment removed": func(t *testing.T, dir string, _ uint64) {
			for _, n := range resetSegNums(t, dir) {
				os.Remove(filepath.Join(dir, segment.Name(n)))
			}
		},
		"new segment created": func(t *testing.T, dir string, num uint64) {
			for _, n := range resetSegNums(t, dir) {
				os.Remove(filepath.Join(dir, segment.Name(n)))
			}
			f, err := segment.Create(filepath.Join(dir, segment.Name(num)), segment.Header{Version: segment.Version, LogID: readLogID(t, dir), Number: num, FirstSeq: next, Size: segment.MinSize})
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		},
		"new segment half created": func(t *testing.T, dir string, num uint64) {
			if err := os.WriteFile(filepath.Join(dir, segment.Name(num)), make([]byte, segment.MinSize), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			dir, num := resetInterrupted(t, next)
			state(t, dir, num)
			old := []uint64{1, 8, 9, 10, 40}

			ro, err := Open(dir, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			resetCheckEmpty(t, ro, next, old)
			if !ro.Recovery().PendingTruncation {
				t.Fatalf("ReadOnly Recovery: %+v, want PendingTruncation", ro.Recovery())
			}
			ro.Close()
			m, err := readMeta(dir)
			if err != nil || m.reset != num {
				t.Fatalf("a ReadOnly open changed META: %+v, %v", m, err)
			}

			l, err := Open(dir, resetOpts())
			if err != nil {
				t.Fatal(err)
			}
			resetCheckEmpty(t, l, next, old)
			if !l.Recovery().FinishedTruncation {
				t.Fatalf("Recovery: %+v, want FinishedTruncation", l.Recovery())
			}
			if nums := resetSegNums(t, dir); len(nums) == 0 || nums[0] != num {
				t.Fatalf("segments after the redo: %v, want %d first", nums, num)
			}
			if seq, err := l.Append([]byte("x")); err != nil || seq != next {
				t.Fatalf("Append = %d, %v; want %d", seq, err, next)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if m, err := readMeta(dir); err != nil || m.reset != 0 {
				t.Fatalf("META after the redo: %+v, %v", m, err)
			}
		})
	}
}

func readLogID(t *testing.T, dir string) [16]byte {
	t.Helper()
	m, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m.logID
}

// goldenMetaReset is testdata/meta-v2-reset.bin: the redo record of
// Reset(100) on the log 0x01…0x10, naming segment 7.
var goldenMetaReset = meta{version: 2, logID: sealTestLogID, firstSeq: 100, floor: 99, reset: 7}

const goldenMetaResetPath = "testdata/meta-v2-reset.bin"

// TestGoldenMetaReset locks the reset record (FORMAT.md §9.5): bit 2 of
// the features, the segment number at 40, first seq and floor seq. A
// version 1 reader refuses it as an unsupported version. Never regenerate
// it.
func TestGoldenMetaReset(t *testing.T) {
	want := goldenMetaReset.encode()
	if bbUpdating() {
		if err := os.WriteFile(goldenMetaResetPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(goldenMetaResetPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("meta.encode differs from %s:\n% x\n% x", goldenMetaResetPath, want, got)
	}
	m, err := decodeMeta(got)
	if err != nil || m != goldenMetaReset {
		t.Fatalf("decodeMeta = %+v, %v; want %+v", m, err, goldenMetaReset)
	}
	if got[56] != 4 || got[40] != 7 || got[32] != 100 || got[48] != 99 {
		t.Fatalf("reset record fields: % x", got)
	}
	if err := decodeMetaV1(got); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("v1 rules on a reset META: %v, want ErrUnsupportedVersion", err)
	}
}

// TestResetConcurrentReaders: reads and iterators racing with Resets and
// appends never return a record that is not the one at that sequence (the
// payload names its sequence and its epoch), under -race.
func TestResetConcurrentReaders(t *testing.T) {
	l, err := Open(t.TempDir(), &Options{SegmentSize: segment.MinSize, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A record names its epoch (the Reset it follows) and its sequence: a
	// read may return a record of the epoch before a Reset that raced with
	// it, never another sequence's bytes or a torn record.
	rec := func(epoch, seq uint64) []byte { return []byte(fmt.Sprintf("%d/%d", epoch, seq)) }
	valid := func(b []byte, seq uint64) bool {
		var e, s uint64
		_, err := fmt.Sscanf(string(b), "%d/%d", &e, &s)
		return err == nil && s == seq && bytes.Equal(b, rec(e, s))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if r == 0 {
					seq := l.FirstSeq() + uint64(i%20)
					if b, err := l.Read(seq); err == nil && !valid(b, seq) {
						errc <- fmt.Errorf("Read(%d) = %q", seq, b)
						return
					}
					continue
				}
				it, err := l.NewIterator(1)
				if err != nil {
					errc <- err
					return
				}
				prev := uint64(0)
				for it.Next() {
					if it.Seq() <= prev || !valid(it.Value(), it.Seq()) {
						errc <- fmt.Errorf("iterator: %d after %d, %q", it.Seq(), prev, it.Value())
						return
					}
					prev = it.Seq()
				}
				if err := it.Err(); err != nil && !errors.Is(err, ErrNotFound) {
					errc <- err
					return
				}
				it.Close()
			}
		}()
	}
	for round := range uint64(40) {
		for range 20 {
			seq := l.LastSeq() + 1
			if _, err := l.Append(rec(round, seq)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Reset(1 + (round*37)%50); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
