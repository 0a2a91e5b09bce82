// Package crcframe owns the record frame of the mmapwal on-disk format: how one
// record is laid out in a segment, and its checksum. It is pure: []byte in,
// []byte out, no files and no allocation, so it can be fuzzed and benchmarked
// on its own.
//
// # Wire format (versions 1 and 2; these constants never change)
//
// Every frame starts at an 8-byte aligned offset of a segment. All integers
// are little endian.
//
//	0       4       8               16      20   21      24
//	+-------+-------+---------------+-------+----+-------+-------------------+---------+
//	|  CRC  |length |   sequence    |durable|type|reservd|  payload (length) | padding |
//	|  u32  |  u32  |     u64       |  u32  | u8 |  3 B  |                   | to 8 B  |
//	+-------+-------+---------------+-------+----+-------+-------------------+---------+
//
// The fields:
//
//   - CRC is CRC-32C (Castagnoli) over bytes 4 up to the end of the padding,
//     starting from the segment's seed (see [Seed]): every header field after
//     the CRC, the payload, and the zero padding. Seeding with the log identity
//     and the segment number means a frame of another log, or a stale frame
//     left in a reused file, never validates.
//   - length is the payload length, at most [MaxPayload].
//   - sequence is the record's sequence number; 0 is never valid.
//   - durable is the durable watermark: the segment offset up to which the
//     segment was known durable when the frame was written (0 = no claim).
//     Recovery uses it to tell a torn tail from corruption of durable data.
//   - type is one of the [Type] values; 0 is never valid. Version 2 of the
//     format adds [Seal] (7), which ends a sealed segment.
//   - reserved and padding bytes are zero.
//
// A frame occupies [Size](length) bytes: 24 + length rounded up to 8, so a
// 128-byte record takes 152 bytes.
//
// An all-zero header is not a frame: segments are preallocated and zero
// filled, so a zero header at a frame boundary marks the clean end of the
// written data ([CleanEnd]).
//
// CRC-32C was chosen because it has hardware support on amd64 and arm64, is
// the checksum of ext4, iSCSI and the LevelDB family of logs, and detects all
// burst errors up to 32 bits; github.com/klauspost/crc32 is a drop-in for
// hash/crc32 with the SIMD kernels. FORMAT.md at the repository root states
// the same layout for readers outside Go.
package crcframe
