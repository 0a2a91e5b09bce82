package mmapwal

import (
	"sync"
	"sync/atomic"
)

// mapSet enforces Options.MaxMappedSegments on the read path: a pin that
// maps a segment, and the last unpin while too many are mapped, unmap the
// least recently pinned idle sealed segments beyond the limit. The newest
// segment (the active one) is not counted, as in trimMapped; pinned segments
// are never unmapped, so while more than the limit are pinned the bound is
// the number pinned.
//
// Pins stay cheap: a pin of a mapped segment only stamps it with the clock
// (under the segment's own mutex, which it holds anyway); the set's mutex is
// taken on the slow path only. Lock order: mapSet.mu, then seg.mu; nobody
// takes mapSet.mu while holding a seg.mu.
type mapSet struct {
	l     *Log
	mu    sync.Mutex    // serialises trims
	clock atomic.Uint64 // advanced by each mapping on demand
	over  atomic.Bool   // more segments mapped than the limit, the rest pinned: trim at the next last unpin
}

// trim unmaps idle sealed segments, least recently pinned first, until at
// most MaxMappedSegments are mapped or the rest are pinned.
func (m *mapSet) trim() {
	m.mu.Lock()
	defer m.mu.Unlock()
	segs := m.l.segments()
	if len(segs) < 2 {
		m.over.Store(false)
		return
	}
	sealed := segs[:len(segs)-1]
	mapped := 0
	for _, s := range sealed {
		if s.mapped() {
			mapped++
		}
	}
	// Each pass unmaps one segment, or finds none idle; a segment pinned
	// between the choice and release is skipped by the next pass.
	for tries := len(sealed); mapped > m.l.opts.MaxMappedSegments && tries > 0; tries-- {
		victim := idlest(sealed)
		if victim == nil {
			break
		}
		if victim.release() {
			mapped--
		}
	}
	m.over.Store(mapped > m.l.opts.MaxMappedSegments)
}

// idlest returns the mapped, unpinned segment pinned least recently, or nil.
func idlest(segs []*seg) *seg {
	var best *seg
	var bestUsed uint64
	for _, s := range segs {
		if used, idle := s.idleSince(); idle && (best == nil || used < bestUsed) {
			best, bestUsed = s, used
		}
	}
	return best
}

// afterMap is called, with no segment's mutex held, by a pin that mapped a
// segment.
func (m *mapSet) afterMap() {
	if m != nil {
		m.trim()
	}
}

// afterIdle is called, with no segment's mutex held, by the unpin that
// released a segment's last pin.
func (m *mapSet) afterIdle() {
	if m != nil && m.over.Load() {
		m.trim()
	}
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
