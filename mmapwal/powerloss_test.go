package mmapwal

// Simulated power loss (issue 5, §2; reliability plan AT-03): a crash-state
// generator.
//
// Phase 1 runs a workload on a real directory while recording, through test
// seams, what the disk is guaranteed to hold:
//
//   - testHookCreated: a segment file just created by segment.Create is
//     durable (file and directory synced) with its header and zeros;
//   - testHookSynced(path, from, to): bytes [from, to) of the file are durable
//     as they are now (read back through the page cache, which MAP_SHARED
//     stores reach) — rounded out to whole 4 KiB pages, since msync writes
//     back whole pages (that is how a new segment's header, rewritten in
//     place at activation, reaches the disk with its first records);
//   - a sysutil fault hook that fails nothing but observes the calls: a
//     segment file being created (not yet durable), removed (the removal is
//     durable only after the next directory sync), META.tmp renamed over META
//     (either version may be on disk until the directory sync), and every
//     msync, rename, removal and directory sync as a crash point.
//
// At crash points (after calls, and inside them at those syscalls) it takes a
// snapshot: for every file its durable image and its current bytes, and the
// states the log may legitimately be in (the call in flight may or may not
// have taken effect).
//
// Phase 2 builds many disk images from each snapshot — the durable image
// plus a subset of the 512-byte sectors that differ from the current bytes —
// under two crash models:
//
//   - FoundationDB's: per 4 KiB page written since the last sync: kept,
//     dropped or corrupted; in a corrupted page each sector old, new, or
//     (only when it lies wholly beyond the file's last synced data byte)
//     garbage, whole or torn; 10% of crashes keep everything;
//   - pebble's: each unsynced 4 KiB block survives with probability 0, 10,
//     50, 90 or 100%.
//
// Sectors holding synced bytes are only ever old or new (powersafe
// overwrite). Later sectors may survive while earlier ones are lost. A file
// whose creation was not yet durable may be missing, empty, or partly
// written (garbage included); of the removals not yet made durable by a
// directory sync, the oldest ones persisted and the rest come back, in order
// (a journaling file system commits directory operations in order); META is
// the old or the new version while a rename of it is not durable.
//
// Each image is written to a fresh directory (on /dev/shm when there is one)
// and checked:
//
//   - Strict opens it, or refuses with ErrCorrupt ReasonTornTail and changes
//     nothing — never a durable-corruption reason;
//   - TruncatePartial opens it, and the log is a prefix of the records
//     appended (in order, byte for byte) that holds every acknowledged one
//     and does not cut a batch; LastSeq and FirstSeq are consistent;
//   - after a crash right after that recovery, a second open finds the same
//     log and repairs nothing; the log takes the next append.
//
// Sizes: 520 distinct images per test by default (2,080 for the four
// workloads), 250,000 per test (1,000,000) with MMAPWAL_TORTURE=1;
// MMAPWAL_POWERLOSS_STATES overrides the number per test. Every test prints
// its seed; MMAPWAL_SEED replays it (the timing of the background segment
// preparation can still vary a snapshot).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

const (
	plSector = 512
	plPage   = 4096
)

// ------------------------------------------------------------ the recorder

// plState is a state the log may be in after the crash: its records in
// order, how many of them (from the front) were acknowledged durable, its
// LastSeq, and the LastSeq a recovery must report at least.
type plState struct {
	recs    []crec
	acked   int
	last    uint64
	minLast uint64
}

// plDurable is what the disk is guaranteed to hold of a segment file.
type plDurable struct {
	img       []byte
	syncedEnd int64 // end of the last durable data (bytes before it were synced)
}

// plRemoved is a segment file removed while its removal is not yet durable.
type plRemoved struct {
	base, cur []byte
	syncedEnd int64
}

// plFileKind says how an image may hold a file.
type plFileKind int

const (
	plPlain    plFileKind = iota // exactly as it is (a synced file: quarantine)
	plSegment                    // durable image + some of the unsynced sectors
	plNewFile                    // creation not durable: missing, empty or partly written
	plRemovedF                   // removal not durable: missing, or back
	plMeta2                      // META during a rename: old (a) or new (b)
	plOptional                   // present or not (META.tmp)
	plRenamed                    // a synced pool file renamed to a segment name, the rename not durable: missing, or whole
)

type plSnapFile struct {
	name      string
	kind      plFileKind
	base, cur []byte // plMeta2: base = old (nil: none), cur = new
	syncedEnd int64
	order     int // plRemovedF: the removal's place among the pending ones
}

// plSnap is one crash point.
type plSnap struct {
	where  string
	files  []plSnapFile
	states []plState
}

type plRecorder struct {
	active atomic.Bool
	mu     sync.Mutex
	dir    string
	gid    uint64 // the workload goroutine: crash points are taken only there

	files    map[string]*plDurable
	creating map[string]bool
	removed  map[string]*plRemoved
	rmOrder  []string // pending removals, oldest first
	metaOld  []byte
	metaNew  []byte
	metaPend bool
	// renaming: a pool file was renamed to a segment name (Options.
	// RecycleSegments) since the last directory sync: the segment file
	// without a durable image is that file, synced whole before the
	// rename, which may not persist.
	renaming bool

	states []plState
	point  func(where string) // the workload's crash-point callback
}

func newPLRecorder(dir string) *plRecorder {
	return &plRecorder{dir: dir, files: map[string]*plDurable{}, creating: map[string]bool{}, removed: map[string]*plRemoved{}}
}

// plCurrent is the recorder the installed hooks feed (one at a time).
var plCurrent atomic.Pointer[plRecorder]

// installPLHooks installs the seams for the test's duration.
func installPLHooks(t *testing.T) {
	prevSynced, prevCreated := testHookSynced, testHookCreated
	testHookSynced = func(path string, from, to int64) {
		if r := plCurrent.Load(); r != nil && r.active.Load() {
			r.synced(path, from, to)
		}
	}
	testHookCreated = func(path string) {
		if r := plCurrent.Load(); r != nil && r.active.Load() {
			r.created(path)
		}
	}
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if r := plCurrent.Load(); r != nil && r.active.Load() {
			r.observe(op, path)
		}
		return nil
	})
	t.Cleanup(func() {
		restore()
		testHookSynced, testHookCreated = prevSynced, prevCreated
		plCurrent.Store(nil)
	})
}

func (r *plRecorder) mine(path string) (string, bool) {
	return filepath.Base(path), filepath.Dir(path) == r.dir
}

func isSegmentName(name string) bool {
	_, ok := segment.ParseName(name)
	return ok
}

func (r *plRecorder) synced(path string, from, to int64) {
	name, ok := r.mine(path)
	if !ok || from >= to {
		return
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		panic(fmt.Sprintf("powerloss recorder: %v", err))
	}
	r.mu.Lock()
	d := r.files[name]
	if d == nil { // not seen created: take it as durable as it is
		d = &plDurable{img: bytes.Clone(cur), syncedEnd: int64(len(cur))}
		r.files[name] = d
	}
	// msync writes whole pages: the page-rounded range is what reached the
	// disk (the segment header with the first records, for one).
	pfrom, pto := from&^(plPage-1), min((to+plPage-1)&^(plPage-1), int64(len(cur)))
	copy(d.img[pfrom:pto], cur[pfrom:pto])
	if crcframe.IsZero(cur[from:to]) { // zeroed by a truncation or a repair
		d.syncedEnd = min(d.syncedEnd, from)
	} else {
		d.syncedEnd = max(d.syncedEnd, to)
	}
	r.mu.Unlock()
	r.crashPoint("after a flush of " + name)
}

func (r *plRecorder) created(path string) {
	name, ok := r.mine(path)
	if !ok {
		return
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		panic(fmt.Sprintf("powerloss recorder: %v", err))
	}
	r.mu.Lock()
	r.files[name] = &plDurable{img: cur, syncedEnd: segment.HeaderSize}
	delete(r.creating, name)
	r.mu.Unlock()
}

func (r *plRecorder) observe(op sysutil.Op, path string) {
	switch op {
	case sysutil.OpCreate:
		if name, ok := r.mine(path); ok && isSegmentName(name) {
			r.mu.Lock()
			r.creating[name] = true
			r.mu.Unlock()
		}
	case sysutil.OpRemove:
		name, ok := r.mine(path)
		if !ok || !isSegmentName(name) {
			return
		}
		r.removing(name, path, "before removing "+name)
	case sysutil.OpRename:
		name, ok := r.mine(path)
		switch _, pool := parsePoolName(name); {
		case ok && isSegmentName(name):
			// TruncateFront moves the segment to the pool: for the
			// segment's name, a removal not durable until the directory
			// sync (the pool file is taken as it is: a superset of the
			// states, both names present included).
			r.removing(name, path, "before moving "+name+" to the pool")
		case ok && pool:
			r.mu.Lock()
			r.renaming = true
			r.mu.Unlock()
			r.crashPoint("before renaming " + name + " to a segment")
		case ok && name == metaTmpName:
			old, err := os.ReadFile(filepath.Join(r.dir, metaName))
			if err != nil {
				old = nil
			}
			cur, err := os.ReadFile(path)
			if err != nil {
				panic(fmt.Sprintf("powerloss recorder: %v", err))
			}
			r.mu.Lock()
			if !r.metaPend {
				r.metaOld = old
			}
			r.metaNew, r.metaPend = cur, true
			r.mu.Unlock()
			r.crashPoint("before renaming META.tmp")
		}
	case sysutil.OpSyncDir:
		if path != r.dir {
			return
		}
		r.crashPoint("before a directory sync")
		r.mu.Lock()
		clear(r.removed)
		r.rmOrder = nil
		r.metaPend, r.metaOld, r.metaNew = false, nil, nil
		r.renaming = false
		r.mu.Unlock()
	case sysutil.OpMsync:
		r.crashPoint("before an msync")
	}
}

// removing records that the segment name is going away (a removal, or a
// move to the pool), durably only at the next directory sync.
func (r *plRecorder) removing(name, path, where string) {
	r.crashPoint(where)
	cur, err := os.ReadFile(path)
	r.mu.Lock()
	if d := r.files[name]; d != nil && err == nil {
		r.removed[name] = &plRemoved{base: d.img, cur: cur, syncedEnd: d.syncedEnd}
		r.rmOrder = append(r.rmOrder, name)
	}
	delete(r.files, name)
	delete(r.creating, name)
	r.mu.Unlock()
}

// crashPoint offers a crash point to the workload (on its goroutine only).
func (r *plRecorder) crashPoint(where string) {
	if r.point != nil && goroutineID() == r.gid {
		r.point(where)
	}
}

func (r *plRecorder) setStates(states ...plState) {
	r.mu.Lock()
	r.states = states
	r.mu.Unlock()
}

// snapshot records the current crash point.
func (r *plRecorder) snapshot(where string) *plSnap {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := &plSnap{where: where, states: r.states}
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || name == lockName || name == controlName {
			continue
		}
		cur, err := os.ReadFile(filepath.Join(r.dir, name))
		if err != nil {
			continue // removed meanwhile (the preparer)
		}
		seen[name] = true
		f := plSnapFile{name: name, kind: plPlain, cur: cur}
		switch {
		case name == metaName && r.metaPend:
			f.kind, f.base, f.cur = plMeta2, r.metaOld, r.metaNew
		case name == metaTmpName:
			f.kind = plOptional
		case isSegmentName(name):
			if d := r.files[name]; d != nil {
				f.kind, f.base, f.syncedEnd = plSegment, bytes.Clone(d.img), d.syncedEnd
				if bytes.Equal(f.base, cur) {
					f.base = cur
				}
			} else if r.renaming {
				f.kind = plRenamed
			} else {
				f.kind = plNewFile
			}
		}
		snap.files = append(snap.files, f)
	}
	if r.metaPend && !seen[metaName] { // renamed away? keep both versions possible
		snap.files = append(snap.files, plSnapFile{name: metaName, kind: plMeta2, base: r.metaOld, cur: r.metaNew})
	}
	slices.SortFunc(snap.files, func(a, b plSnapFile) int { return strings.Compare(a.name, b.name) })
	k := 0
	for _, name := range r.rmOrder {
		if rm := r.removed[name]; rm != nil && !seen[name] {
			snap.files = append(snap.files, plSnapFile{name: name, kind: plRemovedF, base: rm.base, cur: rm.cur, syncedEnd: rm.syncedEnd, order: k})
			k++
		}
	}
	return snap
}

// ------------------------------------------------------------- the images

type plImgFile struct {
	name string
	data []byte
}

// plModel names a crash model.
type plModel int

const (
	plFDB plModel = iota
	plPebble
)

func (m plModel) String() string { return [...]string{"FoundationDB", "pebble"}[m] }

// build makes one disk image of the snapshot.
func (s *plSnap) build(rng *rand.Rand, model plModel) ([]plImgFile, string) {
	var out []plImgFile
	var desc strings.Builder
	mg := newPLMerger(rng, model)
	fmt.Fprintf(&desc, "%v", mg)
	// Directory operations reach the disk in order (a journaling file
	// system): of the removals not yet synced, the first gone persisted.
	gone := 0
	for _, f := range s.files {
		if f.kind == plRemovedF {
			gone++
		}
	}
	gone = rng.IntN(gone + 1)
	for _, f := range s.files {
		switch f.kind {
		case plPlain:
			out = append(out, plImgFile{f.name, f.cur})
		case plOptional:
			if rng.IntN(2) == 0 {
				out = append(out, plImgFile{f.name, f.cur})
				fmt.Fprintf(&desc, "; %s kept", f.name)
			}
		case plMeta2:
			v, which := f.cur, "new"
			if rng.IntN(2) == 0 {
				v, which = f.base, "old"
			}
			fmt.Fprintf(&desc, "; %s %s", f.name, which)
			if v != nil {
				out = append(out, plImgFile{f.name, v})
			}
		case plSegment:
			data, d := mg.merge(f.base, f.cur, f.syncedEnd)
			if d != "" {
				fmt.Fprintf(&desc, "; %s: %s", f.name, d)
			}
			out = append(out, plImgFile{f.name, data})
		case plNewFile:
			switch r := rng.IntN(10); {
			case r < 4:
				fmt.Fprintf(&desc, "; new %s missing", f.name)
			case r < 5:
				fmt.Fprintf(&desc, "; new %s empty", f.name)
				out = append(out, plImgFile{f.name, nil})
			default:
				data, d := mg.merge(make([]byte, len(f.cur)), f.cur, 0)
				fmt.Fprintf(&desc, "; new %s: %s", f.name, d)
				out = append(out, plImgFile{f.name, data})
			}
		case plRenamed:
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&desc, "; renamed %s missing", f.name)
				continue
			}
			out = append(out, plImgFile{f.name, f.cur})
		case plRemovedF:
			if f.order < gone {
				fmt.Fprintf(&desc, "; removed %s gone", f.name)
				continue
			}
			data, d := mg.merge(f.base, f.cur, f.syncedEnd)
			fmt.Fprintf(&desc, "; removed %s back: %s", f.name, d)
			out = append(out, plImgFile{f.name, data})
		}
	}
	return out, desc.String()
}

// plMerger applies one crash model to the files of one image.
type plMerger struct {
	rng   *rand.Rand
	model plModel
	all   bool    // FDB: this crash keeps every write
	keep  float64 // pebble: survival probability of a block
	// FDB: the probabilities of kept / dropped (the rest: corrupted)
	pKept, pDrop float64
}

func newPLMerger(rng *rand.Rand, model plModel) *plMerger {
	m := &plMerger{rng: rng, model: model}
	switch model {
	case plFDB:
		m.all = rng.IntN(10) == 0
		m.pKept, m.pDrop = rng.Float64()*0.6, rng.Float64()*0.6
		if m.pKept+m.pDrop > 0.9 {
			m.pKept, m.pDrop = m.pKept/2, m.pDrop/2
		}
	case plPebble:
		m.keep = []float64{0, 0.1, 0.5, 0.9, 1}[rng.IntN(5)]
	}
	return m
}

func (m *plMerger) String() string {
	if m.model == plPebble {
		return fmt.Sprintf("pebble p=%.0f%%", m.keep*100)
	}
	if m.all {
		return "FoundationDB all-durable"
	}
	return fmt.Sprintf("FoundationDB kept %.0f%% dropped %.0f%%", m.pKept*100, m.pDrop*100)
}

// merge returns base with some of the sectors in which cur differs, and a
// short description of what it did.
func (m *plMerger) merge(base, cur []byte, syncedEnd int64) ([]byte, string) {
	if len(base) != len(cur) {
		b := make([]byte, len(cur))
		copy(b, base)
		base = b
	}
	out := bytes.Clone(base)
	var kept, dropped, garbage int
	for p := 0; p < len(cur); p += plPage {
		pe := min(p+plPage, len(cur))
		if bytes.Equal(base[p:pe], cur[p:pe]) {
			continue
		}
		action := 0 // 0 kept, 1 dropped, 2 corrupted
		switch m.model {
		case plPebble:
			if m.rng.Float64() >= m.keep {
				action = 1
			}
		case plFDB:
			if !m.all {
				switch x := m.rng.Float64(); {
				case x < m.pKept:
				case x < m.pKept+m.pDrop:
					action = 1
				default:
					action = 2
				}
			}
		}
		for s := p; s < pe; s += plSector {
			se := min(s+plSector, pe)
			if bytes.Equal(base[s:se], cur[s:se]) {
				continue
			}
			a := action
			if a == 2 {
				a = m.rng.IntN(3)
				if a == 2 && int64(s) < syncedEnd {
					a = m.rng.IntN(2) // holds synced bytes: old or new, never garbage
				}
			}
			switch a {
			case 0:
				copy(out[s:se], cur[s:se])
				kept++
			case 1:
				dropped++
			case 2:
				garbage++
				m.garble(out[s:se], cur[s:se])
			}
		}
	}
	if kept+dropped+garbage == 0 {
		return out, ""
	}
	return out, fmt.Sprintf("%d sectors new, %d old, %d garbage", kept, dropped, garbage)
}

// garble fills a sector with garbage: whole, or torn with the new bytes on
// one side.
func (m *plMerger) garble(out, cur []byte) {
	junk := make([]byte, len(out))
	for i := range junk {
		junk[i] = byte(m.rng.Uint32())
	}
	cut := m.rng.IntN(len(out) + 1)
	switch m.rng.IntN(3) {
	case 0:
		copy(out, junk)
	case 1:
		copy(out[:cut], junk[:cut])
		copy(out[cut:], cur[cut:])
	default:
		copy(out[:cut], cur[:cut])
		copy(out[cut:], junk[cut:])
	}
}

// ----------------------------------------------------------- the workload

// plWorkload runs a family's operations and collects snapshots.
type plWorkload struct {
	t       *testing.T
	rng     *rand.Rand
	dir     string
	opts    Options
	l       *Log
	rec     *plRecorder
	m       plState
	salt    uint32
	batches uint64
	maxRec  int
	pSnap   float64
	snaps   []*plSnap
	maxSnap int
	ops     int
}

func (w *plWorkload) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("power-loss workload (op %d): "+format, append([]any{w.ops}, args...)...)
}

// point is the recorder's crash-point callback: a snapshot, now and then.
func (w *plWorkload) point(where string) {
	p := w.pSnap
	if strings.Contains(where, "to the pool") || strings.Contains(where, "to a segment") {
		p = 1 // the few moves into and out of the pool: every one
	}
	if len(w.snaps) < w.maxSnap && w.rng.Float64() < p {
		w.snaps = append(w.snaps, w.rec.snapshot(fmt.Sprintf("op %d: %s", w.ops, where)))
	}
}

// quiet is a crash point between calls: the background preparation is
// waited for first, so that the snapshot does not depend on its timing.
func (w *plWorkload) quiet(what string) {
	if len(w.snaps) < w.maxSnap && w.rng.Float64() < w.pSnap {
		if w.l != nil {
			waitPrepared(w.l)
		}
		w.snaps = append(w.snaps, w.rec.snapshot(fmt.Sprintf("op %d: after %s", w.ops, what)))
	}
}

// do runs one call whose effect on the model is op: during the call the
// log may be before or after it; once it returns, after it (and, with acks,
// everything is durable).
func (w *plWorkload) do(what string, op crashOp, acks bool, call func() error) {
	w.ops++
	before := w.m
	after := before.apply(op)
	w.rec.setStates(before, after)
	if err := call(); err != nil {
		w.fatalf("%s: %v", what, err)
	}
	switch op.kind {
	case 'f':
		after.minLast = max(after.minLast, op.seq-1)
	case 'k', 'z':
		after.minLast = after.last
	}
	if acks {
		after.acked, after.minLast = len(after.recs), after.last
	}
	w.m = after
	w.rec.setStates(w.m)
	if w.l.LastSeq() != w.m.last {
		w.fatalf("%s: LastSeq %d, model %d", what, w.l.LastSeq(), w.m.last)
	}
	w.quiet(what)
}

// apply is crashState.apply with the acknowledgements carried along.
func (st plState) apply(op crashOp) plState {
	cs := crashState{st.recs, st.last}.apply(op)
	out := plState{recs: cs.recs, last: cs.last, acked: st.acked, minLast: st.minLast}
	switch op.kind {
	case 'f':
		out.acked = max(0, st.acked-(len(st.recs)-len(cs.recs)))
	case 'k':
		// TruncateBack may lower LastSeq below what was durable.
		out.acked, out.minLast = min(st.acked, len(cs.recs)), min(st.minLast, cs.last)
	case 'z':
		// Reset drops every record and may lower LastSeq.
		out.acked, out.minLast = 0, min(st.minLast, cs.last)
	}
	return out
}

func (w *plWorkload) open() {
	w.rec.setStates(w.m)
	l, err := Open(w.dir, &w.opts)
	if err != nil {
		w.fatalf("Open: %v", err)
	}
	w.l = l
	if l.LastSeq() != w.m.last {
		w.fatalf("reopen: LastSeq %d, model %d", l.LastSeq(), w.m.last)
	}
}

func (w *plWorkload) size() int {
	switch r := w.rng.IntN(100); {
	case r < 5:
		return 0
	case r < 60:
		return w.rng.IntN(300)
	case r < 90:
		return w.rng.IntN(2500)
	default:
		return w.rng.IntN(w.maxRec + 1)
	}
}

func (w *plWorkload) payload(seq uint64, n int) []byte {
	b := make([]byte, n)
	fillPayload(b, seq, w.salt)
	return b
}

func (w *plWorkload) always() bool { return w.opts.Durability == SyncAlways }

func (w *plWorkload) append() {
	n, seq := w.size(), w.m.last+1
	b := w.payload(seq, n)
	w.do("Append", crashOp{kind: 'a', seq: seq, sizes: []int{n}, salt: w.salt}, w.always(), func() error {
		got, err := w.l.Append(b)
		if err == nil && got != seq {
			err = fmt.Errorf("seq %d, want %d", got, seq)
		}
		return err
	})
}

func (w *plWorkload) appendSeq() {
	n, seq := w.size(), w.m.last+2+uint64(w.rng.IntN(6))
	b := w.payload(seq, n)
	w.do("AppendSeq", crashOp{kind: 'a', seq: seq, sizes: []int{n}, salt: w.salt}, w.always(), func() error {
		return w.l.AppendSeq(seq, b)
	})
}

func (w *plWorkload) batch() {
	n := 2 + w.rng.IntN(8)
	sizes := make([]int, n)
	total := 0
	for i := range sizes {
		sizes[i] = w.rng.IntN(400)
		if w.rng.IntN(6) == 0 {
			sizes[i] = w.rng.IntN(w.maxRec/n + 1)
		}
		total += crcframe.Size(sizes[i])
	}
	for int64(total) > w.opts.SegmentSize-segment.HeaderSize {
		total = 0
		for i := range sizes {
			sizes[i] /= 2
			total += crcframe.Size(sizes[i])
		}
	}
	first := w.m.last + 1
	gap := w.rng.IntN(5) == 0
	if gap {
		first += 1 + uint64(w.rng.IntN(4))
	}
	recs := make([][]byte, n)
	for i, s := range sizes {
		recs[i] = w.payload(first+uint64(i), s)
	}
	w.batches++
	op := crashOp{kind: 'b', seq: first, sizes: sizes, salt: w.salt, batch: w.batches}
	w.do("AppendBatch", op, w.always(), func() error {
		if gap {
			return w.l.AppendBatchSeq(first, recs)
		}
		got, err := w.l.AppendBatch(recs)
		if err == nil && got != first {
			err = fmt.Errorf("first %d, want %d", got, first)
		}
		return err
	})
}

func (w *plWorkload) reserve(commit bool) {
	n, seq := w.size(), w.m.last+1
	if !commit {
		w.do("Reserve+Abort", crashOp{kind: 'x'}, false, func() error {
			r, err := w.l.Reserve(n)
			if err != nil {
				return err
			}
			fillPayload(r.Bytes(), seq, w.salt)
			r.Abort()
			return nil
		})
		return
	}
	w.do("Reserve+Commit", crashOp{kind: 'r', seq: seq, sizes: []int{n}, salt: w.salt}, w.always(), func() error {
		r, err := w.l.Reserve(n)
		if err != nil {
			return err
		}
		fillPayload(r.Bytes(), seq, w.salt)
		got, err := r.Commit()
		if err == nil && got != seq {
			err = fmt.Errorf("seq %d, want %d", got, seq)
		}
		return err
	})
}

func (w *plWorkload) sync() {
	w.do("Sync", crashOp{kind: 's'}, true, w.l.Sync)
}

// held is the number of sequences between FirstSeq and LastSeq.
func (w *plWorkload) held() uint64 {
	first, last := w.l.FirstSeq(), w.l.LastSeq()
	if first == 0 || first > last {
		return 0
	}
	return last - first + 1
}

func (w *plWorkload) truncateFront() {
	first := w.l.FirstSeq()
	h := w.held()
	if h == 0 {
		return
	}
	s := first + uint64(w.rng.IntN(int(h)+1))
	if len(w.l.segments()) > 3 {
		s = max(first, w.l.LastSeq()-min(w.l.LastSeq(), uint64(w.rng.IntN(30))))
	}
	w.do(fmt.Sprintf("TruncateFront(%d)", s), crashOp{kind: 'f', seq: s}, false, func() error { return w.l.TruncateFront(s) })
}

func (w *plWorkload) truncateBack() {
	h := w.held()
	if h < 2 {
		return
	}
	s := w.l.LastSeq() - 1 - uint64(w.rng.IntN(int(min(h-1, 40))))
	w.do(fmt.Sprintf("TruncateBack(%d)", s), crashOp{kind: 'k', seq: s}, false, func() error { return w.l.TruncateBack(s) })
	w.salt++ // records appended from here on are told apart from the dropped ones
}

// reset drops every record and restarts below, at or above LastSeq+1.
func (w *plWorkload) reset() {
	next := 1 + uint64(w.rng.IntN(int(w.l.LastSeq())+30))
	w.do(fmt.Sprintf("Reset(%d)", next), crashOp{kind: 'z', seq: next}, false, func() error { return w.l.Reset(next) })
	w.salt++ // records appended from here on are told apart from the dropped ones
}

// reopen closes the log cleanly (everything becomes durable) and opens it
// again.
func (w *plWorkload) reopen() {
	w.ops++
	after := w.m
	after.acked, after.minLast = len(after.recs), after.last
	w.rec.setStates(w.m, after)
	if err := w.l.Close(); err != nil {
		w.fatalf("Close: %v", err)
	}
	w.m = after
	w.open()
	w.quiet("Close and Open")
}

// crashRestart kills the process between calls and starts it again in the
// same boot: the page cache survives with every unsynced byte, so the new
// process sees the whole log, while the disk still holds only what was
// synced (the recorder's durable images) until the restarted Open has
// flushed the tail. A power cut may come at any point after.
func (w *plWorkload) crashRestart() {
	w.ops++
	waitPrepared(w.l)
	crashRelease(w.l)
	w.restart("a crash and a restart")
}

// crashInClose is a process killed inside Close between storing the durable
// mark and flushing it, then restarted in the same boot: the mark is in the
// page cache only, and the records after the restart must not lean on it.
func (w *plWorkload) crashInClose() {
	w.ops++
	if err := closeKilledBeforeMarkFlush(w.l); err != nil {
		w.fatalf("Close up to its mark: %v", err)
	}
	w.m.acked, w.m.minLast = len(w.m.recs), w.m.last // Close flushed the records
	w.rec.setStates(w.m)
	w.quiet("Close killed before the flush of its mark")
	waitPrepared(w.l)
	crashRelease(w.l)
	w.restart("a crash inside Close and a restart")
}

// crashInTruncateBack is a process killed inside TruncateBack at its first
// msync — the redo record durable in META, the cut tail zeroed in the page
// cache only — then restarted in the same boot: the restarted Open
// finishes the cut from the redo record and must make it durable whatever
// the page cache shows (the disk may still hold the cut frames).
func (w *plWorkload) crashInTruncateBack() {
	h := w.held()
	if h < 2 {
		return
	}
	s := w.l.LastSeq() - 1 - uint64(w.rng.IntN(int(min(h-1, 40))))
	w.ops++
	after := w.m.apply(crashOp{kind: 'k', seq: s})
	w.rec.setStates(w.m, after)
	// Without an msync (nothing left to zero) the call completed: a crash
	// right after it.
	w.killAt(sysutil.OpMsync, 1, nil, func() error { return w.l.TruncateBack(s) })
	w.salt++
	w.m = after // the redo record was durable before the first msync
	w.rec.setStates(w.m)
	w.quiet("TruncateBack killed at its flush")
	waitPrepared(w.l)
	crashRelease(w.l)
	w.restart("a crash inside TruncateBack and a restart")
}

// crashInOrphanClose is a process killed inside a Close that found a
// reservation open (writeMarkThrough), at the flush of the records or at
// the flush of the mark, then restarted in the same boot: a mark in the
// page cache must never stand in front of records that are not on the
// disk. The reservation leaves no record.
func (w *plWorkload) crashInOrphanClose() {
	w.ops++
	n, seq := w.size(), w.m.last+1
	r, err := w.l.Reserve(n)
	if err != nil {
		w.fatalf("Reserve: %v", err)
	}
	fillPayload(r.Bytes(), seq, w.salt)
	after := w.m
	after.acked, after.minLast = len(after.recs), after.last
	w.rec.setStates(w.m, after)
	segFile := func(path string) bool { return isSegmentName(filepath.Base(path)) }
	killed := w.killAt(sysutil.OpFdatasync, 1+w.rng.IntN(2), segFile, w.l.Close)
	r.Abort() // the holder lets go
	if !killed {
		// One flush only (no record, no mark): Close finished.
		w.m = after
		w.open()
		w.quiet("Close with an open reservation and Open")
		return
	}
	w.quiet("Close with an open reservation killed at a flush")
	w.restart("a crash inside Close with an open reservation and a restart")
}

// killAt runs call with the n-th call of op (from 1) on the workload's
// goroutine, whose path matches (nil: any), failing with EIO: it stands
// for a kill of the process at that syscall, after which the call writes
// nothing more to the log's files. A killed process reports nothing, so
// the poisoning the EIO caused is forgotten (a restart in the same boot
// knows nothing of it). It reports whether the call reached the op; if it
// did not, call must have succeeded.
func (w *plWorkload) killAt(op sysutil.Op, n int, match func(path string) bool, call func() error) bool {
	var seen atomic.Int32
	var killed atomic.Bool
	restore := sysutil.SetFault(func(o sysutil.Op, path string) error {
		if r := plCurrent.Load(); r != nil && r.active.Load() {
			r.observe(o, path) // the recorder's hook, which this one replaces
		}
		if o == op && (match == nil || match(path)) && goroutineID() == w.rec.gid && int(seen.Add(1)) == n {
			killed.Store(true)
			return syscall.EIO
		}
		return nil
	})
	err := call()
	restore()
	if !killed.Load() {
		if err != nil {
			w.fatalf("%v not reached, and the call failed: %v", op, err)
		}
		return false
	}
	if abs, err := filepath.Abs(w.dir); err == nil {
		poisonedDirs.Delete(abs)
	}
	return true
}

// restart opens the log after a process crash: during the Open the unsynced
// records may still be lost to a power cut; once it returns, it flushed them.
func (w *plWorkload) restart(what string) {
	before := w.m
	after := before
	after.acked, after.minLast = len(after.recs), after.last
	w.rec.setStates(before, after)
	l, err := Open(w.dir, &w.opts)
	if err != nil {
		w.fatalf("Open after %s: %v", what, err)
	}
	w.l, w.m = l, after
	w.rec.setStates(w.m)
	if l.LastSeq() != w.m.last {
		w.fatalf("Open after %s: LastSeq %d, model %d", what, l.LastSeq(), w.m.last)
	}
	w.quiet(what)
}

// plFamily is one workload.
type plFamily struct {
	name string
	mode func(rng *rand.Rand) Durability
	step func(w *plWorkload)
}

func plManual(*rand.Rand) Durability { return SyncManual }
func plMostlyManual(rng *rand.Rand) Durability {
	if rng.IntN(3) == 0 {
		return SyncAlways
	}
	return SyncManual
}

var (
	plAppends = plFamily{"appends", plMostlyManual, func(w *plWorkload) {
		// single appends, several between syncs, rotating often
		for range 1 + w.rng.IntN(20) {
			w.append()
		}
		w.sync()
	}}
	plBatches = plFamily{"batches", plMostlyManual, func(w *plWorkload) {
		for range 1 + w.rng.IntN(4) {
			if w.rng.IntN(4) == 0 {
				w.append()
			} else {
				w.batch()
			}
		}
		w.sync()
	}}
	plTruncations = plFamily{"truncations", plManual, func(w *plWorkload) {
		// unsynced appends, then a truncation, then more, then a sync
		for range w.rng.IntN(12) {
			if w.rng.IntN(3) == 0 {
				w.batch()
			} else {
				w.append()
			}
		}
		switch w.rng.IntN(5) {
		case 0:
			w.reset()
		case 1, 2:
			w.truncateBack()
		default:
			w.truncateFront()
		}
		for range w.rng.IntN(6) {
			w.append()
		}
		if w.rng.IntN(3) != 0 {
			w.sync()
		}
	}}
	plMixed = plFamily{"mixed", plMostlyManual, func(w *plWorkload) {
		switch r := w.rng.IntN(100); {
		case r < 30:
			w.append()
		case r < 40:
			w.appendSeq()
		case r < 55:
			w.batch()
		case r < 65:
			w.reserve(true)
		case r < 70:
			w.reserve(false)
		case r < 75:
			w.truncateFront()
		case r < 80:
			w.truncateBack()
		case r < 82:
			w.reset()
		case r < 85:
			w.reopen()
		default:
			w.sync()
		}
	}}
	// plRestarts: process crashes and restarts in the same boot (the page
	// cache survives, unsynced bytes included), kills inside Close, then
	// more work; the power cut comes at any crash point after.
	plRestarts = plFamily{"restarts", plMostlyManual, func(w *plWorkload) {
		switch r := w.rng.IntN(100); {
		case r < 40:
			w.append()
		case r < 55:
			w.batch()
		case r < 60:
			w.truncateBack()
		case r < 63:
			w.reset()
		case r < 68:
			w.crashRestart()
		case r < 72:
			w.crashInClose()
		case r < 76:
			w.crashInTruncateBack()
		case r < 80:
			w.crashInOrphanClose()
		case r < 83:
			w.reopen()
		default:
			w.sync()
		}
	}}
)

// The recycling families (FORMAT.md §9.7): the mixed and restarts
// workloads with a pool of 3 files, so that TruncateFront (after every
// step that leaves more than 3 segments) pools files and rotations reuse
// them: the power cut comes at every crash point of a rotation into a
// recycled segment (before the pool file's rename, before the directory
// sync after it, the flushes of its frames) and of a move into the pool.
var (
	plRecycledMixed    = plFamily{"recycled-mixed", plMostlyManual, plMixed.step}
	plRecycledRestarts = plFamily{"recycled-restarts", plMostlyManual, plRestarts.step}
	plRecycles         = map[string]int{plRecycledMixed.name: 3, plRecycledRestarts.name: 3}
)

// runWorkload runs one workload in dir and returns its snapshots.
func runPLWorkload(t *testing.T, fam plFamily, seed uint64, dir string, maxSnap int) []*plSnap {
	rng := rand.New(rand.NewPCG(seed, 0x706c))
	segSize := []int64{4 << 10, 8 << 10, 16 << 10}[rng.IntN(3)]
	w := &plWorkload{
		t: t, rng: rng, dir: dir,
		opts:    Options{SegmentSize: segSize, Durability: fam.mode(rng), RecycleSegments: plRecycles[fam.name]},
		maxRec:  maxPayloadIn(segSize),
		maxSnap: maxSnap,
		salt:    uint32(seed),
	}
	w.rec = newPLRecorder(dir)
	w.rec.gid = goroutineID()
	w.rec.point = w.point
	w.pSnap = 0.25
	plCurrent.Store(w.rec)
	w.rec.active.Store(true)
	defer w.rec.active.Store(false)
	w.open()
	for w.ops < 400 && len(w.snaps) < maxSnap {
		fam.step(w)
		if len(w.l.segments()) > 3 || w.opts.RecycleSegments > 0 && len(w.l.segments()) > 2 {
			w.truncateFront()
		}
	}
	w.rec.active.Store(false)
	waitPrepared(w.l)
	crashRelease(w.l)
	if plRecycles[fam.name] > 0 {
		n := 0
		for _, s := range w.snaps {
			if strings.Contains(s.where, "to a segment") || strings.Contains(s.where, "to the pool") {
				n++
			}
		}
		plRecycleSnaps.Add(int64(n))
	}
	return w.snaps
}

// plRecycleSnaps counts the crash points taken at a move into the pool or
// out of it, for TestPowerLossRecycled to require some.
var plRecycleSnaps atomic.Int64

// ------------------------------------------------------------- the checks

// plResult is what the check of one image saw.
type plResult struct {
	strictRan, strictRefused   bool
	torn, finished             bool // TruncatePartial cut a torn tail, finished a TruncateBack
	keptUnsynced, lostUnsynced bool
}

// plOptions are the options of the checks' opens.
var plOptions = Options{SegmentSize: 8 << 10, Durability: SyncManual}

// plCheck checks one image in dir: Strict (when asked), TruncatePartial,
// then a second open after a crash right after that recovery.
func plCheck(dir string, img []plImgFile, snap *plSnap, strict bool) (res plResult, err error) {
	if err := plWriteImage(dir, img); err != nil {
		return res, err
	}
	var strictGot []grec
	if strict {
		res.strictRan = true
		if strictGot, res.strictRefused, err = plCheckStrict(dir, img, snap); err != nil {
			return res, err
		}
		if !res.strictRefused { // the open changed the directory: start again
			if err := plWriteImage(dir, img); err != nil {
				return res, err
			}
		}
	}
	o := plOptions
	l, err := Open(dir, &o)
	if err != nil {
		return res, fmt.Errorf("TruncatePartial open: %v", err)
	}
	rep := l.Recovery()
	got, err := readAllRecords(l)
	first, last := l.FirstSeq(), l.LastSeq()
	crashRelease(l)
	if err != nil {
		return res, fmt.Errorf("reading the recovered log: %v", err)
	}
	i, why := plMatch(got, last, snap.states)
	if why != "" {
		return res, fmt.Errorf("recovered log (torn tail %+v): %s", rep.TornTail, why)
	}
	if !firstSeqOK(first, got, last) {
		return res, fmt.Errorf("FirstSeq %d, want %d (LastSeq %d, %d records)", first, firstSeqFor(got, last), last, len(got))
	}
	res.torn, res.finished = rep.TornTail != nil, rep.FinishedTruncation
	res.keptUnsynced = len(got) > snap.states[i].acked
	res.lostUnsynced = len(got) < len(snap.states[i].recs)
	if strict && !res.strictRefused {
		if rep.TornTail != nil {
			return res, fmt.Errorf("Strict opened the log, TruncatePartial then cut a torn tail %+v", *rep.TornTail)
		}
		if !plSameRecords(got, strictGot) {
			return res, fmt.Errorf("Strict and TruncatePartial recovered different logs (%d vs %d records)", len(strictGot), len(got))
		}
	}
	return res, plCheckReopen(dir, got, first, last)
}

// plCheckStrict opens the image under Strict: it must open (and hold a state
// of the snapshot), or refuse with a torn tail and change nothing.
func plCheckStrict(dir string, img []plImgFile, snap *plSnap) (got []grec, refused bool, err error) {
	o := plOptions
	o.Repair = Strict
	l, err := Open(dir, &o)
	if err != nil {
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.Reason != ReasonTornTail || ce.Durable {
			return nil, true, fmt.Errorf("Strict open: %v (want success or a torn tail)", err)
		}
		if !plHasRedo(img) { // finishing a TruncateBack is no repair
			if err := plSameAsImage(dir, img); err != nil {
				return nil, true, fmt.Errorf("Strict refused the log (%v) but changed the directory: %v", ce, err)
			}
		}
		return nil, true, nil
	}
	defer crashRelease(l)
	got, err = readAllRecords(l)
	if err != nil {
		return nil, false, fmt.Errorf("Strict open: reading: %v", err)
	}
	if _, why := plMatch(got, l.LastSeq(), snap.states); why != "" {
		return nil, false, fmt.Errorf("Strict open: %s", why)
	}
	return got, false, nil
}

// plCheckReopen opens the recovered directory again, as after a crash right
// after the first recovery: the same log, nothing repaired, and it takes
// the next append.
func plCheckReopen(dir string, got []grec, first, last uint64) error {
	o := plOptions
	l, err := Open(dir, &o)
	if err != nil {
		return fmt.Errorf("second open: %v", err)
	}
	defer l.Close()
	rep := l.Recovery()
	if rep.TornTail != nil || rep.FinishedTruncation || rep.Corruption != nil {
		return fmt.Errorf("second open repaired again: torn tail %+v, finished truncation %v, corruption %v", rep.TornTail, rep.FinishedTruncation, rep.Corruption)
	}
	got2, err := readAllRecords(l)
	if err != nil {
		return fmt.Errorf("second open: reading: %v", err)
	}
	if !plSameRecords(got, got2) || l.FirstSeq() != first || l.LastSeq() != last {
		return fmt.Errorf("second open: %d records %d..%d, first open: %d records %d..%d", len(got2), l.FirstSeq(), l.LastSeq(), len(got), first, last)
	}
	if seq, err := l.Append([]byte("after the crash")); err != nil || seq != last+1 {
		return fmt.Errorf("append after recovery: seq %d (want %d): %v", seq, last+1, err)
	}
	return nil
}

// plMatch checks a recovered log against the states of a snapshot; it
// returns the matching state or why none matches.
func plMatch(got []grec, last uint64, states []plState) (int, string) {
	lo, hi := uint64(1<<63), uint64(0)
	for _, s := range states {
		lo, hi = min(lo, s.minLast), max(hi, s.last)
	}
	var lastRec uint64
	if len(got) > 0 {
		lastRec = got[len(got)-1].seq
	}
	if last < lastRec || last < lo || last > hi {
		return -1, fmt.Sprintf("LastSeq %d: want within [max(last record %d, %d), %d]", last, lastRec, lo, hi)
	}
	for i, s := range states {
		k := len(got)
		if k >= s.acked && k <= len(s.recs) && commonPrefix(got, s.recs) == k && !splitsBatch(s.recs, k) {
			return i, ""
		}
	}
	var sb strings.Builder
	for i, s := range states {
		k := commonPrefix(got, s.recs)
		fmt.Fprintf(&sb, "[state %d: %d records, %d acknowledged: %s", i, len(s.recs), s.acked, describeMismatch(got, s.recs))
		if k < s.acked && k == len(got) {
			fmt.Fprintf(&sb, "; ACKNOWLEDGED record %v lost", s.recs[k])
		}
		if k == len(got) && splitsBatch(s.recs, k) {
			fmt.Fprintf(&sb, "; the log ends inside batch %d", s.recs[k].batch)
		}
		sb.WriteString("] ")
	}
	return -1, sb.String()
}

func plSameRecords(a, b []grec) bool {
	return slices.EqualFunc(a, b, func(x, y grec) bool { return x.seq == y.seq && bytes.Equal(x.data, y.data) })
}

func plWriteImage(dir string, img []plImgFile) error {
	if err := emptyDir(dir); err != nil {
		return err
	}
	for _, f := range img {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// plHasRedo reports whether the image's META holds a TruncateBack redo
// record (which any open, Strict included, finishes first).
func plHasRedo(img []plImgFile) bool {
	for _, f := range img {
		if f.name == metaName && len(f.data) == metaSize {
			return binary.LittleEndian.Uint64(f.data[40:]) != 0
		}
	}
	return false
}

// plSameAsImage reports how dir differs from the image (META.tmp and LOCK
// aside: Open may remove the one and creates the other).
func plSameAsImage(dir string, img []plImgFile) error {
	want := map[string][]byte{}
	for _, f := range img {
		if f.name != metaTmpName {
			want[f.name] = f.data
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if name == lockName || name == controlName || name == metaTmpName {
			continue
		}
		w, ok := want[name]
		if !ok {
			return fmt.Errorf("%s appeared", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, w) {
			return fmt.Errorf("%s changed", name)
		}
		delete(want, name)
	}
	for name := range want {
		return fmt.Errorf("%s disappeared", name)
	}
	return nil
}

// ------------------------------------------------------------- the driver

// plStats counts what a power-loss test explored.
type plStats struct {
	images, snaps, runs, dups  atomic.Int64
	strictTorn, strictOK       atomic.Int64
	torn, finished             atomic.Int64
	byModel                    [2]atomic.Int64
	inCall                     atomic.Int64
	lostUnsynced, keptUnsynced atomic.Int64
	workTime                   time.Duration // phase 1
}

func (st *plStats) add(model plModel, snap *plSnap, res plResult) {
	st.images.Add(1)
	st.byModel[model].Add(1)
	if strings.Contains(snap.where, ": before") || strings.Contains(snap.where, ": after a flush") {
		st.inCall.Add(1)
	}
	switch {
	case res.strictRefused:
		st.strictTorn.Add(1)
	case res.strictRan:
		st.strictOK.Add(1)
	}
	if res.torn {
		st.torn.Add(1)
	}
	if res.finished {
		st.finished.Add(1)
	}
	if res.keptUnsynced {
		st.keptUnsynced.Add(1)
	}
	if res.lostUnsynced {
		st.lostUnsynced.Add(1)
	}
}

// plHashImage hashes an image's file names and bytes.
func plHashImage(files []plImgFile) uint64 {
	var h maphash.Hash
	h.SetSeed(plHashSeed)
	for _, f := range files {
		h.WriteString(f.name)
		h.WriteByte(0)
		h.Write(f.data)
		h.WriteByte(1)
	}
	return h.Sum64()
}

var plHashSeed = maphash.MakeSeed()

// runPowerLoss runs a family's workloads until it has checked states
// distinct images.
func runPowerLoss(t *testing.T, fam plFamily) {
	states := 520
	if tortureMode() {
		states = 250_000
	}
	runPowerLossIn(t, fam, fastTempDir(t), states)
}

// runPowerLossIn runs runPowerLoss's check of states images
// (MMAPWAL_POWERLOSS_STATES overrides) in directories under root.
func runPowerLossIn(t *testing.T, fam plFamily, root string, states int) {
	seed := testSeed(t)
	states = envCount(t, "MMAPWAL_POWERLOSS_STATES", states)
	installPLHooks(t)
	d := &plDriver{t: t, fam: fam, seed: seed, root: root, workers: max(1, runtime.GOMAXPROCS(0))}
	start := time.Now()
	for run := 0; d.st.images.Load() < int64(states) && d.failures.Load() == 0; run++ {
		wdir := filepath.Join(d.root, fmt.Sprintf("run%d", run))
		if err := os.MkdirAll(wdir, 0o755); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		snaps := runPLWorkload(t, fam, mix(seed, fam.name, run), wdir, 300)
		d.st.workTime += time.Since(t0)
		os.RemoveAll(wdir)
		d.st.runs.Add(1)
		d.st.snaps.Add(int64(len(snaps)))
		if len(snaps) > 0 {
			left := int64(states) - d.st.images.Load()
			per := (left + int64(len(snaps)) - 1) / int64(len(snaps))
			d.checkRun(run, snaps, int(min(max(per, 1), 40)))
		}
	}
	st := &d.st
	t.Logf("%s: %d distinct crash images checked in %v (%d FoundationDB, %d pebble; %d at crash points inside a call; %d duplicates skipped) "+
		"from %d snapshots of %d workload runs (the workloads took %v)",
		fam.name, st.images.Load(), time.Since(start).Round(time.Millisecond), st.byModel[plFDB].Load(), st.byModel[plPebble].Load(),
		st.inCall.Load(), st.dups.Load(), st.snaps.Load(), st.runs.Load(), st.workTime.Round(time.Millisecond))
	t.Logf("%s: Strict opened %d, refused %d (torn tail); TruncatePartial cut %d torn tails, finished %d TruncateBacks; "+
		"%d images kept some unsynced records, %d lost some",
		fam.name, st.strictOK.Load(), st.strictTorn.Load(), st.torn.Load(), st.finished.Load(), st.keptUnsynced.Load(), st.lostUnsynced.Load())
}

// plDriver checks the images of a family's snapshots on parallel workers.
type plDriver struct {
	t        *testing.T
	fam      plFamily
	seed     uint64
	root     string
	workers  int
	st       plStats
	failures atomic.Int64
}

// plJob is one image to check.
type plJob struct {
	snap, img int
	model     plModel
	files     []plImgFile
	desc      string
}

// checkRun builds up to per distinct images of each snapshot of a run and
// checks them.
func (d *plDriver) checkRun(run int, snaps []*plSnap, per int) {
	runSeed := mix(d.seed, d.fam.name, run)
	jobs := make(chan plJob, d.workers*4)
	var wg sync.WaitGroup
	for wk := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idir := filepath.Join(d.root, fmt.Sprintf("img%d", wk))
			for j := range jobs {
				if d.failures.Load() == 0 {
					d.check(run, snaps[j.snap], j, idir)
				}
			}
		}()
	}
	// Images are built here, one snapshot after the other; an image equal
	// to one already made from the same snapshot is skipped.
	for i, snap := range snaps {
		seen := map[uint64]bool{}
		made := 0
		for k := 0; made < per && k < 2*per+4; k++ {
			rng := rand.New(rand.NewPCG(mix(runSeed, "image", i, k), 1))
			model := plModel(k % 2)
			files, desc := snap.build(rng, model)
			h := plHashImage(files)
			if seen[h] {
				d.st.dups.Add(1)
				continue
			}
			seen[h] = true
			made++
			jobs <- plJob{i, k, model, files, desc}
		}
	}
	close(jobs)
	wg.Wait()
	// Every log the checks opened was closed or crash-released: a leak
	// here would also keep its index and mappings (torture runs open
	// millions).
	if n := runtime.NumGoroutine(); n > 200 {
		d.t.Fatalf("%d goroutines after checking the images of run %d: a Log leaks", n, run)
	}
}

// check checks one image; the first failure is reported with the image,
// which is kept on disk.
func (d *plDriver) check(run int, snap *plSnap, j plJob, dir string) {
	strict := (j.img/2)%2 == 0 || !tortureMode() // torture: half the images, of both models
	res, err := plCheck(dir, j.files, snap, strict)
	if err == nil {
		d.st.add(j.model, snap, res)
		return
	}
	if d.failures.Add(1) == 1 {
		keep, _ := os.MkdirTemp("", "mmapwal-powerloss-fail-")
		plWriteImage(keep, j.files)
		d.t.Errorf("seed %d, %s workload run %d, crash point %d (%s), image %d [%s]:\n%v\nimage kept in %s",
			d.seed, d.fam.name, run, j.snap, snap.where, j.img, j.desc, err, keep)
	}
}

func TestPowerLossAppends(t *testing.T)     { runPowerLoss(t, plAppends) }
func TestPowerLossBatches(t *testing.T)     { runPowerLoss(t, plBatches) }
func TestPowerLossTruncations(t *testing.T) { runPowerLoss(t, plTruncations) }
func TestPowerLossMixed(t *testing.T)       { runPowerLoss(t, plMixed) }
func TestPowerLossRestarts(t *testing.T)    { runPowerLoss(t, plRestarts) }

// TestPowerLossRecycled runs the mixed and restarts workloads over a log
// that recycles segments, and checks that no image recovers a stale frame,
// loses an acknowledged record or finds durable damage.
func TestPowerLossRecycled(t *testing.T) {
	for _, fam := range []plFamily{plRecycledMixed, plRecycledRestarts} {
		t.Run(fam.name, func(t *testing.T) {
			before := plRecycleSnaps.Load()
			runPowerLoss(t, fam)
			n := plRecycleSnaps.Load() - before
			t.Logf("%d crash points at a move into or out of the pool", n)
			if n == 0 {
				t.Fatal("no crash point at a move into or out of the pool: the workload does not recycle")
			}
		})
	}
}

// TestPowerLossXFS runs the mixed workload, and checks its images, on a
// loop-mounted xfs: 520 images by default, 20,000 with MMAPWAL_TORTURE=1.
func TestPowerLossXFS(t *testing.T) {
	states := 520
	if tortureMode() {
		states = 20_000
	}
	runPowerLossIn(t, plMixed, mountLoopFS(t, "xfs", 300), states)
}

// TestPowerLossTornCreation is the regression test of crash states the
// generator found: power was cut while the segment after the active one was
// being prepared, so that the new file's only written sector (its header's)
// holds garbage — instead of the header, or after an intact prepared header
// — while the active segment ends in a torn tail. Recovery must see a
// creation that never completed (the file never held a record), not a
// sealed segment with a damaged end: it cuts the torn tail and goes on.
func TestPowerLossTornCreation(t *testing.T) {
	garble := func(b []byte) {
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
	}
	cases := []struct {
		name string
		tear func(b []byte) // b: the prepared segment, header and zeros
	}{
		{"zeros", func(b []byte) { clear(b) }},
		{"garbage header", func(b []byte) { clear(b); garble(b[:segment.HeaderSize]) }},
		{"garbage in the header", func(b []byte) { clear(b); garble(b[:100]) }},
		{"garbage sector", func(b []byte) { clear(b); garble(b[:creationSector]) }},
		{"garbage after the header", func(b []byte) { garble(b[segment.HeaderSize:creationSector]) }},
		{"torn after the header", func(b []byte) { garble(b[200:creationSector]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &Options{SegmentSize: 8 << 10, Durability: SyncManual}
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if _, err := l.Append(bytes.Repeat([]byte{byte(i + 1)}, 100)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			end := int64(l.off)
			waitPrepared(l)
			crashRelease(l)
			// The torn tail: half a frame header after the last record.
			f, err := os.OpenFile(filepath.Join(dir, segment.Name(1)), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, end); err != nil {
				t.Fatal(err)
			}
			f.Close()
			// The interrupted creation of segment 2.
			next := filepath.Join(dir, segment.Name(2))
			b, err := os.ReadFile(next)
			if err != nil {
				t.Fatal(err)
			}
			tc.tear(b)
			if err := os.WriteFile(next, b, 0o644); err != nil {
				t.Fatal(err)
			}
			so := *opts
			so.Repair = Strict
			if l, err := Open(dir, &so); err == nil {
				l.Close()
				t.Fatal("Strict opened a log with a torn tail")
			} else if ce := (*CorruptionError)(nil); !errors.As(err, &ce) || ce.Reason != ReasonTornTail {
				t.Fatalf("Strict: %v, want a torn tail", err)
			}
			l, err = Open(dir, opts)
			if err != nil {
				t.Fatalf("TruncatePartial: %v", err)
			}
			defer l.Close()
			got, err := readAllRecords(l)
			if err != nil || len(got) != 10 || l.LastSeq() != 10 || l.Recovery().TornTail == nil {
				t.Fatalf("recovery: %d records, LastSeq %d, %v, %+v", len(got), l.LastSeq(), err, l.Recovery())
			}
		})
	}
}

// TestPowerLossDuringRecovery cuts the power a second time while recovery
// repairs a crash image (SQLite's compound failure): the recovery of an
// image from the truncations and mixed workloads — cutting a torn tail,
// finishing a TruncateBack, removing files — runs under the recorder, with
// the image as the durable state, and the crash points inside it become
// snapshots whose images must satisfy the original crash point's states.
//
// Sizes: 300 distinct images by default, 50,000 with MMAPWAL_TORTURE=1;
// MMAPWAL_POWERLOSS_RECOVERY_STATES overrides both.
func TestPowerLossDuringRecovery(t *testing.T) {
	seed := testSeed(t)
	states := 300
	if tortureMode() {
		states = 50_000
	}
	states = envCount(t, "MMAPWAL_POWERLOSS_RECOVERY_STATES", states)
	installPLHooks(t)
	d := &plDriver{t: t, fam: plFamily{name: "recovery"}, seed: seed, root: fastTempDir(t), workers: max(1, runtime.GOMAXPROCS(0))}
	start := time.Now()
	for run := 0; d.st.images.Load() < int64(states) && d.failures.Load() == 0; run++ {
		wdir := filepath.Join(d.root, fmt.Sprintf("run%d", run))
		if err := os.MkdirAll(wdir, 0o755); err != nil {
			t.Fatal(err)
		}
		src := []plFamily{plTruncations, plMixed}[run%2]
		snaps := runPLWorkload(t, src, mix(seed, "source", run), wdir, 300)
		os.RemoveAll(wdir)
		rng := rand.New(rand.NewPCG(mix(seed, "recovery", run), 2))
		var rsnaps []*plSnap
		for i, snap := range snaps {
			files, desc := snap.build(rng, plModel(i%2))
			where := fmt.Sprintf("recovering an image of %s crash point %d (%s) [%s]", src.name, i, snap.where, desc)
			rsnaps = append(rsnaps, plRecordRecovery(t, filepath.Join(d.root, "rec"), files, snap.states, rng, where)...)
		}
		d.st.runs.Add(1)
		d.st.snaps.Add(int64(len(rsnaps)))
		if len(rsnaps) > 0 {
			left := int64(states) - d.st.images.Load()
			per := (left + int64(len(rsnaps)) - 1) / int64(len(rsnaps))
			d.checkRun(run, rsnaps, int(min(max(per, 1), 20)))
		}
	}
	t.Logf("%d distinct crash images checked in %v, from %d crash points inside recoveries of %d workload runs; "+
		"Strict opened %d, refused %d; TruncatePartial cut %d torn tails, finished %d TruncateBacks",
		d.st.images.Load(), time.Since(start).Round(time.Millisecond), d.st.snaps.Load(), d.st.runs.Load(),
		d.st.strictOK.Load(), d.st.strictTorn.Load(), d.st.torn.Load(), d.st.finished.Load())
}

// plRecordRecovery writes the image to dir, takes it as the durable state,
// opens it under the recorder and returns snapshots of the crash points
// inside the recovery (half of them, chosen by rng) when it had something
// to repair.
func plRecordRecovery(t *testing.T, dir string, files []plImgFile, states []plState, rng *rand.Rand, where string) []*plSnap {
	if err := plWriteImage(dir, files); err != nil {
		t.Fatal(err)
	}
	r := newPLRecorder(dir)
	for _, f := range files {
		if isSegmentName(f.name) { // every sector holds durable bytes: old or new, never garbage
			r.files[f.name] = &plDurable{img: bytes.Clone(f.data), syncedEnd: int64(len(f.data))}
		}
	}
	var snaps []*plSnap
	r.gid = goroutineID()
	r.point = func(at string) {
		if rng.IntN(2) == 0 {
			snaps = append(snaps, r.snapshot(where+": "+at))
		}
	}
	r.setStates(states...)
	plCurrent.Store(r)
	r.active.Store(true)
	o := plOptions
	l, err := Open(dir, &o)
	r.active.Store(false)
	if err != nil {
		t.Fatalf("%s: Open: %v", where, err)
	}
	rep := l.Recovery()
	crashRelease(l)
	if rep.TornTail == nil && !rep.FinishedTruncation {
		return nil // nothing to repair: its crash points are those of any open
	}
	return snaps
}
