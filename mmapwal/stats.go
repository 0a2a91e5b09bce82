package mmapwal

import (
	"sync/atomic"
	"time"
)

// Stats are counters of a Log's activity since Open.
type Stats struct {
	Appends        uint64        // records appended
	Syncs          uint64        // flushes (msync/fdatasync rounds) that wrote something
	RecordsPerSync float64       // appends covered per flush: the group-commit factor
	SyncTime       time.Duration // total time spent in flushes
	Rotations      uint64        // segments sealed
	Recycled       uint64        // rotations that reused a pooled file (Options.RecycleSegments)
	Pooled         int           // files in the pool for reuse now
	Segments       int           // segment files in the log
	MappedSegments int           // segments mapped now
	FirstSeq       uint64
	LastSeq        uint64
	DurableSeq     uint64
	Poisoned       bool
}

// stats holds the counters, updated with atomics.
type stats struct {
	appends    appendCount // derived from the active index
	syncs      atomic.Uint64
	syncedUpTo atomic.Uint64 // appends count covered by the last flush
	covered    atomic.Uint64 // appends covered by flushes
	syncNanos  atomic.Int64
	lastSync   atomic.Int64 // duration of the last flush (ns): bounds a round's wait for company
	rotations  atomic.Uint64
	recycled   atomic.Uint64
	pooled     atomic.Int64  // len(Log.pool), for Stats
	gen        atomic.Uint64 // bumped by truncations that move the end
}

// observeSync records a flush that covered the appends up to count appends.
func (s *stats) observeSync(d time.Duration, appends uint64) {
	s.syncs.Add(1)
	s.syncNanos.Add(int64(d))
	s.lastSync.Store(int64(d))
	for {
		prev := s.syncedUpTo.Load()
		if appends <= prev {
			return
		}
		if s.syncedUpTo.CompareAndSwap(prev, appends) {
			s.covered.Add(appends - prev)
			return
		}
	}
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	st := Stats{
		Appends:    l.st.appends.Load(),
		Syncs:      l.st.syncs.Load(),
		SyncTime:   time.Duration(l.st.syncNanos.Load()),
		Rotations:  l.st.rotations.Load(),
		Recycled:   l.st.recycled.Load(),
		Pooled:     int(l.st.pooled.Load()),
		FirstSeq:   l.FirstSeq(),
		LastSeq:    l.LastSeq(),
		DurableSeq: l.DurableSeq(),
		Poisoned:   l.poisoned() != nil,
	}
	if st.Syncs > 0 {
		st.RecordsPerSync = float64(l.st.covered.Load()) / float64(st.Syncs)
	}
	for _, s := range l.segments() {
		st.Segments++
		if s.mapped() {
			st.MappedSegments++
		}
	}
	return st
}
