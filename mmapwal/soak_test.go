package mmapwal

// The soak (issue 5 §5): goroutines appending (Append, AppendBatch,
// Reserve/Commit and Abort), syncing, reading random records (Read,
// ReadInto, View), iterating, reading through ReadOnly Logs beside the
// writer (issue 13), truncating both ends, and now and then closing and
// reopening the log, all checked against a model.
//
// Every record names itself: its first 16 bytes are its sequence and a tag
// unique to the append, and the rest is a function of the tag, so a reader
// can check any record it gets without locks. Writers hold the model's
// mutex across the call and the model update; readers also check the tag
// against the model when no TruncateBack ran meanwhile. The reopener stops
// the world (the other goroutines hold a shared gate per operation) and
// compares the whole log with the model before closing and after reopening.
//
// MMAPWAL_SOAK sets the duration (`make soak DURATION=10m` runs
// MMAPWAL_SOAK=10m with -race); without it the soak runs 3 s, so that CI
// exercises it.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakPayload is the record appended at seq with tag: 16 bytes of header,
// then n bytes that are a function of the tag.
func soakPayload(seq, tag uint64, n int) []byte {
	b := make([]byte, 16, 16+n)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[8:], tag)
	return append(b, bbPayloadN(tag, n)...)
}

// soakCheck checks a record read at seq and returns its tag.
func soakCheck(seq uint64, b []byte) (uint64, error) {
	if len(b) < 16 {
		return 0, fmt.Errorf("record %d: %d bytes", seq, len(b))
	}
	if got := binary.LittleEndian.Uint64(b); got != seq {
		return 0, fmt.Errorf("record %d holds the record of sequence %d", seq, got)
	}
	tag := binary.LittleEndian.Uint64(b[8:])
	if !bytes.Equal(b[16:], bbPayloadN(tag, len(b)-16)) {
		return 0, fmt.Errorf("record %d (tag %d): bytes differ from what was appended", seq, tag)
	}
	return tag, nil
}

// soakModel is what the log must hold.
type soakModel struct {
	mu    sync.Mutex
	tags  map[uint64]uint64 // seq → tag
	last  uint64
	front uint64 // FirstSeq when no record is held: last+1
	tag   uint64
	cuts  atomic.Uint64 // TruncateBacks done: readers check tags only between two
}

func (m *soakModel) first() uint64 {
	f := m.last + 1
	for s := range m.tags {
		f = min(f, s)
	}
	return f
}

type soak struct {
	t     *testing.T
	dir   string
	opts  Options
	gate  sync.RWMutex // operations hold it shared; the reopener exclusively
	l     *Log
	m     soakModel
	ops   atomic.Int64
	stop  atomic.Bool
	failM sync.Mutex
	fail  error
}

func (s *soak) failf(format string, args ...any) {
	s.failM.Lock()
	if s.fail == nil {
		s.fail = fmt.Errorf(format, args...)
	}
	s.failM.Unlock()
	s.stop.Store(true)
}

// op runs fn with the gate held shared.
func (s *soak) op(fn func(l *Log)) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	fn(s.l)
	s.ops.Add(1)
}

func (s *soak) writer(rng *rand.Rand) {
	for !s.stop.Load() {
		s.op(func(l *Log) {
			m := &s.m
			m.mu.Lock()
			defer m.mu.Unlock()
			switch r := rng.IntN(100); {
			case r < 50:
				m.tag++
				seq := m.last + 1
				if got, err := l.Append(soakPayload(seq, m.tag, rng.IntN(300))); err != nil || got != seq {
					s.failf("Append: %d, %v; want %d", got, err, seq)
					return
				}
				m.tags[seq], m.last = m.tag, seq
			case r < 70:
				n := 1 + rng.IntN(4)
				ps := make([][]byte, n)
				tags := make([]uint64, n)
				for i := range ps {
					m.tag++
					tags[i] = m.tag
					ps[i] = soakPayload(m.last+1+uint64(i), m.tag, rng.IntN(200))
				}
				if got, err := l.AppendBatch(ps); err != nil || got != m.last+1 {
					s.failf("AppendBatch: %d, %v; want %d", got, err, m.last+1)
					return
				}
				for i := range ps {
					m.last++
					m.tags[m.last] = tags[i]
				}
			case r < 85:
				m.tag++
				seq := m.last + 1
				p := soakPayload(seq, m.tag, rng.IntN(300))
				res, err := l.Reserve(len(p))
				if err != nil {
					s.failf("Reserve: %v", err)
					return
				}
				copy(res.Bytes(), p)
				if rng.IntN(5) == 0 {
					res.Abort()
					return
				}
				if got, err := res.Commit(); err != nil || got != seq {
					s.failf("Commit: %d, %v; want %d", got, err, seq)
					return
				}
				m.tags[seq], m.last = m.tag, seq
			case r < 93 && len(m.tags) > 1500:
				to := m.first() + uint64(rng.IntN(len(m.tags)/2))
				if err := l.TruncateFront(to); err != nil {
					s.failf("TruncateFront(%d): %v", to, err)
					return
				}
				for q := range m.tags {
					if q < to {
						delete(m.tags, q)
					}
				}
				m.front = to
			case r >= 97 && len(m.tags) > 20:
				to := m.last - uint64(1+rng.IntN(15))
				m.cuts.Add(1)
				if err := l.TruncateBack(to); err != nil {
					s.failf("TruncateBack(%d): %v", to, err)
					return
				}
				for q := range m.tags {
					if q > to {
						delete(m.tags, q)
					}
				}
				m.last = to
				m.cuts.Add(1)
			}
		})
	}
}

func (s *soak) syncer() {
	for !s.stop.Load() {
		s.op(func(l *Log) {
			if err := l.Sync(); err != nil {
				s.failf("Sync: %v", err)
			}
		})
		time.Sleep(time.Millisecond)
	}
}

// bounds returns the model's first and last sequence.
func (s *soak) bounds() (uint64, uint64) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.first(), s.m.last
}

func (s *soak) reader(rng *rand.Rand) {
	var buf []byte
	for !s.stop.Load() {
		s.op(func(l *Log) {
			first, last := s.bounds()
			if last < first {
				return
			}
			seq := first + rng.Uint64N(last-first+1)
			cuts := s.m.cuts.Load()
			var b []byte
			var err error
			view := false
			switch rng.IntN(3) {
			case 0:
				b, err = l.Read(seq)
			case 1:
				buf, err = l.ReadInto(buf[:0], seq)
				b = buf
			default:
				view = true
				err = l.View(seq, func(v []byte) error { b = bytes.Clone(v); return nil })
			}
			if errors.Is(err, ErrNotFound) {
				return // truncated meanwhile
			}
			if err != nil {
				s.failf("read %d: %v", seq, err)
				return
			}
			tag, err := soakCheck(seq, b)
			if err != nil {
				// Read and ReadInto are copies checked against the
				// truncations; View reports a truncation that zeroed
				// the record under fn (ErrTruncated, matched above):
				// never torn, never another record's.
				s.failf("read (view %v): %v", view, err)
				return
			}
			s.m.mu.Lock()
			want, held := s.m.tags[seq]
			s.m.mu.Unlock()
			if held && cuts%2 == 0 && s.m.cuts.Load() == cuts && want != tag {
				s.failf("read %d: tag %d, the model says %d", seq, tag, want)
			}
		})
	}
}

func (s *soak) iterator(rng *rand.Rand) {
	for !s.stop.Load() {
		s.op(func(l *Log) {
			first, last := s.bounds()
			from := first
			if last > first {
				from += rng.Uint64N(last - first)
			}
			it, err := l.NewIterator(from)
			if err != nil {
				s.failf("NewIterator: %v", err)
				return
			}
			defer it.Close()
			prev := uint64(0)
			for n := 0; n < 400 && it.Next(); n++ {
				cuts := s.m.cuts.Load()
				if it.Seq() <= prev || it.Seq() < from {
					s.failf("iterator from %d: %d after %d", from, it.Seq(), prev)
					return
				}
				prev = it.Seq()
				if _, err := soakCheck(it.Seq(), it.Value()); err != nil && s.m.cuts.Load() == cuts && cuts%2 == 0 {
					s.failf("iterator: %v", err)
					return
				} else if err != nil {
					// Value is a slice of the mapping: a TruncateBack
					// that drops the record meanwhile zeroes it, and the
					// next append reuses the space (the next Next fails
					// with ErrNotFound).
					continue
				}
			}
			if err := it.Err(); err != nil && !errors.Is(err, ErrNotFound) {
				s.failf("iterator: %v", err)
			}
		})
	}
}

// readOnly opens ReadOnly Logs beside the writer and reads and iterates
// them: every record they return is intact and is the one of its sequence
// (the tag in it is checked by soakCheck); errors only say not found or
// truncated.
func (s *soak) readOnly(rng *rand.Rand) {
	var buf []byte
	for !s.stop.Load() {
		ro, err := Open(s.dir, &Options{ReadOnly: true, MaxMappedSegments: 2})
		if err != nil {
			time.Sleep(time.Millisecond) // Open of a log changing under it may fail; it must not lie
			continue
		}
		for n := 0; n < 300 && !s.stop.Load(); n++ {
			first, last := ro.FirstSeq(), ro.LastSeq()
			seq := first + rng.Uint64N(last-first+2)
			if rng.IntN(3) != 0 {
				buf, err = ro.ReadInto(buf[:0], seq)
				if err == nil {
					_, err = soakCheck(seq, buf)
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					s.failf("ReadOnly read %d: %v", seq, err)
				}
				continue
			}
			it, err := ro.NewIterator(seq)
			if err != nil {
				s.failf("ReadOnly NewIterator: %v", err)
				break
			}
			prev := uint64(0)
			for k := 0; k < 200 && it.Next(); k++ {
				if it.Seq() <= prev || it.Seq() < seq {
					s.failf("ReadOnly iterator from %d: %d after %d", seq, it.Seq(), prev)
				}
				if _, err := soakCheck(it.Seq(), it.Value()); err != nil {
					s.failf("ReadOnly iterator: %v", err)
				}
				prev = it.Seq()
			}
			if err := it.Err(); err != nil && !errors.Is(err, ErrNotFound) {
				s.failf("ReadOnly iterator: %v", err)
			}
			it.Close()
		}
		ro.Close()
	}
}

// checkAll compares the whole log with the model (the world is stopped).
func (s *soak) checkAll(what string) {
	m := &s.m
	l := s.l
	if l.LastSeq() != m.last || l.FirstSeq() != m.first() {
		s.failf("%s: log holds %d..%d, the model %d..%d", what, l.FirstSeq(), l.LastSeq(), m.first(), m.last)
		return
	}
	seqs := make([]uint64, 0, len(m.tags))
	for q := range m.tags {
		seqs = append(seqs, q)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	it, err := l.NewIterator(0)
	if err != nil {
		s.failf("%s: %v", what, err)
		return
	}
	defer it.Close()
	i := 0
	for it.Next() {
		if i >= len(seqs) || it.Seq() != seqs[i] {
			s.failf("%s: record %d at position %d, the model has %v", what, it.Seq(), i, seqs[min(i, len(seqs)-1)])
			return
		}
		tag, err := soakCheck(it.Seq(), it.Value())
		if err != nil || tag != m.tags[it.Seq()] {
			s.failf("%s: record %d: tag %d, want %d (%v)", what, it.Seq(), tag, m.tags[it.Seq()], err)
			return
		}
		i++
	}
	if err := it.Err(); err != nil || i != len(seqs) {
		s.failf("%s: %d of %d records: %v", what, i, len(seqs), err)
	}
}

// reopen stops the world, checks, closes, reopens (switching durability now
// and then) and checks again.
func (s *soak) reopen(rng *rand.Rand) {
	s.gate.Lock()
	defer s.gate.Unlock()
	s.checkAll("before Close")
	if err := s.l.Close(); err != nil {
		s.failf("Close: %v", err)
		return
	}
	s.opts.Durability = []Durability{SyncManual, SyncInterval, SyncAlways}[rng.IntN(3)]
	l, err := Open(s.dir, &s.opts)
	if err != nil {
		s.failf("reopen: %v", err)
		return
	}
	s.l = l
	if l.Recovery().TornTail != nil || !l.Recovery().Clean && s.m.last > 0 {
		s.failf("reopen after a clean Close: %+v", l.Recovery())
	}
	s.checkAll("after reopen")
}

func TestSoak(t *testing.T) {
	d := 3 * time.Second
	if v := os.Getenv("MMAPWAL_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("MMAPWAL_SOAK=%q: %v", v, err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	s := &soak{t: t, dir: fastTempDir(t), opts: Options{SegmentSize: 64 << 10, Durability: SyncManual, MaxMappedSegments: 4}}
	s.m.tags = map[uint64]uint64{}
	l, err := Open(s.dir, &s.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	start := time.Now()
	var wg sync.WaitGroup
	workers := []func(*rand.Rand){s.writer, s.writer, s.reader, s.reader, s.iterator, s.readOnly, func(*rand.Rand) { s.syncer() }}
	for i, w := range workers {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() { w(rng) })
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	reopens := 0
	for time.Since(start) < d && !s.stop.Load() {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		if time.Since(start) < d && !s.stop.Load() {
			s.reopen(rng)
			reopens++
		}
	}
	s.stop.Store(true)
	wg.Wait()
	if s.fail == nil {
		s.gate.Lock()
		s.checkAll("at the end")
		if err := s.l.Close(); err != nil {
			s.failf("final Close: %v", err)
		}
		s.gate.Unlock()
	}
	verdict := "OK"
	if s.fail != nil {
		verdict = "FAIL: " + s.fail.Error()
	}
	line := fmt.Sprintf("soak: %d ops (%d records appended, %d reopens, last seq %d) in %v: %s",
		s.ops.Load(), s.m.tag, reopens, s.m.last, time.Since(start).Round(time.Millisecond), verdict)
	fmt.Println(line)
	t.Log(line)
	if s.fail != nil {
		t.Fatal(s.fail)
	}
}
