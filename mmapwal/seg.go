package mmapwal

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// seg is the Log's view of one segment file: its place in the log, the index
// of its records, and its mapping, which is opened on demand and closed when
// idle.
//
// Readers pin a seg to use its mapping; the mapping stays valid until the
// last pin is released, even after a truncation removed the file or Close.
type seg struct {
	num   uint64
	path  string
	name  string
	size  int64
	first uint64 // the header's first sequence: every record here is ≥ first
	idx   *index

	written int64        // end of the committed frames (writer only)
	seal    int64        // offset of the seal frame that ends the segment, 0 = none (writer only)
	synced  atomic.Int64 // end of the bytes known durable

	mu     sync.Mutex // guards the fields below
	file   *segment.File
	refs   int  // pins, plus one while the segment is the active one
	dead   bool // removed from the log: close the mapping at the last unpin
	closed bool // the Log was closed
	logID  [16]byte
	write  bool    // map writable
	maps   *mapSet // the Log's bound on mapped segments (nil: none)
	used   uint64  // maps' clock at the last pin
}

var errSegGone = errors.New("mmapwal: segment no longer in the log")

// pin maps the segment if needed and returns its mapping; the caller must
// unpin. It fails once the segment was removed or the Log closed.
func (s *seg) pin() (*segment.File, error) {
	f, mapping, err := s.pinLocked()
	if mapping {
		s.maps.afterMap() // outside s.mu: see mapSet
	}
	return f, err
}

func (s *seg) pinLocked() (_ *segment.File, mapping bool, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	if s.dead {
		return nil, false, errSegGone
	}
	if s.file == nil {
		f, err := segment.Open(s.path, s.num, s.logID, s.write)
		if err != nil {
			return nil, false, corruptionFromOpen(s.name, err)
		}
		s.file, mapping = f, true
	}
	s.refs++
	s.used = s.maps.stamp(mapping)
	return s.file, mapping, nil
}

// unpin releases a pin; the last one of a removed or closed segment closes
// its mapping.
func (s *seg) unpin() {
	s.mu.Lock()
	s.refs--
	idle := s.refs == 0
	if idle && (s.dead || s.closed) && s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.mu.Unlock()
	if idle {
		s.maps.afterIdle()
	}
}

// idleSince returns the clock of the segment's last pin and whether it is
// mapped and unpinned.
func (s *seg) idleSince() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.file != nil && s.refs == 0 && !s.dead && !s.closed
}

// release closes the mapping if nobody uses it (idle unmapping) and reports
// whether it did.
func (s *seg) release() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs > 0 || s.file == nil {
		return false
	}
	s.file.Close()
	s.file = nil
	return true
}

// retire marks the segment removed (dead) or closed; its mapping closes now
// if unused, else at the last unpin.
func (s *seg) retire(dead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dead {
		s.dead = true
	} else {
		s.closed = true
	}
	if s.refs == 0 && s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

func (s *seg) mapped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file != nil
}

// lastSeq returns the sequence of the segment's last published record, or 0.
func (s *seg) lastSeq() uint64 {
	if n := s.idx.len(); n > 0 {
		return s.idx.seq(n - 1)
	}
	return 0
}

// corruptionFromOpen turns a segment.Open error into the Log's error.
func corruptionFromOpen(name string, err error) error {
	var se *segment.Error
	if !errors.As(err, &se) {
		return err
	}
	if se.Reason == crcframe.UnsupportedVersion {
		return &unsupportedError{name: name}
	}
	return &CorruptionError{Segment: name, Offset: se.Offset, Reason: se.Reason, Durable: true}
}

type unsupportedError struct{ name string }

func (e *unsupportedError) Error() string {
	return "mmapwal: segment " + e.name + " was written by a newer format version"
}
func (e *unsupportedError) Unwrap() error { return ErrUnsupportedVersion }

// fitsFor reports whether n bytes of frames at off, with room bytes free
// after them, fit in the segment, and it is not sealed. Writer only.
func (s *seg) fitsFor(off int64, n int, room int64) bool {
	return s.seal == 0 && int64(n)+room <= s.size-off
}

// fits is fitsFor with the room a record leaves (recordRoom).
func (s *seg) fits(off int64, n int) bool { return s.fitsFor(off, n, recordRoom) }
