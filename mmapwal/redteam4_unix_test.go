//go:build unix

package mmapwal

// Red team 4 (issue 9, the performance changes): index views, LastSeq and
// Stats.Appends derived from the index, the three-stream CRC, the
// preparation left to the first append, the mapped-segment LRU.
//
//	go test -tags redteam4 -race -count=1 -run TestRT4 ./mmapwal
//
// Two FAIL on the code they were written against (e63d76e..5fe26c9):
// TestRT4BatchPublishedWhole (a batch reaches LastSeq and Read record by
// record since 6b54e5d) and TestRT4MappedBoundAfterPins (more sealed
// segments than MaxMappedSegments stay mapped once pins of already mapped
// segments go; also before 07fd4a7). The others are what held.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// rt4Payload is a self-describing record: seq, generation, length, filler,
// and a CRC of what precedes it, so a reader can tell a torn or foreign
// record from the one it asked for.
func rt4Payload(seq uint64, gen uint32, n int) []byte {
	n = max(n, 20)
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint32(b[8:], gen)
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
	for i := 16; i < n-4; i++ {
		b[i] = byte(seq) ^ byte(gen) ^ byte(i)
	}
	binary.LittleEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
	return b
}

// rt4Check returns "" if b is a record rt4Payload made for seq.
func rt4Check(b []byte, seq uint64) string {
	if len(b) < 20 {
		return fmt.Sprintf("record %d: %d bytes", seq, len(b))
	}
	n := len(b)
	if crc32.ChecksumIEEE(b[:n-4]) != binary.LittleEndian.Uint32(b[n-4:]) {
		return fmt.Sprintf("record %d: torn (crc)", seq)
	}
	if got := binary.LittleEndian.Uint64(b); got != seq {
		return fmt.Sprintf("record %d: holds record %d", seq, got)
	}
	if int(binary.LittleEndian.Uint32(b[12:])) != n {
		return fmt.Sprintf("record %d: length %d", seq, n)
	}
	return ""
}

// TestRT4CRCGuardPage: Checksum at every length 1..600 on data that ends
// exactly at a page followed by a PROT_NONE page (a read past the end
// faults) and that starts right after a PROT_NONE page, at odd alignments,
// against hash/crc32.
func TestRT4CRCGuardPage(t *testing.T) {
	pg := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[:pg], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[2*pg:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	page := mem[pg : 2*pg]
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range page {
		page[i] = byte(rng.Uint32())
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	for range 200000 { // random seeds, lengths 72..503 (the three-stream range) and offsets
		n := 72 + rng.IntN(432)
		a := rng.IntN(pg - n + 1)
		sd := rng.Uint32()
		if got, want := crcframe.Checksum(sd, page[a:a+n]), crc32.Update(sd, tab, page[a:a+n]); got != want {
			t.Fatalf("len %d at offset %d, seed %x: %08x, hash/crc32 %08x", n, a, sd, got, want)
		}
	}
	for n := 1; n <= 600; n++ {
		for _, seed := range []uint32{0, 0xffffffff, 0x12345678} {
			end := page[pg-n:] // ends at the guard page
			if got, want := crcframe.Checksum(seed, end), crc32.Update(seed, tab, end); got != want {
				t.Errorf("len %d at page end, seed %x: %08x, hash/crc32 %08x", n, seed, got, want)
			}
			for a := range 8 { // starts after the guard page, odd alignments, also crossing no boundary
				b := page[a : a+n]
				if got, want := crcframe.Checksum(seed, b), crc32.Update(seed, tab, b); got != want {
					t.Errorf("len %d at offset %d, seed %x: %08x, hash/crc32 %08x", n, a, seed, got, want)
				}
			}
		}
	}
}

// TestRT4IndexViewsRace: one writer appends (Append, AppendBatch, AppendSeq
// with gaps: the dense to sparse switch), TruncateBacks into the tail,
// into and out of gaps and into the previous segment, and re-appends at the
// same sequences with another generation; readers Read, ReadInto, View and
// iterate, and every record they get must be whole and the one they asked
// for (by its embedded sequence).
func TestRT4IndexViewsRace(t *testing.T) {
	seed := testSeed(t)
	short, long := 2, 1 // CI size; MMAPWAL_TORTURE=1 runs the red team's sizes
	if os.Getenv("MMAPWAL_TORTURE") == "1" {
		short, long = 6, 2
	}
	for round := range short {
		rt4IndexRound(t, seed+uint64(round), round%2 == 1, 100)
	}
	for round := range long {
		rt4IndexRound(t, seed+uint64(10+round), true, 1500) // ~20 segments, one mapped
	}
	deep = true // 1 MiB segments: views of several chunks, cuts across chunk boundaries
	defer func() { deep = false }()
	for round := range long {
		rt4IndexRound(t, seed+uint64(20+round), false, 1<<30)
	}
}

// deep makes rt4IndexRound use 1 MiB segments, 20-byte records and
// TruncateBacks up to 6000 records deep (chunks hold 4096 entries).
var deep bool

func rt4IndexRound(t *testing.T, seed uint64, tinySegs bool, keep uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	size := int64(64 << 10)
	if tinySegs {
		size = 8 << 10
	}
	plen, depth, steps := 300, 12, 6000
	if deep {
		size, plen, depth, steps = 1<<20, 1, 6000, 40000
	}
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{SegmentSize: size, Durability: SyncManual, MaxMappedSegments: 1})
	defer l.Close()
	var stop atomic.Bool
	var bad sync.Mutex
	var errs []string
	var nerrs atomic.Int64
	report := func(s string) {
		bad.Lock()
		if len(errs) < 10 {
			errs = append(errs, s)
		}
		bad.Unlock()
		nerrs.Add(1)
	}
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(seed, uint64(10+r)))
			buf := make([]byte, 0, 4096)
			for !stop.Load() {
				last := l.LastSeq()
				if last == 0 {
					continue
				}
				first := l.FirstSeq()
				seq := first + rr.Uint64N(last-first+1)
				switch rr.IntN(4) {
				case 0:
					b, err := l.Read(seq)
					if err == nil {
						if s := rt4Check(b, seq); s != "" {
							report("Read: " + s)
						}
					} else if !errors.Is(err, ErrNotFound) {
						report(fmt.Sprintf("Read(%d): %v", seq, err))
					}
				case 1:
					b, err := l.ReadInto(buf[:0], seq)
					if err == nil {
						if s := rt4Check(b, seq); s != "" {
							report("ReadInto: " + s)
						}
					} else if !errors.Is(err, ErrNotFound) {
						report(fmt.Sprintf("ReadInto(%d): %v", seq, err))
					}
				case 2:
					var msg string
					err := l.View(seq, func(b []byte) error { msg = rt4Check(b, seq); return nil })
					if err == nil && msg != "" {
						report("View: " + msg)
					} else if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTruncated) {
						report(fmt.Sprintf("View(%d): %v", seq, err))
					}
				case 3:
					it, err := l.NewIterator(seq)
					if err != nil {
						if !errors.Is(err, ErrNotFound) {
							report(fmt.Sprintf("NewIterator(%d): %v", seq, err))
						}
						continue
					}
					// Value may be zeroed under us by a TruncateBack: act on a
					// record only after the following Next (Value's documentation).
					prev, pending := uint64(0), ""
					for k := 0; k < 51 && it.Next(); k++ {
						if pending != "" {
							report("Iterator: " + pending)
						}
						pending = rt4Check(it.Value(), it.Seq())
						if it.Seq() <= prev {
							report(fmt.Sprintf("Iterator: %d after %d", it.Seq(), prev))
						}
						prev = it.Seq()
					}
					if err := it.Err(); err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNotFound) {
						report(fmt.Sprintf("Iterator from %d: %v", seq, err))
					}
					it.Close()
				}
				reads.Add(1)
			}
		}()
	}
	gen := uint32(0)
	var ops [6]int
	for step := 0; step < steps && nerrs.Load() == 0; step++ {
		gen++
		last := l.LastSeq()
		switch k := rng.IntN(20); {
		case k < 10:
			s, err := l.Append(rt4Payload(last+1, gen, 20+rng.IntN(plen)))
			if err != nil || s != last+1 {
				t.Fatalf("Append: %d, %v (LastSeq was %d)", s, err, last)
			}
			ops[0]++
		case k < 13:
			n := 1 + rng.IntN(8)
			recs := make([][]byte, n)
			for i := range recs {
				recs[i] = rt4Payload(last+1+uint64(i), gen, 20+rng.IntN(plen))
			}
			s, err := l.AppendBatch(recs)
			if err != nil || s != last+1 {
				t.Fatalf("AppendBatch: %d, %v", s, err)
			}
			ops[1]++
		case k < 15:
			seq := last + 1 + uint64(rng.IntN(5)) // a gap: a sparse view
			if err := l.AppendSeq(seq, rt4Payload(seq, gen, 40)); err != nil {
				t.Fatalf("AppendSeq(%d): %v", seq, err)
			}
			ops[2]++
		case k < 19:
			if last < 3 || (deep && rng.IntN(400) != 0) {
				continue
			}
			to := last - uint64(rng.IntN(min(int(last), depth)))
			if to < l.FirstSeq() {
				continue
			}
			if err := l.TruncateBack(to); err != nil {
				t.Fatalf("TruncateBack(%d): %v", to, err)
			}
			if got := l.LastSeq(); got > to {
				t.Fatalf("after TruncateBack(%d): LastSeq %d", to, got)
			}
			ops[3]++
		default:
			if last > 2*keep && last-keep > l.FirstSeq() {
				if err := l.TruncateFront(last - keep); err != nil {
					t.Fatalf("TruncateFront: %v", err)
				}
				ops[4]++
			}
		}
		if got := l.LastSeq(); got < last && ops[3] == 0 {
			t.Fatalf("LastSeq went back")
		}
	}
	stop.Store(true)
	wg.Wait()
	// (MappedSegments may stay above the bound here: TestRT4MappedBoundAfterPins.)
	t.Logf("seed %d tiny %v: ops %v, %d reads, LastSeq %d, %d segments", seed, tinySegs, ops, reads.Load(), l.LastSeq(), l.Stats().Segments)
	if len(errs) > 0 {
		t.Fatalf("seed %d:\n  %s", seed, strings.Join(errs, "\n  "))
	}
}

// TestRT4LastSeqObservers: without truncations, LastSeq and Stats.Appends
// never go back for any observer across rotations, and a record at or below
// an observed LastSeq is readable (LastSeq never runs ahead of the index);
// the writer sees LastSeq equal to the sequence just appended and Appends
// equal to its count.
func TestRT4LastSeqObservers(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{SegmentSize: 16 << 10, Durability: SyncManual, MaxMappedSegments: 1})
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pl, pa uint64
			for !stop.Load() {
				ls := l.LastSeq()
				a := l.Stats().Appends
				if ls < pl || a < pa {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("LastSeq %d after %d, Appends %d after %d", ls, pl, a, pa))
					mu.Unlock()
					return
				}
				pl, pa = ls, a
				if ls > 0 {
					if b, err := l.Read(ls); (err != nil && !(errors.Is(err, ErrNotFound) && l.FirstSeq() > ls)) || (err == nil && rt4Check(b, ls) != "") {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("Read(LastSeq %d): %v", ls, err))
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	var count uint64
	for i := 0; i < 20000 && !stop.Load(); i++ {
		last := l.LastSeq()
		var want uint64
		switch i % 4 {
		case 3: // a gap: the index goes sparse
			if err := l.AppendSeq(last+3, rt4Payload(last+3, 1, 90)); err != nil {
				t.Fatal(err)
			}
			want, count = last+3, count+1
		case 0:
			s, err := l.Append(rt4Payload(last+1, 1, 100))
			if err != nil {
				t.Fatal(err)
			}
			want, count = s, count+1
		case 1:
			recs := [][]byte{rt4Payload(last+1, 1, 60), rt4Payload(last+2, 1, 60)}
			s, err := l.AppendBatch(recs)
			if err != nil {
				t.Fatal(err)
			}
			want, count = s+1, count+2
		case 2:
			r, err := l.Reserve(80)
			if err != nil {
				t.Fatal(err)
			}
			copy(r.Bytes(), rt4Payload(last+1, 1, 80))
			s, err := r.Commit()
			if err != nil {
				t.Fatal(err)
			}
			want, count = s, count+1
		}
		if got := l.LastSeq(); got != want {
			t.Fatalf("append %d: LastSeq %d, want %d", i, got, want)
		}
		switch {
		case i%997 == 0:
			if err := l.TruncateFront(want + 1); err != nil { // everything
				t.Fatalf("TruncateFront(%d): %v", want+1, err)
			}
		case i%301 == 0 && want > 60 && want-50 > l.FirstSeq():
			if err := l.TruncateFront(want - 50); err != nil {
				t.Fatalf("TruncateFront(%d): %v", want-50, err)
			}
		}
		if got := l.Stats().Appends; got != count {
			t.Fatalf("append %d: Stats.Appends %d, want %d", i, got, count)
		}
	}
	stop.Store(true)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	t.Logf("%d appends, %d rotations", count, l.Stats().Rotations)
}

// TestRT4LastSeqAcrossOps: LastSeq and Stats.Appends through rotation,
// TruncateBack into the active and into a previous segment, AppendSeq
// gaps, Reset, TruncateFront of everything and reopen; after each, the next
// append gets LastSeq+1 (or the AppendSeq sequence) and LastSeq reports it.
func TestRT4LastSeqAcrossOps(t *testing.T) {
	dir := fastTempDir(t)
	opts := &Options{SegmentSize: 8 << 10, Durability: SyncManual, MaxMappedSegments: 1}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	var appends uint64
	app := func(what string) uint64 {
		t.Helper()
		want := l.LastSeq() + 1
		s, err := l.Append(rt4Payload(want, 2, 150))
		if err != nil || s != want {
			t.Fatalf("%s: Append %d, %v; want %d", what, s, err, want)
		}
		appends++
		if got := l.LastSeq(); got != s {
			t.Fatalf("%s: LastSeq %d after Append %d", what, got, s)
		}
		if got := l.Stats().Appends; got != appends {
			t.Fatalf("%s: Stats.Appends %d, want %d", what, got, appends)
		}
		return s
	}
	check := func(what string, want uint64) {
		t.Helper()
		if got := l.LastSeq(); got != want {
			t.Fatalf("%s: LastSeq %d, want %d", what, got, want)
		}
		if got := l.Stats().Appends; got != appends {
			t.Fatalf("%s: Stats.Appends %d, want %d", what, got, appends)
		}
	}
	for range 200 {
		app("fill")
	}
	segs, _ := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	// TruncateBack inside the active segment, several times without appends.
	last := l.LastSeq()
	for _, d := range []uint64{1, 2, 3} {
		if err := l.TruncateBack(last - d); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("TruncateBack(last-%d)", d), last-d)
	}
	for range 5 {
		app("after TruncateBack in active")
	}
	// Into the previous segment.
	segs, _ = l.Segments()
	prevLast := segs[len(segs)-2].LastSeq
	if err := l.TruncateBack(prevLast - 2); err != nil {
		t.Fatal(err)
	}
	check("TruncateBack into previous", prevLast-2)
	for range 40 {
		app("after TruncateBack into previous")
	}
	// A gap, then TruncateBack into the gap and back out of it.
	g := l.LastSeq()
	if err := l.AppendSeq(g+10, rt4Payload(g+10, 3, 50)); err != nil {
		t.Fatal(err)
	}
	appends++
	check("AppendSeq gap", g+10)
	app("after gap")
	if err := l.TruncateBack(g + 5); err != nil { // inside the gap
		t.Fatal(err)
	}
	check("TruncateBack into gap", g)
	app("after TruncateBack into gap")
	// Reset.
	if err := l.Reset(1000); err != nil {
		t.Fatal(err)
	}
	check("Reset(1000)", 999)
	if s := app("after Reset"); s != 1000 {
		t.Fatalf("after Reset: %d", s)
	}
	for range 100 {
		app("after Reset")
	}
	// TruncateFront of everything.
	last = l.LastSeq()
	if err := l.TruncateFront(last + 1); err != nil {
		t.Fatal(err)
	}
	check("TruncateFront(last+1)", last)
	app("after TruncateFront of all")
	// Reopen.
	last = l.LastSeq()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appends = 0
	check("reopen", last)
	for range 60 {
		app("after reopen")
	}
	if err := l.Reset(5); err != nil { // down
		t.Fatal(err)
	}
	check("Reset(5)", 4)
	app("after Reset(5)")
}

// TestRT4PrepareLater: Close with no append after Open leaves no prepared
// segment and records a clean close; the first append after Open with every
// segment creation failing still appends, and a later rotation reports the
// failure without losing records; a ReadOnly open beside a writer that has
// not prepared reads everything.
func TestRT4PrepareLater(t *testing.T) {
	dir := fastTempDir(t)
	opts := &Options{SegmentSize: 8 << 10, Durability: SyncManual}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := l.Append(rt4Payload(uint64(i+1), 1, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		es, _ := os.ReadDir(dir)
		var s []string
		for _, e := range es {
			s = append(s, e.Name())
		}
		sort.Strings(s)
		return s
	}
	before := list()
	for range 3 {
		l, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := Open(dir, readOnlyOpts(8<<10))
		if err != nil {
			t.Fatalf("ReadOnly beside an unprepared writer: %v", err)
		}
		if ro.LastSeq() != 100 {
			t.Fatalf("ReadOnly LastSeq %d", ro.LastSeq())
		}
		if b, err := ro.Read(50); err != nil || rt4Check(b, 50) != "" {
			t.Fatalf("ReadOnly Read(50): %v", err)
		}
		ro.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if after := list(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("Open+Close without appends: files %v, before %v", after, before)
		}
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Recovery().Clean {
		t.Fatalf("Open+Close without appends did not record a clean close: %+v", l.Recovery())
	}
	// The first append's preparation fails (ENOSPC on create and fallocate).
	var fired atomic.Int64
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if _, seg := segment.ParseName(filepath.Base(path)); seg && (op == sysutil.OpCreate || op == sysutil.OpFallocate) {
			fired.Add(1)
			return syscall.ENOSPC
		}
		return nil
	})
	s, err := l.Append(rt4Payload(101, 1, 100))
	if err != nil || s != 101 {
		restore()
		t.Fatalf("first append with the preparation failing: %d, %v", s, err)
	}
	waitPrepared(l)
	var appendErr error
	n := uint64(101)
	for range 200 { // runs into the rotation
		if _, appendErr = l.Append(rt4Payload(n+1, 1, 100)); appendErr != nil {
			break
		}
		n++
	}
	restore()
	t.Logf("fault fired %d times; append stopped at %d: %v", fired.Load(), n, appendErr)
	if appendErr != nil && !errors.Is(appendErr, ErrNoSpace) && !errors.Is(appendErr, ErrPoisoned) {
		t.Errorf("append error %v: neither ErrNoSpace nor ErrPoisoned", appendErr)
	}
	if errors.Is(appendErr, ErrNoSpace) { // README: free space; the next append succeeds
		if s, err := l.Append(rt4Payload(n+1, 1, 100)); err != nil || s != n+1 {
			t.Fatalf("append after the space came back: %d, %v", s, err)
		}
		n++
	}
	l.Close()
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() < 101 {
		t.Fatalf("after reopen LastSeq %d, acknowledged %d", l.LastSeq(), n)
	}
	for seq := uint64(1); seq <= l.LastSeq(); seq++ {
		b, err := l.Read(seq)
		if err != nil || rt4Check(b, seq) != "" {
			t.Fatalf("after reopen Read(%d): %v %q", seq, err, rt4Check(b, seq))
		}
	}
}

// TestRT4MappedPins: MaxMappedSegments 1, Views held (pins) across
// rotations and TruncateFront of the pinned segments; the bytes a View
// holds stay the record until it returns, and MappedSegments comes back
// down to the bound once the pins go.
func TestRT4MappedPins(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{SegmentSize: 8 << 10, Durability: SyncManual, MaxMappedSegments: 1})
	defer l.Close()
	for i := range 300 {
		if _, err := l.Append(rt4Payload(uint64(i+1), 1, 150)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	release := make(chan struct{})
	held := make(chan struct{}, 8)
	var errs sync.Map
	for _, seq := range []uint64{1, 60, 120, 180} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.View(seq, func(b []byte) error {
				held <- struct{}{}
				<-release
				if s := rt4Check(b, seq); s != "" {
					errs.Store(seq, s)
				}
				c := bytes.Clone(b)
				_ = c
				return nil
			})
			if err != nil {
				errs.Store(seq, err.Error())
			}
		}()
	}
	for range 4 {
		<-held
	}
	for i := 300; i < 900; i++ {
		if _, err := l.Append(rt4Payload(uint64(i+1), 1, 150)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			for s := uint64(1); s <= uint64(i); s += 37 {
				if b, err := l.Read(s); err == nil && rt4Check(b, s) != "" {
					t.Fatalf("Read(%d) while pins held: %s", s, rt4Check(b, s))
				}
			}
		}
	}
	if err := l.TruncateFront(500); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	errs.Range(func(k, v any) bool { t.Errorf("View(%v): %v", k, v); return true })
	for s := uint64(500); s <= 900; s += 7 {
		b, err := l.Read(s)
		if err != nil || rt4Check(b, s) != "" {
			t.Fatalf("Read(%d): %v", s, err)
		}
	}
	if m := l.Stats().MappedSegments; m > 2 { // the bound plus the active one
		t.Errorf("MappedSegments %d after the pins went (bound 1)", m)
	}
}

// rt4Hold pins the segment of seq with a View that returns when release
// closes; it returns once the View holds it.
func rt4Hold(t *testing.T, l *Log, seq uint64, release chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	held := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.View(seq, func([]byte) error { close(held); <-release; return nil }); err != nil {
			t.Errorf("View(%d): %v", seq, err)
			close(held)
		}
	}()
	<-held
}

// rt4Rotate appends until the log has one more segment.
func rt4Rotate(t *testing.T, l *Log) {
	t.Helper()
	n := l.Stats().Segments
	for l.Stats().Segments == n {
		if _, err := l.Append(rt4Payload(l.LastSeq()+1, 1, 150)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRT4MappedBoundAfterPins: MaxMappedSegments 1. Views pin segments that
// are mapped already (the last sealed one and the active one: no pin maps,
// so no trim of the mapSet runs and its over flag stays false); rotations
// then run trimMapped, which skips them as pinned. When the Views return,
// the last unpin trims only when over is set: it is not, so more sealed
// segments than the bound stay mapped, idle, until something maps a
// segment on demand or the next rotation. Options.MaxMappedSegments says
// idle ones beyond the bound are unmapped.
func TestRT4MappedBoundAfterPins(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{SegmentSize: 8 << 10, Durability: SyncManual, MaxMappedSegments: 1})
	defer l.Close()
	for l.Stats().Segments < 3 {
		rt4Rotate(t, l)
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	segs, _ := l.Segments()
	n := len(segs)
	rt4Hold(t, l, segs[n-2].FirstSeq, release, &wg) // the last sealed one: mapped
	rt4Hold(t, l, l.LastSeq(), release, &wg)        // the active one: mapped
	before := l.Stats().MappedSegments
	for range 3 {
		rt4Rotate(t, l)
	}
	pinned := l.Stats().MappedSegments
	close(release)
	wg.Wait()
	after := l.Stats().MappedSegments
	// Readers keep reading the mapped segments: none maps on demand.
	segs, _ = l.Segments()
	for _, s := range segs {
		if s.State == SegmentSealed && s.FirstSeq != 0 {
			_ = l.View(s.FirstSeq, func([]byte) error { return nil })
		}
	}
	t.Logf("mapped: %d before the rotations, %d with the pins held, %d after they went", before, pinned, after)
	if after > 2 {
		t.Errorf("%d segments mapped after the pins went, no segment pinned: bound 1 sealed + the active one", after)
	}
}

// TestRT4KillBeforeFirstAppend: a writer SIGKILLed between Open and its
// first append (or during its first appends, while the preparation Open
// left to the first append runs, or during Open itself) leaves a log that
// opens, holds every record it synced, appends, and closes cleanly.
func TestRT4KillBeforeFirstAppend(t *testing.T) {
	if os.Getenv("RT4_CHILD") == "1" {
		dir := os.Getenv("RT4_DIR")
		k, _ := strconv.Atoi(os.Getenv("RT4_K"))
		l, err := Open(dir, &Options{SegmentSize: 8 << 10, Durability: SyncManual})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(3)
		}
		fmt.Println("open")
		for i := range k {
			if _, err := l.Append(rt4Payload(l.LastSeq()+1, 9, 150)); err != nil {
				fmt.Println("append:", err)
				os.Exit(3)
			}
			if i%10 == 9 {
				if err := l.Sync(); err != nil {
					os.Exit(3)
				}
				fmt.Println("synced", l.LastSeq())
			}
		}
		fmt.Println("done")
		time.Sleep(time.Hour)
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := fastTempDir(t)
	opts := &Options{SegmentSize: 8 << 10, Durability: SyncManual}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := l.Append(rt4Payload(l.LastSeq()+1, 9, 150)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	synced := uint64(100)
	for round := range 16 {
		k := []int{0, 1, 30, 200}[round%4]
		cmd := exec.Command(os.Args[0], "-test.run=^TestRT4KillBeforeFirstAppend$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RT4_CHILD=1", "RT4_DIR="+dir, "RT4_K="+strconv.Itoa(k))
		out := &syncBuf{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "synced "); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				synced = max(synced, n)
			}
			if strings.HasPrefix(line, "open:") || strings.HasPrefix(line, "append:") {
				t.Fatalf("round %d child: %s", round, line)
			}
		}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("round %d (k %d, child said %q): reopen: %v", round, k, out.String(), err)
		}
		if l.LastSeq() < synced {
			t.Fatalf("round %d: LastSeq %d below the synced %d", round, l.LastSeq(), synced)
		}
		for seq := l.FirstSeq(); seq <= l.LastSeq(); seq++ {
			b, err := l.Read(seq)
			if err != nil || rt4Check(b, seq) != "" {
				t.Fatalf("round %d: Read(%d): %v %q", round, seq, err, rt4Check(b, seq))
			}
		}
		if _, err := l.Append(rt4Payload(l.LastSeq()+1, 9, 150)); err != nil {
			t.Fatalf("round %d: append after reopen: %v", round, err)
		}
		synced = l.LastSeq() // Close makes it durable
		if err := l.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
		lines := strings.Count(out.String(), "\n")
		t.Logf("round %d: k %d, child printed %d lines, LastSeq now %d", round, k, lines, synced)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Recovery().Clean {
		t.Errorf("not clean after the last Close")
	}
}

// syncBuf is a bytes.Buffer safe for the child's output copier.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRT4BatchPublishedWhole: before 6b54e5d LastSeq was stored once per
// batch, after every entry of it was in the index, so Read and LastSeq
// showed a batch all at once; now LastSeq is derived from the index count,
// which AppendBatch publishes entry by entry (index.add per record), so an
// observer sees LastSeq inside a batch and can Read its first records
// while the rest are not there yet. (No crash guarantee is involved:
// AppendBatch documents atomicity after a crash only.)
func TestRT4BatchPublishedWhole(t *testing.T) {
	dir := fastTempDir(t)
	l := mustOpen(t, dir, &Options{SegmentSize: 1 << 20, Durability: SyncManual})
	defer l.Close()
	const k = 16
	var stop atomic.Bool
	var inside atomic.Int64
	var example atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if ls := l.LastSeq(); ls%k != 0 {
				inside.Add(1)
				example.Store(ls)
			}
		}
	}()
	recs := make([][]byte, k)
	for i := 0; i < 20000 && inside.Load() == 0; i++ {
		last := l.LastSeq()
		for j := range recs {
			recs[j] = rt4Payload(last+1+uint64(j), 5, 24)
		}
		if _, err := l.AppendBatch(recs); err != nil {
			if errors.Is(err, ErrRecordTooLarge) {
				t.Fatal(err)
			}
			t.Fatal(err)
		}
	}
	stop.Store(true)
	<-done
	if n := inside.Load(); n > 0 {
		t.Errorf("LastSeq seen %d times inside a batch of %d (e.g. %d): a batch is published record by record", n, k, example.Load())
	}
}

// TestRT4PrepareFaults: the preparation the first append after Open
// starts fails (EIO from fdatasync, madvise, mmap, the directory's sync,
// the zero-filling of the new segment); the fault then goes away. The first
// append and the rotation after it succeed (the rotation prepares again),
// nothing is poisoned, and a reopen reads every record.
func TestRT4PrepareFaults(t *testing.T) {
	for _, op := range []sysutil.Op{sysutil.OpFdatasync, sysutil.OpMadvise, sysutil.OpMmap, sysutil.OpSyncDir, sysutil.OpWriteZeros, sysutil.OpFallocate, sysutil.OpCreate} {
		dir := fastTempDir(t)
		opts := &Options{SegmentSize: 8 << 10, Durability: SyncManual}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if _, err := l.Append(rt4Payload(uint64(i+1), 1, 100)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		if l, err = Open(dir, opts); err != nil {
			t.Fatal(err)
		}
		var fail atomic.Bool
		fail.Store(true)
		restore := sysutil.SetFault(func(o sysutil.Op, path string) error {
			if o != op || !fail.Load() {
				return nil
			}
			if _, seg := segment.ParseName(filepath.Base(path)); seg || path == "" || path == dir {
				return syscall.EIO
			}
			return nil
		})
		_, err1 := l.Append(rt4Payload(21, 1, 100))
		waitPrepared(l)
		fail.Store(false)
		var err2 error
		n := uint64(21)
		for range 100 { // two rotations
			if _, err2 = l.Append(rt4Payload(n+1, 1, 100)); err2 != nil {
				break
			}
			n++
		}
		restore()
		if err1 != nil || err2 != nil || l.Stats().Poisoned {
			t.Errorf("%v: first append %v; then up to %d: %v; poisoned %v", op, err1, n, err2, l.Stats().Poisoned)
		}
		if err := l.Close(); err != nil {
			t.Errorf("%v: Close: %v", op, err)
		}
		l, err = Open(dir, opts)
		if err != nil {
			t.Fatalf("%v: reopen: %v", op, err)
		}
		for seq := uint64(1); seq <= n; seq++ {
			if b, err := l.Read(seq); err != nil || rt4Check(b, seq) != "" {
				t.Fatalf("%v: after reopen Read(%d): %v", op, seq, err)
			}
		}
		l.Close()
	}
}
