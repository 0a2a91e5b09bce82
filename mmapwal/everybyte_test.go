package mmapwal

// Every byte of every file (issue 8, "Cover the classes"): the bad-bytes
// corpora damage payloads and frames; this family damages the bytes that
// decide what the log is — every bit of every segment header (the oldest,
// a sealed one, the newest, a prepared empty one) and of META in each of
// its states, zeroed 512-byte sectors and 4 KiB pages, and the zeroing of a
// segment from each frame boundary to its end — and checks the contract,
// not a particular verdict:
//
//   - after a clean Close, every writable Open fails with ErrCorrupt or
//     ErrUnsupportedVersion, or opens with LastSeq unchanged, every record
//     byte-identical (or, where a sealed segment is verified on first read,
//     a *CorruptionError from the read — never another record's bytes, never
//     a silent loss) and the next Append at LastSeq()+1 (no reused
//     sequence);
//   - without a clean Close (records acknowledged by a Sync, more appended
//     after it), only records never acknowledged may be cut;
//   - a ReadOnly open never serves a byte that was not appended.
//
// MMAPWAL_TORTURE=1 adds logs of more segments and sizes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// ebLog is a built log: its files and what it must hold.
type ebLog struct {
	img   dirImage
	recs  map[uint64][]byte // the records it must hold, by sequence
	first uint64            // FirstSeq
	last  uint64            // LastSeq
	acked uint64            // records up to here were acknowledged durable
	clean bool              // closed cleanly
	segs  int64             // segment size
}

// ebCfg shapes a built log.
type ebCfg struct {
	nsegs int  // at least this many segments
	front bool // TruncateFront part of the first segment away
	back  bool // TruncateBack a few records at the end
	clean bool // Close; else Sync, append a few more, and crash
	// recycle: RecycleSegments 2, and segments pooled by TruncateFront
	// and reused until the newest two segments are recycled files.
	recycle bool
}

func (c ebCfg) String() string {
	return fmt.Sprintf("segs=%d front=%v back=%v clean=%v recycle=%v", c.nsegs, c.front, c.back, c.clean, c.recycle)
}

// ebBuild writes a log shaped by c in a fresh directory.
func ebBuild(t testing.TB, c ebCfg) *ebLog {
	t.Helper()
	dir := fastTempDir(t)
	o := &Options{SegmentSize: bbSegSize, Durability: SyncManual}
	if c.recycle {
		o.RecycleSegments = 2
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[uint64][]byte{}
	appendN := func(n int) {
		for range n {
			seq := l.LastSeq() + 1
			p := bbPayload(seq)
			if _, err := l.Append(p); err != nil {
				t.Fatal(err)
			}
			recs[seq] = p
		}
	}
	for len(l.segments()) < c.nsegs {
		appendN(3)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(2)
	if c.recycle {
		f := l.LastSeq() - 1
		if err := l.TruncateFront(f); err != nil {
			t.Fatal(err)
		}
		for s := range recs {
			if s < f {
				delete(recs, s)
			}
		}
		// Room left for the appends after the last sync, so that they
		// stay in the recycled segment.
		for l.Stats().Recycled < 2 || !l.active.recycled || l.off < 2*segment.HeaderSize || l.active.size-l.off < 1024 {
			appendN(1)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.front {
		f := l.FirstSeq() + 2
		if err := l.TruncateFront(f); err != nil {
			t.Fatal(err)
		}
		for s := range recs {
			if s < f {
				delete(recs, s)
			}
		}
	}
	if c.back {
		b := l.LastSeq() - 2
		if err := l.TruncateBack(b); err != nil {
			t.Fatal(err)
		}
		for s := range recs {
			if s > b {
				delete(recs, s)
			}
		}
		appendN(1)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	e := &ebLog{recs: recs, acked: l.LastSeq(), clean: c.clean, segs: bbSegSize}
	if c.clean {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		appendN(2) // never acknowledged: their frames carry the proof of the rest
		waitPrepared(l)
		crashRelease(l)
	}
	e.first, e.last = l.FirstSeq(), l.LastSeq()
	e.img = snapshotDir(t, dir)
	return e
}

// withRedo returns a copy of e, cleanly closed, as a crash inside
// TruncateBack(LastSeq-1) leaves it: META holds the redo record (and the
// new floor), the segments are untouched. Every open must finish the cut.
func (e *ebLog) withRedo(t testing.TB) *ebLog {
	t.Helper()
	frames := bbParse(t, e.img)
	k := len(frames) - 1
	for k >= 0 && !frames[k].typ.IsRecord() {
		k--
	}
	if k < 0 || frames[k].typ != crcframe.Full {
		t.Fatalf("the last record is not a full frame: %+v", frames)
	}
	m, err := decodeMeta(e.img[metaName])
	if err != nil {
		t.Fatal(err)
	}
	num, _ := segment.ParseName(frames[k].seg)
	m.backSeg, m.backOff, m.floor = num, uint32(frames[k].off), frames[k].seq-1
	out := &ebLog{img: e.img.clone(), recs: map[uint64][]byte{}, first: e.first, last: frames[k].seq - 1, acked: frames[k].seq - 1, clean: e.clean, segs: e.segs}
	out.img[metaName] = m.encode()
	for s, p := range e.recs {
		if s < frames[k].seq {
			out.recs[s] = p
		}
	}
	return out
}

// withPrepared returns a copy of e's image with an empty prepared segment
// after the newest, as a crash between Close's mark and the removal of the
// segment prepared in the background leaves it.
func (e *ebLog) withPrepared(t testing.TB) (dirImage, string) {
	t.Helper()
	img := e.img.clone()
	names := img.segNames()
	h, err := segment.DecodeHeader(img[names[len(names)-1]])
	if err != nil {
		t.Fatal(err)
	}
	h.Number++
	h.FirstSeq = 0
	b := make([]byte, h.Size)
	segment.EncodeHeader(b, h)
	name := segment.Name(h.Number)
	img[name] = b
	return img, name
}

// ebSeqs returns the sequences of recs, ascending.
func ebSeqs(recs map[uint64][]byte) []uint64 {
	seqs := make([]uint64, 0, len(recs))
	for s := range recs {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	return seqs
}

// ebCheck opens a damaged image under both policies and ReadOnly and checks
// the contract.
func ebCheck(t testing.TB, base string, img dirImage, e *ebLog) error {
	t.Helper()
	for _, p := range []RepairPolicy{Strict, TruncatePartial} {
		dir := writeImage(t, base, img)
		l, err := Open(dir, &Options{SegmentSize: e.segs, Durability: SyncManual, Repair: p})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				return fmt.Errorf("%v: Open: %v (neither ErrCorrupt nor ErrUnsupportedVersion)", p, err)
			}
			continue
		}
		err = ebCheckOpen(l, e)
		if cerr := l.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("Close: %v", cerr)
		}
		if err != nil {
			return fmt.Errorf("%v: %v (recovery %+v)", p, err, l.Recovery())
		}
	}
	dir := writeImage(t, base, img)
	l, err := Open(dir, &Options{SegmentSize: e.segs, ReadOnly: true})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
			return fmt.Errorf("ReadOnly Open: %v", err)
		}
		return nil
	}
	defer l.Close()
	if l.LastSeq() > e.last {
		return fmt.Errorf("ReadOnly: LastSeq %d above %d", l.LastSeq(), e.last)
	}
	for _, seq := range ebSeqs(e.recs) {
		if got, err := l.Read(seq); err == nil && !bytes.Equal(got, e.recs[seq]) {
			return fmt.Errorf("ReadOnly: Read(%d) returned bytes that were not appended", seq)
		}
	}
	it, err := l.NewIterator(0)
	if err != nil {
		return nil
	}
	defer it.Close()
	for it.Next() {
		if want, ok := e.recs[it.Seq()]; !ok || !bytes.Equal(it.Value(), want) {
			return fmt.Errorf("ReadOnly: the iterator returned record %d with bytes that were not appended", it.Seq())
		}
	}
	return nil
}

// ebCheckOpen checks a writable log that opened a damaged image.
func ebCheckOpen(l *Log, e *ebLog) error {
	last := l.LastSeq()
	switch {
	case e.clean && last != e.last:
		return fmt.Errorf("LastSeq %d, want %d", last, e.last)
	case !e.clean && last < e.acked:
		return fmt.Errorf("LastSeq %d below the acknowledged %d", last, e.acked)
	case last > e.last:
		return fmt.Errorf("LastSeq %d above %d", last, e.last)
	}
	damaged := false // a read found damage in a sealed segment verified on first read
	for _, seq := range ebSeqs(e.recs) {
		if seq > last {
			break // unacknowledged, cut (checked above)
		}
		got, err := l.Read(seq)
		var ce *CorruptionError
		switch {
		case err == nil && !bytes.Equal(got, e.recs[seq]):
			return fmt.Errorf("Read(%d) returned bytes that were not appended", seq)
		case err != nil && errors.As(err, &ce) && ce.Durable:
			damaged = true // reported, not lost
		case err != nil:
			return fmt.Errorf("Read(%d): %v (a record was lost)", seq, err)
		}
	}
	// The iterator returns every record in order, each intact, or stops
	// with the damage: never skips one.
	it, err := l.NewIterator(0)
	if err != nil {
		return err
	}
	want := ebSeqs(e.recs)
	n := 0
	for it.Next() {
		for n < len(want) && want[n] < l.FirstSeq() {
			n++
		}
		if n >= len(want) || it.Seq() != want[n] || !bytes.Equal(it.Value(), e.recs[want[n]]) {
			it.Close()
			return fmt.Errorf("the iterator returned record %d (want %v): out of order, skipped one, or bytes that were not appended", it.Seq(), want[min(n, len(want)-1)])
		}
		n++
	}
	var ce *CorruptionError
	switch ierr := it.Err(); {
	case ierr != nil && errors.As(ierr, &ce) && ce.Durable:
		damaged = true
	case ierr != nil:
		it.Close()
		return fmt.Errorf("iterator: %v", ierr)
	case n < len(want) && want[n] <= last:
		it.Close()
		return fmt.Errorf("the iterator ended before record %d, with no error", want[n])
	}
	it.Close()
	if verr := l.Verify(context.Background()); damaged != (verr != nil) {
		return fmt.Errorf("reads found damage: %v; Verify: %v", damaged, verr)
	}
	seq, err := l.Append([]byte("next"))
	if err != nil {
		return fmt.Errorf("Append: %v", err)
	}
	if seq != last+1 || seq <= e.acked {
		return fmt.Errorf("Append took seq %d (LastSeq was %d, acknowledged %d): a reused sequence", seq, last, e.acked)
	}
	return nil
}

// ebCase is one damaged image.
type ebCase struct {
	what string
	img  dirImage
}

// ebFlipAll returns the images with one bit of img[name][from:to] flipped,
// for every bit.
func ebFlipAll(img dirImage, name string, from, to int) []ebCase {
	var out []ebCase
	for i := from; i < min(to, len(img[name])); i++ {
		for bit := range 8 {
			c := img.clone()
			c[name][i] ^= 1 << bit
			out = append(out, ebCase{fmt.Sprintf("%s byte %d bit %d", name, i, bit), c})
		}
	}
	return out
}

// ebZeroed returns the images with img[name][off:off+n] zeroed, for every
// n-aligned off in the file.
func ebZeroed(img dirImage, name string, n int) []ebCase {
	var out []ebCase
	for off := 0; off < len(img[name]); off += n {
		if crcframe.IsZero(img[name][off:min(off+n, len(img[name]))]) {
			continue // nothing changes
		}
		c := img.clone()
		clear(c[name][off:min(off+n, len(c[name]))])
		out = append(out, ebCase{fmt.Sprintf("%s zeroed [%d, %d)", name, off, off+n), c})
	}
	return out
}

// ebZeroTails returns the images with img[name] zeroed from each frame
// boundary to its end.
func ebZeroTails(t testing.TB, img dirImage, name string) []ebCase {
	var out []ebCase
	for _, f := range bbParse(t, img) {
		if f.seg != name {
			continue
		}
		c := img.clone()
		clear(c[name][f.off:])
		out = append(out, ebCase{fmt.Sprintf("%s zeroed from frame boundary %d", name, f.off), c})
	}
	return out
}

// ebRun checks every case and fails the test with the first few failures.
func ebRun(t *testing.T, e *ebLog, cases []ebCase) {
	t.Helper()
	base := fastTempDir(t)
	var fails []string
	for _, c := range cases {
		if err := ebCheck(t, base, c.img, e); err != nil {
			fails = append(fails, c.what+": "+err.Error())
		}
	}
	t.Logf("%d damaged images checked", len(cases))
	if len(fails) > 0 {
		t.Errorf("%d of %d damaged images broke the contract; the first:\n  %s", len(fails), len(cases), joinFirst(fails, 8))
	}
}

func joinFirst(s []string, n int) string {
	var b bytes.Buffer
	for i, x := range s[:min(n, len(s))] {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(x)
	}
	return b.String()
}

func ebCfgs() []ebCfg {
	cfgs := []ebCfg{
		{nsegs: 1, clean: true},
		{nsegs: 3, clean: true},
		{nsegs: 3, front: true, back: true, clean: true},
		{nsegs: 3, clean: false},
	}
	if tortureMode() {
		cfgs = append(cfgs,
			ebCfg{nsegs: 5, back: true, clean: true},
			ebCfg{nsegs: 5, front: true, clean: false},
			ebCfg{nsegs: 2, front: true, back: true, clean: false})
	}
	return cfgs
}

// TestEveryHeaderBit flips every bit of every segment header: the oldest,
// the sealed ones, the newest, and an empty prepared one.
func TestEveryHeaderBit(t *testing.T) {
	for _, c := range ebCfgs() {
		t.Run(c.String(), func(t *testing.T) {
			e := ebBuild(t, c)
			var cases []ebCase
			for _, name := range e.img.segNames() {
				cases = append(cases, ebFlipAll(e.img, name, 0, segment.HeaderSize)...)
			}
			if c.clean {
				img, name := e.withPrepared(t)
				cases = append(cases, ebFlipAll(img, name, 0, segment.HeaderSize)...)
			}
			ebRun(t, e, cases)
		})
	}
}

// TestEveryMetaBit flips every bit of META in each of its states: fresh,
// after TruncateFront, after TruncateBack (its floor), and with the redo
// record of an interrupted TruncateBack.
func TestEveryMetaBit(t *testing.T) {
	for _, c := range ebCfgs() {
		t.Run(c.String(), func(t *testing.T) {
			e := ebBuild(t, c)
			ebRun(t, e, ebFlipAll(e.img, metaName, 0, len(e.img[metaName])))
			if c.clean {
				r := e.withRedo(t)
				ebRun(t, r, append([]ebCase{{"redo pending, no damage", r.img}}, ebFlipAll(r.img, metaName, 0, len(r.img[metaName]))...))
			}
		})
	}
}

// TestZeroedSectorsAndPages zeroes every 512-byte sector and every 4 KiB
// page of every segment, and every segment from each frame boundary to its
// end.
func TestZeroedSectorsAndPages(t *testing.T) {
	for _, c := range ebCfgs() {
		t.Run(c.String(), func(t *testing.T) {
			e := ebBuild(t, c)
			var cases []ebCase
			frames := bbParse(t, e.img)
			newest := frames[len(frames)-1].seg // the newest that holds frames
			for _, name := range e.img.segNames() {
				if !c.clean && name >= newest {
					// Without a clean Close, damage to the newest records
					// beyond the last frame that proves them durable cannot
					// be told from a torn write (FORMAT.md §5).
					continue
				}
				cases = append(cases, ebZeroed(e.img, name, 512)...)
				cases = append(cases, ebZeroed(e.img, name, 4096)...)
				cases = append(cases, ebZeroTails(t, e.img, name)...)
			}
			ebRun(t, e, cases)
		})
	}
}
