package mmapwal

import (
	"sync"
)

// writeback starts the kernel's write-back of appended ranges from its own
// goroutine. sync_file_range submits the I/O synchronously (block
// allocation, bio building, a full request queue), which cost appenders
// more than half their time when it ran inline; here the writer only records
// the newest range and wakes the goroutine. Requests coalesce: the goroutine
// always works on the latest range.
//
// The ranges end below the folio being written (see writebackAlign), and
// segment.File.StartWriteback takes their pages out of the process's page
// tables first: write-back of a mapped page write-protects its page-table
// entry, and the TLB shootdown that takes interrupts every CPU running the
// process, the appender's first (with it, early write-back cost appenders
// 120–150 ns per 128 B append; without it, write-back costs them nothing
// measurable).
type writeback struct {
	mu      sync.Mutex
	s       *seg
	from    int64
	to      int64
	pending bool
	wake    chan struct{}
	done    chan struct{}
}

// run starts the goroutine. Stop it with stop.
func (w *writeback) run() {
	w.wake, w.done = make(chan struct{}, 1), make(chan struct{})
	go w.loop()
}

// request asks for [from, to) of s to be written back. It never blocks.
func (w *writeback) request(s *seg, from, to int64) {
	if w.wake == nil {
		return
	}
	w.mu.Lock()
	if w.pending && w.s == s {
		from = min(from, w.from)
	}
	w.s, w.from, w.to, w.pending = s, from, to, true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writeback) loop() {
	defer close(w.done)
	for range w.wake {
		w.mu.Lock()
		s, from, to, ok := w.s, w.from, w.to, w.pending
		w.pending, w.s = false, nil
		w.mu.Unlock()
		if !ok {
			continue
		}
		if f, err := s.pin(); err == nil {
			f.StartWriteback(from, to) // advisory: an error changes nothing
			s.unpin()
		}
	}
}

// stop ends the goroutine and waits for it.
func (w *writeback) stop() {
	if w.wake != nil {
		close(w.wake)
		<-w.done
		w.wake = nil
	}
}
