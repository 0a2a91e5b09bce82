package mmapwal

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Readers see every appended record, durable or not: a record is readable as
// soon as the call that appended it has written it (before it is synced).
// Every record's checksum was verified before it is first returned: the
// records found at Open are verified by its scan or, in a sealed segment
// whose frames Open did not read, by the scan of the whole segment that
// the first Read, View or truncation runs (seg.ready), or by an iterator's
// scan a step ahead of itself (seg.readyFor: it returns records only from
// the verified part, stopping at damage as the whole scan would); later
// ones were written by this process.
//
// Readers take no lock against truncations: they check the chain of
// TruncateBacks after reading (see backCut) and look again when a cut that
// began meanwhile may have dropped or moved what they read. A ReadOnly log
// has no writer of its own to follow, so it checks each frame instead (see
// readVerified).

// Read returns a copy of the record seq, or ErrNotFound.
func (l *Log) Read(seq uint64) ([]byte, error) {
	return l.ReadInto(nil, seq)
}

// ReadInto appends the record seq to dst and returns the extended slice. It
// does not allocate when dst has room (on a ReadOnly log: room for the
// record's frame, up to 31 bytes more).
func (l *Log) ReadInto(dst []byte, seq uint64) ([]byte, error) {
	n0 := len(dst)
	for {
		c := l.cuts.Load()
		out, err := l.readOnce(dst[:n0], seq, c)
		if l.settled(c, seq) {
			return out, err
		}
		dst = out // keep what it grew to
	}
}

// readOnce is one attempt of ReadInto, c the newest cut before it.
func (l *Log) readOnce(dst []byte, seq uint64, c *backCut) ([]byte, error) {
	s, f, i, err := l.pinRecord(seq, c)
	if err != nil {
		return dst, err
	}
	defer s.unpin()
	if l.opts.ReadOnly {
		return l.readVerified(dst, s, f, i, seq)
	}
	out, err := f.AppendRecord(dst, s.idx.off(i), seq)
	if err != nil {
		return dst, frameErr(s.name, err)
	}
	return out, nil
}

// View calls fn with the record seq as a slice of the log's mapping: no
// copy. The slice is valid only inside fn and must not be modified or kept;
// after fn returns, a truncation or Close may unmap it, and a later access
// faults (a crash, not a recoverable panic). View returns fn's error, or
// ErrNotFound.
//
// A TruncateBack that drops seq while fn runs zeroes the bytes under it:
// then View returns a *TruncatedError (ErrTruncated) after fn, whatever fn
// returned, and what fn saw may not be the record — undo what it did with
// them. Read and ReadInto copy and check after the copy: they never return
// such bytes.
//
// On a ReadOnly log View passes fn a checked copy (see Options.ReadOnly):
// another process may change the mapped bytes at any time.
func (l *Log) View(seq uint64, fn func([]byte) error) error {
	if fn == nil {
		return fmt.Errorf("%w: View(%d) with a nil function", ErrInvalidArgument, seq)
	}
	if l.opts.ReadOnly {
		return l.viewCopy(seq, fn)
	}
	for {
		c := l.cuts.Load()
		if done, err := l.viewOnce(seq, c, fn); done {
			return err
		}
	}
}

// viewOnce is one attempt of View; done is false when a cut that began
// meanwhile may have dropped the record (fn was not called).
func (l *Log) viewOnce(seq uint64, c *backCut, fn func([]byte) error) (done bool, _ error) {
	s, f, i, err := l.pinRecord(seq, c)
	if err != nil {
		return l.settled(c, seq), err
	}
	defer s.unpin()
	payload, err := framePayload(s, f, i, seq)
	if !l.settled(c, seq) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	err = fn(payload)
	if !l.settled(c, seq) {
		return true, &TruncatedError{Seq: seq, LastSeq: l.last.Load()}
	}
	return true, err
}

// roBufs holds the buffers of View on ReadOnly logs.
var roBufs = sync.Pool{New: func() any { return new([]byte) }}

// viewCopy is View on a ReadOnly log: fn gets a checked copy.
func (l *Log) viewCopy(seq uint64, fn func([]byte) error) error {
	bp := roBufs.Get().(*[]byte)
	defer roBufs.Put(bp)
	b, err := l.ReadInto((*bp)[:0], seq)
	*bp = b[:0]
	if err != nil {
		return err
	}
	return fn(b)
}

// pinRecord finds the record seq and pins its segment; the caller unpins.
// c is the newest cut when the read began.
func (l *Log) pinRecord(seq uint64, c *backCut) (*seg, *segment.File, int64, error) {
	s, i, err := l.locate(seq, c)
	if err != nil {
		return nil, nil, 0, err
	}
	f, err := s.pin()
	if err != nil {
		return nil, nil, 0, l.readErr(err, seq)
	}
	return s, f, i, nil
}

// locate finds the segment and index position of seq. While the cut c is
// pending, records above its last are being dropped: not found.
func (l *Log) locate(seq uint64, c *backCut) (*seg, int64, error) {
	if l.closed.Load() {
		return nil, 0, ErrClosed
	}
	if seq == 0 || seq < l.front.Load() || seq > l.last.Load() || (seq > c.last && c.pending.Load()) {
		return nil, 0, l.notFound(seq)
	}
	segs := l.segments()
	k := sort.Search(len(segs), func(k int) bool { return segs[k].first > seq }) - 1
	if k < 0 {
		return nil, 0, l.notFound(seq)
	}
	s := segs[k]
	bad := s.ready() // a sealed segment Open did not read is verified first
	i, ok := s.idx.find(seq)
	if !ok {
		if n := s.idx.len(); bad != nil && (n == 0 || seq > s.idx.seq(n-1)) {
			return nil, 0, l.readErr(bad, seq) // after the damage: it may have been there
		}
		return nil, 0, l.notFound(seq)
	}
	return s, i, nil
}

func (l *Log) notFound(seq uint64) error {
	return fmt.Errorf("%w: sequence %d (log holds %d..%d)", ErrNotFound, seq, l.first.Load(), l.last.Load())
}

// readErr turns a failure to pin a segment into the reader's error. On a
// ReadOnly log a segment that no longer opens as the log's (the writer
// removed it, or is creating it again) changed under the view; other
// failures (too many open files, say) are returned as they are.
func (l *Log) readErr(err error, seq uint64) error {
	var ce *CorruptionError
	switch {
	case errors.Is(err, errSegGone):
		return l.notFound(seq)
	case l.opts.ReadOnly && (errors.Is(err, fs.ErrNotExist) || errors.As(err, &ce)):
		return l.changed(seq)
	}
	return err
}

// changed is the error of a ReadOnly read whose record the writer truncated
// or replaced since Open.
func (l *Log) changed(seq uint64) error {
	return &TruncatedError{Seq: seq, LastSeq: l.last.Load()}
}

// framePayload returns the payload of the frame at index position i of s
// (mapped as f), which the index says holds seq, as a slice of the mapping
// (see segment.File.RecordPayload). A fault reading its header (a file
// truncated under us, an I/O error), a header that does not hold seq or
// whose length runs out of the segment is a CorruptionError. Callers check the cut chain
// before trusting an error: a racing TruncateBack explains it.
func framePayload(s *seg, f *segment.File, i int64, seq uint64) ([]byte, error) {
	p, err := f.RecordPayload(s.idx.off(i), seq)
	if err != nil {
		return nil, frameErr(s.name, err)
	}
	return p, nil
}

// frameErr turns an error of segment's read path (an *segment.Error at the
// frame's offset) into damage to durable data of the segment name.
func frameErr(name string, err error) error {
	var se *segment.Error
	if errors.As(err, &se) {
		return &CorruptionError{Segment: name, Offset: se.Offset, Reason: se.Reason, Durable: true}
	}
	return err
}

// readVerified appends the record seq, at index position i of s (mapped as
// f), to dst on a ReadOnly log. Another process may have truncated the
// record, written another one in its place or removed the file since Open,
// so it copies the whole frame, checks the copy (checksum, sequence, type,
// length) and then that the file still is the segment; any mismatch means
// the log changed under the view: ErrTruncated (and ErrNotFound).
func (l *Log) readVerified(dst []byte, s *seg, f *segment.File, i int64, seq uint64) ([]byte, error) {
	n0 := len(dst)
	off := s.idx.off(i)
	out, ok, err := f.AppendFrame(dst, off)
	if err != nil {
		return dst, frameErr(s.name, err)
	}
	if !ok {
		return dst, l.changed(seq)
	}
	h, payload, _, derr := crcframe.Decode(out[n0:], f.Seed(), framePayloadIn(s.size))
	if derr != nil || h.Seq != seq || !h.Type.IsRecord() {
		return dst, l.changed(seq)
	}
	if linked, lerr := f.Linked(); lerr != nil || !linked {
		return dst, l.changed(seq)
	}
	n := copy(out[n0:], payload)
	return out[:n0+n], nil
}
