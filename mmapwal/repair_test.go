package mmapwal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// planWant says which parts of a RepairPlan a case must have, so that a
// plan that says nothing cannot pass for one that matches an Open that
// did nothing.
type planWant struct {
	corrupt, torn, finish, clean, metaTmp bool
	remove, quarantine                    int
}

// TestPlanRepairMatchesOpen: on every kind of log recovery repairs, the dry
// run changes no byte and says exactly what Open(TruncatePartial) then
// does: the torn tail it cuts (where, how many bytes, into which file), the
// files it removes and quarantines, the truncation it finishes, the
// sequences it leaves, or the corruption it refuses.
func TestPlanRepairMatchesOpen(t *testing.T) {
	rng := rcvRand(t)
	closed, recs, locs := rcvBuildClosed(t, rng, 4)
	names := closed.segNames()
	m, err := decodeMeta(closed[metaName])
	require.NoError(t, err)
	m.clean = cleanClose{}

	r := rcvBuildResidue(t, rng, 3, 60, false)
	torn := bytes.Clone(r.img[r.active])
	clear(torn[r.locs[r.synced+2].off+5:])
	sector := make([]byte, rcvSegSize)
	for i := range 100 {
		sector[i] = byte(1 + rng.IntN(255))
	}

	inSeg := func(name string, k int) uint64 { // the k-th record of segment name
		for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
			if locs[seq].seg == name {
				if k == 0 {
					return seq
				}
				k--
			}
		}
		t.Fatalf("segment %s holds no record %d", name, k)
		return 0
	}
	back := m
	cut := locs[inSeg(names[1], 2)]
	back.backSeg, _ = segment.ParseName(cut.seg)
	back.backOff, back.floor = uint32(cut.off), inSeg(names[1], 2)-1
	front := m
	front.firstSeq = inSeg(names[2], 1)
	bad := locs[inSeg(names[1], 1)]

	cases := []struct {
		name string
		img  dirImage
		meta *meta
		want planWant
	}{
		{"closed cleanly", closed, nil, planWant{clean: true}},
		{"crash, no damage", r.img, nil, planWant{remove: 1}},
		{"torn tail, prepared newest", r.img.with(r.active, torn), nil, planWant{torn: true, remove: 1}},
		{"interrupted creation with bytes in its sector", r.img.with(r.prep, sector), nil, planWant{remove: 1, quarantine: 1}},
		{"torn tail, interrupted creation", r.img.with(r.active, torn, r.prep, sector), nil, planWant{torn: true, remove: 1, quarantine: 1}},
		{"interrupted TruncateBack", closed, &back, planWant{finish: true, remove: len(names) - 2}},
		{"interrupted TruncateFront", closed, &front, planWant{remove: 2}},
		{"durable corruption", closed.with(bad.seg, rcvFlip(closed[bad.seg], bad.off+crcframe.HeaderSize, 3)), nil, planWant{corrupt: true}},
		{"META.tmp left", closed.with(metaTmpName, []byte("partial")), nil, planWant{clean: true, metaTmp: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := writeImage(t, "", c.img)
			if c.meta != nil {
				require.NoError(t, writeMeta(d, *c.meta))
			}
			img := snapshotDir(t, d)
			p, err := PlanRepair(d)
			require.NoError(t, err)
			rcvRequireFiles(t, img, d, "PlanRepair")
			got := planWant{corrupt: p.Corruption != nil, torn: p.TornTail != nil, finish: p.FinishTruncation,
				clean: p.ClearCleanClose, metaTmp: p.RemoveMetaTmp, remove: len(p.Remove), quarantine: len(p.Quarantine)}
			require.Equal(t, c.want, got, "plan %+v", p)
			require.Empty(t, p.Unjudged)
			require.Equal(t, c.want != planWant{} && !c.want.corrupt, p.Changes())
			requireOpenAsPlanned(t, d, p)
		})
	}
}

// requireOpenAsPlanned opens d writable and checks that it did what p said.
func requireOpenAsPlanned(t *testing.T, d string, p *RepairPlan) {
	t.Helper()
	l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
	if p.Corruption != nil {
		// A writable Open may leave a sealed segment to be verified on
		// first read: Verify finds the damage then.
		if err == nil {
			err = l.Verify(context.Background())
			l.Close()
		}
		ce := rcvCorruption(t, err, "Open, then Verify")
		require.Equal(t, *p.Corruption, *ce)
		return
	}
	require.NoError(t, err)
	defer l.Close()
	rep := l.Recovery()
	if p.TornTail == nil {
		require.Nil(t, rep.TornTail)
	} else {
		require.NotNil(t, rep.TornTail)
		want := *p.TornTail
		want.Repaired = true
		require.Equal(t, want, *rep.TornTail)
		require.FileExists(t, want.Quarantine)
	}
	require.Equal(t, len(p.Remove) > 0, len(rep.Removed) > 0)
	if len(p.Remove) > 0 {
		require.Equal(t, p.Remove, rep.Removed)
	}
	require.Equal(t, len(p.Quarantine) > 0, len(rep.Quarantined) > 0)
	if len(p.Quarantine) > 0 {
		require.Equal(t, p.Quarantine, rep.Quarantined)
	}
	require.Equal(t, p.FinishTruncation, rep.FinishedTruncation)
	require.Equal(t, p.FirstSeq, l.FirstSeq())
	require.Equal(t, p.LastSeq, l.LastSeq())
	if rep.Deferred == 0 { // Records counts only the segments Open read
		require.Equal(t, p.Records, rep.Records)
	}
	require.NoError(t, l.Verify(context.Background()))
	if p.Create != "" {
		require.FileExists(t, filepath.Join(d, p.Create))
	}
	require.NoFileExists(t, filepath.Join(d, metaTmpName))
	got, err := readMeta(d)
	require.NoError(t, err)
	require.Zero(t, got.clean.seg, "a writable Open clears the clean-close record")
}

// TestPlanRepairEmptied: a log whose only segment is an unused prepared one
// (all the others truncated away) gets a new segment, as the plan says.
func TestPlanRepairEmptied(t *testing.T) {
	rng := rcvRand(t)
	closed, _, _ := rcvBuildClosed(t, rng, 2)
	names := closed.segNames()
	d := writeImage(t, "", dirImage{})
	m := mustMeta(t, closed)
	m.clean = cleanClose{}
	require.NoError(t, writeMeta(d, m))
	// Segment 1 alone, prepared and never used.
	h := segment.Header{Version: 2, LogID: m.logID, Number: 1, Size: rcvSegSize}
	f, err := segment.Create(filepath.Join(d, names[0]), h)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	p, err := PlanRepair(d)
	require.NoError(t, err)
	require.Equal(t, []string{names[0]}, p.Remove)
	require.Equal(t, names[0], p.Create)
	requireOpenAsPlanned(t, d, p)
}

func mustMeta(t *testing.T, img dirImage) meta {
	t.Helper()
	m, err := decodeMeta(img[metaName])
	require.NoError(t, err)
	return m
}

// salvageLog builds a log of four segments or more, with batches (so that a
// salvage point may fall inside one), closes it and damages a record in
// its third segment (sealed: durable corruption). It returns the damaged
// image, the records, their frames and the damaged record.
func salvageLog(t *testing.T) (dirImage, [][]byte, map[uint64]rcvLoc, uint64) {
	t.Helper()
	rng := rcvRand(t)
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	var recs [][]byte
	for len(l.segments()) < 4 {
		if rng.IntN(3) == 0 {
			batch := [][]byte{rcvPayload(rng, 100), rcvPayload(rng, 100), rcvPayload(rng, 100)}
			_, err = l.AppendBatch(batch)
			recs = append(recs, batch...)
		} else {
			p := rcvPayload(rng, 200)
			_, err = l.Append(p)
			recs = append(recs, p)
		}
		require.NoError(t, err)
	}
	locs := rcvLocs(l)
	require.NoError(t, l.Close())
	img := snapshotDir(t, dir)
	third := img.segNames()[2]
	var bad uint64 // a record of its own (not in a batch), after another in the segment
	for seq := uint64(2); seq <= uint64(len(recs)) && bad == 0; seq++ {
		if locs[seq].seg == third && locs[seq-1].seg == third && recordType(t, img, locs[seq]) == crcframe.Full {
			bad = seq
		}
	}
	require.NotZero(t, bad)
	loc := locs[bad]
	img = img.with(loc.seg, rcvFlip(img[loc.seg], loc.off+crcframe.HeaderSize, 0))
	return img, recs, locs, bad
}

// TestSalvage: a log with durable corruption keeps exactly the records up
// to the salvage point, wherever it falls (the last intact record, inside a
// batch, before every record); every byte after it moves into quarantine
// files that hold exactly those bytes; the dry run says the same and
// changes nothing; the log opens writable afterwards with LastSeq at the
// point and FirstSeq at its first record, and takes appends.
func TestSalvage(t *testing.T) {
	img, recs, locs, bad := salvageLog(t)
	names := img.segNames()
	var inBatch uint64 // a salvage point inside a batch, before the damage
	for seq := uint64(2); seq < bad-1; seq++ {
		if locs[seq].seg == names[1] && inBatch == 0 {
			if fr := recordType(t, img, locs[seq]); fr == crcframe.First || fr == crcframe.Middle {
				inBatch = seq
			}
		}
	}
	require.NotZero(t, inBatch, "no batch in the second segment")
	for _, keep := range []uint64{bad - 1, inBatch, 0} {
		d := writeImage(t, "", img)
		rcvCorruption(t, openVerify(writeImage(t, "", img)), "before the salvage")

		plan, err := PlanSalvage(d, keep)
		require.NoError(t, err)
		rcvRequireFiles(t, img, d, "PlanSalvage")
		require.False(t, plan.Applied)
		require.NotNil(t, plan.Corruption)
		require.Equal(t, int(bad-1-keep), plan.Dropped)
		if keep < bad-1 {
			require.Equal(t, keep+1, plan.DroppedFirst)
			require.Equal(t, bad-1, plan.DroppedLast)
		}

		rep, err := Salvage(d, keep)
		require.NoError(t, err, "salvage through %d", keep)
		require.True(t, rep.Applied)
		applied := *rep
		applied.Applied = false
		require.Equal(t, *plan, applied, "the dry run says what the salvage does")
		require.Equal(t, keep, rep.LastSeq)
		requireMoved(t, img, d, rep)

		require.NoError(t, openVerify(d), "after salvage through %d", keep)
		l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
		require.NoError(t, err, "after salvage through %d", keep)
		require.Nil(t, l.Recovery().TornTail)
		rcvRequireRecords(t, l, recs, keep, "after the salvage")
		wantFirst := uint64(1)
		if keep == 0 {
			wantFirst = 0
		}
		require.Equal(t, wantFirst, l.FirstSeq())
		require.Equal(t, rep.FirstSeq, l.FirstSeq())
		seq, err := l.Append([]byte("after the salvage"))
		require.NoError(t, err)
		require.Equal(t, keep+1, seq)
		require.NoError(t, l.Close())
		l, err = Open(d, manualOpts(rcvSegSize, Strict))
		require.NoError(t, err)
		require.Equal(t, keep+1, l.LastSeq())
		require.NoError(t, l.Close())
	}
}

// openVerify opens d writable and verifies every frame (Open alone may
// leave sealed segments to be verified on first read).
func openVerify(d string) error {
	l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Verify(context.Background())
}

// recordType returns the type of the frame at loc in img.
func recordType(t *testing.T, img dirImage, loc rcvLoc) crcframe.Type {
	t.Helper()
	return crcframe.Type(img[loc.seg][loc.off+20])
}

// requireMoved checks that every quarantine file rep names holds exactly
// the bytes it says were moved, that nothing non-zero was left out after
// the cut, and that no segment after the cut remains.
func requireMoved(t *testing.T, img dirImage, d string, rep *SalvageReport) {
	t.Helper()
	for _, mv := range rep.Moved {
		q, err := os.ReadFile(mv.Quarantine)
		require.NoError(t, err)
		orig := img[mv.Segment]
		require.Equal(t, orig[mv.Offset:mv.Offset+mv.Bytes], q, "quarantine %s", mv.Quarantine)
		require.True(t, crcframe.IsZero(orig[mv.Offset+mv.Bytes:]), "bytes after %s's move", mv.Segment)
		if mv.WholeFile {
			require.NoFileExists(t, filepath.Join(d, mv.Segment))
		}
	}
	qs, err := QuarantineFiles(d)
	require.NoError(t, err)
	require.Len(t, qs, len(rep.Moved))
	if rep.Segment != "" {
		b, err := os.ReadFile(filepath.Join(d, rep.Segment))
		require.NoError(t, err)
		require.True(t, crcframe.IsZero(b[rep.Offset:]), "the cut segment is zero from the cut")
	}
}

// TestSalvageRefuses: a point above the intact records, a writer holding
// the lock, or a quarantine file in the way fails before any change; a
// quarantine file with the very bytes the salvage would write (a salvage
// a crash interrupted) is no obstacle.
func TestSalvageRefuses(t *testing.T) {
	img, recs, _, bad := salvageLog(t)
	d := writeImage(t, "", img)
	_, err := Salvage(d, bad)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = PlanSalvage(d, bad)
	require.ErrorIs(t, err, ErrInvalidArgument)
	rcvRequireFiles(t, img, d, "salvage above the damage")

	names := img.segNames()
	newest := names[len(names)-1]
	blocker := filepath.Join(d, segment.QuarantineName(newest, 0))
	require.NoError(t, os.WriteFile(blocker, []byte("an earlier repair's"), 0o644))
	withBlocker := snapshotDir(t, d)
	_, err = Salvage(d, bad-1)
	require.ErrorIs(t, err, ErrInvalidArgument)
	rcvRequireFiles(t, withBlocker, d, "quarantine file in the way")
	require.NoError(t, os.Remove(blocker))

	plan, err := PlanSalvage(d, bad-1)
	require.NoError(t, err)
	tail := plan.Moved[0]
	require.False(t, tail.WholeFile)
	orig := img[tail.Segment]
	require.NoError(t, os.WriteFile(tail.Quarantine, orig[tail.Offset:tail.Offset+tail.Bytes], 0o644))
	_, err = Salvage(d, bad-1)
	require.NoError(t, err, "the tail's own copy is no obstacle")
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		rcvRequireRecords(t, l, recs, bad-1, "after the salvage")
	}))

	// A writer holds the lock.
	intact := fastTempDir(t)
	w, err := Open(intact, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	_, err = w.Append([]byte("x"))
	require.NoError(t, err)
	_, err = Salvage(intact, 0)
	require.ErrorIs(t, err, ErrLocked)
	require.Equal(t, uint64(1), w.LastSeq())
	require.NoError(t, w.Close())

	_, err = Salvage(t.TempDir(), 0)
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce) && ce.Reason == ReasonMissingMeta, "not a log: %v", err)
}

// TestSalvageQuarantineUnreadable: when a quarantine file in the way of a
// move cannot be read (its open fails) Salvage fails with that error before
// any change, rather than judging it the same bytes or other bytes.
func TestSalvageQuarantineUnreadable(t *testing.T) {
	img, _, _, bad := salvageLog(t)
	d := writeImage(t, "", img)
	plan, err := PlanSalvage(d, bad-1)
	require.NoError(t, err)
	tail := plan.Moved[0]
	require.False(t, tail.WholeFile)
	orig := img[tail.Segment]
	require.NoError(t, os.WriteFile(tail.Quarantine, orig[tail.Offset:tail.Offset+tail.Bytes], 0o644))
	before := snapshotDir(t, d)
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpOpen && path == tail.Quarantine {
			return syscall.EIO
		}
		return nil
	})
	_, err = Salvage(d, bad-1)
	restore()
	require.ErrorIs(t, err, syscall.EIO)
	rcvRequireFiles(t, before, d, "a quarantine file that cannot be read")
	_, err = Salvage(d, bad-1)
	require.NoError(t, err, "once it reads, the tail's own copy is no obstacle")
}

// TestSalvageTornTail: salvaging a torn log through its last intact record
// moves the torn bytes, as the repair would, and the prepared segment.
func TestSalvageTornTail(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	torn := bytes.Clone(r.img[r.active])
	clear(torn[r.locs[r.synced+2].off+5:])
	img := r.img.with(r.active, torn)
	d := writeImage(t, "", img)
	rep, err := Salvage(d, r.synced+1)
	require.NoError(t, err)
	require.NotNil(t, rep.TornTail)
	require.Equal(t, r.active, rep.Segment)
	require.Equal(t, rep.TornTail.Offset, rep.Offset)
	require.Len(t, rep.Moved, 2)
	require.Equal(t, rep.TornTail.BytesDropped, rep.Moved[0].Bytes)
	require.Equal(t, r.prep, rep.Moved[1].Segment)
	requireMoved(t, img, d, rep)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		rcvRequireRecords(t, l, r.recs, r.synced+1, "after the salvage")
	}))
}

// TestSalvageAfterReset: a log whose segment was started by a Reset, and
// truncated at the front since, is salvaged to a point inside it: the
// segment's header starts below the kept records and the front, and the
// log opens with exactly the records kept.
func TestSalvageAfterReset(t *testing.T) {
	d := fastTempDir(t)
	l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	for range 30 {
		_, err := l.Append([]byte("before the reset"))
		require.NoError(t, err)
	}
	require.NoError(t, l.Reset(100))
	for range 5 {
		_, err := l.Append([]byte("after the reset"))
		require.NoError(t, err)
	}
	require.NoError(t, l.TruncateFront(102))
	require.NoError(t, l.Close())
	rep, err := Salvage(d, 102)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Dropped)
	require.NoError(t, openVerify(d))
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		require.Equal(t, uint64(102), l.FirstSeq())
		require.Equal(t, uint64(102), l.LastSeq())
		b, err := l.Read(102)
		require.NoError(t, err)
		require.Equal(t, "after the reset", string(b))
		seq, err := l.Append([]byte("next"))
		require.NoError(t, err)
		require.Equal(t, uint64(103), seq)
	}))
}
