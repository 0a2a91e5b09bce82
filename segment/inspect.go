package segment

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// This file is what a tool needs to show one segment file as it is, without
// the log around it (cmd/mmapwal dump-segment): an open that takes the
// identity from the file's own header, and the frames one by one with every
// field of their headers.

// OpenStandalone maps the segment file at path read-only without the log's
// META: the identity and the number are taken from its own header, so the
// identity check of [Open] (and the file name's number) is skipped. The
// header must check (magic, CRC, a version this package reads) and the
// file be as long as the header says; errors are those of Open (a
// *[Error] with the crcframe reason, or an I/O error).
//
// Frames of another log decode under the identity of their own header, so
// what this opens is only as trustworthy as that header: it is for
// inspection, never for recovery.
func OpenStandalone(path string) (*File, error) {
	f, err := sysutil.OpenFile(path, false)
	if err != nil {
		return nil, err
	}
	var hb [HeaderSize]byte
	n, rerr := f.ReadAt(hb[:], 0)
	f.Close()
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return nil, rerr
	}
	h, err := DecodeHeader(hb[:n])
	if err != nil {
		return nil, &Error{Path: path, Offset: 0, Reason: reasonOf(err)}
	}
	return Open(path, h.Number, h.LogID, false)
}

// MaxFramePayload is the largest payload a frame can carry in the segment:
// one frame filling it after the header (format version 1 writers left no
// room behind their records). It is the bound a reader scans with.
func (s *File) MaxFramePayload() int {
	return int(min(s.hdr.Size-HeaderSize-crcframe.HeaderSize, crcframe.MaxPayload))
}

// Frame is one frame as it is stored:
//
//	0 CRC-32C u32 | 4 length u32 | 8 sequence u64 | 16 durable u32 |
//	20 type u8 | 21 reserved [3] | 24 payload, zero padding to 8
type Frame struct {
	crcframe.Header        // sequence, durable watermark, type
	Offset          int64  // where the frame starts in the segment
	CRC             uint32 // the stored checksum (it matched: the frame decoded)
	Size            int    // bytes the frame takes, padding included
	Payload         []byte // a slice of the mapping, valid until Close
}

// FrameAt decodes the frame at off with the segment's seed, as the scan
// does (crcframe.Decode: length, checksum, type, reserved bytes, padding,
// a non-zero sequence; not the sequence rules, which need the frames
// before it). Its errors are crcframe reasons (CleanEnd for a zero
// header); a fault while reading the mapping is an *Error with
// crcframe.IOFault.
func (s *File) FrameAt(off int64, maxPayload int) (fr Frame, err error) {
	defer guard(func() { fr, err = Frame{}, s.fault(off) })()
	if off < HeaderSize || off > s.hdr.Size || off%crcframe.Alignment != 0 {
		return Frame{}, crcframe.LengthOutOfBounds
	}
	h, payload, n, err := crcframe.Decode(s.data[off:], s.seed, maxPayload)
	if err != nil {
		return Frame{}, err
	}
	crc := binary.LittleEndian.Uint32(s.data[off:])
	return Frame{Header: h, Offset: off, CRC: crc, Size: n, Payload: payload}, nil
}

// FramesAfter calls visit for every frame that decodes ([File.FrameAt]) at
// an 8-byte aligned offset in [from, Size): what the scan's read-ahead
// looks at after an invalid frame, when it judges whether something later
// proves the bytes there durable. Frames may overlap (a valid frame inside
// another's payload is found too). A fault ends the walk with an *Error.
func (s *File) FramesAfter(from int64, maxPayload int, visit func(Frame)) (err error) {
	from = max(from, HeaderSize) &^ (crcframe.Alignment - 1)
	off := from
	defer guard(func() { err = s.fault(off) })()
	data, size := s.data, s.hdr.Size
	q := s.newSeedSearch(from, maxPayload) // a search of every aligned offset: FrameAt's verdict in linear time
	for ; off+crcframe.HeaderSize <= size; off += crcframe.Alignment {
		if crcframe.IsZero(data[off : off+8]) {
			continue
		}
		if h, payload, n, ok := q.frame(off); ok {
			visit(Frame{Header: h, Offset: off, CRC: binary.LittleEndian.Uint32(data[off:]), Size: n, Payload: payload})
		}
	}
	return nil
}

// quarantineInfix separates the segment file name from the offset in a
// quarantine file's name (see [QuarantineName]).
const quarantineInfix = ".torn-"

// ParseQuarantineName parses the name of a quarantine file,
// "0000000000000007.wal.torn-0000000000001a40": the segment file the bytes
// came from, its number, and the offset they were cut at. ok is false for
// any other name.
func ParseQuarantineName(name string) (segName string, number uint64, off int64, ok bool) {
	segName, hex, found := strings.Cut(name, quarantineInfix)
	if !found || len(hex) != 16 {
		return "", 0, 0, false
	}
	number, ok = ParseName(segName)
	o, err := strconv.ParseUint(hex, 16, 63)
	if !ok || err != nil || QuarantineName(segName, int64(o)) != name {
		return "", 0, 0, false
	}
	return segName, number, int64(o), true
}
