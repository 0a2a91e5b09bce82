package segment

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// headerLike fills b (a region starting at absolute offset base of a
// segment of size bytes) with words that read as frame headers, the
// pattern of TestRedteam10StaleTailScanCost: every third aligned word
// claims a frame up to near the end of the segment (or, with randomLen,
// to a random end within it), the words between carry type full with zero
// reserved bytes, so that the word two before passes plausible too.
func headerLike(rng *rand.Rand, b []byte, base, size int64, randomLen bool) {
	for i := 0; i+8 <= len(b); i += 8 {
		a := base + int64(i)
		binary.LittleEndian.PutUint32(b[i:], rng.Uint32())
		v := uint32(1)
		if (a/8)%3 == 0 {
			if l := size - a - 2*crcframe.HeaderSize; l > 0 {
				v = uint32(l) &^ 7
				if randomLen {
					v = uint32(rng.Int64N(l)) &^ 7
				}
			}
		}
		binary.LittleEndian.PutUint32(b[i+4:], v)
	}
}

// naiveFrame is the search as it was: plausible, then Decode.
func naiveFrame(data []byte, off int64, seed uint32, maxPayload int) (crcframe.Header, []byte, int, bool) {
	if !plausible(data[off:]) {
		return crcframe.Header{}, nil, 0, false
	}
	h, p, n, err := crcframe.Decode(data[off:], seed, maxPayload)
	return h, p, n, err == nil
}

// hideFrames encodes valid frames of seed into data at the given offsets
// (later ones may overwrite earlier ones' bytes, or sit inside their
// payloads) with header-like payloads, and returns where they are.
func hideFrames(tb testing.TB, rng *rand.Rand, data []byte, seed uint32, offs []int64) {
	tb.Helper()
	for _, o := range offs {
		room := int64(len(data)) - o - crcframe.HeaderSize
		pl := make([]byte, rng.Int64N(min(room, 5000)+1))
		headerLike(rng, pl[:len(pl)&^7], o+crcframe.HeaderSize, int64(len(data)), false)
		if len(pl) >= 64 && rng.IntN(2) == 0 { // a valid frame of the seed inside the payload
			at := 8 * rng.IntN((len(pl)-32)/8)
			in := make([]byte, rng.IntN(len(pl)-at-crcframe.HeaderSize-7))
			if _, err := crcframe.Encode(pl[at:], seed, crcframe.Header{Seq: 7, Type: crcframe.Full}, in); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := crcframe.Encode(data[o:], seed, crcframe.Header{Seq: 1 + rng.Uint64N(1e6), Durable: rng.Uint32(), Type: crcframe.Type(1 + rng.IntN(7))}, pl); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestSeedSearchSameVerdict: the search finds exactly the frames the
// naive search (plausible, then Decode at every aligned offset) finds, with
// the same header, payload and size, on random and adversarial
// (header-like) bytes with valid frames of the seed hidden at several
// offsets (at the start, inside another frame's payload, at the end),
// whether the Prefix is built at the first candidate, midway or never.
func TestSeedSearchSameVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	seed := crcframe.Seed([16]byte{9, 9}, 4)
	for c := range 24 {
		size := int64(8 * (200 + rng.IntN(4000)))
		data := make([]byte, size)
		switch c % 3 {
		case 0:
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
		case 1:
			headerLike(rng, data, 0, size, false)
		case 2:
			headerLike(rng, data, 0, size, true)
		}
		from := 8 * rng.Int64N(size/16)
		offs := []int64{from, from + 8, from + 8*rng.Int64N((size-from)/8-8), size - 32, size - 24}
		offs = append(offs, offs[2]+8*(1+rng.Int64N(4))) // inside the frame before
		hideFrames(t, rng, data, seed, offs)
		if c%4 == 3 { // frames back to back after from (valid frames after a torn one), some at every window's edge
			fixed := c%8 == 3
			for o := from + 8; ; {
				pl := make([]byte, 8, 41)
				if !fixed {
					pl = pl[:rng.IntN(41)]
				}
				n, err := crcframe.Encode(data[o:], seed, crcframe.Header{Seq: uint64(o), Type: crcframe.Full}, pl)
				if err != nil {
					break
				}
				o += int64(n)
			}
		}
		maxPayload := []int{int(size), 4000, 1 << 30}[rng.IntN(3)]
		for _, budget := range []int64{0, size / 3, 2*size + searchSlack} {
			q := seedSearch{data: data, seed: seed, maxPayload: maxPayload, budget: budget}
			found := 0
			for off := from; off+crcframe.HeaderSize <= size; off += 8 {
				h1, p1, n1, ok1 := naiveFrame(data, off, seed, maxPayload)
				h2, p2, n2, ok2 := q.frame(off)
				if h1 != h2 || string(p1) != string(p2) || n1 != n2 || ok1 != ok2 {
					t.Fatalf("case %d, budget %d, offset %d: naive %v %d %v, search %v %d %v", c, budget, off, h1, n1, ok1, h2, n2, ok2)
				}
				if ok1 {
					found++
				}
			}
			if found < 2 {
				t.Fatalf("case %d: found %d frames: the hidden ones are not valid", c, found)
			}
			if budget == 0 && q.p == nil {
				t.Fatalf("case %d: no Prefix at budget 0", c)
			}
		}
		// Offsets asked with gaps (the fresh segment's read-ahead skips
		// zero words), across windows.
		q := seedSearch{data: data, seed: seed, maxPayload: maxPayload}
		for off := from; off+crcframe.HeaderSize <= size; off += 8 * (1 + rng.Int64N(700)) {
			h1, p1, n1, ok1 := naiveFrame(data, off, seed, maxPayload)
			h2, p2, n2, ok2 := q.frame(off)
			if h1 != h2 || string(p1) != string(p2) || n1 != n2 || ok1 != ok2 {
				t.Fatalf("case %d, gaps, offset %d: naive %v %d %v, search %v %d %v", c, off, h1, n1, ok1, h2, n2, ok2)
			}
		}
	}
}

// recycledImage is a recycled segment (version 2, FlagRecycled) of size
// bytes: frames 1..k of the seed from the start, then header-like stale
// bytes, with frames of the seed hidden at offs after a torn frame.
func recycledImage(tb testing.TB, rng *rand.Rand, size int64, offs []int64) (path string, torn int64) {
	tb.Helper()
	logID := [16]byte{7, 7, 7}
	h := Header{Version: 2, Flags: FlagRecycled, LogID: logID, Number: 5, FirstSeq: 100, Size: size}
	img := make([]byte, size)
	headerLike(rng, img, 0, size, false)
	EncodeHeader(img, h)
	seed := crcframe.Seed(logID, 5)
	off := int64(HeaderSize)
	for i := range 3 {
		n, err := crcframe.Encode(img[off:], seed, crcframe.Header{Seq: uint64(100 + i), Type: crcframe.Full}, make([]byte, 40))
		if err != nil {
			tb.Fatal(err)
		}
		off += int64(n)
	}
	torn = off
	img[off+30] ^= 1 // a torn frame: its checksum fails
	if _, err := crcframe.Encode(img[off:], seed, crcframe.Header{Seq: 103, Type: crcframe.Full}, make([]byte, 40)); err != nil {
		tb.Fatal(err)
	}
	img[off+30] ^= 1
	hideFrames(tb, rng, img, seed, offs)
	path = filepath.Join(tb.TempDir(), Name(5))
	if err := os.WriteFile(path, img, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, torn
}

// TestSeedSearchScanRecycled: Scan's verdict on a recycled segment with
// header-like stale bytes (ValidAfter, DurableAfter, Dirty) and LiveEnd
// are what the naive search gives, with frames of the seed after the torn
// one and without.
func TestSeedSearchScanRecycled(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const size = 1 << 18
	for _, offs := range [][]int64{nil, {4096}, {4096, 4104, 1 << 17, size - 32}, {size - 24}} {
		path, torn := recycledImage(t, rng, size, offs)
		f, err := Open(path, 5, [16]byte{7, 7, 7}, false)
		if err != nil {
			t.Fatal(err)
		}
		end := f.Scan(99, size, func(int64, crcframe.Header, []byte) {})
		var valid bool
		var durable uint32
		dirty := min(torn+int64(claimedSize(f.data[torn:], size)), size)
		for off := torn + 8; off+crcframe.HeaderSize <= size; off += 8 {
			if h, _, n, ok := naiveFrame(f.data, off, f.seed, size); ok {
				valid, durable, dirty = true, max(durable, h.Durable), max(dirty, off+int64(n))
			}
		}
		if end.Bad != torn || end.Reason != crcframe.ChecksumMismatch || end.ValidAfter != valid || end.DurableAfter != durable || end.Dirty != dirty {
			t.Fatalf("offs %v: End %+v; naive: valid %v durable %d dirty %d", offs, end, valid, durable, dirty)
		}
		if valid != (len(offs) > 0) {
			t.Fatalf("offs %v: the hidden frames are not found", offs)
		}
		live, err := f.LiveEnd(torn, size)
		if err != nil {
			t.Fatal(err)
		}
		want := torn + crcframe.HeaderSize
		for off := torn; off+crcframe.HeaderSize <= size; off += 8 {
			if _, _, n, ok := naiveFrame(f.data, off, f.seed, size); ok {
				want = max(want, off+int64(n))
			}
		}
		if live != want {
			t.Fatalf("offs %v: LiveEnd %d, naive %d", offs, live, want)
		}
		f.Close()
	}
}

// BenchmarkSeedSearch64MiB: the search of a 64 MiB region of header-like
// bytes (a third of the words claim frames to the segment's end, or to
// random ends), as readAheadRecycled runs it.
func BenchmarkSeedSearch64MiB(b *testing.B) {
	const size = 64 << 20
	for _, randomLen := range []bool{false, true} {
		name := "toEnd"
		if randomLen {
			name = "randomEnds"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(15, 16))
			data := make([]byte, size)
			headerLike(rng, data, 0, size, randomLen)
			seed := crcframe.Seed([16]byte{1}, 2)
			b.SetBytes(size)
			for b.Loop() {
				q := seedSearch{data: data, seed: seed, maxPayload: size, budget: 2*size + searchSlack}
				for off := int64(HeaderSize); off+crcframe.HeaderSize <= size; off += 8 {
					q.frame(off)
				}
			}
		})
	}
}
