package mmapwal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestSegmentsAndMeta: a live writer's segments are sealed (each ending
// with its seal), active, and the prepared one; their records and ends are
// those of the index; META's fields are those on disk, the clean-close
// record after Close included; the lock is held by this process while the
// writer is open and by nobody after.
func TestSegmentsAndMeta(t *testing.T) {
	rng := rcvRand(t)
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	for len(l.segments()) < 3 {
		_, err := l.Append(rcvPayload(rng, 200))
		require.NoError(t, err)
	}
	waitPrepared(l)
	locs := rcvLocs(l)
	segs, err := l.Segments()
	require.NoError(t, err)
	require.Len(t, segs, 4)
	for i, si := range segs {
		require.Equal(t, segment.Name(uint64(i+1)), si.Name)
		require.Equal(t, int64(rcvSegSize), si.Size)
		require.Equal(t, int64(rcvSegSize), si.FileSize)
		require.GreaterOrEqual(t, si.Allocated, int64(rcvSegSize))
		require.Equal(t, 2, si.Version)
	}
	for i, want := range []SegmentState{SegmentSealed, SegmentSealed, SegmentActive, SegmentPrepared} {
		require.Equal(t, want, segs[i].State, "segment %d", i+1)
	}
	for _, si := range segs[:3] {
		n := 0
		var first, last uint64
		for seq, loc := range locs {
			if loc.seg == si.Name {
				n++
				if first == 0 || seq < first {
					first = seq
				}
				last = max(last, seq)
			}
		}
		require.Equal(t, n, si.Records, si.Name)
		require.Equal(t, first, si.FirstSeq, si.Name)
		require.Equal(t, last, si.LastSeq, si.Name)
		require.Equal(t, first, si.HeaderFirstSeq, si.Name)
	}
	require.True(t, segs[0].SealFrame && segs[1].SealFrame && !segs[2].SealFrame)
	require.Equal(t, locs[segs[0].LastSeq].off+locs[segs[0].LastSeq].size+sealSize, segs[0].Used)
	require.Zero(t, segs[3].Records)

	pids, known, err := LockHolders(dir)
	require.NoError(t, err)
	require.True(t, known)
	require.Equal(t, []int{os.Getpid()}, pids)

	mi := l.Meta()
	h, err := segment.ReadHeader(filepath.Join(dir, segs[0].Name))
	require.NoError(t, err)
	require.Equal(t, MetaInfo{Version: 2, LogID: h.LogID}, mi)
	require.NoError(t, l.Close())
	pids, _, err = LockHolders(dir)
	require.NoError(t, err)
	require.Empty(t, pids)

	ro, err := Open(dir, readOnlyOpts(rcvSegSize))
	require.NoError(t, err)
	defer ro.Close()
	mi = ro.Meta()
	require.Equal(t, FeatureCleanClose, mi.Features)
	segs, err = ro.Segments()
	require.NoError(t, err)
	newest := segs[len(segs)-1]
	require.Equal(t, newest.Name, mi.MarkSegment)
	require.Equal(t, newest.Used-markSize, mi.MarkOffset)
	require.Equal(t, SegmentActive, newest.State)
}

// TestSegmentsOutsideTheView: files that are not part of the log's view are
// told apart: an interrupted creation, segments above a pending
// TruncateBack, segments after durable damage.
func TestSegmentsOutsideTheView(t *testing.T) {
	rng := rcvRand(t)
	closed, _, locs := rcvBuildClosed(t, rng, 4)
	names := closed.segNames()
	m := mustMeta(t, closed)
	m.clean = cleanClose{}
	states := func(img dirImage, mm *meta) []SegmentState {
		t.Helper()
		d := writeImage(t, "", img)
		if mm != nil {
			require.NoError(t, writeMeta(d, *mm))
		}
		l, err := Open(d, readOnlyOpts(rcvSegSize))
		require.NoError(t, err)
		defer l.Close()
		segs, err := l.Segments()
		require.NoError(t, err)
		var out []SegmentState
		for _, si := range segs {
			out = append(out, si.State)
		}
		return out
	}
	n := uint64(len(names))
	got := states(closed.with(segment.Name(n+1), []byte{}), &m)
	require.Equal(t, []SegmentState{SegmentSealed, SegmentSealed, SegmentSealed, SegmentActive, SegmentInterrupted}, got)

	back := m
	back.backSeg, back.backOff = 2, segment.HeaderSize
	got = states(closed, &back)
	require.Equal(t, []SegmentState{SegmentSealed, SegmentActive, SegmentTruncated, SegmentTruncated}, got)

	var bad rcvLoc
	for _, loc := range locs {
		if loc.seg == names[1] && (bad.seg == "" || loc.off > bad.off) {
			bad = loc
		}
	}
	got = states(closed.with(bad.seg, rcvFlip(closed[bad.seg], bad.off+2, 0)), nil)
	require.Equal(t, []SegmentState{SegmentSealed, SegmentSealed, SegmentUnread, SegmentUnread}, got, "segment 2 was sealed: segment 3 follows it")
}

// TestFrame: a record's frame as stored: its place, type (batch frames
// included), durable watermark and stored checksum, on a writable log and a
// ReadOnly one; a record that is not there is ErrNotFound.
func TestFrame(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	_, err = l.Append([]byte("single"))
	require.NoError(t, err)
	require.NoError(t, l.Sync())
	_, err = l.AppendBatch([][]byte{[]byte("b1"), []byte("b2"), []byte("b3")})
	require.NoError(t, err)
	check := func(l *Log) {
		t.Helper()
		locs := rcvLocs(l)
		seg, err := os.ReadFile(filepath.Join(dir, segment.Name(1)))
		require.NoError(t, err)
		for seq, ty := range map[uint64]crcframe.Type{1: crcframe.Full, 2: crcframe.First, 3: crcframe.Middle, 4: crcframe.Last} {
			fr, err := l.Frame(seq)
			require.NoError(t, err)
			loc := locs[seq]
			payload, _ := l.Read(seq)
			want := RecordFrame{Seq: seq, Segment: loc.seg, Offset: loc.off, Length: len(payload), Type: ty,
				Durable: binary.LittleEndian.Uint32(seg[loc.off+16:]), CRC: binary.LittleEndian.Uint32(seg[loc.off:])}
			require.Equal(t, want, fr)
		}
		fr, _ := l.Frame(2)
		require.Greater(t, fr.Durable, uint32(segment.HeaderSize), "frames after the Sync claim its end durable")
		_, err = l.Frame(5)
		require.ErrorIs(t, err, ErrNotFound)
	}
	check(l)
	require.NoError(t, l.Close())
	ro, err := Open(dir, readOnlyOpts(rcvSegSize))
	require.NoError(t, err)
	defer ro.Close()
	check(ro)
}

// TestQuarantineFiles: the quarantine file a repair wrote is listed with
// its source; RemoveQuarantine takes the writer's lock (ErrLocked while a
// writer is open), removes it, and refuses a directory that is not a log
// without making a LOCK in it.
func TestQuarantineFiles(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	torn := bytes.Clone(r.img[r.active])
	clear(torn[r.locs[r.synced+2].off+5:])
	d := writeImage(t, "", r.img.with(r.active, torn))
	l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	tt := l.Recovery().TornTail
	require.NotNil(t, tt)
	qs, err := QuarantineFiles(d)
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.Equal(t, QuarantineFile{Name: filepath.Base(tt.Quarantine), Segment: r.active, Offset: tt.Offset,
		Size: tt.BytesDropped, Allocated: qs[0].Allocated}, qs[0])
	_, err = RemoveQuarantine(d)
	require.ErrorIs(t, err, ErrLocked)
	require.FileExists(t, tt.Quarantine)
	require.NoError(t, l.Close())
	removed, err := RemoveQuarantine(d)
	require.NoError(t, err)
	require.Equal(t, qs, removed)
	require.NoFileExists(t, tt.Quarantine)
	qs, err = QuarantineFiles(d)
	require.NoError(t, err)
	require.Empty(t, qs)

	empty := t.TempDir()
	_, err = RemoveQuarantine(empty)
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce) && ce.Reason == ReasonMissingMeta, "not a log: %v", err)
	ents, err := os.ReadDir(empty)
	require.NoError(t, err)
	require.Empty(t, ents, "nothing is created in a directory that is not a log")
	_, err = RemoveQuarantine(filepath.Join(empty, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.False(t, slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == lockName }))
}

// TestDiskUsage: the log's files are counted, preallocated space included;
// a quarantine file and other files are not.
func TestDiskUsage(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	_, err = l.Append([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	n, err := DiskUsage(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(rcvSegSize+metaSize))
	require.Less(t, n, int64(2*rcvSegSize), "one segment, META and LOCK")
	require.NoError(t, os.WriteFile(filepath.Join(dir, segment.QuarantineName(segment.Name(1), 64)), make([]byte, 3*rcvSegSize), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), make([]byte, 3*rcvSegSize), 0o644))
	m, err := DiskUsage(dir)
	require.NoError(t, err)
	require.Equal(t, n, m)
}
