package crcframe

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/crc32"
)

// prefixModes are the multiplies a Prefix can use here: the portable one
// always, PCLMULQDQ and CRC32 where the CPU has them.
func prefixModes() []bool {
	if haveCRC3 {
		return []bool{false, true}
	}
	return []bool{false}
}

// TestPrefixArithmetic checks the polynomial helpers against their
// definitions: x·x^-1 = 1, x^a·x^b = x^(a+b), shift by bytes = CRC of zero
// bytes, and mulHW = mulmod·x^33.
func TestPrefixArithmetic(t *testing.T) {
	if got := mulmod(xPow(1), xPow(-1)); got != 1<<31 {
		t.Fatalf("x·x^-1 = %#x", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b := rng.Int64N(1<<40)-1<<39, rng.Int64N(1<<40)-1<<39
		if mulmod(xPow(a), xPow(b)) != xPow(a+b) {
			t.Fatalf("x^%d·x^%d != x^%d", a, b, a+b)
		}
		r, n := rng.Uint32(), rng.IntN(300)
		want := ^crc32.Update(^r, castagnoli, make([]byte, n))
		if got := mulmod(r, xPow(8*int64(n))); got != want {
			t.Fatalf("shift(%#x, %d) = %#x, want %#x", r, n, got, want)
		}
		if haveCRC3 {
			k := rng.Uint32()
			if got, want := mulHW(r, k), mulmod(mulmod(r, k), xPow(33)); got != want {
				t.Fatalf("mulHW(%#x, %#x) = %#x, want %#x", r, k, got, want)
			}
		}
	}
}

// TestPrefixShiftLevels checks shift for word counts up to 2^28 (three
// levels of tables) against the direct power.
func TestPrefixShiftLevels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, hw := range prefixModes() {
		p := &Prefix{hw: hw}
		p.tables(1 << 28)
		if len(p.lvl) != 3 {
			t.Fatalf("%d levels", len(p.lvl))
		}
		ms := []int{1, 2, 3, 4095, 4096, 4097, 1 << 24, 1<<24 + 1, 1<<28 - 1, 1 << 28}
		for range 3000 {
			ms = append(ms, 1+rng.IntN(1<<28))
		}
		for _, m := range ms {
			d := rng.Uint32()
			if got, want := p.shift(d, m), mulmod(d, xPow(64*int64(m)-32)); got != want {
				t.Fatalf("hw %v: shift(%#x, %d) = %#x, want %#x", hw, d, m, got, want)
			}
		}
	}
}

// seedsForTest are seeds the log uses (Seed of log identities and segment
// numbers) and the extremes.
func seedsForTest(rng *rand.Rand) []uint32 {
	seeds := []uint32{0, 0xffffffff, 1}
	for i := range 6 {
		var id [16]byte
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		seeds = append(seeds, Seed(id, uint64(i+1)), Seed(id, rng.Uint64()))
	}
	return seeds
}

// TestPrefixFrameChecksum is the differential test: FrameChecksum equals
// Checksum over the frame's bytes 4 to its end for every aligned start and
// end of random regions (and long ranges, past the first table level),
// under the log's seeds, with both multiplies.
func TestPrefixFrameChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	seeds := seedsForTest(rng)
	for _, hw := range prefixModes() {
		for _, n := range []int{8, 16, 24, 100, 257, 1000} {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			p := newPrefix(data, hw)
			for off := 0; off+8 <= n; off += 8 {
				for end := off + 8; end <= n; end += 8 {
					seed := seeds[rng.IntN(len(seeds))]
					if got, want := p.FrameChecksum(seed, off, end), Checksum(seed, data[off+4:end]); got != want {
						t.Fatalf("hw %v, len %d: [%d, %d) seed %#x: %#x, want %#x", hw, n, off, end, seed, got, want)
					}
				}
			}
		}
		data := make([]byte, 40000*8+5)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		p := newPrefix(data, hw)
		var offs, ends []int
		seed := seeds[rng.IntN(len(seeds))]
		for range 300 {
			off := 8 * rng.IntN(40000)
			end := off + 8 + 8*rng.IntN((40000*8-off)/8)
			if got, want := p.FrameChecksum(seed, off, end), Checksum(seed, data[off+4:end]); got != want {
				t.Fatalf("hw %v: [%d, %d) seed %#x: %#x, want %#x", hw, off, end, seed, got, want)
			}
			offs, ends = append(offs, off), append(ends, end)
		}
		sums := make([]uint32, len(offs))
		p.FrameChecksums(seed, offs, ends, sums)
		for i := range offs {
			if want := Checksum(seed, data[offs[i]+4:ends[i]]); sums[i] != want {
				t.Fatalf("hw %v: FrameChecksums [%d, %d): %#x, want %#x", hw, offs[i], ends[i], sums[i], want)
			}
		}
	}
}

// TestPrefixFindsFrames: a frame Encode wrote anywhere in a region checks
// under FrameChecksum, and a region's other ranges do not (except by the
// 2^-32 chance, which this seed does not hit).
func TestPrefixFindsFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	seed := Seed([16]byte{1, 2, 3}, 9)
	for _, hw := range prefixModes() {
		data := make([]byte, 8192)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want := map[[2]int]bool{}
		for _, o := range []int{0, 240, 1000, 4096, 8192 - 32} {
			pl := make([]byte, rng.IntN(min(200, 8192-o-24)+1))
			n, err := Encode(data[o:], seed, Header{Seq: 5, Type: Full}, pl)
			if err != nil {
				t.Fatal(err)
			}
			want[[2]int{o, o + n}] = true
		}
		p := newPrefix(data, hw)
		for r := range want {
			if p.FrameChecksum(seed, r[0], r[1]) != binary.LittleEndian.Uint32(data[r[0]:]) {
				t.Fatalf("hw %v: the frame at [%d, %d) does not check", hw, r[0], r[1])
			}
		}
	}
}

// BenchmarkPrefix: building the registers of 64 MiB, and one candidate's
// checksum.
func BenchmarkPrefix(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.Run("build64MiB", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			NewPrefix(data)
		}
	})
	p := NewPrefix(data)
	b.Run("FrameChecksum", func(b *testing.B) {
		i := 0
		for b.Loop() {
			o := 8 * (i & (1<<20 - 1))
			p.FrameChecksum(0x1234, o, len(data)-8*(i&255))
			i++
		}
	})
}

// TestDecodeSum: DecodeSum with the frame's checksum returns what Decode
// returns, on valid frames and on every kind of damage to them.
func TestDecodeSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	seed := Seed([16]byte{4}, 2)
	for i := range 20000 {
		buf := make([]byte, 24+8*rng.IntN(10))
		pl := make([]byte, rng.IntN(len(buf)-23))
		for j := range pl {
			pl[j] = byte(rng.Uint32())
		}
		if _, err := Encode(buf, seed, Header{Seq: uint64(rng.IntN(3)), Durable: rng.Uint32(), Type: Type(1 + rng.IntN(8))}, pl); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 { // damage a byte, or a whole header
			buf[rng.IntN(len(buf))] ^= byte(1 + rng.IntN(255))
		}
		if i%7 == 0 {
			clear(buf[:HeaderSize])
		}
		src := buf[:rng.IntN(len(buf)+1)]
		maxPayload := len(pl) + rng.IntN(3) - 1
		var sum uint32
		if len(src) >= HeaderSize {
			if n := int(binary.LittleEndian.Uint32(src[4:])); n <= MaxPayload && Size(n) <= len(src) {
				sum = Checksum(seed, src[4:Size(n)])
			}
		}
		h1, p1, n1, e1 := Decode(src, seed, maxPayload)
		h2, p2, n2, e2 := DecodeSum(src, sum, maxPayload)
		if h1 != h2 || string(p1) != string(p2) || n1 != n2 || e1 != e2 {
			t.Fatalf("case %d: Decode %v %d %v, DecodeSum %v %d %v", i, h1, n1, e1, h2, n2, e2)
		}
	}
}
