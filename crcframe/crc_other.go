//go:build !amd64

package crcframe

import "github.com/klauspost/crc32"

// crc3 computes what crc_amd64.s does, the three parts one after the
// other. Only tests call it here (haveCRC3 is false): klauspost/crc32 has
// its own kernels on arm64 and the others.
func crc3(crcA uint32, p []byte, _ int, _, _ uint64) uint32 { return raw(crcA, p) }

// haveCRC3 is false off amd64: Checksum is crc32.Update there.
const haveCRC3 = false

// raw continues the non-inverted CRC-32C register r over p.
func raw(r uint32, p []byte) uint32 { return ^crc32.Update(^r, castagnoli, p) }

// mulHW and prefixRegs are never called here (haveCRC3 is false).
func mulHW(a, k uint32) uint32          { panic("crcframe: no mulHW") }
func prefixRegs(reg []uint32, p []byte) { panic("crcframe: no prefixRegs") }
