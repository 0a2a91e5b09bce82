package mmapwal

import (
	"fmt"
	"sort"

	"github.com/mmapwal/mmapwal/segment"
)

// Iterator walks the log's records in sequence order, like bufio.Scanner:
//
//	it, err := l.NewIterator(from)
//	…
//	defer it.Close()
//	for it.Next() {
//		use(it.Seq(), it.Value())
//	}
//	if err := it.Err(); err != nil { … }
//
// An iterator that reaches the end returns false from Next with a nil Err;
// a later Next picks up records appended since. It holds its current
// segment mapped until it moves on or is closed. An Iterator is not safe for
// concurrent use; several iterators may run concurrently with each other and
// with writers.
type Iterator struct {
	l      *Log
	s      *seg          // pinned segment, or nil
	f      *segment.File // its mapping
	i      int64         // next index position in s
	next   uint64        // lowest sequence still to return
	seq    uint64
	val    []byte
	gen    uint64
	cut    *backCut // the newest TruncateBack seen
	err    error
	closed bool
}

// NewIterator returns an iterator positioned before the first record whose
// sequence is ≥ from (records below FirstSeq are gone; iteration starts at
// the first one kept).
func (l *Log) NewIterator(from uint64) (*Iterator, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	return &Iterator{l: l, next: max(from, 1), gen: l.st.gen.Load(), cut: l.cuts.Load()}, nil
}

// Next advances to the next record and reports whether there is one. It
// returns false at the end of the log (Err is nil: a later Next may find
// new records) or on an error (see Err).
func (it *Iterator) Next() bool {
	if it.err != nil || it.closed {
		return false
	}
	l := it.l
	if l.closed.Load() {
		return it.fail(ErrClosed)
	}
	if g := l.st.gen.Load(); g != it.gen {
		it.gen = g
		var low uint64
		it.cut, low = lowestCut(it.cut)
		if it.seq > low { // even if appends raised LastSeq again since
			return it.fail(fmt.Errorf("%w: record %d was truncated away under the iterator", ErrNotFound, it.seq))
		}
		it.drop() // re-locate: the end of the log moved
	}
	if front := l.front.Load(); it.next < front && it.seq != 0 {
		return it.fail(fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, front))
	} else if it.next < front {
		it.next = front
		it.drop() // the pinned position may be below front: re-locate
	}
	for {
		if it.s == nil && !it.seek() {
			return false
		}
		if it.i < it.s.idx.len() {
			if it.s.idx.seq(it.i) < it.next {
				// Appended after a TruncateBack lowered the end below
				// where the iterator starts: not for this iterator.
				it.i++
				continue
			}
			return it.load()
		}
		segs := l.segments()
		if len(segs) == 0 || segs[len(segs)-1] == it.s {
			return false // at the end for now
		}
		it.drop()
	}
}

// load makes the record at it.i current.
func (it *Iterator) load() bool {
	s := it.s
	seq := s.idx.seq(it.i)
	if seq > it.next && it.seq != 0 && it.next < it.l.front.Load() {
		// A TruncateFront after the check in Next dropped the records
		// between: seek landed past them.
		return it.fail(fmt.Errorf("%w: records before %d were truncated away under the iterator", ErrNotFound, it.l.front.Load()))
	}
	payload, err := framePayload(it.f.Data(), s.idx.off(it.i), s.name)
	if err != nil {
		return it.fail(err)
	}
	it.i++
	it.seq, it.val, it.next = seq, payload, seq+1
	return true
}

// seek pins the segment that holds the first record ≥ it.next.
func (it *Iterator) seek() bool {
	segs := it.l.segments()
	k := sort.Search(len(segs), func(k int) bool { return segs[k].first > it.next }) - 1
	for k = max(k, 0); k < len(segs); k++ {
		s := segs[k]
		i, _ := s.idx.find(it.next)
		if i >= s.idx.len() && k < len(segs)-1 {
			continue
		}
		f, err := s.pin()
		if err != nil {
			it.fail(it.l.readErr(err, it.next))
			return false
		}
		it.s, it.f, it.i = s, f, i
		return true
	}
	return false
}

// drop unpins the current segment.
func (it *Iterator) drop() {
	if it.s != nil {
		it.s.unpin()
		it.s, it.f = nil, nil
	}
}

func (it *Iterator) fail(err error) bool {
	it.err, it.val = err, nil
	it.drop()
	return false
}

// Seq returns the current record's sequence.
func (it *Iterator) Seq() uint64 { return it.seq }

// Value returns the current record as a slice of the log's mapping: valid
// until the next call of Next or Close, read-only.
func (it *Iterator) Value() []byte { return it.val }

// Err returns the error that stopped the iterator, or nil.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator's segment. It always returns nil; a second
// Close does nothing.
func (it *Iterator) Close() error {
	it.drop()
	it.closed, it.val = true, nil
	return nil
}
