package mmapwal

// Readers that are never wrong (issue 13): iterators, Read and View under
// TruncateBack, TruncateFront and re-appends at the same sequences; a
// ReadOnly Log beside a live writer; MaxMappedSegments on the read path.
//
// Records are soakPayload records (their sequence and a tag in the first 16
// bytes, the rest a function of the tag): the tag is the number of
// TruncateBacks begun before the append (its epoch), so a reader can tell
// which version of a sequence it got and whether a cut had dropped it.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// rdOpen opens dir and closes the log at the end of the test.
func rdOpen(t *testing.T, dir string, o *Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// rdAppend appends the record of seq at epoch tag, n bytes after its header.
func rdAppend(t *testing.T, l *Log, seq, tag uint64, n int) []byte {
	t.Helper()
	p := soakPayload(seq, tag, n)
	require.NoError(t, l.AppendSeq(seq, p))
	return p
}

// rdTruncated reports whether err says that records were truncated away
// under a reader (never damage).
func rdTruncated(err error) bool {
	return errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt)
}

// TestReadersIteratorInsideTruncateBack: an iterator whose Next runs while
// TruncateBack is cutting (here: from the removal of a segment the cut drops)
// must not return the old tail and then skip the new records. Either it
// stops at the cut point and then returns the new records, or, having
// returned dropped records, it fails.
func TestReadersIteratorInsideTruncateBack(t *testing.T) {
	l := rdOpen(t, t.TempDir(), &Options{SegmentSize: 16 << 10, Durability: SyncManual})
	old := map[uint64][]byte{}
	for seq := uint64(1); seq <= 200; seq++ {
		old[seq] = rdAppend(t, l, seq, 0, 72) // two segments
	}
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	for range 3 {
		require.True(t, it.Next())
	}

	var inside []uint64
	var cutting, fired atomic.Bool
	t.Cleanup(sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpRemove && strings.HasSuffix(path, ".wal") && cutting.Load() && fired.CompareAndSwap(false, true) {
			for it.Next() {
				require.Equal(t, old[it.Seq()], it.Value(), "inside the cut, record %d", it.Seq())
				inside = append(inside, it.Seq())
			}
		}
		return nil
	}))
	cutting.Store(true)
	require.NoError(t, l.TruncateBack(5))
	cutting.Store(false)
	require.True(t, fired.Load(), "no segment removal inside TruncateBack")

	newer := map[uint64][]byte{}
	for seq := uint64(6); seq <= 220; seq++ {
		newer[seq] = rdAppend(t, l, seq, 1, 40)
	}
	var after []uint64
	for it.Next() {
		require.Equal(t, newer[it.Seq()], it.Value(), "after the cut, record %d", it.Seq())
		after = append(after, it.Seq())
	}
	if len(inside) > 0 && inside[len(inside)-1] > 5 {
		require.Empty(t, after, "the iterator returned dropped records %v, then went on", inside)
		require.True(t, rdTruncated(it.Err()), "the iterator returned dropped records: Err %v", it.Err())
		return
	}
	require.NoError(t, it.Err())
	want := []uint64{}
	for seq := uint64(4); seq <= 220; seq++ {
		want = append(want, seq)
	}
	require.Equal(t, want, append(inside, after...), "records 4..220, each once")
}

// TestReadersIteratorFrontIntoGap: a TruncateFront into a gap after the
// iterator's position drops nothing it had still to return, so it goes on.
func TestReadersIteratorFrontIntoGap(t *testing.T) {
	l := rdOpen(t, t.TempDir(), &Options{SegmentSize: 16 << 10, Durability: SyncManual})
	for seq := uint64(1); seq <= 5; seq++ {
		rdAppend(t, l, seq, 0, 8)
	}
	ten := rdAppend(t, l, 10, 0, 8)
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	for seq := uint64(1); seq <= 5; seq++ {
		require.True(t, it.Next())
		require.Equal(t, seq, it.Seq())
	}
	require.NoError(t, l.TruncateFront(8))
	require.True(t, it.Next(), "Err: %v", it.Err())
	require.Equal(t, uint64(10), it.Seq())
	require.Equal(t, ten, it.Value())
	require.False(t, it.Next())
	require.NoError(t, it.Err())

	// Dropping a record it had still to return does fail it.
	rdAppend(t, l, 11, 0, 8)
	rdAppend(t, l, 12, 0, 8)
	it2, err := l.NewIterator(10)
	require.NoError(t, err)
	defer it2.Close()
	require.True(t, it2.Next())
	require.NoError(t, l.TruncateFront(12))
	require.False(t, it2.Next(), "record 11 was dropped under the iterator")
	require.True(t, rdTruncated(it2.Err()), "Err %v", it2.Err())
}

// rdCuts is the history of the TruncateBacks of a racing test: cut c (from
// 1) kept the records up to last[c]; records appended after it carry tag c.
type rdCuts struct {
	last      []atomic.Uint64
	begun     atomic.Uint64 // cuts begun: the tag of new appends
	completed atomic.Uint64 // cuts whose TruncateBack returned
}

// dropped reports whether the version tag of seq was dropped by a cut that
// completed before done cuts: then no call that began after it may return
// the version.
func (h *rdCuts) dropped(seq, tag, done uint64) bool {
	for c := tag + 1; c <= done; c++ {
		if h.last[c].Load() < seq {
			return true
		}
	}
	return false
}

// rdRace is a racing test: one writer appending, rotating and truncating
// both ends, and readers checking every record they get.
type rdRace struct {
	t    *testing.T
	l    *Log
	cuts rdCuts
	stop atomic.Bool
	mu   sync.Mutex
	errs []string
}

func (r *rdRace) failf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
	r.stop.Store(true)
}

// writer runs rounds of appends, each followed by a TruncateBack into the
// records just written (sometimes into older segments) and sometimes a
// TruncateFront.
func (r *rdRace) writer(rng *rand.Rand, rounds int) {
	defer r.stop.Store(true)
	for round := 1; round <= rounds && !r.stop.Load(); round++ {
		tag := r.cuts.begun.Load()
		for range 1 + rng.IntN(40) {
			seq := r.l.LastSeq() + 1
			if err := r.l.AppendSeq(seq, soakPayload(seq, tag, rng.IntN(300))); err != nil {
				r.failf("AppendSeq(%d): %v", seq, err)
				return
			}
		}
		first, last := r.l.FirstSeq(), r.l.LastSeq()
		if rng.IntN(8) == 0 && last > first+20 {
			if err := r.l.TruncateFront(first + rng.Uint64N(10)); err != nil {
				r.failf("TruncateFront: %v", err)
				return
			}
			first = r.l.FirstSeq()
		}
		back := min(last-first, 1+rng.Uint64N(60))
		to := last - back
		c := r.cuts.begun.Load() + 1
		r.cuts.last[c].Store(to)
		r.cuts.begun.Store(c)
		if err := r.l.TruncateBack(to); err != nil {
			r.failf("TruncateBack(%d): %v", to, err)
			return
		}
		r.cuts.completed.Store(c)
	}
}

// check checks a record that a call which began after done cuts returned
// for seq.
func (r *rdRace) check(what string, seq uint64, b []byte, done uint64) (tag uint64, ok bool) {
	tag, err := soakCheck(seq, b)
	if err != nil {
		r.failf("%s: %v", what, err)
		return 0, false
	}
	if r.cuts.dropped(seq, tag, done) {
		r.failf("%s: record %d of epoch %d, which a cut that completed before the call had dropped", what, seq, tag)
		return 0, false
	}
	return tag, true
}

// iterate runs iterators from random positions and checks the rule: strictly
// increasing sequences ≥ from, each the record at that sequence when it was
// returned, or an error that says truncation.
func (r *rdRace) iterate(rng *rand.Rand) {
	for !r.stop.Load() {
		first, last := r.l.FirstSeq(), r.l.LastSeq()
		from := first + rng.Uint64N(last-first+2)
		it, err := r.l.NewIterator(from)
		if err != nil {
			r.failf("NewIterator: %v", err)
			return
		}
		var prev, prevTag uint64
		for n := 0; n < 500 && !r.stop.Load(); n++ {
			done, begun := r.cuts.completed.Load(), r.cuts.begun.Load()
			if !it.Next() {
				if err := it.Err(); err != nil && !rdTruncated(err) {
					r.failf("iterator from %d after %d: %v", from, prev, err)
				}
				break
			}
			seq := it.Seq()
			if seq < from || seq <= prev {
				r.failf("iterator from %d returned %d after %d", from, seq, prev)
				break
			}
			v := bytes.Clone(it.Value())
			if begun != done || r.cuts.begun.Load() != begun {
				// Value is a slice of the mapping: a TruncateBack under
				// way when Next began, or begun since, may have zeroed
				// it or written another version there after Next
				// returned (documented). Nothing to check it against.
				break
			}
			tag, ok := r.check("iterator", seq, v, done)
			if !ok {
				break
			}
			if prev != 0 && r.cuts.dropped(prev, prevTag, tag) {
				var cuts []string
				for c := prevTag + 1; c <= tag; c++ {
					cuts = append(cuts, fmt.Sprintf("%d:%d", c, r.cuts.last[c].Load()))
				}
				r.failf("iterator from %d returned %d (epoch %d), a cut dropped it, and the iterator went on to %d (epoch %d); cuts (epoch:last) %v", from, prev, prevTag, seq, tag, cuts)
				break
			}
			prev, prevTag = seq, tag
		}
		it.Close()
	}
}

// read runs Read, ReadInto and View of random sequences.
func (r *rdRace) read(rng *rand.Rand) {
	var buf []byte
	for !r.stop.Load() {
		first, last := r.l.FirstSeq(), r.l.LastSeq()
		seq := first + rng.Uint64N(last-first+2)
		done, begun := r.cuts.completed.Load(), r.cuts.begun.Load()
		var b []byte
		var err error
		what := [...]string{"Read", "ReadInto", "View"}[rng.IntN(3)]
		switch what {
		case "Read":
			b, err = r.l.Read(seq)
		case "ReadInto":
			buf, err = r.l.ReadInto(buf[:0], seq)
			b = buf
		default:
			err = r.l.View(seq, func(v []byte) error { b = bytes.Clone(v); return nil })
			if err == nil && (begun != done || r.cuts.begun.Load() != begun) {
				continue // fn's slice may be zeroed or rewritten by a TruncateBack meanwhile (documented)
			}
		}
		if err != nil {
			if !rdTruncated(err) {
				r.failf("read %d: %v", seq, err)
			}
			continue
		}
		r.check(what, seq, b, done)
	}
}

// TestReadersRaceTruncateBack races iterators, Read, ReadInto and View with
// TruncateBack, TruncateFront, re-appends at the same sequences and
// rotation.
func TestReadersRaceTruncateBack(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 100
	}
	l := rdOpen(t, fastTempDir(t), &Options{SegmentSize: 8 << 10, Durability: SyncManual, MaxMappedSegments: 2})
	r := &rdRace{t: t, l: l}
	r.cuts.last = make([]atomic.Uint64, rounds+2)
	var wg sync.WaitGroup
	for i := range 3 {
		rng := rand.New(rand.NewPCG(uint64(i), 13))
		if i == 2 {
			wg.Go(func() { r.read(rng) })
		} else {
			wg.Go(func() { r.iterate(rng) })
		}
	}
	r.writer(rand.New(rand.NewPCG(99, 13)), rounds)
	wg.Wait()
	require.Empty(t, r.errs)
}

// rdTwin builds a log, opens a ReadOnly Log on it, then lets the writer cut
// and re-append other records at the same sequences; it returns both.
func rdTwin(t *testing.T, segSize int64, n, keep uint64, size func(seq uint64) (old, new int)) (w, ro *Log) {
	dir := t.TempDir()
	w = rdOpen(t, dir, &Options{SegmentSize: segSize, Durability: SyncManual})
	for seq := uint64(1); seq <= n; seq++ {
		o, _ := size(seq)
		rdAppend(t, w, seq, 0, o)
	}
	require.NoError(t, w.Sync())
	ro = rdOpen(t, dir, &Options{ReadOnly: true, MaxMappedSegments: 64})
	for seq := uint64(1); seq <= n; seq++ { // map every segment
		_, err := ro.Read(seq)
		require.NoError(t, err)
	}
	require.NoError(t, w.TruncateBack(keep))
	for seq := keep + 1; seq <= n; seq++ {
		_, nw := size(seq)
		rdAppend(t, w, seq, 1, nw)
	}
	require.NoError(t, w.Sync())
	return w, ro
}

// rdSameOrNotFound checks every way to read the ReadOnly log: each record it
// returns is the writer's record at that sequence, or it says not found.
func rdSameOrNotFound(t *testing.T, w, ro *Log, n uint64) {
	t.Helper()
	for seq := uint64(1); seq <= n; seq++ {
		want, err := w.Read(seq)
		require.NoError(t, err)
		got, err := ro.Read(seq)
		if err != nil {
			require.True(t, rdTruncated(err), "Read(%d): %v", seq, err)
		} else {
			require.Equal(t, want, got, "Read(%d) returned other bytes than the record", seq)
		}
		err = ro.View(seq, func(b []byte) error {
			require.Equal(t, want, b, "View(%d) returned other bytes than the record", seq)
			return nil
		})
		require.True(t, err == nil || rdTruncated(err), "View(%d): %v", seq, err)
	}
	it, err := ro.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	prev := uint64(0)
	for it.Next() {
		require.Greater(t, it.Seq(), prev)
		want, err := w.Read(it.Seq())
		require.NoError(t, err)
		require.Equal(t, want, it.Value(), "the iterator returned other bytes than record %d", it.Seq())
		prev = it.Seq()
	}
	require.True(t, it.Err() == nil || rdTruncated(it.Err()), "iterator: %v", it.Err())
}

// TestReadersReadOnlyBesideWriter: after the writer's TruncateBack and
// re-appends of other sizes, a ReadOnly Log opened before never returns
// another record's bytes.
func TestReadersReadOnlyBesideWriter(t *testing.T) {
	w, ro := rdTwin(t, 16<<10, 20, 10, func(seq uint64) (int, int) { return 100, 37 + int(seq) })
	rdSameOrNotFound(t, w, ro, 20)
}

// TestReadersReadOnlyRecreatedSegment: the writer removes segments and
// creates the same segment numbers again with other records at the same
// sequences and offsets; the ReadOnly Log still maps the removed files.
func TestReadersReadOnlyRecreatedSegment(t *testing.T) {
	w, ro := rdTwin(t, 4096, 40, 5, func(uint64) (int, int) { return 500, 500 })
	require.Greater(t, w.Stats().Segments, 3)
	rdSameOrNotFound(t, w, ro, 40)
}

// TestReadersMaxMappedSegments: iterating and reading a log of many segments
// keeps at most MaxMappedSegments sealed segments mapped (plus the newest),
// on a writable and on a ReadOnly log.
func TestReadersMaxMappedSegments(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096, Durability: SyncManual, MaxMappedSegments: 2}
	w := rdOpen(t, dir, opts)
	seq := uint64(0)
	for w.Stats().Segments < 60 {
		seq++
		rdAppend(t, w, seq, 0, 500)
	}
	require.NoError(t, w.Sync())
	ro := rdOpen(t, dir, &Options{ReadOnly: true, MaxMappedSegments: 2})
	for _, l := range []*Log{w, ro} {
		it, err := l.NewIterator(1)
		require.NoError(t, err)
		n := uint64(0)
		for it.Next() {
			n++
			require.LessOrEqual(t, l.Stats().MappedSegments, 2+2, "while iterating (the iterator's own segment, the newest)")
		}
		require.NoError(t, it.Err())
		require.Equal(t, seq, n)
		it.Close()
		require.LessOrEqual(t, l.Stats().MappedSegments, 2+1, "after iterating")
		for s := uint64(1); s <= seq; s += 7 {
			_, err := l.Read(s)
			require.NoError(t, err)
		}
		require.LessOrEqual(t, l.Stats().MappedSegments, 2+1, "after reading")
	}
}

// TestReadersReadOnlyIteratorAcrossCut: a ReadOnly iterator that returned a
// record the writer then truncated fails, rather than going on with the
// records the writer appended at the same offsets since (a mix of before and
// after the cut).
func TestReadersReadOnlyIteratorAcrossCut(t *testing.T) {
	dir := t.TempDir()
	w := rdOpen(t, dir, &Options{SegmentSize: 16 << 10, Durability: SyncManual})
	for seq := uint64(1); seq <= 20; seq++ {
		rdAppend(t, w, seq, 0, 100)
	}
	ro := rdOpen(t, dir, &Options{ReadOnly: true})
	it, err := ro.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	for seq := uint64(1); seq <= 7; seq++ {
		require.True(t, it.Next())
	}
	require.NoError(t, w.TruncateBack(5))
	for seq := uint64(6); seq <= 20; seq++ {
		rdAppend(t, w, seq, 1, 100) // the same sizes: the same offsets
	}
	require.False(t, it.Next(), "went on to %d after record 7 was truncated", it.Seq())
	require.ErrorIs(t, it.Err(), ErrTruncated)
}

// TestReadersFailedCut: a TruncateBack that fails half way (here: the
// directory sync after removing the segments it drops) poisons the log, and
// its cut stays pending: readers never look above the cut point again, as the
// records there may be half zeroed.
func TestReadersFailedCut(t *testing.T) {
	l := rdOpen(t, t.TempDir(), &Options{SegmentSize: 16 << 10, Durability: SyncManual})
	for seq := uint64(1); seq <= 200; seq++ {
		rdAppend(t, l, seq, 0, 72) // two segments
	}
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	var removed atomic.Bool
	psnSetFault(t, func(op sysutil.Op, path string) error {
		if op == sysutil.OpRemove && strings.HasSuffix(path, ".wal") {
			removed.Store(true)
		}
		if op == sysutil.OpSyncDir && removed.Load() {
			return syscall.EIO
		}
		return nil
	})
	require.ErrorIs(t, l.TruncateBack(5), ErrPoisoned)
	for seq := uint64(6); seq <= 200; seq += 50 {
		_, err := l.Read(seq)
		require.ErrorIs(t, err, ErrNotFound, "Read(%d) above a failed cut", seq)
		require.ErrorIs(t, l.View(seq, func([]byte) error { return nil }), ErrNotFound)
	}
	b, err := l.Read(5)
	require.NoError(t, err)
	_, err = soakCheck(5, b)
	require.NoError(t, err)
	var got []uint64
	for it.Next() {
		got = append(got, it.Seq())
	}
	require.NoError(t, it.Err())
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, got, "the iterator stops at the cut point")
}

// TestReadersReadOnlyRemovedSegment: a segment the ReadOnly Log had unmapped
// (MaxMappedSegments) and the writer then removed is ErrTruncated, not a
// file system error.
func TestReadersReadOnlyRemovedSegment(t *testing.T) {
	dir := t.TempDir()
	w := rdOpen(t, dir, &Options{SegmentSize: 4096, Durability: SyncManual})
	for seq := uint64(1); seq <= 40; seq++ {
		rdAppend(t, w, seq, 0, 500)
	}
	ro := rdOpen(t, dir, &Options{ReadOnly: true, MaxMappedSegments: 1})
	require.NoError(t, w.TruncateBack(5))
	_, err := ro.Read(30)
	require.ErrorIs(t, err, ErrTruncated)
	var te *TruncatedError
	require.ErrorAs(t, err, &te)
	require.Equal(t, uint64(30), te.Seq)
	it, err := ro.NewIterator(20)
	require.NoError(t, err)
	defer it.Close()
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), ErrTruncated)
	_, err = ro.Read(3)
	require.NoError(t, err, "records the writer kept")
}

// TestReadersDamageUnderLiveLog: bytes changed under a live log by someone
// else (a frame header that no longer holds its sequence, or a length
// beyond the segment) are a CorruptionError, for reads and iterators.
func TestReadersDamageUnderLiveLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		field  int // byte offset in the frame header
		value  uint64
		reason Reason
	}{
		{"sequence", 8, 99, ReasonSequenceViolation},
		{"length", 4, 1 << 30, ReasonLengthOutOfBounds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := rdOpen(t, t.TempDir(), &Options{SegmentSize: 16 << 10, Durability: SyncManual})
			for seq := uint64(1); seq <= 3; seq++ {
				rdAppend(t, l, seq, 0, 8)
			}
			s := l.segments()[0]
			hdr := s.file.Data()[s.idx.off(1):]
			if tc.field == 4 {
				binary.LittleEndian.PutUint32(hdr[4:], uint32(tc.value))
			} else {
				binary.LittleEndian.PutUint64(hdr[8:], tc.value)
			}
			_, err := l.Read(2)
			require.ErrorIs(t, err, tc.reason)
			require.ErrorIs(t, l.View(2, func([]byte) error { return nil }), tc.reason)
			it, err := l.NewIterator(2)
			require.NoError(t, err)
			defer it.Close()
			require.False(t, it.Next())
			require.ErrorIs(t, it.Err(), ErrCorrupt)
		})
	}
}

const rdEnvDir = "MMAPWAL_READERS_HELPER_DIR"

// TestReadersReadOnlyHelperProcess is not a test on its own: run by
// TestReadersReadOnlyOtherProcess in a child process, it opens the directory
// named by rdEnvDir ReadOnly, reads every record (mapping every segment),
// prints "ready", waits for a line on stdin, then reads and iterates again
// and prints what it got: "read SEQ HEX", "read SEQ notfound", "it SEQ HEX",
// "it end ERR", and "error …" for anything else.
func TestReadersReadOnlyHelperProcess(t *testing.T) {
	dir := os.Getenv(rdEnvDir)
	if dir == "" {
		t.Skip("helper process for TestReadersReadOnlyOtherProcess")
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	ro, err := Open(dir, &Options{ReadOnly: true, MaxMappedSegments: 64})
	if err != nil {
		fmt.Fprintf(out, "error open: %v\n", err)
		return
	}
	defer ro.Close()
	last := ro.LastSeq()
	for seq := uint64(1); seq <= last; seq++ {
		if _, err := ro.Read(seq); err != nil {
			fmt.Fprintf(out, "error first read %d: %v\n", seq, err)
			return
		}
	}
	fmt.Fprintln(out, "ready")
	out.Flush()
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintf(out, "error stdin: %v\n", err)
		return
	}
	for seq := uint64(1); seq <= last; seq++ {
		switch b, err := ro.Read(seq); {
		case err == nil:
			fmt.Fprintf(out, "read %d %x\n", seq, b)
		case errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt):
			fmt.Fprintf(out, "read %d notfound\n", seq)
		default:
			fmt.Fprintf(out, "error read %d: %v\n", seq, err)
		}
	}
	it, err := ro.NewIterator(1)
	if err != nil {
		fmt.Fprintf(out, "error NewIterator: %v\n", err)
		return
	}
	defer it.Close()
	for it.Next() {
		fmt.Fprintf(out, "it %d %x\n", it.Seq(), it.Value())
	}
	fmt.Fprintf(out, "it end %v\n", it.Err())
}

// TestReadersReadOnlyOtherProcess: a ReadOnly Log in another process, which
// maps every segment, never returns bytes that are not the record, after
// this process's writer truncated and re-created segments with other records
// at the same sequences and offsets.
func TestReadersReadOnlyOtherProcess(t *testing.T) {
	dir := t.TempDir()
	w := rdOpen(t, dir, &Options{SegmentSize: 4096, Durability: SyncManual})
	for seq := uint64(1); seq <= 40; seq++ {
		rdAppend(t, w, seq, 0, 500)
	}
	require.NoError(t, w.Sync())
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadersReadOnlyHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), rdEnvDir+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() {
		cmd.Process.Kill() // a failed check stops reading: do not wait on a blocked child
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	require.True(t, lines.Scan(), "no line from the child")
	require.Equal(t, "ready", lines.Text())

	require.NoError(t, w.TruncateBack(5))
	for seq := uint64(6); seq <= 40; seq++ {
		rdAppend(t, w, seq, 1, 500) // the same sizes: new files, the same offsets
	}
	require.NoError(t, w.Sync())
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	stdin.Close()

	reads, its, prev := 0, 0, uint64(0)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 0 || f[0] != "read" && f[0] != "it" && f[0] != "error" {
			continue // the test framework's own lines
		}
		require.NotEqual(t, "error", f[0], "child: %s", lines.Text())
		if f[0] == "it" && f[1] == "end" {
			require.True(t, f[2] == "<nil>" || strings.Contains(lines.Text(), "truncated"), "child: %s", lines.Text())
			continue
		}
		require.Len(t, f, 3, "child: %s", lines.Text())
		seq, err := strconv.ParseUint(f[1], 10, 64)
		require.NoError(t, err)
		if f[2] == "notfound" {
			continue
		}
		want, err := w.Read(seq)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(want), f[2], "%s %d in the other process: other bytes than the record", f[0], seq)
		if f[0] == "it" {
			require.Greater(t, seq, prev)
			prev = seq
			its++
		} else {
			reads++
		}
	}
	t.Logf("the other process read %d records and iterated %d that are the writer's", reads, its)
}

// TestReadersReadRacingTruncateBack: a Read racing a TruncateBack of its
// record returns the record appended at that sequence, or ErrNotFound —
// never bytes half-zeroed, never the record appended at the same sequence
// after the cut under the old one's length, never a false ErrCorrupt
// ("damage to durable data … length out of bounds" from an index entry
// pointing into a frame appended after the cut). Found by the class tests
// of issue 8 before the seqlock-style cut checks of issue 13 landed.
func TestReadersReadRacingTruncateBack(t *testing.T) {

	l, err := Open(t.TempDir(), &Options{SegmentSize: 1 << 20, Durability: SyncManual})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Append([]byte("keep"))
	require.NoError(t, err)
	// Record 2 changes size from one round to the next, so that record 3
	// sits at a new offset each time; record 3's bytes say which round
	// wrote it.
	rec3 := func(k int64) []byte { return bytes.Repeat([]byte{byte(k)}, 64<<10) }
	var stop atomic.Bool
	var wrong, corrupt atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			b, err := l.Read(3)
			switch {
			case errors.Is(err, ErrCorrupt):
				corrupt.Add(1)
			case err == nil && (len(b) != 64<<10 || !bytes.Equal(b, rec3(int64(b[0])))):
				wrong.Add(1)
			case err != nil && !errors.Is(err, ErrNotFound):
				t.Errorf("Read: %v", err)
			}
		}
	})
	for k := range int64(300) {
		_, err := l.Append(bytes.Repeat([]byte{0xff}, int(8*(1+k%7)*100)))
		require.NoError(t, err)
		_, err = l.Append(rec3(k))
		require.NoError(t, err)
		require.NoError(t, l.TruncateBack(1))
	}
	stop.Store(true)
	wg.Wait()
	if wrong.Load() > 0 || corrupt.Load() > 0 {
		t.Errorf("%d reads returned nil with bytes never appended at 3, %d reported corruption that is not there", wrong.Load(), corrupt.Load())
	}
}

// TestReadersViewDroppedUnderFn: a TruncateBack that drops the record while
// View's fn runs zeroes the bytes under fn; View then says so with a
// *TruncatedError instead of returning fn's nil, and an iterator whose
// current record was dropped fails at the next Next.
func TestReadersViewDroppedUnderFn(t *testing.T) {
	l, err := Open(t.TempDir(), &Options{SegmentSize: 1 << 20, Durability: SyncManual})
	require.NoError(t, err)
	defer l.Close()
	for range 3 {
		_, err := l.Append([]byte("record"))
		require.NoError(t, err)
	}
	var saw []byte
	err = l.View(3, func(b []byte) error {
		require.NoError(t, l.TruncateBack(1)) // another goroutine's, in effect: View holds no lock
		saw = append(saw, b...)
		return nil
	})
	var te *TruncatedError
	require.ErrorAs(t, err, &te)
	require.ErrorIs(t, err, ErrTruncated)
	require.Equal(t, uint64(3), te.Seq)
	require.NotEqual(t, []byte("record"), saw, "fn saw the bytes being zeroed: the case View reports")
	require.NoError(t, l.View(1, func([]byte) error { return nil }), "a record the cut kept")

	_, err = l.Append([]byte("again"))
	require.NoError(t, err)
	it, err := l.NewIterator(2)
	require.NoError(t, err)
	defer it.Close()
	require.True(t, it.Next())
	require.Equal(t, []byte("again"), it.Value())
	require.NoError(t, l.TruncateBack(1))
	require.NoError(t, l.Close())
	require.False(t, it.Next())
	require.ErrorAs(t, it.Err(), &te, "the drop comes before the Close: the caller must learn of it")
	require.Equal(t, uint64(2), te.Seq)
}

// TestReadersReadOnlyBesideCreation: a ReadOnly open beside a live writer
// can open the newest segment file while the writer is still creating it
// (no header yet) and probe it a moment later, when the header checks. That
// segment held no record when the open read it: the view is the log before
// it, not a "damaged" segment. Seen as a rare false CorruptionError (offset
// 0, BadMagic or IncompleteHeader) in TestAPITruncateInsideBatch under load.
func TestReadersReadOnlyBesideCreation(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	require.NoError(t, err)
	defer l.Close()
	for range 3 {
		_, err := l.Append([]byte("record"))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync())
	waitPrepared(l)
	path := filepath.Join(dir, segment.Name(2))
	prepared, err := os.ReadFile(path)
	require.NoError(t, err)
	var opens atomic.Int32
	psnSetFault(t, func(op sysutil.Op, p string) error {
		if op != sysutil.OpOpen || p != path {
			return nil
		}
		switch opens.Add(1) {
		case 2: // segment.Open (after a first look at the header), as the creation begins: no header yet
			require.NoError(t, os.Truncate(path, 0))
		case 3: // the header written by the time recovery looks again
			require.NoError(t, os.WriteFile(path, prepared, 0o644))
		}
		return nil
	})
	ro, err := Open(dir, readOnlyOpts(bbSegSize))
	require.NoError(t, err)
	defer ro.Close()
	require.GreaterOrEqual(t, opens.Load(), int32(3), "the race was not staged")
	require.Nil(t, ro.Recovery().Corruption)
	require.Equal(t, uint64(3), ro.LastSeq())
	b, err := ro.Read(3)
	require.NoError(t, err)
	require.Equal(t, []byte("record"), b)
}

// TestReadersIteratorAtTop: after returning the record math.MaxUint64 an
// iterator is at the end for good; its next sequence must not wrap to 0.
// (It did: then a TruncateFront made the next Next fail with ErrNotFound,
// "records before … were truncated away under the iterator", and a log
// whose FirstSeq is MaxUint64 failed the same way without one.)
func TestReadersIteratorAtTop(t *testing.T) {
	t.Run("front at the top", func(t *testing.T) {
		l := rdOpen(t, t.TempDir(), &Options{SegmentSize: bbSegSize, Durability: SyncManual})
		require.NoError(t, l.AppendSeq(math.MaxUint64-1, []byte("a")))
		require.NoError(t, l.AppendSeq(math.MaxUint64, []byte("b")))
		require.NoError(t, l.TruncateFront(math.MaxUint64))
		it, err := l.NewIterator(0)
		require.NoError(t, err)
		defer it.Close()
		require.True(t, it.Next())
		require.Equal(t, uint64(math.MaxUint64), it.Seq())
		require.False(t, it.Next())
		require.NoError(t, it.Err(), "the end of the log is not an error")
	})
	t.Run("front moved after the top", func(t *testing.T) {
		l := rdOpen(t, t.TempDir(), &Options{SegmentSize: bbSegSize, Durability: SyncManual})
		for seq := uint64(1); seq <= 3; seq++ {
			rdAppend(t, l, seq, 0, 8)
		}
		rdAppend(t, l, math.MaxUint64, 0, 8)
		it, err := l.NewIterator(0)
		require.NoError(t, err)
		defer it.Close()
		var got []uint64
		for it.Next() {
			got = append(got, it.Seq())
		}
		require.NoError(t, it.Err())
		require.Equal(t, []uint64{1, 2, 3, math.MaxUint64}, got)
		require.NoError(t, l.TruncateFront(3))
		require.False(t, it.Next(), "returned %d after the top", it.Seq())
		require.NoError(t, it.Err(), "nothing the iterator had still to return was dropped")
		require.False(t, it.Next())
		require.NoError(t, it.Err())
	})
}
