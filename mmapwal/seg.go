package mmapwal

import (
	"errors"
	"math"
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

	written int64 // end of the committed frames (writer only)
	seal    int64 // offset of the seal frame that ends the segment, 0 = none (writer only)
	// recycled: the file reuses a removed segment's (FORMAT.md §9.7); the
	// writer keeps a zero frame header after its last frame.
	recycled bool
	synced   atomic.Int64 // end of the bytes known durable

	mu     sync.Mutex // guards the fields below
	file   *segment.File
	refs   int  // pins, plus one while the segment is the active one
	dead   bool // removed from the log: close the mapping at the last unpin
	closed bool // the Log was closed
	logID  [16]byte
	write  bool    // map writable
	maps   *mapSet // the Log's bound on mapped segments (nil: none)
	used   uint64  // maps' clock at the last pin

	lru lruLinks // the segment's place in maps' list of mapped segments (under maps.mu)

	// lazy is set, before the segment is published, on a sealed segment
	// whose frames Open did not read (format version 2: it checked the
	// header and the seal, see Log.deferScan); its records are indexed
	// and verified by the first caller of ready, or a step at a time by
	// iterators (readyFor, verifyPart): the index then holds, published,
	// the records verified so far, which only iterators read before lazy
	// is cleared. It is cleared (under imu) once every record is
	// verified; it stays set on a segment the verification found damaged
	// (bad), whose index then holds the records before the damage.
	lazy atomic.Pointer[deferredCheck]
	imu  sync.Mutex                      // serialises the verification; taken before mu and the mapSet's
	bad  atomic.Pointer[CorruptionError] // the damage the verification found
}

// deferredCheck is what Open learnt of a sealed segment whose frames it did
// not read, and what their verification must find.
type deferredCheck struct {
	prev    uint64 // the sequence before the segment's first frame (FORMAT.md §3's prev)
	seal    int64  // the offset of the seal frame, as the next segment's header records it
	sealSeq uint64 // the seal's sequence: every record here is at or below it
	// first is the sequence of the segment's first record, when Open read
	// it (0: not read); none says Open found the segment holds no record.
	first uint64
	none  bool

	// scan is how far the verification has come (under the seg's imu):
	// the valid prefix of frames verified and indexed so far, published;
	// Offset 0 before its first step. Iterators verify a step at a time
	// as they reach the end of what is verified (seg.readyFor), so that
	// they read the frames while the verification left them in the cache.
	scan  segment.End
	visit segment.Visit // indexes what scan verifies; made at the first step
}

// maxVerifyStep is how many bytes of frames an iterator verifies at a time
// ahead of itself in a sealed segment Open did not read: small enough
// that the frames are still in the CPU's cache when it returns them. A
// step is at most an eighth of the segment (see step), so that small
// segments, the tests' among them, are verified in several steps too.
const maxVerifyStep = 256 << 10

// step is the bytes of frames an iterator verifies at a time in s.
func (s *seg) step() int64 { return max(min(maxVerifyStep, s.size/8), 1) }

var errSegGone = errors.New("mmapwal: segment no longer in the log")

// pin maps the segment if needed and returns its mapping; the caller must
// unpin. It fails once the segment was removed or the Log closed.
func (s *seg) pin() (*segment.File, error) {
	f, mapping, err := s.pinLocked()
	if mapping {
		s.maps.afterMap(s) // outside s.mu: see mapSet
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

// release closes the mapping if nobody uses it (idle unmapping) and reports
// whether it did. Called with no segment's mutex held.
func (s *seg) release() bool {
	m := s.maps
	if m == nil {
		return s.releaseMapping()
	}
	// Under m.mu throughout: a pin that maps s again meanwhile lists it
	// again only after it was taken out.
	m.mu.Lock()
	defer m.mu.Unlock()
	if !s.releaseMapping() {
		return false
	}
	m.unlink(s)
	return true
}

func (s *seg) releaseMapping() bool {
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
// if unused, else at the last unpin. It reports whether nothing pinned the
// segment then (no pin can be taken after it). Called with no segment's
// mutex held.
func (s *seg) retire(dead bool) (idle bool) {
	s.mu.Lock()
	idle = s.refs == 0
	if dead {
		s.dead = true
	} else {
		s.closed = true
	}
	if s.refs == 0 && s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.mu.Unlock()
	s.maps.forget(s) // after dead or closed is set: maps.add skips it from then on
	return idle
}

func (s *seg) mapped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file != nil
}

// ready makes sure the segment's records are indexed and verified: a sealed
// segment whose frames Open did not read is scanned (checksums, sequences,
// the seal the next header records: FORMAT.md §5 and §9.2) by the first
// caller; the others wait for it. It returns the damage found, a
// *CorruptionError (Durable), every time it is called again; the index then
// holds the valid records before the damage. A failure to map the segment
// (errSegGone, ErrClosed, a descriptor limit) is returned and the
// verification is tried again by the next caller. A single atomic load
// once the segment is verified.
func (s *seg) ready() error {
	if s.lazy.Load() == nil {
		return nil
	}
	return s.verify()
}

func (s *seg) verify() error { return s.verifyPart(0) }

// readyFor is ready for an iterator that wants the first record at or
// above seq: the segment is verified only as far as that record, a step
// at a time (step), or whole when it holds none. It returns the
// damage found so far, as ready does, or a failure to map the segment.
func (s *seg) readyFor(seq uint64) error {
	for s.lazy.Load() != nil {
		if ce := s.bad.Load(); ce != nil {
			return ce
		}
		if last, n := s.idx.lastSeq(); n > 0 && last >= seq {
			return nil
		}
		if err := s.verifyPart(s.step()); err != nil {
			return err
		}
	}
	return nil
}

// verifyPart goes on with the verification for step more bytes of frames
// (0: to the end) and publishes the records it indexed; at the end of the
// frames it judges the segment's end and clears lazy, or records the
// damage in bad.
func (s *seg) verifyPart(step int64) error {
	s.imu.Lock()
	defer s.imu.Unlock()
	d := s.lazy.Load()
	if d == nil {
		return nil
	}
	if ce := s.bad.Load(); ce != nil {
		return ce
	}
	f, err := s.pin()
	if err != nil {
		return err // the next caller tries again from where d.scan stands
	}
	defer s.unpin()
	if d.scan.Offset == 0 {
		d.scan = segment.End{Offset: segment.HeaderSize, LastSeq: d.prev}
	}
	limit := int64(math.MaxInt64)
	if step > 0 {
		limit = d.scan.Offset + step
	}
	if d.visit == nil {
		x := s.idx
		d.visit = func(off int64, h crcframe.Header, _ []byte) { x.put(off, h.Seq) }
	}
	done := f.ScanFrom(&d.scan, framePayloadIn(s.size), limit, d.visit)
	s.idx.publish()
	if !done {
		return nil
	}
	if ce := sealedEnd(s.name, d.scan, d.seal); ce != nil {
		s.bad.Store(ce)
		return ce
	}
	s.lazy.Store(nil)
	return nil
}

// sealedEnd checks the end of a segment sealed under format version 2,
// whose seal the next header records at seal, as recovery judges it
// (FORMAT.md §5, §9.2): an invalid frame is damage to durable data at the
// spot, a seal missing from its place is ReasonMissingSeal there.
func sealedEnd(name string, end segment.End, seal int64) *CorruptionError {
	if !end.Clean() {
		return &CorruptionError{Segment: name, Offset: end.Bad, Reason: end.Reason, Durable: true}
	}
	if !end.Sealed || end.Offset-sealSize != seal {
		return &CorruptionError{Segment: name, Offset: seal, Reason: ReasonMissingSeal, Durable: true}
	}
	return nil
}

// bound returns a sequence no record of the segment is above: the seal's
// of a segment not verified yet, else the last indexed record's (0: none).
func (s *seg) bound() uint64 {
	if d := s.lazy.Load(); d != nil {
		return d.sealSeq
	}
	return s.lastSeq()
}

// firstAtOrAbove returns the first record of the segment at or above
// front. A segment not verified yet answers from what Open read when it
// can (its seal bounds its records; its first record, when front is at
// or below its first sequence), else it is verified first; the damage
// that verification finds is returned when the records before it do not
// answer.
func (s *seg) firstAtOrAbove(front uint64) (uint64, bool, error) {
	if d := s.lazy.Load(); d != nil {
		switch {
		case d.sealSeq < front:
			return 0, false, nil
		case front <= s.first && d.none:
			return 0, false, nil
		case front <= s.first && d.first != 0:
			return d.first, true, nil
		}
	}
	err := s.ready()
	if i, _ := s.idx.find(front); i < s.idx.len() {
		return s.idx.seq(i), true, nil
	}
	return 0, false, err
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
