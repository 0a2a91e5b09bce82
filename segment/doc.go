// Package segment owns one segment file of an mmapwal log: a preallocated,
// fixed-size file mapped MAP_SHARED, holding a 64-byte header followed by
// crcframe frames.
//
// # Layout (format versions 1 and 2; see FORMAT.md)
//
//	0       8      10      12      16               32       40       48       56    60    64
//	+-------+-------+-------+-------+----------------+--------+--------+--------+-----+-----+--------
//	| magic |version|hdrsize| flags | log identity   |segment |first   |segment |seal | CRC | frames…
//	|  8 B  | u16   | u16   | u32   |     16 B       |number  |seq     |size    | u32 | u32 |
//	+-------+-------+-------+-------+----------------+--------+--------+--------+-----+-----+--------
//
// The header CRC is CRC-32C of bytes 0–59. First seq is 0 while a segment is
// prepared but not yet active. Version 2 adds feature flags; with
// [FlagPrevSealed] the u32 at 56 is the offset of the previous segment's
// seal frame (crcframe.Seal), which ends every segment a version 2 writer
// sealed. Frames start at offset [HeaderSize], each
// 8-byte aligned; the rest of the file is zero (preallocated, never sparse).
//
// A File does no locking: the engine serialises writers and decides what
// readers may see. Everything here reads and writes the mapping with plain
// slice operations; the syscalls are in internal/sysutil.
package segment
