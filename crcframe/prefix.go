package crcframe

import (
	"encoding/binary"

	"github.com/klauspost/crc32"
)

// Prefix gives the frame checksum of any 8-byte aligned range of a region
// in O(1) after one pass over the region: the search for frames of a seed
// among stale bytes (segment's read-ahead in a recycled segment) checks
// candidates at every aligned offset, each claiming a frame up to the end
// of the region, and computing each candidate's [Checksum] over its bytes
// made that search quadratic in the region's size.
//
// It rests on the linearity of CRC. With raw(r, p) the non-inverted
// CRC-32C register after p from r (Checksum(seed, p) = ^raw(^seed, p)),
//
//	raw(r, p) = shift(r, len(p)) ^ raw(0, p),  shift(r, n) = r·x^(8n) mod P
//
// (reflected polynomial arithmetic over GF(2)). Prefix keeps the registers
// S[k] = raw(0, region[:8k]) at every 8-byte boundary. For a frame
// [o, e), o and e multiples of 8, with R = raw(S[o/8], region[o:o+4]) the
// register 4 bytes in, raw(R, region[o+4:e]) = S[e/8], so
//
//	raw(^seed, region[o+4:e]) = shift(^seed ^ R, e-o-4) ^ S[e/8]
//
// and one multiply by x^(8(e-o-4)) (a product of table constants, one per
// 12 bits of (e-o)/8) gives the checksum.
//
// Memory: 4 bytes per 8 bytes of region (32 MiB for a 64 MiB segment), so
// build one only where the naive checks would cost more than a pass.
type Prefix struct {
	data []byte
	reg  []uint32   // reg[k] = raw(0, data[:8k])
	lvl  [][]uint32 // lvl[l][d]: the factor for digit d of level l (see shift)
	hw   bool       // multiply with PCLMULQDQ and CRC32 (mulHW), else mulmod
}

// prefixBits is the width of a digit of (e-o)/8 in the tables of shift.
const prefixBits = 12

// NewPrefix computes the registers of data at every 8-byte boundary (the
// bytes after the last boundary are not covered). It allocates
// 4·(len(data)/8+1) bytes plus 16 KiB of tables per 12 bits of
// len(data)/8.
func NewPrefix(data []byte) *Prefix { return newPrefix(data, haveCRC3) }

func newPrefix(data []byte, hw bool) *Prefix {
	words := len(data) / 8
	p := &Prefix{data: data[:words*8], reg: make([]uint32, words+1), hw: hw}
	if hw {
		prefixRegs(p.reg, p.data)
	} else {
		r := uint32(0)
		for k := 0; k < words; k++ {
			r = ^crc32.Update(^r, castagnoli, p.data[8*k:8*k+8])
			p.reg[k+1] = r
		}
	}
	p.tables(words)
	return p
}

// tables builds lvl for shifts of up to words 8-byte words.
func (p *Prefix) tables(words int) {
	// shift(d, m) multiplies d by x^(64m-32) (m = (e-o)/8, a shift by
	// 8m-4 bytes): by lvl[0][m mod 4096], which carries the x^-32, then by
	// lvl[l][digit l of m] for each non-zero higher digit. With hw, every
	// factor also carries x^-33, which mulHW's reduction adds back.
	adj := int64(0)
	if p.hw {
		adj = -33
	}
	for l, span := 0, int64(1); l == 0 || span <= int64(words); l, span = l+1, span<<prefixBits {
		n := 1 << prefixBits
		if top := int64(words)/span + 1; top < int64(n) {
			n = int(top)
		}
		t := make([]uint32, n)
		v := xPow(adj)
		if l == 0 {
			v = xPow(adj - 32)
		}
		step := xPow(64 * span)
		for d := range t {
			t[d] = v
			v = mulmod(v, step)
		}
		p.lvl = append(p.lvl, t)
	}
}

// FrameChecksum returns Checksum(seed, data[off+4:end]), the checksum a
// frame [off, end) of data must hold under seed. off and end must be
// multiples of 8 with off < end ≤ len(data) rounded down to 8.
func (p *Prefix) FrameChecksum(seed uint32, off, end int) uint32 {
	r := p.reg[off/8] ^ binary.LittleEndian.Uint32(p.data[off:])
	for range 4 { // r·x^32: the register after the 4 bytes
		r = castagnoli[byte(r)] ^ r>>8
	}
	return ^(p.shift(^seed^r, (end-off)/8) ^ p.reg[end/8])
}

// FrameChecksums sets sums[i] to FrameChecksum(seed, offs[i], ends[i])
// for every i < len(offs) (ends and sums at least as long). It loads the
// registers at the frames' ends before computing any checksum: ends spread
// over a large region miss the cache, and loads that do not wait on one
// another miss in parallel (a search whose candidates claim random lengths
// runs 3 times faster).
func (p *Prefix) FrameChecksums(seed uint32, offs, ends []int, sums []uint32) {
	ends, sums = ends[:len(offs)], sums[:len(offs)]
	for i, e := range ends {
		sums[i] = p.reg[e/8]
	}
	for i, off := range offs {
		r := p.reg[off/8] ^ binary.LittleEndian.Uint32(p.data[off:])
		for range 4 {
			r = castagnoli[byte(r)] ^ r>>8
		}
		sums[i] = ^(p.shift(^seed^r, (ends[i]-off)/8) ^ sums[i])
	}
}

// shift returns d·x^(64m-32) mod P: d shifted by 8m-4 bytes.
func (p *Prefix) shift(d uint32, m int) uint32 {
	mul := mulmod
	if p.hw {
		mul = mulHW
	}
	d = mul(d, p.lvl[0][m&(1<<prefixBits-1)])
	for l := 1; ; l++ {
		if m >>= prefixBits; m == 0 {
			return d
		}
		if i := m & (1<<prefixBits - 1); i != 0 {
			d = mul(d, p.lvl[l][i])
		}
	}
}

// castagnoliPoly is the CRC-32C polynomial, reflected: bit 31 is the
// coefficient of x^0, bit 0 that of x^31.
const castagnoliPoly = 0x82f63b78

// mulmod returns a·b mod P, both in the reflected representation of the
// CRC register.
func mulmod(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1 << 31); m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		b = b>>1 ^ -(b&1)&castagnoliPoly // b·x
	}
	return p
}

// xPow returns x^e mod P (e may be negative: x is invertible mod P, whose
// constant term is 1).
func xPow(e int64) uint32 {
	base := uint32(1 << 30) // x
	if e < 0 {
		base, e = 0x05ec76f1, -e // x^-1 = (P-1)/x: the reflected polynomial shifted left, plus x^31
	}
	r := uint32(1 << 31) // x^0
	for ; e != 0; e >>= 1 {
		if e&1 != 0 {
			r = mulmod(r, base)
		}
		base = mulmod(base, base)
	}
	return r
}
