package segment

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Wire constants of format version 1. Never change them.
const (
	// HeaderSize is the size of the segment header; frames start here.
	HeaderSize = 64
	// Version is the format version this package writes and the newest it
	// reads.
	Version = 1
	// MinSize and MaxSize bound a segment file's size.
	MinSize = 4096
	MaxSize = 1 << 31
	// ext is the segment file name extension.
	ext = ".wal"
)

// magic starts every segment file.
var magic = [8]byte{'m', 'm', 'a', 'p', 'w', 'a', 'l', 0}

// Header is the decoded segment header.
type Header struct {
	LogID    [16]byte // the log's identity, the same in every segment
	Number   uint64   // segment number, as in the file name
	FirstSeq uint64   // LastSeq+1 of the log when the segment became active; 0 = prepared
	Size     int64    // the file's size in bytes
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

// EncodeHeader writes h into b[:HeaderSize] in the version-1 layout.
func EncodeHeader(b []byte, h Header) {
	b = b[:HeaderSize]
	clear(b)
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint16(b[8:], Version)
	binary.LittleEndian.PutUint16(b[10:], HeaderSize)
	copy(b[16:32], h.LogID[:])
	binary.LittleEndian.PutUint64(b[32:], h.Number)
	binary.LittleEndian.PutUint64(b[40:], h.FirstSeq)
	binary.LittleEndian.PutUint64(b[48:], uint64(h.Size))
	binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
}

// DecodeHeader parses a segment header. Its errors are crcframe reasons:
// BadMagic, UnsupportedVersion (a newer format: never repair it),
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
	if binary.LittleEndian.Uint16(b[8:]) != Version || binary.LittleEndian.Uint16(b[10:]) != HeaderSize ||
		binary.LittleEndian.Uint32(b[12:]) != 0 || binary.LittleEndian.Uint32(b[56:]) != 0 {
		return Header{}, crcframe.UnsupportedVersion
	}
	h := Header{
		LogID:    [16]byte(b[16:32]),
		Number:   binary.LittleEndian.Uint64(b[32:]),
		FirstSeq: binary.LittleEndian.Uint64(b[40:]),
		Size:     int64(binary.LittleEndian.Uint64(b[48:])),
	}
	if h.Size < MinSize || h.Size > MaxSize || h.Number == 0 {
		return Header{}, crcframe.UnsupportedVersion
	}
	return h, nil
}
