package mmapwal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Red team 8: the read-ahead of Iterator.Next (32 payloads under one fault
// guard, each checked when returned), the index's put fast path, NextWait's
// spins and the Follower's throttled retry of a next segment.

// rt8Rec is one record of the model.
type rt8Rec struct {
	seq  uint64
	data []byte
}

// rt8Model is what the log holds, in sequence order.
type rt8Model struct {
	recs []rt8Rec
	last uint64 // LastSeq
}

func (m *rt8Model) find(seq uint64) (int, bool) {
	i := sort.Search(len(m.recs), func(i int) bool { return m.recs[i].seq >= seq })
	return i, i < len(m.recs) && m.recs[i].seq == seq
}

// firstFrom returns the first record at or above seq and at or below limit.
func (m *rt8Model) firstFrom(seq, limit uint64) (rt8Rec, bool) {
	i, _ := m.find(seq)
	if i < len(m.recs) && m.recs[i].seq <= limit {
		return m.recs[i], true
	}
	return rt8Rec{}, false
}

// rt8Iter is an iterator and what the contract says it returns next.
type rt8Iter struct {
	it      *Iterator
	from    uint64
	lastRet uint64
	durable bool
	want    error // the error its next Next must fail with (ErrTruncated, ErrNotFound, ErrClosed), nil: none
	dead    bool
}

// rt8Payload makes a payload that tells seq and a generation apart.
func rt8Payload(rng *rand.Rand, seq uint64, gen int) []byte {
	n := 16 + rng.IntN(180)
	if rng.IntN(8) == 0 {
		n = 16
	}
	p := make([]byte, n)
	binary.LittleEndian.PutUint64(p, seq)
	binary.LittleEndian.PutUint64(p[8:], uint64(gen))
	for i := 16; i < n; i++ {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// rt8Check makes one Next of r and checks it against the model.
func rt8Check(t *testing.T, step int, l *Log, m *rt8Model, r *rt8Iter) {
	t.Helper()
	if r.dead {
		return
	}
	d0 := l.DurableSeq()
	ok := r.it.Next()
	d1 := l.DurableSeq()
	if r.want != nil {
		err := r.it.Err()
		switch {
		case ok:
			t.Fatalf("step %d: iterator (from %d, last %d) returned %d, want it to fail with %v", step, r.from, r.lastRet, r.it.Seq(), r.want)
		case r.want == ErrNotFound && (!errors.Is(err, ErrNotFound) || errors.Is(err, ErrTruncated)):
			t.Fatalf("step %d: iterator (last %d) failed with %v, want ErrNotFound (a TruncateFront)", step, r.lastRet, err)
		case !errors.Is(err, r.want):
			t.Fatalf("step %d: iterator (last %d) failed with %v, want %v", step, r.lastRet, err, r.want)
		}
		r.dead = true
		return
	}
	next := max(r.lastRet+1, r.from, 1)
	limit := ^uint64(0)
	if r.durable {
		if d0 != d1 {
			if ok {
				r.lastRet = r.it.Seq()
			}
			return // DurableSeq moved under the Next: no single answer
		}
		limit = d0
	}
	want, has := m.firstFrom(next, limit)
	if err := r.it.Err(); err != nil {
		t.Fatalf("step %d: iterator (from %d, last %d, durable %v) failed: %v; want %v %d", step, r.from, r.lastRet, r.durable, err, has, want.seq)
	}
	if ok != has {
		t.Fatalf("step %d: iterator (from %d, last %d, durable %v, DurableSeq %d) Next = %v (seq %d), want %v (seq %d)", step, r.from, r.lastRet, r.durable, d0, ok, r.it.Seq(), has, want.seq)
	}
	if !ok {
		return
	}
	if r.it.Seq() != want.seq || !bytes.Equal(r.it.Value(), want.data) {
		t.Fatalf("step %d: iterator (from %d, last %d) returned %d %x…, want %d %x…", step, r.from, r.lastRet, r.it.Seq(), rt8Head(r.it.Value()), want.seq, rt8Head(want.data))
	}
	r.lastRet = want.seq
}

func rt8Head(p []byte) []byte { return p[:min(len(p), 16)] }

// TestRT8ReadAheadModel runs appends (single, AppendSeq with gaps,
// batches), TruncateBack, TruncateFront, Reset, Sync, reopens (deferred
// verification of the sealed segments) and rotations (4 KiB segments, at
// most one sealed segment mapped), with several iterators, some
// DurableOnly, each Next checked against a model: the record at that
// sequence now, with its bytes, or the contract's error. The payloads tell
// each generation of a sequence apart, and a refill after a TruncateBack
// often has the frame sizes of the records it replaces (the same offsets),
// so that a read-ahead payload of a dropped record shows.
func TestRT8ReadAheadModel(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { rt8RunModel(t, seed, 1500, 4096, 0) })
	}
}

// TestRT8ReadAheadModelChunks is TestRT8ReadAheadModel with segments that
// hold several chunks of the index (4,096 entries each) and bulk appends
// of small records, so that the read-ahead runs and the cuts meet the
// chunk boundaries.
func TestRT8ReadAheadModelChunks(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { rt8RunModel(t, seed, 800, 1<<20, 2000) })
	}
}

// rt8RunModel runs the model with segments of segSize bytes; bulk > 0
// adds bulk appends of up to bulk small records.
func rt8RunModel(t *testing.T, seed uint64, steps int, segSize int64, bulk int) {
	rng := rand.New(rand.NewPCG(seed, 8))
	dir := fastTempDir(t)
	opts := &Options{SegmentSize: segSize, Durability: SyncManual, MaxMappedSegments: 1, BytesPerSync: segSize}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	m := &rt8Model{}
	var its []*rt8Iter
	gen := 0
	newIter := func() {
		from := uint64(1)
		if m.last > 0 {
			from = max(1, m.last-uint64(rng.IntN(int(min(m.last, 80)))))
		}
		r := &rt8Iter{from: from, durable: rng.IntN(3) == 0}
		it, err := l.NewIteratorWith(from, &IteratorOptions{DurableOnly: r.durable})
		if err != nil {
			t.Fatal(err)
		}
		r.it = it
		its = append(its, r)
	}
	closeIters := func() {
		for _, r := range its {
			r.it.Close()
		}
		its = its[:0]
	}
	defer closeIters()
	for range 3 {
		newIter()
	}
	// lastSizes: the payload sizes of the records a TruncateBack dropped,
	// reused by the appends after it (the same offsets).
	var lastSizes []int
	payload := func(seq uint64) []byte {
		p := rt8Payload(rng, seq, gen)
		if len(lastSizes) > 0 && rng.IntN(4) != 0 {
			n := lastSizes[0]
			lastSizes = lastSizes[1:]
			q := make([]byte, max(n, 16))
			copy(q, p)
			p = q
			binary.LittleEndian.PutUint64(p, seq)
		}
		return p
	}
	for step := range steps {
		gen++
		if bulk > 0 && rng.IntN(10) == 0 {
			// Bulk: small records (frames of 24 to 40 bytes), sometimes
			// ending right at a chunk boundary of the active segment.
			n := 1 + rng.IntN(bulk)
			if rng.IntN(2) == 0 {
				x := l.active.idx.len()
				n = int(chunkLen - x%chunkLen + int64(rng.IntN(3)) - 1)
				n = max(n, 1)
			}
			for range n {
				seq := m.last + 1
				p := make([]byte, rng.IntN(17))
				if len(p) >= 8 {
					binary.LittleEndian.PutUint64(p, seq^uint64(gen)<<40)
				}
				if _, err := l.Append(p); err != nil {
					t.Fatalf("step %d: Append: %v", step, err)
				}
				m.recs, m.last = append(m.recs, rt8Rec{seq, p}), seq
			}
			continue
		}
		switch op := rng.IntN(100); {
		case op < 30: // Append
			seq := m.last + 1
			p := payload(seq)
			got, err := l.Append(p)
			if err != nil {
				t.Fatalf("step %d: Append: %v", step, err)
			}
			if got != seq {
				t.Fatalf("step %d: Append = %d, want %d", step, got, seq)
			}
			m.recs, m.last = append(m.recs, rt8Rec{seq, p}), seq
		case op < 35: // AppendSeq with a gap
			seq := m.last + 2 + uint64(rng.IntN(3))
			p := payload(seq)
			if err := l.AppendSeq(seq, p); err != nil {
				t.Fatalf("step %d: AppendSeq(%d): %v", step, seq, err)
			}
			m.recs, m.last = append(m.recs, rt8Rec{seq, p}), seq
		case op < 40: // AppendBatch
			n := 2 + rng.IntN(5)
			batch := make([][]byte, n)
			for k := range batch {
				batch[k] = payload(m.last + 1 + uint64(k))
			}
			first, err := l.AppendBatch(batch)
			if err != nil {
				t.Fatalf("step %d: AppendBatch: %v", step, err)
			}
			if first != m.last+1 {
				t.Fatalf("step %d: AppendBatch = %d, want %d", step, first, m.last+1)
			}
			for k, p := range batch {
				m.recs = append(m.recs, rt8Rec{first + uint64(k), p})
			}
			m.last = first + uint64(n) - 1
		case op < 46: // TruncateBack
			first := l.FirstSeq()
			if m.last == 0 || m.last < first {
				continue
			}
			lo := first - min(first, 1)
			seq := m.last - uint64(rng.IntN(int(min(m.last-lo, 40))+1))
			if bulk > 0 && rng.IntN(2) == 0 {
				// To a chunk boundary of a segment, or next to one.
				segs := l.segments()
				s := segs[rng.IntN(len(segs))]
				if k := s.idx.len() / chunkLen; k > 0 {
					i := rng.Int64N(k)*chunkLen + chunkLen + int64(rng.IntN(3)) - 2
					if i >= 0 && i < s.idx.len() {
						if q := s.idx.seq(i); q >= lo && q <= m.last {
							seq = q
						}
					}
				}
			}
			if err := l.TruncateBack(seq); err != nil {
				t.Fatalf("step %d: TruncateBack(%d): %v", step, seq, err)
			}
			i, _ := m.find(seq + 1)
			lastSizes = lastSizes[:0]
			for _, r := range m.recs[i:] {
				lastSizes = append(lastSizes, len(r.data))
			}
			m.recs = m.recs[:i]
			newLast := seq
			if i > 0 && m.recs[i-1].seq >= first {
				newLast = m.recs[i-1].seq
			}
			if seq < m.last {
				m.last = newLast
			}
			for _, r := range its {
				if r.lastRet > seq {
					r.want = ErrTruncated // checked first (followCuts), whatever a TruncateFront did
				}
			}
			if got := l.LastSeq(); got != m.last {
				t.Fatalf("step %d: LastSeq %d after TruncateBack(%d), model %d", step, got, seq, m.last)
			}
		case op < 50: // TruncateFront
			first := l.FirstSeq()
			if m.last+1 < first {
				continue
			}
			seq := first + uint64(rng.IntN(int(min(m.last+1-first, 30))+1))
			if err := l.TruncateFront(seq); err != nil {
				t.Fatalf("step %d: TruncateFront(%d): %v", step, seq, err)
			}
			i, _ := m.find(seq)
			gone := m.recs[:i]
			for _, r := range its {
				if r.want != nil || r.lastRet == 0 {
					continue
				}
				for _, g := range gone {
					if g.seq > r.lastRet {
						r.want = ErrNotFound
						break
					}
				}
			}
			m.recs = m.recs[i:]
		case op < 51: // Reset
			next := max(1, m.last+uint64(rng.IntN(5))) - uint64(rng.IntN(3))
			next = max(next, 1)
			if err := l.Reset(next); err != nil {
				t.Fatalf("step %d: Reset(%d): %v", step, next, err)
			}
			m.recs, m.last = nil, next-1
			for _, r := range its {
				r.want = ErrTruncated
			}
		case op < 55: // Sync
			if err := l.Sync(); err != nil {
				t.Fatalf("step %d: Sync: %v", step, err)
			}
		case op < 57: // reopen: sealed segments deferred
			closeIters()
			if err := l.Close(); err != nil {
				t.Fatalf("step %d: Close: %v", step, err)
			}
			if l, err = Open(dir, opts); err != nil {
				t.Fatalf("step %d: reopen: %v", step, err)
			}
			if got := l.LastSeq(); got != m.last {
				t.Fatalf("step %d: LastSeq %d after reopen, model %d", step, got, m.last)
			}
			for range 3 {
				newIter()
			}
		case op < 60: // a new iterator
			newIter()
		default: // Next, a few times
			r := its[rng.IntN(len(its))]
			nexts := 40
			if bulk > 0 {
				nexts = 3 * chunkLen
			}
			for range 1 + rng.IntN(nexts) {
				rt8Check(t, step, l, m, r)
			}
		}
		// Drop the iterators that failed.
		k := 0
		for _, r := range its {
			if r.dead {
				r.it.Close()
				continue
			}
			its[k] = r
			k++
		}
		its = its[:k]
		if len(its) == 0 {
			newIter()
		}
	}
	// The end: every iterator reads to the end, then fails with ErrClosed.
	for _, r := range its {
		for range len(m.recs) + 2 {
			rt8Check(t, steps, l, m, r)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range its {
		if r.dead {
			continue
		}
		if r.it.Next() || !errors.Is(r.it.Err(), ErrClosed) && !errors.Is(r.it.Err(), ErrTruncated) && !errors.Is(r.it.Err(), ErrNotFound) {
			t.Fatalf("after Close: Next returned %v, %v; want ErrClosed", r.it.Seq(), r.it.Err())
		}
	}
	_ = os.Remove
	_ = time.Second
	_ = context.Background
	_ = sync.Mutex{}
	_ = atomic.Int64{}
}

// rt8Fill appends n records of rt8Payload (generation 0) and returns them.
func rt8Fill(t *testing.T, l *Log, rng *rand.Rand, n int) []rt8Rec {
	t.Helper()
	var recs []rt8Rec
	for range n {
		seq := l.LastSeq() + 1
		p := rt8Payload(rng, seq, 0)
		got, err := l.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != seq {
			t.Fatalf("Append = %d, want %d", got, seq)
		}
		recs = append(recs, rt8Rec{seq, p})
	}
	return recs
}

// TestRT8DeferredDamageInWindow: a sealed segment that Open did not read
// (verified as iterators come) with a damaged record inside the first
// read-ahead window, or further on: an iterator returns every record
// before it, with its bytes, then fails with a *CorruptionError, and
// never returns the damaged record or one after it in that segment. Also
// when another reader verified the segment first, and for an iterator
// that starts a few records before the damage.
func TestRT8DeferredDamageInWindow(t *testing.T) {
	for _, c := range []struct {
		name    string
		bad     int  // index position of the damaged record in segment 1
		from    int  // index position the iterator starts at
		readAll bool // a Read of a record after the damage verifies the segment first
	}{
		{"first window", 10, 0, false},
		{"second record", 1, 0, false},
		{"window's last", 31, 0, false},
		{"second window", 40, 0, false},
		{"from before it", 50, 45, false},
		{"verified by a read", 10, 0, true},
		{"deep", 300, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.bad), 3))
			dir := fastTempDir(t)
			opts := &Options{SegmentSize: 64 << 10, Durability: SyncManual, MaxMappedSegments: 1}
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			recs := rt8Fill(t, l, rng, 1500)
			segs := l.segments()
			if len(segs) < 3 {
				t.Fatalf("%d segments, want 3 or more", len(segs))
			}
			s := segs[0]
			if int64(c.bad) >= s.idx.len() {
				t.Fatalf("segment 1 holds %d records", s.idx.len())
			}
			off := s.idx.off(int64(c.bad))
			badSeq := s.idx.seq(int64(c.bad))
			path, first := s.path, s.idx.seq(0)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, off+24+3); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x40
			if _, err := f.WriteAt(b, off+24+3); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l, err = Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.segments()[0].lazy.Load() == nil {
				t.Fatal("segment 1 verified at Open: the test needs it deferred")
			}
			if c.readAll {
				if _, err := l.Read(badSeq + 5); err == nil {
					t.Fatalf("Read(%d) after the damage: no error", badSeq+5)
				}
			}
			from := first + uint64(c.from)
			it, err := l.NewIterator(from)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for _, r := range recs {
				if r.seq < from {
					continue
				}
				if r.seq == badSeq {
					break
				}
				if !it.Next() {
					t.Fatalf("Next false before %d (damaged %d): %v", r.seq, badSeq, it.Err())
				}
				if it.Seq() != r.seq || !bytes.Equal(it.Value(), r.data) {
					t.Fatalf("returned %d %x, want %d %x", it.Seq(), rt8Head(it.Value()), r.seq, rt8Head(r.data))
				}
			}
			if it.Next() {
				t.Fatalf("returned %d (damaged %d)", it.Seq(), badSeq)
			}
			var ce *CorruptionError
			if !errors.As(it.Err(), &ce) {
				t.Fatalf("Err %v, want a *CorruptionError", it.Err())
			}
			if it.Next() {
				t.Fatalf("returned %d after the corruption", it.Seq())
			}
		})
	}
}

// rt8GenPayload is record seq of generation gen: its size depends on seq
// only, so that a refill after a TruncateBack puts the frames of the new
// generation at the offsets of the old one.
func rt8GenPayload(seq, gen uint64) []byte {
	p := make([]byte, 16+int(seq*13%100))
	binary.LittleEndian.PutUint64(p, seq)
	binary.LittleEndian.PutUint64(p[8:], gen)
	for i := 16; i < len(p); i++ {
		p[i] = byte(seq*31 + gen*7 + uint64(i))
	}
	return p
}

// rt8GenOK reports whether p is a whole rt8GenPayload of seq, and its
// generation.
func rt8GenOK(p []byte, seq uint64) (uint64, bool) {
	if len(p) < 16 || binary.LittleEndian.Uint64(p) != seq {
		return 0, false
	}
	gen := binary.LittleEndian.Uint64(p[8:])
	return gen, bytes.Equal(p, rt8GenPayload(seq, gen))
}

// rt8Cuts records, for each generation g > 0, the TruncateBack that began
// it: records of generation g were appended after TruncateBack(cut[g]).
type rt8Cuts struct {
	mu  sync.Mutex
	cut []uint64
}

func (c *rt8Cuts) lowestBetween(g1, g2 uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	low := ^uint64(0)
	for g := g1 + 1; g <= g2 && g < uint64(len(c.cut)); g++ {
		low = min(low, c.cut[g])
	}
	return low
}

// TestRT8ReadAheadRacingCuts: a writer appends and cuts back (refilling
// the same sequences, frames of the same sizes at the same offsets, with a
// new generation) and now and then cuts the front, while iterators read
// (most records come from a read-ahead of up to 32). Each record returned
// is whole and of its sequence, or the next Next fails (a cut zeroed it
// after it was returned); and a record of a later generation follows one
// of an earlier generation only if every cut between them kept the
// earlier one (else the iterator must have failed with ErrTruncated).
func TestRT8ReadAheadRacingCuts(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{SegmentSize: 16 << 10, Durability: SyncManual, MaxMappedSegments: 1, BytesPerSync: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	cuts := &rt8Cuts{cut: []uint64{0}}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writerErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(8, 8))
		gen := uint64(0)
		for i := 0; i < 30000 && !stop.Load(); i++ {
			switch op := rng.IntN(200); {
			case op < 3:
				last, first := l.LastSeq(), l.FirstSeq()
				if last < first+50 {
					continue
				}
				seq := last - uint64(rng.IntN(60))
				cuts.mu.Lock()
				gen++
				cuts.cut = append(cuts.cut, seq)
				cuts.mu.Unlock()
				if err := l.TruncateBack(seq); err != nil {
					writerErr = fmt.Errorf("TruncateBack(%d): %w", seq, err)
					return
				}
			case op < 4:
				last, first := l.LastSeq(), l.FirstSeq()
				if last < first+400 {
					continue
				}
				if err := l.TruncateFront(first + 100); err != nil {
					writerErr = fmt.Errorf("TruncateFront: %w", err)
					return
				}
			default:
				seq := l.LastSeq() + 1
				if got, err := l.Append(rt8GenPayload(seq, gen)); err != nil || got != seq {
					writerErr = fmt.Errorf("Append = %d, %v; want %d", got, err, seq)
					return
				}
			}
		}
		stop.Store(true)
	}()
	var bad atomic.Value
	report := func(format string, a ...any) {
		bad.CompareAndSwap(nil, fmt.Sprintf(format, a...))
		stop.Store(true)
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var returned, restarts int
			for !stop.Load() {
				it, err := l.NewIterator(l.FirstSeq())
				if err != nil {
					report("reader %d: NewIterator: %v", r, err)
					return
				}
				var prevSeq, prevGen uint64
				dirty := false // the last record returned was not whole
				for !stop.Load() {
					if !it.Next() {
						if err := it.Err(); err != nil {
							if !errors.Is(err, ErrNotFound) {
								report("reader %d: Next: %v", r, err)
							}
							break // a cut under the iterator: start again
						}
						if dirty {
							report("reader %d: record %d was not whole, and Next found nothing wrong", r, prevSeq)
							break
						}
						continue
					}
					seq := it.Seq()
					if dirty {
						report("reader %d: record %d was not whole, and Next returned %d", r, prevSeq, seq)
						break
					}
					if prevSeq != 0 && seq <= prevSeq {
						report("reader %d: %d after %d", r, seq, prevSeq)
						break
					}
					gen, ok := rt8GenOK(it.Value(), seq)
					if !ok {
						dirty = true // zeroed after the return: the next Next must fail
						continue
					}
					if prevSeq != 0 && gen > prevGen {
						if low := cuts.lowestBetween(prevGen, gen); prevSeq > low {
							report("reader %d: %d (generation %d) after %d (generation %d), which a TruncateBack(%d) between dropped", r, seq, gen, prevSeq, prevGen, low)
							break
						}
					}
					if gen < prevGen {
						report("reader %d: %d of generation %d after %d of generation %d", r, seq, gen, prevSeq, prevGen)
						break
					}
					prevSeq, prevGen = seq, gen
					returned++
				}
				it.Close()
				restarts++
			}
			t.Logf("reader %d: %d records returned, %d iterators", r, returned, restarts)
		}()
	}
	wg.Wait()
	if writerErr != nil {
		t.Fatal(writerErr)
	}
	if s := bad.Load(); s != nil {
		t.Fatal(s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// rt8SpinHook sets testHookSpin for the test, calling f (with the spin's
// number) only for it's spins.
func rt8SpinHook(t *testing.T, want *Iterator, f func(spin int)) {
	t.Helper()
	n := 0
	testHookSpin = func(it *Iterator) {
		if it == want {
			f(n)
			n++
		}
	}
	t.Cleanup(func() { testHookSpin = nil })
}

func rt8Log(t *testing.T) *Log {
	t.Helper()
	l, err := Open(fastTempDir(t), &Options{Durability: SyncManual, SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestRT8NextWaitSpinTruncations: a TruncateBack, Reset, TruncateFront or
// poisoning that comes while NextWait spins at the end of the log: it
// ends with the contract's error when it dropped a record returned
// (ErrTruncated), ErrPoisoned for a poisoned log (at the park, for a plain
// iterator; DurableOnly at once), else goes on and returns the record
// appended next, with its bytes.
func TestRT8NextWaitSpinTruncations(t *testing.T) {
	for _, c := range []struct {
		name    string
		durable bool
		during  func(l *Log) error
		want    error  // NextWait's error; nil: it returns record
		record  string // appended after during, when want is nil
	}{
		{name: "TruncateBack drops the returned", during: func(l *Log) error { return l.TruncateBack(2) }, want: ErrTruncated},
		{name: "TruncateBack keeps the returned", during: func(l *Log) error {
			if _, err := l.Append([]byte("4")); err != nil {
				return err
			}
			return l.TruncateBack(3)
		}, record: "again 4"},
		{name: "Reset", during: func(l *Log) error { return l.Reset(100) }, want: ErrTruncated},
		{name: "Reset durable", durable: true, during: func(l *Log) error { return l.Reset(2) }, want: ErrTruncated},
		{name: "TruncateFront past the end", during: func(l *Log) error { return l.TruncateFront(4) }, record: "after the front"},
		{name: "poisoned", during: func(l *Log) error { l.setPoison(errors.New("rt8: a failed flush")); return nil }, want: ErrPoisoned},
		{name: "poisoned durable", durable: true, during: func(l *Log) error { l.setPoison(errors.New("rt8: a failed flush")); return nil }, want: ErrPoisoned},
		{name: "TruncateBack durable", durable: true, during: func(l *Log) error { return l.TruncateBack(1) }, want: ErrTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := rt8Log(t)
			for i := 1; i <= 3; i++ {
				if _, err := l.Append([]byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: c.durable})
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for i := uint64(1); i <= 3; i++ {
				if !it.Next() || it.Seq() != i {
					t.Fatalf("record %d: %v", i, it.Err())
				}
			}
			done := false
			rt8SpinHook(t, it, func(spin int) {
				if spin != waitSpins/2 || done {
					return
				}
				done = true
				if err := c.during(l); err != nil {
					t.Errorf("during the spins: %v", err)
					return
				}
				if c.want == nil {
					if _, err := l.Append([]byte(c.record)); err != nil {
						t.Error(err)
					}
					if c.durable {
						if err := l.Sync(); err != nil {
							t.Error(err)
						}
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ok := it.NextWait(ctx)
			if !done {
				t.Fatal("NextWait did not spin")
			}
			if c.want != nil {
				if ok || !errors.Is(it.Err(), c.want) {
					t.Fatalf("NextWait = %v (seq %d), Err %v; want %v", ok, it.Seq(), it.Err(), c.want)
				}
				return
			}
			if !ok || string(it.Value()) != c.record {
				t.Fatalf("NextWait = %v, seq %d %q, Err %v; want %q", ok, it.Seq(), it.Value(), it.Err(), c.record)
			}
		})
	}
}

// TestRT8NextWaitNoLostWakeup: waiters (plain and DurableOnly) follow a
// writer whose pace changes (bursts, yields, short sleeps: each waiter
// spins, parks, is woken with nothing, spins again); each gets every
// record, in order, with its bytes; a lost wake-up shows as a waiter
// still waiting after the writer is done (the deadline fails it).
func TestRT8NextWaitNoLostWakeup(t *testing.T) {
	l := rt8Log(t)
	const waiters, records = 6, 3000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, waiters+1)
	for w := range waiters {
		it, err := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: w%3 == 2})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer it.Close()
			for want := uint64(1); want <= records; want++ {
				if !it.NextWait(ctx) {
					errs <- fmt.Errorf("waiter %d: record %d: %v (LastSeq %d, DurableSeq %d)", w, want, it.Err(), l.LastSeq(), l.DurableSeq())
					return
				}
				if it.Seq() != want || !bytes.Equal(it.Value(), rt8GenPayload(want, 0)) {
					errs <- fmt.Errorf("waiter %d: got %d, want %d", w, it.Seq(), want)
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(8, 5))
	for seq := uint64(1); seq <= records; seq++ {
		if _, err := l.Append(rt8GenPayload(seq, 0)); err != nil {
			t.Fatal(err)
		}
		switch rng.IntN(10) {
		case 0:
			runtime.Gosched()
		case 1:
			time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
		case 2:
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRT8FollowerRotatingWriter: a Follower's iterators (plain and
// DurableOnly) at the tail of a writer that rotates every few records
// (4 KiB segments: the preparer often lags, so the next segment is often
// not there or not openable yet when a look at the end of the active one
// tries it, and the retry is throttled), with a trusted control area and
// with none (a writer that does not maintain it, as an older version):
// every record arrives, in order, with its bytes, before the deadline.
func TestRT8FollowerRotatingWriter(t *testing.T) {
	for _, c := range []struct {
		name      string
		noControl bool
	}{{"control area", false}, {"no control area", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, &Options{Durability: SyncManual, SegmentSize: 4096, BytesPerSync: 4096})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if c.noControl {
				l.wmu.Lock()
				l.ctl.close()
				l.ctl, l.listen = nil, &l.ownListen
				l.wmu.Unlock()
			}
			const records = 1500
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for _, durable := range []bool{false, true} {
				f, err := OpenFollower(dir, &FollowerOptions{DurableOnly: durable, PollInterval: 200 * time.Microsecond})
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				it, err := f.NewIterator(1)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer it.Close()
					for want := uint64(1); want <= records; want++ {
						if !it.NextWait(ctx) {
							errs <- fmt.Errorf("durable %v: record %d: %v (LastSeq %d, DurableSeq %d)", durable, want, it.Err(), l.LastSeq(), l.DurableSeq())
							return
						}
						if it.Seq() != want || !bytes.Equal(it.Value(), rt8GenPayload(want, 0)) {
							errs <- fmt.Errorf("durable %v: got %d, want %d", durable, it.Seq(), want)
							return
						}
					}
				}()
			}
			rng := rand.New(rand.NewPCG(8, 6))
			for seq := uint64(1); seq <= records; seq++ {
				if _, err := l.Append(rt8GenPayload(seq, 0)); err != nil {
					t.Fatal(err)
				}
				switch rng.IntN(8) {
				case 0:
					time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
				case 1:
					if err := l.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(rt8GenPayload(records+1, 0)); err != nil { // its durable field proves the rest without a control area
				t.Fatal(err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestRT8ReadAheadUnmapAndClose: iterators read ahead across segments
// while MaxMappedSegments is 1 and a reader maps and unmaps the old
// segments (Read of random sequences), then the Log closes under them:
// each record returned is whole and its own (its bytes are read after
// Next, so an unmapped read-ahead would crash), and each iterator ends
// with ErrClosed.
func TestRT8ReadAheadUnmapAndClose(t *testing.T) {
	l, err := Open(fastTempDir(t), &Options{SegmentSize: 8192, Durability: SyncManual, MaxMappedSegments: 1, BytesPerSync: 8192})
	if err != nil {
		t.Fatal(err)
	}
	const records = 4000
	for seq := uint64(1); seq <= records; seq++ {
		if _, err := l.Append(rt8GenPayload(seq, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, 8)
	var read atomic.Int64
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pass := 0; !stop.Load(); pass++ {
				it, err := l.NewIterator(1)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						errs <- err
					}
					return
				}
				want := uint64(1)
				for it.Next() {
					if it.Seq() != want {
						errs <- fmt.Errorf("iterator %d: %d, want %d", r, it.Seq(), want)
						it.Close()
						return
					}
					if _, ok := rt8GenOK(it.Value(), want); !ok {
						errs <- fmt.Errorf("iterator %d: record %d not whole", r, want)
						it.Close()
						return
					}
					want++
					read.Add(1)
				}
				err = it.Err()
				it.Close()
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						errs <- fmt.Errorf("iterator %d: %v", r, err)
					}
					return
				}
				if want != records+1 {
					errs <- fmt.Errorf("iterator %d: ended at %d", r, want)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(8, 7))
		for !stop.Load() {
			if _, err := l.Read(1 + rng.Uint64N(records)); err != nil {
				if !errors.Is(err, ErrClosed) {
					errs <- err
				}
				return
			}
		}
	}()
	for read.Load() < 3*records {
		runtime.Gosched()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
