package mmapwal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// Concurrent readers in the model-based test: while the model's steps run
// (appends, TruncateBack and TruncateFront, re-appends at the same
// sequences, rotation, reopens), goroutines iterate, Read, ReadInto and View
// the log, and read it through a ReadOnly Log of this process. Each record
// they get must be byte-identical to a version the model held at that
// sequence at some time during the call, and an iterator must return
// strictly increasing sequences ≥ from, never skip a record that was there
// the whole time, and fail (never go on) once a TruncateBack dropped a record
// it returned.
//
// Time is the model's clock: a step's operation begins at an odd tick and
// ends at the next even one; a version is visible from the tick its append
// began until the tick its removal ended.

// modelVersion is one record the model held at a sequence.
type modelVersion struct {
	data     []byte
	from, to uint64 // clock when the append began, and when the removal ended (^0 while held)
	back     bool   // removed by TruncateBack
}

// possibly reports whether a call spanning the ticks [b, a] may see v.
func (v *modelVersion) possibly(b, a uint64) bool { return v.from <= a && b < v.to }

// throughout reports whether v was held for the whole of [b, a].
func (v *modelVersion) throughout(b, a uint64) bool { return v.from < b && a+1 < v.to }

// modelHistory is every version the model held, for concurrent readers.
type modelHistory struct {
	clock atomic.Uint64
	log   atomic.Pointer[mmapwal.Log]
	dir   string
	opts  mmapwal.Options // the writer's options at start (ReadOnly opens reuse MaxMappedSegments)

	mu   sync.Mutex
	vers map[uint64][]*modelVersion
	fail string // the first failure

	stop atomic.Bool
	wg   sync.WaitGroup
}

func (h *modelHistory) begin() {
	if h != nil {
		h.clock.Add(1)
	}
}

func (h *modelHistory) end() {
	if h != nil {
		h.clock.Add(1)
	}
}

func (h *modelHistory) setLog(l *mmapwal.Log) {
	if h != nil {
		h.log.Store(l)
	}
}

func (h *modelHistory) added(seq uint64, data []byte) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.vers[seq] = append(h.vers[seq], &modelVersion{data: bytes.Clone(data), from: h.clock.Load(), to: ^uint64(0)})
}

func (h *modelHistory) removed(seq uint64, back bool) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vs := h.vers[seq]
	v := vs[len(vs)-1]
	v.to, v.back = h.clock.Load()+1, back
}

func (h *modelHistory) failure() string {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fail
}

func (h *modelHistory) failf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail == "" {
		h.fail = fmt.Sprintf(format, args...)
	}
	h.stop.Store(true)
}

// settle waits until the operation running at tick a (if any) ended: the
// model records its versions before it ends, after the log call returned, so
// a reader may see a record before the model does.
func (h *modelHistory) settle(a uint64) {
	for a%2 == 1 && h.clock.Load() <= a && !h.stop.Load() {
		runtime.Gosched()
	}
}

// match returns the version of seq that a call spanning [b, a] got when it
// read got: ok when there is one; v when exactly one. A ReadOnly view does
// not follow the writer's TruncateFront: records it removed stay readable
// while their segment file exists (their bytes do not change).
func (h *modelHistory) match(seq uint64, got []byte, b, a uint64, readOnly bool) (v *modelVersion, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.vers[seq] {
		if (c.possibly(b, a) || readOnly && !c.back && c.from <= a) && bytes.Equal(c.data, got) {
			v, n = c, n+1
		}
	}
	if n != 1 {
		v = nil
	}
	return v, n > 0
}

// cutDuring reports whether a TruncateBack removed a version of seq that a
// call beginning at b may have held a slice of (it may have zeroed it).
func (h *modelHistory) cutDuring(seq, b uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.vers[seq] {
		if c.back && c.to > b {
			return true
		}
	}
	return false
}

// cutBefore reports whether a TruncateBack that ended by tick b removed v.
func (h *modelHistory) cutBefore(v *modelVersion, b uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return v.back && v.to <= b
}

// heldThroughout returns a sequence in (lo, hi) that the model held for the
// whole of [b, a], or 0. It looks at no more than 1000 sequences.
func (h *modelHistory) heldThroughout(lo, hi, b, a uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := lo + 1; s < hi && s <= lo+1000; s++ {
		for _, c := range h.vers[s] {
			if c.throughout(b, a) {
				return s
			}
		}
	}
	return 0
}

// startReaders starts the concurrent readers of a run with readers and
// returns the func that stops them.
func (r *modelRunner) startReaders() (stop func()) {
	if !r.cfg.readers {
		return func() {}
	}
	h := &modelHistory{dir: r.dir, opts: r.opts, vers: map[uint64][]*modelVersion{}}
	h.log.Store(r.l)
	r.m.hist = h
	for i, fn := range []func(*modelHistory, *rand.Rand){(*modelHistory).iterate, (*modelHistory).iterate, (*modelHistory).read, (*modelHistory).readOnly} {
		rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(i)))
		h.wg.Go(func() { fn(h, rng) })
	}
	return func() {
		h.stop.Store(true)
		h.wg.Wait()
	}
}

// pickFrom returns a position around the log's records.
func pickFrom(l *mmapwal.Log, rng *rand.Rand) uint64 {
	first, last := l.FirstSeq(), l.LastSeq()
	return first + rng.Uint64N(last-first+3) - min(first, 1)
}

// modelIter is an iterator of a concurrent reader and what it returned.
type modelIter struct {
	it       *mmapwal.Iterator
	from     uint64
	prev     uint64        // the last sequence returned
	prevV    *modelVersion // its version, when known exactly
	readOnly bool
}

// next advances it and checks what it returns; false when it ended (at the
// end, on an allowed error) or a check failed.
func (h *modelHistory) next(mi *modelIter) bool {
	b := h.clock.Load()
	ok := mi.it.Next()
	var v []byte
	if ok {
		v = bytes.Clone(mi.it.Value())
	}
	a := h.clock.Load()
	h.settle(a)
	if !ok {
		if err := mi.it.Err(); err != nil && !errors.Is(err, mmapwal.ErrClosed) && !(errors.Is(err, mmapwal.ErrNotFound) && !errors.Is(err, mmapwal.ErrCorrupt)) {
			h.failf("iterator from %d (ReadOnly %v) after %d: %v", mi.from, mi.readOnly, mi.prev, err)
		}
		return false
	}
	seq := mi.it.Seq()
	if seq < mi.from || seq <= mi.prev {
		h.failf("iterator from %d (ReadOnly %v) returned %d after %d", mi.from, mi.readOnly, seq, mi.prev)
		return false
	}
	if pv := mi.prevV; pv != nil && h.cutBefore(pv, b) && (!mi.readOnly || len(pv.data) > 0) {
		h.failf("iterator from %d (ReadOnly %v) returned %d, a TruncateBack dropped it, and it went on to %d", mi.from, mi.readOnly, mi.prev, seq)
		return false
	}
	if !mi.readOnly && mi.prev != 0 {
		if s := h.heldThroughout(mi.prev, seq, b, a); s != 0 {
			h.failf("iterator from %d skipped record %d (from %d to %d)", mi.from, s, mi.prev, seq)
			return false
		}
	}
	mv, found := h.match(seq, v, b, a, mi.readOnly)
	if !found {
		if !mi.readOnly && h.cutDuring(seq, b) {
			return false // a slice of the mapping, zeroed by a TruncateBack since (documented)
		}
		h.failf("iterator from %d (ReadOnly %v) returned %d bytes at %d that the model never held then", mi.from, mi.readOnly, len(v), seq)
		return false
	}
	mi.prev, mi.prevV = seq, mv
	return true
}

// iterate keeps an iterator going across steps, recreating it when it ends.
func (h *modelHistory) iterate(rng *rand.Rand) {
	var mi *modelIter
	defer func() {
		if mi != nil {
			mi.it.Close()
		}
	}()
	for !h.stop.Load() {
		if mi == nil {
			l := h.log.Load()
			from := pickFrom(l, rng)
			it, err := l.NewIterator(from)
			if err != nil {
				runtime.Gosched() // closed for a reopen
				continue
			}
			mi = &modelIter{it: it, from: from}
		}
		for n := rng.IntN(50); n >= 0 && h.next(mi); n-- {
		}
		if mi.it.Err() != nil || rng.IntN(8) == 0 {
			mi.it.Close()
			mi = nil
		}
		runtime.Gosched()
	}
}

// checkRead checks what a Read, ReadInto or View spanning [b, a] got.
func (h *modelHistory) checkRead(what string, seq uint64, got []byte, err error, b, a uint64, readOnly bool) {
	h.settle(a)
	switch {
	case errors.Is(err, mmapwal.ErrClosed):
	case errors.Is(err, mmapwal.ErrNotFound) && !errors.Is(err, mmapwal.ErrCorrupt):
		if readOnly {
			return // a ReadOnly view does not follow the writer
		}
		if s := h.heldThroughout(seq-1, seq+1, b, a); s != 0 {
			h.failf("%s(%d): %v, but the model held it the whole time", what, seq, err)
		}
	case err != nil:
		h.failf("%s(%d) (ReadOnly %v): %v", what, seq, readOnly, err)
	default:
		if _, ok := h.match(seq, got, b, a, readOnly); !ok && !(what == "View" && h.cutDuring(seq, b)) {
			h.failf("%s(%d) (ReadOnly %v) returned %d bytes that the model never held then", what, seq, readOnly, len(got))
		}
	}
}

// readOne reads a random sequence of l one of three ways and checks it.
func (h *modelHistory) readOne(l *mmapwal.Log, rng *rand.Rand, buf []byte, readOnly bool) []byte {
	seq := pickFrom(l, rng)
	b := h.clock.Load()
	var got []byte
	var err error
	what := [...]string{"Read", "ReadInto", "View"}[rng.IntN(3)]
	switch what {
	case "Read":
		got, err = l.Read(seq)
	case "ReadInto":
		buf, err = l.ReadInto(buf[:0], seq)
		got = buf
	default:
		err = l.View(seq, func(p []byte) error { got = bytes.Clone(p); return nil })
	}
	h.checkRead(what, seq, got, err, b, h.clock.Load(), readOnly)
	return buf
}

func (h *modelHistory) read(rng *rand.Rand) {
	var buf []byte
	for !h.stop.Load() {
		buf = h.readOne(h.log.Load(), rng, buf, false)
		if rng.IntN(16) == 0 {
			runtime.Gosched()
		}
	}
}

// readOnly opens ReadOnly Logs beside the writer, reads and iterates them.
func (h *modelHistory) readOnly(rng *rand.Rand) {
	var buf []byte
	for !h.stop.Load() {
		ro, err := mmapwal.Open(h.dir, &mmapwal.Options{ReadOnly: true, MaxMappedSegments: h.opts.MaxMappedSegments})
		if err != nil {
			runtime.Gosched() // a view of a log changing under Open may fail; it must not lie
			continue
		}
		for n := 0; n < 200 && !h.stop.Load(); n++ {
			if rng.IntN(4) != 0 {
				buf = h.readOne(ro, rng, buf, true)
				continue
			}
			from := pickFrom(ro, rng)
			it, err := ro.NewIterator(from)
			if err != nil {
				h.failf("ReadOnly NewIterator: %v", err)
				break
			}
			mi := &modelIter{it: it, from: from, readOnly: true}
			for k := rng.IntN(40); k >= 0 && h.next(mi); k-- {
			}
			it.Close()
		}
		ro.Close()
	}
}
