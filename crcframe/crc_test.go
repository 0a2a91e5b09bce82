package crcframe

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestChecksumReference checks Checksum against the standard library's
// CRC-32C over every length 0..4096 at every alignment, from several seeds:
// the interleaved path for short inputs must give the same bits as the
// reference wherever it applies.
func TestChecksumReference(t *testing.T) {
	ref := crc32.MakeTable(crc32.Castagnoli)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096+8)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	seeds := []uint32{0, 0xffffffff, Seed([16]byte{1, 2, 3}, 7), rng.Uint32()}
	for n := 0; n <= 4096; n++ {
		for align := range 8 {
			p := buf[align : align+n]
			for _, seed := range seeds {
				if got, want := Checksum(seed, p), crc32.Update(seed, ref, p); got != want {
					t.Fatalf("Checksum(%#x, %d bytes at +%d) = %#x, want %#x", seed, n, align, got, want)
				}
			}
		}
	}
}

// TestCRC3 checks the three-part kernel itself (the assembly on amd64,
// the Go fallback elsewhere) against the reference register for every
// length the short path takes, at every alignment.
func TestCRC3(t *testing.T) {
	ref := crc32.MakeTable(crc32.Castagnoli)
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, tripleMax+8)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for n := tripleMin; n < tripleMax; n++ {
		k := n / 24 * 8
		for align := range 8 {
			p := buf[align : align+n]
			r := rng.Uint32()
			want := ^crc32.Update(^r, ref, p)
			if got := crc3(r, p, k, shiftConsts[2*k/8], shiftConsts[k/8]); got != want {
				t.Fatalf("crc3(%d bytes at +%d, k %d) = %#x, want %#x", n, align, k, got, want)
			}
		}
	}
}
