package segment

import (
	"encoding/binary"
	"runtime/debug"

	"github.com/mmapwal/mmapwal/crcframe"
)

// The read path: reads of one frame that a reader found through its index,
// the frame having been verified when it was scanned or written. They read
// the fields of the frame header they need,
//
//	0 CRC-32C u32 | 4 length u32 | 8 sequence u64 | 16 durable u32 |
//	20 type u8 | 21 reserved [3] | 24 payload, zero padding to 8
//
// through the mapping under the fault guard, so that a fault (a file
// truncated under the mapping, an I/O error paging it in) is an *Error with
// crcframe.IOFault at the frame's offset instead of a crash. They do not
// allocate, but for an error.

// RecordPayload returns the payload of the frame at off, which the caller's
// index says holds record seq, as a slice of the mapping (valid until
// Close). A header whose length runs out of the mapping is an *Error with
// crcframe.LengthOutOfBounds, one that does not hold seq one with
// crcframe.SequenceViolation; the checksum is not checked again.
func (s *File) RecordPayload(off int64, seq uint64) (payload []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	return s.payload(off, seq)
}

// RecordPayloads is [File.RecordPayload] for a run of frames under one
// fault guard, for an iterator that reads ahead of itself: the frame at
// offs[k] must hold record seqs[k] (with seqs nil: first+k). It sets
// out[k] for the frames in order while they read, at most len(out), and
// returns how many did; err says why the next one did not (an *Error at
// its offset, as RecordPayload's), nil when every frame of offs (or
// len(out) of them) read.
func (s *File) RecordPayloads(out [][]byte, offs []uint32, seqs []uint64, first uint64) (n int, err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguardRun(old, &err, offs, &n)
	offs = offs[:min(len(offs), len(out))]
	if seqs != nil {
		seqs = seqs[:len(offs)]
	}
	for ; n < len(offs); n++ { // n counts as it goes: a fault returns it
		seq := first + uint64(n)
		if seqs != nil {
			seq = seqs[n]
		}
		p, err := s.payload(int64(offs[n]), seq)
		if err != nil {
			return n, err
		}
		out[n] = p
	}
	return n, nil
}

// unguardRun is unguard for RecordPayloads: a fault is at the frame of
// the first payload not read.
func (s *File) unguardRun(old bool, err *error, offs []uint32, n *int) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		*err = s.fault(int64(offs[*n]))
	}
}

// AppendRecord appends the payload of the frame at off, which must hold
// record seq, to dst: [File.RecordPayload] and the copy under one fault
// guard.
func (s *File) AppendRecord(dst []byte, off int64, seq uint64) (out []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	p, err := s.payload(off, seq)
	if err != nil {
		return dst, err
	}
	return append(dst, p...), nil
}

// payload is RecordPayload without the guard.
func (s *File) payload(off int64, seq uint64) ([]byte, error) {
	data := s.data
	if off < 0 || off+crcframe.HeaderSize > int64(len(data)) {
		return nil, s.frameErr(off, crcframe.LengthOutOfBounds)
	}
	h := data[off : off+16 : off+16] // CRC, length, sequence: one bounds check
	n, start := int64(binary.LittleEndian.Uint32(h[4:])), off+crcframe.HeaderSize
	switch {
	case start+n > int64(len(data)):
		return nil, s.frameErr(off, crcframe.LengthOutOfBounds)
	case binary.LittleEndian.Uint64(h[8:]) != seq:
		return nil, s.frameErr(off, crcframe.SequenceViolation)
	}
	return data[start : start+n], nil
}

// AppendFrame appends the whole frame at off to dst (header, payload and
// padding, as many bytes as its length field says when it is read), for a
// reader that must check a copy because another process may change the
// mapped bytes at any time. ok is false, and nothing appended, when that
// length is above crcframe.MaxPayload or runs out of the mapping.
func (s *File) AppendFrame(dst []byte, off int64) (out []byte, ok bool, err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	data := s.data
	if off < 0 || off+crcframe.HeaderSize > int64(len(data)) {
		return dst, false, nil
	}
	n := int64(binary.LittleEndian.Uint32(data[off+4:]))
	end := off + int64(crcframe.Size(int(min(n, crcframe.MaxPayload))))
	if n > crcframe.MaxPayload || end > int64(len(data)) {
		return dst, false, nil
	}
	return append(dst, data[off:end]...), true, nil
}

// FrameCRC returns the stored checksum of the frame at off (its first four
// bytes): a reader that noted it can tell later whether the frame there was
// rewritten. An off without four bytes of the mapping is an *Error with
// crcframe.LengthOutOfBounds.
func (s *File) FrameCRC(off int64) (crc uint32, err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	if off < 0 || off+4 > int64(len(s.data)) {
		return 0, s.frameErr(off, crcframe.LengthOutOfBounds)
	}
	return binary.LittleEndian.Uint32(s.data[off:]), nil
}

// unguard, deferred around an access to the mapping with
// debug.SetPanicOnFault(true) in force, restores the previous setting and
// turns a memory fault into an *Error with crcframe.IOFault at off. It is
// [guard] without a closure, for the read path, which must not allocate;
// the setting is per goroutine, so it is set and restored around each
// access.
func (s *File) unguard(old bool, err *error, off int64) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		*err = s.fault(off)
	}
}

func (s *File) frameErr(off int64, r crcframe.Reason) error {
	return &Error{Path: s.path, Offset: off, Reason: r}
}

// CopyAt copies len(dst) mapped bytes at off into dst, for a reader that
// must check a copy because another process may change the mapped bytes at
// any time. A range outside the mapping is an *Error with
// crcframe.LengthOutOfBounds, a memory fault one with crcframe.IOFault.
func (s *File) CopyAt(dst []byte, off int64) (err error) {
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	if off < 0 || off+int64(len(dst)) > int64(len(s.data)) {
		return s.frameErr(off, crcframe.LengthOutOfBounds)
	}
	copy(dst, s.data[off:])
	return nil
}

// PeekFrame decodes the frame at off in place, with payloads of at most
// maxPayload bytes, and returns its header and size; ok is false when no
// valid frame is there now (or the bytes fault). The bytes are not copied:
// a reader of another process's mapping learns only where frames end, and
// checks a copy of what it returns.
func (s *File) PeekFrame(off int64, maxPayload int) (h crcframe.Header, size int64, ok bool) {
	var err error
	old := debug.SetPanicOnFault(true)
	defer s.unguard(old, &err, off)
	if off < 0 || off+crcframe.HeaderSize > int64(len(s.data)) {
		return h, 0, false
	}
	h, _, n, derr := crcframe.Decode(s.data[off:], s.seed, maxPayload)
	return h, int64(n), derr == nil
}
