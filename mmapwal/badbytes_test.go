package mmapwal

// Bad bytes (issue 5 §3): bit rot, misdirected and stale data. Generators
// damage a small, cleanly closed log in every way the issue lists, and a
// checked-in corpus (testdata/corrupt/, rewritten with -update) keeps the
// same damage as fixed bytes, so that a regression in detection is caught
// even if the generators drift with the writer.
//
// Every case is checked the same way (bbCheck): under TruncatePartial and
// Strict the writable Open fails with ErrCorrupt — a *CorruptionError naming
// the segment, the offset and the reason — and changes no byte of the
// directory; a ReadOnly Open serves only records byte-identical to what was
// appended (a prefix of the log) and reports the same damage.
//
// Record contents are a pure function of the sequence (bbPayload), so a
// test that never saw the writer, the corpus check included, knows every
// byte each record must have.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// bbSegSize is the segment size of the generated logs: the smallest allowed.
const bbSegSize = segment.MinSize

// The -update flag rewrites testdata/corrupt. It is registered only if no
// other test file of the package registered a flag of that name (a
// package-level flag.Bool there runs before this init).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the generated test corpora in testdata/")
	}
}

func bbUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// bbPayload returns the content of record seq in the generated logs: a
// length and bytes that are functions of seq (some records are empty).
func bbPayload(seq uint64) []byte {
	n := int(splitmix(seq) % 97)
	if seq%7 == 3 {
		n = 0
	}
	b := make([]byte, n)
	x := seq
	for i := range b {
		if i%8 == 0 {
			x = splitmix(x)
		}
		b[i] = byte(x >> (8 * (i % 8)))
	}
	return b
}

// bbFrame is one frame of a generated log, found by parsing its files.
type bbFrame struct {
	seg  string // segment file name
	off  int64
	size int64
	typ  crcframe.Type
	seq  uint64
}

// bbLog is a generated log: its files, what was appended, and its frames.
type bbLog struct {
	img    dirImage
	recs   map[uint64][]byte // every record appended, by sequence
	last   uint64            // LastSeq at Close
	frames []bbFrame         // every frame, in log order
}

// bbCfg shapes a generated log.
type bbCfg struct {
	segSize int64 // segment size (bbSegSize when 0)
	nsegs   int   // at least this many segments
	extra   int   // records appended once there are nsegs segments
	fixed   int   // every payload has this length (bbPayloadN); 0: bbPayload
	plain   bool  // single appends only (no batch, reservation or gap)
	zeros   bool  // payloads of zeros (200 to 263 bytes): logs that encode small
	// recycle: every segment of the log reuses a file TruncateFront
	// pooled (RecycleSegments, FORMAT.md §9.7): stale frames of older
	// numbers follow each segment's frames.
	recycle bool
}

// payload returns the content of record seq of a log built with c.
func (c bbCfg) payload(seq uint64) []byte {
	if c.zeros {
		return make([]byte, 200+seq%64)
	}
	if c.fixed > 0 {
		return bbPayloadN(seq, c.fixed)
	}
	return bbPayload(seq)
}

// bbPayloadN is the n-byte content of record seq.
func bbPayloadN(seq uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(splitmix(seq<<20 | uint64(i)))
	}
	return b
}

// bbBuild writes a log of at least c.nsegs segments (single appends,
// batches, a reservation and an AppendSeq gap unless c.plain, with syncs now
// and then) and closes it cleanly.
func bbBuild(t testing.TB, c bbCfg) *bbLog {
	t.Helper()
	if c.segSize == 0 {
		c.segSize = bbSegSize
	}
	dir := fastTempDir(t)
	o := &Options{SegmentSize: c.segSize, Durability: SyncManual}
	if c.recycle {
		o.RecycleSegments = c.nsegs + 4
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[uint64][]byte{}
	add := func(seq uint64, p []byte) { recs[seq] = p }
	if c.recycle {
		bbPrefillPool(t, l, c, add)
	}
	step, extra := 0, c.extra
	for len(l.segments()) < c.nsegs || extra > 0 {
		if len(l.segments()) >= c.nsegs {
			extra--
		}
		next := l.LastSeq() + 1
		switch step++; {
		case !c.plain && step%9 == 4: // a batch of three
			ps := [][]byte{c.payload(next), c.payload(next + 1), c.payload(next + 2)}
			first, err := l.AppendBatch(ps)
			if err != nil || first != next {
				t.Fatalf("AppendBatch: %d, %v", first, err)
			}
			for i, p := range ps {
				add(next+uint64(i), p)
			}
		case !c.plain && step == 6: // a gap in the sequences
			p := c.payload(next + 2)
			if err := l.AppendSeq(next+2, p); err != nil {
				t.Fatal(err)
			}
			add(next+2, p)
		case !c.plain && step%9 == 7: // zero copy
			p := c.payload(next)
			r, err := l.Reserve(len(p))
			if err != nil {
				t.Fatal(err)
			}
			copy(r.Bytes(), p)
			if seq, err := r.Commit(); err != nil || seq != next {
				t.Fatalf("Commit: %d, %v", seq, err)
			}
			add(next, p)
		default:
			p := c.payload(next)
			if seq, err := l.Append(p); err != nil || seq != next {
				t.Fatalf("Append: %d, %v", seq, err)
			}
			add(next, p)
		}
		if step%5 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := l.LastSeq()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b := &bbLog{img: snapshotDir(t, dir), recs: recs, last: last}
	for name := range b.img {
		if _, ok := parsePoolName(name); ok {
			delete(b.img, name) // not the log's: the cases see META and the segments only
		}
	}
	b.frames = bbParse(t, b.img)
	return b
}

// bbPrefillPool fills and drops segments of l until its pool holds enough
// files for the whole log of c, then appends records of c until one lands
// in a recycled file and drops the segment before it: every segment the
// log then has, and gets, is a recycled file. The record kept is added.
func bbPrefillPool(t testing.TB, l *Log, c bbCfg, add func(uint64, []byte)) {
	t.Helper()
	for len(l.segments()) < c.nsegs+4 {
		if _, err := l.Append(make([]byte, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(l.LastSeq() + 1); err != nil {
		t.Fatal(err)
	}
	for !l.active.recycled {
		seq := l.LastSeq() + 1
		if _, err := l.Append(c.payload(seq)); err != nil {
			t.Fatal(err)
		}
	}
	add(l.LastSeq(), c.payload(l.LastSeq()))
	if err := l.TruncateFront(l.LastSeq()); err != nil {
		t.Fatal(err)
	}
}

// bbParse returns the frames of an undamaged image, in log order.
func bbParse(t testing.TB, img dirImage) []bbFrame {
	t.Helper()
	var out []bbFrame
	for _, name := range img.segNames() {
		data := img[name]
		h, err := segment.DecodeHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seed := crcframe.Seed(h.LogID, h.Number)
		for off := int64(segment.HeaderSize); off < int64(len(data)); {
			fh, _, n, err := crcframe.Decode(data[off:], seed, maxPayloadIn(h.Size))
			if err != nil {
				break
			}
			out = append(out, bbFrame{seg: name, off: off, size: int64(n), typ: fh.Type, seq: fh.Seq})
			off += int64(n)
		}
	}
	return out
}

// bbSeed returns the checksum seed of a segment's frames.
func bbSeed(t testing.TB, seg []byte) uint32 {
	t.Helper()
	h, err := segment.DecodeHeader(seg)
	if err != nil {
		t.Fatal(err)
	}
	return crcframe.Seed(h.LogID, h.Number)
}

// bbReasonAt says what the scan must find at off of a damaged segment,
// where the bytes of a frame changed: the frame decoder's verdict, named as
// the scan reports it.
func bbReasonAt(t testing.TB, seg []byte, off int64) Reason {
	t.Helper()
	h, err := segment.DecodeHeader(seg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = crcframe.Decode(seg[off:], crcframe.Seed(h.LogID, h.Number), maxPayloadIn(h.Size))
	switch {
	case err == nil: // a valid frame that does not belong here
		return ReasonSequenceViolation
	case errors.Is(err, crcframe.CleanEnd): // zeros, then more bytes
		return ReasonGarbageAfterEnd
	case errors.Is(err, crcframe.IncompletePayload):
		return ReasonLengthOutOfBounds
	}
	var r Reason
	if !errors.As(err, &r) {
		t.Fatalf("decode: %v", err)
	}
	return r
}

// bbWant is what a damaged log must be reported as.
type bbWant struct {
	unsupported bool // ErrUnsupportedVersion, not ErrCorrupt
	// torn: not damage to durable data but a torn tail at seg:off (stale
	// bytes nothing proves durable): Strict refuses it, TruncatePartial cuts
	// it, and every record stays.
	torn   bool
	seg    string
	off    int64
	reason Reason
	// served is how many records (in sequence order) a ReadOnly open must
	// serve at least: those before the damage. -1 skips the check (the
	// ReadOnly open may fail).
	served int
}

func (w bbWant) String() string {
	if w.torn {
		return fmt.Sprintf("torn tail segment=%s offset=%d", w.seg, w.off)
	}
	if w.unsupported {
		return "ErrUnsupportedVersion"
	}
	return fmt.Sprintf("ErrCorrupt segment=%s offset=%d reason=%s", w.seg, w.off, w.reason.String())
}

// bbParseWant reads a bbWant back from its String (the corpus READMEs).
func bbParseWant(s string) (bbWant, error) {
	s = strings.TrimSpace(s)
	if s == "ErrUnsupportedVersion" {
		return bbWant{unsupported: true, served: -1}, nil
	}
	rest, ok := strings.CutPrefix(s, "ErrCorrupt segment=")
	if !ok {
		return bbWant{}, fmt.Errorf("bad expectation %q", s)
	}
	seg, rest, ok1 := strings.Cut(rest, " offset=")
	off, reason, ok2 := strings.Cut(rest, " reason=")
	n, err := strconv.ParseInt(off, 10, 64)
	if !ok1 || !ok2 || err != nil {
		return bbWant{}, fmt.Errorf("bad expectation %q", s)
	}
	for r := Reason(1); r < 128; r++ {
		if r.String() == reason {
			return bbWant{seg: seg, off: n, reason: r, served: -1}, nil
		}
	}
	return bbWant{}, fmt.Errorf("unknown reason in %q", s)
}

// bbServedBefore counts the records a scan that stops at frame k serves:
// those of the frames before k, less an unfinished batch.
func (b *bbLog) servedBefore(k int) int {
	for k > 0 && (b.frames[k].typ == crcframe.Middle || b.frames[k].typ == crcframe.Last) {
		k--
	}
	n := 0
	for _, f := range b.frames[:k] {
		if f.typ.IsRecord() {
			n++
		}
	}
	return n
}

// frameAt returns the index of the frame of seg that covers off.
func (b *bbLog) frameAt(seg string, off int64) int {
	for k, f := range b.frames {
		if f.seg == seg && f.off <= off && off < f.off+f.size {
			return k
		}
	}
	return -1
}

// bbCorruptErr checks that err is the damage want describes.
func bbCorruptErr(err error, want bbWant) error {
	if err == nil {
		return fmt.Errorf("opened; want %v", want)
	}
	if want.unsupported {
		if !errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("got %v; want %v", err, want)
		}
		return nil
	}
	var ce *CorruptionError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		return fmt.Errorf("got %v (%T); want %v", err, err, want)
	}
	if ce.Segment != want.seg || ce.Offset != want.off || ce.Reason != want.reason || !errors.Is(err, want.reason) {
		return fmt.Errorf("got %v; want %v", err, want)
	}
	if !ce.Durable {
		return fmt.Errorf("got %v, not Durable; want damage to durable data", err)
	}
	return nil
}

// bbCheckServed checks every record a log serves against recs: through an
// iterator (a prefix of the log, in order) and through Read, ReadInto and
// View of each of them. It returns how many records it served.
func bbCheckServed(l *Log, recs map[uint64][]byte) (int, error) {
	seqs := make([]uint64, 0, len(recs))
	for s := range recs {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	it, err := l.NewIterator(0)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for it.Next() {
		if n >= len(seqs) || it.Seq() != seqs[n] {
			return n, fmt.Errorf("iterator: record %d served at position %d (want %v)", it.Seq(), n, seqs[min(n, len(seqs)-1)])
		}
		if !bytes.Equal(it.Value(), recs[it.Seq()]) {
			return n, fmt.Errorf("iterator: record %d has other bytes than were appended", it.Seq())
		}
		n++
	}
	if err := it.Err(); err != nil {
		return n, fmt.Errorf("iterator: %w", err)
	}
	var buf []byte
	for i, seq := range seqs {
		got, err := l.Read(seq)
		if i >= n {
			if err == nil {
				return n, fmt.Errorf("Read(%d) served a record the iterator did not", seq)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, recs[seq]) {
			return n, fmt.Errorf("Read(%d): %v, bytes equal %v", seq, err, bytes.Equal(got, recs[seq]))
		}
		buf, err = l.ReadInto(buf[:0], seq)
		if err != nil || !bytes.Equal(buf, recs[seq]) {
			return n, fmt.Errorf("ReadInto(%d): %v", seq, err)
		}
		err = l.View(seq, func(b []byte) error {
			if !bytes.Equal(b, recs[seq]) {
				return errors.New("other bytes")
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("View(%d): %w", seq, err)
		}
	}
	return n, nil
}

// bbCheck opens the damaged directory dir (whose files are img) under both
// repair policies and ReadOnly, and checks it against want.
func bbCheck(t testing.TB, dir string, img dirImage, recs map[uint64][]byte, want bbWant) error {
	t.Helper()
	if want.torn {
		return bbCheckTorn(t, dir, img, recs, want)
	}
	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		// Open, then Verify: damage in a sealed segment is found at its
		// first read (openVerified), the rest at Open.
		l, deferred, err := openVerified(dir, manualOpts(bbSegSize, p), okRecs(recs))
		if err == nil {
			l.Close()
		}
		if e := bbCorruptErr(err, want); e != nil {
			return fmt.Errorf("repair policy %d: %w", p, e)
		}
		if deferred {
			// The log opened: its META and newest segment are a writer's
			// to change, the damaged segment never.
			if got := snapshotDir(t, dir)[want.seg]; !bytes.Equal(got, img[want.seg]) {
				return fmt.Errorf("repair policy %d: the damaged segment %s was modified", p, want.seg)
			}
			dir = writeImage(t, filepath.Dir(dir), img) // the next open starts from the damaged image again
			continue
		}
		if e := sameFiles(t, dir, img); e != nil {
			return fmt.Errorf("repair policy %d: a refused log was modified: %w", p, e)
		}
	}
	l, err := Open(dir, readOnlyOpts(bbSegSize))
	if err != nil {
		if want.served < 0 && (want.unsupported || errors.Is(err, ErrCorrupt)) {
			return nil // refused outright: nothing served
		}
		if e := bbCorruptErr(err, want); want.served < 0 && e == nil {
			return nil
		}
		return fmt.Errorf("ReadOnly: %w", err)
	}
	defer l.Close()
	n, err := bbCheckServed(l, recs)
	if err != nil {
		return fmt.Errorf("ReadOnly: %w", err)
	}
	if n < want.served {
		return fmt.Errorf("ReadOnly served %d records, want the %d before the damage", n, want.served)
	}
	if ce := l.Recovery().Corruption; ce == nil && want.served >= 0 {
		return errors.New("ReadOnly: Recovery().Corruption is nil")
	} else if ce != nil && !want.unsupported {
		if e := bbCorruptErr(ce, want); e != nil {
			return fmt.Errorf("ReadOnly Recovery().Corruption: %w", e)
		}
	}
	if e := sameFiles(t, dir, img); e != nil {
		return fmt.Errorf("ReadOnly open modified the log: %w", e)
	}
	return nil
}

// bbBuildFlips writes the log of the bit-flip test and closes it: a sealed
// first segment of a few large records, then a newest segment of small
// records, a batch, and Close's durable mark — few frames, so that flipping
// their bits one by one stays cheap.
//
// With recycle, both segments reuse files a TruncateFront pooled
// (FORMAT.md §9.7): stale frames of older numbers follow their frames.
func bbBuildFlips(t testing.TB, recycle bool) *bbLog {
	t.Helper()
	dir := fastTempDir(t)
	o := manualOpts(bbSegSize, TruncatePartial)
	if recycle {
		o.RecycleSegments = 3
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[uint64][]byte{}
	if recycle {
		// Fill four segments and drop them all: three go to the pool.
		// Then append until a record lands in a recycled file, and drop
		// the segment before it: the log holds recycled files only,
		// starting with that record.
		for len(l.segments()) < 4 {
			if _, err := l.Append(make([]byte, 500)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.TruncateFront(l.LastSeq() + 1); err != nil {
			t.Fatal(err)
		}
		for !l.active.recycled {
			if _, err := l.Append(make([]byte, 500)); err != nil {
				t.Fatal(err)
			}
		}
		recs[l.LastSeq()] = make([]byte, 500)
		if err := l.TruncateFront(l.LastSeq()); err != nil {
			t.Fatal(err)
		}
	}
	first := len(l.segments())
	big := func(seq uint64) []byte {
		p := make([]byte, 450+seq)
		for i := range p {
			p[i] = byte(splitmix(seq<<16 | uint64(i)))
		}
		return p
	}
	for len(l.segments()) < first+1 {
		seq := l.LastSeq() + 1
		p := big(seq)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		recs[seq] = p
	}
	for i := range 6 {
		seq := l.LastSeq() + 1
		p := bbPayload(seq)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		recs[seq] = p
		if i == 2 {
			ps := [][]byte{bbPayload(seq + 1), bbPayload(seq + 2), bbPayload(seq + 3)}
			if _, err := l.AppendBatch(ps); err != nil {
				t.Fatal(err)
			}
			for k, p := range ps {
				recs[seq+1+uint64(k)] = p
			}
		}
	}
	if recycle {
		for _, s := range l.segments() {
			if !s.recycled {
				t.Fatalf("segment %s is not recycled", s.name)
			}
		}
	}
	last := l.LastSeq()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b := &bbLog{img: snapshotDir(t, dir), recs: recs, last: last}
	b.frames = bbParse(t, b.img)
	return b
}

// bbFlip is one bit to flip.
type bbFlip struct {
	frame int   // index in bbLog.frames
	at    int64 // byte offset in the segment
	bit   int
}

// TestBadBytesBitFlips flips bits of the frames of a small closed log (two
// segments: the first sealed, the second ending with Close's durable mark),
// one at a time. Each flipped record frame is ErrCorrupt at that frame,
// with the reason the frame decoder gives, under Strict, and the log is left
// as it was; for one bit in eight the full check also runs (TruncatePartial
// refuses alike, a ReadOnly open serves the records before the damage, byte
// for byte, and reports the same damage). A flipped durable mark is
// corruption too, since META records the clean Close (FORMAT.md §9.3);
// without that record (a version 1 log) it proves nothing any more: it is a
// torn tail (cut under TruncatePartial, refused under Strict), and every
// record stays.
//
// CI flips every bit of every frame header and of every 32nd byte of the
// payloads and padding (a different byte in each frame): about 5,000 flips.
// MMAPWAL_BITFLIP_ALL=1 flips every bit of every frame (about 35,000 flips,
// half a minute without -race).
func TestBadBytesBitFlips(t *testing.T) { bbBitFlips(t, bbBuildFlips(t, false)) }

// TestBadBytesBitFlipsRecycled is TestBadBytesBitFlips over a log whose
// segments are recycled files: stale frames of older numbers follow each
// segment's frames (FORMAT.md §9.7), and a flipped bit is still
// corruption at its frame, never a silent cut at the stale bytes.
func TestBadBytesBitFlipsRecycled(t *testing.T) { bbBitFlips(t, bbBuildFlips(t, true)) }

func bbBitFlips(t *testing.T, b *bbLog) {
	all := os.Getenv("MMAPWAL_BITFLIP_ALL") == "1"
	var flips, marks []bbFlip
	for k, f := range b.frames {
		for at := f.off; at < f.off+f.size; at++ {
			rel := at - f.off
			if !all && rel >= crcframe.HeaderSize && (rel+int64(k))%32 != 0 {
				continue
			}
			for bit := range 8 {
				if f.typ == crcframe.Mark {
					marks = append(marks, bbFlip{k, at, bit})
				} else {
					flips = append(flips, bbFlip{k, at, bit})
				}
			}
		}
	}
	base := fastTempDir(t)
	const workers = 2
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- bbRunFlips(t, base, b, flips[w*len(flips)/workers:(w+1)*len(flips)/workers])
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, fl := range marks {
		img := b.img.clone()
		f := b.frames[fl.frame]
		img[f.seg][fl.at] ^= 1 << fl.bit
		want := bbWant{seg: f.seg, off: f.off, reason: bbReasonAt(t, img[f.seg], f.off), served: len(b.recs)}
		d := writeImage(t, base, img)
		if err := bbCheck(t, d, img, b.recs, want); err != nil {
			t.Fatalf("damaged mark at %s:%d, with the clean-close record: %v", f.seg, f.off, err)
		}
		os.RemoveAll(d)
		img[metaName] = bbWithoutCleanClose(t, img[metaName])
		bbCheckTornMark(t, base, img, b, f)
	}
	if len(flips) == 0 || len(marks) == 0 {
		t.Fatalf("%d record flips, %d mark flips", len(flips), len(marks))
	}
	t.Logf("%d bit flips in %d record frames detected as corruption (all bits: %v); %d flips of the durable mark judged a torn tail",
		len(flips), len(b.frames)-1, all, len(marks))
}

// bbRunFlips checks flips one by one in a directory of its own.
func bbRunFlips(t testing.TB, base string, b *bbLog, flips []bbFlip) error {
	dir := writeImage(t, base, b.img)
	for i, fl := range flips {
		f := b.frames[fl.frame]
		path := filepath.Join(dir, f.seg)
		dmg := bytes.Clone(b.img[f.seg])
		dmg[fl.at] ^= 1 << fl.bit
		want := bbWant{seg: f.seg, off: f.off, reason: bbReasonAt(t, dmg, f.off), served: b.servedBefore(fl.frame)}
		label := fmt.Sprintf("bit %d of byte %d (frame of record %d at %s:%d)", fl.bit, fl.at, f.seq, f.seg, f.off)
		if err := os.WriteFile(path, dmg, 0o644); err != nil {
			return err
		}
		restore := func() error { return os.WriteFile(path, b.img[f.seg], 0o644) }
		opened := false // a writable Open succeeded (the damage was found at first read): other files changed
		if i%8 == 0 {
			img := b.img.clone()
			img[f.seg] = dmg
			if err := bbCheck(t, dir, img, b.recs, want); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
			opened = true // bbCheck may have opened dir
		} else {
			l, deferred, err := openVerified(dir, manualOpts(bbSegSize, Strict), okRecs(b.recs))
			if err == nil {
				l.Close()
			}
			if e := bbCorruptErr(err, want); e != nil {
				return fmt.Errorf("%s: %w", label, e)
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, dmg) {
				return fmt.Errorf("%s: the damaged segment was modified (%v)", label, err)
			}
			opened = deferred
		}
		if opened {
			os.RemoveAll(dir)
			dir = writeImage(t, base, b.img)
			path = filepath.Join(dir, f.seg)
		} else if err := restore(); err != nil {
			return err
		}
	}
	return nil
}

// bbCheckTornMark checks a log whose durable mark f was damaged: a torn tail
// after every record.
func bbCheckTornMark(t testing.TB, base string, img dirImage, b *bbLog, f bbFrame) {
	t.Helper()
	d := writeImage(t, base, img)
	defer os.RemoveAll(d)
	_, err := Open(d, manualOpts(bbSegSize, Strict))
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Reason != ReasonTornTail || ce.Segment != f.seg || ce.Offset != f.off || ce.Durable {
		t.Fatalf("damaged mark at %s:%d, Strict: %v; want a torn tail there", f.seg, f.off, err)
	}
	if e := sameFiles(t, d, img); e != nil {
		t.Fatalf("Strict modified the log: %v", e)
	}
	l, err := Open(d, readOnlyOpts(bbSegSize))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := bbCheckServed(l, b.recs); err != nil || n != len(b.recs) {
		t.Fatalf("ReadOnly, damaged mark: %d of %d records: %v", n, len(b.recs), err)
	}
	if tt := l.Recovery().TornTail; tt == nil || tt.Repaired || tt.Offset != f.off {
		t.Fatalf("ReadOnly, damaged mark: TornTail %+v", tt)
	}
	l.Close()
	l, err = Open(d, manualOpts(bbSegSize, TruncatePartial))
	if err != nil {
		t.Fatalf("damaged mark, TruncatePartial: %v", err)
	}
	defer l.Close()
	if n, err := bbCheckServed(l, b.recs); err != nil || n != len(b.recs) {
		t.Fatalf("TruncatePartial, damaged mark: %d of %d records: %v", n, len(b.recs), err)
	}
	if tt := l.Recovery().TornTail; tt == nil || !tt.Repaired || tt.Offset != f.off || l.Recovery().Clean {
		t.Fatalf("TruncatePartial, damaged mark: %+v", l.Recovery())
	}
	if l.LastSeq() != b.last {
		t.Fatalf("LastSeq %d after cutting the mark, want %d", l.LastSeq(), b.last)
	}
}

// bbCheckTorn checks a log whose damage is a torn tail at want.seg:want.off
// after every record.
func bbCheckTorn(t testing.TB, dir string, img dirImage, recs map[uint64][]byte, want bbWant) error {
	t.Helper()
	var last uint64
	for s := range recs {
		last = max(last, s)
	}
	l, err := Open(dir, manualOpts(bbSegSize, Strict))
	if err == nil {
		l.Close()
	}
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Reason != ReasonTornTail || ce.Segment != want.seg || ce.Offset != want.off || ce.Durable {
		return fmt.Errorf("Strict: %v; want a %v", err, want)
	}
	if e := sameFiles(t, dir, img); e != nil {
		return fmt.Errorf("Strict modified the log: %w", e)
	}
	for _, ro := range []bool{true, false} {
		o := manualOpts(bbSegSize, TruncatePartial)
		o.ReadOnly = ro
		l, err := Open(dir, o)
		if err != nil {
			return fmt.Errorf("ReadOnly %v: %w", ro, err)
		}
		n, err := bbCheckServed(l, recs)
		rep := l.Recovery()
		l.Close()
		switch {
		case err != nil || n != len(recs):
			return fmt.Errorf("ReadOnly %v: %d of %d records: %v", ro, n, len(recs), err)
		case rep.TornTail == nil || rep.TornTail.Segment != want.seg || rep.TornTail.Offset != want.off || rep.TornTail.Repaired == ro:
			return fmt.Errorf("ReadOnly %v: TornTail %+v; want a %v", ro, rep.TornTail, want)
		case rep.LastSeq != last && !ro:
			return fmt.Errorf("LastSeq %d after the cut, want %d", rep.LastSeq, last)
		}
		if ro {
			if e := sameFiles(t, dir, img); e != nil {
				return fmt.Errorf("ReadOnly open modified the log: %w", e)
			}
		}
	}
	// The cut is durable and final: a second open finds a clean log.
	l, err = Open(dir, manualOpts(bbSegSize, Strict))
	if err != nil {
		return fmt.Errorf("reopen after the cut: %w", err)
	}
	defer l.Close()
	if n, err := bbCheckServed(l, recs); err != nil || n != len(recs) {
		return fmt.Errorf("reopen after the cut: %d of %d records: %v", n, len(recs), err)
	}
	return nil
}

// --- Generators ---------------------------------------------------------

// bbCase is one kind of damage: a log shape, and how to damage it.
type bbCase struct {
	name   string // also the corpus directory's name
	what   string // the README's first line
	cfg    bbCfg
	corpus bool // kept in testdata/corrupt
	// damage returns the damaged image and what it must be reported as;
	// other builds another log, for foreign segments.
	damage func(t testing.TB, b *bbLog, other func() *bbLog) (dirImage, bbWant)
}

// segFrames returns the indexes of the frames of segment seg.
func (b *bbLog) segFrames(seg string) []int {
	var ks []int
	for k, f := range b.frames {
		if f.seg == seg {
			ks = append(ks, k)
		}
	}
	return ks
}

// records returns the indexes of the record frames (no marks) of seg.
func (b *bbLog) records(seg string) []int {
	var ks []int
	for _, k := range b.segFrames(seg) {
		if b.frames[k].typ.IsRecord() {
			ks = append(ks, k)
		}
	}
	return ks
}

// wantAt is the damage of frame k of a damaged segment dmg.
func (b *bbLog) wantAt(t testing.TB, dmg []byte, k int) bbWant {
	t.Helper()
	if k < 0 {
		t.Fatal("no frame there")
	}
	f := b.frames[k]
	return bbWant{seg: f.seg, off: f.off, reason: bbReasonAt(t, dmg, f.off), served: b.servedBefore(k)}
}

// wantSeg is damage found when opening segment seg (at offset off).
func (b *bbLog) wantSeg(seg string, off int64, r Reason) bbWant {
	served := len(b.recs)
	if ks := b.segFrames(seg); len(ks) > 0 {
		served = b.servedBefore(ks[0])
	}
	return bbWant{seg: seg, off: off, reason: r, served: served}
}

// bbReseal recomputes a 64-byte header's CRC (segment header or META).
func bbReseal(h []byte) {
	binary.LittleEndian.PutUint32(h[60:], crcframe.Checksum(0, h[:60]))
}

// bbSetLength rewrites the length field of the frame at off to n, and its
// CRC over whatever bytes the new length covers inside the segment, so that
// only the length check can reject it.
func bbSetLength(t testing.TB, seg []byte, off int64, n uint32) {
	binary.LittleEndian.PutUint32(seg[off+4:], n)
	end := min(int64(len(seg)), off+int64(crcframe.Size(int(min(n, crcframe.MaxPayload)))))
	binary.LittleEndian.PutUint32(seg[off:], crcframe.Checksum(bbSeed(t, seg), seg[off+4:end]))
}

func bbCases() []bbCase {
	small := bbCfg{nsegs: 3, extra: 3}
	pages := bbCfg{segSize: 3 * 4096, nsegs: 2, extra: 3}
	return []bbCase{{
		name: "bitflip-sealed", corpus: true, cfg: small,
		what: "one bit flipped in a record's payload in a sealed segment",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			ks := b.records(seg)
			k := ks[len(ks)/2]
			img[seg][b.frames[k].off+b.frames[k].size-9] ^= 0x10
			return img, b.wantAt(t, img[seg], k)
		},
	}, {
		name: "bitflip-newest", cfg: small,
		what: "one bit flipped in a record's header in the newest segment, proven durable by Close's mark",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[len(img)-2]
			ks := b.records(seg)
			k := ks[len(ks)-1]
			img[seg][b.frames[k].off+9] ^= 0x01 // the sequence
			return img, b.wantAt(t, img[seg], k)
		},
	}, {
		name: "zeroed-page", corpus: true, cfg: pages,
		what: "the middle 4 KiB page of a sealed 12 KiB segment zeroed",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[0]
			clear(img[seg][4096:8192])
			return img, b.wantAt(t, img[seg], b.frameAt(seg, 4096))
		},
	}, {
		name: "zeroed-sector", cfg: small,
		what: "a 512-byte sector of a sealed segment zeroed",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			clear(img[seg][1024:1536])
			return img, b.wantAt(t, img[seg], b.frameAt(seg, 1024))
		},
	}, {
		name: "duplicated-page", cfg: pages,
		what: "the middle page of a sealed segment written again over the next page",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[0]
			copy(img[seg][8192:], img[seg][4096:8192])
			return img, b.wantAt(t, img[seg], b.frameAt(seg, 8192))
		},
	}, {
		name: "duplicated-page-aligned", corpus: true,
		cfg:  bbCfg{segSize: 3 * 4096, nsegs: 2, extra: 3, fixed: 40, plain: true},
		what: "a page of 64-byte frames written again over the next page: valid frames of this segment at the wrong place",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[0]
			copy(img[seg][8192:], img[seg][4096:8192])
			k := b.frameAt(seg, 8192)
			if b.frames[k].off != 8192 {
				t.Fatalf("frame at %d, want one at 8192", b.frames[k].off)
			}
			w := b.wantAt(t, img[seg], k)
			if w.reason != ReasonSequenceViolation {
				t.Fatalf("the copied frame does not decode: %v", w.reason)
			}
			return img, w
		},
	}, {
		name: "short-sealed", corpus: true, cfg: small,
		what: "a sealed segment cut to half its size (os.Truncate)",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			img[seg] = img[seg][:2048]
			return img, b.wantSeg(seg, 2048, ReasonSegmentShort)
		},
	}, {
		name: "short-newest", cfg: small,
		what: "the newest segment cut inside its records",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[len(img)-2]
			ks := b.records(seg)
			cut := b.frames[ks[len(ks)/2]].off + 4
			img[seg] = img[seg][:cut]
			return img, b.wantSeg(seg, cut, ReasonSegmentShort)
		},
	}, {
		name: "short-newest-header", cfg: small,
		what: "the newest segment, which holds records, cut to its header",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[len(img)-2]
			img[seg] = img[seg][:segment.HeaderSize]
			return img, b.wantSeg(seg, segment.HeaderSize, ReasonSegmentShort)
		},
	}, {
		name: "short-newest-in-header", cfg: small,
		what: "the newest segment, which holds records, cut inside its header",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[len(img)-2]
			img[seg] = img[seg][:40]
			return img, b.wantSeg(seg, 0, ReasonIncompleteHeader)
		},
	}, {
		name: "foreign-middle", corpus: true, cfg: small,
		what: "a middle segment replaced by the same-numbered segment of another log",
		damage: func(t testing.TB, b *bbLog, other func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			img[seg] = bytes.Clone(other().img[seg])
			return img, b.wantSeg(seg, 0, ReasonForeignSegment)
		},
	}, {
		name: "foreign-newest", cfg: small,
		what: "a segment of another log dropped in as the newest",
		damage: func(t testing.TB, b *bbLog, other func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			names := img.segNames()
			n, _ := segment.ParseName(names[len(names)-1])
			o := other()
			img[segment.Name(n+1)] = bytes.Clone(o.img[o.img.segNames()[0]])
			return img, b.wantSeg(segment.Name(n+1), 0, ReasonForeignSegment)
		},
	}, {
		name: "stale-renamed", corpus: true, cfg: small,
		what: "an old segment of this log copied under the next number",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			names := img.segNames()
			n, _ := segment.ParseName(names[len(names)-1])
			img[segment.Name(n+1)] = bytes.Clone(img[names[0]])
			return img, b.wantSeg(segment.Name(n+1), 0, ReasonSegmentNumberMismatch)
		},
	}, {
		name: "stale-reused-middle", corpus: true, cfg: small,
		what: "a middle segment replaced by an old segment given its number (header rewritten, old frames kept)",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			names := img.segNames()
			stale := bytes.Clone(img[names[0]])
			copy(stale[32:48], img[names[1]][32:48]) // number and first seq
			bbReseal(stale)
			img[names[1]] = stale
			ks := b.segFrames(names[1])
			return img, bbWant{seg: names[1], off: segment.HeaderSize, reason: bbReasonAt(t, stale, segment.HeaderSize), served: b.servedBefore(ks[0])}
		},
	}, {
		name: "stale-reused-newest", cfg: small,
		what: "an old segment given the next number as the newest: its frames never validate; after a clean Close, damage",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			names := img.segNames()
			n, _ := segment.ParseName(names[len(names)-1])
			stale := bytes.Clone(img[names[0]])
			binary.LittleEndian.PutUint64(stale[32:], n+1)
			binary.LittleEndian.PutUint64(stale[40:], b.last+1)
			bbReseal(stale)
			img[segment.Name(n+1)] = stale
			// After a clean Close recorded in META nothing is a torn tail
			// (FORMAT.md §9.3): the stale frames are damage.
			return img, bbWant{seg: segment.Name(n + 1), off: segment.HeaderSize,
				reason: bbReasonAt(t, stale, segment.HeaderSize), served: len(b.recs)}
		},
	}, {
		name: "missing-middle", corpus: true, cfg: bbCfg{nsegs: 4, extra: 3},
		what: "a middle segment deleted",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			names := img.segNames()
			delete(img, names[1])
			w := b.wantSeg(names[2], 0, ReasonSegmentGap)
			w.served = b.servedBefore(b.segFrames(names[1])[0])
			return img, w
		},
	}, {
		name: "length-past-segment", corpus: true, cfg: small,
		what: "a record's length field pointing past the end of its sealed segment, its CRC recomputed",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			ks := b.records(seg)
			f := b.frames[ks[len(ks)*2/3]]
			bbSetLength(t, img[seg], f.off, uint32(int64(len(img[seg]))-f.off))
			w := b.wantAt(t, img[seg], ks[len(ks)*2/3])
			if w.reason != ReasonLengthOutOfBounds {
				t.Fatalf("reason %v", w.reason)
			}
			return img, w
		},
	}, {
		name: "length-over-max", cfg: small,
		what: "a record's length field at the format's maximum in the newest segment, its CRC recomputed",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[len(img)-2]
			ks := b.records(seg)
			bbSetLength(t, img[seg], b.frames[ks[0]].off, crcframe.MaxPayload)
			return img, b.wantAt(t, img[seg], ks[0])
		},
	}, {
		name: "garbage-after-end", cfg: small,
		what: "non-zero bytes in the unused tail of a sealed segment",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[0]
			ks := b.segFrames(seg)
			f := b.frames[ks[len(ks)-1]]
			end := f.off + f.size
			if end >= int64(len(img[seg])) {
				t.Fatal("the segment has no tail")
			}
			img[seg][len(img[seg])-3] = 0x5a
			return img, bbWant{seg: seg, off: end, reason: ReasonGarbageAfterEnd, served: b.servedBefore(ks[len(ks)-1] + 1)}
		},
	}, {
		name: "unsupported-segment-version", corpus: true, cfg: small,
		what: "a segment header of format version 3 (CRC valid): never repaired",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			seg := img.segNames()[1]
			binary.LittleEndian.PutUint16(img[seg][8:], 3)
			bbReseal(img[seg])
			return img, bbWant{unsupported: true, served: -1}
		},
	}, {
		name: "unsupported-meta-version", cfg: small,
		what: "META of format version 3 (CRC valid): never repaired",
		damage: func(t testing.TB, b *bbLog, _ func() *bbLog) (dirImage, bbWant) {
			img := b.img.clone()
			binary.LittleEndian.PutUint16(img[metaName][8:], 3)
			bbReseal(img[metaName])
			return img, bbWant{unsupported: true, served: -1}
		},
	}}
}

// TestBadBytesGenerators builds a fresh log for every kind of damage,
// damages it and checks the verdict (bbCheck).
func TestBadBytesGenerators(t *testing.T) { runBadBytesGenerators(t, fastTempDir(t)) }

// TestBadBytesGeneratorsRecycled runs the generators over logs whose
// segments are all recycled files (FORMAT.md §9.7), with the same
// verdicts: the stale bytes after each segment's frames change none. Two
// kinds of damage differ by the format's rules, not by chance:
//
//   - garbage-after-end writes a byte after a sealed segment's seal, where
//     a recycled segment holds stale bytes that nothing reads: no damage
//     at all, and the log opens with every record;
//   - stale-reused-* moves the oldest segment of another log into the
//     middle (or the end): a recycled oldest segment keeps its flag prev
//     sealed (its predecessor went to the pool), which now names a seal
//     the segment before it does not have, so the damage is found there
//     first (missing seal) instead of at the moved segment's first frame;
//     either way ErrCorrupt, and no frame of the moved file is served.
func TestBadBytesGeneratorsRecycled(t *testing.T) {
	for _, c := range bbCases() {
		c.cfg.recycle = true
		t.Run(c.name, func(t *testing.T) {
			b := bbBuild(t, c.cfg)
			for _, s := range b.img.segNames() {
				if h, err := segment.DecodeHeader(b.img[s]); err != nil || h.Flags&segment.FlagRecycled == 0 {
					t.Fatalf("segment %s is not recycled (%v)", s, err)
				}
			}
			other := func() *bbLog { return bbBuild(t, c.cfg) }
			img, want := c.damage(t, b, other)
			dir := writeImage(t, fastTempDir(t), img)
			switch c.name {
			case "garbage-after-end":
				bbOpensWhole(t, dir, b)
				return
			case "stale-reused-middle", "stale-reused-newest":
				bbCorruptNoStale(t, dir, b)
				return
			}
			if err := bbCheck(t, dir, img, b.recs, want); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
		})
	}
}

// bbOpensWhole requires that the log in dir opens, under both policies
// and ReadOnly, with every record of b, byte for byte.
func bbOpensWhole(t *testing.T, dir string, b *bbLog) {
	t.Helper()
	for _, o := range []*Options{manualOpts(bbSegSize, Strict), readOnlyOpts(bbSegSize), manualOpts(bbSegSize, TruncatePartial)} {
		l, err := Open(dir, o)
		if err != nil {
			t.Fatalf("Open(%+v): %v", *o, err)
		}
		n, err := bbCheckServed(l, b.recs)
		l.Close()
		if err != nil || n != len(b.recs) {
			t.Fatalf("served %d of %d records: %v", n, len(b.recs), err)
		}
	}
}

// bbCorruptNoStale requires that a writable Open of dir fails with
// ErrCorrupt under both policies and that a ReadOnly open serves only
// records of b, byte for byte.
func bbCorruptNoStale(t *testing.T, dir string, b *bbLog) {
	t.Helper()
	for _, p := range []RepairPolicy{Strict, TruncatePartial} {
		if l, err := Open(dir, manualOpts(bbSegSize, p)); !errors.Is(err, ErrCorrupt) {
			if l != nil {
				l.Close()
			}
			t.Fatalf("%v: Open = %v, want ErrCorrupt", p, err)
		}
	}
	l, err := Open(dir, readOnlyOpts(bbSegSize))
	if err != nil {
		t.Fatalf("ReadOnly Open: %v", err)
	}
	defer l.Close()
	if _, err := bbCheckServed(l, b.recs); err != nil {
		t.Fatalf("ReadOnly: %v", err)
	}
}

// TestBadBytesXFS checks the generated damage and the corpus on a
// loop-mounted xfs: the damaged images are written, opened and recovered
// there (the logs are built on tmpfs).
func TestBadBytesXFS(t *testing.T) {
	base := mountLoopFS(t, "xfs", 300)
	t.Run("generators", func(t *testing.T) { runBadBytesGenerators(t, base) })
	t.Run("corpus", func(t *testing.T) { runBadBytesCorpus(t, base) })
}

// runBadBytesGenerators runs TestBadBytesGenerators with the damaged images
// under base.
func runBadBytesGenerators(t *testing.T, base string) {
	for _, c := range bbCases() {
		t.Run(c.name, func(t *testing.T) {
			b := bbBuild(t, c.cfg)
			other := func() *bbLog { return bbBuild(t, c.cfg) }
			img, want := c.damage(t, b, other)
			dir := writeImage(t, base, img)
			if err := bbCheck(t, dir, img, b.recs, want); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
		})
	}
}

// --- Corpus ---------------------------------------------------------------

// bbCorpusDir holds one small damaged log directory per corpus case, each
// with a README: what was damaged, the expected verdict, and the records
// (payload shape and sequences) so that a ReadOnly open can be checked byte
// for byte. `go test ./mmapwal -run TestBadBytesCorpus -update` rewrites it
// from the generators (with new log identities); otherwise the fixed bytes
// are checked, so that a change in detection cannot hide behind a change in
// the writer.
const bbCorpusDir = "testdata/corrupt"

// bbRanges writes sorted sequences as ranges: "1-5,8,10-12".
func bbRanges(recs map[uint64][]byte) string {
	seqs := make([]uint64, 0, len(recs))
	for s := range recs {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var parts []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.FormatUint(seqs[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func bbParseRanges(s string) ([]uint64, error) {
	var out []uint64
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil {
				return nil, err
			}
		}
		for s := a; s <= b; s++ {
			out = append(out, s)
		}
	}
	return out, nil
}

// bbCorpusEntry is a corpus directory's README.
type bbCorpusEntry struct {
	what  string
	want  bbWant
	cfg   bbCfg
	seqs  []uint64
	files dirImage
}

func (e bbCorpusEntry) recs() map[uint64][]byte {
	m := make(map[uint64][]byte, len(e.seqs))
	for _, s := range e.seqs {
		m[s] = e.cfg.payload(s)
	}
	return m
}

func bbReadCorpus(t testing.TB, dir string) bbCorpusEntry {
	t.Helper()
	img := snapshotDir(t, dir)
	readme, ok := img["README"]
	if !ok {
		t.Fatalf("%s: no README", dir)
	}
	delete(img, "README")
	e := bbCorpusEntry{files: img}
	lines := strings.Split(strings.TrimSpace(string(readme)), "\n")
	e.what = lines[0]
	for _, line := range lines[1:] {
		k, v, _ := strings.Cut(line, ": ")
		var err error
		switch k {
		case "expect":
			e.want, err = bbParseWant(v)
		case "payload":
			e.cfg.fixed, err = strconv.Atoi(v)
		case "seqs":
			e.seqs, err = bbParseRanges(v)
		case "served":
			e.want.served, err = strconv.Atoi(v)
		}
		if err != nil {
			t.Fatalf("%s README %q: %v", dir, line, err)
		}
	}
	if len(e.seqs) == 0 {
		t.Fatalf("%s: README lists no records", dir)
	}
	return e
}

func bbWriteCorpus(t testing.TB, dir string, c bbCase, img dirImage, b *bbLog, want bbWant) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range img {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readme := fmt.Sprintf("%s\nexpect: %v\npayload: %d\nseqs: %s\nserved: %d\n", c.what, want, c.cfg.fixed, bbRanges(b.recs), want.served)
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte(readme), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadBytesCorpus checks the checked-in damaged logs of testdata/corrupt
// (or, with -update, writes them from the generators first).
func TestBadBytesCorpus(t *testing.T) { runBadBytesCorpus(t, fastTempDir(t)) }

// runBadBytesCorpus runs TestBadBytesCorpus with the images under base.
func runBadBytesCorpus(t *testing.T, base string) {
	if bbUpdating() {
		for _, c := range bbCases() {
			if !c.corpus {
				continue
			}
			b := bbBuild(t, c.cfg)
			img, want := c.damage(t, b, func() *bbLog { return bbBuild(t, c.cfg) })
			// The writer is format version 2: its entries are v2-*; the
			// entries without the prefix were written by version 1 and
			// are never regenerated.
			bbWriteCorpus(t, filepath.Join(bbCorpusDir, "v2-"+c.name), c, img, b, want)
		}
	}
	ents, err := os.ReadDir(bbCorpusDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		n++
		t.Run(ent.Name(), func(t *testing.T) {
			e := bbReadCorpus(t, filepath.Join(bbCorpusDir, ent.Name()))
			dir := writeImage(t, base, e.files)
			if err := bbCheck(t, dir, e.files, e.recs(), e.want); err != nil {
				t.Fatalf("%s (%s): %v", ent.Name(), e.what, err)
			}
		})
	}
	if n < 5 {
		t.Fatalf("%d corpus entries in %s", n, bbCorpusDir)
	}
}
