package segment_test

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Red team 8: crc3's prefetch (192 bytes, 512 past its input) must never
// change a result nor fault.

var rt8Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TestRT8ChecksumEveryLengthAlignment: crcframe.Checksum of every length
// 0..600 at every alignment 0..15, with a few seeds, is hash/crc32's
// Castagnoli CRC (the triple path covers 72..503).
func TestRT8ChecksumEveryLengthAlignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	buf := make([]byte, 600+16+1024)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for _, seed := range []uint32{0, 1, 0xFFFFFFFF, rng.Uint32()} {
		for align := range 16 {
			for n := 0; n <= 600; n++ {
				b := buf[align : align+n]
				if got, want := crcframe.Checksum(seed, b), crc32.Update(seed, rt8Castagnoli, b); got != want {
					t.Fatalf("seed %#x, align %d, len %d: %#08x, want %#08x", seed, align, n, got, want)
				}
			}
		}
	}
}
