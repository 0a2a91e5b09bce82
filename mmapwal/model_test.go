package mmapwal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// The model-based test: random operations on a Log, checked after every step
// against a plain in-memory model of what the log must hold.
//
// Each run prints its seed; replay one with
//
//	MMAPWAL_SEED=<seed> go test -race -run 'TestModel$' ./mmapwal
//
// MMAPWAL_MODEL_STEPS overrides the number of steps per seed, MMAPWAL_MODEL_SEEDS
// runs that many fresh seeds, MMAPWAL_MODEL_HISTORY sets how many past steps
// a failure prints (40), and MMAPWAL_MODEL_DISK=1 runs on the real
// filesystem instead of a tmpfs.

// modelRun is one seed's configuration.
type modelRun struct {
	seed       uint64
	steps      int
	durability mmapwal.Durability
	readers    bool // run concurrent readers (model_readers_test.go)
}

// newModelRun returns the run of a seed: its durability mode is a function of
// the seed, so that a replayed seed runs exactly as it did.
func newModelRun(seed uint64) modelRun {
	return modelRun{seed: seed, steps: 3000, durability: durabilityForSeed(seed), readers: seed%2 == 0}
}

// TestModel runs fixed seeds (1, 2, 5, 6 under SyncManual, 3 and 7
// SyncAlways, 4 and 8 SyncInterval) and a fresh one every run, on a tmpfs
// when there is one (see modelDir). MMAPWAL_SEED=<seed> replays one seed;
// MMAPWAL_MODEL_SEEDS=<n> runs n fresh seeds instead (a longer hunt);
// MMAPWAL_MODEL_STEPS=<n> sets the steps per seed.
func TestModel(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, uint64(time.Now().UnixNano())}
	if s := os.Getenv("MMAPWAL_MODEL_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MMAPWAL_MODEL_SEEDS: %v", err)
		}
		seeds = seeds[:0]
		base := uint64(time.Now().UnixNano())
		for i := range n {
			seeds = append(seeds, base+uint64(i)*7919)
		}
	}
	if s := os.Getenv("MMAPWAL_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MMAPWAL_SEED: %v", err)
		}
		seeds = []uint64{seed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := newModelRun(seed)
			dir, fast := modelDir(t)
			if s := os.Getenv("MMAPWAL_MODEL_STEPS"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("MMAPWAL_MODEL_STEPS: %v", err)
				}
				r.steps = n
			} else if testing.Short() || !fast {
				r.steps = 300 // every sync reaches a disk: keep the run short
			}
			t.Logf("seed %d, %d steps, durability %v, in %s (replay: MMAPWAL_SEED=%d go test -race -run 'TestModel$' ./mmapwal)",
				r.seed, r.steps, r.durability, dir, r.seed)
			newModelRunner(t, r, dir).run()
		})
	}
}

// TestModelDisk runs a shorter model on the real filesystem (t.TempDir), where
// every sync reaches the disk. MMAPWAL_SEED replays a seed here too.
func TestModelDisk(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MMAPWAL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MMAPWAL_SEED: %v", err)
		}
	}
	r := newModelRun(seed)
	r.steps = 400
	if testing.Short() {
		r.steps = 100
	}
	t.Logf("seed %d, %d steps, durability %v (replay: MMAPWAL_SEED=%d go test -race -run 'TestModelDisk$' ./mmapwal)",
		r.seed, r.steps, r.durability, r.seed)
	newModelRunner(t, r, t.TempDir()).run()
}

// durabilityForSeed picks the durability mode a seed runs under: mostly
// SyncManual (fast), sometimes SyncAlways or SyncInterval.
func durabilityForSeed(seed uint64) mmapwal.Durability {
	switch seed % 4 {
	case 3:
		return mmapwal.SyncAlways
	case 0:
		return mmapwal.SyncInterval
	}
	return mmapwal.SyncManual
}

// model is what the log must hold.
type model struct {
	recs map[uint64][]byte
	seqs []uint64 // the keys of recs, ascending
	last uint64   // LastSeq
	// front is the highest TruncateFront point: FirstSeq of a log with no
	// record and LastSeq 0 (0 if none).
	front uint64
	// acked is the highest sequence acknowledged durable (by Sync, a
	// SyncAlways append, Close) with no TruncateBack below it since.
	acked uint64
	hist  *modelHistory // the versions concurrent readers check against, or nil
}

func (m *model) first() uint64 {
	switch {
	case len(m.seqs) > 0:
		return m.seqs[0]
	case m.last > 0:
		return m.last + 1
	}
	return m.front
}

func (m *model) add(seq uint64, data []byte) {
	if seq <= m.last || (len(m.seqs) > 0 && seq <= m.seqs[len(m.seqs)-1]) {
		panic(fmt.Sprintf("model: add %d after %d", seq, m.last))
	}
	m.recs[seq] = slices.Clone(data)
	m.seqs = append(m.seqs, seq)
	m.last = seq
	m.hist.added(seq, data)
}

// truncateFront drops the records below seq and reports how many it dropped
// at or above from.
func (m *model) truncateFront(seq, from uint64) (dropped int) {
	m.front = max(m.front, seq)
	k := sort.Search(len(m.seqs), func(i int) bool { return m.seqs[i] >= seq })
	for _, s := range m.seqs[:k] {
		if s >= from {
			dropped++
		}
		delete(m.recs, s)
		m.hist.removed(s, false)
	}
	m.seqs = append(m.seqs[:0:0], m.seqs[k:]...)
	return dropped
}

func (m *model) truncateBack(seq uint64) {
	k := sort.Search(len(m.seqs), func(i int) bool { return m.seqs[i] > seq })
	for _, s := range m.seqs[k:] {
		delete(m.recs, s)
		m.hist.removed(s, true)
	}
	m.seqs = m.seqs[:k]
	if k > 0 {
		m.last = m.seqs[k-1]
	} else {
		m.last = seq
	}
	m.acked = min(m.acked, m.last)
}

// next returns the first record at or above seq.
func (m *model) next(seq uint64) (uint64, bool) {
	k := sort.Search(len(m.seqs), func(i int) bool { return m.seqs[i] >= seq })
	if k == len(m.seqs) {
		return 0, false
	}
	return m.seqs[k], true
}

// liveIter is an iterator kept open across steps.
type liveIter struct {
	it      *mmapwal.Iterator
	cursor  uint64 // the lowest sequence it may return next
	lastRet uint64 // the last sequence it returned, 0 if none
	// mustFail: records it returned, or records it had still to return,
	// were truncated away. A TruncateFront that jumped over its position
	// without dropping a record it had to return does not stop it.
	mustFail bool
	// cutBack: a TruncateBack dropped a record it returned; its next Next
	// reports that before a Close.
	cutBack bool
}

type modelRunner struct {
	t     *testing.T
	cfg   modelRun
	rng   *rand.Rand
	dir   string
	opts  mmapwal.Options
	l     *mmapwal.Log
	m     model
	li    *liveIter
	step  int
	op    string
	nonce uint64
	hist  []string // the last steps, printed on failure
}

// note records what a step did, for the failure message.
func (r *modelRunner) note(format string, args ...any) {
	keep := 40
	if s := os.Getenv("MMAPWAL_MODEL_HISTORY"); s != "" {
		keep, _ = strconv.Atoi(s)
	}
	if len(r.hist) >= keep {
		r.hist = append(r.hist[:0], r.hist[1:]...)
	}
	r.hist = append(r.hist, fmt.Sprintf("%d %s: ", r.step, r.op)+fmt.Sprintf(format, args...))
}

func newModelRunner(t *testing.T, cfg modelRun, dir string) *modelRunner {
	r := &modelRunner{
		t:   t,
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
		dir: dir,
		m:   model{recs: map[uint64][]byte{}},
	}
	r.opts = r.randomOptions()
	l, err := mmapwal.Open(r.dir, &r.opts)
	if err != nil {
		t.Fatalf("seed %d: Open: %v", cfg.seed, err)
	}
	r.l = l
	r.note("opened: %+v", r.opts)
	t.Cleanup(func() {
		if r.li != nil {
			r.li.it.Close()
		}
		r.l.Close()
	})
	return r
}

// modelDir returns the directory a model run works in, and whether it is on
// a tmpfs (/dev/shm), used when there is one: the model checks the log's
// logic, not the disk, and a rotation or truncation costs several fsyncs on
// a real disk (TestModelDisk covers that). MMAPWAL_MODEL_DISK=1 runs on the
// real filesystem (t.TempDir) instead.
func modelDir(t *testing.T) (string, bool) {
	if os.Getenv("MMAPWAL_MODEL_DISK") == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if dir, err := os.MkdirTemp("/dev/shm", "mmapwal-model-"); err == nil {
				t.Cleanup(func() { os.RemoveAll(dir) })
				return dir, true
			}
		}
	}
	return t.TempDir(), false
}

// randomOptions returns small segments so that rotation is frequent, and
// sometimes a MaxRecordSize below what fits.
func (r *modelRunner) randomOptions() mmapwal.Options {
	o := mmapwal.Options{
		SegmentSize:       []int64{4096, 8192, 12288, 16384}[r.rng.IntN(4)],
		Durability:        r.cfg.durability,
		SyncInterval:      time.Millisecond,
		MaxMappedSegments: 1 + r.rng.IntN(3),
	}
	if r.rng.IntN(3) == 0 {
		o.MaxRecordSize = 256 + r.rng.IntN(int(o.SegmentSize)-64-24-48-256)
	}
	if r.rng.IntN(3) == 0 {
		o.BytesPerSync = 1024
	}
	return o
}

// maxRecord is the MaxRecordSize in force.
func (r *modelRunner) maxRecord() int {
	if r.opts.MaxRecordSize != 0 {
		return r.opts.MaxRecordSize
	}
	return int(r.opts.SegmentSize) - 64 - 24 - 48 // room for a mark and a seal (FORMAT.md §9.2)
}

// size returns a record size between 0 and MaxRecordSize, skewed small, with
// the largest sizes well represented.
func (r *modelRunner) size() int {
	mx := r.maxRecord()
	switch x := r.rng.IntN(20); {
	case x < 9:
		return r.rng.IntN(min(64, mx+1))
	case x < 14:
		return r.rng.IntN(min(512, mx+1))
	case x < 17:
		return r.rng.IntN(mx + 1)
	default:
		return mx - r.rng.IntN(min(mx, 16)+1)
	}
}

// record returns data of n bytes, unique to this call (so that a sequence
// appended again after a truncation has different bytes).
func (r *modelRunner) record(n int) []byte {
	r.nonce++
	b := make([]byte, n)
	x := r.nonce*0x9e3779b97f4a7c15 | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func (r *modelRunner) failf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d step %d (%s): %s\nlast steps:\n\t%s", r.cfg.seed, r.step, r.op, fmt.Sprintf(format, args...),
		strings.Join(r.hist, "\n\t"))
}

func (r *modelRunner) noErr(err error, what string) {
	r.t.Helper()
	if err != nil {
		r.failf("%s: unexpected error %v", what, err)
	}
}

func (r *modelRunner) wantErr(err, target error, what string) {
	r.t.Helper()
	if !errors.Is(err, target) {
		r.failf("%s: got error %v, want %v", what, err, target)
	}
}

func (r *modelRunner) run() {
	stop := r.startReaders()
	for r.step = 1; r.step <= r.cfg.steps; r.step++ {
		r.doStep()
		r.checkSeqs()
		if err := r.m.hist.failure(); err != "" {
			stop()
			r.failf("concurrent reader: %s", err)
		}
	}
	stop()
	if err := r.m.hist.failure(); err != "" {
		r.failf("concurrent reader: %s", err)
	}
	r.op = "final"
	r.fullPass(0)
	r.reopen(false)
	r.fullPass(0)
}

// ops are the operations and their weights.
var modelOps = []struct {
	name   string
	weight int
	fn     func(*modelRunner)
}{
	{"Append", 20, (*modelRunner).opAppend},
	{"AppendSeq", 8, (*modelRunner).opAppendSeq},
	{"AppendBatch", 6, (*modelRunner).opAppendBatch},
	{"AppendBatchSeq", 4, (*modelRunner).opAppendBatchSeq},
	{"ReserveCommit", 6, (*modelRunner).opReserveCommit},
	{"ReserveAbort", 3, (*modelRunner).opReserveAbort},
	{"Sync", 4, (*modelRunner).opSync},
	{"WaitDurable", 2, (*modelRunner).opWaitDurable},
	{"TruncateFront", 3, (*modelRunner).opTruncateFront},
	{"TruncateBack", 3, (*modelRunner).opTruncateBack},
	{"Reopen", 1, func(r *modelRunner) { r.reopen(r.rng.IntN(2) == 0) }},
	{"Read", 8, (*modelRunner).opRead},
	{"ReadInto", 4, (*modelRunner).opReadInto},
	{"View", 4, (*modelRunner).opView},
	{"LiveIterator", 8, (*modelRunner).opLiveIter},
	{"FullPass", 1, func(r *modelRunner) { r.fullPass(r.rng.Uint64N(r.m.last + 3)) }},
}

var modelWeights = func() int {
	n := 0
	for _, o := range modelOps {
		n += o.weight
	}
	return n
}()

func (r *modelRunner) doStep() {
	x := r.rng.IntN(modelWeights)
	for _, o := range modelOps {
		if x < o.weight {
			r.op = o.name
			r.m.hist.begin()
			o.fn(r)
			r.m.hist.end()
			return
		}
		x -= o.weight
	}
}

// checkSeqs compares FirstSeq, LastSeq and DurableSeq with the model.
func (r *modelRunner) checkSeqs() {
	r.t.Helper()
	l, m := r.l, &r.m
	if got, want := l.LastSeq(), m.last; got != want {
		r.failf("LastSeq = %d, want %d", got, want)
	}
	if got, want := l.FirstSeq(), m.first(); got != want {
		r.failf("FirstSeq = %d, want %d (last %d, %d records)", got, want, m.last, len(m.seqs))
	}
	d := l.DurableSeq()
	if d < m.acked {
		r.failf("DurableSeq = %d below the acknowledged %d", d, m.acked)
	}
	if d > m.last {
		r.failf("DurableSeq = %d above LastSeq %d", d, m.last)
	}
}

// acked records that every record up to LastSeq was acknowledged durable.
func (r *modelRunner) ackAll() { r.m.acked = r.m.last }

// afterAppend applies the durability mode to an append that returned nil.
func (r *modelRunner) afterAppend(seq uint64) {
	r.t.Helper()
	if r.cfg.durability == mmapwal.SyncAlways {
		if d := r.l.DurableSeq(); d < seq {
			r.failf("SyncAlways: DurableSeq %d below %d after the append returned", d, seq)
		}
		r.m.acked = max(r.m.acked, seq)
	}
}

func (r *modelRunner) opAppend() {
	if r.rng.IntN(25) == 0 {
		r.tooLarge(func(b []byte) error { _, err := r.l.Append(b); return err })
		return
	}
	var data []byte
	if n := r.size(); n > 0 || r.rng.IntN(2) == 0 {
		data = r.record(n) // else nil: a nil record is allowed too
	}
	seq, err := r.l.Append(data)
	r.noErr(err, "Append")
	if seq != r.m.last+1 {
		r.failf("Append returned %d, want %d", seq, r.m.last+1)
	}
	r.m.add(seq, data)
	r.note("Append(%d bytes) = %d", len(data), seq)
	r.afterAppend(seq)
}

// tooLarge checks that a record above MaxRecordSize is refused and changes
// nothing.
func (r *modelRunner) tooLarge(appendFn func([]byte) error) {
	r.t.Helper()
	before := r.l.Stats().Appends
	err := appendFn(r.record(r.maxRecord() + 1 + r.rng.IntN(64)))
	r.wantErr(err, mmapwal.ErrRecordTooLarge, "oversized record")
	if a := r.l.Stats().Appends; a != before {
		r.failf("an oversized record was counted: appends %d -> %d", before, a)
	}
}

func (r *modelRunner) opAppendSeq() {
	if r.rng.IntN(5) == 0 {
		// A sequence not above LastSeq (0 included).
		bad := r.rng.Uint64N(r.m.last + 1)
		err := r.l.AppendSeq(bad, r.record(r.rng.IntN(32)))
		r.checkSeqErr(err, bad)
		return
	}
	if r.rng.IntN(25) == 0 {
		r.tooLarge(func(b []byte) error { return r.l.AppendSeq(r.m.last+1, b) })
		return
	}
	seq := r.m.last + 1 + r.gap()
	data := r.record(r.size())
	r.noErr(r.l.AppendSeq(seq, data), fmt.Sprintf("AppendSeq(%d)", seq))
	r.m.add(seq, data)
	r.note("AppendSeq(%d, %d bytes)", seq, len(data))
	r.afterAppend(seq)
}

// gap returns how many sequences an AppendSeq skips.
func (r *modelRunner) gap() uint64 {
	switch r.rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return uint64(r.rng.IntN(100))
	}
	return uint64(r.rng.IntN(4))
}

func (r *modelRunner) checkSeqErr(err error, provided uint64) {
	r.t.Helper()
	r.wantErr(err, mmapwal.ErrSequence, fmt.Sprintf("sequence %d at LastSeq %d", provided, r.m.last))
	var se *mmapwal.SequenceError
	if !errors.As(err, &se) {
		r.failf("sequence error %v is not a *SequenceError", err)
	}
	if se.Expected != r.m.last+1 || se.Provided != provided {
		r.failf("SequenceError %+v, want Expected %d Provided %d", *se, r.m.last+1, provided)
	}
}

// batch returns records for a batch: usually one that fits in a segment,
// sometimes one that does not.
func (r *modelRunner) batch() (recs [][]byte, fits bool) {
	n := 1 + r.rng.IntN(8)
	total := 0
	for range n {
		var sz int
		if r.rng.IntN(4) == 0 {
			sz = r.size()
		} else {
			sz = r.rng.IntN(200)
		}
		recs = append(recs, r.record(sz))
		total += crcframe.Size(sz)
	}
	return recs, int64(total) <= r.opts.SegmentSize-64-48
}

func (r *modelRunner) opAppendBatch() {
	if r.rng.IntN(30) == 0 {
		_, err := r.l.AppendBatch(nil)
		r.wantErr(err, mmapwal.ErrInvalidArgument, "empty AppendBatch")
		return
	}
	recs, fits := r.batch()
	first, err := r.l.AppendBatch(recs)
	if !fits {
		r.wantErr(err, mmapwal.ErrRecordTooLarge, "AppendBatch larger than a segment")
		return
	}
	r.noErr(err, "AppendBatch")
	if first != r.m.last+1 {
		r.failf("AppendBatch returned %d, want %d", first, r.m.last+1)
	}
	for i, rec := range recs {
		r.m.add(first+uint64(i), rec)
	}
	r.note("AppendBatch(%d records) = %d", len(recs), first)
	r.afterAppend(r.m.last)
}

func (r *modelRunner) opAppendBatchSeq() {
	if r.rng.IntN(6) == 0 {
		bad := r.rng.Uint64N(r.m.last + 1)
		err := r.l.AppendBatchSeq(bad, [][]byte{r.record(3), r.record(5)})
		r.checkSeqErr(err, bad)
		return
	}
	recs, fits := r.batch()
	first := r.m.last + 1 + r.gap()
	err := r.l.AppendBatchSeq(first, recs)
	if !fits {
		r.wantErr(err, mmapwal.ErrRecordTooLarge, "AppendBatchSeq larger than a segment")
		return
	}
	r.noErr(err, fmt.Sprintf("AppendBatchSeq(%d)", first))
	for i, rec := range recs {
		r.m.add(first+uint64(i), rec)
	}
	r.note("AppendBatchSeq(%d, %d records)", first, len(recs))
	r.afterAppend(r.m.last)
}

func (r *modelRunner) opReserveCommit() {
	if r.rng.IntN(25) == 0 {
		_, err := r.l.Reserve(r.maxRecord() + 1)
		r.wantErr(err, mmapwal.ErrRecordTooLarge, "oversized Reserve")
		return
	}
	n := r.size()
	res, err := r.l.Reserve(n)
	r.noErr(err, fmt.Sprintf("Reserve(%d)", n))
	b := res.Bytes()
	if len(b) != n {
		r.failf("Reserve(%d).Bytes() has %d bytes", n, len(b))
	}
	data := r.record(n)
	copy(b, data)
	seq, err := res.Commit()
	r.noErr(err, "Commit")
	if seq != r.m.last+1 {
		r.failf("Commit returned %d, want %d", seq, r.m.last+1)
	}
	r.m.add(seq, data)
	r.note("Reserve(%d)+Commit = %d", n, seq)
	r.afterAppend(seq)
	if _, err := res.Commit(); err == nil {
		r.failf("a second Commit succeeded")
	}
}

func (r *modelRunner) opReserveAbort() {
	n := r.size()
	res, err := r.l.Reserve(n)
	r.noErr(err, fmt.Sprintf("Reserve(%d)", n))
	copy(res.Bytes(), r.record(n)) // garbage that must not survive
	res.Abort()
	r.note("Reserve(%d)+Abort", n)
	res.Abort() // a second Abort does nothing
	if _, err := res.Commit(); err == nil {
		r.failf("Commit after Abort succeeded")
	}
}

func (r *modelRunner) opSync() {
	r.noErr(r.l.Sync(), "Sync")
	r.note("Sync")
	if d := r.l.DurableSeq(); d < r.m.last {
		r.failf("DurableSeq %d below LastSeq %d after Sync", d, r.m.last)
	}
	r.ackAll()
}

func (r *modelRunner) opWaitDurable() {
	if r.m.last == 0 || r.rng.IntN(4) == 0 {
		err := r.l.WaitDurable(context.Background(), r.m.last+1+r.rng.Uint64N(3))
		if err == nil {
			r.failf("WaitDurable above LastSeq %d succeeded", r.m.last)
		}
		return
	}
	seq := 1 + r.rng.Uint64N(r.m.last)
	r.noErr(r.l.WaitDurable(context.Background(), seq), fmt.Sprintf("WaitDurable(%d)", seq))
	if d := r.l.DurableSeq(); d < seq {
		r.failf("DurableSeq %d below %d after WaitDurable", d, seq)
	}
	r.m.acked = max(r.m.acked, seq)
}

func (r *modelRunner) opTruncateFront() {
	first, last := r.m.first(), r.m.last
	if r.rng.IntN(5) == 0 {
		var bad uint64
		if first > 1 && r.rng.IntN(2) == 0 {
			bad = r.rng.Uint64N(first) // below FirstSeq
		} else {
			bad = last + 2 + r.rng.Uint64N(5) // beyond LastSeq+1
		}
		err := r.l.TruncateFront(bad)
		r.wantErr(err, mmapwal.ErrInvalidArgument, fmt.Sprintf("TruncateFront(%d) outside [%d, %d]", bad, first, last+1))
		return
	}
	// first ≤ seq ≤ last+1, biased towards keeping some records.
	span := last + 1 - first + 1
	if first == 0 {
		span = last + 2
	}
	seq := first + r.rng.Uint64N(span)
	if r.rng.IntN(3) != 0 {
		seq = first + r.rng.Uint64N(span/4+1)
	}
	if r.rng.IntN(10) == 0 {
		seq = last + 1
	}
	r.noErr(r.l.TruncateFront(seq), fmt.Sprintf("TruncateFront(%d) in [%d, %d]", seq, first, last+1))
	r.note("TruncateFront(%d) in [%d, %d]", seq, first, last+1)
	if li := r.li; li != nil {
		dropped := r.m.truncateFront(seq, li.cursor)
		if li.lastRet != 0 && dropped > 0 {
			li.mustFail = true
		}
		li.cursor = max(li.cursor, seq)
	} else {
		r.m.truncateFront(seq, 0)
	}
}

func (r *modelRunner) opTruncateBack() {
	first, last := r.m.first(), r.m.last
	lo := first - min(first, 1)
	if r.rng.IntN(5) == 0 {
		var bad uint64
		if lo > 0 && r.rng.IntN(2) == 0 {
			bad = r.rng.Uint64N(lo) // below FirstSeq-1
		} else {
			bad = last + 1 + r.rng.Uint64N(5) // beyond LastSeq
		}
		err := r.l.TruncateBack(bad)
		r.wantErr(err, mmapwal.ErrInvalidArgument, fmt.Sprintf("TruncateBack(%d) outside [%d, %d]", bad, lo, last))
		return
	}
	// lo ≤ seq ≤ last, biased towards dropping a few records.
	seq := last - r.rng.Uint64N(min(last-lo, 8)+1)
	if r.rng.IntN(4) == 0 {
		seq = lo + r.rng.Uint64N(last-lo+1)
	}
	r.noErr(r.l.TruncateBack(seq), fmt.Sprintf("TruncateBack(%d) in [%d, %d]", seq, lo, last))
	r.m.truncateBack(seq)
	r.note("TruncateBack(%d) in [%d, %d]: last %d", seq, lo, last, r.m.last)
	if li := r.li; li != nil && li.lastRet > seq {
		li.mustFail, li.cutBack = true, true
	}
}

// reopen closes the log and opens it again, sometimes with other options
// (segment size, a smaller MaxRecordSize: existing records stay readable).
func (r *modelRunner) reopen(newOptions bool) {
	r.t.Helper()
	r.noErr(r.l.Close(), "Close")
	r.noErr(r.l.Close(), "second Close")
	if _, err := r.l.Read(1); !errors.Is(err, mmapwal.ErrClosed) {
		r.failf("Read after Close: %v, want ErrClosed", err)
	}
	if _, err := r.l.Append(nil); !errors.Is(err, mmapwal.ErrClosed) {
		r.failf("Append after Close: %v, want ErrClosed", err)
	}
	if li := r.li; li != nil {
		if li.it.Next() {
			r.failf("an iterator went on after Close")
		}
		if li.cutBack {
			// A TruncateBack before the Close dropped a record it
			// returned: Next reports that first.
			r.wantErr(li.it.Err(), mmapwal.ErrTruncated, "iterator after a cut and Close")
		} else {
			r.wantErr(li.it.Err(), mmapwal.ErrClosed, "iterator after Close")
		}
		li.it.Close()
		r.li = nil
	}
	if newOptions {
		r.opts = r.randomOptions()
	}
	l, err := mmapwal.Open(r.dir, &r.opts)
	if err != nil {
		r.t.Logf("the log directory:\n%s", dumpDir(r.dir))
	}
	r.noErr(err, "reopen")
	r.note("reopened: %+v", r.opts)
	r.l = l
	r.m.hist.setLog(l)
	rep := l.Recovery()
	if rep.TornTail != nil || rep.Corruption != nil {
		r.failf("reopen after a clean Close found damage: %+v", rep)
	}
	if r.m.last > 0 && !rep.Clean {
		r.failf("reopen after a clean Close: Recovery().Clean is false: %+v", rep)
	}
	if rep.LastSeq != r.m.last || rep.FirstSeq != r.m.first() {
		r.failf("Recovery() First/Last %d/%d, want %d/%d", rep.FirstSeq, rep.LastSeq, r.m.first(), r.m.last)
	}
	if d := l.DurableSeq(); d != r.m.last {
		r.failf("DurableSeq %d after reopen, want LastSeq %d", d, r.m.last)
	}
	r.ackAll()
	r.checkSeqs()
}

// pick returns a sequence to read: usually one the model holds, else any
// around the log's range (missing ones must be ErrNotFound).
func (r *modelRunner) pick() uint64 {
	if len(r.m.seqs) > 0 && r.rng.IntN(3) != 0 {
		return r.m.seqs[r.rng.IntN(len(r.m.seqs))]
	}
	return r.rng.Uint64N(r.m.last + 4)
}

func (r *modelRunner) opRead() {
	for range 1 + r.rng.IntN(4) {
		seq := r.pick()
		got, err := r.l.Read(seq)
		r.checkRead(seq, got, err, "Read")
	}
}

func (r *modelRunner) checkRead(seq uint64, got []byte, err error, what string) {
	r.t.Helper()
	want, ok := r.m.recs[seq]
	if !ok {
		if !errors.Is(err, mmapwal.ErrNotFound) {
			r.failf("%s(%d) of a missing record: %v (%d bytes), want ErrNotFound", what, seq, err, len(got))
		}
		return
	}
	r.noErr(err, fmt.Sprintf("%s(%d)", what, seq))
	if !bytes.Equal(got, want) {
		r.failf("%s(%d): got %d bytes %.16x…, want %d bytes %.16x…", what, seq, len(got), got, len(want), want)
	}
}

func (r *modelRunner) opReadInto() {
	seq := r.pick()
	prefix := []byte("prefix")
	dst := make([]byte, len(prefix), len(prefix)+r.rng.IntN(2*r.maxRecord()+1))
	copy(dst, prefix)
	got, err := r.l.ReadInto(dst, seq)
	if string(got[:len(prefix)]) != "prefix" {
		r.failf("ReadInto(%d) lost the bytes already in dst", seq)
	}
	if _, ok := r.m.recs[seq]; !ok && len(got) != len(prefix) {
		r.failf("ReadInto(%d) of a missing record appended %d bytes", seq, len(got)-len(prefix))
	}
	r.checkRead(seq, got[len(prefix):], err, "ReadInto")
}

var errModelView = errors.New("model: error from the View callback")

func (r *modelRunner) opView() {
	seq := r.pick()
	want, ok := r.m.recs[seq]
	fail := r.rng.IntN(4) == 0
	called := false
	err := r.l.View(seq, func(b []byte) error {
		called = true
		if !bytes.Equal(b, want) {
			r.failf("View(%d): got %d bytes, want %d", seq, len(b), len(want))
		}
		if fail {
			return errModelView
		}
		return nil
	})
	switch {
	case !ok:
		r.wantErr(err, mmapwal.ErrNotFound, fmt.Sprintf("View(%d) of a missing record", seq))
		if called {
			r.failf("View(%d) of a missing record called fn", seq)
		}
	case fail:
		r.wantErr(err, errModelView, fmt.Sprintf("View(%d) returns fn's error", seq))
	default:
		r.noErr(err, fmt.Sprintf("View(%d)", seq))
	}
}

// fullPass iterates from from to the end and compares with the model.
func (r *modelRunner) fullPass(from uint64) {
	r.t.Helper()
	it, err := r.l.NewIterator(from)
	r.noErr(err, "NewIterator")
	defer it.Close()
	k := sort.Search(len(r.m.seqs), func(i int) bool { return r.m.seqs[i] >= from })
	for it.Next() {
		if k == len(r.m.seqs) {
			r.failf("iterator from %d returned %d past the model's last record", from, it.Seq())
		}
		seq := r.m.seqs[k]
		if it.Seq() != seq || !bytes.Equal(it.Value(), r.m.recs[seq]) {
			r.failf("iterator from %d: got %d (%d bytes), want %d (%d bytes)", from, it.Seq(), len(it.Value()), seq, len(r.m.recs[seq]))
		}
		k++
	}
	r.noErr(it.Err(), fmt.Sprintf("iterator from %d", from))
	if k != len(r.m.seqs) {
		r.failf("iterator from %d stopped before %d", from, r.m.seqs[k])
	}
}

// opLiveIter advances the iterator kept open across steps by a few records
// (creating it if needed).
func (r *modelRunner) opLiveIter() {
	if r.li == nil {
		from := r.rng.Uint64N(r.m.last + 2)
		it, err := r.l.NewIterator(from)
		r.noErr(err, "NewIterator")
		r.li = &liveIter{it: it, cursor: max(from, 1)}
		r.note("NewIterator(%d) (live)", from)
	}
	li := r.li
	for range 1 + r.rng.IntN(40) {
		if li.it.Next() {
			if li.mustFail {
				r.failf("live iterator went on (returned %d) after its records were truncated (last returned %d)", li.it.Seq(), li.lastRet)
			}
			want, ok := r.m.next(li.cursor)
			if !ok || li.it.Seq() != want || !bytes.Equal(li.it.Value(), r.m.recs[want]) {
				r.failf("live iterator at cursor %d (last returned %d): got %d (%d bytes), want %d (present %v)",
					li.cursor, li.lastRet, li.it.Seq(), len(li.it.Value()), want, ok)
			}
			li.lastRet, li.cursor = want, want+1
			r.note("live iterator: %d", want)
			continue
		}
		if err := li.it.Err(); err != nil {
			if !li.mustFail {
				r.failf("live iterator failed (last returned %d): %v", li.lastRet, err)
			}
			r.wantErr(err, mmapwal.ErrNotFound, "live iterator over truncated records")
			if li.it.Next() || li.it.Err() == nil {
				r.failf("a failed iterator went on")
			}
			li.it.Close()
			r.li = nil
			return
		}
		if li.mustFail {
			r.failf("live iterator ended without error after its records were truncated (last returned %d)", li.lastRet)
		}
		if want, ok := r.m.next(li.cursor); ok {
			r.failf("live iterator ended at cursor %d (last returned %d) before record %d", li.cursor, li.lastRet, want)
		}
		return
	}
}

// dumpDir describes the files of a log directory and walks the frames of
// each segment by their length fields (no checksum check), for a failure
// message.
func dumpDir(dir string) string {
	var sb strings.Builder
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&sb, "%s (%d bytes)\n", e.Name(), len(b))
		le32, le64 := binary.LittleEndian.Uint32, binary.LittleEndian.Uint64
		switch {
		case e.Name() == "META" && len(b) == 64:
			fmt.Fprintf(&sb, "  first %d back %d@%d floor %d\n", le64(b[32:]), le64(b[40:]), le32(b[12:]), le64(b[48:]))
		case strings.HasSuffix(e.Name(), ".wal") && len(b) >= 64:
			fmt.Fprintf(&sb, "  header: number %d first %d size %d\n", le64(b[32:]), le64(b[40:]), le64(b[48:]))
			for off := 64; off+24 <= len(b); off += crcframe.Size(int(le32(b[off+4:]))) {
				if b[off+20] == 0 {
					nz := slices.IndexFunc(b[off:], func(c byte) bool { return c != 0 })
					fmt.Fprintf(&sb, "  @%d end (next non-zero byte at +%d)\n", off, nz)
					break
				}
				fmt.Fprintf(&sb, "  @%d seq %d len %d durable %d type %d\n", off, le64(b[off+8:]), le32(b[off+4:]), le32(b[off+16:]), b[off+20])
			}
		}
	}
	return sb.String()
}
