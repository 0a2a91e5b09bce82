package mmapwal

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// mapSet enforces Options.MaxMappedSegments on the read path: a pin that
// maps a segment, and the last unpin while too many are mapped, unmap idle
// sealed segments beyond the limit, least recently used first (as the list
// below orders them: close to least recently pinned). The newest
// segment (the active one) is not counted, as in trimMapped; pinned segments
// are never unmapped, so while more than the limit are pinned the bound is
// the number pinned.
//
// The mapped sealed segments are kept in a list, most recently used first,
// so that a trim costs O(1) amortised, not O(segments): a segment mapped on
// demand joins its front; a trim looks at its back, unmaps the segment there
// if it is idle and was not pinned since it was put in its place, and else
// moves it to the front as recently used (a pin of a mapped segment only
// stamps it, see below: the trim that meets it reorders it). The list is
// rebuilt from the Log's segments, once, by the first trim after they were
// republished (a rotation, a truncation, Open, Reset: each copies the
// segment list anyway), as segments join it mapped and the newest changes
// only then; release and retire take a segment out of it.
//
// Pins stay cheap: a pin of a mapped segment only stamps it with the clock
// (under the segment's own mutex, which it holds anyway); the set's mutex is
// taken on the slow path only. Lock order: mapSet.mu, then seg.mu; nobody
// takes mapSet.mu while holding a seg.mu.
type mapSet struct {
	l     *Log
	clock atomic.Uint64 // advanced by each mapping on demand
	over  atomic.Bool   // more segments mapped than the limit, the rest pinned: trim at the next last unpin

	mu sync.Mutex // serialises trims; guards the fields below and every seg's lru
	// seen is the segment list the list was last rebuilt from: a trim that
	// finds another one published rebuilds it.
	seen       *[]*seg
	head, tail *seg   // the list: head the most recently used
	n          int    // segments in the list
	buf        []*seg // scratch for rebuild
	// visits counts the segments the trims examined (each under its
	// mutex), so that tests can check a trim does not walk all of them.
	visits int
}

// lruLinks is a segment's place in its mapSet's list, guarded by
// mapSet.mu.
type lruLinks struct {
	prev, next *seg
	listed     bool
	stamp      uint64 // the segment's used when it was put in its place
}

// trim unmaps idle sealed segments, least recently used first, until at
// most MaxMappedSegments are mapped or the rest are pinned; mapped, if not
// nil, is a segment a pin just mapped.
func (m *mapSet) trim(mapped *seg) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.l.segs.Load(); p != m.seen {
		m.rebuild(p)
	} else if mapped != nil {
		m.add(mapped)
	}
	// Two passes at most: the first moves every segment pinned since it was
	// put in its place to the front, the second finds those idle now.
	max := m.l.opts.MaxMappedSegments
	for left := 2 * m.n; m.n > max && left > 0; left-- {
		m.visit(m.tail)
	}
	m.over.Store(m.n > max)
}

// visit unmaps the segment s, at the back of the list, if it is idle and was
// not pinned since it was put there, and else takes it out of the list
// (gone) or moves it to the front (pinned).
func (m *mapSet) visit(s *seg) {
	m.visits++
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.file == nil || s.dead || s.closed:
		m.unlink(s)
	case s.refs > 0 || s.used != s.lru.stamp:
		m.unlink(s)
		m.pushFront(s, s.used)
	default:
		s.file.Close()
		s.file = nil
		m.unlink(s)
	}
}

// add puts a segment a pin just mapped at the front of the list, unless it
// is the newest, gone, or already there. Called under mu.
func (m *mapSet) add(s *seg) {
	if s.lru.listed || m.seen == nil {
		return
	}
	if segs := *m.seen; len(segs) < 2 || s == segs[len(segs)-1] {
		return
	}
	m.visits++
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil && !s.dead && !s.closed {
		m.pushFront(s, s.used)
	}
}

// rebuild makes the list hold the mapped segments of p but its newest,
// least recently pinned at the back. Called under mu.
func (m *mapSet) rebuild(p *[]*seg) {
	for m.head != nil {
		m.unlink(m.head)
	}
	m.seen = p
	if p == nil || len(*p) < 2 {
		return
	}
	sealed := (*p)[:len(*p)-1]
	m.buf = m.buf[:0]
	for _, s := range sealed {
		m.visits++
		s.mu.Lock()
		if s.file != nil && !s.dead && !s.closed {
			m.buf = append(m.buf, s)
			s.lru.stamp = s.used
		}
		s.mu.Unlock()
	}
	slices.SortStableFunc(m.buf, func(a, b *seg) int { return cmp.Compare(a.lru.stamp, b.lru.stamp) })
	for _, s := range m.buf {
		m.pushFront(s, s.lru.stamp)
	}
	clear(m.buf)
}

// pushFront puts s, not in the list, at its front, stamped with the clock
// of its last pin. Called under mu.
func (m *mapSet) pushFront(s *seg, stamp uint64) {
	s.lru = lruLinks{next: m.head, listed: true, stamp: stamp}
	if m.head != nil {
		m.head.lru.prev = s
	} else {
		m.tail = s
	}
	m.head = s
	m.n++
}

// unlink takes s out of the list, if it is there. Called under mu.
func (m *mapSet) unlink(s *seg) {
	if !s.lru.listed {
		return
	}
	if s.lru.prev != nil {
		s.lru.prev.lru.next = s.lru.next
	} else {
		m.head = s.lru.next
	}
	if s.lru.next != nil {
		s.lru.next.lru.prev = s.lru.prev
	} else {
		m.tail = s.lru.prev
	}
	s.lru = lruLinks{}
	m.n--
}

// afterMap is called, with no segment's mutex held, by a pin that mapped
// segment s.
func (m *mapSet) afterMap(s *seg) {
	if m != nil {
		m.trim(s)
	}
}

// afterIdle is called, with no segment's mutex held, by the unpin that
// released a segment's last pin.
func (m *mapSet) afterIdle() {
	if m != nil && m.over.Load() {
		m.trim(nil)
	}
}

// forget takes s, unmapped or retired by its caller, out of the list.
// Called with no segment's mutex held.
func (m *mapSet) forget(s *seg) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.unlink(s)
	m.mu.Unlock()
}

// stamp returns the clock for a pin (advanced when the pin maps).
func (m *mapSet) stamp(mapping bool) uint64 {
	switch {
	case m == nil:
		return 0
	case mapping:
		return m.clock.Add(1)
	}
	return m.clock.Load()
}
