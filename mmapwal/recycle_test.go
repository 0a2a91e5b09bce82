package mmapwal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// recycleOpts are manualOpts with a pool of n files.
func recycleOpts(segSize int64, n int) *Options {
	o := manualOpts(segSize, TruncatePartial)
	o.RecycleSegments = n
	return o
}

// recPayload is the payload of record seq in the recycling tests: 200
// bytes that say which record they are.
func recPayload(seq uint64) []byte {
	b := make([]byte, 200)
	fillPayload(b, seq, 7)
	return b
}

// appendUpTo appends records until LastSeq is last, syncing at the end.
func appendUpTo(t testing.TB, l *Log, last uint64) {
	t.Helper()
	for l.LastSeq() < last {
		if _, err := l.Append(recPayload(l.LastSeq() + 1)); err != nil {
			t.Fatalf("Append %d: %v", l.LastSeq()+1, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// checkRecords reads every record of l and checks it is record seq's.
func checkRecords(t testing.TB, l *Log) {
	t.Helper()
	it, err := l.NewIterator(l.FirstSeq())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	want := l.FirstSeq()
	for it.Next() {
		if it.Seq() != want || !payloadIs(it.Value(), it.Seq(), 7) {
			t.Fatalf("record %d (want %d) has the wrong payload", it.Seq(), want)
		}
		want++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	if want != l.LastSeq()+1 {
		t.Fatalf("iterator ended before %d, LastSeq %d", want, l.LastSeq())
	}
}

// poolFiles lists the pool files in dir.
func poolFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, ok := parsePoolName(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out
}

// segHeader reads the header of segment num in dir.
func segHeader(t testing.TB, dir string, num uint64) segment.Header {
	t.Helper()
	h, err := segment.ReadHeader(filepath.Join(dir, segment.Name(num)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// recycledLog makes a log in a fresh directory whose newest segment reuses
// a pooled file: it fills segments, truncates the front so that they go to
// the pool, and appends until rotation took a pool file. It returns the
// open Log.
func recycledLog(t testing.TB, segSize int64, pool int) (string, *Log) {
	t.Helper()
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(segSize, pool))
	if err != nil {
		t.Fatal(err)
	}
	for l.Stats().Segments < pool+2 {
		appendUpTo(t, l, l.LastSeq()+1)
	}
	appendUpTo(t, l, l.LastSeq()+3)
	if err := l.TruncateFront(l.LastSeq()); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Pooled; got != pool {
		t.Fatalf("pooled %d files, want %d (%v)", got, pool, poolFiles(t, dir))
	}
	for l.Stats().Recycled == 0 {
		appendUpTo(t, l, l.LastSeq()+1)
	}
	appendUpTo(t, l, l.LastSeq()+3)
	return dir, l
}

// TestRecycleReuse: a file TruncateFront pooled becomes a later segment,
// under a higher number, with FlagRecycled, META records the feature, and
// every record read back is the one appended (none of the stale frames
// behind the new ones is ever returned), before and after a reopen.
func TestRecycleReuse(t *testing.T) {
	dir, l := recycledLog(t, 8192, 2)
	act := l.active
	if !act.recycled {
		t.Fatal("the newest segment is not recycled")
	}
	h := segHeader(t, dir, act.num)
	if h.Flags&segment.FlagRecycled == 0 || h.Flags&segment.FlagPrevSealed == 0 {
		t.Fatalf("header flags %#x, want recycled and prev sealed", h.Flags)
	}
	m, err := readMeta(dir)
	if err != nil || !m.recycled {
		t.Fatalf("META recycled = %v (%v), want set", m.recycled, err)
	}
	checkRecords(t, l)
	// Fill the rest of the pool's reuse and go on across several rotations.
	appendUpTo(t, l, l.LastSeq()+200)
	checkRecords(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Recovery().Clean || l.Recovery().TornTail != nil {
		t.Fatalf("recovery %+v, want clean", l.Recovery())
	}
	checkRecords(t, l)
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestRecycleDefaultOff: without RecycleSegments, TruncateFront deletes
// its segments and nothing is pooled, as before the option.
func TestRecycleDefaultOff(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(8192, TruncatePartial))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendUpTo(t, l, 200)
	if err := l.TruncateFront(190); err != nil {
		t.Fatal(err)
	}
	if p := poolFiles(t, dir); len(p) != 0 || l.Stats().Pooled != 0 {
		t.Fatalf("pool files %v without RecycleSegments", p)
	}
	appendUpTo(t, l, 400)
	if m, _ := readMeta(dir); m.recycled {
		t.Fatal("META records recycled segments without RecycleSegments")
	}
}

// TestRecycleNegative: a negative RecycleSegments is ErrInvalidArgument.
func TestRecycleNegative(t *testing.T) {
	_, err := Open(fastTempDir(t), &Options{RecycleSegments: -1})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "RecycleSegments") {
		t.Fatalf("Open = %v, want ErrInvalidArgument naming RecycleSegments", err)
	}
}

// TestRecyclePinned: a segment an iterator pins when TruncateFront drops
// it is deleted, not pooled; the bytes the iterator returned stay the
// record's while rotations reuse the pool.
func TestRecyclePinned(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(8192, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendUpTo(t, l, 200)
	first := l.segments()[0]
	it, err := l.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() {
		t.Fatal(it.Err())
	}
	v := it.Value()
	if err := l.TruncateFront(190); err != nil {
		t.Fatal(err)
	}
	pooled := poolFiles(t, dir)
	if slices.Contains(pooled, poolName(first.num)) {
		t.Fatalf("the pinned segment %d was pooled: %v", first.num, pooled)
	}
	if len(pooled) == 0 {
		t.Fatal("no unpinned segment was pooled")
	}
	appendUpTo(t, l, 600) // reuses every pool file
	if !payloadIs(v, 1, 7) {
		t.Fatal("the iterator's bytes changed")
	}
	it.Close()
	checkRecords(t, l)
}

// TestRecycleOpenPool: a writer's Open keeps at most RecycleSegments pool
// files of the current size below the next segment number, and deletes
// the others; a ReadOnly open leaves them all.
func TestRecycleOpenPool(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(8192, 4))
	if err != nil {
		t.Fatal(err)
	}
	appendUpTo(t, l, 300)
	if err := l.TruncateFront(290); err != nil {
		t.Fatal(err)
	}
	if n := l.Stats().Pooled; n != 4 {
		t.Fatalf("pooled %d, want 4", n)
	}
	next := l.nextNum
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A wrong-size file (the most recently pooled, which Open prefers)
	// and a file named above every segment.
	pooled := poolFiles(t, dir)
	wrong := pooled[len(pooled)-1]
	if err := os.Truncate(filepath.Join(dir, wrong), 4096); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, poolName(1000)), make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, readOnlyOpts(8192))
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if n := len(poolFiles(t, dir)); n != 5 {
		t.Fatalf("a ReadOnly open changed the pool: %d files", n)
	}
	l, err = Open(dir, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := poolFiles(t, dir)
	if len(got) != 2 || slices.Contains(got, wrong) || slices.Contains(got, poolName(1000)) {
		t.Fatalf("pool after Open with 2: %v (wrong size %s, next %d)", got, wrong, next)
	}
	if l.Stats().Pooled != 2 {
		t.Fatalf("Stats.Pooled %d", l.Stats().Pooled)
	}
	appendUpTo(t, l, 600)
	checkRecords(t, l)
	if l.Stats().Recycled != 2 {
		t.Fatalf("recycled %d, want 2", l.Stats().Recycled)
	}
}

// TestRecycleOpenZeroesPoolHeaders: a crash between the rename of a
// segment into the pool and the zeroing of its header leaves the header
// of the segment it was; a reader elsewhere that still maps the file
// would take it for that segment until it is reused. A writer's Open
// zeroes the header of every pool file it keeps.
func TestRecycleOpenZeroesPoolHeaders(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, recycleOpts(8192, 2))
	appendUpTo(t, l, 100)
	seg1 := make([]byte, segment.HeaderSize)
	f, err := os.Open(filepath.Join(dir, segment.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(seg1, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFront(90); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pool := filepath.Join(dir, poolName(1))
	if _, err := os.Stat(pool); err != nil {
		t.Fatalf("segment 1 not pooled: %v (%v)", err, poolFiles(t, dir))
	}
	// The state the crash leaves: segment 1's header back in place.
	pf, err := os.OpenFile(pool, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.WriteAt(seg1, 0); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	l = mustOpen(t, dir, recycleOpts(8192, 2))
	defer l.Close()
	if !slices.Contains(poolFiles(t, dir), poolName(1)) {
		t.Fatalf("Open did not keep the pool file: %v", poolFiles(t, dir))
	}
	got := make([]byte, segment.HeaderSize)
	pf, err = os.Open(pool)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pf.ReadAt(got, 0)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, segment.HeaderSize)) {
		t.Fatalf("the kept pool file still has a header: % x", got[:16])
	}
	appendUpTo(t, l, 400)
	checkRecords(t, l)
}

// TestRecycleOffDropsPool: a writer's Open without RecycleSegments deletes
// every pool file; the log, with recycled segments, still opens and reads.
func TestRecycleOffDropsPool(t *testing.T) {
	dir, l := recycledLog(t, 8192, 2)
	appendUpTo(t, l, l.LastSeq()+50)
	if err := l.TruncateFront(l.LastSeq() - 5); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, manualOpts(8192, TruncatePartial))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p := poolFiles(t, dir); len(p) != 0 {
		t.Fatalf("pool files left: %v", p)
	}
	checkRecords(t, l)
	appendUpTo(t, l, l.LastSeq()+100)
	checkRecords(t, l)
}

// TestRecycleMetaFeature: once a file was reused, META carries feature
// bit 1, which a reader without recycled segments refuses (§9.1), also
// after a clean Close's record shares the features word.
func TestRecycleMetaFeature(t *testing.T) {
	dir, l := recycledLog(t, 8192, 1)
	l.Close()
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		t.Fatal(err)
	}
	if f := leU32(b[56:]); f&metaRecycled == 0 || f&metaCleanClose == 0 {
		t.Fatalf("META features %#x, want recycled and clean close", f)
	}
	m, err := decodeMeta(b)
	if err != nil || !m.recycled || m.clean.seg == 0 {
		t.Fatalf("decodeMeta = %+v, %v", m, err)
	}
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// TestRecycleTruncateBackNumbers: TruncateBack hands numbers out again;
// the files given them are fresh or pool files that held only lower
// numbers, so no stale frame of a removed segment with that number is
// ever read, before or after a reopen.
func TestRecycleTruncateBackNumbers(t *testing.T) {
	dir, l := recycledLog(t, 8192, 3)
	defer func() { l.Close() }()
	for round := range 4 {
		appendUpTo(t, l, l.LastSeq()+120)
		if err := l.TruncateFront(l.LastSeq() - 60); err != nil {
			t.Fatal(err)
		}
		if err := l.TruncateBack(l.LastSeq() - 40); err != nil {
			t.Fatal(err)
		}
		checkRecords(t, l)
		appendUpTo(t, l, l.LastSeq()+80)
		checkRecords(t, l)
		for _, s := range l.segments() {
			h := segHeader(t, dir, s.num)
			if h.Number != s.num {
				t.Fatalf("round %d: segment %d header number %d", round, s.num, h.Number)
			}
		}
		if round%2 == 1 {
			l.Close()
			var err error
			if l, err = Open(dir, recycleOpts(8192, 3)); err != nil {
				t.Fatal(err)
			}
			checkRecords(t, l)
		}
	}
	if l.Stats().Recycled == 0 && l.Stats().Pooled == 0 {
		t.Fatal("nothing was recycled")
	}
}

// TestRecycleReset: Reset with a pool keeps numbering above every number
// used; the pool files are reused afterwards without a stale record
// showing.
func TestRecycleReset(t *testing.T) {
	dir, l := recycledLog(t, 8192, 3)
	defer func() { l.Close() }()
	appendUpTo(t, l, l.LastSeq()+120)
	if err := l.TruncateFront(l.LastSeq() - 10); err != nil {
		t.Fatal(err)
	}
	before := l.nextNum
	if err := l.Reset(5); err != nil {
		t.Fatal(err)
	}
	if l.active.num < before {
		t.Fatalf("Reset's segment %d is below the next number %d", l.active.num, before)
	}
	appendUpTo(t, l, 300)
	checkRecords(t, l)
	l.Close()
	var err error
	if l, err = Open(dir, recycleOpts(8192, 3)); err != nil {
		t.Fatal(err)
	}
	if l.FirstSeq() != 5 || l.LastSeq() != 300 {
		t.Fatalf("after reopen FirstSeq %d LastSeq %d", l.FirstSeq(), l.LastSeq())
	}
	checkRecords(t, l)
}

// crashCopy copies the directory of a live log as a killed process leaves
// it (through the page cache) into a new directory.
func crashCopy(t testing.TB, dir string) string {
	t.Helper()
	dst := filepath.Join(fastTempDir(t), "copy")
	if err := copyDir(dir, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestRecycleCrashStaleTail: after a crash, the stale bytes behind the
// last frame of a recycled segment are the clean end: no torn tail, no
// corruption, every record there.
func TestRecycleCrashStaleTail(t *testing.T) {
	dir, l := recycledLog(t, 8192, 2)
	defer l.Close()
	last := l.LastSeq()
	cp := crashCopy(t, dir)
	if end, _ := l.active.file.DirtyEnd(l.off); end <= l.off+crcframe.HeaderSize {
		t.Fatalf("no stale bytes after the end (%d, %d): the test proves nothing", l.off, end)
	}
	l2, err := Open(cp, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	rec := l2.Recovery()
	if rec.TornTail != nil || rec.Corruption != nil || l2.LastSeq() != last {
		t.Fatalf("recovery %+v, LastSeq %d, want %d and no torn tail", rec, l2.LastSeq(), last)
	}
	checkRecords(t, l2)
}

// tornRecycled returns a crash copy of a log whose newest, recycled
// segment's last frame is torn: the bytes of its second half replaced by
// the stale bytes that were there (a write that did not reach the disk),
// and the zero header after it lost too. It returns the copy, the frame's
// offset and its size.
func tornRecycled(t testing.TB) (cp string, off int64, size int, stale []byte) {
	t.Helper()
	dir, l := recycledLog(t, 8192, 2)
	defer l.Close()
	path := l.active.path
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off = l.off
	appendUpTo(t, l, l.LastSeq()+1) // the record to tear
	size = int(l.off - off)
	cp = crashCopy(t, dir)
	b, err := os.ReadFile(filepath.Join(cp, filepath.Base(path)))
	if err != nil {
		t.Fatal(err)
	}
	// The second half of the frame and the zero header are the old bytes.
	from := off + int64(size/2)
	copy(b[from:off+int64(size)+crcframe.HeaderSize], before[from:off+int64(size)+crcframe.HeaderSize])
	if err := os.WriteFile(filepath.Join(cp, filepath.Base(path)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cp, off, size, b
}

// TestRecycleTornFrame: a torn frame at the end of a recycled segment is
// a torn tail; the repair quarantines and zeroes that frame alone and
// leaves the stale bytes after it as they were.
func TestRecycleTornFrame(t *testing.T) {
	cp, off, size, img := tornRecycled(t)
	l, err := Open(cp, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	tt := l.Recovery().TornTail
	if tt == nil || !tt.Repaired || tt.Offset != off {
		l.Close()
		t.Fatalf("torn tail %+v, want one repaired at %d", tt, off)
	}
	if tt.BytesDropped != int64(size) {
		l.Close()
		t.Fatalf("dropped %d bytes, want the frame's %d", tt.BytesDropped, size)
	}
	q, err := os.ReadFile(tt.Quarantine)
	if err != nil || !bytes.Equal(q, img[off:off+int64(size)]) {
		l.Close()
		t.Fatalf("quarantine %s: %v, %d bytes, want the torn frame's %d", tt.Quarantine, err, len(q), size)
	}
	checkRecords(t, l)
	after, err := os.ReadFile(filepath.Join(cp, l.active.name)) // before Close writes its mark there
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	end := off + int64(size)
	if !crcframe.IsZero(after[off:end]) {
		t.Fatal("the torn frame was not zeroed")
	}
	if !bytes.Equal(after[end:], img[end:]) {
		t.Fatal("the repair changed stale bytes after the torn frame")
	}
	if crcframe.IsZero(after[end:]) {
		t.Fatal("no stale bytes after the frame: the test proves nothing")
	}
}

// TestRecycleDurableFlip: a flipped bit in a durable frame of a recycled
// segment (proven by a clean Close) is corruption, not a silent cut.
func TestRecycleDurableFlip(t *testing.T) {
	dir, l := recycledLog(t, 8192, 2)
	name, off := l.active.name, l.active.idx.off(1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off+30] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, recycleOpts(8192, 2))
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != name || ce.Offset != off {
		t.Fatalf("Open = %v, want corruption in %s at %d", err, name, off)
	}
}

// TestRecycleReadOnlyBeside: a ReadOnly Log opened beside a writer that
// recycles serves the records it found, or ErrTruncated / ErrNotFound
// for those whose segment went, never another record's bytes.
func TestRecycleReadOnlyBeside(t *testing.T) {
	dir, l := recycledLog(t, 8192, 2)
	defer l.Close()
	ro, err := Open(dir, readOnlyOpts(8192))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	first, last := ro.FirstSeq(), ro.LastSeq()
	for range 3 {
		appendUpTo(t, l, l.LastSeq()+150)
		if err := l.TruncateFront(l.LastSeq() - 20); err != nil {
			t.Fatal(err)
		}
	}
	if l.Stats().Recycled < 2 {
		t.Fatalf("recycled %d", l.Stats().Recycled)
	}
	for seq := first; seq <= last; seq++ {
		b, err := ro.Read(seq)
		switch {
		case err == nil && !payloadIs(b, seq, 7):
			t.Fatalf("ReadOnly Read(%d) returned another record's bytes", seq)
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Fatalf("ReadOnly Read(%d) = %v, want ErrNotFound/ErrTruncated", seq, err)
		}
	}
}

// goldenMetaRecycled are testdata/meta-v2-recycled.bin (a version 2 META of
// the log 0x01…0x10, first seq 5, floor seq 3, feature bit 1: the log holds
// recycled segments) and testdata/meta-v2-recycled-clean.bin (the same
// with the clean-close record of a mark at offset 4000 of segment 3: bits
// 0 and 1).
var goldenMetaRecycled = map[string]meta{
	"testdata/meta-v2-recycled.bin":       {version: 2, logID: sealTestLogID, firstSeq: 5, floor: 3, recycled: true},
	"testdata/meta-v2-recycled-clean.bin": {version: 2, logID: sealTestLogID, firstSeq: 5, floor: 3, recycled: true, clean: cleanClose{seg: 3, off: 4000}},
}

// TestGoldenMetaRecycled locks META's feature bit 1 (FORMAT.md §9.7) alone
// and beside the clean-close record; the version 1 rules refuse both as
// unsupported. Never regenerate them once the format is released.
func TestGoldenMetaRecycled(t *testing.T) {
	for path, m := range goldenMetaRecycled {
		want := m.encode()
		if bbUpdating() {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("meta.encode differs from %s:\n% x\n% x", path, want, got)
		}
		if f := leU32(got[56:]); f&metaRecycled == 0 {
			t.Fatalf("%s: features %#x", path, f)
		}
		if d, err := decodeMeta(got); err != nil || d != m {
			t.Fatalf("%s: decodeMeta = %+v, %v; want %+v", path, d, err, m)
		}
		if err := decodeMetaV1(got); !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("%s: v1 rules: %v, want ErrUnsupportedVersion", path, err)
		}
	}
}

// TestRecycleReadOnlyPooled: a ReadOnly Log that still maps a segment the
// writer moved to the pool (not reused yet, its records intact) takes it
// for removed, as it would a deleted one: the record is ErrNotFound
// (ErrTruncated), not served from a file that is no longer the log's.
func TestRecycleReadOnlyPooled(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(8192, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendUpTo(t, l, 200)
	ro, err := Open(dir, readOnlyOpts(8192))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if b, err := ro.Read(1); err != nil || !payloadIs(b, 1, 7) {
		t.Fatalf("ReadOnly Read(1) = %v before the truncation", err)
	}
	if err := l.TruncateFront(150); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Pooled == 0 {
		t.Fatal("nothing pooled")
	}
	if _, err := ro.Read(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadOnly Read(1) of a pooled segment = %v, want ErrNotFound", err)
	}
}

// TestRecycleFlushCoversEndHeader: every flush of a recycled segment's
// frames covers the zero frame header after them (FORMAT.md §9.7), frame
// ends near and across page boundaries included, while the durable
// watermark stays the frames' end.
func TestRecycleFlushCoversEndHeader(t *testing.T) {
	dir, l := recycledLog(t, 16384, 2)
	defer l.Close()
	var last [2]int64
	prev := testHookSynced
	testHookSynced = func(path string, from, to int64) {
		if path == l.active.path {
			last = [2]int64{from, to}
		}
	}
	defer func() { testHookSynced = prev }()
	for i := range 120 {
		start := l.active
		if _, err := l.Append(make([]byte, 1+i*37%300)); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if l.active != start || !l.active.recycled {
			continue // rotated: the next segment's first flush
		}
		want := min(l.off+crcframe.HeaderSize, l.active.size)
		if last[1] != want {
			t.Fatalf("append %d: flushed [%d, %d), want through %d (frames end at %d)", i, last[0], last[1], want, l.off)
		}
		if got := l.active.synced.Load(); got != l.off {
			t.Fatalf("synced watermark %d, want the frames' end %d", got, l.off)
		}
	}
	_ = dir
}

// TestRecycleNeverSameNumber: a pool file is never taken for a number at
// or below the one its name records: here one named (and filled with
// frames seeded) for the very number the next segment gets, whose stale
// frames would validate. Rotation deletes it and creates the segment
// fresh; after a crash nothing of it is read, no torn tail, no damage.
func TestRecycleNeverSameNumber(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendUpTo(t, l, 5)
	next := l.nextNum
	// A segment image of number next with valid frames of sequences far
	// above the log's.
	h := segment.Header{Version: segment.Version, LogID: l.meta.logID, Number: next, FirstSeq: 1000, Size: 8192}
	img := make([]byte, 8192)
	segment.EncodeHeader(img, h)
	seed := crcframe.Seed(h.LogID, next)
	for off, seq := int64(64), uint64(1000); off+200 < 8192-48; seq++ {
		n, err := crcframe.Encode(img[off:], seed, crcframe.Header{Seq: seq, Durable: uint32(off), Type: crcframe.Full}, recPayload(seq)[:100])
		if err != nil {
			t.Fatal(err)
		}
		off += int64(n)
	}
	if err := os.WriteFile(filepath.Join(dir, poolName(next)), img, 0o644); err != nil {
		t.Fatal(err)
	}
	l.wmu.Lock()
	l.prep.discard()
	l.pool = append(l.pool, next) // as if TruncateFront had pooled it
	l.wmu.Unlock()
	for l.nextNum == next {
		appendUpTo(t, l, l.LastSeq()+1)
	}
	appendUpTo(t, l, l.LastSeq()+2)
	if l.segments()[len(l.segments())-1].recycled {
		t.Fatal("the file named for the next number was reused")
	}
	cp := crashCopy(t, dir)
	l2, err := Open(cp, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rec := l2.Recovery(); rec.TornTail != nil || l2.LastSeq() != l.LastSeq() {
		t.Fatalf("recovery %+v, LastSeq %d, want %d", rec, l2.LastSeq(), l.LastSeq())
	}
	checkRecords(t, l2)
}

// TestRecycleFollower: followers that lag behind a writer that truncates
// its front and reuses the files, with and without a control area: every
// record returned is the one appended at its sequence (never a stale
// frame of a pooled or reused file), a follower overtaken by
// TruncateFront gets ErrNotFound (never corruption) and starts again at
// FirstSeq, and every follower reaches the end.
func TestRecycleFollower(t *testing.T) {
	t.Run("control", func(t *testing.T) { recycleFollower(t) })
	t.Run("no-control", func(t *testing.T) {
		testHookNoControl = true
		defer func() { testHookNoControl = false }()
		recycleFollower(t)
	})
}

func recycleFollower(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, recycleOpts(8192, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendUpTo(t, l, 10)
	const total = 3000
	errs := make(chan error, 2)
	var overtaken atomic.Int64
	follow := func(slow bool) {
		f, err := OpenFollower(dir, &FollowerOptions{PollInterval: 100 * time.Microsecond})
		if err != nil {
			errs <- err
			return
		}
		defer f.Close()
		from, prev := uint64(1), uint64(0)
		for prev < total {
			it, err := f.NewIterator(from)
			if err != nil {
				errs <- err
				return
			}
			for prev < total {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ok := it.NextWait(ctx)
				cancel()
				if !ok {
					break
				}
				if it.Seq() <= prev || !payloadIs(it.Value(), it.Seq(), 7) {
					errs <- fmt.Errorf("follower returned record %d after %d with payload ok=%v", it.Seq(), prev, payloadIs(it.Value(), it.Seq(), 7))
					it.Close()
					return
				}
				prev = it.Seq()
				if slow && prev%50 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
			err = it.Err()
			it.Close()
			if prev >= total {
				break
			}
			if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
				errs <- fmt.Errorf("follower at %d: %v, want ErrNotFound", prev, err)
				return
			}
			overtaken.Add(1)
			from = max(prev+1, f.FirstSeq())
			prev = from - 1
		}
		errs <- nil
	}
	go follow(false)
	go follow(true)
	for l.LastSeq() < total {
		appendUpTo(t, l, l.LastSeq()+20)
		if l.LastSeq() > 60 {
			if err := l.TruncateFront(l.LastSeq() - 40); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if l.Stats().Recycled == 0 {
		t.Fatal("nothing was recycled")
	}
	t.Logf("recycled %d, followers overtaken %d times", l.Stats().Recycled, overtaken.Load())
}

// TestRecycleAppendAllocs: an Append into a recycled segment (with its
// zero frame header) allocates nothing, as one into a fresh segment.
func TestRecycleAppendAllocs(t *testing.T) {
	_, l := recycledLog(t, 1<<20, 1)
	defer l.Close()
	if !l.active.recycled {
		t.Fatal("the active segment is not recycled")
	}
	rec := recPayload(1)[:128]
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}); n != 0 || !l.active.recycled {
		t.Fatalf("Append into a recycled segment: %v allocations (still recycled: %v)", n, l.active.recycled)
	}
}
