package mmapwal

// Red team 5's repros against the live readers (issue 11), all in the
// suite. Three were open bugs, fixed since (each test says how):
// TestRT5OlderWriterBetweenRestartsHidesCut (a writer without a control
// area cut and rewrote between two writers of this version, or after a
// Close, and the carried-over or closed area hid the cut),
// TestRT5StrayControlFlockHidesCut (a writer that could not lock CONTROL
// removed it, and a follower kept trusting the removed area) and
// TestRT5RingOverflowSpuriousTruncation (more than 16 cuts between two
// looks ended a follower whose records were intact).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// rt5Payload is the content of record seq written by writer generation gen.
func rt5Payload(seq, gen uint64) []byte {
	return append(bytes.Repeat([]byte{byte(seq), byte(gen)}, 8+int(seq%50)), byte(gen))
}

func rt5Append(t testing.TB, l *Log, from, to, gen uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		got, err := l.Append(rt5Payload(s, gen))
		if err != nil || got != s {
			t.Fatalf("append %d: got %d, %v", s, got, err)
		}
	}
}

// TestRT5ResetMatchesWriterIterator: Reset to below and above the
// iterators' position, then appends: follower and writer's iterator end
// the same way, and a fresh follower iterator from 1 reads exactly what a
// fresh writer's iterator reads.
func TestRT5ResetMatchesWriterIterator(t *testing.T) {
	for _, next := range []uint64{50, 96, 97, 200} {
		dir := fastTempDir(t)
		l := mustOpen(t, dir, folOpts())
		rt5Append(t, l, 1, 100, 1)
		f := openFollower(t, dir, nil)
		fit, _ := f.NewIterator(1)
		wit, _ := l.NewIteratorWith(1, nil)
		for s := uint64(1); s <= 95; s++ {
			if !nextWithin(fit) || !nextWithin(wit) {
				t.Fatalf("record %d: %v %v", s, fit.Err(), wit.Err())
			}
		}
		if err := l.Reset(next); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, next, next+20, 2)
		fok, wok := nextWithin(fit), nextWithin(wit)
		var fte, wte *TruncatedError
		errors.As(fit.Err(), &fte)
		errors.As(wit.Err(), &wte)
		switch {
		case fok || wok:
			t.Errorf("Reset(%d): follower Next %v (seq %d), writer's iterator %v (seq %d): want both ErrTruncated", next, fok, fit.Seq(), wok, wit.Seq())
		case fte == nil || wte == nil:
			t.Errorf("Reset(%d): follower err %v, writer's iterator err %v", next, fit.Err(), wit.Err())
		case *fte != *wte:
			t.Errorf("Reset(%d): follower %+v, writer's iterator %+v", next, *fte, *wte)
		}
		fit.Close()
		wit.Close()
		fit2, _ := f.NewIterator(1)
		wit2, _ := l.NewIteratorWith(1, nil)
		for {
			wok := wit2.Next()
			fok := nextWithin(fit2)
			if wok != fok || (wok && (wit2.Seq() != fit2.Seq() || !bytes.Equal(wit2.Value(), fit2.Value()))) {
				t.Errorf("Reset(%d): fresh iterators differ: writer %v seq %d err %v, follower %v seq %d err %v", next, wok, wit2.Seq(), wit2.Err(), fok, fit2.Seq(), fit2.Err())
				break
			}
			if !wok || wit2.Seq() == next+20 {
				break
			}
		}
		fit2.Close()
		wit2.Close()
		l.Close()
	}
}

// TestRT5OlderWriterBetweenRestartsHidesCut: a writer of this version
// closes (the ring says: no cut), a writer of an older version (no control
// area: testHookNoControl) opens, TruncateBack(10), re-appends 11..100 with
// other bytes, closes; then a writer of this version opens again: CONTROL
// is still the same lineage, so carryRing carries the ring over, and the
// open cut it records is LastSeq+1 = 101. A follower that returned 1..95
// of the first generation and did not look while the older writer ran
// (nothing forces it to) then follows the ring, learns of no cut at or
// below 95, and returns record 96 of the *second* generation: silently
// different records at the same sequences (must be ErrTruncated).
//
// Fixed: the area carries a fingerprint of what it last published (tip
// frame, META's floor and first seq); the next writer starts a new lineage
// when the log no longer matches it, a follower does not trust a closed
// area that no longer matches, and a follower re-checks its marks at every
// change of writer. The cut is then told by the records the follower
// returned: exactly when the marks (the last 64 returned) reach below it
// (cut 60), else at the first record returned (cut 10: no record left
// tells that 1..10 are intact; a lower Seq is conservative).
func TestRT5OlderWriterBetweenRestartsHidesCut(t *testing.T) {
	for _, cut := range []uint64{10, 60} {
		// A writer of this version opens after the older one.
		t.Run(fmt.Sprintf("reopen/cut=%d", cut), func(t *testing.T) { rt5OlderWriter(t, true, cut) })
		// No writer since the older one closed: the area the first writer's
		// Close left (pid 0, LOCK free) is trusted as "how the last writer
		// left the log", though the older writer cut and rewrote it since.
		t.Run(fmt.Sprintf("closed/cut=%d", cut), func(t *testing.T) { rt5OlderWriter(t, false, cut) })
	}
}

// rt5WantCut checks that err is a *TruncatedError for a cut that removed
// cut+1 on, seen by an iterator that returned 1..95 (so its marks cover
// 32..95): Seq exactly cut+1 when a mark is below it, else at most cut+1.
func rt5WantCut(t *testing.T, err error, cut uint64) {
	t.Helper()
	var te *TruncatedError
	switch {
	case !errors.As(err, &te):
		t.Fatalf("err %v, want *TruncatedError", err)
	case cut >= 32 && te.Seq != cut+1:
		t.Fatalf("err %v, want *TruncatedError{Seq: %d}", err, cut+1)
	case te.Seq < 1 || te.Seq > cut+1:
		t.Fatalf("err %v, want *TruncatedError{Seq: 1..%d}", err, cut+1)
	}
}

func rt5OlderWriter(t *testing.T, reopen bool, cut uint64) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	lineage := l.ctl.ring.lineage.Load()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 95; s++ {
		if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 1)) {
			t.Fatalf("gen 1 record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// An older writer (no control area): cut and rewrite.
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	if err != nil {
		testHookNoControl = false
		t.Fatal(err)
	}
	if err := l2.TruncateBack(cut); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, cut+1, 100, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	testHookNoControl = false

	if reopen {
		l3 := mustOpen(t, dir, folOpts())
		defer l3.Close()
		if l3.ctl.ring.lineage.Load() == lineage {
			t.Errorf("the writer after one that cut unseen carried the lineage over (its ring lacks that cut)")
		}
	}
	if nextWithin(it) {
		if it.Seq() == 96 && bytes.Equal(it.Value(), rt5Payload(96, 2)) {
			t.Fatalf("follower returned record 96 of generation 2 after 1..95 of generation 1 (records %d..95 it returned were cut by TruncateBack(%d)): want *TruncatedError", cut+1, cut)
		}
		t.Fatalf("follower returned record %d (%d bytes) after gen 1's 95; want *TruncatedError", it.Seq(), len(it.Value()))
	}
	rt5WantCut(t, it.Err(), cut)
}

// TestRT5OlderWriterAppendOnly: the fingerprint does not end a lineage for
// nothing. An older writer that only appends (101..120) between two
// writers of this version leaves the ring carried over (the same lineage)
// and the follower reads on; with no writer since, the closed area is no
// longer trusted (records follow its end) and the follower reads on too.
func TestRT5OlderWriterAppendOnly(t *testing.T) {
	for _, reopen := range []bool{true, false} {
		t.Run(fmt.Sprintf("reopen=%v", reopen), func(t *testing.T) {
			dir := fastTempDir(t)
			l := mustOpen(t, dir, folOpts())
			rt5Append(t, l, 1, 100, 1)
			lineage := l.ctl.ring.lineage.Load()
			f := openFollower(t, dir, nil)
			it, err := f.NewIterator(1)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for s := uint64(1); s <= 95; s++ {
				if !nextWithin(it) || it.Seq() != s {
					t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			testHookNoControl = true
			l2, err := Open(dir, folOpts())
			testHookNoControl = false
			if err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l2, 101, 120, 1)
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}
			if reopen {
				l3 := mustOpen(t, dir, folOpts())
				defer l3.Close()
				if got := l3.ctl.ring.lineage.Load(); got != lineage {
					t.Errorf("lineage %x after an older writer that only appended, want %x (carried over)", got, lineage)
				}
			}
			for s := uint64(96); s <= 120; s++ {
				if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 1)) {
					t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
				}
			}
			if got := f.LastSeq(); got != 120 {
				t.Errorf("LastSeq %d, want 120", got)
			}
		})
	}
}

// TestRT5RingOverflowSpuriousTruncation: more than 16 cuts between two
// looks of a follower fold the oldest cut (TruncateBack(90): 91 removed)
// into the next entry, whose epoch is after the follower's last look. A
// follower that had already seen that cut, re-read 91..150 of the new
// records, and then sleeps through 16 cuts that all remove records above
// 200 gets ErrTruncated{Seq: 91} although every record it returned is
// still in the log, byte for byte (the conservative fold should fall back
// to checking the records, as revalidate does, not fail the iterator).
func TestRT5RingOverflowSpuriousTruncation(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 50; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.TruncateBack(90); err != nil { // cut #1: removes 91..100, none returned
		t.Fatal(err)
	}
	rt5Append(t, l, 91, 150, 2)
	for s := uint64(51); s <= 150; s++ {
		gen := uint64(1)
		if s > 90 {
			gen = 2
		}
		if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, gen)) {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	// 16 more cuts, all above anything the follower returned.
	rt5Append(t, l, 151, 210, 2)
	for i := 0; i < 16; i++ {
		if err := l.TruncateBack(200); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 201, 210, uint64(3+i))
	}
	if !nextWithin(it) {
		t.Fatalf("after 16 cuts above 200 (every record returned, 1..150, intact): NextWait false, err %v; want record 151", it.Err())
	}
	if it.Seq() != 151 || !bytes.Equal(it.Value(), rt5Payload(151, 2)) {
		t.Fatalf("got record %d, want 151", it.Seq())
	}
}

// rt5Counts returns the process's open fds and mappings of files in dir.
func rt5Counts(t *testing.T, dir string) (fds, maps int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, e := range ents {
		if p, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(p, dir) {
			fds++
		}
	}
	b, _ := os.ReadFile("/proc/self/maps")
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, dir) {
			maps++
		}
	}
	return fds, maps
}

// TestRT5FollowersRotationLeak: three followers (one DurableOnly) follow
// a writer through ~1500 rotations with TruncateFront keeping the log
// short; once they have caught up, the process's fds and mappings of the
// log's files must stay bounded (not grow with the rotations).
func TestRT5FollowersRotationLeak(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{Durability: SyncManual, SegmentSize: 8 << 10})
	defer l.Close()
	var its []*Iterator
	for i := 0; i < 3; i++ {
		f := openFollower(t, dir, &FollowerOptions{DurableOnly: i == 2})
		it, err := f.NewIterator(1)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		its = append(its, it)
	}
	rec := make([]byte, 2000) // ~4 per 8 KiB segment
	var seq uint64
	peakFds, peakMaps := 0, 0
	for round := 0; round < 1500; round++ {
		for k := 0; k < 4; k++ {
			binaryPut(rec, seq+1)
			s, err := l.Append(rec)
			if err != nil {
				t.Fatal(err)
			}
			seq = s
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, it := range its {
			for it.Seq() < seq-1 {
				if !nextWithin(it) {
					t.Fatalf("round %d: follower stopped at %d: %v", round, it.Seq(), it.Err())
				}
			}
		}
		if round%50 == 49 {
			if err := l.TruncateFront(seq - 8); err != nil {
				t.Fatal(err)
			}
		}
		if round == 100 || round == 1499 {
			fds, maps := rt5Counts(t, dir)
			if round == 100 {
				peakFds, peakMaps = fds, maps
				continue
			}
			if fds > peakFds+8 || maps > peakMaps+8 {
				t.Fatalf("after 1500 rotations: %d fds and %d mappings of the log's files (at round 100: %d and %d): followers leak", fds, maps, peakFds, peakMaps)
			}
			t.Logf("fds %d→%d maps %d→%d", peakFds, fds, peakMaps, maps)
		}
	}
}

func binaryPut(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// TestRT5TruncatedSeqMatchesWriterIterator: for the same TruncateBack, a
// follower's iterator and the writer's own iterator, both having returned
// 1..95, must end the same way (same error kind, same TruncatedError.Seq
// and LastSeq), and both go on the same way when nothing they returned
// was cut.
func TestRT5TruncatedSeqMatchesWriterIterator(t *testing.T) {
	for _, cut := range []uint64{96, 95, 94, 50, 1} {
		dir := fastTempDir(t)
		l := mustOpen(t, dir, folOpts())
		rt5Append(t, l, 1, 100, 1)
		f := openFollower(t, dir, nil)
		fit, err := f.NewIterator(1)
		if err != nil {
			t.Fatal(err)
		}
		wit, err := l.NewIteratorWith(1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for s := uint64(1); s <= 95; s++ {
			if !nextWithin(fit) || !nextWithin(wit) {
				t.Fatalf("record %d: %v %v", s, fit.Err(), wit.Err())
			}
		}
		if err := l.TruncateBack(cut); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, cut+1, 100, 2)
		fok, wok := nextWithin(fit), nextWithin(wit)
		var fte, wte *TruncatedError
		errors.As(fit.Err(), &fte)
		errors.As(wit.Err(), &wte)
		switch {
		case fok != wok:
			t.Errorf("TruncateBack(%d): follower Next %v (seq %d, err %v), writer's iterator %v (seq %d, err %v)", cut, fok, fit.Seq(), fit.Err(), wok, wit.Seq(), wit.Err())
		case fok && (fit.Seq() != wit.Seq() || !bytes.Equal(fit.Value(), wit.Value())):
			t.Errorf("TruncateBack(%d): follower got %d, writer's iterator %d", cut, fit.Seq(), wit.Seq())
		case !fok && (fte == nil) != (wte == nil):
			t.Errorf("TruncateBack(%d): follower err %v, writer's iterator err %v", cut, fit.Err(), wit.Err())
		case !fok && fte != nil && *fte != *wte:
			t.Errorf("TruncateBack(%d): follower %+v, writer's iterator %+v", cut, *fte, *wte)
		}
		fit.Close()
		wit.Close()
		l.Close()
	}
}

// TestRT5DurableOnlyUnderSyncModes: DurableOnly followers (and the
// writer's own DurableOnly iterator) under SyncInterval and SyncAlways
// writers, with batches and TruncateBacks: never a record above the
// writer's DurableSeq() at the time it was returned (checked after: the
// writer's DurableSeq only rises between cuts, and the check is done with
// the writer stopped for cuts).
func TestRT5DurableOnlyUnderSyncModes(t *testing.T) {
	for _, d := range []Durability{SyncInterval, SyncAlways} {
		dir := fastTempDir(t)
		l, err := Open(dir, &Options{Durability: d, SegmentSize: folSegSize, SyncInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		f := openFollower(t, dir, &FollowerOptions{DurableOnly: true, PollInterval: 100 * time.Microsecond})
		fit, _ := f.NewIterator(1)
		wit, _ := l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
		var mu sync.Mutex // held by the writer while it cuts
		var cuts uint64   // under mu: TruncateBacks so far
		stop := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, 2)
		check := func(it *Iterator, who string) {
			defer wg.Done()
			for {
				mu.Lock()
				c0 := cuts
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				ok := it.NextWait(ctx)
				cancel()
				if ok {
					mu.Lock()
					ds, c1 := l.DurableSeq(), cuts
					mu.Unlock()
					// No cut between c0 and c1: DurableSeq only rose
					// meanwhile, so the record must be at or below it.
					if c0 == c1 && it.Seq() > ds {
						errc <- fmt.Errorf("%v %s: returned %d above the writer's DurableSeq %d", d, who, it.Seq(), ds)
						return
					}
					continue
				}
				if errors.Is(it.Err(), ErrTruncated) {
					it.Close()
					var err error
					if who == "follower" {
						it, err = f.NewIterator(1)
					} else {
						it, err = l.NewIteratorWith(1, &IteratorOptions{DurableOnly: true})
					}
					if err != nil {
						errc <- err
						return
					}
					continue
				}
				select {
				case <-stop:
					it.Close()
					return
				default:
				}
			}
		}
		wg.Add(2)
		go check(fit, "follower")
		go check(wit, "writer's iterator")
		rng := uint64(7)
		for i := 0; i < 3000; i++ {
			rng = splitmix(rng)
			switch rng % 20 {
			case 0:
				mu.Lock()
				if last := l.LastSeq(); last > 10 {
					if err := l.TruncateBack(last - 5); err != nil {
						t.Fatal(err)
					}
					cuts++
				}
				mu.Unlock()
			case 1, 2:
				_, err = l.AppendBatch([][]byte{folPayload(1), folPayload(2), folPayload(3)})
			default:
				_, err = l.Append(folPayload(uint64(i)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		select {
		case err := <-errc:
			t.Error(err)
		default:
		}
		l.Close()
	}
}

// TestRT5OrphanedReservation: a reservation left open by Close, written
// into after the Close (its Bytes are still handed out: not done), while
// a new writer appends where its frame would have gone: the follower and
// the new writer's reads see exactly the records appended, and the late
// writes into the orphan never reach the log.
func TestRT5OrphanedReservation(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 10, 1)
	r, err := l.Reserve(300)
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Bytes(), bytes.Repeat([]byte{0xAB}, 300))
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for s := uint64(1); s <= 10; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: %v", s, it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, folOpts())
	defer l2.Close()
	rt5Append(t, l2, 11, 30, 2)
	if b := r.Bytes(); b != nil {
		for i := range b {
			b[i] = 0xCD // late writes into the orphan
		}
	}
	if _, err := r.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit of an orphan: %v, want ErrClosed", err)
	}
	for s := uint64(11); s <= 30; s++ {
		if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 2)) {
			t.Fatalf("follower record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
		v, err := l2.Read(s)
		if err != nil || !bytes.Equal(v, rt5Payload(s, 2)) {
			t.Fatalf("writer's Read(%d): %v", s, err)
		}
	}
}

// TestRT5StrayControlFlockHidesCut: the same hole with writers of this
// version only. After the first writer's Close, something else holds a
// flock on CONTROL (here another open file of this process; in the field
// an operator's `flock CONTROL …`, or a descriptor inherited by a forked
// child). The second writer's lockControl fails, so it runs without a
// control area (a Warn only), cuts and rewrites; the area the first
// writer left (pid 0, LOCK free once the second closes) is trusted as is,
// and a follower returns record 96 of the rewritten log after 1..95 of
// the first.
//
// Fixed: a writer that cannot lock CONTROL disowns the area in place
// (incarnation and lineage 0) before it removes it, and a closed area is
// trusted only while the files match its fingerprint. "during" also looks
// while the second writer holds the log: nothing of the rewritten log.
func TestRT5StrayControlFlockHidesCut(t *testing.T) {
	t.Run("after", func(t *testing.T) { rt5StrayFlock(t, false) })
	t.Run("during", func(t *testing.T) { rt5StrayFlock(t, true) })
}

func rt5StrayFlock(t *testing.T, during bool) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 95; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: %v", s, it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stray, err := os.Open(filepath.Join(dir, controlName))
	if err != nil {
		t.Fatal(err)
	}
	if err := sysutil.Lock(stray); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, folOpts())
	if err := l2.TruncateBack(10); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 11, 100, 2)
	// While the second writer holds the log, at once (not after the
	// 50 ms link-count check): the area it could not lock was disowned in
	// place, so the follower returns nothing of the rewritten log.
	if during && it.Next() {
		t.Fatalf("while the writer that could not lock CONTROL holds the log: follower returned record %d (gen-2 bytes: %v) after 1..95 of generation 1, which TruncateBack(10) cut",
			it.Seq(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 2)))
	}
	if err := it.Err(); err != nil {
		rt5WantCut(t, err, 10)
		return
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	stray.Close()
	if nextWithin(it) {
		t.Fatalf("follower returned record %d (gen-2 bytes: %v) after 1..95 of generation 1, which TruncateBack(10) cut: want *TruncatedError",
			it.Seq(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 2)))
	}
	rt5WantCut(t, it.Err(), 10)
}

// TestRT5StrayControlFlockStaleLastSeq: as TestRT5StrayControlFlockHidesCut,
// the second writer (no control area) cuts to 10 and appends to 50 only: a
// fresh follower, opened after it closed, trusts the first writer's area
// and reports LastSeq and DurableSeq 100, records that do not exist.
func TestRT5StrayControlFlockStaleLastSeq(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stray, err := os.Open(filepath.Join(dir, controlName))
	if err != nil {
		t.Fatal(err)
	}
	if err := sysutil.Lock(stray); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, folOpts())
	if err := l2.TruncateBack(10); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 11, 50, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	stray.Close()
	f := openFollower(t, dir, nil)
	if last, ds := f.LastSeq(), f.DurableSeq(); last != 50 || ds != 50 {
		t.Fatalf("fresh follower: LastSeq %d DurableSeq %d, the log holds 1..50", last, ds)
	}
}

// TestRT5OlderWriterStaleLastSeq: as TestRT5StrayControlFlockStaleLastSeq
// with a writer of an older version (which leaves CONTROL alone): the area
// the first writer's Close left no longer matches the log (the
// fingerprint), so a fresh follower does not trust it: LastSeq and
// DurableSeq are the files', 50.
func TestRT5OlderWriterStaleLastSeq(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// As the Close left it, the closed area is trusted.
	f0 := openFollower(t, dir, nil)
	if st, err := f0.state(); err != nil || !st.trusted || !st.closed || st.last != 100 {
		t.Fatalf("after a clean Close: %+v, %v; want the closed area trusted, LastSeq 100", st, err)
	}
	f0.Close()
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	testHookNoControl = false
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.TruncateBack(10); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 11, 50, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	if last, ds := f.LastSeq(), f.DurableSeq(); last != 50 || ds != 50 {
		t.Fatalf("fresh follower: LastSeq %d DurableSeq %d, the log holds 1..50", last, ds)
	}
	if st, _ := f.state(); st.trusted {
		t.Fatalf("the closed area is trusted after an older writer cut and rewrote the log")
	}
}

// TestRT5RingOverflowKeepsOldCut: a cut below what the follower returned,
// then 39 more above, all while it does not look: the fold must still
// report the first one (never a missed cut): TruncatedError{Seq: 51}.
func TestRT5RingOverflowKeepsOldCut(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for s := uint64(1); s <= 95; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: %v", s, it.Err())
		}
	}
	if err := l.TruncateBack(50); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l, 51, 210, 2)
	for i := 0; i < 39; i++ {
		if err := l.TruncateBack(200); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 201, 210, uint64(3+i))
	}
	if nextWithin(it) {
		t.Fatalf("returned %d after 40 cuts, the first to 50: want ErrTruncated", it.Seq())
	}
	var te *TruncatedError
	if !errors.As(it.Err(), &te) || te.Seq != 51 {
		t.Fatalf("err %v, want *TruncatedError{Seq: 51}", it.Err())
	}
}

// TestRT5FollowerStartedMidTruncation: a TruncateBack(50) is held in the
// middle (its first segment removal blocks: the epoch is odd) while a new
// follower opens and iterates, and its Read, LastSeq and FirstSeq are
// called; once it ends and 51..60 are re-appended, the new follower reads
// 1..60 with the new bytes and the old one fails with Seq 51.
func TestRT5FollowerStartedMidTruncation(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	big := func(seq, gen uint64) []byte { return bytes.Repeat(rt5Payload(seq, gen), 6) }
	for s := uint64(1); s <= 600; s++ {
		if _, err := l.Append(big(s, 1)); err != nil {
			t.Fatal(err)
		}
	}
	f1 := openFollower(t, dir, nil)
	it1, _ := f1.NewIterator(1)
	defer it1.Close()
	for s := uint64(1); s <= 600; s++ {
		if !nextWithin(it1) || it1.Seq() != s {
			t.Fatalf("record %d: %v", s, it1.Err())
		}
	}
	hold, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpRemove && strings.HasSuffix(path, ".wal") {
			once.Do(func() { close(hold); <-release })
		}
		return nil
	})
	defer restore()
	done := make(chan error, 1)
	go func() { done <- l.TruncateBack(50) }()
	<-hold
	f2 := openFollower(t, dir, nil)
	it2, _ := f2.NewIterator(1)
	defer it2.Close()
	var got []uint64
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	for it2.NextWait(ctx) {
		got = append(got, it2.Seq())
		if it2.Seq() > 50 && !bytes.Equal(it2.Value(), big(it2.Seq(), 1)) {
			t.Errorf("mid-cut: record %d is not what was appended", it2.Seq())
		}
	}
	cancel()
	_ = f2.LastSeq()
	_ = f2.FirstSeq()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	restore()
	for s := uint64(51); s <= 60; s++ {
		if _, err := l.Append(big(s, 2)); err != nil {
			t.Fatal(err)
		}
	}
	next := uint64(1)
	if len(got) > 0 {
		next = got[len(got)-1] + 1
	}
	if next > 51 {
		// It returned records the cut removed: it must now fail.
		if nextWithin(it2) {
			t.Fatalf("follower started mid-cut returned %v, then %d after the cut to 50: want ErrTruncated", len(got), it2.Seq())
		}
	} else {
		for s := next; s <= 60; s++ {
			gen := uint64(1)
			if s > 50 {
				gen = 2
			}
			if !nextWithin(it2) || it2.Seq() != s || !bytes.Equal(it2.Value(), big(s, gen)) {
				t.Fatalf("follower started mid-cut: record %d: seq %d err %v", s, it2.Seq(), it2.Err())
			}
		}
	}
	if got := f2.LastSeq(); got != 60 {
		t.Errorf("LastSeq %d after the cut and 51..60, want 60", got)
	}
	var te *TruncatedError
	if nextWithin(it1) || !errors.As(it1.Err(), &te) || te.Seq != 51 {
		t.Fatalf("old follower: seq %d err %v, want *TruncatedError{Seq: 51}", it1.Seq(), it1.Err())
	}
	t.Logf("mid-cut the new follower returned %d records", len(got))
}

// TestRT5LastSeqAfterTruncateBack: Follower.LastSeq after a TruncateBack
// below what an earlier LastSeq call scanned: its tail iterator fails
// with ErrTruncated inside the call, yet the call returns what the failed
// iterator had returned (the cut records); only the next call starts a
// new one.
func TestRT5LastSeqAfterTruncateBack(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	defer l.Close()
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	if got := f.LastSeq(); got != 100 {
		t.Fatalf("LastSeq %d, want 100", got)
	}
	if err := l.TruncateBack(50); err != nil {
		t.Fatal(err)
	}
	if got, want := f.LastSeq(), l.LastSeq(); got != want {
		t.Fatalf("after TruncateBack(50): follower LastSeq %d, writer's %d", got, want)
	}
	if got, want := f.DurableSeq(), l.DurableSeq(); got > want {
		t.Fatalf("after TruncateBack(50): follower DurableSeq %d above the writer's %d", got, want)
	}
}

// TestRT5StrayControlFlockDisowns: the writer that cannot lock CONTROL
// leaves the area it removes with incarnation 0 (no follower trusts it
// from its next look on) and lineage 0 (no writer carries its ring over).
func TestRT5StrayControlFlockDisowns(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 10, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stray, err := os.Open(filepath.Join(dir, controlName))
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	if err := sysutil.Lock(stray); err != nil {
		t.Fatal(err)
	}
	word := func(off int64) uint64 {
		var b [8]byte
		if _, err := stray.ReadAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	if word(ctlIncarnationOff) == 0 || word(ctlLineageOff) == 0 {
		t.Fatal("the closed area has no incarnation or lineage")
	}
	l2 := mustOpen(t, dir, folOpts())
	defer l2.Close()
	if l2.ctl != nil {
		t.Fatal("the second writer maintains an area it could not lock")
	}
	if inc, lin := word(ctlIncarnationOff), word(ctlLineageOff); inc != 0 || lin != 0 {
		t.Fatalf("the area the second writer removed: incarnation %x lineage %x, want 0 and 0", inc, lin)
	}
	if _, err := os.Stat(filepath.Join(dir, controlName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CONTROL after a writer that could not lock it: %v, want removed", err)
	}
}

// TestControlTipRecorded: the fingerprint a writer leaves at Close (and
// after a TruncateBack) names LastSeq's frame: its segment, offset,
// sequence and checksum, with META's floor and first seq; a log with no
// record leaves no frame (segment 0).
func TestControlTipRecorded(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	if got := l.ctl.loadTip(); !got.recorded || got.seg != 0 || got.seq != 0 {
		t.Fatalf("fingerprint of an empty log: %+v, want recorded with no frame", got)
	}
	rt5Append(t, l, 1, 30, 1)
	if err := l.TruncateBack(20); err != nil {
		t.Fatal(err)
	}
	check := func(when string, got tip, seq, floor uint64) {
		t.Helper()
		s, off := l.frameOf(seq)
		if s == nil {
			t.Fatalf("%s: no frame for %d", when, seq)
		}
		f, err := s.pin()
		if err != nil {
			t.Fatal(err)
		}
		crc, err := f.FrameCRC(off)
		s.unpin()
		want := tip{seg: s.num, off: uint64(off), seq: seq, crc: crc, floor: floor, front: 0, recorded: true}
		if err != nil || got != want {
			t.Fatalf("%s: fingerprint %+v, want %+v", when, got, want)
		}
	}
	check("after TruncateBack(20)", l.ctl.loadTip(), 20, 20)
	rt5Append(t, l, 21, 25, 2)
	var want tip
	func() {
		// Close unmaps the area: read the words it stored just before.
		s, off := l.frameOf(25)
		f, _ := s.pin()
		crc, _ := f.FrameCRC(off)
		s.unpin()
		want = tip{seg: s.num, off: uint64(off), seq: 25, crc: crc, floor: 20, recorded: true}
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, controlName))
	if err != nil {
		t.Fatal(err)
	}
	w := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	got := tip{seg: w(ctlTipSegOff), off: w(ctlTipOffOff), seq: w(ctlTipSeqOff), crc: uint32(w(ctlTipCRCOff)),
		floor: w(ctlTipFloorOff), front: w(ctlTipFrontOff), recorded: w(ctlTipSetOff) == 1}
	if got != want {
		t.Fatalf("fingerprint after Close: %+v, want %+v", got, want)
	}
}

// TestRT5OlderWriterSameFloor: the older writer cuts to the very sequence
// the first writer cut to last (META's floor seq is then unchanged) and
// rewrites what followed: the tip frame's checksum tells the next writer,
// which starts a new lineage, and the follower ends at the first record
// it returned that changed.
func TestRT5OlderWriterSameFloor(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	if err := l.TruncateBack(50); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l, 51, 100, 2)
	lineage := l.ctl.ring.lineage.Load()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 95; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	testHookNoControl = false
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.TruncateBack(50); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 51, 100, 3)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	l3 := mustOpen(t, dir, folOpts())
	defer l3.Close()
	if l3.ctl.ring.lineage.Load() == lineage {
		t.Errorf("lineage carried over after an unseen TruncateBack to the same floor and a rewrite")
	}
	if nextWithin(it) {
		t.Fatalf("follower returned record %d after records 51..95 it returned were rewritten", it.Seq())
	}
	rt5WantCut(t, it.Err(), 50)
}

// TestRT5OlderWriterTornTailUnderStaleTip: the fingerprint is only as new
// as the writer's last publication of it (its open, a truncation, Close);
// records appended since are checked by the follower itself. Here the
// area's tip is set back to record 50 (as a writer killed after appending
// 51..100 unpublished leaves it), an older writer's recovery cuts record
// 100 (torn) and appends another 100, and the next writer of this version
// carries the ring over (nothing it can see changed up to 50): at that
// change of writer the follower that returned the first 100 checks its
// marks and ends with TruncatedError{Seq: 100}.
func TestRT5OlderWriterTornTailUnderStaleTip(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	lineage := l.ctl.ring.lineage.Load()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 100; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	frame := func(seq uint64) (num uint64, off int64, crc uint32) {
		s, off := l.frameOf(seq)
		sf, err := s.pin()
		if err != nil {
			t.Fatal(err)
		}
		defer s.unpin()
		crc, err = sf.FrameCRC(off)
		if err != nil {
			t.Fatal(err)
		}
		return s.num, off, crc
	}
	num50, off50, crc50 := frame(50)
	num100, off100, _ := frame(100)
	crashRelease(l)

	ctl, err := os.OpenFile(filepath.Join(dir, controlName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	put := func(f *os.File, off int64, v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		if _, err := f.WriteAt(b[:], off); err != nil {
			t.Fatal(err)
		}
	}
	put(ctl, ctlTipSegOff, num50)
	put(ctl, ctlTipOffOff, uint64(off50))
	put(ctl, ctlTipSeqOff, 50)
	put(ctl, ctlTipCRCOff, uint64(crc50))
	ctl.Close()
	seg, err := os.OpenFile(filepath.Join(dir, segment.Name(num100)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	put(seg, off100+crcframe.HeaderSize, 0xdeadbeefdeadbeef) // record 100 torn
	seg.Close()

	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	testHookNoControl = false
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.LastSeq(); got != 99 {
		t.Fatalf("older writer's recovery: LastSeq %d, want 99 (the torn record 100 cut)", got)
	}
	rt5Append(t, l2, 100, 100, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	l3 := mustOpen(t, dir, folOpts())
	defer l3.Close()
	if l3.ctl.ring.lineage.Load() != lineage {
		t.Fatalf("lineage not carried over: the test no longer covers the follower's own check")
	}
	if nextWithin(it) {
		t.Fatalf("follower returned record %d after record 100 it returned was cut and rewritten", it.Seq())
	}
	var te *TruncatedError
	if !errors.As(it.Err(), &te) || te.Seq != 100 {
		t.Fatalf("err %v, want *TruncatedError{Seq: 100}", it.Err())
	}
}

// TestRT5ClosedAreaKeepsRecordChecks: a follower reuses its verdict on a
// closed area for up to 50 ms, and a writer without a control area may cut
// and rewrite the log meanwhile (forced here by refreshing the cached
// verdict): under a closed area the follower keeps its per-record checks,
// so it ends with TruncatedError{Seq: 61} instead of returning the
// rewritten 96.
func TestRT5ClosedAreaKeepsRecordChecks(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, folOpts())
	rt5Append(t, l, 1, 100, 1)
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for s := uint64(1); s <= 94; s++ {
		if !nextWithin(it) || it.Seq() != s {
			t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !nextWithin(it) || it.Seq() != 95 {
		t.Fatalf("record 95 after the Close: seq %d err %v", it.Seq(), it.Err())
	}
	if st, err := f.state(); err != nil || !st.closed {
		t.Fatalf("after the Close: %+v %v, want the closed area trusted", st, err)
	}
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	testHookNoControl = false
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.TruncateBack(60); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 61, 100, 2)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.trust.stale = false // the verdict taken before the older writer opened, still in use
	f.due.Store(false)
	f.mu.Unlock()
	if st, err := f.state(); err != nil || !st.closed {
		t.Fatalf("%+v %v: the test needs the cached verdict", st, err)
	}
	if nextWithin(it) {
		t.Fatalf("follower returned record %d (gen-2 bytes: %v) under a closed area whose log was cut and rewritten", it.Seq(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 2)))
	}
	var te *TruncatedError
	if !errors.As(it.Err(), &te) || te.Seq != 61 {
		t.Fatalf("err %v, want *TruncatedError{Seq: 61}", it.Err())
	}
}
