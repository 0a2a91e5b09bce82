package segment

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Wire constants of the segment header. Never change them.
const (
	// HeaderSize is the size of the segment header; frames start here.
	HeaderSize = 64
	// Version is the format version this package writes and the newest it
	// reads. Version 1 headers are read with the version 1 rules.
	Version = 2
	// MinSize and MaxSize bound a segment file's size.
	MinSize = 4096
	MaxSize = 1 << 31
	// ext is the segment file name extension.
	ext = ".wal"
)

// Feature flags of a version 2 header (the u32 at offset 12; FORMAT.md
// §9.1). A reader refuses a flag it does not implement as an unsupported
// version; the reserved ones are set by later issues.
const (
	// FlagPrevSealed: the previous segment ends with a seal frame at the
	// offset [Header.PrevSeal] (the u32 at 56).
	FlagPrevSealed uint32 = 1 << 0
	// FlagRecycled: the file was a removed segment's, reused under this
	// number (FORMAT.md §9.7). Bytes after the end of its frames are stale
	// frames of older numbers: its frames end at a zero frame header the
	// writer keeps after the last one, and what follows it is judged by
	// whether a frame valid under this segment's seed starts there.
	FlagRecycled uint32 = 1 << 1
	// FlagReset is reserved: a segment started by a reset of the log.
	FlagReset uint32 = 1 << 2
	// FlagLiveReader is reserved: a live-reader control area.
	FlagLiveReader uint32 = 1 << 3

	// knownFlags are the flags this version implements.
	knownFlags = FlagPrevSealed | FlagRecycled
)

// magic starts every segment file.
var magic = [8]byte{'m', 'm', 'a', 'p', 'w', 'a', 'l', 0}

// Header is the decoded segment header.
type Header struct {
	Version  uint16   // format version: 1 or 2 (0 encodes as 1)
	Flags    uint32   // version 2 feature flags (FlagPrevSealed, FlagRecycled); 0 in version 1
	LogID    [16]byte // the log's identity, the same in every segment
	Number   uint64   // segment number, as in the file name
	FirstSeq uint64   // LastSeq+1 of the log when the segment became active; 0 = prepared
	Size     int64    // the file's size in bytes
	PrevSeal uint32   // with FlagPrevSealed: offset of the previous segment's seal frame
}

// Name returns the file name of segment number n: 16 hex digits and ".wal",
// so that names sort in log order.
func Name(n uint64) string { return fmt.Sprintf("%016x%s", n, ext) }

// ParseName returns the segment number a file name encodes, and whether the
// name is a segment file name at all.
func ParseName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ext)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	// Only the name Name gives: upper-case digits parse, but Open of Name(n)
	// would not find the file.
	return n, err == nil && n > 0 && Name(n) == name
}

// EncodeHeader writes h into b[:HeaderSize]:
//
//	0       8      10      12      16               32       40       48       56       60    64
//	+-------+-------+-------+-------+----------------+--------+--------+--------+--------+-----+
//	| magic |version|hdrsize| flags | log identity   |segment |first   |segment |prev    | CRC |
//	|  8 B  | u16   | u16   | u32   |     16 B       |number  |seq     |size    |seal u32|     |
//	+-------+-------+-------+-------+----------------+--------+--------+--------+--------+-----+
//
// A Version of 0 or 1 writes the version 1 layout (flags and prev seal
// must then be 0).
func EncodeHeader(b []byte, h Header) {
	b = b[:HeaderSize]
	clear(b)
	v := max(h.Version, 1)
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint16(b[8:], v)
	binary.LittleEndian.PutUint16(b[10:], HeaderSize)
	binary.LittleEndian.PutUint32(b[12:], h.Flags)
	copy(b[16:32], h.LogID[:])
	binary.LittleEndian.PutUint64(b[32:], h.Number)
	binary.LittleEndian.PutUint64(b[40:], h.FirstSeq)
	binary.LittleEndian.PutUint64(b[48:], uint64(h.Size))
	binary.LittleEndian.PutUint32(b[56:], h.PrevSeal)
	binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
}

// DecodeHeader parses a segment header of version 1 or 2. Its errors are
// crcframe reasons: BadMagic, UnsupportedVersion (a newer format, or a flag
// this version does not implement: never repair it),
// HeaderChecksumMismatch, and IncompleteHeader when b is too short.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, crcframe.IncompleteHeader
	}
	if [8]byte(b[:8]) != magic {
		return Header{}, crcframe.BadMagic
	}
	if binary.LittleEndian.Uint32(b[60:]) != crcframe.Checksum(0, b[:60]) {
		return Header{}, crcframe.HeaderChecksumMismatch
	}
	// The version is judged after the checksum: a flipped version bit is
	// damage, while a well-formed header with a higher version is a newer
	// format that this reader must refuse, not repair.
	h := Header{
		Version:  binary.LittleEndian.Uint16(b[8:]),
		Flags:    binary.LittleEndian.Uint32(b[12:]),
		LogID:    [16]byte(b[16:32]),
		Number:   binary.LittleEndian.Uint64(b[32:]),
		FirstSeq: binary.LittleEndian.Uint64(b[40:]),
		Size:     int64(binary.LittleEndian.Uint64(b[48:])),
		PrevSeal: binary.LittleEndian.Uint32(b[56:]),
	}
	if !h.known() || binary.LittleEndian.Uint16(b[10:]) != HeaderSize ||
		h.Size < MinSize || h.Size > MaxSize || h.Number == 0 {
		return Header{}, crcframe.UnsupportedVersion
	}
	return h, nil
}

// known reports whether the version, the flags and the prev seal field are
// ones this version writes: version 1 has neither flags nor a prev seal;
// version 2 has the prev seal (a frame offset in the previous segment)
// exactly when FlagPrevSealed is set.
func (h Header) known() bool {
	switch h.Version {
	case 1:
		return h.Flags == 0 && h.PrevSeal == 0
	case 2:
		if h.Flags&^knownFlags != 0 {
			return false
		}
		if h.Flags&FlagPrevSealed == 0 {
			return h.PrevSeal == 0
		}
		return h.PrevSeal >= HeaderSize && h.PrevSeal%crcframe.Alignment == 0
	}
	return false
}
