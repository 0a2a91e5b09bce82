package mmapwal

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/mmapwal/mmapwal/segment"
)

// preparer creates the next segment in the background — preallocated, header
// written, synced, mapped, and the population of its page tables started —
// so that rotation never waits for file creation or preallocation.
type preparer struct {
	mu   sync.Mutex
	num  uint64        // the segment being (or already) prepared; 0 = none
	done chan struct{} // closed when the preparation of num finished
	f    *segment.File
	err  error
	cfg  prepConfig
	// later is a segment to start preparing at the writer's first append
	// (startLater), 0 = none; any other start, take or drop clears it.
	later uint64
}

// startLater has segment num prepared once the writer appends (Log.background
// calls startDeferred): an Open that only reads (a replay) then creates and
// populates no segment it would remove at Close, and a replay does not
// compete with the preparation for the disk and the other core.
func (p *preparer) startLater(num uint64) {
	p.mu.Lock()
	p.later = num
	p.mu.Unlock()
}

// startDeferred starts the preparation startLater asked for, if any.
func (p *preparer) startDeferred() {
	p.mu.Lock()
	num := p.later
	p.mu.Unlock()
	if num != 0 {
		p.start(num)
	}
}

// prepConfig says how to make a segment.
type prepConfig struct {
	dir        string
	logID      [16]byte
	size       int64
	smallPages bool   // keep the page cache in 4 KiB pages (see segment.File.SmallPages)
	version    uint16 // header version of new segments: that of META (FORMAT.md §9.4)
}

// setVersion sets the header version of the segments prepared from now on.
func (p *preparer) setVersion(v uint16) {
	p.mu.Lock()
	p.cfg.version = v
	p.mu.Unlock()
}

// has reports whether segment num is being (or was) prepared.
func (p *preparer) has(num uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.num == num && p.done != nil
}

// start begins preparing segment num unless it is already under way.
func (p *preparer) start(num uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.later = 0
	if p.num == num {
		return
	}
	cfg := p.cfg
	p.num, p.f, p.err = num, nil, nil
	done := make(chan struct{})
	p.done = done
	go func() {
		f, err := prepareSegment(cfg, num, 0, true)
		p.mu.Lock()
		if p.num == num && p.done == done {
			p.f, p.err = f, err
		} else if f != nil {
			f.Remove() // discarded meanwhile
		}
		p.mu.Unlock()
		close(done)
	}()
}

// prepareSegment creates segment num (active from sequence first, or 0 for
// not yet), maps it and populates its page tables for writing, so that the
// first store to each page does not fault on the append path: the first
// prefaultAhead bytes, and the rest in the background as the writer
// advances (Log.background raises the limit), so that a segment is never
// populated far beyond what the log uses (a populated page is dirty: the
// kernel writes zeroes back for pages the log never reaches). With
// background set the first bytes are populated in the background too: the
// segment is ready once created, and rotation does not wait for the
// population (a writer that overtakes it faults the rest in itself), which
// on a busy machine took longer than the appender took to fill a segment.
// Without it (a new log's first segment, made inside Open) they are
// populated when it returns.
func prepareSegment(cfg prepConfig, num, first uint64, background bool) (*segment.File, error) {
	path := filepath.Join(cfg.dir, segment.Name(num))
	f, err := segment.Create(path, segment.Header{Version: cfg.version, LogID: cfg.logID, Number: num, FirstSeq: first, Size: cfg.size})
	if err != nil {
		return nil, err
	}
	if testHookCreated != nil {
		testHookCreated(path)
	}
	if cfg.smallPages {
		if err := f.SmallPages(); err != nil {
			f.Remove()
			return nil, err
		}
	}
	from, ahead := int64(segment.HeaderSize), min(segment.HeaderSize+prefaultAhead, cfg.size)
	if !background {
		if err := f.Prefault(from, ahead); err != nil {
			f.Remove()
			return nil, err
		}
		from = ahead
	}
	f.PrefaultAsync(from, cfg.size, ahead) // a failure there only costs faults
	return f, nil
}

// The population of the active segment's page tables (prepareSegment) stays
// prefaultAhead bytes ahead of the writer, which raises its limit every
// prefaultEvery bytes (Log.background). The lead covers a few milliseconds
// of appends at the disk's speed, so that the population, on the other
// core, keeps ahead of the appender even when it gets the core late.
const (
	prefaultAhead = 16 << 20
	prefaultEvery = 2 << 20
)

// take returns the prepared segment num, waiting for it if needed. If the
// background preparation failed (a full disk, say) it tries once more now,
// so that an append succeeds again once space was freed.
func (p *preparer) take(num uint64) (*segment.File, error) {
	p.mu.Lock()
	done := p.done
	ours := p.num == num
	p.later = 0
	p.mu.Unlock()
	if ours && done != nil {
		<-done
		p.mu.Lock()
		f := p.f
		p.num, p.f, p.err, p.done = 0, nil, nil, nil
		p.mu.Unlock()
		if f != nil {
			return f, nil
		}
	}
	if err := p.discard(); err != nil {
		return nil, err
	}
	return prepareSegment(p.cfg, num, 0, true)
}

// putBack returns a segment that take handed out but rotation did not use.
func (p *preparer) putBack(f *segment.File) {
	p.mu.Lock()
	defer p.mu.Unlock()
	done := make(chan struct{})
	close(done)
	p.num, p.f, p.err, p.done = f.Header().Number, f, nil, done
}

// discard waits for a preparation under way and deletes its segment. A
// failed removal is returned: the file stays, and a later preparation of
// the same number would fail with EEXIST.
func (p *preparer) discard() error { return p.drop(true) }

// drop waits for a preparation under way and closes its segment, deleting
// the file when remove is set.
func (p *preparer) drop(remove bool) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	switch {
	case p.f != nil && remove:
		if err = p.f.Remove(); err != nil {
			err = fmt.Errorf("mmapwal: remove the prepared segment %s: %w", p.f.Path(), err)
		}
	case p.f != nil:
		p.f.Close()
	}
	p.num, p.f, p.err, p.done, p.later = 0, nil, nil, nil, 0
	return err
}

// release waits for a preparation under way and closes its segment, leaving
// the file on disk.
func (p *preparer) release() { p.drop(false) }
