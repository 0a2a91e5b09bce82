package segment

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// Peek checks the header of the segment file at path as [Open] does and
// decodes the frame at off, without mapping the file and reading nothing
// else: what a reader needs of a sealed segment (format version 2) whose
// end the next segment's header records (the seal frame at off), when it
// leaves the segment's other frames to be checked when they are first
// needed. maxPayload bounds the frame's length. The file is closed when
// Peek returns, so it holds no descriptor.
//
// A header that does not open is the *Error Open would return; a frame
// that does not decode at off is an *Error at off with its reason (an
// all-zero header: crcframe.CleanEnd). I/O errors are returned as they are.
func Peek(path string, number uint64, logID [16]byte, off int64, maxPayload int) (Header, crcframe.Header, error) {
	f, err := sysutil.OpenFile(path, false)
	if err != nil {
		return Header{}, crcframe.Header{}, err
	}
	defer f.Close()
	var hb [HeaderSize]byte
	n, err := f.ReadAt(hb[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Header{}, crcframe.Header{}, err
	}
	h, err := DecodeHeader(hb[:n])
	switch {
	case err != nil:
		return Header{}, crcframe.Header{}, &Error{Path: path, Reason: reasonOf(err)}
	case h.LogID != logID:
		return Header{}, crcframe.Header{}, &Error{Path: path, Reason: crcframe.ForeignSegment}
	case h.Number != number:
		return Header{}, crcframe.Header{}, &Error{Path: path, Reason: crcframe.SegmentNumberMismatch}
	}
	st, err := f.Stat()
	if err != nil {
		return Header{}, crcframe.Header{}, err
	}
	if st.Size() < h.Size {
		return Header{}, crcframe.Header{}, &Error{Path: path, Offset: st.Size(), Reason: crcframe.SegmentShort}
	}
	bad := func(r crcframe.Reason) (Header, crcframe.Header, error) {
		return h, crcframe.Header{}, &Error{Path: path, Offset: off, Reason: r}
	}
	if off < HeaderSize || off%crcframe.Alignment != 0 || off+crcframe.HeaderSize > h.Size {
		return bad(crcframe.LengthOutOfBounds)
	}
	var fb [crcframe.HeaderSize]byte
	if _, err := f.ReadAt(fb[:], off); err != nil {
		return h, crcframe.Header{}, err
	}
	length := int64(binary.LittleEndian.Uint32(fb[4:]))
	if length > int64(maxPayload) || off+int64(crcframe.Size(int(min(length, crcframe.MaxPayload)))) > h.Size {
		if crcframe.IsZero(fb[:]) {
			return bad(crcframe.CleanEnd)
		}
		return bad(crcframe.LengthOutOfBounds)
	}
	b := make([]byte, crcframe.Size(int(length)))
	if _, err := f.ReadAt(b, off); err != nil {
		return h, crcframe.Header{}, err
	}
	fh, _, _, err := crcframe.Decode(b, crcframe.Seed(h.LogID, h.Number), maxPayload)
	if err != nil {
		return bad(reasonOf(err))
	}
	return h, fh, nil
}

// FirstRecord returns the header of the segment's first record (a full
// frame or the first frame of a batch), checking the frames before it (a
// durable mark, pads) as [File.Scan] does, prevSeq being Scan's. ok is
// false when the frames end (a zero header) or a seal comes before any
// record. It reads nothing after that record's frame: the batch it may
// start is not checked. A frame before it that is not valid is an *Error
// at its offset with its reason; a fault reading the mapping, one with
// crcframe.IOFault.
func (s *File) FirstRecord(prevSeq uint64, maxPayload int) (h crcframe.Header, ok bool, err error) {
	off := int64(HeaderSize)
	defer guard(func() { h, ok, err = crcframe.Header{}, false, s.fault(off) })()
	prev := prevSeq
	for off < s.hdr.Size {
		fh, _, n, derr := crcframe.Decode(s.data[off:s.hdr.Size], s.seed, maxPayload)
		switch {
		case errors.Is(derr, crcframe.CleanEnd):
			return crcframe.Header{}, false, nil
		case derr != nil:
			r := reasonOf(derr)
			if r == crcframe.IncompletePayload {
				r = crcframe.LengthOutOfBounds // as Scan says it: the file is full size
			}
			return crcframe.Header{}, false, &Error{Path: s.path, Offset: off, Reason: r}
		case !follows(fh, prev, false):
			return crcframe.Header{}, false, &Error{Path: s.path, Offset: off, Reason: crcframe.SequenceViolation}
		case fh.Type.IsRecord():
			return fh, true, nil
		case fh.Type == crcframe.Seal:
			return crcframe.Header{}, false, nil
		}
		prev = fh.Seq
		off += int64(n)
	}
	return crcframe.Header{}, false, nil
}
