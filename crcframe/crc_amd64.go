package crcframe

// crc3 is in crc_amd64.s: the non-inverted CRC-32C register after p from
// crcA, p's three parts interleaved (see tripleUpdate).
//
//go:noescape
func crc3(crcA uint32, p []byte, k int, ka, kb uint64) uint32

// hasCRCInstructions reports whether the CPU has CRC32 (SSE4.2) and
// PCLMULQDQ, from CPUID; crc_amd64.s.
func hasCRCInstructions() bool

// haveCRC3 says whether crc3 runs in hardware here.
var haveCRC3 = hasCRCInstructions()

// mulHW is a·k·x^33 mod P (reflected registers), in crc_amd64.s; it needs
// haveCRC3.
//
//go:noescape
func mulHW(a, k uint32) uint32

// prefixRegs sets reg[k] to the non-inverted CRC-32C register after
// p[:8k] from 0, for k ≤ len(p)/8, in crc_amd64.s; it needs haveCRC3 and
// len(reg) > len(p)/8.
//
//go:noescape
func prefixRegs(reg []uint32, p []byte)
