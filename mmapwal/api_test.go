package mmapwal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// Tests of the public API: every bad input and error path, the documented
// behaviour of each method, allocations, and concurrent use. The model-based
// test (model_test.go) covers random sequences of the same operations.

// openLog opens a log in a new temporary directory and closes it at the end
// of the test.
func openLog(t *testing.T, o *mmapwal.Options) (*mmapwal.Log, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, dir, o), dir
}

func openAt(t *testing.T, dir string, o *mmapwal.Options) *mmapwal.Log {
	t.Helper()
	l, err := mmapwal.Open(dir, o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// manual is the usual options of these tests: small segments, no sync per
// append.
func manual() *mmapwal.Options {
	return &mmapwal.Options{SegmentSize: 64 << 10, Durability: mmapwal.SyncManual}
}

func mustAppend(t *testing.T, l *mmapwal.Log, data []byte) uint64 {
	t.Helper()
	seq, err := l.Append(data)
	require.NoError(t, err)
	return seq
}

func mustRead(t *testing.T, l *mmapwal.Log, seq uint64) []byte {
	t.Helper()
	b, err := l.Read(seq)
	require.NoError(t, err, "Read(%d)", seq)
	return b
}

// collect iterates from from to the current end and returns the sequences
// and values.
func collect(t *testing.T, l *mmapwal.Log, from uint64) ([]uint64, []string) {
	t.Helper()
	it, err := l.NewIterator(from)
	require.NoError(t, err)
	defer it.Close()
	var seqs []uint64
	var vals []string
	for it.Next() {
		seqs = append(seqs, it.Seq())
		vals = append(vals, string(it.Value()))
	}
	require.NoError(t, it.Err())
	return seqs, vals
}

func requireSeqErr(t *testing.T, err error, expected, provided uint64) {
	t.Helper()
	require.ErrorIs(t, err, mmapwal.ErrSequence)
	var se *mmapwal.SequenceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, expected, se.Expected, "SequenceError.Expected")
	require.Equal(t, provided, se.Provided, "SequenceError.Provided")
}

// --- Bad input ---------------------------------------------------------------

func TestAPIEmptyRecord(t *testing.T) {
	l, dir := openLog(t, manual())
	require.Equal(t, uint64(1), mustAppend(t, l, nil))
	require.Equal(t, uint64(2), mustAppend(t, l, []byte{}))
	require.NoError(t, l.AppendSeq(5, nil))
	first, err := l.AppendBatch([][]byte{nil, {}, []byte("x")})
	require.NoError(t, err)
	require.Equal(t, uint64(6), first)
	r, err := l.Reserve(0)
	require.NoError(t, err)
	require.Empty(t, r.Bytes())
	seq, err := r.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(9), seq)

	check := func(l *mmapwal.Log) {
		for _, s := range []uint64{1, 2, 5, 6, 7, 9} {
			b, err := l.Read(s)
			require.NoError(t, err, "Read(%d)", s)
			require.Empty(t, b, "Read(%d)", s)
			called := false
			require.NoError(t, l.View(s, func(b []byte) error { called = true; require.Empty(t, b); return nil }))
			require.True(t, called)
		}
		require.Equal(t, "x", string(mustRead(t, l, 8)))
		seqs, vals := collect(t, l, 0)
		require.Equal(t, []uint64{1, 2, 5, 6, 7, 8, 9}, seqs)
		require.Equal(t, []string{"", "", "", "", "", "x", ""}, vals)
	}
	check(l)
	require.NoError(t, l.Close())
	check(openAt(t, dir, manual()))
}

func TestAPIRecordTooLarge(t *testing.T) {
	o := &mmapwal.Options{SegmentSize: 16 << 10, MaxRecordSize: 1000, Durability: mmapwal.SyncManual}
	l, dir := openLog(t, o)
	mustAppend(t, l, []byte("a"))
	big := bytes.Repeat([]byte{0xee}, 1001)

	_, err := l.Append(big)
	require.ErrorIs(t, err, mmapwal.ErrRecordTooLarge)
	require.ErrorIs(t, l.AppendSeq(2, big), mmapwal.ErrRecordTooLarge)
	_, err = l.AppendBatch([][]byte{[]byte("ok"), big})
	require.ErrorIs(t, err, mmapwal.ErrRecordTooLarge)
	require.ErrorIs(t, l.AppendBatchSeq(2, [][]byte{big}), mmapwal.ErrRecordTooLarge)
	_, err = l.Reserve(1001)
	require.ErrorIs(t, err, mmapwal.ErrRecordTooLarge)
	_, err = l.Reserve(-1)
	require.ErrorIs(t, err, mmapwal.ErrInvalidArgument)

	// Nothing was written: the sequence did not move, no append was
	// counted, and the log reopens with the one record and no residue.
	require.Equal(t, uint64(1), l.LastSeq())
	require.Equal(t, uint64(1), l.Stats().Appends)
	_, err = l.Read(2)
	require.ErrorIs(t, err, mmapwal.ErrNotFound)

	// The largest record is accepted.
	exact := bytes.Repeat([]byte{0x11}, 1000)
	require.Equal(t, uint64(2), mustAppend(t, l, exact))
	require.NoError(t, l.Close())

	l = openAt(t, dir, o)
	rep := l.Recovery()
	require.Nil(t, rep.TornTail)
	require.Equal(t, 2, rep.Records)
	require.Equal(t, exact, mustRead(t, l, 2))
	require.Equal(t, uint64(3), mustAppend(t, l, []byte("b")))
}

func TestAPISequenceError(t *testing.T) {
	l, _ := openLog(t, manual())
	requireSeqErr(t, l.AppendSeq(0, []byte("x")), 1, 0)
	requireSeqErr(t, l.AppendBatchSeq(0, [][]byte{[]byte("x")}), 1, 0)
	require.Equal(t, uint64(0), l.LastSeq())

	require.NoError(t, l.AppendSeq(10, []byte("ten")))
	require.Equal(t, uint64(10), l.FirstSeq())
	require.Equal(t, uint64(10), l.LastSeq())
	for _, bad := range []uint64{0, 1, 9, 10} {
		requireSeqErr(t, l.AppendSeq(bad, []byte("x")), 11, bad)
		requireSeqErr(t, l.AppendBatchSeq(bad, [][]byte{[]byte("x"), []byte("y")}), 11, bad)
	}
	require.Equal(t, uint64(10), l.LastSeq())

	require.NoError(t, l.AppendBatchSeq(20, [][]byte{[]byte("a"), []byte("b")}))
	requireSeqErr(t, l.AppendSeq(21, nil), 22, 21)
	require.Equal(t, uint64(22), mustAppend(t, l, []byte("c")))
	require.NoError(t, l.AppendSeq(23, []byte("d"))) // no gap is fine too
	seqs, vals := collect(t, l, 0)
	require.Equal(t, []uint64{10, 20, 21, 22, 23}, seqs)
	require.Equal(t, []string{"ten", "a", "b", "c", "d"}, vals)

	// The error message names both sequences.
	err := l.AppendSeq(5, nil)
	require.Contains(t, err.Error(), "5")
	require.Contains(t, err.Error(), "24")
}

func TestAPIEmptyBatch(t *testing.T) {
	l, _ := openLog(t, manual())
	_, err := l.AppendBatch(nil)
	require.ErrorIs(t, err, mmapwal.ErrInvalidArgument)
	_, err = l.AppendBatch([][]byte{})
	require.ErrorIs(t, err, mmapwal.ErrInvalidArgument)
	require.ErrorIs(t, l.AppendBatchSeq(3, nil), mmapwal.ErrInvalidArgument)
	require.Equal(t, uint64(0), l.LastSeq())
	require.Equal(t, uint64(0), l.Stats().Appends)
}

func TestAPIBatchTooLargeForSegment(t *testing.T) {
	const segSize = 8192
	o := &mmapwal.Options{SegmentSize: segSize, Durability: mmapwal.SyncManual}
	l, dir := openLog(t, o)
	mustAppend(t, l, []byte("a"))
	// Each record fits, the batch does not: 3 × (24+3000) > 8192-64-48.
	rec := bytes.Repeat([]byte{1}, 3000)
	_, err := l.AppendBatch([][]byte{rec, rec, rec})
	require.ErrorIs(t, err, mmapwal.ErrRecordTooLarge)
	require.ErrorIs(t, l.AppendBatchSeq(5, [][]byte{rec, rec, rec}), mmapwal.ErrRecordTooLarge)
	require.Equal(t, uint64(1), l.LastSeq())
	rotations := l.Stats().Rotations

	// A batch that fills a whole segment exactly is accepted (it rotates).
	// Two frames of 24+n bytes, n a multiple of 8: 2×(24+n) = 8192-64-48
	// (the room for a mark and a seal, FORMAT.md §9.2).
	n := (segSize-64-48)/2 - 24
	first, err := l.AppendBatch([][]byte{bytes.Repeat([]byte{2}, n), bytes.Repeat([]byte{3}, n)})
	require.NoError(t, err)
	require.Equal(t, uint64(2), first)
	require.Greater(t, l.Stats().Rotations, rotations)
	require.NoError(t, l.Close())

	l = openAt(t, dir, o)
	require.Nil(t, l.Recovery().TornTail)
	require.Equal(t, uint64(3), l.LastSeq())
	require.Equal(t, bytes.Repeat([]byte{3}, n), mustRead(t, l, 3))
}

func TestAPIReadNotFound(t *testing.T) {
	l, _ := openLog(t, manual())
	_, err := l.Read(0)
	require.ErrorIs(t, err, mmapwal.ErrNotFound, "Read(0) of an empty log")
	_, err = l.Read(1)
	require.ErrorIs(t, err, mmapwal.ErrNotFound, "Read(1) of an empty log")

	for i := 1; i <= 10; i++ {
		mustAppend(t, l, []byte{byte(i)})
	}
	require.NoError(t, l.AppendSeq(20, []byte{20})) // a gap 11..19
	mustAppend(t, l, []byte{21})
	require.NoError(t, l.TruncateFront(4)) // 1..3 gone
	require.NoError(t, l.TruncateBack(20)) // 21 gone

	missing := map[string][]uint64{
		"zero":      {0},
		"truncated": {1, 2, 3, 21},
		"gap":       {11, 15, 19},
		"above":     {22, 1000, ^uint64(0)},
	}
	for what, seqs := range missing {
		for _, s := range seqs {
			_, err := l.Read(s)
			require.ErrorIs(t, err, mmapwal.ErrNotFound, "Read(%d) (%s)", s, what)
			dst, err := l.ReadInto([]byte("keep"), s)
			require.ErrorIs(t, err, mmapwal.ErrNotFound, "ReadInto(%d) (%s)", s, what)
			require.Equal(t, "keep", string(dst))
			require.ErrorIs(t, l.View(s, func([]byte) error {
				t.Fatalf("View(%d) called fn for a missing record", s)
				return nil
			}), mmapwal.ErrNotFound, "View(%d) (%s)", s, what)
		}
	}
	for _, s := range []uint64{4, 10, 20} {
		require.Equal(t, []byte{byte(s)}, mustRead(t, l, s))
	}
}

func TestAPIWaitDurable(t *testing.T) {
	l, _ := openLog(t, manual())
	require.Error(t, l.WaitDurable(context.Background(), 1), "WaitDurable above LastSeq of an empty log")
	seq := mustAppend(t, l, []byte("a"))
	require.Error(t, l.WaitDurable(context.Background(), seq+1), "WaitDurable above LastSeq")
	require.ErrorIs(t, l.WaitDurable(context.Background(), seq+1), mmapwal.ErrInvalidArgument)

	// SyncManual: nothing syncs by itself.
	require.Less(t, l.DurableSeq(), seq)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.WaitDurable(ctx, seq), context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, l.WaitDurable(ctx, seq))
	require.GreaterOrEqual(t, l.DurableSeq(), seq)
	require.NoError(t, l.WaitDurable(ctx, 0))
}

func TestAPIBadOptions(t *testing.T) {
	cases := []struct {
		name  string
		o     mmapwal.Options
		field string
	}{
		{"segment too small", mmapwal.Options{SegmentSize: 4088}, "SegmentSize"},
		{"segment negative", mmapwal.Options{SegmentSize: -4096}, "SegmentSize"},
		{"segment too big", mmapwal.Options{SegmentSize: 1<<31 + 8}, "SegmentSize"},
		{"segment unaligned", mmapwal.Options{SegmentSize: 4096 + 4}, "SegmentSize"},
		{"record larger than a segment", mmapwal.Options{SegmentSize: 4096, MaxRecordSize: 4096 - 64 - 24 - 48 + 1}, "MaxRecordSize"},
		{"record larger than the default segment", mmapwal.Options{MaxRecordSize: 64 << 20}, "MaxRecordSize"},
		{"record negative", mmapwal.Options{MaxRecordSize: -1}, "MaxRecordSize"},
		{"durability unknown", mmapwal.Options{Durability: 3}, "Durability"},
		{"durability negative", mmapwal.Options{Durability: -1}, "Durability"},
		{"repair unknown", mmapwal.Options{Repair: 2}, "Repair"},
		{"repair negative", mmapwal.Options{Repair: -1}, "Repair"},
		{"sync interval negative", mmapwal.Options{Durability: mmapwal.SyncInterval, SyncInterval: -time.Millisecond}, "SyncInterval"},
		{"mapped segments negative", mmapwal.Options{MaxMappedSegments: -1}, "MaxMappedSegments"},
		{"bytes per sync negative", mmapwal.Options{BytesPerSync: -1}, "BytesPerSync"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			l, err := mmapwal.Open(dir, &c.o)
			if err == nil {
				l.Close()
				t.Fatalf("Open accepted %+v", c.o)
			}
			require.ErrorIs(t, err, mmapwal.ErrInvalidArgument)
			require.Contains(t, err.Error(), c.field, "the error names the field")
			_, statErr := os.Stat(dir)
			require.True(t, errors.Is(statErr, os.ErrNotExist), "a rejected Open created the directory")
		})
	}

	// The limits themselves are accepted.
	for _, o := range []mmapwal.Options{
		{SegmentSize: 4096, MaxRecordSize: 4096 - 64 - 24 - 48},
		{SegmentSize: 4096},
		{SegmentSize: 1 << 20, MaxRecordSize: 1},
		{SegmentSize: 1 << 20, Durability: mmapwal.SyncInterval, SyncInterval: time.Microsecond},
		{SegmentSize: 1 << 20, MaxMappedSegments: 1, BytesPerSync: 1},
		{SegmentSize: 1 << 20, Repair: mmapwal.Strict},
	} {
		l, err := mmapwal.Open(t.TempDir(), &o)
		require.NoError(t, err, "%+v", o)
		require.NoError(t, l.Close())
	}
	// nil Options are the defaults.
	l, err := mmapwal.Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1), mustAppend(t, l, []byte("x")))
	require.GreaterOrEqual(t, l.DurableSeq(), uint64(1), "the default is SyncAlways")
	require.NoError(t, l.Close())
}

func TestAPITruncateOutOfRange(t *testing.T) {
	l, _ := openLog(t, manual())
	// An empty log: FirstSeq = LastSeq = 0.
	require.ErrorIs(t, l.TruncateFront(2), mmapwal.ErrInvalidArgument)
	require.ErrorIs(t, l.TruncateBack(1), mmapwal.ErrInvalidArgument)

	for i := 1; i <= 10; i++ {
		mustAppend(t, l, []byte{byte(i)})
	}
	require.NoError(t, l.TruncateFront(4))
	require.NoError(t, l.TruncateBack(8))
	// Now FirstSeq = 4, LastSeq = 8.
	for _, s := range []uint64{0, 1, 3, 10, 100} {
		err := l.TruncateFront(s)
		require.ErrorIs(t, err, mmapwal.ErrInvalidArgument, "TruncateFront(%d) outside [4, 9]", s)
	}
	for _, s := range []uint64{0, 1, 2, 9, 100} {
		err := l.TruncateBack(s)
		require.ErrorIs(t, err, mmapwal.ErrInvalidArgument, "TruncateBack(%d) outside [3, 8]", s)
	}
	require.Equal(t, uint64(4), l.FirstSeq())
	require.Equal(t, uint64(8), l.LastSeq())
	seqs, _ := collect(t, l, 0)
	require.Equal(t, []uint64{4, 5, 6, 7, 8}, seqs)

	// The bounds themselves are accepted.
	require.NoError(t, l.TruncateFront(4))
	require.NoError(t, l.TruncateBack(8))
	require.NoError(t, l.TruncateBack(3)) // FirstSeq-1: drops every record
	require.Equal(t, uint64(3), l.LastSeq())
	require.Equal(t, uint64(4), l.FirstSeq())
	require.NoError(t, l.TruncateFront(4)) // LastSeq+1
	require.Equal(t, uint64(4), mustAppend(t, l, []byte("again")))
}

// --- Sequences after truncation ------------------------------------------

func TestAPITruncateSequences(t *testing.T) {
	l, dir := openLog(t, manual())
	require.Equal(t, uint64(0), l.FirstSeq(), "a log that never held a record")
	require.Equal(t, uint64(0), l.LastSeq())

	// Gaps: 1, 5, 10, 11.
	mustAppend(t, l, []byte("1"))
	require.NoError(t, l.AppendSeq(5, []byte("5")))
	require.NoError(t, l.AppendBatchSeq(10, [][]byte{[]byte("10"), []byte("11")}))

	// TruncateBack to a sequence that exists: LastSeq is that sequence.
	require.NoError(t, l.TruncateBack(10))
	require.Equal(t, uint64(10), l.LastSeq())
	// To one in a gap: LastSeq is the highest remaining record.
	require.NoError(t, l.TruncateBack(7))
	require.Equal(t, uint64(5), l.LastSeq())
	require.Equal(t, uint64(6), mustAppend(t, l, []byte("6")))
	seqs, _ := collect(t, l, 0)
	require.Equal(t, []uint64{1, 5, 6}, seqs)

	// TruncateFront into a gap: FirstSeq is the next record.
	require.NoError(t, l.TruncateFront(3))
	require.Equal(t, uint64(5), l.FirstSeq())

	// TruncateFront(LastSeq+1): no record left, LastSeq kept, FirstSeq =
	// LastSeq+1, the next Append continues (the way Raft compacts).
	require.NoError(t, l.TruncateFront(7))
	require.Equal(t, uint64(6), l.LastSeq())
	require.Equal(t, uint64(7), l.FirstSeq())
	seqs, _ = collect(t, l, 0)
	require.Empty(t, seqs)
	_, err := l.Read(6)
	require.ErrorIs(t, err, mmapwal.ErrNotFound)

	// Across a reopen.
	require.NoError(t, l.Close())
	l = openAt(t, dir, manual())
	require.Equal(t, uint64(6), l.LastSeq())
	require.Equal(t, uint64(7), l.FirstSeq())
	require.Equal(t, uint64(7), mustAppend(t, l, []byte("7")))
	require.Equal(t, uint64(7), l.FirstSeq())

	// TruncateBack(FirstSeq-1) empties the log and keeps LastSeq there,
	// across a reopen too.
	require.NoError(t, l.AppendSeq(20, []byte("20")))
	require.NoError(t, l.TruncateBack(6))
	require.Equal(t, uint64(6), l.LastSeq())
	require.Equal(t, uint64(7), l.FirstSeq())
	require.NoError(t, l.Close())
	l = openAt(t, dir, manual())
	require.Equal(t, uint64(6), l.LastSeq())
	require.Equal(t, uint64(7), l.FirstSeq())
	require.Equal(t, uint64(7), mustAppend(t, l, []byte("7 again")))
	require.Equal(t, "7 again", string(mustRead(t, l, 7)))
}

// TestAPITruncateInsideBatch cuts batches in the middle: the records kept
// must survive a reopen, with and without a clean Close, and later records
// must follow them.
func TestAPITruncateInsideBatch(t *testing.T) {
	for _, keep := range []int{1, 2, 4} { // the first, a middle, the next to last
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			l, dir := openLog(t, manual())
			mustAppend(t, l, []byte("before"))
			recs := [][]byte{[]byte("b0"), []byte("b1"), []byte("b2"), []byte("b3"), []byte("b4")}
			first, err := l.AppendBatch(recs)
			require.NoError(t, err)
			require.NoError(t, l.TruncateBack(first+uint64(keep)-1))
			require.NoError(t, l.Close())

			l = openAt(t, dir, manual())
			require.Nil(t, l.Recovery().TornTail)
			require.Equal(t, first+uint64(keep)-1, l.LastSeq())
			for i := range keep {
				require.Equal(t, recs[i], mustRead(t, l, first+uint64(i)))
			}
			next := mustAppend(t, l, []byte("after"))
			require.Equal(t, first+uint64(keep), next)
			_, err = l.AppendBatch([][]byte{[]byte("c0"), []byte("c1")})
			require.NoError(t, err)
			require.NoError(t, l.Sync())
			// What a reopen after a crash would find (no durable mark of
			// Close): the cut batch must not look unfinished.
			ro := openAt(t, dir, &mmapwal.Options{ReadOnly: true})
			rep := ro.Recovery()
			require.Nil(t, rep.TornTail)
			require.Nil(t, rep.Corruption)
			seqs, vals := collect(t, ro, first)
			require.Len(t, seqs, keep+3)
			require.Equal(t, "after", vals[keep])
			require.Equal(t, []string{"c0", "c1"}, vals[keep+1:])
		})
	}
}

// TestAPIReopenAfterTruncations reopens logs whose segments truncations left
// in shapes a plain append never makes.
func TestAPIReopenAfterTruncations(t *testing.T) {
	o := &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual}
	const largest = 4096 - 64 - 24 - 48 // with room for a mark and a seal

	t.Run("segment holding only a durable mark", func(t *testing.T) {
		l, dir := openLog(t, o)
		for i := 1; i <= 3; i++ {
			mustAppend(t, l, []byte{byte(i)})
		}
		require.NoError(t, l.TruncateFront(1))
		r, err := l.Reserve(largest) // rotates to segment 2 …
		require.NoError(t, err)
		r.Abort()                               // … and leaves it empty
		require.NoError(t, l.Close())           // its durable mark goes there
		l = openAt(t, dir, o)                   // segment 2: only a mark
		mustAppend(t, l, make([]byte, largest)) // rotates to segment 3
		require.NoError(t, l.Close())
		for range 2 {
			l = openAt(t, dir, o)
			require.Equal(t, uint64(4), l.LastSeq())
			seqs, _ := collect(t, l, 0)
			require.Equal(t, []uint64{1, 2, 3, 4}, seqs)
			require.NoError(t, l.Close())
		}
	})

	t.Run("LastSeq above the last record at rotation", func(t *testing.T) {
		l, dir := openLog(t, o)
		for i := 1; i <= 3; i++ {
			mustAppend(t, l, []byte{byte(i)})
		}
		require.NoError(t, l.AppendSeq(10, []byte{10}))
		require.NoError(t, l.TruncateFront(10))
		require.NoError(t, l.TruncateBack(9)) // no record left; LastSeq 9
		require.Equal(t, uint64(9), l.LastSeq())
		mustAppend(t, l, make([]byte, largest)) // segment 2 starts at 10
		require.NoError(t, l.Close())
		for range 2 {
			l = openAt(t, dir, o)
			require.Equal(t, uint64(10), l.LastSeq())
			require.Equal(t, uint64(10), l.FirstSeq())
			require.Len(t, mustRead(t, l, 10), largest)
			require.NoError(t, l.Close())
		}
	})

	t.Run("first segment starting above the front", func(t *testing.T) {
		l, dir := openLog(t, o)
		for i := 1; i <= 3; i++ {
			mustAppend(t, l, []byte{byte(i)})
		}
		require.NoError(t, l.TruncateFront(4)) // front 4, LastSeq 3
		require.NoError(t, l.AppendSeq(6, []byte{6}))
		require.NoError(t, l.TruncateBack(5))   // no record left; LastSeq 5
		mustAppend(t, l, make([]byte, largest)) // segment 2 starts at 6
		require.NoError(t, l.Close())
		for range 3 { // the first reopen removes segment 1
			l = openAt(t, dir, o)
			require.Equal(t, uint64(6), l.FirstSeq())
			require.Equal(t, uint64(6), l.LastSeq())
			require.Len(t, mustRead(t, l, 6), largest)
			require.NoError(t, l.Close())
		}
	})
}

// --- Closed and read-only logs --------------------------------------------

func TestAPIClosed(t *testing.T) {
	l, _ := openLog(t, manual())
	mustAppend(t, l, []byte("a"))
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "a second Close returns nil")

	_, err = l.Append([]byte("x"))
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	require.ErrorIs(t, l.AppendSeq(5, nil), mmapwal.ErrClosed)
	_, err = l.AppendBatch([][]byte{{1}})
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	require.ErrorIs(t, l.AppendBatchSeq(5, [][]byte{{1}}), mmapwal.ErrClosed)
	_, err = l.Reserve(1)
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	require.ErrorIs(t, l.Sync(), mmapwal.ErrClosed)
	_, err = l.Read(1)
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	_, err = l.ReadInto(nil, 1)
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	require.ErrorIs(t, l.View(1, func([]byte) error { return nil }), mmapwal.ErrClosed)
	_, err = l.NewIterator(0)
	require.ErrorIs(t, err, mmapwal.ErrClosed)
	require.ErrorIs(t, l.TruncateFront(1), mmapwal.ErrClosed)
	require.ErrorIs(t, l.TruncateBack(0), mmapwal.ErrClosed)
	require.Error(t, l.WaitDurable(context.Background(), 2))

	// An iterator opened before Close ends with ErrClosed.
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), mmapwal.ErrClosed)
	require.NoError(t, it.Close())

	// The accessors still answer.
	require.Equal(t, uint64(1), l.LastSeq())
	require.Equal(t, uint64(1), l.FirstSeq())
	require.Equal(t, uint64(1), l.DurableSeq(), "Close made everything durable")
	require.Equal(t, uint64(1), l.Stats().Appends)
}

func TestAPIReadOnly(t *testing.T) {
	_, err := mmapwal.Open(filepath.Join(t.TempDir(), "missing"), &mmapwal.Options{ReadOnly: true})
	require.Error(t, err, "a ReadOnly open of a missing directory")

	dir := t.TempDir()
	w, err := mmapwal.Open(dir, manual())
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		mustAppend(t, w, []byte{byte(i)})
	}
	require.NoError(t, w.Close())

	o := manual()
	o.ReadOnly = true
	l := openAt(t, dir, o)
	require.Equal(t, uint64(1), l.FirstSeq())
	require.Equal(t, uint64(5), l.LastSeq())
	require.Equal(t, []byte{3}, mustRead(t, l, 3))
	seqs, _ := collect(t, l, 2)
	require.Equal(t, []uint64{2, 3, 4, 5}, seqs)

	_, err = l.Append([]byte("x"))
	require.Error(t, err)
	require.Error(t, l.AppendSeq(10, nil))
	_, err = l.AppendBatch([][]byte{{1}})
	require.Error(t, err)
	require.Error(t, l.AppendBatchSeq(10, [][]byte{{1}}))
	_, err = l.Reserve(1)
	require.Error(t, err)
	require.Error(t, l.TruncateFront(3))
	require.Error(t, l.TruncateBack(3))
	require.Equal(t, uint64(5), l.LastSeq())

	// A ReadOnly open takes no lock: a writer can open the log meanwhile.
	w2 := openAt(t, dir, manual())
	mustAppend(t, w2, []byte{6})
	require.NoError(t, w2.Close())
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
}

func TestAPILocked(t *testing.T) {
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, manual())
	require.NoError(t, err)
	for _, d := range []string{dir, dir + "/.", filepath.Join(dir, "..", filepath.Base(dir))} {
		_, err = mmapwal.Open(d, manual())
		require.ErrorIs(t, err, mmapwal.ErrLocked, "second Open of %s", d)
	}
	// The failed Opens changed nothing.
	mustAppend(t, l, []byte("still mine"))
	require.NoError(t, l.Close())

	l2, err := mmapwal.Open(dir, manual())
	require.NoError(t, err, "Open after the first was closed")
	require.Equal(t, "still mine", string(mustRead(t, l2, 1)))
	_, err = mmapwal.Open(dir, manual())
	require.ErrorIs(t, err, mmapwal.ErrLocked)
	require.NoError(t, l2.Close())
}

// --- Reservations ---------------------------------------------------------

func TestAPIReserve(t *testing.T) {
	l, dir := openLog(t, manual())
	mustAppend(t, l, []byte("first"))

	r, err := l.Reserve(100)
	require.NoError(t, err)
	b := r.Bytes()
	require.Len(t, b, 100)
	require.Equal(t, 100, cap(b), "Bytes must not reach past the reservation")
	copy(b, bytes.Repeat([]byte("z"), 100))
	require.Equal(t, uint64(1), l.LastSeq(), "the sequence is assigned at Commit")
	seq, err := r.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(2), seq)
	require.Nil(t, r.Bytes(), "Bytes after Commit")
	_, err = r.Commit()
	require.Error(t, err, "second Commit")
	r.Abort() // after Commit: does nothing
	require.Equal(t, bytes.Repeat([]byte("z"), 100), mustRead(t, l, 2))

	// Abort leaves no gap and zeroes the space: the same space reserved
	// again reads as zeros.
	r, err = l.Reserve(64)
	require.NoError(t, err)
	copy(r.Bytes(), bytes.Repeat([]byte{0xff}, 64))
	r.Abort()
	r.Abort()
	_, err = r.Commit()
	require.Error(t, err, "Commit after Abort")
	require.Nil(t, r.Bytes(), "Bytes after Abort")
	require.Equal(t, uint64(2), l.LastSeq())
	r, err = l.Reserve(64)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 64), r.Bytes(), "an aborted reservation left bytes behind")
	r.Abort()
	require.Equal(t, uint64(3), mustAppend(t, l, []byte("third")))

	// A reservation that does not fit rotates, like an append.
	rot := l.Stats().Rotations
	r, err = l.Reserve(64<<10 - 64 - 24 - 48) // the largest: only fits an empty segment
	require.NoError(t, err)
	copy(r.Bytes(), "big")
	seq, err = r.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(4), seq)
	require.Greater(t, l.Stats().Rotations, rot)

	// An open reservation at Close is aborted.
	r, err = l.Reserve(10)
	require.NoError(t, err)
	copy(r.Bytes(), "abandoned!")
	require.NoError(t, l.Close())
	_, err = r.Commit()
	require.Error(t, err, "Commit after Close")

	l = openAt(t, dir, manual())
	require.Nil(t, l.Recovery().TornTail, "an aborted reservation is not a torn tail")
	require.Equal(t, uint64(4), l.LastSeq())
	seqs, vals := collect(t, l, 0)
	require.Equal(t, []uint64{1, 2, 3, 4}, seqs)
	require.Equal(t, "third", vals[2])
	require.True(t, strings.HasPrefix(vals[3], "big"))
}

// TestAPIReserveBlocksWriters: while a reservation is open, other writers
// wait until it is committed or aborted.
func TestAPIReserveBlocksWriters(t *testing.T) {
	l, _ := openLog(t, manual())
	r, err := l.Reserve(5)
	require.NoError(t, err)
	copy(r.Bytes(), "first")

	type result struct {
		what string
		seq  uint64
		err  error
	}
	done := make(chan result, 4)
	go func() { s, err := l.Append([]byte("second")); done <- result{"Append", s, err} }()
	go func() { s, err := l.AppendBatch([][]byte{[]byte("b")}); done <- result{"AppendBatch", s, err} }()
	go func() {
		r2, err := l.Reserve(1)
		if err != nil {
			done <- result{"Reserve", 0, err}
			return
		}
		copy(r2.Bytes(), "r")
		s, err := r2.Commit()
		done <- result{"Reserve", s, err}
	}()
	go func() { err := l.TruncateFront(1); done <- result{"TruncateFront", 0, err} }()

	select {
	case res := <-done:
		t.Fatalf("%s returned while a reservation was open: %d, %v", res.what, res.seq, res.err)
	case <-time.After(100 * time.Millisecond):
	}
	require.Equal(t, uint64(0), l.LastSeq())
	seq, err := r.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq, "the reservation's record comes first")

	got := map[uint64]bool{}
	for range 4 {
		select {
		case res := <-done:
			require.NoError(t, res.err, res.what)
			if res.seq != 0 {
				got[res.seq] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a writer is still blocked after Commit")
		}
	}
	require.Equal(t, map[uint64]bool{2: true, 3: true, 4: true}, got)
	require.Equal(t, "first", string(mustRead(t, l, 1)))
}

// --- Durability and Stats ---------------------------------------------------

func TestAPISyncAlways(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 64 << 10})
	for i := range 50 {
		seq := mustAppend(t, l, []byte{byte(i)})
		require.GreaterOrEqual(t, l.DurableSeq(), seq, "Append returned before its record was durable")
	}
	first, err := l.AppendBatch([][]byte{{1}, {2}, {3}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, l.DurableSeq(), first+2)
	require.NoError(t, l.AppendSeq(100, []byte{100}))
	require.GreaterOrEqual(t, l.DurableSeq(), uint64(100))
	require.NoError(t, l.AppendBatchSeq(200, [][]byte{{1}, {2}}))
	require.GreaterOrEqual(t, l.DurableSeq(), uint64(201))
	r, err := l.Reserve(3)
	require.NoError(t, err)
	seq, err := r.Commit()
	require.NoError(t, err)
	require.GreaterOrEqual(t, l.DurableSeq(), seq)
}

func TestAPISyncInterval(t *testing.T) {
	const interval = 5 * time.Millisecond
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 64 << 10, Durability: mmapwal.SyncInterval, SyncInterval: interval})
	for round := range 3 {
		var seq uint64
		for i := range 10 {
			seq = mustAppend(t, l, []byte{byte(round), byte(i)})
		}
		// Within a few intervals; the bound is loose for slow machines.
		deadline := time.Now().Add(400 * interval)
		for l.DurableSeq() < seq {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: DurableSeq %d did not reach %d within %v", round, l.DurableSeq(), seq, 400*interval)
			}
			time.Sleep(interval / 2)
		}
	}
	require.Positive(t, l.Stats().Syncs)
}

func TestAPISyncManual(t *testing.T) {
	l, _ := openLog(t, manual())
	seq := mustAppend(t, l, []byte("a"))
	time.Sleep(20 * time.Millisecond)
	require.Less(t, l.DurableSeq(), seq, "SyncManual synced by itself")
	require.NoError(t, l.Sync())
	require.Equal(t, seq, l.DurableSeq())
	require.NoError(t, l.Sync(), "a Sync with nothing to do")
}

func TestAPIStats(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual})
	st := l.Stats()
	require.Zero(t, st.Appends)
	require.Zero(t, st.LastSeq)
	for i := range 100 {
		mustAppend(t, l, bytes.Repeat([]byte{byte(i)}, 200))
	}
	_, err := l.AppendBatch([][]byte{{1}, {2}})
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	st = l.Stats()
	require.Equal(t, uint64(102), st.Appends)
	require.Positive(t, st.Syncs)
	require.Positive(t, st.Rotations, "200-byte records in 4 KiB segments")
	require.Greater(t, st.Segments, 1)
	require.Positive(t, st.MappedSegments)
	require.LessOrEqual(t, st.MappedSegments, st.Segments)
	require.Equal(t, uint64(1), st.FirstSeq)
	require.Equal(t, uint64(102), st.LastSeq)
	require.Equal(t, uint64(102), st.DurableSeq)
	require.False(t, st.Poisoned)
	require.Positive(t, st.RecordsPerSync)

	require.NoError(t, l.TruncateFront(50))
	after := l.Stats()
	require.Equal(t, uint64(50), after.FirstSeq)
	require.Less(t, after.Segments, st.Segments, "TruncateFront removed whole segments")
}

// TestAPIStatsGroupCommit: 16 concurrent SyncAlways appenders share syncs.
func TestAPIStatsGroupCommit(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 1 << 20})
	const writers, each = 16, 40
	var wg sync.WaitGroup
	var bad atomic.Value
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				seq, err := l.Append([]byte(fmt.Sprintf("w%d-%d", w, i)))
				if err != nil {
					bad.Store(err)
					return
				}
				if d := l.DurableSeq(); d < seq {
					bad.Store(fmt.Errorf("Append(%d) returned with DurableSeq %d", seq, d))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := bad.Load().(error); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	require.Equal(t, uint64(writers*each), st.Appends)
	require.Positive(t, st.Syncs)
	require.Greater(t, st.RecordsPerSync, 1.0, "no group commit: %+v", st)
	require.Less(t, st.Syncs, uint64(writers*each))
	t.Logf("%d appends, %d syncs, %.1f records per sync", st.Appends, st.Syncs, st.RecordsPerSync)
}

// --- Iterators --------------------------------------------------------------

func TestAPIIteratorFollowsAppends(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual})
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	defer it.Close()
	require.False(t, it.Next(), "an empty log")
	require.NoError(t, it.Err())

	next := uint64(1)
	for round := range 20 {
		for range round * 3 { // up to 57 × 300 B: across rotations
			mustAppend(t, l, bytes.Repeat([]byte{byte(round)}, 300))
		}
		for it.Next() {
			require.Equal(t, next, it.Seq())
			require.Equal(t, bytes.Repeat([]byte{byte(round)}, 300), it.Value())
			next++
		}
		require.NoError(t, it.Err())
		require.Equal(t, l.LastSeq()+1, next, "round %d", round)
	}
	require.Positive(t, l.Stats().Rotations)

	// An iterator from above LastSeq waits for its start.
	it2, err := l.NewIterator(l.LastSeq() + 3)
	require.NoError(t, err)
	defer it2.Close()
	require.False(t, it2.Next())
	base := l.LastSeq()
	for i := 1; i <= 4; i++ {
		mustAppend(t, l, []byte{byte(i)})
	}
	require.True(t, it2.Next())
	require.Equal(t, base+3, it2.Seq())
	require.True(t, it2.Next())
	require.Equal(t, base+4, it2.Seq())
	require.False(t, it2.Next())
	require.NoError(t, it2.Err())
	require.NoError(t, it2.Close())
	require.NoError(t, it2.Close(), "a second Close")
	require.False(t, it2.Next(), "Next after Close")
}

func TestAPIIteratorFrom(t *testing.T) {
	l, _ := openLog(t, manual())
	for _, s := range []uint64{1, 2, 5, 9} {
		require.NoError(t, l.AppendSeq(s, []byte{byte(s)}))
	}
	for from, want := range map[uint64][]uint64{
		0: {1, 2, 5, 9}, 1: {1, 2, 5, 9}, 3: {5, 9}, 5: {5, 9}, 6: {9}, 9: {9}, 10: nil,
	} {
		seqs, _ := collect(t, l, from)
		require.Equal(t, want, seqs, "from %d", from)
	}
	require.NoError(t, l.TruncateFront(4))
	seqs, _ := collect(t, l, 0)
	require.Equal(t, []uint64{5, 9}, seqs, "from below FirstSeq starts at the first kept record")
}

func TestAPIIteratorTruncateBack(t *testing.T) {
	l, _ := openLog(t, manual())
	for i := 1; i <= 10; i++ {
		mustAppend(t, l, []byte{byte(i)})
	}
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	for range 6 {
		require.True(t, it.Next())
	}
	require.Equal(t, uint64(6), it.Seq())

	// A truncation above what it returned: it goes on.
	require.NoError(t, l.TruncateBack(8))
	require.True(t, it.Next())
	require.Equal(t, uint64(7), it.Seq())
	require.True(t, it.Next())
	require.Equal(t, uint64(8), it.Seq())
	require.False(t, it.Next())
	require.NoError(t, it.Err())

	// Below what it returned: it fails, even after appends bring the log
	// back above it (the records it returned are gone).
	require.NoError(t, l.TruncateBack(5))
	for i := 6; i <= 12; i++ {
		mustAppend(t, l, []byte{byte(100 + i)})
	}
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), mmapwal.ErrNotFound)
	require.False(t, it.Next(), "a failed iterator stays failed")

	// An iterator that has not returned anything yet is not affected, and
	// still starts at its from.
	it2, err := l.NewIterator(11)
	require.NoError(t, err)
	defer it2.Close()
	require.True(t, it2.Next())
	require.Equal(t, uint64(11), it2.Seq())
	it3, err := l.NewIterator(20)
	require.NoError(t, err)
	defer it3.Close()
	require.False(t, it3.Next())
	require.NoError(t, l.TruncateBack(10))
	mustAppend(t, l, []byte("11 again"))
	require.False(t, it3.Next(), "records below its from are not for it")
	require.NoError(t, it3.Err())
}

func TestAPIIteratorTruncateFront(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 4096, Durability: mmapwal.SyncManual})
	for i := 1; i <= 40; i++ {
		mustAppend(t, l, bytes.Repeat([]byte{byte(i)}, 500)) // ~7 per segment
	}
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	for range 3 {
		require.True(t, it.Next())
	}
	// A truncation up to its next record: it goes on.
	require.NoError(t, l.TruncateFront(4))
	require.True(t, it.Next())
	require.Equal(t, uint64(4), it.Seq())
	// Past it: records it had still to return are gone, so it fails.
	require.NoError(t, l.TruncateFront(30))
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), mmapwal.ErrNotFound)

	// An iterator positioned (at the end) but with nothing returned yet
	// starts at the new front.
	it2, err := l.NewIterator(41)
	require.NoError(t, err)
	defer it2.Close()
	require.False(t, it2.Next())
	for i := 41; i <= 45; i++ {
		mustAppend(t, l, bytes.Repeat([]byte{byte(i)}, 500))
	}
	require.NoError(t, l.TruncateFront(43))
	require.True(t, it2.Next())
	require.Equal(t, uint64(43), it2.Seq())
}

func TestAPIIteratorClosedLog(t *testing.T) {
	l, _ := openLog(t, manual())
	mustAppend(t, l, []byte("a"))
	mustAppend(t, l, []byte("b"))
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	require.True(t, it.Next())
	require.Equal(t, "a", string(it.Value()))
	require.NoError(t, l.Close())
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), mmapwal.ErrClosed)
	require.NoError(t, it.Close())
}

// --- Reads ----------------------------------------------------------------

var errFromView = errors.New("from the View callback")

func TestAPIView(t *testing.T) {
	l, _ := openLog(t, manual())
	mustAppend(t, l, []byte("hello"))
	var got string
	require.NoError(t, l.View(1, func(b []byte) error { got = string(b); return nil }))
	require.Equal(t, "hello", got)
	err := l.View(1, func([]byte) error { return errFromView })
	require.ErrorIs(t, err, errFromView)
	require.Same(t, errFromView, err, "View returns fn's error as is")
}

func TestAPIReadInto(t *testing.T) {
	l, _ := openLog(t, manual())
	mustAppend(t, l, []byte("world"))
	dst := append(make([]byte, 0, 64), "hello "...)
	out, err := l.ReadInto(dst, 1)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(out))
	require.Same(t, &dst[:1][0], &out[0], "ReadInto reallocated although dst had room")

	out, err = l.ReadInto(nil, 1)
	require.NoError(t, err)
	require.Equal(t, "world", string(out))

	// Read returns a copy that the caller owns.
	b := mustRead(t, l, 1)
	b[0] = 'W'
	require.Equal(t, "world", string(mustRead(t, l, 1)))
}

// TestAPIAllocs checks the zero-allocation paths. Rotation allocates (a new
// segment), so the log is large enough for every run to stay in one segment.
func TestAPIAllocs(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 16 << 20, Durability: mmapwal.SyncManual})
	rec := bytes.Repeat([]byte{7}, 128)
	const runs = 1000
	for range 10 {
		mustAppend(t, l, rec)
	}

	if n := testing.AllocsPerRun(runs, func() {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append: %v allocs per run, want 0", n)
	}
	seq := l.LastSeq()
	if n := testing.AllocsPerRun(runs, func() {
		seq += 2
		if err := l.AppendSeq(seq, rec); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendSeq: %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(runs, func() {
		r, err := l.Reserve(len(rec))
		if err != nil {
			t.Fatal(err)
		}
		copy(r.Bytes(), rec)
		if _, err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Reserve+Commit: %v allocs per run, want at most 1", n)
	}

	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(runs, func() {
		var err error
		if dst, err = l.ReadInto(dst[:0], 5); err != nil || len(dst) != len(rec) {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ReadInto with room: %v allocs per run, want 0", n)
	}

	view := func(b []byte) error {
		if len(b) != len(rec) {
			return errFromView
		}
		return nil
	}
	if n := testing.AllocsPerRun(runs, func() {
		if err := l.View(7, view); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("View: %v allocs per run, want 0", n)
	}

	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	if n := testing.AllocsPerRun(runs, func() {
		if !it.Next() {
			t.Fatal(it.Err())
		}
	}); n != 0 {
		t.Errorf("Iterator.Next: %v allocs per run, want 0", n)
	}
}

// --- Options that live with the log ---------------------------------------

func TestAPIReopenSmallerMaxRecordSize(t *testing.T) {
	dir := t.TempDir()
	o := &mmapwal.Options{SegmentSize: 16 << 10, Durability: mmapwal.SyncManual}
	l := openAt(t, dir, o)
	big := bytes.Repeat([]byte{0xab}, 10000)
	mustAppend(t, l, big)
	mustAppend(t, l, []byte("small"))
	require.NoError(t, l.Close())

	// A smaller MaxRecordSize and another segment size at the next Open:
	// the existing records stay readable, new appends obey the new limit.
	o2 := &mmapwal.Options{SegmentSize: 4096, MaxRecordSize: 100, Durability: mmapwal.SyncManual}
	l = openAt(t, dir, o2)
	require.Equal(t, big, mustRead(t, l, 1))
	seqs, vals := collect(t, l, 0)
	require.Equal(t, []uint64{1, 2}, seqs)
	require.Equal(t, string(big), vals[0])
	_, err := l.Append(bytes.Repeat([]byte{1}, 101))
	require.ErrorIs(t, err, mmapwal.ErrRecordTooLarge)
	for range 100 { // fills the old 16 KiB segment, then 4 KiB ones
		mustAppend(t, l, bytes.Repeat([]byte{2}, 100))
	}
	require.NoError(t, l.Close())

	l = openAt(t, dir, o2)
	require.Equal(t, big, mustRead(t, l, 1))
	require.Equal(t, uint64(102), l.LastSeq())
	require.NoError(t, l.Close()) // and the next segment, prepared in the background, is gone
	var sizes []int64
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			fi, err := e.Info()
			require.NoError(t, err)
			sizes = append(sizes, fi.Size())
		}
	}
	require.Equal(t, int64(16<<10), sizes[0], "an existing segment keeps its size")
	require.Equal(t, int64(4096), sizes[len(sizes)-1], "new segments take the new size")
}

// --- Concurrency ------------------------------------------------------------

// payload returns a self-checking record: an 8-byte tag, then bytes that are
// a function of the tag.
func payload(tag uint64, n int) []byte {
	b := make([]byte, 8+n)
	binary.LittleEndian.PutUint64(b, tag)
	x := tag*0x9e3779b97f4a7c15 | 1
	for i := 8; i < len(b); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func checkPayload(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("a record of %d bytes", len(b))
	}
	tag := binary.LittleEndian.Uint64(b)
	if !bytes.Equal(b, payload(tag, len(b)-8)) {
		return fmt.Errorf("record with tag %x: bytes do not match", tag)
	}
	return nil
}

// TestAPIConcurrent runs writers (Append, AppendBatch, Reserve/Commit),
// readers (Read, View, followers with iterators), a syncer and a front
// truncator at once; run it under -race.
func TestAPIConcurrent(t *testing.T) {
	for _, d := range []mmapwal.Durability{mmapwal.SyncManual, mmapwal.SyncAlways} {
		t.Run(d.String(), func(t *testing.T) { testConcurrent(t, d) })
	}
}

func testConcurrent(t *testing.T, d mmapwal.Durability) {
	l, dir := openLog(t, &mmapwal.Options{SegmentSize: 16 << 10, Durability: d, MaxMappedSegments: 2})
	const writers, each = 4, 150
	var (
		wg      sync.WaitGroup
		failure atomic.Pointer[error]
		stop    atomic.Bool
	)
	fail := func(err error) {
		failure.CompareAndSwap(nil, &err)
		stop.Store(true)
	}
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < each && !stop.Load(); {
				tag := uint64(w)<<32 | uint64(i)
				n := rng.IntN(600)
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = l.Append(payload(tag, n))
					i++
				case 1:
					k := min(1+rng.IntN(3), each-i)
					recs := make([][]byte, k)
					for j := range recs {
						recs[j] = payload(tag+uint64(j), n/k)
					}
					_, err = l.AppendBatch(recs)
					i += k
				default:
					var r *mmapwal.Reservation
					if r, err = l.Reserve(8 + n); err == nil {
						copy(r.Bytes(), payload(tag, n))
						_, err = r.Commit()
					}
					i++
				}
				if err != nil {
					fail(fmt.Errorf("writer %d: %w", w, err))
				}
			}
		})
	}
	// Random reads of anything at or below LastSeq: dense sequences, so
	// every one exists.
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			var buf []byte
			for !stop.Load() {
				last := l.LastSeq()
				if last == 0 {
					continue
				}
				seq := 1 + rng.Uint64N(last)
				var err error
				if rng.IntN(2) == 0 {
					buf, err = l.ReadInto(buf[:0], seq)
					if err == nil {
						err = checkPayload(buf)
					}
				} else {
					err = l.View(seq, checkPayload)
				}
				if err != nil {
					fail(fmt.Errorf("reader %d: seq %d: %w", r, seq, err))
				}
			}
		})
	}
	// Followers: iterators that see every record in order.
	var followed atomic.Uint64
	for f := range 2 {
		wg.Go(func() {
			it, err := l.NewIterator(0)
			if err != nil {
				fail(err)
				return
			}
			defer it.Close()
			var last uint64
			for !stop.Load() || last < l.LastSeq() {
				if !it.Next() {
					if err := it.Err(); err != nil {
						fail(fmt.Errorf("follower %d after %d: %w", f, last, err))
						return
					}
					if stop.Load() && last >= l.LastSeq() {
						break
					}
					time.Sleep(50 * time.Microsecond)
					continue
				}
				if last != 0 && it.Seq() != last+1 {
					fail(fmt.Errorf("follower %d: %d after %d", f, it.Seq(), last))
					return
				}
				if err := checkPayload(it.Value()); err != nil {
					fail(fmt.Errorf("follower %d: seq %d: %w", f, it.Seq(), err))
					return
				}
				last = it.Seq()
			}
			followed.Add(1)
		})
	}
	// A syncer.
	wg.Go(func() {
		for !stop.Load() {
			if err := l.Sync(); err != nil {
				fail(fmt.Errorf("sync: %w", err))
			}
			time.Sleep(time.Millisecond)
		}
	})

	// Stop the readers once the writers are done.
	done := make(chan struct{})
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for l.Stats().Appends < writers*each && failure.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		stop.Store(true)
		close(done)
	}()
	<-done
	wg.Wait()
	if p := failure.Load(); p != nil {
		t.Fatal(*p)
	}
	require.Equal(t, uint64(2), followed.Load(), "followers that saw every record")
	require.Equal(t, uint64(writers*each), l.LastSeq())

	// Every writer's records are in the log in its order.
	require.NoError(t, l.Close())
	l = openAt(t, dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	next := map[uint64]uint64{}
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	n := 0
	for it.Next() {
		require.NoError(t, checkPayload(it.Value()))
		tag := binary.LittleEndian.Uint64(it.Value())
		w, i := tag>>32, tag&0xffffffff
		require.Equal(t, next[w], i, "writer %d's records out of order", w)
		next[w] = i + 1
		n++
	}
	require.NoError(t, it.Err())
	require.NoError(t, it.Close())
	require.Equal(t, writers*each, n)
}

// TestAPIConcurrentTruncateFront runs readers and a follower while the front
// is truncated behind them.
func TestAPIConcurrentTruncateFront(t *testing.T) {
	l, _ := openLog(t, &mmapwal.Options{SegmentSize: 8 << 10, Durability: mmapwal.SyncManual, MaxMappedSegments: 1})
	var wg sync.WaitGroup
	var failure atomic.Pointer[error]
	var stop atomic.Bool
	fail := func(err error) { failure.CompareAndSwap(nil, &err); stop.Store(true) }
	const total = 3000
	// The front the writer is truncating to: set before TruncateFront is
	// called, so that a reader that raced with it knows its record may be
	// gone (FirstSeq itself is updated during the call).
	var target atomic.Uint64

	wg.Go(func() { // the writer, which also truncates
		for i := range total {
			if stop.Load() {
				return
			}
			if _, err := l.Append(payload(uint64(i), i%300)); err != nil {
				fail(err)
				return
			}
			if i%200 == 199 {
				target.Store(l.LastSeq() - 100)
				if err := l.TruncateFront(l.LastSeq() - 100); err != nil {
					fail(fmt.Errorf("TruncateFront: %w", err))
					return
				}
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			for !stop.Load() && l.LastSeq() < total {
				last := l.LastSeq()
				if last == 0 {
					continue
				}
				seq := 1 + rng.Uint64N(last)
				err := l.View(seq, checkPayload)
				if err != nil && !(errors.Is(err, mmapwal.ErrNotFound) && seq < target.Load()) {
					fail(fmt.Errorf("reader: seq %d (first %d): %w", seq, l.FirstSeq(), err))
				}
				// An iterator from a random point reads a few records: it
				// either works or reports that its records were truncated.
				it, err := l.NewIterator(seq)
				if err != nil {
					fail(err)
					return
				}
				prev := uint64(0)
				for k := 0; k < 20 && it.Next(); k++ {
					if prev != 0 && it.Seq() != prev+1 {
						fail(fmt.Errorf("iterator: %d after %d", it.Seq(), prev))
					}
					if err := checkPayload(it.Value()); err != nil {
						fail(fmt.Errorf("iterator: seq %d: %w", it.Seq(), err))
					}
					prev = it.Seq()
				}
				if err := it.Err(); err != nil && !errors.Is(err, mmapwal.ErrNotFound) {
					fail(fmt.Errorf("iterator: %w", err))
				}
				it.Close()
			}
		})
	}
	wg.Wait()
	if p := failure.Load(); p != nil {
		t.Fatal(*p)
	}
	require.Equal(t, uint64(total), l.LastSeq())
}
