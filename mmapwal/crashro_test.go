package mmapwal

// A ReadOnly Log beside a writer in another process, in the SIGKILL family
// (issue 13): while the child of TestCrashSIGKILL appends, rotates,
// truncates, recovers and is killed, a reader in the parent opens the
// directory ReadOnly again and again, reads records at random and iterates.
// Every byte it returns must be what some call appended at that sequence
// (record bytes are a function of sequence, length and salt, and the
// child reports each call before making it, so the check is exact, if made
// once the round's reports are all in); its errors may only say "not
// found" or "truncated under the reader" — never ErrCorrupt, never a
// Recovery().Corruption, on a log that is healthy throughout.
//
// Sizes: 40 kills by default, 3,000 with MMAPWAL_TORTURE=1;
// MMAPWAL_CRASH_KILLS overrides both.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCrashSIGKILLReadOnly(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 40
	if tortureMode() {
		kills = 3000
	}
	runCrashRounds(t, t.TempDir(), kills, &crashROStats{})
}

// crashROStats counts what the readers did, over all rounds.
type crashROStats struct {
	opens, records, notFound, truncated, rounds atomic.Int64
}

func (s *crashROStats) log(t *testing.T) {
	t.Logf("ReadOnly readers beside the child: %d opens in %d rounds, %d records returned and checked, %d reads not found, %d truncated under the reader",
		s.opens.Load(), s.rounds.Load(), s.records.Load(), s.notFound.Load(), s.truncated.Load())
}

// crashROSeen is a record a reader returned, checked once the round's
// reports are in.
type crashROSeen struct {
	seq  uint64
	n    int
	hash uint64
	how  string
}

// crashROReader reads dir ReadOnly until stopped.
type crashROReader struct {
	dir  string
	rng  *rand.Rand
	quit atomic.Bool
	done chan struct{}
	seen []crashROSeen
	errs []string
	st   crashROStats
}

func startCrashROReader(dir string, seed uint64) *crashROReader {
	r := &crashROReader{dir: dir, rng: rand.New(rand.NewPCG(seed, 1)), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for !r.quit.Load() && len(r.errs) == 0 {
			r.once()
		}
	}()
	return r
}

// stop ends the reader and waits for it; a nil reader does nothing.
func (r *crashROReader) stop() {
	if r != nil {
		r.quit.Store(true)
		<-r.done
	}
}

func fnvHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// once opens the directory ReadOnly, reads and iterates some records, and
// closes.
func (r *crashROReader) once() {
	// The child writes META first and never removes it (it is replaced by
	// rename), so a log whose META was there before this Open began is one
	// Open must find. Without the look before, "no META" could only be
	// checked after, when the child may have written it since: a race, not
	// a wrong answer.
	_, serr := os.Stat(filepath.Join(r.dir, metaName))
	metaBefore := serr == nil
	l, err := Open(r.dir, &Options{ReadOnly: true, MaxMappedSegments: 2})
	var ce *CorruptionError
	switch {
	case errors.Is(err, fs.ErrNotExist) && !metaBefore:
		return // the child has not created the directory yet
	case errors.As(err, &ce) && ce.Reason == ReasonMissingMeta && !metaBefore:
		return // the directory, no META yet
	case err != nil:
		r.errs = append(r.errs, fmt.Sprintf("Open: %v", err))
		return
	}
	defer l.Close()
	r.st.opens.Add(1)
	if c := l.Recovery().Corruption; c != nil {
		r.errs = append(r.errs, fmt.Sprintf("Open reports corruption of a healthy log: %v", c))
		return
	}
	first, last := l.FirstSeq(), l.LastSeq()
	if first == 0 || last < first {
		return
	}
	var buf []byte
	for range 16 {
		seq := first + r.rng.Uint64N(last-first+1)
		buf, err = l.ReadInto(buf[:0], seq)
		r.note(seq, buf, err, "Read")
	}
	it, err := l.NewIterator(first + r.rng.Uint64N(last-first+1))
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("NewIterator: %v", err))
		return
	}
	defer it.Close()
	for k := 0; k < 64 && it.Next(); k++ {
		r.note(it.Seq(), it.Value(), nil, "iterator")
	}
	if err := it.Err(); err != nil {
		r.note(0, nil, err, "iterator")
	}
}

// note records what a read returned.
func (r *crashROReader) note(seq uint64, b []byte, err error, how string) {
	switch {
	case err == nil:
		r.st.records.Add(1)
		r.seen = append(r.seen, crashROSeen{seq: seq, n: len(b), hash: fnvHash(b), how: how})
	case errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt):
		r.st.truncated.Add(1)
	case errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt):
		r.st.notFound.Add(1)
	default:
		r.errs = append(r.errs, fmt.Sprintf("%s(%d): %v (%T), want a record, not found or truncated", how, seq, err, err))
	}
}

// check stops the reader and checks what it returned against every record
// that may have been at each sequence: those of model (the log when the
// round began) and those the round's calls appended (evs).
func (r *crashROReader) check(model crashState, evs []string, st *crashROStats) error {
	if r == nil {
		return nil
	}
	r.stop()
	st.rounds.Add(1)
	st.opens.Add(r.st.opens.Load())
	st.records.Add(r.st.records.Load())
	st.notFound.Add(r.st.notFound.Load())
	st.truncated.Add(r.st.truncated.Load())
	if len(r.errs) > 0 {
		return errors.New(strings.Join(r.errs[:min(len(r.errs), 5)], "; "))
	}
	cands := map[uint64][]crec{}
	for _, c := range model.recs {
		cands[c.seq] = append(cands[c.seq], c)
	}
	for _, e := range evs {
		f := strings.Fields(e)
		if len(f) == 0 || !strings.Contains("arb", f[0]) || len(f[0]) != 1 {
			continue
		}
		op, err := parseCrashOp(f)
		if err != nil {
			return err
		}
		for i, n := range op.sizes {
			cands[op.seq+uint64(i)] = append(cands[op.seq+uint64(i)], crec{seq: op.seq + uint64(i), size: n, salt: op.salt})
		}
	}
	var once sync.Map
	for _, s := range r.seen {
		key := s
		if _, dup := once.LoadOrStore(key, true); dup {
			continue
		}
		ok := false
		for _, c := range cands[s.seq] {
			if c.size == s.n {
				b := make([]byte, c.size)
				fillPayload(b, c.seq, c.salt)
				ok = ok || fnvHash(b) == s.hash
			}
		}
		if !ok {
			return fmt.Errorf("%s returned %d bytes as record %d that no call appended there (%d candidates)", s.how, s.n, s.seq, len(cands[s.seq]))
		}
	}
	return nil
}
