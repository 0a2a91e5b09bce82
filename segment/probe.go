package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// State is what [Probe] found in a segment file, without mapping it.
type State int

// The states of a segment file. Recovery may remove a file only in the
// states that never held a frame (CreationInterrupted, Prepared), and then
// only after copying its non-zero bytes (Status.Dirty) to a quarantine file.
const (
	// Absent: there is no file of that name.
	Absent State = iota + 1
	// CreationInterrupted: the header does not check, no valid frame of
	// this segment starts at HeaderSize, and every byte after the header's
	// sector (CreationSector) is zero — or the file is no longer than a
	// sector and all zero. A crash interrupted the creation before the
	// header was synced: activation rewrites a header the creation synced,
	// so such a file never held a record. Status.Dirty > 0 when its sector
	// holds non-zero bytes, which a removal must quarantine.
	CreationInterrupted
	// Prepared: the header checks, its first sequence is 0 (prepared, never
	// activated) and every byte after it, up to the segment size, is zero.
	Prepared
	// PreparedDirty: a prepared header (first sequence 0), no valid frame
	// at HeaderSize, and non-zero bytes after the header. Whether they are
	// the residue of an activation is for the frame scan to judge.
	PreparedDirty
	// Active: the header checks with a first sequence, or a prepared header
	// is followed by a valid frame at HeaderSize (an activation whose new
	// header did not reach the disk).
	Active
	// Newer: a well-formed header of a newer format version. Never repaired.
	Newer
	// Damaged: the header does not check, yet the file holds what no
	// interrupted creation leaves: a valid frame of this segment at
	// HeaderSize or anywhere in the header's sector (its seed comes from the
	// log identity and the number, not from the header), non-zero bytes
	// after the header's sector, or, for a file no longer than a sector,
	// any non-zero byte. Its records may have
	// been acknowledged: corruption, never removed.
	Damaged
	// Foreign: the header checks but names another log or another segment
	// number (Status.Reason says which).
	Foreign
)

var stateNames = [...]string{
	Absent:              "absent",
	CreationInterrupted: "creation interrupted",
	Prepared:            "prepared",
	PreparedDirty:       "prepared, with bytes after the header",
	Active:              "active",
	Newer:               "newer format",
	Damaged:             "damaged",
	Foreign:             "foreign",
}

func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// CreationSector is the part of a segment file that its creation writes
// (the header's 512-byte sector): a power cut during the creation, before
// the file was synced, may leave any bytes there, and only zeros after it.
const CreationSector = 512

// probeChunk bounds the memory of a probe: files are read this many bytes at
// a time, whatever their size.
const probeChunk = 64 << 10

// Status is the result of [Probe].
type Status struct {
	State State
	// Header is the decoded header when it checks (Prepared, PreparedDirty,
	// Active with a checking header, Foreign).
	Header Header
	// Reason is why the header does not check (CreationInterrupted,
	// Damaged), or ForeignSegment / SegmentNumberMismatch for Foreign.
	Reason crcframe.Reason
	// Frame reports whether a valid frame of this segment starts at
	// HeaderSize. It is checked only where it decides the state: when the
	// header does not check or is a prepared one (false otherwise).
	Frame bool
	// Dirty is the end of the last non-zero byte of the segment (the file
	// up to the header's segment size when the header checks), rounded up
	// to 8 bytes (0 when every byte is zero); the state is judged on it.
	// FileDirty is the same over the whole file: bytes past the segment
	// size belong to no segment, but [0, FileDirty) is what a removal must
	// quarantine. Both are computed for CreationInterrupted, Prepared,
	// PreparedDirty and Damaged only (0 otherwise), since they read the
	// whole file.
	Dirty, FileDirty int64
	// Size is the file's size.
	Size int64
}

// Probe classifies the segment file at path, which should be segment number
// of the log logID, without mapping it and without changing it. It opens
// the file through sysutil (the fault seam applies) and reads it in bounded
// chunks. Errors are I/O errors; what the bytes say is in the Status. A
// directory entry that is not a regular file is an *Error (BadMagic).
func Probe(path string, number uint64, logID [16]byte) (Status, error) {
	f, err := sysutil.OpenFile(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{State: Absent}, nil
	}
	if err != nil {
		return Status{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Status{}, err
	}
	if !st.Mode().IsRegular() {
		return Status{}, &Error{Path: path, Reason: crcframe.BadMagic}
	}
	p := prober{f: f, size: st.Size(), limit: st.Size(), seed: crcframe.Seed(logID, number)}
	return p.classify(number, logID)
}

// prober reads one open segment file.
type prober struct {
	f    *os.File
	size int64 // the file's size
	// limit is where the segment ends: the header's segment size when the
	// header checks (FORMAT.md §2: bytes past it are not the segment's),
	// else the file's size. Frames and the state are judged below it.
	limit int64
	seed  uint32
}

func (p *prober) classify(number uint64, logID [16]byte) (Status, error) {
	s := Status{Size: p.size}
	var hb [HeaderSize]byte
	n, err := p.readAt(hb[:], 0)
	if err != nil {
		return s, err
	}
	h, herr := DecodeHeader(hb[:n])
	switch {
	case errors.Is(herr, crcframe.UnsupportedVersion):
		s.State, s.Reason = Newer, crcframe.UnsupportedVersion
		return s, nil
	case herr == nil && h.LogID != logID:
		s.State, s.Header, s.Reason = Foreign, h, crcframe.ForeignSegment
		return s, nil
	case herr == nil && h.Number != number:
		s.State, s.Header, s.Reason = Foreign, h, crcframe.SegmentNumberMismatch
		return s, nil
	case herr == nil && h.FirstSeq != 0:
		s.State, s.Header = Active, h
		return s, nil
	case herr == nil:
		p.limit = min(p.size, h.Size)
	}
	if s.Frame, err = p.frameAt(HeaderSize); err != nil {
		return s, err
	}
	if herr == nil && s.Frame {
		s.State, s.Header = Active, h
		return s, nil
	}
	if s.Dirty, err = p.dirtyEnd(p.limit); err != nil {
		return s, err
	}
	s.FileDirty = s.Dirty
	if p.limit < p.size {
		if s.FileDirty, err = p.dirtyEnd(p.size); err != nil {
			return s, err
		}
		s.FileDirty = max(s.FileDirty, s.Dirty)
	}
	if herr == nil {
		s.State, s.Header = PreparedDirty, h
		if s.Dirty <= HeaderSize {
			s.State = Prepared
		}
		return s, nil
	}
	s.Reason = reasonOf(herr)
	// The creation preallocates the whole file before it writes the header,
	// so a crash leaves it empty or full size, never short with bytes in
	// it: a short file that is not all zeros was cut from outside, and may
	// have held records.
	interrupted := !s.Frame && (s.Dirty == 0 || (p.size > CreationSector && s.Dirty <= CreationSector))
	if interrupted && s.Dirty > HeaderSize {
		// Never remove a file holding a frame: look for one anywhere in
		// the sector, should the first frame be damaged too.
		var frame bool
		if frame, err = p.frameIn(HeaderSize+crcframe.Alignment, s.Dirty); err != nil {
			return s, err
		}
		interrupted = !frame
	}
	s.State = Damaged
	if interrupted {
		s.State = CreationInterrupted
	}
	return s, nil
}

// frameIn reports whether a valid frame of the segment starts at any
// aligned offset in [from, to).
func (p *prober) frameIn(from, to int64) (bool, error) {
	for off := from; off < to; off += crcframe.Alignment {
		var hb [crcframe.HeaderSize]byte
		if n, err := p.readAt(hb[:], off); err != nil || n < len(hb) {
			return false, err
		}
		// Only a known type with zero reserved bytes can start a frame:
		// checking first spares reading the claimed payload.
		if !crcframe.Type(hb[20]).Known() || hb[21]|hb[22]|hb[23] != 0 {
			continue
		}
		if ok, err := p.frameAt(off); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// readAt reads into b at off, up to the end of the file; it returns the
// bytes read.
func (p *prober) readAt(b []byte, off int64) (int, error) {
	n, err := p.f.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// frameAt reports whether a valid frame of the segment starts at off,
// reading at most probeChunk bytes at a time. The checks are Decode's:
// length within the file, CRC, type, reserved bytes, zero padding, a
// non-zero sequence.
func (p *prober) frameAt(off int64) (bool, error) {
	var hb [crcframe.HeaderSize]byte
	if n, err := p.readAt(hb[:], off); err != nil || n < len(hb) {
		return false, err
	}
	n := int64(binary.LittleEndian.Uint32(hb[4:]))
	size := int64(crcframe.Size(int(n)))
	if crcframe.IsZero(hb[:]) || n > crcframe.MaxPayload || off+size > p.limit {
		return false, nil
	}
	if size <= probeChunk {
		b := make([]byte, size)
		if _, err := p.readAt(b, off); err != nil {
			return false, err
		}
		_, _, _, err := crcframe.Decode(b, p.seed, int(n))
		return err == nil, nil
	}
	// A large frame: the CRC is computed chunk by chunk, and the header
	// fields Decode checks after it are checked here.
	if !crcframe.Type(hb[20]).Known() || hb[21]|hb[22]|hb[23] != 0 || binary.LittleEndian.Uint64(hb[8:]) == 0 {
		return false, nil
	}
	crc := crcframe.Checksum(p.seed, hb[4:])
	buf := make([]byte, probeChunk)
	payloadEnd := off + crcframe.HeaderSize + n
	for at := off + crcframe.HeaderSize; at < off+size; {
		b := buf[:min(int64(len(buf)), off+size-at)]
		if _, err := p.readAt(b, at); err != nil {
			return false, err
		}
		if pad := max(0, at+int64(len(b))-payloadEnd); pad > 0 && !crcframe.IsZero(b[int64(len(b))-pad:]) {
			return false, nil
		}
		crc = crcframe.Checksum(crc, b)
		at += int64(len(b))
	}
	return crc == binary.LittleEndian.Uint32(hb[:4]), nil
}

// dirtyEnd returns the end of the last non-zero byte before to, rounded up
// to 8 (0 when all are zero), reading backwards in chunks.
func (p *prober) dirtyEnd(to int64) (int64, error) {
	buf := make([]byte, probeChunk)
	for end := to; end > 0; {
		lo := max(0, end-probeChunk)
		b := buf[:end-lo]
		if _, err := p.readAt(b, lo); err != nil {
			return 0, err
		}
		if !crcframe.IsZero(b) {
			last := len(b)
			for last > 0 && b[last-1] == 0 {
				last--
			}
			return min(to, (lo+int64(last)+7)&^7), nil
		}
		end = lo
	}
	return 0, nil
}

// ReadHeader reads and decodes the header of the segment file at path, as
// [DecodeHeader] does (errors.Is(err, crcframe.UnsupportedVersion) tells a
// newer format), reading nothing else. It opens the file through sysutil.
func ReadHeader(path string) (Header, error) {
	f, err := sysutil.OpenFile(path, false)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	var hb [HeaderSize]byte
	n, err := f.ReadAt(hb[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Header{}, err
	}
	return DecodeHeader(hb[:n])
}

// QuarantineFile copies bytes [from, to) of the file at path to a new file
// beside it, named by [QuarantineName] (replacing one of that name that an
// earlier, interrupted attempt left), and makes it durable: the copy to
// keep before a file is removed. It reads in bounded chunks and returns the
// quarantine file's path.
func QuarantineFile(path string, from, to int64) (_ string, err error) {
	src, err := sysutil.OpenFile(path, false)
	if err != nil {
		return "", err
	}
	defer src.Close()
	q := QuarantineName(path, from)
	if err := sysutil.Remove(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dst, err := sysutil.Create(q)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, from, to-from))
	if err == nil {
		err = sysutil.Fdatasync(dst)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sysutil.SyncDir(filepath.Dir(q))
	}
	if err != nil {
		os.Remove(q)
		return "", fmt.Errorf("segment: quarantine %s: %w", q, err)
	}
	return q, nil
}

// DropCache asks the kernel to drop the clean cached pages of the file at
// path, so that later reads come from the disk (after a failed write-back,
// the page cache may hold bytes the disk does not). It promises nothing;
// a missing file is not an error.
func DropCache(path string) error {
	f, err := sysutil.OpenFile(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return sysutil.FadviseDontNeed(f, 0, 0)
}
