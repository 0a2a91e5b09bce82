package mmapwal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Readers see every appended record, durable or not: a record is readable as
// soon as the call that appended it has written it (before it is synced).
// Every record's checksum was verified before it is first returned: the
// records found at Open are verified by its scan, and later ones were
// written by this process.

// Read returns a copy of the record seq, or ErrNotFound.
func (l *Log) Read(seq uint64) ([]byte, error) {
	return l.ReadInto(nil, seq)
}

// ReadInto appends the record seq to dst and returns the extended slice. It
// does not allocate when dst has room.
func (l *Log) ReadInto(dst []byte, seq uint64) ([]byte, error) {
	s, f, i, err := l.pinRecord(seq)
	if err != nil {
		return dst, err
	}
	defer s.unpin()
	payload, err := framePayload(f.Data(), s.idx.off(i), s.name)
	if err != nil {
		return dst, err
	}
	return appendGuarded(dst, payload, s.name, s.idx.off(i))
}

// Reads that race with a TruncateBack of the same record may see its bytes
// being zeroed; a caller that truncates what others are reading must order
// the two itself.

// View calls fn with the record seq as a slice of the log's mapping: no
// copy. The slice is valid only inside fn and must not be modified or kept;
// after fn returns, a truncation or Close may unmap it, and a later access
// faults (a crash, not a recoverable panic). View returns fn's error, or
// ErrNotFound.
func (l *Log) View(seq uint64, fn func([]byte) error) error {
	s, f, i, err := l.pinRecord(seq)
	if err != nil {
		return err
	}
	defer s.unpin()
	payload, err := framePayload(f.Data(), s.idx.off(i), s.name)
	if err != nil {
		return err
	}
	return fn(payload)
}

// pinRecord finds the record seq and pins its segment; the caller unpins.
func (l *Log) pinRecord(seq uint64) (*seg, *segment.File, int64, error) {
	s, i, err := l.locate(seq)
	if err != nil {
		return nil, nil, 0, err
	}
	f, err := s.pin()
	if err != nil {
		return nil, nil, 0, l.readErr(err, seq)
	}
	return s, f, i, nil
}

// locate finds the segment and index position of seq.
func (l *Log) locate(seq uint64) (*seg, int64, error) {
	if l.closed.Load() {
		return nil, 0, ErrClosed
	}
	if seq == 0 || seq < l.front.Load() || seq > l.last.Load() {
		return nil, 0, l.notFound(seq)
	}
	segs := l.segments()
	k := sort.Search(len(segs), func(k int) bool { return segs[k].first > seq }) - 1
	if k < 0 {
		return nil, 0, l.notFound(seq)
	}
	s := segs[k]
	i, ok := s.idx.find(seq)
	if !ok {
		return nil, 0, l.notFound(seq)
	}
	return s, i, nil
}

func (l *Log) notFound(seq uint64) error {
	return fmt.Errorf("%w: sequence %d (log holds %d..%d)", ErrNotFound, seq, l.first.Load(), l.last.Load())
}

// readErr turns a failure to pin a segment into the reader's error.
func (l *Log) readErr(err error, seq uint64) error {
	if errors.Is(err, errSegGone) {
		return l.notFound(seq)
	}
	return err
}

// framePayload returns the payload of the frame at off. The frame was
// verified when it was scanned or written; reading its length goes through
// the mapping, so a fault (a file truncated under us, an I/O error) becomes
// a CorruptionError instead of a crash.
func framePayload(data []byte, off int64, name string) (payload []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer recoverFault(old, &err, name, off)
	n := int64(binary.LittleEndian.Uint32(data[off+4:]))
	start := off + crcframe.HeaderSize
	if start+n > int64(len(data)) {
		return nil, &CorruptionError{Segment: name, Offset: off, Reason: ReasonLengthOutOfBounds, Durable: true}
	}
	return data[start : start+n], nil
}

// appendGuarded copies a payload out of the mapping under the fault guard.
func appendGuarded(dst, payload []byte, name string, off int64) (out []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer recoverFault(old, &err, name, off)
	return append(dst, payload...), nil
}

// recoverFault, deferred around an access to a mapping with
// debug.SetPanicOnFault(true) in force, restores the previous setting and
// turns a memory fault (SIGBUS/SIGSEGV on a file truncated under the
// mapping, or an I/O error paging it in) into a CorruptionError with
// ReasonIOFault. The setting is per goroutine, so it is set and restored
// around each access.
func recoverFault(old bool, err *error, name string, off int64) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		*err = &CorruptionError{Segment: name, Offset: off, Reason: ReasonIOFault, Durable: true}
	}
}
