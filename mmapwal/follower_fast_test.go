package mmapwal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// BenchmarkFollowerNext: a follower's Next over records already there
// (one that is behind a bulk writer), 128 B payloads, in segments of 64
// MiB under a live writer: the per-record cost the follower takes from the
// cores the writer runs on.
func BenchmarkFollowerNext(b *testing.B) {
	dir := fastTempDir(b)
	l, err := Open(dir, &Options{Durability: SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 1 << 20
	p := make([]byte, 128)
	for range n {
		if _, err := l.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	f, err := OpenFollower(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	it, err := f.NewIterator(1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !it.Next() {
			it.Close()
			if it, err = f.NewIterator(1); err != nil || !it.Next() {
				b.Fatalf("from the start again: %v", it.Err())
			}
		}
	}
	b.StopTimer()
	it.Close()
}

// fastOpts: segments large enough that a follower's chunk (fastNext)
// holds many records.
func fastOpts() *Options { return &Options{Durability: SyncManual, SegmentSize: 1 << 20} }

// armFast has the follower iterator it return 1..upto under a writer that
// appended 1..200 of generation 1 after the follower's first look (so
// that the writer publishes its end), and checks that its fast path holds
// a chunk with records after upto: what a change of the log must now
// make it drop.
func armFast(t *testing.T, l *Log, it *Iterator, upto uint64) {
	t.Helper()
	rt5Append(t, l, 1, 1, 1)
	if !it.Next() || it.Seq() != 1 {
		t.Fatalf("record 1: %d %v", it.Seq(), it.Err())
	}
	rt5Append(t, l, 2, 200, 1)
	for s := uint64(2); s <= upto; s++ {
		if !it.Next() || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 1)) {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	fi := it.fol
	if !fi.fast || fi.chunkFile != fi.file || fi.chunkOff+int64(len(fi.chunk)) <= fi.off+crcframe.HeaderSize {
		t.Fatalf("the fast path holds no chunk after record %d (fast %v, chunk %d bytes at %d, position %d)", upto, fi.fast, len(fi.chunk), fi.chunkOff, fi.off)
	}
}

// TestFollowerFastPathSeesChanges: a change of the log between two Nexts
// of a follower whose fast path holds copied records after its position
// (armFast) makes it drop them: it reads what the files hold after the
// change, or ends as a look would.
func TestFollowerFastPathSeesChanges(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, l *Log) *Log
		// after the change: the records still to come from 51 (gen 1 up to
		// keep, gen 2 after), or cut: a *TruncatedError at that Seq
		keep, cut uint64
	}{
		{"TruncateBack below the position", func(t *testing.T, l *Log) *Log {
			if err := l.TruncateBack(40); err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l, 41, 200, 2)
			return l
		}, 0, 41},
		{"TruncateBack after the position", func(t *testing.T, l *Log) *Log {
			if err := l.TruncateBack(60); err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l, 61, 200, 2)
			return l
		}, 60, 0},
		{"Reset", func(t *testing.T, l *Log) *Log {
			if err := l.Reset(1); err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l, 1, 200, 2)
			return l
		}, 0, 1},
		{"writer restart", func(t *testing.T, l *Log) *Log {
			dir := l.dir
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2, err := Open(dir, fastOpts())
			if err != nil {
				t.Fatal(err)
			}
			if err := l2.TruncateBack(60); err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l2, 61, 200, 2)
			return l2
		}, 60, 0},
		{"rewrite in place under a new incarnation", func(t *testing.T, l *Log) *Log {
			// What a writer the area does not tell of could do (it
			// changes the incarnation alone): frames 51..60 rewritten
			// with other bytes, same lengths, valid checksums.
			rewriteFrames(t, l, 51, 60, 2)
			l.ctl.incarnation.Store(l.ctl.incarnation.Load() + 2)
			return l
		}, 50, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, fastOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			f := openFollower(t, dir, nil)
			it, err := f.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			armFast(t, l, it, 50)
			l = c.change(t, l)
			if c.cut != 0 {
				if nextWithin(it) {
					t.Fatalf("returned %d (gen-1 bytes: %v) after the change, want *TruncatedError{Seq: %d}", it.Seq(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 1)), c.cut)
				}
				var te *TruncatedError
				if !errors.As(it.Err(), &te) || te.Seq != c.cut {
					t.Fatalf("err %v, want *TruncatedError{Seq: %d}", it.Err(), c.cut)
				}
				return
			}
			for s := uint64(51); s <= 60; s++ {
				gen := uint64(1)
				if s > c.keep {
					gen = 2
				}
				if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, gen)) {
					t.Fatalf("record %d: seq %d err %v; gen-1 bytes %v, want gen %d", s, it.Seq(), it.Err(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 1)), gen)
				}
			}
		})
	}
}

// rewriteFrames rewrites the frames of records from..to of l's active
// segment in place with the payloads of generation gen (the same
// lengths), as valid frames.
func rewriteFrames(t *testing.T, l *Log, from, to, gen uint64) {
	t.Helper()
	s := l.active
	for seq := from; seq <= to; seq++ {
		i, ok := s.idx.find(seq)
		if !ok {
			t.Fatalf("record %d not in the active segment", seq)
		}
		off := s.idx.off(i)
		if _, err := s.file.WriteFrame(off, crcframe.Header{Seq: seq, Type: crcframe.Full}, rt5Payload(seq, gen)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFollowerFastPathLooksWhenDue: the fast path gives way to a full
// look when the Follower's verdict on the area changed (trust lost, the
// area dropped), when a recheck of the trust is due, and after Close.
func TestFollowerFastPathLooksWhenDue(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *Follower)
		check  func(t *testing.T, f *Follower, it *Iterator, ok bool)
	}{
		{"trust lost", func(f *Follower) {
			f.mu.Lock()
			f.setTrustLocked(f.trust.pid, f.trust.inc, false)
			f.mu.Unlock()
		}, func(t *testing.T, f *Follower, it *Iterator, ok bool) {
			if it.fol.trusted {
				t.Fatalf("Next (%v, seq %d) kept the position validated under an area no longer trusted", ok, it.Seq())
			}
		}},
		{"area dropped", func(f *Follower) {
			f.mu.Lock()
			f.dropControlLocked(errControlFault)
			f.ctlTry = time.Now().Add(time.Hour) // not mapped again by the look
			f.mu.Unlock()
		}, func(t *testing.T, f *Follower, it *Iterator, ok bool) {
			if it.fol.trusted {
				t.Fatalf("Next (%v, seq %d) kept the position validated under an area the Follower dropped", ok, it.Seq())
			}
		}},
		{"recheck due", func(f *Follower) {
			f.due.Store(true)
		}, func(t *testing.T, f *Follower, it *Iterator, ok bool) {
			if f.due.Load() {
				t.Fatalf("Next (%v, seq %d) did not take the look that rechecks the trust", ok, it.Seq())
			}
		}},
		{"Close", func(f *Follower) {
			f.Close()
		}, func(t *testing.T, f *Follower, it *Iterator, ok bool) {
			if ok || !errors.Is(it.Err(), ErrClosed) {
				t.Fatalf("Next after Close: %v seq %d err %v, want ErrClosed", ok, it.Seq(), it.Err())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, fastOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			f := openFollower(t, dir, nil)
			it, err := f.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			armFast(t, l, it, 50)
			c.change(f)
			ok := it.Next()
			c.check(t, f, it, ok)
		})
	}
}

// TestFollowerFastPathAcrossRotations: a follower that reads through its
// fast path (segments of 16 KiB, a chunk per look) across rotations,
// batches and gaps returns every record once, in order, byte for byte.
func TestFollowerFastPathAcrossRotations(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var want []uint64
	next := uint64(1)
	for round := 0; round < 40; round++ {
		switch round % 4 {
		case 1:
			batch := make([][]byte, 5)
			for i := range batch {
				batch[i] = folPayload(next + uint64(i))
			}
			if _, err := l.AppendBatch(batch); err != nil {
				t.Fatal(err)
			}
			for i := range batch {
				want = append(want, next+uint64(i))
			}
			next += uint64(len(batch))
		default:
			for range 37 {
				if _, err := l.Append(folPayload(next)); err != nil {
					t.Fatal(err)
				}
				want = append(want, next)
				next++
			}
		}
		// Read a part only: the chunk then holds records the next round's
		// rotations come after.
		k := len(want) / 2
		if round == 39 {
			k = len(want)
		}
		expect(t, it, want[:k]...)
		want = want[k:]
	}
	if it.Next() {
		t.Fatalf("record %d after the last", it.Seq())
	}
}

// TestFollowerFastPathStopsAtBounds: the fast path returns no record the
// general path would hold back: a DurableOnly follower's records above
// DurableSeq, and a batch whose last frame is not written yet.
func TestFollowerFastPathStopsAtBounds(t *testing.T) {
	t.Run("DurableOnly", func(t *testing.T) {
		dir := fastTempDir(t)
		l, err := Open(dir, fastOpts())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
		it, err := f.NewIterator(1)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		rt5Append(t, l, 1, 1, 1)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if !it.Next() || it.Seq() != 1 {
			t.Fatalf("record 1: %d %v", it.Seq(), it.Err())
		}
		rt5Append(t, l, 2, 100, 1)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 101, 200, 1)
		for s := uint64(2); s <= 100; s++ {
			if !it.Next() || it.Seq() != s {
				t.Fatalf("record %d: %d %v", s, it.Seq(), it.Err())
			}
		}
		if !it.fol.fast {
			t.Fatal("not on the fast path")
		}
		if it.Next() {
			t.Fatalf("DurableOnly follower returned %d above DurableSeq %d", it.Seq(), l.DurableSeq())
		}
	})
	t.Run("batch being written", func(t *testing.T) {
		dir := fastTempDir(t)
		l, err := Open(dir, fastOpts())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f := openFollower(t, dir, nil)
		it, err := f.NewIterator(1)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		armFast(t, l, it, 50)
		// The first two frames of a batch of three, as an AppendBatch
		// writes them before its last.
		off := l.off
		for i, typ := range []crcframe.Type{crcframe.First, crcframe.Middle} {
			n, err := l.active.file.WriteFrame(off, crcframe.Header{Seq: 201 + uint64(i), Type: typ}, rt5Payload(201+uint64(i), 1))
			if err != nil {
				t.Fatal(err)
			}
			off += int64(n)
		}
		for s := uint64(51); s <= 200; s++ {
			if !it.Next() || it.Seq() != s {
				t.Fatalf("record %d: %d %v", s, it.Seq(), it.Err())
			}
		}
		if it.Next() {
			t.Fatalf("returned %d of a batch whose last frame is not written", it.Seq())
		}
	})
}

// TestFollowerTailNextUnopenableBacksOff: TestFollowerTailNextUnopenable
// over many looks: the tries to open the next segment come further and
// further apart while it stays unopenable (doubling from every 16th
// look), so that a follower idle at the end of a log whose preparer has
// not made its next segment yet allocates next to nothing per look.
func TestFollowerTailNextUnopenableBacksOff(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(folPayload(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segment.Name(2)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	expect(t, it, 1)
	var opens float64
	for range 2 { // the second run: the tries are missLooks<<missDoublings apart
		// testing.AllocsPerRun rounds down to whole allocations per run.
		const looks = 1 << 13
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range looks {
			if it.Next() {
				t.Fatalf("a record after the end: %d", it.Seq())
			}
		}
		runtime.ReadMemStats(&after)
		opens = float64(after.Mallocs-before.Mallocs) / looks
	}
	t.Logf("%.3f allocations per look", opens)
	if opens > 0.5 { // 1.0 when every 16th look opens the file
		t.Fatalf("%.2f allocations per look at the end", opens)
	}
}
