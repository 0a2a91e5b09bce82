package mmapwal

// Bounds (issue 8, "Cover the classes"): sequences at the top of the
// sequence space, and records at MaxRecordSize−1, MaxRecordSize and
// MaxRecordSize+1 across rotations. Every write either succeeds exactly or
// fails with its documented error and writes nothing, also as seen after a
// reopen; the log is never left corrupt.

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

const top = uint64(math.MaxUint64)

// requireExhausted checks the error of a write that needs a sequence above
// math.MaxUint64.
func requireExhausted(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidArgument, what)
	require.ErrorContains(t, err, "sequence space exhausted", what)
}

// boundsReopen closes l, reopens dir under Strict (a clean Close leaves
// nothing to repair) and checks that it holds want exactly.
func boundsReopen(t *testing.T, l *Log, dir string, o Options, want map[uint64][]byte, last uint64) *Log {
	t.Helper()
	require.NoError(t, l.Close())
	o.Repair = Strict
	l, err := Open(dir, &o)
	require.NoError(t, err)
	require.True(t, l.Recovery().Clean, "a clean Close")
	require.Equal(t, last, l.LastSeq())
	it, err := l.NewIterator(0)
	require.NoError(t, err)
	defer it.Close()
	n := 0
	for it.Next() {
		require.Equal(t, want[it.Seq()], it.Value(), "record %d after reopen", it.Seq())
		n++
		if it.Seq() == top {
			break // nothing follows MaxUint64: TestReadersIteratorAtTop
		}
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(want), n, "records after reopen")
	return l
}

// TestBoundsSequenceTop: appends of every kind at MaxUint64-1 and
// MaxUint64 succeed; every write past MaxUint64 fails with
// ErrInvalidArgument ("sequence space exhausted") and writes nothing, also
// after a reopen; a write at a sequence not above LastSeq stays
// ErrSequence.
func TestBoundsSequenceTop(t *testing.T) {
	for _, d := range []Durability{SyncManual, SyncAlways} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			o := Options{SegmentSize: bbSegSize, Durability: d}
			l, err := Open(dir, &o)
			require.NoError(t, err)
			want := map[uint64][]byte{}
			add := func(seq uint64, p string) { want[seq] = []byte(p) }

			require.NoError(t, l.AppendSeq(top-3, []byte("a")))
			add(top-3, "a")
			first, err := l.AppendBatch([][]byte{[]byte("b")})
			require.NoError(t, err)
			require.Equal(t, top-2, first)
			add(top-2, "b")
			r, err := l.Reserve(1)
			require.NoError(t, err)
			copy(r.Bytes(), "c")
			seq, err := r.Commit()
			require.NoError(t, err)
			require.Equal(t, top-1, seq)
			add(top-1, "c")
			seq, err = l.Append([]byte("d"))
			require.NoError(t, err)
			require.Equal(t, top, seq)
			add(top, "d")

			appends := l.Stats().Appends
			checkFull := func(l *Log) {
				t.Helper()
				_, err := l.Append([]byte("x"))
				requireExhausted(t, err, "Append")
				_, err = l.AppendBatch([][]byte{[]byte("x")})
				requireExhausted(t, err, "AppendBatch")
				r, err := l.Reserve(1)
				require.NoError(t, err, "Reserve takes no sequence")
				copy(r.Bytes(), "x")
				_, err = r.Commit()
				requireExhausted(t, err, "Commit")
				for _, err := range []error{
					l.AppendSeq(top, []byte("x")),
					l.AppendSeq(0, []byte("x")),
					l.AppendBatchSeq(top, [][]byte{[]byte("x")}),
					l.AppendBatchSeq(0, [][]byte{[]byte("x")}),
				} {
					var se *SequenceError
					require.ErrorAs(t, err, &se)
					require.Zero(t, se.Expected, "no sequence is allowed above MaxUint64: Expected is 0, never LastSeq()+1 wrapped")
					require.Contains(t, err.Error(), "exhausted")
				}
				require.Equal(t, top, l.LastSeq())
				_, err = l.Read(top)
				require.NoError(t, err)
			}
			checkFull(l)
			require.Equal(t, appends, l.Stats().Appends, "a refused write counted an append")
			require.NoError(t, l.Sync())
			require.Equal(t, top, l.DurableSeq())

			l = boundsReopen(t, l, dir, o, want, top)
			checkFull(l)

			// Iterators at the top stop after MaxUint64 and do not wrap.
			it, err := l.NewIterator(top - 1)
			require.NoError(t, err)
			var seqs []uint64
			for it.Next() && len(seqs) < 5 {
				seqs = append(seqs, it.Seq())
			}
			require.NoError(t, it.Err())
			require.Equal(t, []uint64{top - 1, top}, seqs)
			require.False(t, it.Next(), "Next after the end at MaxUint64")
			require.NoError(t, it.Err())
			require.NoError(t, it.Close())
			it, err = l.NewIterator(top)
			require.NoError(t, err)
			require.True(t, it.Next())
			require.Equal(t, top, it.Seq())
			require.Equal(t, []byte("d"), it.Value())
			require.False(t, it.Next())
			require.NoError(t, it.Close())

			// Truncations at the top.
			require.NoError(t, l.TruncateBack(top-1))
			delete(want, top)
			require.Equal(t, top-1, l.LastSeq())
			seq, err = l.Append([]byte("e"))
			require.NoError(t, err, "MaxUint64 is free again")
			require.Equal(t, top, seq)
			add(top, "e")
			require.NoError(t, l.TruncateFront(top))
			for s := range want {
				if s < top {
					delete(want, s)
				}
			}
			require.Equal(t, top, l.FirstSeq())
			l = boundsReopen(t, l, dir, o, want, top)
			require.Equal(t, top, l.FirstSeq())
			checkFull(l)
			require.NoError(t, l.Close())
		})
	}
}

// TestBoundsBatchToTop: a batch that ends exactly at MaxUint64 goes in
// whole; one that would pass it fails whole, with nothing written.
func TestBoundsBatchToTop(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: bbSegSize, Durability: SyncManual}
	l, err := Open(dir, &o)
	require.NoError(t, err)
	want := map[uint64][]byte{}
	require.NoError(t, l.AppendSeq(top-5, []byte("a")))
	want[top-5] = []byte("a")

	three := [][]byte{[]byte("x"), []byte("y"), []byte("z")}
	requireExhausted(t, l.AppendBatchSeq(top-1, three), "AppendBatchSeq past the top")
	require.Equal(t, top-5, l.LastSeq())
	first, err := l.AppendBatch(three) // top-4 .. top-2
	require.NoError(t, err)
	require.Equal(t, top-4, first)
	for i, p := range three {
		want[first+uint64(i)] = p
	}
	_, err = l.AppendBatch(three)
	requireExhausted(t, err, "AppendBatch past the top")
	require.Equal(t, top-2, l.LastSeq())
	require.NoError(t, l.AppendBatchSeq(top-1, three[:2])) // ends at the top
	want[top-1], want[top] = three[0], three[1]
	require.Equal(t, top, l.LastSeq())
	require.NoError(t, boundsReopen(t, l, dir, o, want, top).Close())

	// On a log whose first record is at the top.
	dir = t.TempDir()
	l, err = Open(dir, &o)
	require.NoError(t, err)
	requireExhausted(t, l.AppendBatchSeq(top, three[:2]), "a batch from MaxUint64")
	require.Equal(t, uint64(0), l.LastSeq())
	require.NoError(t, l.AppendBatchSeq(top, three[:1]))
	l = boundsReopen(t, l, dir, o, map[uint64][]byte{top: three[0]}, top)
	require.NoError(t, l.Close())
}

// boundsPayload is an n-byte record whose bytes depend on k.
func boundsPayload(k, n int) []byte {
	b := bytes.Repeat([]byte{byte(k)}, n)
	if n > 0 {
		b[0], b[n-1] = byte(k+1), byte(k+2)
	}
	return b
}

// TestBoundsRecordSize: records of MaxRecordSize−1, MaxRecordSize and
// MaxRecordSize+1, through every write call, with small records between so
// that the big ones rotate out of a partly filled segment — with
// MaxRecordSize the largest a segment can hold (each such record, with the
// room format v2 keeps for a mark and a seal, fills a segment exactly) and with the default 16 MiB. The first two go in whole;
// the third is ErrRecordTooLarge and writes nothing; after a clean Close the
// log reopens under Strict with every record intact.
func TestBoundsRecordSize(t *testing.T) {
	fit := maxPayloadIn(bbSegSize)
	require.Equal(t, int64(bbSegSize-segment.HeaderSize), int64(crcframe.Size(fit))+recordRoom, "a record of the largest size, with the room for a mark and a seal, fills a segment")
	cases := []struct {
		name   string
		o      Options
		maxRec int
	}{
		{"fit/manual", Options{SegmentSize: bbSegSize, MaxRecordSize: fit, Durability: SyncManual}, fit},
		{"fit/always", Options{SegmentSize: bbSegSize, MaxRecordSize: fit, Durability: SyncAlways}, fit},
		{"default", Options{SegmentSize: DefaultMaxRecordSize + 4<<20, Durability: SyncManual}, DefaultMaxRecordSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testRecordSize(t, c.o, c.maxRec) })
	}

	_, err := Open(t.TempDir(), &Options{SegmentSize: bbSegSize, MaxRecordSize: fit + 1})
	require.ErrorIs(t, err, ErrInvalidArgument, "MaxRecordSize above what a segment holds")
}

func testRecordSize(t *testing.T, o Options, maxRec int) {
	dir := fastTempDir(t) // tmpfs: the default case writes 200 MB
	l, err := Open(dir, &o)
	require.NoError(t, err)
	want := map[uint64][]byte{}
	k := 0
	put := func(seq uint64, p []byte) {
		want[seq] = p
		k++
	}
	small := func() {
		p := boundsPayload(k, 10+k%50)
		seq, err := l.Append(p)
		require.NoError(t, err)
		put(seq, p)
	}
	refused := func(err error, what string) {
		t.Helper()
		require.ErrorIs(t, err, ErrRecordTooLarge, what)
	}
	for _, n := range []int{maxRec - 1, maxRec, maxRec + 1} {
		too := n > maxRec
		// Append
		small()
		before := l.LastSeq()
		p := boundsPayload(k, n)
		seq, err := l.Append(p)
		if too {
			refused(err, "Append")
		} else {
			require.NoError(t, err, "Append of %d bytes", n)
			put(seq, p)
		}
		// AppendSeq, with a gap (not for 16 MiB records: it shares
		// Append's path, and the race detector is slow on them)
		if o.SegmentSize == bbSegSize {
			small()
			p = boundsPayload(k, n)
			err = l.AppendSeq(l.LastSeq()+2, p)
			if too {
				refused(err, "AppendSeq")
			} else {
				require.NoError(t, err, "AppendSeq of %d bytes", n)
				put(l.LastSeq(), p)
			}
		}
		// AppendBatch of one, and AppendBatchSeq
		small()
		p = boundsPayload(k, n)
		first, err := l.AppendBatch([][]byte{p})
		if too {
			refused(err, "AppendBatch")
		} else {
			require.NoError(t, err, "AppendBatch of %d bytes", n)
			put(first, p)
		}
		small()
		p = boundsPayload(k, n)
		err = l.AppendBatchSeq(l.LastSeq()+1, [][]byte{p})
		if too {
			refused(err, "AppendBatchSeq")
		} else {
			require.NoError(t, err, "AppendBatchSeq of %d bytes", n)
			put(l.LastSeq(), p)
		}
		// Reserve
		small()
		p = boundsPayload(k, n)
		r, err := l.Reserve(n)
		if too {
			refused(err, "Reserve")
		} else {
			require.NoError(t, err, "Reserve(%d)", n)
			copy(r.Bytes(), p)
			seq, err := r.Commit()
			require.NoError(t, err)
			put(seq, p)
		}
		// A batch of a big record and one more does not fit one segment
		// when the big one fills it.
		if n == maxRec && o.MaxRecordSize == maxPayloadIn(o.SegmentSize) {
			last := l.LastSeq()
			_, err := l.AppendBatch([][]byte{boundsPayload(k, n), nil})
			refused(err, "a batch larger than a segment")
			require.Equal(t, last, l.LastSeq())
		}
		require.Greater(t, l.LastSeq(), before)
		for s, p := range want {
			if s <= before {
				continue // read in an earlier round
			}
			got, err := l.Read(s)
			require.NoError(t, err, "Read(%d)", s)
			require.True(t, bytes.Equal(p, got), "Read(%d)", s)
		}
	}
	require.Positive(t, l.Stats().Rotations)
	last := l.LastSeq()
	l = boundsReopen(t, l, dir, o, want, last)
	seq, err := l.Append([]byte("next"))
	require.NoError(t, err)
	require.Equal(t, last+1, seq)
	require.NoError(t, l.Close())
}
