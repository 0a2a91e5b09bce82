package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// Each semantic bullet of issue 10 is a test here.

func TestEmptyStore(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOpts())
	checkRange(t, s, 0, 0)
	s = reopen(t, s, smallOpts())
	checkRange(t, s, 0, 0)
	storeRange(t, s, 1, 50)
	checkRange(t, s, 1, 50)
	if err := s.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 0, 0)
	s = reopen(t, s, smallOpts())
	checkRange(t, s, 0, 0)
	// Crash instead of Close: the same.
	storeRange(t, s, 60, 70)
	if err := s.DeleteRange(0, 100); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	copyTree(t, s.dir, crashed)
	checkRange(t, openStore(t, crashed, smallOpts()), 0, 0)
}

// TestGetLogNotFound: a missing index is raft.ErrLogNotFound itself (raft
// compares with ==), not a wrapped error.
func TestGetLogNotFound(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOpts())
	var lg raft.Log
	for _, idx := range []uint64{0, 1, 100} {
		if err := s.GetLog(idx, &lg); err != raft.ErrLogNotFound {
			t.Fatalf("empty store: GetLog(%d) = %v", idx, err)
		}
	}
	storeRange(t, s, 10, 40)
	if err := s.DeleteRange(10, 19); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(31, 40); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{0, 1, 9, 10, 19, 31, 40, 41, 1 << 62} {
		if err := s.GetLog(idx, &lg); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) with logs 20..30 = %v", idx, err)
		}
	}
	checkRange(t, s, 20, 30)
}

func TestStableStore(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOpts())
	if v, err := s.Get([]byte("CurrentTerm")); v != nil || err != ErrKeyNotFound || err.Error() != "not found" {
		t.Fatalf("Get of a missing key = %v, %v", v, err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 0 || err != ErrKeyNotFound {
		t.Fatalf("GetUint64 of a missing key = %v, %v", v, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetUint64([]byte("CurrentTerm"), 7))
	must(s.SetUint64([]byte("LastVoteTerm"), 1<<63+5))
	val := []byte("node-2")
	must(s.Set([]byte("LastVoteCand"), val))
	val[0] = 'X' // Set copies
	must(s.Set([]byte("empty"), nil))
	must(s.Set([]byte{}, []byte("empty key")))
	for round := range 2 {
		if v, err := s.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
			t.Fatalf("round %d: CurrentTerm = %d, %v", round, v, err)
		}
		if v, err := s.GetUint64([]byte("LastVoteTerm")); v != 1<<63+5 || err != nil {
			t.Fatalf("round %d: LastVoteTerm = %d, %v", round, v, err)
		}
		v, err := s.Get([]byte("LastVoteCand"))
		if string(v) != "node-2" || err != nil {
			t.Fatalf("round %d: LastVoteCand = %q, %v", round, v, err)
		}
		v[0] = 'Y' // Get returns a copy
		if v, err := s.Get([]byte("empty")); len(v) != 0 || err != nil {
			t.Fatalf("round %d: empty = %q, %v", round, v, err)
		}
		if v, err := s.Get([]byte{}); string(v) != "empty key" || err != nil {
			t.Fatalf("round %d: empty key = %q, %v", round, v, err)
		}
		if _, err := s.GetUint64([]byte("LastVoteCand")); err == nil {
			t.Fatal("GetUint64 of a 6-byte value succeeded")
		}
		s = reopen(t, s, smallOpts())
	}
	must(s.SetUint64([]byte("CurrentTerm"), 8)) // overwrite
	s = reopen(t, s, smallOpts())
	if v, _ := s.GetUint64([]byte("CurrentTerm")); v != 8 {
		t.Fatalf("CurrentTerm after overwrite = %d", v)
	}
	// The stable keys survive log truncations (they are not in the log).
	storeRange(t, s, 1, 20)
	must(s.DeleteRange(1, 20))
	if v, _ := s.GetUint64([]byte("CurrentTerm")); v != 8 {
		t.Fatalf("CurrentTerm after DeleteRange = %d", v)
	}
}

func TestStoreLogsContiguity(t *testing.T) {
	idx := func(is ...uint64) []*raft.Log {
		var logs []*raft.Log
		for _, i := range is {
			logs = append(logs, testLog(i))
		}
		return logs
	}
	cases := []struct {
		name     string
		setup    func(t *testing.T, s *Store) // leaves the store at [first, last]
		batch    []*raft.Log
		ok       bool
		wantLast uint64
	}{
		{"empty store at 1", nil, idx(1, 2, 3), true, 3},
		{"empty store at 1000", nil, idx(1000, 1001), true, 1001},
		{"empty store at 0", nil, idx(0, 1), false, 0},
		{"empty store with a gap inside", nil, idx(5, 6, 8), false, 0},
		{"continues LastIndex+1", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(11, 12), true, 12},
		{"gap after LastIndex", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(12, 13), false, 10},
		{"overlap", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(10, 11), false, 10},
		{"restart below", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(5), false, 10},
		{"index 0 on a full store", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(0), false, 10},
		{"descending", func(t *testing.T, s *Store) { storeRange(t, s, 1, 10) }, idx(11, 13, 12), false, 10},
		{"after a full delete, below the old last", func(t *testing.T, s *Store) {
			storeRange(t, s, 1, 100)
			if err := s.DeleteRange(1, 100); err != nil {
				t.Fatal(err)
			}
		}, idx(40, 41), true, 41},
		{"after a full delete, above the old last", func(t *testing.T, s *Store) {
			storeRange(t, s, 1, 100)
			if err := s.DeleteRange(1, 100); err != nil {
				t.Fatal(err)
			}
		}, idx(500), true, 500},
		{"after a full delete, at 1", func(t *testing.T, s *Store) {
			storeRange(t, s, 10, 100)
			if err := s.DeleteRange(10, 100); err != nil {
				t.Fatal(err)
			}
		}, idx(1, 2), true, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t, t.TempDir(), smallOpts())
			if c.setup != nil {
				c.setup(t, s)
			}
			first0, _ := s.FirstIndex()
			last0, _ := s.LastIndex()
			appends := s.log.Stats().Appends
			err := s.StoreLogs(c.batch)
			if c.ok != (err == nil) || !c.ok && err != ErrNonContiguous {
				t.Fatalf("StoreLogs(%d…) = %v, want ok=%v or ErrNonContiguous", c.batch[0].Index, err, c.ok)
			}
			if !c.ok && s.log.Stats().Appends != appends {
				t.Fatal("a refused StoreLogs wrote records")
			}
			first := first0
			if c.ok && last0 == 0 {
				first = c.batch[0].Index
			}
			checkRange(t, s, first, c.wantLast)
			s = reopen(t, s, smallOpts())
			checkRange(t, s, first, c.wantLast)
			if c.wantLast > 0 { // and it goes on
				storeRange(t, s, c.wantLast+1, c.wantLast+3)
				checkRange(t, s, first, c.wantLast+3)
			}
		})
	}
}

func TestDeleteRange(t *testing.T) {
	const first, last = 10, 20
	cases := []struct {
		min, max         uint64
		err              error
		wantFirst, wantL uint64 // 0, 0: empty
	}{
		{15, 12, nil, first, last}, // min > max
		{1, 5, nil, first, last},   // below
		{1, 9, nil, first, last},   // just below
		{21, 30, nil, first, last}, // above
		{0, 0, nil, first, last},   // (0, 0) on a full store: below it
		{10, 12, nil, 13, last},    // head
		{1, 12, nil, 13, last},     // head from below
		{10, 10, nil, 11, last},    // one at the head
		{10, 20, nil, 0, 0},        // everything
		{1, 100, nil, 0, 0},        // everything, clamped
		{0, 20, nil, 0, 0},         // everything from 0
		{15, 20, nil, first, 14},   // tail
		{15, 100, nil, first, 14},  // tail, clamped
		{20, 20, nil, first, 19},   // one at the tail
		{11, 20, nil, first, 10},   // all but the first
		{12, 15, ErrMiddleDelete, first, last},
		{11, 19, ErrMiddleDelete, first, last},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-%d", c.min, c.max), func(t *testing.T) {
			s := openStore(t, t.TempDir(), smallOpts())
			storeRange(t, s, first, last)
			if err := s.DeleteRange(c.min, c.max); !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("DeleteRange(%d, %d) = %v, want %v", c.min, c.max, err, c.err)
			}
			checkRange(t, s, c.wantFirst, c.wantL)
			s = reopen(t, s, smallOpts())
			checkRange(t, s, c.wantFirst, c.wantL)
			next := c.wantL + 1
			if c.wantL == 0 {
				next = 3 // any index after a full delete, below the old ones too
			}
			storeRange(t, s, next, next+4)
			f := c.wantFirst
			if c.wantL == 0 {
				f = next
			}
			checkRange(t, s, f, next+4)
		})
	}
	t.Run("empty store", func(t *testing.T) {
		s := openStore(t, t.TempDir(), smallOpts())
		for _, r := range [][2]uint64{{0, 0}, {1, 1}, {0, 100}, {5, 1}} {
			if err := s.DeleteRange(r[0], r[1]); err != nil {
				t.Fatalf("DeleteRange(%d, %d) on an empty store = %v", r[0], r[1], err)
			}
		}
		checkRange(t, s, 0, 0)
	})
}

// TestLogEncoding: every field of raft.Log round-trips, GetLog copies, and
// a record that is not raftstore's is ErrBadRecord.
func TestLogEncoding(t *testing.T) {
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("a")},
		{Index: 2, Term: 1 << 60, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{0xff}, 3000), Extensions: []byte{0}},
		{Index: 3, Term: 2, Type: raft.LogBarrier},
		{Index: 4, Term: 2, Type: raft.LogType(255), Data: []byte{}, Extensions: []byte("ext"), AppendedAt: time.Unix(0, 1)},
		{Index: 5, Term: 3, Type: raft.LogNoop, AppendedAt: time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)},
		{Index: 6, Term: 3, AppendedAt: time.Unix(-5, 0)},
	}
	s := openStore(t, t.TempDir(), smallOpts())
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for _, want := range logs {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatal(err)
			}
			if d := sameLog(&got, want); d != "" {
				t.Fatalf("round %d: log %d: %s", round, want.Index, d)
			}
			if len(got.Data) > 0 {
				got.Data[0] ^= 1 // raft owns it: not the mapping
				got.Data = append(got.Data, 'z')
				if len(got.Extensions) > 0 && got.Extensions[0] == 'z' {
					t.Fatal("Data and Extensions overlap")
				}
			}
		}
		s = reopen(t, s, smallOpts())
	}
	for _, b := range [][]byte{nil, {0}, {2, 1, 1, 0, 0, 0}, {1, 1, 1, 5, 'a'}, {1, 1, 1, 0, 0, 0, 9}, {0x81, 1, 1, 0, 0, 0}} {
		if _, ok := parseRecord(b); ok {
			t.Errorf("parseRecord(% x) accepted", b)
		}
	}
	// A log record written by something else is refused, never misread.
	dir := t.TempDir()
	l, err := mmapwal.Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeStable(dir, map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("not a raft log")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Open(dir, nil); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Open over a foreign record = %v, want ErrBadRecord", err)
	}
}

// TestStoreLogsDurable: whatever the log's Durability, StoreLogs returns
// once the logs are durable.
func TestStoreLogsDurable(t *testing.T) {
	for _, d := range []mmapwal.Durability{mmapwal.SyncAlways, mmapwal.SyncInterval, mmapwal.SyncManual} {
		t.Run(d.String(), func(t *testing.T) {
			o := &Options{Log: &mmapwal.Options{SegmentSize: 16 << 10, Durability: d, SyncInterval: time.Hour}}
			s := openStore(t, t.TempDir(), o)
			for i := uint64(1); i <= 200; i += 10 {
				storeRange(t, s, i, i+9)
				if got := s.log.DurableSeq(); got != i+9 {
					t.Fatalf("DurableSeq %d after StoreLogs(..%d)", got, i+9)
				}
			}
		})
	}
}

// TestStoreLogsSplit: a batch larger than a segment is stored as the
// fewest segment-sized batches; each alone would fit.
func TestStoreLogsSplit(t *testing.T) {
	rec := func(n int) []byte { return make([]byte, n) }
	const room = 992
	cases := []struct {
		sizes []int
		ends  []int
	}{
		{[]int{10}, []int{1}},
		{[]int{100, 100, 100}, []int{3}},
		{[]int{472, 472}, []int{2}},       // 2 frames of 496 = room
		{[]int{472, 472, 1}, []int{2, 3}}, // one more frame does not fit
		{[]int{900, 900, 900}, []int{1, 2, 3}},
		{[]int{2000, 10}, []int{1, 2}}, // too large alone: its own batch (the log refuses it)
		{[]int{10, 2000, 10}, []int{1, 2, 3}},
	}
	for _, c := range cases {
		var recs [][]byte
		for _, n := range c.sizes {
			recs = append(recs, rec(n))
		}
		var ends []int
		for from := 0; from < len(recs); from = ends[len(ends)-1] {
			ends = append(ends, partEnd(recs, from, room))
		}
		if fmt.Sprint(ends) != fmt.Sprint(c.ends) {
			t.Errorf("parts of %v in %d bytes: ends %v, want %v", c.sizes, room, ends, c.ends)
		}
	}
	// Through the store: 100 logs of 1 KiB in 16 KiB segments.
	s := openStore(t, t.TempDir(), smallOpts())
	var logs []*raft.Log
	for i := uint64(1); i <= 100; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 1024)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if r := s.log.Stats().Rotations; r < 6 {
		t.Fatalf("%d rotations for 100 KiB in 16 KiB segments", r)
	}
	s = reopen(t, s, smallOpts())
	for i := uint64(1); i <= 100; i++ {
		var lg raft.Log
		if err := s.GetLog(i, &lg); err != nil || len(lg.Data) != 1024 || lg.Data[0] != byte(i) {
			t.Fatalf("GetLog(%d) = %v", i, err)
		}
	}
	// A log too large for the log's records: an error, and nothing written.
	big := &raft.Log{Index: 102, Data: make([]byte, 17<<10)}
	if err := s.StoreLogs([]*raft.Log{testLog(101), big}); !errors.Is(err, mmapwal.ErrRecordTooLarge) {
		t.Fatalf("StoreLogs of a 17 KiB log in 16 KiB segments = %v", err)
	}
	if last, _ := s.LastIndex(); last != 100 {
		t.Fatalf("LastIndex %d after a refused batch", last)
	}
}

// TestCommitIndex: the staged commit index rides in the next batch, is
// found again at Open, and GetCommitIndex never exceeds LastIndex.
func TestCommitIndex(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOpts())
	get := func() uint64 {
		t.Helper()
		c, err := s.GetCommitIndex()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	storeRange(t, s, 1, 10)
	if c := get(); c != 0 {
		t.Fatalf("commit %d before any was staged", c)
	}
	if err := s.StageCommitIndex(5); err != nil {
		t.Fatal(err)
	}
	if c := get(); c != 0 {
		t.Fatalf("commit %d: staged is not persisted before the next StoreLogs", c)
	}
	storeRange(t, s, 11, 20)
	if c := get(); c != 5 {
		t.Fatalf("commit %d, want 5", c)
	}
	s = reopen(t, s, smallOpts())
	if c := get(); c != 5 {
		t.Fatalf("commit %d after reopen, want 5", c)
	}
	s.StageCommitIndex(1000)
	storeRange(t, s, 21, 30)
	if c := get(); c != 30 {
		t.Fatalf("commit %d, want LastIndex 30", c)
	}
	s.StageCommitIndex(28)
	storeRange(t, s, 31, 40)
	if c := get(); c != 28 {
		t.Fatalf("commit %d, want 28", c)
	}
	if err := s.DeleteRange(36, 40); err != nil { // the batch that carried 28 is cut
		t.Fatal(err)
	}
	// Found in log 30, the end of the batch before (1000, clamped): the
	// same before and after a reopen.
	if c := get(); c != 35 {
		t.Fatalf("commit %d after a tail cut, want 35", c)
	}
	s = reopen(t, s, smallOpts())
	if c := get(); c != 35 {
		t.Fatalf("commit %d after a tail cut and reopen, want 35", c)
	}
	if err := s.DeleteRange(1, 35); err != nil {
		t.Fatal(err)
	}
	if c := get(); c != 0 {
		t.Fatalf("commit %d on an empty store", c)
	}
}

// TestStoreErrors: a closed store, a damaged or missing stable file, a
// locked directory.
func TestStoreErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, smallOpts())
	storeRange(t, s, 1, 3)
	if _, err := Open(dir, smallOpts()); !errors.Is(err, mmapwal.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	var lg raft.Log
	calls := map[string]error{
		"StoreLogs":   s.StoreLogs(testLogs(4, 5)),
		"StoreLog":    s.StoreLog(testLog(4)),
		"GetLog":      s.GetLog(1, &lg),
		"DeleteRange": s.DeleteRange(1, 1),
		"Set":         s.Set([]byte("k"), nil),
		"SetUint64":   s.SetUint64([]byte("k"), 1),
		"Stage":       s.StageCommitIndex(1),
	}
	_, calls["FirstIndex"] = s.FirstIndex()
	_, calls["LastIndex"] = s.LastIndex()
	_, calls["Get"] = s.Get([]byte("k"))
	_, calls["GetUint64"] = s.GetUint64([]byte("k"))
	_, calls["GetCommitIndex"] = s.GetCommitIndex()
	for name, err := range calls {
		if !errors.Is(err, mmapwal.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}

	stable := filepath.Join(dir, stableName)
	good, err := os.ReadFile(stable)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":     {},
		"short":     good[:10],
		"bit flip":  func() []byte { b := bytes.Clone(good); b[len(b)-5] ^= 1; return b }(),
		"magic":     append([]byte("mmapwalX"), good[8:]...),
		"version 2": encodeStableVersion(2),
		"truncated": good[:len(good)-1],
	}
	for name, b := range bad {
		if err := os.WriteFile(stable, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, smallOpts()); !errors.Is(err, ErrStableCorrupt) {
			t.Errorf("stable file %s: Open = %v, want ErrStableCorrupt", name, err)
		}
	}
	os.Remove(stable)
	if _, err := Open(dir, smallOpts()); !errors.Is(err, ErrStableCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("stable file missing beside the log: Open = %v, want ErrStableCorrupt", err)
	}
	if err := os.WriteFile(stable, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stableTmpName), []byte("half written"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, smallOpts()) // a leftover stable.tmp is ignored
	checkRange(t, s, 1, 3)
}

// encodeStableVersion is an empty stable file of another version, its CRC
// valid.
func encodeStableVersion(v uint32) []byte {
	b := encodeStable(map[string][]byte{})
	body := b[:len(b)-4]
	binary.LittleEndian.PutUint32(body[8:], v)
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

// TestGetLogConcurrent: GetLog runs concurrently with StoreLogs and
// DeleteRange (raft reads one log per follower goroutine): a read returns
// the log at that index or raft.ErrLogNotFound, never another's bytes.
func TestGetLogConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir(), smallOpts())
	stop := make(chan struct{})
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var lg raft.Log
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				if last == 0 {
					continue
				}
				idx := first + rng.Uint64N(last-first+1)
				err := s.GetLog(idx, &lg)
				if err == raft.ErrLogNotFound {
					continue
				}
				if err != nil {
					errc <- fmt.Errorf("GetLog(%d): %v", idx, err)
					return
				}
				if d := sameLog(&lg, testLog(idx)); d != "" {
					errc <- fmt.Errorf("GetLog(%d): %s", idx, d)
					return
				}
			}
		}()
	}
	next := uint64(1)
	for round := range 300 {
		n := uint64(1 + round%17)
		storeRange(t, s, next, next+n-1)
		next += n
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		switch round % 10 {
		case 3:
			if err := s.DeleteRange(first, first+(last-first)/2); err != nil {
				t.Fatal(err)
			}
		case 6:
			if err := s.DeleteRange(last-2, last); err != nil {
				t.Fatal(err)
			}
			next = last - 2
		case 9:
			if err := s.DeleteRange(first, last); err != nil {
				t.Fatal(err)
			}
			next = 1 + uint64(round)*3%(last+50) // below or above the old end
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}

// TestAllocs: StoreLogs and the read path do not allocate beyond the copy
// raft keeps (GetLog: one allocation for Data and Extensions together).
func TestAllocs(t *testing.T) {
	s := openStore(t, t.TempDir(), &Options{Log: &mmapwal.Options{SegmentSize: 64 << 20, Durability: mmapwal.SyncManual}})
	batch := testLogs(1, 16)
	next := uint64(1)
	store := func() {
		for i, lg := range batch {
			lg.Index = next + uint64(i)
		}
		if err := s.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
		next += uint64(len(batch))
	}
	store() // grows the buffers
	// mmapwal's sync round makes one channel (Log.syncTo); StoreLogs adds
	// nothing to it.
	if a := testing.AllocsPerRun(50, store); a > 1 {
		t.Errorf("StoreLogs: %.1f allocations per call, want at most the log's sync round's 1", a)
	}
	var lg raft.Log
	if a := testing.AllocsPerRun(200, func() {
		if err := s.GetLog(3, &lg); err != nil {
			t.Fatal(err)
		}
	}); a > 1 {
		t.Errorf("GetLog: %.1f allocations per call, want 1", a)
	}
	if a := testing.AllocsPerRun(200, func() { s.FirstIndex(); s.LastIndex() }); a > 0 {
		t.Errorf("FirstIndex+LastIndex: %.1f allocations", a)
	}
}

// TestWALStoreRegressions: the cases that broke WAL stores in practice.
func TestWALStoreRegressions(t *testing.T) {
	t.Run("first log not at index 1", func(t *testing.T) {
		s := openStore(t, t.TempDir(), smallOpts())
		storeRange(t, s, 1000, 1100)
		checkRange(t, s, 1000, 1100)
		s = reopen(t, s, smallOpts())
		checkRange(t, s, 1000, 1100)
		storeRange(t, s, 1101, 1110)
		checkRange(t, s, 1000, 1110)
	})
	t.Run("restart after clearing a log suffix", func(t *testing.T) {
		s := openStore(t, t.TempDir(), smallOpts())
		storeRange(t, s, 1, 300) // several segments
		if err := s.DeleteRange(120, 300); err != nil {
			t.Fatal(err)
		}
		s = reopen(t, s, smallOpts())
		checkRange(t, s, 1, 119)
		storeRange(t, s, 120, 130) // the new logs at the cleared indexes
		s = reopen(t, s, smallOpts())
		checkRange(t, s, 1, 130)
	})
	t.Run("lagging follower after a snapshot restore", func(t *testing.T) {
		for _, restart := range []uint64{50, 301, 5000} { // below, at and above the old end
			s := openStore(t, t.TempDir(), smallOpts())
			storeRange(t, s, 1, 300)
			if err := s.DeleteRange(1, 300); err != nil { // raft's removeOldLogs
				t.Fatal(err)
			}
			s = reopen(t, s, smallOpts())
			checkRange(t, s, 0, 0)
			storeRange(t, s, restart, restart+40)
			checkRange(t, s, restart, restart+40)
			s = reopen(t, s, smallOpts())
			checkRange(t, s, restart, restart+40)
		}
	})
	t.Run("restart with a torn last record", func(t *testing.T) {
		s := openStore(t, t.TempDir(), smallOpts())
		storeRange(t, s, 1, 30)
		storeRange(t, s, 31, 35)
		// What a crash in the middle of the second StoreLogs leaves: its
		// last record torn.
		crashed := t.TempDir()
		copyTree(t, s.dir, crashed)
		tearLastRecord(t, filepath.Join(crashed, "log"))
		s2 := openStore(t, crashed, smallOpts())
		if tt := s2.log.Recovery().TornTail; tt == nil || !tt.Repaired {
			t.Fatalf("Recovery: %+v, want a torn tail cut", s2.log.Recovery())
		}
		checkRange(t, s2, 1, 30) // the whole batch went, atomically
		storeRange(t, s2, 31, 40)
		s2 = reopen(t, s2, smallOpts())
		checkRange(t, s2, 1, 40)
	})
}

// tearLastRecord flips the last non-zero byte of the newest segment of the
// log in dir: the last record's payload, so that its frame no longer
// checks.
func tearLastRecord(t *testing.T, dir string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	// The newest segment that holds a frame (a prepared one may follow).
	var path string
	var b []byte
	i := 0
	for k := len(segs) - 1; k >= 0 && i < 64; k-- {
		path = segs[k]
		if b, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		for i = len(b) - 1; i > 0 && b[i] == 0; i-- {
		}
	}
	if i < 64 {
		t.Fatalf("no segment in %s holds a frame", dir)
	}
	b[i] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyStoreChangesNothing: a store opened with Log.ReadOnly beside
// (or after) a writer reads the log and the stable keys, writes no file —
// not the directory, not the stable file, not a leftover stable.tmp a
// writer's Set may be using — and refuses Set with ErrInvalidArgument.
func TestReadOnlyStoreChangesNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetUint64([]byte("term"), 7); err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLogs([]*raft.Log{{Index: 1, Term: 7, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, stableTmpName)
	if err := os.WriteFile(tmp, []byte("a Set in progress"), 0o644); err != nil {
		t.Fatal(err)
	}
	roOpts := &Options{Log: &mmapwal.Options{ReadOnly: true}}
	ro, err := Open(dir, roOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the ReadOnly open removed the writer's stable.tmp: %v", err)
	}
	if term, err := ro.GetUint64([]byte("term")); err != nil || term != 7 {
		t.Fatalf("GetUint64(term) = %d, %v; want 7", term, err)
	}
	if last, err := ro.LastIndex(); err != nil || last != 1 {
		t.Fatalf("LastIndex = %d, %v; want 1", last, err)
	}
	if err := ro.Set([]byte("term"), []byte("8")); !errors.Is(err, mmapwal.ErrInvalidArgument) {
		t.Fatalf("Set on a ReadOnly store: %v, want ErrInvalidArgument", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := Open(missing, roOpts); err == nil {
		t.Fatal("a ReadOnly open of a missing directory succeeded")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a ReadOnly open created the directory: %v", err)
	}
}
