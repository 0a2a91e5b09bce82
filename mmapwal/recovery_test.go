package mmapwal

// Recovery tests: crash residue, durable damage, ReadOnly salvage, format
// versions and the other states a crash or an operator can leave behind
// (FORMAT.md §5, issue 3 "Behaviour: Recovery").
//
// A crash is simulated without the Close path: the directory's files are
// copied (os.ReadFile sees the MAP_SHARED mapping through the page cache)
// while the Log is still open, and the copy — an "image" — is damaged the
// way a crash can damage the bytes that were never synced, then opened in a
// fresh directory.
//
// What is and is not detectable (pinned by TestRecoveryUndetectableLastSynced):
// without a clean Close, damage to the last synced records that no later
// frame proves durable (no later frame carries a durable watermark beyond
// them, and no later segment was activated) looks exactly like a torn write,
// so TruncatePartial cuts it and Strict reports ReasonTornTail. Damage to
// any other synced record — one followed by a frame whose watermark covers
// it, anything in a sealed segment, anything before the durable mark of a
// clean Close — is ErrCorrupt with Durable set, under every policy.
//
// Randomized tests print their seed; replay with MMAPWAL_SEED=<seed>.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// rcvSegSize is the segment size of these tests: small, so that a few hundred
// records span several segments.
const rcvSegSize = 16 << 10

// rcvRand returns a seeded generator; the seed comes from MMAPWAL_SEED when
// set and is logged either way.
func rcvRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := testSeed(t)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// rcvPayload returns a record of 0..maxLen non-zero bytes (non-zero, so that
// zeroing any byte of it is damage).
func rcvPayload(rng *rand.Rand, maxLen int) []byte {
	p := make([]byte, rng.IntN(maxLen+1))
	for i := range p {
		p[i] = byte(1 + rng.IntN(255))
	}
	return p
}

// rcvLoc is where a record's frame lives.
type rcvLoc struct {
	seg  string
	off  int64
	size int64
}

// rcvLocs returns the frame of every record the log indexes, by sequence.
func rcvLocs(l *Log) map[uint64]rcvLoc {
	locs := map[uint64]rcvLoc{}
	for _, s := range l.segments() {
		for i := int64(0); i < s.idx.len(); i++ {
			off := s.idx.off(i)
			f, err := s.pin()
			if err != nil {
				panic(err)
			}
			n := int(binary.LittleEndian.Uint32(f.Data()[off+4:]))
			s.unpin()
			locs[s.idx.seq(i)] = rcvLoc{seg: s.name, off: off, size: int64(crcframe.Size(n))}
		}
	}
	return locs
}

func rcvActive(l *Log) (name string, off int64) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.active.name, l.off
}

// rcvStride returns the stride of an exhaustive loop: fine on tmpfs, coarse
// with -short or where every Open syncs to a disk.
func rcvStride(fine, coarse int64) int64 {
	if testing.Short() || !haveShm() {
		return coarse
	}
	return fine
}

// rcvRequireFiles checks that dir holds exactly img (LOCK ignored).
func rcvRequireFiles(t *testing.T, img dirImage, dir string, msg string) {
	t.Helper()
	require.NoError(t, sameFiles(t, dir, img), "%s: the files must be left untouched", msg)
}

// rcvRequireRecords checks that l holds exactly the records 1..last of recs
// (recs[i] is record i+1), byte for byte, through the iterator and Read.
func rcvRequireRecords(t *testing.T, l *Log, recs [][]byte, last uint64, msg string) {
	t.Helper()
	require.Equal(t, last, l.LastSeq(), "%s: LastSeq", msg)
	it, err := l.NewIterator(1)
	require.NoError(t, err)
	defer it.Close()
	want := uint64(1)
	for it.Next() {
		if it.Seq() != want || !bytes.Equal(recs[want-1], it.Value()) {
			require.Failf(t, "records differ", "%s: iterator at %d, want record %d", msg, it.Seq(), want)
		}
		want++
	}
	require.NoError(t, it.Err(), msg)
	require.Equal(t, last+1, want, "%s: iterator ended early", msg)
	if last > 0 {
		b, err := l.Read(last)
		require.NoError(t, err, msg)
		require.True(t, bytes.Equal(recs[last-1], b), "%s: Read(%d)", msg, last)
	}
	_, err = l.Read(last + 1)
	require.ErrorIs(t, err, ErrNotFound, "%s: Read(LastSeq+1)", msg)
}

// rcvCorruption returns err's *CorruptionError, failing the test if there is
// none.
func rcvCorruption(t *testing.T, err error, msg string) *CorruptionError {
	t.Helper()
	require.ErrorIs(t, err, ErrCorrupt, msg)
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce), "%s: %v is not a *CorruptionError", msg, err)
	return ce
}

// rcvOpenClose opens dir with opts, runs fn if Open succeeded, and closes.
func rcvOpenClose(t *testing.T, dir string, opts *Options, fn func(l *Log)) error {
	t.Helper()
	l, _, err := openVerified(dir, opts, nil) // Open, then Verify: what a full scan at Open finds
	if err != nil {
		return err
	}
	defer l.Close()
	if fn != nil {
		fn(l)
	}
	return nil
}

// rcvFlip flips one bit of b at byte off.
func rcvFlip(b []byte, off int64, bit int) []byte {
	c := bytes.Clone(b)
	c[off] ^= 1 << bit
	return c
}

// rcvResidue is a crash image of a log whose last Sync covered record synced
// and which took more records after it that were never synced, all in the
// newest segment.
type rcvResidue struct {
	img     dirImage
	recs    [][]byte // recs[i] is record i+1
	locs    map[uint64]rcvLoc
	synced  uint64 // S: the last record the last Sync covered
	syncOff int64  // where the unsynced bytes start in active
	tailEnd int64  // where the unsynced records end
	active  string // the newest segment with records
	prep    string // the prepared, unused segment in the image
}

// rcvBuildResidue builds a log of several segments, syncs, appends tailN
// records of up to tailMax bytes without syncing, and copies the directory.
// With rotate, unsynced records fill the segment after the Sync until a
// rotation seals it (which makes them durable), and the unsynced tail is
// the start of the new segment.
func rcvBuildResidue(t *testing.T, rng *rand.Rand, tailN, tailMax int, rotate bool) *rcvResidue {
	t.Helper()
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	r := &rcvResidue{}
	add := func(p []byte) {
		seq, err := l.Append(p)
		require.NoError(t, err)
		r.recs = append(r.recs, p)
		require.Equal(t, uint64(len(r.recs)), seq)
	}
	tail := make([][]byte, tailN)
	need := int64(5 * crcframe.Size(200))
	for i := range tail {
		tail[i] = rcvPayload(rng, tailMax)
		need += int64(crcframe.Size(len(tail[i])))
	}
	for len(l.segments()) < 3 || !rotate && activeRoom(l) < need {
		add(rcvPayload(rng, 200))
	}
	for range 5 { // synced records in the newest segment
		add(rcvPayload(rng, 200))
	}
	require.NoError(t, l.Sync())
	if rotate {
		before, _ := rcvActive(l)
		for name := before; name == before; name, _ = rcvActive(l) {
			add(rcvPayload(rng, 200))
		}
		// The record that rotated is the first unsynced one.
		r.synced = uint64(len(r.recs)) - 1
		require.Equal(t, r.synced, l.DurableSeq(), "rotation made the sealed segment durable")
		r.active, _ = rcvActive(l)
		r.syncOff = segment.HeaderSize
	} else {
		r.synced = l.LastSeq()
		r.active, r.syncOff = rcvActive(l)
	}
	for _, p := range tail {
		add(p)
	}
	var name string
	name, r.tailEnd = rcvActive(l)
	require.Equal(t, r.active, name, "the unsynced tail must stay in one segment")
	require.Equal(t, r.synced, l.DurableSeq())
	waitPrepared(l)
	r.img = snapshotDir(t, dir)
	r.locs = rcvLocs(l)
	names := r.img.segNames()
	require.GreaterOrEqual(t, len(names), 4, "several segments and a prepared one")
	r.prep = names[len(names)-1]
	require.Equal(t, r.active, names[len(names)-2])
	return r
}

// expect computes what recovery must make of the damaged newest segment dmg:
// the unsynced records whose frames are intact up to the first damaged one
// survive, and whatever is not zero after them is a torn tail.
func (r *rcvResidue) expect(dmg []byte) (last uint64, prefixEnd, dirtyEnd int64) {
	orig := r.img[r.active]
	last, prefixEnd = r.synced, r.syncOff
	for seq := r.synced + 1; seq <= uint64(len(r.recs)); seq++ {
		loc := r.locs[seq]
		if !bytes.Equal(orig[loc.off:loc.off+loc.size], dmg[loc.off:loc.off+loc.size]) {
			break
		}
		last, prefixEnd = seq, loc.off+loc.size
	}
	dirtyEnd = prefixEnd
	for o := prefixEnd; o < int64(len(dmg)); o += 8 {
		if !crcframe.IsZero(dmg[o:min(o+8, int64(len(dmg)))]) {
			dirtyEnd = min(o+8, int64(len(dmg)))
		}
	}
	return last, prefixEnd, dirtyEnd
}

// check opens the damaged image under TruncatePartial, Strict and again after
// the repair, checks each against expect, and reports whether the image had
// a torn tail to cut.
func (r *rcvResidue) check(t *testing.T, base string, dmg []byte, label string) (torn bool) {
	t.Helper()
	last, prefixEnd, dirtyEnd := r.expect(dmg)
	torn = dirtyEnd > prefixEnd
	img := r.img.with(r.active, dmg)

	// Strict: opens when the damage left a clean prefix, else refuses with
	// a torn tail (never a durable-corruption reason) and changes nothing.
	d := writeImage(t, base, img)
	err := rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		rcvRequireRecords(t, l, r.recs, last, label+" (Strict)")
	})
	if torn {
		ce := rcvCorruption(t, err, label+" (Strict)")
		require.Equal(t, ReasonTornTail, ce.Reason, "%s (Strict): %v", label, err)
		require.False(t, ce.Durable, label)
		require.Equal(t, r.active, ce.Segment, label)
		require.Equal(t, prefixEnd, ce.Offset, label)
		rcvRequireFiles(t, img, d, label+" (Strict)")
	} else {
		require.NoError(t, err, "%s (Strict)", label)
	}
	require.NoError(t, os.RemoveAll(d))

	// TruncatePartial: 1..S and the intact prefix of the rest; the cut bytes
	// are quarantined.
	d = writeImage(t, base, img)
	l, err := Open(d, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err, label)
	rcvRequireRecords(t, l, r.recs, last, label)
	rep := l.Recovery()
	require.False(t, rep.Clean, label)
	if !torn {
		require.Nil(t, rep.TornTail, label)
	} else {
		tt := rep.TornTail
		require.NotNil(t, tt, label)
		require.Equal(t, r.active, tt.Segment, label)
		require.Equal(t, prefixEnd, tt.Offset, label)
		require.Equal(t, dirtyEnd-prefixEnd, tt.BytesDropped, label)
		require.True(t, tt.Repaired, label)
		q, err := os.ReadFile(tt.Quarantine)
		require.NoError(t, err, "%s: quarantine file", label)
		require.Equal(t, dmg[prefixEnd:dirtyEnd], q, "%s: quarantined bytes", label)
		require.Equal(t, filepath.Join(d, segment.QuarantineName(r.active, prefixEnd)), tt.Quarantine, label)
		seg, err := os.ReadFile(filepath.Join(d, r.active))
		require.NoError(t, err)
		require.Equal(t, dmg[:prefixEnd], seg[:prefixEnd], "%s: bytes before the cut", label)
		require.True(t, crcframe.IsZero(seg[prefixEnd:]), "%s: the cut bytes are zeroed", label)
	}
	// Idempotent: the repaired log, crashed again at once, recovers the same
	// state with nothing left to cut.
	waitPrepared(l)
	again := snapshotDir(t, d)
	require.NoError(t, l.Close())
	require.NoError(t, os.RemoveAll(d))
	d = writeImage(t, base, again)
	err = rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
		require.Nil(t, l.Recovery().TornTail, "%s: second open", label)
		rcvRequireRecords(t, l, r.recs, last, label+" (second open)")
	})
	require.NoError(t, err, label)
	require.NoError(t, os.RemoveAll(d))
	return torn
}

// TestResidueCutEveryOffset cuts a small unsynced tail (3 records) at every
// byte offset: everything from the offset to the end of the segment is zero,
// as if the crash lost all the writes from there on.
func TestResidueCutEveryOffset(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	base := fastTempDir(t)
	orig := r.img[r.active]
	torn := 0
	for c := r.syncOff; c <= r.tailEnd; c++ {
		dmg := bytes.Clone(orig)
		clear(dmg[c:])
		if r.check(t, base, dmg, fmt.Sprintf("cut at %d (sync at %d, tail end %d)", c, r.syncOff, r.tailEnd)) {
			torn++
		}
	}
	// Cuts inside a frame tear it; cuts at a frame boundary (or in padding)
	// leave a clean prefix.
	require.Greater(t, torn, int(r.tailEnd-r.syncOff)/2, "most cuts tear a frame")
	require.Less(t, torn, int(r.tailEnd-r.syncOff), "cuts at frame boundaries leave a clean end")
}

// TestResidueLargeTail damages an unsynced tail spanning several pages: cuts
// at a stride, whole 4 KiB pages zeroed (a later page kept while an earlier
// one is lost), and garbage.
func TestResidueLargeTail(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 60, 190, false)
	base := fastTempDir(t)
	orig := r.img[r.active]
	const page = 4096
	require.Greater(t, r.tailEnd-r.syncOff, int64(page), "the tail spans pages")

	// Cuts at a stride with a random phase.
	stride := rcvStride(17, 61)
	for c := r.syncOff + rng.Int64N(stride); c <= r.tailEnd; c += stride {
		dmg := bytes.Clone(orig)
		clear(dmg[c:])
		r.check(t, base, dmg, fmt.Sprintf("cut at %d", c))
	}
	// The unsynced part of each page of the tail, zeroed alone (the pages
	// after it were written back, this one was not), and zeroed with every
	// page after the next one.
	var pages [][2]int64
	for p := r.syncOff / page * page; p < r.tailEnd; p += page {
		pages = append(pages, [2]int64{max(p, r.syncOff), min(p+page, int64(len(orig)))})
	}
	for i, pg := range pages {
		dmg := bytes.Clone(orig)
		clear(dmg[pg[0]:pg[1]])
		r.check(t, base, dmg, fmt.Sprintf("page [%d, %d) lost", pg[0], pg[1]))
		if i+2 < len(pages) {
			clear(dmg[pages[i+2][0]:])
			r.check(t, base, dmg, fmt.Sprintf("page [%d, %d) lost, next kept, rest lost", pg[0], pg[1]))
		}
	}
	// Garbage: random bytes in the unsynced region (and in the zeros after
	// it), as a torn sector of unrelated content would leave.
	for i := range 60 {
		dmg := bytes.Clone(orig)
		hi := min(int64(len(orig)), r.tailEnd+512)
		runs := 1 + rng.IntN(3)
		for range runs {
			at := r.syncOff + rng.Int64N(hi-r.syncOff)
			n := min(int64(1+rng.IntN(64)), hi-at)
			for j := range n {
				dmg[at+j] = byte(rng.IntN(256))
			}
		}
		r.check(t, base, dmg, fmt.Sprintf("garbage #%d", i))
	}
}

// TestResidueAfterRotation: the unsynced tail starts a new segment (the
// rotation made everything before it durable). The new segment's activated
// header may or may not have reached the disk, and the next segment may or
// may not have been prepared when the crash came.
func TestResidueAfterRotation(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 8, 150, true)
	base := fastTempDir(t)
	orig := r.img[r.active]
	h, err := segment.DecodeHeader(orig)
	require.NoError(t, err)
	require.Equal(t, r.synced+1, h.FirstSeq)
	h.FirstSeq = 0
	prepared := make([]byte, segment.HeaderSize)
	segment.EncodeHeader(prepared, h)

	unprepared := *r
	unprepared.img = r.img.with(r.prep, []byte(nil))
	for _, v := range []struct {
		name   string
		r      *rcvResidue
		header []byte
	}{
		{"activated header", r, nil},
		{"prepared header", r, prepared},
		{"activated header, no next segment", &unprepared, nil},
		{"prepared header, no next segment", &unprepared, prepared},
	} {
		torn := 0
		stride := rcvStride(9, 31)
		for c := r.syncOff + rng.Int64N(stride); c <= r.tailEnd; c += stride {
			dmg := bytes.Clone(orig)
			if v.header != nil {
				copy(dmg, v.header)
			}
			clear(dmg[c:])
			if v.r.check(t, base, dmg, fmt.Sprintf("%s, cut at %d", v.name, c)) {
				torn++
			}
		}
		require.Positive(t, torn, v.name)
		// Everything lost: the new segment is empty (or, with its prepared
		// header and nothing after it, an unused segment).
		dmg := bytes.Clone(orig)
		if v.header != nil {
			copy(dmg, v.header)
		}
		clear(dmg[segment.HeaderSize:])
		v.r.check(t, base, dmg, v.name+", all lost")
	}
}

// TestRecoveryDurableBitFlip flips bits inside records that were durable —
// synced records of the newest segment (proven durable by the watermark of
// the unsynced frames after them) and records of sealed segments: Open fails
// with ErrCorrupt under both policies, naming the damaged frame.
func TestRecoveryDurableBitFlip(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	base := fastTempDir(t)
	names := r.img.segNames()
	var newest, sealed []uint64
	for seq := uint64(1); seq <= r.synced; seq++ {
		switch r.locs[seq].seg {
		case r.active:
			newest = append(newest, seq)
		case names[0], names[1]:
			sealed = append(sealed, seq)
		}
	}
	require.NotEmpty(t, newest)
	require.NotEmpty(t, sealed)
	picks := []uint64{r.synced, newest[0], sealed[0], sealed[len(sealed)-1]}
	for range 12 {
		picks = append(picks, newest[rng.IntN(len(newest))], sealed[rng.IntN(len(sealed))])
	}
	for _, seq := range picks {
		loc := r.locs[seq]
		at := loc.off + rng.Int64N(loc.size)
		bit := rng.IntN(8)
		img := r.img.with(loc.seg, rcvFlip(r.img[loc.seg], at, bit))
		label := fmt.Sprintf("record %d (%s at %d), bit %d of byte %d", seq, loc.seg, loc.off, bit, at)
		for _, p := range []RepairPolicy{TruncatePartial, Strict} {
			d := writeImage(t, base, img)
			l, deferred, err := openVerified(d, manualOpts(rcvSegSize, p), nil)
			if err == nil {
				l.Close()
			}
			ce := rcvCorruption(t, err, label)
			require.Equal(t, loc.seg, ce.Segment, label)
			require.Equal(t, loc.off, ce.Offset, label)
			require.True(t, ce.Durable, "%s: %v", label, err)
			require.NotEqual(t, ReasonTornTail, ce.Reason, label)
			if deferred { // found at the first read of its sealed segment: the log opened
				require.Equal(t, img[loc.seg], snapshotDir(t, d)[loc.seg], "%s: the damaged segment was modified", label)
			} else {
				rcvRequireFiles(t, img, d, label)
			}
		}
	}
	// A damaged segment header is corruption too.
	img := r.img.with(names[0], rcvFlip(r.img[names[0]], 40, 3))
	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		d := writeImage(t, base, img)
		ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), "segment header")
		require.Equal(t, ReasonHeaderChecksumMismatch, ce.Reason)
		require.Equal(t, names[0], ce.Segment)
		rcvRequireFiles(t, img, d, "segment header")
	}
}

// rcvBuildClosed builds a log of at least nsegs segments and closes it
// cleanly; it returns the directory's image, the records and their frames.
func rcvBuildClosed(t *testing.T, rng *rand.Rand, nsegs int) (dirImage, [][]byte, map[uint64]rcvLoc) {
	t.Helper()
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	var recs [][]byte
	for len(l.segments()) < nsegs || len(recs) < 10 {
		p := rcvPayload(rng, 200)
		_, err := l.Append(p)
		require.NoError(t, err)
		recs = append(recs, p)
	}
	for range 5 { // a few more, so the newest segment holds several
		p := rcvPayload(rng, 200)
		_, err := l.Append(p)
		require.NoError(t, err)
		recs = append(recs, p)
	}
	locs := rcvLocs(l)
	require.NoError(t, l.Close())
	return snapshotDir(t, dir), recs, locs
}

// TestRecoveryCloseProvesLastRecord: after a clean Close the durable mark
// proves every record durable, the very last one included.
func TestRecoveryCloseProvesLastRecord(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 3)
	base := fastTempDir(t)
	d := writeImage(t, base, img)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		require.True(t, l.Recovery().Clean, "a cleanly closed log reopens Clean")
		require.Nil(t, l.Recovery().TornTail)
		rcvRequireRecords(t, l, recs, uint64(len(recs)), "after Close")
	}))
	last := uint64(len(recs))
	for _, seq := range []uint64{last, last, last, last - 1} {
		loc := locs[seq]
		at := loc.off + rng.Int64N(loc.size)
		bit := rng.IntN(8)
		dmg := img.with(loc.seg, rcvFlip(img[loc.seg], at, bit))
		label := fmt.Sprintf("record %d of %d, bit %d of byte %d", seq, last, bit, at)
		for _, p := range []RepairPolicy{TruncatePartial, Strict} {
			d := writeImage(t, base, dmg)
			ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), label)
			require.Equal(t, loc.seg, ce.Segment, label)
			require.Equal(t, loc.off, ce.Offset, label)
			require.True(t, ce.Durable, label)
			rcvRequireFiles(t, dmg, d, label)
		}
	}
}

// TestRecoveryUndetectableLastSynced pins down the one case FORMAT.md §5
// calls undetectable: without a clean Close, damage to the last synced
// record, which no later frame proves durable, is indistinguishable from a
// torn write. TruncatePartial cuts it (the acknowledged record is lost) and
// Strict refuses with ReasonTornTail. The record before it is proven durable
// by the last record's watermark, so its damage is ErrCorrupt.
func TestRecoveryUndetectableLastSynced(t *testing.T) {
	rng := rcvRand(t)
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{SegmentSize: rcvSegSize, Durability: SyncAlways})
	require.NoError(t, err)
	var recs [][]byte
	for range 20 {
		p := rcvPayload(rng, 100)
		if len(p) == 0 {
			p = []byte{0x5a} // the damage goes into the payload: it must have one
		}
		_, err := l.Append(p)
		require.NoError(t, err) // acknowledged: SyncAlways
		recs = append(recs, p)
	}
	waitPrepared(l)
	img := snapshotDir(t, dir)
	locs := rcvLocs(l)
	require.NoError(t, l.Close())
	last := uint64(len(recs))

	loc := locs[last]
	at := loc.off + crcframe.HeaderSize + rng.Int64N(loc.size-crcframe.HeaderSize)
	dmg := img.with(loc.seg, rcvFlip(img[loc.seg], at, rng.IntN(8)))
	d := writeImage(t, "", dmg)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
		tt := l.Recovery().TornTail
		require.NotNil(t, tt, "the damaged last record looks like a torn tail")
		require.Equal(t, loc.off, tt.Offset)
		require.True(t, tt.Repaired)
		rcvRequireRecords(t, l, recs, last-1, "last synced record damaged")
	}))
	d = writeImage(t, "", dmg)
	ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), nil), "Strict")
	require.Equal(t, ReasonTornTail, ce.Reason)
	require.False(t, ce.Durable)

	loc = locs[last-1]
	at = loc.off + rng.Int64N(loc.size)
	dmg = img.with(loc.seg, rcvFlip(img[loc.seg], at, rng.IntN(8)))
	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		d := writeImage(t, "", dmg)
		ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), "record before the last")
		require.True(t, ce.Durable)
		require.Equal(t, loc.off, ce.Offset)
	}
}

// TestReadOnlySalvageCorrupt opens a log damaged in a sealed segment
// ReadOnly: it serves the records before the damage and reports it.
func TestReadOnlySalvageCorrupt(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 4)
	names := img.segNames()
	var in2 []uint64
	for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
		if locs[seq].seg == names[1] {
			in2 = append(in2, seq)
		}
	}
	require.Greater(t, len(in2), 2)
	bad := in2[1+rng.IntN(len(in2)-2)]
	loc := locs[bad]
	at := loc.off + crcframe.HeaderSize + rng.Int64N(loc.size-crcframe.HeaderSize) // payload or padding
	dmg := img.with(loc.seg, rcvFlip(img[loc.seg], at, rng.IntN(8)))
	d := writeImage(t, "", dmg)

	// A writable open refuses it, or (format version 2) opens and its
	// Verify finds it: then META and the newest segment were a writer's to
	// change, and the ReadOnly open below gets the damaged image again.
	ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), nil), "writable open")
	require.True(t, ce.Durable)
	require.Equal(t, dmg[loc.seg], snapshotDir(t, d)[loc.seg], "the damaged segment was modified")
	d = writeImage(t, "", dmg)

	l, err := Open(d, readOnlyOpts(rcvSegSize))
	require.NoError(t, err)
	rep := l.Recovery()
	require.NotNil(t, rep.Corruption)
	require.Equal(t, loc.seg, rep.Corruption.Segment)
	require.Equal(t, loc.off, rep.Corruption.Offset)
	require.Equal(t, ReasonChecksumMismatch, rep.Corruption.Reason)
	require.True(t, rep.Corruption.Durable)
	rcvRequireRecords(t, l, recs, bad-1, "ReadOnly salvage")
	for _, seq := range []uint64{bad, bad + 1, uint64(len(recs))} {
		_, err := l.Read(seq)
		require.ErrorIs(t, err, ErrNotFound, "record %d after the damage", seq)
		require.ErrorIs(t, l.View(seq, func([]byte) error { return nil }), ErrNotFound)
	}
	it, err := l.NewIterator(bad + 1)
	require.NoError(t, err)
	require.False(t, it.Next())
	require.NoError(t, it.Err())
	it.Close()

	_, err = l.Append([]byte("x"))
	require.ErrorIs(t, err, ErrInvalidArgument, "ReadOnly Append")
	_, err = l.AppendBatch([][]byte{[]byte("x")})
	require.Error(t, err)
	_, err = l.Reserve(1)
	require.Error(t, err)
	require.Error(t, l.TruncateFront(2))
	require.Error(t, l.TruncateBack(1))
	require.NoError(t, l.Close())
	rcvRequireFiles(t, dmg, d, "ReadOnly")
}

// TestReadOnlyTornTail: a torn tail opened ReadOnly is reported, not
// repaired, and the records before it are served.
func TestReadOnlyTornTail(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	dmg := bytes.Clone(r.img[r.active])
	loc := r.locs[r.synced+2]
	clear(dmg[loc.off+crcframe.HeaderSize/2:]) // the second unsynced record is torn
	img := r.img.with(r.active, dmg)
	d := writeImage(t, "", img)
	l, err := Open(d, readOnlyOpts(rcvSegSize))
	require.NoError(t, err)
	tt := l.Recovery().TornTail
	require.NotNil(t, tt)
	require.False(t, tt.Repaired)
	require.Empty(t, tt.Quarantine)
	require.Equal(t, loc.off, tt.Offset)
	require.Equal(t, r.active, tt.Segment)
	require.Nil(t, l.Recovery().Corruption)
	rcvRequireRecords(t, l, r.recs, r.synced+1, "ReadOnly torn tail")
	rcvRequireFiles(t, img, d, "ReadOnly open")
	require.NoError(t, l.Close())
	rcvRequireFiles(t, img, d, "ReadOnly close")
}

// rcvRewrite sets a field of a 64-byte header (segment or META: the
// version at 8, the flags at 12) and recomputes its CRC, as a newer format
// would have written it.
func rcvRewrite(b []byte, field int, v uint32, width int) []byte {
	c := bytes.Clone(b)
	switch width {
	case 2:
		binary.LittleEndian.PutUint16(c[field:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(c[field:], v)
	}
	binary.LittleEndian.PutUint32(c[60:], crcframe.Checksum(0, c[:60]))
	return c
}

// TestUnsupportedVersion: a segment or META of a newer format is refused
// with ErrUnsupportedVersion under every policy, ReadOnly too, and nothing
// is changed.
func TestUnsupportedVersion(t *testing.T) {
	rng := rcvRand(t)
	img, _, _ := rcvBuildClosed(t, rng, 3)
	names := img.segNames()
	first, newest := names[0], names[len(names)-1]

	// A crash image with a prepared segment, for the prepared-segment case.
	r := rcvBuildResidue(t, rng, 1, 10, false)

	cases := []struct {
		name string
		img  dirImage
	}{
		{"first segment v3", img.with(first, rcvRewrite(img[first], 8, 3, 2))},
		{"newest segment v3", img.with(newest, rcvRewrite(img[newest], 8, 3, 2))},
		{"segment reserved flag", img.with(first, rcvRewrite(img[first], 12, 4, 4))},
		{"META v3", img.with(metaName, rcvRewrite(img[metaName], 8, 3, 2))},
		{"META reserved feature", img.with(metaName, rcvRewrite(img[metaName], 56, 8, 4))},
		{"prepared segment v3", r.img.with(r.prep, rcvRewrite(r.img[r.prep], 8, 3, 2))},
	}
	// The crafted headers are well formed apart from the version.
	_, err := segment.DecodeHeader(cases[0].img[first])
	require.ErrorIs(t, err, crcframe.UnsupportedVersion)

	for _, tc := range cases {
		for _, o := range []*Options{manualOpts(rcvSegSize, TruncatePartial), manualOpts(rcvSegSize, Strict), readOnlyOpts(rcvSegSize)} {
			label := fmt.Sprintf("%s, repair %d, ReadOnly %v", tc.name, o.Repair, o.ReadOnly)
			d := writeImage(t, "", tc.img)
			err := rcvOpenClose(t, d, o, nil)
			require.ErrorIs(t, err, ErrUnsupportedVersion, label)
			require.NotErrorIs(t, err, ErrCorrupt, label)
			rcvRequireFiles(t, tc.img, d, label)
		}
	}
}

// TestRecoveryPreparedSegmentRemoved: a crash image holds the segment that
// was prepared in the background and never used; recovery removes it.
func TestRecoveryPreparedSegmentRemoved(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 2, 50, false)
	h, err := segment.DecodeHeader(r.img[r.prep])
	require.NoError(t, err)
	require.Zero(t, h.FirstSeq, "a prepared segment")
	img := r.img.with(r.active, bytes.Clone(r.img[r.active]))
	clear(img[r.active][r.syncOff:]) // no torn tail: the crash lost the unsynced records cleanly
	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		d := writeImage(t, "", img)
		require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), func(l *Log) {
			require.Contains(t, l.Recovery().Removed, r.prep)
			require.Nil(t, l.Recovery().TornTail)
			rcvRequireRecords(t, l, r.recs, r.synced, "prepared segment")
			_, err := l.Append([]byte("next"))
			require.NoError(t, err)
		}))
	}
}

// TestRecoveryInterruptedCreation: the newest segment is a file whose
// creation a crash interrupted (no header, zeros or nothing); recovery
// removes it, with or without a torn tail in the segment before it.
func TestRecoveryInterruptedCreation(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	contents := map[string][]byte{
		"empty file":           {},
		"zero header and body": make([]byte, rcvSegSize),
		"zero first page":      make([]byte, 4096),
	}
	for what, b := range contents {
		for _, torn := range []bool{false, true} {
			label := fmt.Sprintf("%s, torn tail %v", what, torn)
			dmg := bytes.Clone(r.img[r.active])
			last := uint64(len(r.recs))
			if torn {
				loc := r.locs[r.synced+2]
				clear(dmg[loc.off+5:])
				last = r.synced + 1
			}
			img := r.img.with(r.prep, b, r.active, dmg)
			d := writeImage(t, "", img)
			require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
				require.Contains(t, l.Recovery().Removed, r.prep, label)
				require.Equal(t, torn, l.Recovery().TornTail != nil, label)
				rcvRequireRecords(t, l, r.recs, last, label)
				_, err := l.Append([]byte("next"))
				require.NoError(t, err, label)
			}), label)
		}
	}
}

// TestRecoveryMissingSegments: a segment missing in the middle, or at the
// front without a front truncation, is a gap: ErrCorrupt under every policy.
func TestRecoveryMissingSegments(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 4)
	names := img.segNames()
	for _, i := range []int{1, 2, 0} {
		gap := img.with(names[i], []byte(nil))
		label := "missing " + names[i]
		for _, p := range []RepairPolicy{TruncatePartial, Strict} {
			d := writeImage(t, "", gap)
			ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), label)
			require.Equal(t, ReasonSegmentGap, ce.Reason, label)
			require.True(t, ce.Durable, label)
			rcvRequireFiles(t, gap, d, label)
		}
		d := writeImage(t, "", gap)
		require.NoError(t, rcvOpenClose(t, d, readOnlyOpts(rcvSegSize), func(l *Log) {
			rep := l.Recovery()
			require.NotNil(t, rep.Corruption, label)
			require.Equal(t, ReasonSegmentGap, rep.Corruption.Reason, label)
			// The records before the gap are served.
			var before uint64
			for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
				if locs[seq].seg < names[i] {
					before = seq
				}
			}
			rcvRequireRecords(t, l, recs, before, label+" (ReadOnly)")
		}), label)
		rcvRequireFiles(t, gap, d, label+" (ReadOnly)")
	}
}

// TestRecoveryForeignSegment: a segment of another log in the directory is
// ErrCorrupt with ReasonForeignSegment, in the middle or as the newest.
func TestRecoveryForeignSegment(t *testing.T) {
	rng := rcvRand(t)
	img, _, _ := rcvBuildClosed(t, rng, 3)
	other, _, _ := rcvBuildClosed(t, rng, 3)
	names, onames := img.segNames(), other.segNames()
	n, _ := segment.ParseName(names[len(names)-1])
	cases := map[string]dirImage{
		"replacing segment 2": img.with(names[1], other[onames[1]]),
		"as the newest":       img.with(segment.Name(n+1), other[onames[0]]),
	}
	for what, fimg := range cases {
		for _, p := range []RepairPolicy{TruncatePartial, Strict} {
			d := writeImage(t, "", fimg)
			ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, p), nil), what)
			require.Equal(t, ReasonForeignSegment, ce.Reason, what)
			rcvRequireFiles(t, fimg, d, what)
		}
	}
}

// TestRecoveryMissingMeta: segments without META are ErrCorrupt (the log's
// identity is gone); nothing is created.
func TestRecoveryMissingMeta(t *testing.T) {
	rng := rcvRand(t)
	img, _, _ := rcvBuildClosed(t, rng, 2)
	nometa := img.with(metaName, []byte(nil))
	for _, o := range []*Options{manualOpts(rcvSegSize, TruncatePartial), manualOpts(rcvSegSize, Strict), readOnlyOpts(rcvSegSize)} {
		d := writeImage(t, "", nometa)
		ce := rcvCorruption(t, rcvOpenClose(t, d, o, nil), "missing META")
		require.Equal(t, ReasonMissingMeta, ce.Reason)
		rcvRequireFiles(t, nometa, d, "missing META")
	}
	// A stale META.tmp is ignored and removed.
	d := writeImage(t, "", img.with(metaTmpName, []byte("partial")))
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), nil))
	require.NoFileExists(t, filepath.Join(d, metaTmpName))
}

// TestRecoveryInterruptedTruncateBack: META holds the TruncateBack redo
// record but the segments were not (or only partly) cut; Open finishes it.
func TestRecoveryInterruptedTruncateBack(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 4)
	names := img.segNames()
	m, err := decodeMeta(img[metaName])
	require.NoError(t, err)
	m.clean = cleanClose{} // the writer's Open removed it before TruncateBack

	// Cut points: in the middle of the second segment, and in the newest.
	var points []uint64
	for _, name := range []string{names[1], names[len(names)-1]} {
		var in []uint64
		for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
			if locs[seq].seg == name {
				in = append(in, seq)
			}
		}
		require.Greater(t, len(in), 2)
		points = append(points, in[1+rng.IntN(len(in)-2)]-1) // keep up to here
	}
	for _, keep := range points {
		loc := locs[keep+1]
		num, _ := segment.ParseName(loc.seg)
		bm := m
		bm.backSeg, bm.backOff, bm.floor = num, uint32(loc.off), keep
		stages := map[string]func(dirImage) dirImage{
			"nothing cut": func(i dirImage) dirImage { return i },
			"later segments removed": func(i dirImage) dirImage {
				for _, n := range names {
					if n > loc.seg {
						i = i.with(n, []byte(nil))
					}
				}
				return i
			},
			"all cut but META": func(i dirImage) dirImage {
				for _, n := range names {
					if n > loc.seg {
						i = i.with(n, []byte(nil))
					}
				}
				b := bytes.Clone(i[loc.seg])
				clear(b[loc.off:])
				return i.with(loc.seg, b)
			},
		}
		for stage, f := range stages {
			label := fmt.Sprintf("TruncateBack(%d) in %s, %s", keep, loc.seg, stage)
			d := writeImage(t, "", f(img))
			require.NoError(t, writeMeta(d, bm))
			require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
				rep := l.Recovery()
				require.True(t, rep.FinishedTruncation, label)
				rcvRequireRecords(t, l, recs, keep, label)
				for _, n := range names {
					if n > loc.seg && stage == "nothing cut" {
						require.Contains(t, rep.Removed, n, label)
					}
				}
				got, err := readMeta(d)
				require.NoError(t, err)
				require.Zero(t, got.backSeg, "%s: the redo record is cleared", label)
				seq, err := l.Append([]byte("after"))
				require.NoError(t, err, label)
				require.Equal(t, keep+1, seq, label)
			}), label)
			require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
				require.False(t, l.Recovery().FinishedTruncation, label)
				require.Equal(t, keep+1, l.LastSeq(), label)
				b, err := l.Read(keep + 1)
				require.NoError(t, err)
				require.Equal(t, "after", string(b))
			}), label)
		}
	}
}

// TestRecoveryInterruptedTruncateFront: META's first sequence was raised but
// the segments below it were not removed yet; Open removes them.
func TestRecoveryInterruptedTruncateFront(t *testing.T) {
	rng := rcvRand(t)
	img, recs, locs := rcvBuildClosed(t, rng, 4)
	names := img.segNames()
	var in3 []uint64
	for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
		if locs[seq].seg == names[2] {
			in3 = append(in3, seq)
		}
	}
	front := in3[1]
	m, err := decodeMeta(img[metaName])
	require.NoError(t, err)
	m.clean = cleanClose{} // the writer's Open removed it before TruncateFront
	m.firstSeq = front
	d := writeImage(t, "", img)
	require.NoError(t, writeMeta(d, m))
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		rep := l.Recovery()
		require.Subset(t, rep.Removed, names[:2])
		require.Equal(t, front, l.FirstSeq())
		require.Equal(t, uint64(len(recs)), l.LastSeq())
		_, err := l.Read(front - 1)
		require.ErrorIs(t, err, ErrNotFound)
		for seq := front; seq <= uint64(len(recs)); seq++ {
			b, err := l.Read(seq)
			require.NoError(t, err)
			require.True(t, bytes.Equal(recs[seq-1], b), "record %d", seq)
		}
	}))
	require.NoFileExists(t, filepath.Join(d, names[0]))
	require.NoFileExists(t, filepath.Join(d, names[1]))
	require.FileExists(t, filepath.Join(d, names[2]))
}

// TestRecoveryUnfinishedBatch: a batch whose last frame never reached the
// disk is dropped whole; so is one with a lost middle frame.
func TestRecoveryUnfinishedBatch(t *testing.T) {
	rng := rcvRand(t)
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	defer l.Close()
	var recs [][]byte
	for range 30 {
		p := rcvPayload(rng, 100)
		_, err := l.Append(p)
		require.NoError(t, err)
		recs = append(recs, p)
	}
	require.NoError(t, l.Sync())
	synced := uint64(len(recs))
	batch := make([][]byte, 5)
	for i := range batch {
		batch[i] = rcvPayload(rng, 100)
	}
	first, err := l.AppendBatch(batch)
	require.NoError(t, err)
	require.Equal(t, synced+1, first)
	recs = append(recs, batch...)
	waitPrepared(l)
	img := snapshotDir(t, dir)
	locs := rcvLocs(l)
	for _, lost := range []uint64{first + 4, first + 2} {
		loc := locs[lost]
		b := bytes.Clone(img[loc.seg])
		clear(b[loc.off : loc.off+loc.size])
		dimg := img.with(loc.seg, b)
		label := fmt.Sprintf("batch %d..%d, frame of %d lost", first, first+4, lost)
		d := writeImage(t, "", dimg)
		require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
			tt := l.Recovery().TornTail
			require.NotNil(t, tt, label)
			require.Equal(t, locs[first].off, tt.Offset, label)
			rcvRequireRecords(t, l, recs, synced, label)
		}), label)
		d = writeImage(t, "", dimg)
		ce := rcvCorruption(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), nil), label)
		require.Equal(t, ReasonTornTail, ce.Reason, label)
		require.Equal(t, locs[first].off, ce.Offset, label)
	}
	// The intact batch is recovered whole.
	d := writeImage(t, "", img)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		rcvRequireRecords(t, l, recs, synced+5, "intact batch")
	}))
}

// TestRecoveryCleanFlag: Recovery().Clean tells a clean Close from a crash.
func TestRecoveryCleanFlag(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, manualOpts(rcvSegSize, TruncatePartial))
	require.NoError(t, err)
	for i := range 100 {
		_, err := l.Append([]byte(strings.Repeat("c", i)))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync())
	waitPrepared(l)
	crashed := snapshotDir(t, dir)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "a second Close returns nil")

	l, err = Open(dir, manualOpts(rcvSegSize, Strict))
	require.NoError(t, err)
	require.True(t, l.Recovery().Clean)
	require.Equal(t, uint64(100), l.Recovery().LastSeq)
	require.Equal(t, uint64(1), l.Recovery().FirstSeq)
	require.Positive(t, l.Recovery().Segments)
	require.Equal(t, 100, l.Recovery().Records)
	require.NoError(t, l.Close())

	d := writeImage(t, "", crashed)
	require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, Strict), func(l *Log) {
		require.False(t, l.Recovery().Clean, "a crashed log is not Clean")
		require.Equal(t, uint64(100), l.LastSeq())
	}))
}

// TestRecoveryQuarantineExists: a crash during a repair, after the quarantine
// file was written but before the tail was zeroed, leaves a quarantine file
// of the same name; the next Open repairs again and succeeds. The same holds
// when a later crash tears the tail at the very offset of an earlier repair.
func TestRecoveryQuarantineExists(t *testing.T) {
	rng := rcvRand(t)
	r := rcvBuildResidue(t, rng, 3, 60, false)
	dmg := bytes.Clone(r.img[r.active])
	loc := r.locs[r.synced+2]
	clear(dmg[loc.off+10:])
	qname := segment.QuarantineName(r.active, loc.off)
	for what, stale := range map[string][]byte{
		"crash during the repair": dmg[loc.off:],
		"earlier repair":          []byte("older residue"),
	} {
		img := r.img.with(r.active, dmg, qname, stale)
		d := writeImage(t, "", img)
		require.NoError(t, rcvOpenClose(t, d, manualOpts(rcvSegSize, TruncatePartial), func(l *Log) {
			tt := l.Recovery().TornTail
			require.NotNil(t, tt, what)
			require.True(t, tt.Repaired, what)
			rcvRequireRecords(t, l, r.recs, r.synced+1, what)
			q, err := os.ReadFile(tt.Quarantine)
			require.NoError(t, err)
			require.Equal(t, dmg[loc.off:loc.off+16], q, what)
		}), what)
	}
}
