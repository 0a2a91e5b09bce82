package mmapwal

// Fuzz targets of recovery (issue 5 §3):
//
//   - FuzzOpen: arbitrary directory contents (META, segments, a quarantine
//     file, a stray file), decoded from the input;
//   - FuzzRecover: a valid small log, built once per process, with
//     arbitrary byte writes and truncations applied to its files.
//
// For every input, Open under ReadOnly, Strict and TruncatePartial never
// panics and fails only with ErrCorrupt or ErrUnsupportedVersion; a log
// that opens serves, through iterators, Read, ReadInto and View, only
// records whose bytes are exactly what was appended at that sequence; and a
// log that TruncatePartial repaired takes an append, closes, and reopens
// under Strict with the same records: a repair is final.
//
// Both are seeded from the bad-bytes generators (badbytes_test.go) and use
// 4 KiB segments, so that one input takes a few milliseconds.
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 30s ./mmapwal
//	go test -run '^$' -fuzz FuzzRecover -fuzztime 30s ./mmapwal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/mmapwal/mmapwal/segment"
)

// fzNames are the files a FuzzOpen input can hold, by the id byte.
var fzNames = [...]string{
	metaName,
	metaTmpName,
	segment.Name(1),
	segment.Name(2),
	segment.Name(3),
	segment.Name(4),
	segment.QuarantineName(segment.Name(2), segment.HeaderSize),
	"stray",
}

// A FuzzOpen input is a list of files, each: an id byte (the name, its
// index in fzNames), the file's size (16 bits, little endian), a count of
// patches (a byte), then the patches: an offset (16 bits), a length (a
// byte) and that many bytes, written over a file of zeros. Segments are
// mostly zeros, so a log of a few segments encodes in a few hundred bytes,
// and the fuzzer's mutations (and minimization) stay cheap.

// fzEncode packs files into a FuzzOpen input.
func fzEncode(files map[string][]byte) []byte {
	var out []byte
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		id := -1
		for i, n := range fzNames {
			if n == name {
				id = i
			}
		}
		b := files[name]
		if id < 0 || len(b) > 0xffff {
			continue
		}
		// The non-zero runs, joined across short gaps, at most 255 bytes.
		var patches [][2]int
		for i := 0; i < len(b); {
			if b[i] == 0 {
				i++
				continue
			}
			j, last := i, i
			for j < len(b) && j-i < 255 && j-last < 8 {
				if b[j] != 0 {
					last = j
				}
				j++
			}
			patches = append(patches, [2]int{i, last + 1})
			i = last + 1
		}
		for len(patches) > 0 {
			chunk := patches[:min(len(patches), 255)]
			patches = patches[len(chunk):]
			out = append(out, byte(id))
			out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
			out = append(out, byte(len(chunk)))
			for _, p := range chunk {
				out = binary.LittleEndian.AppendUint16(out, uint16(p[0]))
				out = append(out, byte(p[1]-p[0]))
				out = append(out, b[p[0]:p[1]]...)
			}
		}
		if len(b) == 0 || bytes.Count(b, []byte{0}) == len(b) {
			out = append(out, byte(id))
			out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
			out = append(out, 0)
		}
	}
	return out
}

// fzDecode unpacks a FuzzOpen input; whatever is cut short is ignored. A
// file listed again keeps its bytes and takes the new size and patches.
func fzDecode(in []byte) map[string][]byte {
	files := map[string][]byte{}
	for len(in) >= 4 {
		name := fzNames[int(in[0])%len(fzNames)]
		size := int(binary.LittleEndian.Uint16(in[1:]))
		n := int(in[3])
		in = in[4:]
		b := files[name]
		if len(b) != size {
			nb := make([]byte, size)
			copy(nb, b)
			b = nb
		}
		for ; n > 0 && len(in) >= 3; n-- {
			off, k := int(binary.LittleEndian.Uint16(in)), int(in[2])
			in = in[3:]
			k = min(k, len(in))
			if off < len(b) {
				copy(b[off:], in[:k])
			}
			in = in[k:]
		}
		files[name] = b
	}
	return files
}

// fzPayloadOK reports whether b is a record the generators can have written
// at seq: bbPayload, bbPayloadN of its length, or zeros (bbCfg.zeros).
func fzPayloadOK(seq uint64, b []byte) bool {
	return bytes.Equal(b, bbPayload(seq)) || bytes.Equal(b, bbPayloadN(seq, len(b))) ||
		(len(b) == 200+int(seq%64) && bytes.Count(b, []byte{0}) == len(b))
}

// fzServed reads every record l serves — iterator, Read, ReadInto, View —
// and checks each with ok. It returns the records.
func fzServed(l *Log, ok func(uint64, []byte) bool) (map[uint64][]byte, error) {
	got := map[uint64][]byte{}
	it, err := l.NewIterator(0)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	prev := uint64(0)
	for it.Next() {
		seq := it.Seq()
		if seq <= prev || seq < l.FirstSeq() || seq > l.LastSeq() {
			return nil, fmt.Errorf("iterator: record %d after %d (log holds %d..%d)", seq, prev, l.FirstSeq(), l.LastSeq())
		}
		prev = seq
		if !ok(seq, it.Value()) {
			return nil, fmt.Errorf("iterator: record %d: %d bytes that were never appended there", seq, len(it.Value()))
		}
		got[seq] = bytes.Clone(it.Value())
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterator: %w", err)
	}
	var buf []byte
	for seq, want := range got {
		b, err := l.Read(seq)
		if err != nil || !bytes.Equal(b, want) {
			return nil, fmt.Errorf("Read(%d): %v", seq, err)
		}
		if buf, err = l.ReadInto(buf[:0], seq); err != nil || !bytes.Equal(buf, want) {
			return nil, fmt.Errorf("ReadInto(%d): %v", seq, err)
		}
		err = l.View(seq, func(b []byte) error {
			if !bytes.Equal(b, want) {
				return errors.New("other bytes")
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("View(%d): %w", seq, err)
		}
	}
	// Sequences the log does not hold are not found.
	for _, seq := range []uint64{0, l.FirstSeq() - min(l.FirstSeq(), 1), l.LastSeq() + 1, prev + 1} {
		if _, held := got[seq]; held {
			continue
		}
		if b, err := l.Read(seq); err == nil {
			if !ok(seq, b) {
				return nil, fmt.Errorf("Read(%d) outside the iterated records: bytes never appended", seq)
			}
			return nil, fmt.Errorf("Read(%d) serves a record the iterator did not", seq)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("Read(%d): %v, want ErrNotFound", seq, err)
		}
	}
	return got, nil
}

// fzOpenErr checks that an Open error is one a damaged log may give.
func fzOpenErr(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupportedVersion) {
		return nil
	}
	return fmt.Errorf("Open: %v (%T); want ErrCorrupt or ErrUnsupportedVersion", err, err)
}

// fzOpenAll runs the checks of both fuzz targets on the log in dir: ReadOnly,
// Strict, TruncatePartial, then an append, Close, and a Strict reopen.
func fzOpenAll(dir string, ok func(uint64, []byte) bool) error {
	opts := func(p RepairPolicy, ro bool) *Options {
		return &Options{SegmentSize: bbSegSize, Durability: SyncManual, Repair: p, ReadOnly: ro}
	}
	// Open, then Verify: what a full scan at Open finds (openVerified;
	// sealed segments are verified on first read).
	for _, o := range []*Options{opts(TruncatePartial, true), opts(Strict, false)} {
		l, _, err := openVerified(dir, o, ok)
		if err != nil {
			if e := fzOpenErr(err); e != nil {
				return fmt.Errorf("ReadOnly %v, policy %d: %w", o.ReadOnly, o.Repair, e)
			}
			continue
		}
		_, err = fzServed(l, ok)
		cerr := l.Close()
		if err != nil {
			return fmt.Errorf("ReadOnly %v, policy %d: %w", o.ReadOnly, o.Repair, err)
		}
		if cerr != nil {
			return fmt.Errorf("ReadOnly %v, policy %d: Close: %w", o.ReadOnly, o.Repair, cerr)
		}
	}
	l, _, err := openVerified(dir, opts(TruncatePartial, false), ok)
	if err != nil {
		return fzOpenErr(err)
	}
	got, err := fzServed(l, ok)
	if err != nil {
		l.Close()
		return fmt.Errorf("TruncatePartial: %w", err)
	}
	next := l.LastSeq() + 1
	p := bbPayload(next)
	if seq, err := l.Append(p); err != nil || seq != next {
		l.Close()
		return fmt.Errorf("Append after recovery: %d, %v", seq, err)
	}
	got[next] = p
	if err := l.Close(); err != nil {
		return fmt.Errorf("Close after recovery: %w", err)
	}
	l, _, err = openVerified(dir, opts(Strict, false), nil)
	if err != nil {
		return fmt.Errorf("Strict reopen after a repair and a clean Close: %w", err)
	}
	defer l.Close()
	again, err := fzServed(l, func(seq uint64, b []byte) bool {
		return ok(seq, b) || seq == next && bytes.Equal(b, p)
	})
	if err != nil {
		return fmt.Errorf("Strict reopen: %w", err)
	}
	if len(again) != len(got) {
		return fmt.Errorf("Strict reopen: %d records, %d before", len(again), len(got))
	}
	for seq, b := range got {
		if !bytes.Equal(again[seq], b) {
			return fmt.Errorf("Strict reopen: record %d changed", seq)
		}
	}
	return nil
}

// fzSeedImages returns small valid and damaged logs from the generators,
// with payloads of zeros so that they encode small.
func fzSeedImages(t testing.TB) []dirImage {
	small := bbCfg{nsegs: 2, extra: 2, zeros: true}
	b := bbBuild(t, small)
	imgs := []dirImage{b.img}
	for _, c := range bbCases() {
		if c.cfg.segSize != 0 || c.cfg.fixed != 0 {
			continue // keep the seeds small: 4 KiB segments
		}
		c.cfg.zeros = true
		cb := bbBuild(t, c.cfg)
		img, _ := c.damage(t, cb, func() *bbLog { return bbBuild(t, c.cfg) })
		imgs = append(imgs, img)
	}
	// A torn tail and a prepared segment: a crash image.
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{SegmentSize: bbSegSize, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 24; seq++ {
		if _, err := l.Append(small.payload(seq)); err != nil {
			t.Fatal(err)
		}
		if seq == 20 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitPrepared(l)
	crash := snapshotDir(t, dir)
	l.Close()
	imgs = append(imgs, crash)
	torn := crash.clone()
	names := torn.segNames()
	last := names[len(names)-2]
	frames := bbParse(t, crash)
	for _, f := range frames {
		if f.seg == last && f.seq == 23 {
			clear(torn[last][f.off+3:])
		}
	}
	imgs = append(imgs, torn)
	return imgs
}

// fzQuickMinimize caps the minimization of each new input at 3 s, unless
// -fuzzminimizetime was given. The fuzzer minimizes every input that finds
// new coverage, for up to a minute by default; at a few milliseconds per
// run (several opens of a log) that stalls a 30 s session after its first
// find.
func fzQuickMinimize() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		flag.Set("test.fuzzminimizetime", "3s")
	}
}

func FuzzOpen(f *testing.F) {
	fzQuickMinimize()
	for _, img := range fzSeedImages(f) {
		in := fzEncode(img)
		if got := fzDecode(in); len(got) != len(img) {
			f.Fatalf("encoding: %d files, decoded %d", len(img), len(got))
		} else {
			for name, b := range img {
				if !bytes.Equal(got[name], b) {
					f.Fatalf("encoding: %s does not decode to itself", name)
				}
			}
		}
		f.Add(in)
	}
	f.Add([]byte{})
	f.Add(fzEncode(map[string][]byte{metaName: make([]byte, metaSize)}))
	base := fastTempDir(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := writeImage(t, base, fzDecode(in))
		defer os.RemoveAll(dir)
		if err := fzOpenAll(dir, fzPayloadOK); err != nil {
			t.Fatal(err)
		}
	})
}

// fzBase is a log FuzzRecover damages: its files and its records.
type fzBase struct {
	img   dirImage
	names []string // img's file names, sorted
	recs  map[uint64][]byte
}

func FuzzRecover(f *testing.F) {
	fzQuickMinimize()
	// Base 0: a cleanly closed log of three segments (batches, a gap, a
	// reservation). Base 1: the same kind of log as a crash left it: an
	// unsynced tail and the prepared next segment.
	closed := bbBuild(f, bbCfg{nsegs: 3, extra: 2})
	dir := fastTempDir(f)
	l, err := Open(dir, &Options{SegmentSize: bbSegSize, Durability: SyncManual})
	if err != nil {
		f.Fatal(err)
	}
	crashRecs := map[uint64][]byte{}
	for seq := uint64(1); len(l.segments()) < 2 || seq%8 != 0; seq++ {
		p := bbPayload(seq)
		if _, err := l.Append(p); err != nil {
			f.Fatal(err)
		}
		crashRecs[seq] = p
		if seq%10 == 0 {
			if err := l.Sync(); err != nil {
				f.Fatal(err)
			}
		}
	}
	waitPrepared(l)
	crash := snapshotDir(f, dir)
	l.Close()
	bases := []fzBase{{img: closed.img, recs: closed.recs}, {img: crash, recs: crashRecs}}
	for i := range bases {
		for name := range bases[i].img {
			bases[i].names = append(bases[i].names, name)
		}
		sort.Strings(bases[i].names)
	}

	// Seeds: (file, offset) pairs at the places that matter — segment
	// headers, the first frames, META — and a truncation.
	f.Add([]byte{0})
	f.Add([]byte{1})
	for b := range 2 {
		for file := range 4 {
			for _, off := range []uint16{0, 8, 33, 60, 64, 68, 72, 80, 84, 90, 200, 1000, 4000} {
				f.Add([]byte{byte(b), byte(file), byte(off), byte(off >> 8), 0x5a})
				f.Add([]byte{byte(b) | 4, byte(file), byte(off), byte(off >> 8), 0})
			}
			f.Add([]byte{byte(b) | 2, 0x80 | byte(file), 0x00, 0x08, 0})
		}
	}
	work := fastTempDir(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		base := bases[int(in[0])%len(bases)]
		files := base.img.clone()
		// Each 4-byte tuple: file, offset (16 bits), value. A file byte
		// with the high bit set truncates the file to the offset instead.
		for m := in[1:]; len(m) >= 4; m = m[4:] {
			name := base.names[int(m[0]&0x7f)%len(base.names)]
			data := files[name]
			off := int(binary.LittleEndian.Uint16(m[1:]))
			switch {
			case m[0]&0x80 != 0:
				if off < len(data) {
					files[name] = data[:off]
				}
			case len(data) > 0:
				data[off%len(data)] = m[3]
			}
		}
		dir := writeImage(t, work, files)
		defer os.RemoveAll(dir)
		ok := func(seq uint64, b []byte) bool {
			want, held := base.recs[seq]
			return held && bytes.Equal(b, want)
		}
		if err := fzOpenAll(dir, ok); err != nil {
			t.Fatal(err)
		}
	})
}
