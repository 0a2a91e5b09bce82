package crcframe

import (
	"encoding/binary"
	"strconv"

	"github.com/klauspost/crc32"
)

// Wire constants of format versions 1 and 2 (the frame is the same in
// both). Never change them.
const (
	// HeaderSize is the size of a frame header in bytes.
	HeaderSize = 24
	// Alignment is the alignment of every frame's start and size.
	Alignment = 8
	// MaxPayload is the largest payload the format can describe.
	MaxPayload = 1<<31 - 1
)

// Type is the kind of a frame. The zero value is never a valid type.
type Type uint8

// Frame types (wire values; never renumber).
const (
	// Full is a record on its own.
	Full Type = 1
	// First is the first record of an atomic batch.
	First Type = 2
	// Middle is a record inside a batch.
	Middle Type = 3
	// Last is the last record of a batch.
	Last Type = 4
	// Pad is skipped space; its sequence repeats the previous record's.
	Pad Type = 5
	// Mark is a durable mark written by Close: no payload, sequence = the
	// log's last sequence, durable = the frame's own offset.
	Mark Type = 6
	// Seal ends a sealed segment (format version 2): no payload, sequence =
	// the log's last sequence at rotation, durable = the segment's durable
	// watermark when it was written (as for a record: rotation syncs the
	// segment after writing it). Nothing follows it in its segment. A version 1 reader would
	// report UnknownType for it, but never reads one: the segment after a
	// seal has a version 2 header, which it refuses first.
	Seal Type = 7
)

// IsRecord reports whether frames of type t carry a record (Full, First,
// Middle, Last).
func (t Type) IsRecord() bool { return t >= Full && t <= Last }

// Known reports whether t is a frame type this format version defines
// (Full through Seal): only such a type, with zero reserved bytes, can start
// a valid frame.
func (t Type) Known() bool { return t >= Full && t <= Seal }

var typeNames = [...]string{Full: "full", First: "first", Middle: "middle", Last: "last", Pad: "pad", Mark: "mark", Seal: "seal"}

// String returns the type's name as FORMAT.md §3 gives it ("full", "first",
// …, "seal"), or "type(N)" for a type this version does not define.
func (t Type) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Header is a frame header without its CRC and length.
type Header struct {
	Seq     uint64 // record sequence number, ≥ 1
	Durable uint32 // segment offset known durable when written; 0 = no claim
	Type    Type
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Seed returns the checksum seed of a segment: CRC-32C of the log identity
// followed by the segment number (little endian).
func Seed(logID [16]byte, segment uint64) uint32 {
	var b [24]byte
	copy(b[:16], logID[:])
	binary.LittleEndian.PutUint64(b[16:], segment)
	return crc32.Checksum(b[:], castagnoli)
}

// Checksum continues the CRC-32C seed over b: it returns the CRC-32C of the
// bytes seed was computed over followed by b (crc32.Update's convention: the
// register holds seed XOR 0xFFFFFFFF when b's first byte enters it, not the
// seed itself). With seed 0 it is the plain CRC-32C of b, which the segment
// header and META use; a frame's CRC continues its segment's [Seed] over
// the frame's bytes 4 up to the end of the padding (FORMAT.md §2).
func Checksum(seed uint32, b []byte) uint32 {
	if haveCRC3 && len(b) >= tripleMin && len(b) < tripleMax {
		return tripleUpdate(seed, b)
	}
	return crc32.Update(seed, castagnoli, b)
}

// Size returns the bytes a frame with an n-byte payload occupies, padding
// included.
func Size(n int) int {
	return (HeaderSize + n + Alignment - 1) &^ (Alignment - 1)
}

// Encode writes a frame holding payload into dst and returns the number of
// bytes written, Size(len(payload)). dst must have room for them
// (io.ErrShortBuffer otherwise). It does not allocate.
func Encode(dst []byte, seed uint32, h Header, payload []byte) (int, error) {
	n := len(payload)
	if n > MaxPayload {
		return 0, LengthOutOfBounds
	}
	size := Size(n)
	if len(dst) < size {
		return 0, errShortBuffer
	}
	copy(dst[HeaderSize:], payload)
	return EncodeHeader(dst, seed, h, n)
}

// EncodeHeader completes a frame whose n-byte payload is already in
// dst[HeaderSize:HeaderSize+n]: it zeroes the padding, writes the header and
// the CRC, and returns Size(n). It is the zero-copy path: a caller writes the
// payload in place, then frames it.
func EncodeHeader(dst []byte, seed uint32, h Header, n int) (int, error) {
	if n < 0 || n > MaxPayload {
		return 0, LengthOutOfBounds
	}
	// Compared in 64 bits first: on 32-bit platforms Size(n) overflows int
	// for n near MaxPayload.
	if uint64(HeaderSize)+uint64(n) > uint64(len(dst)) {
		return 0, errShortBuffer
	}
	size := Size(n)
	if len(dst) < size {
		return 0, errShortBuffer
	}
	f := dst[:size]
	clear(f[HeaderSize+n:])
	binary.LittleEndian.PutUint32(f[4:], uint32(n))
	binary.LittleEndian.PutUint64(f[8:], h.Seq)
	binary.LittleEndian.PutUint32(f[16:], h.Durable)
	f[20], f[21], f[22], f[23] = byte(h.Type), 0, 0, 0
	binary.LittleEndian.PutUint32(f[0:], Checksum(seed, f[4:]))
	return size, nil
}

// Decode parses the frame at the start of src. On success it returns the
// header, the payload as a sub-slice of src (no copy) and the frame's size.
//
// Errors are [Reason] values: [CleanEnd] for an all-zero header (not
// corruption: the end of the written data), [IncompleteHeader],
// [LengthOutOfBounds] when the length exceeds maxPayload, [IncompletePayload]
// when the frame runs past src, [ChecksumMismatch], [UnknownType] for a frame
// whose checksum holds but whose type, reserved bytes or padding are not
// what versions 1 and 2 write, and
// [SequenceViolation] for a sequence of 0. The length is checked before any
// byte of the payload is read, and Decode never allocates.
func Decode(src []byte, seed uint32, maxPayload int) (Header, []byte, int, error) {
	if len(src) < HeaderSize {
		if IsZero(src) {
			return Header{}, nil, 0, CleanEnd
		}
		return Header{}, nil, 0, IncompleteHeader
	}
	if IsZero(src[:HeaderSize]) {
		return Header{}, nil, 0, CleanEnd
	}
	n := binary.LittleEndian.Uint32(src[4:])
	if uint64(n) > uint64(maxPayload) || n > MaxPayload {
		return Header{}, nil, 0, LengthOutOfBounds
	}
	// Compared in 64 bits first: on 32-bit platforms Size(int(n)) overflows
	// int for a length near MaxPayload.
	if uint64(HeaderSize)+uint64(n) > uint64(len(src)) {
		return Header{}, nil, 0, IncompletePayload
	}
	size := Size(int(n))
	if size > len(src) {
		return Header{}, nil, 0, IncompletePayload
	}
	if binary.LittleEndian.Uint32(src) != Checksum(seed, src[4:size]) {
		return Header{}, nil, 0, ChecksumMismatch
	}
	h := Header{
		Seq:     binary.LittleEndian.Uint64(src[8:]),
		Durable: binary.LittleEndian.Uint32(src[16:]),
		Type:    Type(src[20]),
	}
	if !h.Type.Known() || src[21]|src[22]|src[23] != 0 || !IsZero(src[HeaderSize+int(n):size]) {
		return Header{}, nil, 0, UnknownType
	}
	if h.Seq == 0 {
		return Header{}, nil, 0, SequenceViolation
	}
	return h, src[HeaderSize : HeaderSize+int(n)], size, nil
}

// DecodeSum is [Decode] for a caller that has the frame's checksum: sum
// must be Checksum(seed, src[4:Size(n)]) for the length n that src's header
// claims, when that frame fits in src (as [Prefix.FrameChecksum] gives
// it). It returns what Decode(src, seed, maxPayload) returns, without
// reading the payload for the checksum. TestDecodeSum holds the two to the
// same verdicts.
func DecodeSum(src []byte, sum uint32, maxPayload int) (Header, []byte, int, error) {
	if len(src) < HeaderSize {
		if IsZero(src) {
			return Header{}, nil, 0, CleanEnd
		}
		return Header{}, nil, 0, IncompleteHeader
	}
	if IsZero(src[:HeaderSize]) {
		return Header{}, nil, 0, CleanEnd
	}
	n := binary.LittleEndian.Uint32(src[4:])
	if uint64(n) > uint64(maxPayload) || n > MaxPayload {
		return Header{}, nil, 0, LengthOutOfBounds
	}
	if uint64(HeaderSize)+uint64(n) > uint64(len(src)) {
		return Header{}, nil, 0, IncompletePayload
	}
	size := Size(int(n))
	if size > len(src) {
		return Header{}, nil, 0, IncompletePayload
	}
	if binary.LittleEndian.Uint32(src) != sum {
		return Header{}, nil, 0, ChecksumMismatch
	}
	h := Header{
		Seq:     binary.LittleEndian.Uint64(src[8:]),
		Durable: binary.LittleEndian.Uint32(src[16:]),
		Type:    Type(src[20]),
	}
	if !h.Type.Known() || src[21]|src[22]|src[23] != 0 || !IsZero(src[HeaderSize+int(n):size]) {
		return Header{}, nil, 0, UnknownType
	}
	if h.Seq == 0 {
		return Header{}, nil, 0, SequenceViolation
	}
	return h, src[HeaderSize : HeaderSize+int(n)], size, nil
}

// IsZero reports whether every byte of b is zero.
func IsZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
