package segment

import (
	"encoding/binary"

	"github.com/mmapwal/mmapwal/crcframe"
)

// The frame header, as FORMAT.md §3 and package crcframe lay it out:
//
//	0 CRC-32C u32 | 4 length u32 | 8 sequence u64 | 16 durable u32 |
//	20 type u8 | 21 reserved [3] | 24 payload, zero padding to 8
//
// The methods below read and rewrite frames in place after a truncation,
// under the fault guard: a fault reading the mapping is an *Error with
// Reason crcframe.IOFault, never a crash.

// FrameEndingAt returns the offset of the frame that ends at off, walking
// the frames' length fields from the header; ok is false when no frame ends
// exactly there.
func (s *File) FrameEndingAt(off int64) (prev int64, ok bool, err error) {
	defer guard(func() { prev, ok, err = 0, false, s.fault(off) })()
	data := s.data
	if off > int64(len(data)) {
		return 0, false, nil
	}
	for p := int64(HeaderSize); p+crcframe.HeaderSize <= off; {
		n := binary.LittleEndian.Uint32(data[p+4:])
		if n > crcframe.MaxPayload || crcframe.IsZero(data[p:p+crcframe.HeaderSize]) {
			return 0, false, nil
		}
		next := p + int64(crcframe.Size(int(n)))
		if next == off {
			return p, true, nil
		}
		p = next
	}
	return 0, false, nil
}

// CloseBatchAt closes the batch that a truncation at off cut through: when
// the frame at prev, which ends at off, is the First or a Middle frame of a
// batch, it becomes a Full or Last frame (only its type byte and CRC
// change; both versions of its header are valid frames); closed reports
// that it was rewritten, and the caller then makes [prev, off) durable. Without it
// the kept records of the batch would end in an unfinished batch, which
// recovery drops whole, and a later frame would not follow it.
//
// Recovery calls it again for an interrupted truncation, so it also
// completes a retype that a crash tore: it rewrites the header when the
// stored CRC matches either the old or the new type, and leaves the frame
// alone (for the scan to report) when it matches neither.
func (s *File) CloseBatchAt(prev, off int64) (closed bool, err error) {
	defer guard(func() { closed, err = false, s.fault(prev) })()
	data := s.data
	if prev < HeaderSize || prev+crcframe.HeaderSize > off || off > int64(len(data)) {
		return false, nil
	}
	n := int(binary.LittleEndian.Uint32(data[prev+4:]))
	if prev+int64(crcframe.Size(n)) != off {
		return false, nil
	}
	var from, to crcframe.Type
	switch t := crcframe.Type(data[prev+20]); t {
	case crcframe.First, crcframe.Full:
		from, to = crcframe.First, crcframe.Full
	case crcframe.Middle, crcframe.Last:
		from, to = crcframe.Middle, crcframe.Last
	default:
		return false, nil
	}
	frame := data[prev:off]
	h := crcframe.Header{Seq: binary.LittleEndian.Uint64(frame[8:]), Durable: binary.LittleEndian.Uint32(frame[16:])}
	crcWith := func(t crcframe.Type) uint32 {
		var hb [crcframe.HeaderSize]byte
		copy(hb[:], frame[:crcframe.HeaderSize])
		hb[20] = byte(t)
		c := crcframe.Checksum(s.seed, hb[4:])
		return crcframe.Checksum(c, frame[crcframe.HeaderSize:])
	}
	stored := binary.LittleEndian.Uint32(frame)
	switch {
	case crcframe.Type(frame[20]) == to && stored == crcWith(to):
		return false, nil // not in a batch, or already closed
	case stored != crcWith(from) && stored != crcWith(to):
		return false, nil // damaged: not ours to touch
	}
	h.Type = to
	if _, err := crcframe.EncodeHeader(frame, s.seed, h, n); err != nil {
		return false, err
	}
	return true, nil
}
