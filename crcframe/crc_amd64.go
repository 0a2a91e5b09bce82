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
