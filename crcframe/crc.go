package crcframe

// Short inputs (a frame of a small record: 148 bytes at 128 B) are where a
// frame's CRC costs most per byte: crc32.Update runs one chain of CRC32
// instructions there, each waiting for the one before (3 cycles of
// latency), and splits its input in three interleaved streams only from 504
// bytes on. tripleUpdate does the split for inputs from tripleMin up to
// tripleMax: crc3 runs the three parts at once and combines them with two
// carry-less multiplies. The result is the same CRC-32C, bit for bit
// (TestChecksumReference).
const (
	tripleMin = 72  // below: too few rounds for the combination to pay (measured)
	tripleMax = 504 // from here on crc32.Update interleaves itself
)

// tripleUpdate is crc32.Update(seed, castagnoli, p) for
// tripleMin ≤ len(p) < tripleMax, where crc3 runs in hardware.
//
// With CRC(r, X) the non-inverted register after X from r, and p = A‖B‖C
// where len(B) = len(C) = k:
//
//	CRC(r, A‖B‖C) = shift(CRC(r, A), 2k) ^ shift(CRC(0, B), k) ^ CRC(0, C)
//
// where shift(x, n) = CRC(x, n zero bytes) = x·x^(8n) mod P.
func tripleUpdate(seed uint32, p []byte) uint32 {
	k := len(p) / 24 * 8
	return ^crc3(^seed, p, k, shiftConsts[2*k/8], shiftConsts[k/8])
}

// shiftConsts[n/8] is shiftConst(n) for the shifts tripleUpdate makes: n a
// multiple of 8 up to 2·tripleMax/3.
var shiftConsts = func() (t [2*tripleMax/3/8 + 1]uint64) {
	for i := 2; i < len(t); i++ {
		t[i] = shiftConst(8 * i)
	}
	return t
}()

// shiftConst returns x^(8n-33) mod P, bit-reflected like the CRC register:
// the carry-less product of a register x with it, fed to CRC32 as 8 bytes
// from a zero register, is x·x^(8n) mod P (the product's reflection costs
// one power of x, CRC32 of 64 bits from zero multiplies by x^32).
func shiftConst(n int) uint64 {
	const poly = 0x82f63b78 // Castagnoli, reflected
	v := uint32(1 << 31)    // x^0
	for range 8*n - 33 {
		if v&1 != 0 {
			v = v>>1 ^ poly
		} else {
			v >>= 1
		}
	}
	return uint64(v)
}
