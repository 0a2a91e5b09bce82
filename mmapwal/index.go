package mmapwal

import (
	"sort"
	"sync/atomic"
)

// index maps the records of one segment to their offsets. It is written by
// the single writer and read by any number of readers without locks.
//
// The entries live in a view: the writer fills entry n with plain stores,
// then publishes n+1 with one atomic store (the append path's only atomic
// store into the index); readers load the view and its count, and only read
// entries below it. A published entry of a view is never written again:
// entries live in fixed-size chunks whose table is allocated up front, so
// they never move, and a truncation below the published count (TruncateBack)
// does not unpublish entries in place, where later appends would refill slots
// a reader that loaded the old count may still be reading: it installs a new
// view holding the entries kept (sharing the chunks wholly below the cut,
// copying the one it falls in). A reader that loaded the old view reads it
// unchanged; the log's chain of cuts (backCut) tells it to look again.
//
// A view whose sequences are dense (entry i holds base+i, as Append makes
// them) keeps no table of sequences: an append stores 4 bytes. The first
// entry that breaks the run (AppendSeq with a gap) installs a sparse view,
// with the table filled for the entries before it.
type index struct {
	v       atomic.Pointer[indexView] // the current view; replaced by truncate
	nChunks int                       // length of every view's chunk table
}

// indexView is one generation of an index.
type indexView struct {
	n      atomic.Int64 // published entries; entries below it never change
	w      int64        // entries written, published or not (writer only)
	offs   [][]uint32   // chunk table of frame offsets
	seqs   [][]uint64   // chunk table of sequences; nil in a dense view
	base   uint64       // a dense view's sequence of entry 0 (set before entry 0 is published)
	chunks int          // allocated chunks (writer only)
}

const (
	chunkBits = 12
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

// newIndex returns an index for a segment that can hold at most maxRecords.
func newIndex(maxRecords int64) *index {
	x := &index{nChunks: int(maxRecords>>chunkBits) + 1}
	x.v.Store(x.newView())
	return x
}

// newView returns an empty dense view.
func (x *index) newView() *indexView {
	return &indexView{offs: make([][]uint32, x.nChunks)}
}

// add appends an entry and publishes it (with every entry put before it).
// Writer only.
func (x *index) add(off int64, seq uint64) {
	v := x.put(off, seq)
	v.n.Store(v.w)
}

// put appends an entry without publishing it: readers see it after the
// next publish (or add). Recovery's scans put every frame and publish once.
// It returns the view it went to. Writer only.
func (x *index) put(off int64, seq uint64) *indexView {
	v := x.v.Load()
	if i := v.w; v.seqs == nil && i > 0 && seq == v.base+uint64(i) && i>>chunkBits < int64(v.chunks) {
		// The common case, in a few instructions: the next entry of a
		// dense run, in a chunk already allocated.
		v.offs[i>>chunkBits][i&chunkMask] = uint32(off)
		v.w = i + 1
		return v
	}
	return x.putSlow(v, off, seq)
}

// putSlow is put's general case: the first entry, a gap, a new chunk, a
// sparse view.
func (x *index) putSlow(v *indexView, off int64, seq uint64) *indexView {
	if v.seqs == nil {
		switch {
		case v.w == 0:
			v.base = seq // no reader looks at it before entry 0 is published
		case seq != v.base+uint64(v.w):
			v = x.sparse(v)
		}
	}
	v.put(off, seq)
	return v
}

// sparse installs a view like the dense v with a table of sequences, and
// returns it. The chunks of offsets are shared: the new view writes only
// entries from v.w on, which no reader of v reads. Writer only.
func (x *index) sparse(v *indexView) *indexView {
	nv := &indexView{offs: make([][]uint32, x.nChunks), seqs: make([][]uint64, x.nChunks), chunks: v.chunks, w: v.w}
	copy(nv.offs, v.offs)
	for c := range v.chunks {
		nv.seqs[c] = make([]uint64, chunkLen)
		for j := range nv.seqs[c] {
			nv.seqs[c][j] = v.base + uint64(c<<chunkBits+j)
		}
	}
	nv.n.Store(v.n.Load())
	x.v.Store(nv)
	return nv
}

// publish makes every entry put so far visible to readers. Writer only.
func (x *index) publish() {
	v := x.v.Load()
	v.n.Store(v.w)
}

func (v *indexView) put(off int64, seq uint64) {
	i := v.w
	c := int(i >> chunkBits)
	if c == v.chunks {
		v.offs[c] = make([]uint32, chunkLen)
		if v.seqs != nil {
			v.seqs[c] = make([]uint64, chunkLen)
		}
		v.chunks++
	}
	v.offs[c][i&chunkMask] = uint32(off)
	if v.seqs != nil {
		v.seqs[c][i&chunkMask] = seq
	}
	v.w = i + 1
}

// truncate drops the entries from i on. Entries not yet published are
// dropped in place; a cut below the published count installs a new view.
// Writer only; readers holding an entry's offset still find the bytes
// until the segment is zeroed.
func (x *index) truncate(i int64) {
	v := x.v.Load()
	n := v.n.Load()
	if i >= n {
		v.w = min(v.w, i)
		return
	}
	nv := x.newView()
	nv.base = v.base
	if v.seqs != nil {
		nv.seqs = make([][]uint64, x.nChunks)
	}
	c := int(i >> chunkBits)
	copy(nv.offs[:c], v.offs[:c]) // never written again: every later entry is at i or above
	if v.seqs != nil {
		copy(nv.seqs[:c], v.seqs[:c])
	}
	nv.chunks = c
	if r := int(i & chunkMask); r > 0 {
		nv.offs[c] = make([]uint32, chunkLen)
		copy(nv.offs[c], v.offs[c][:r])
		if v.seqs != nil {
			nv.seqs[c] = make([]uint64, chunkLen)
			copy(nv.seqs[c], v.seqs[c][:r])
		}
		nv.chunks = c + 1
	}
	nv.w = i
	nv.n.Store(i)
	x.v.Store(nv)
}

// len returns the published entries.
func (x *index) len() int64 { return x.v.Load().n.Load() }

// off and seq return entry i, which the caller found below len. After a
// truncation installed a new view without it they return 0 (no frame is at
// offset 0, and no record has sequence 0): the caller's check of the cut
// chain then makes it look again.
func (x *index) off(i int64) int64 {
	v := x.v.Load()
	if i < 0 || i >= v.n.Load() {
		return 0
	}
	return int64(v.offs[i>>chunkBits][i&chunkMask])
}

func (x *index) seq(i int64) uint64 {
	v := x.v.Load()
	if i < 0 || i >= v.n.Load() {
		return 0
	}
	return v.seq(i)
}

// run returns the published entries from i on that lie in i's chunk, at
// most max of them: their offsets, and their sequences (seqs nil: dense,
// first, first+1, …). None (len(offs) == 0) when i is not published.
func (x *index) run(i int64, max int) (offs []uint32, seqs []uint64, first uint64) {
	v := x.v.Load()
	n := v.n.Load()
	if i < 0 || i >= n {
		return nil, nil, 0
	}
	c, j := i>>chunkBits, i&chunkMask
	k := min(n-i, chunkLen-j, int64(max))
	offs = v.offs[c][j : j+k]
	if v.seqs != nil {
		return offs, v.seqs[c][j : j+k], 0
	}
	return offs, nil, v.base + uint64(i)
}

func (v *indexView) seq(i int64) uint64 {
	if v.seqs == nil {
		return v.base + uint64(i)
	}
	return v.seqs[i>>chunkBits][i&chunkMask]
}

// lastSeq returns the sequence of the last published entry, 0 when none.
func (x *index) lastSeq() (uint64, int64) {
	v := x.v.Load()
	n := v.n.Load()
	if n == 0 {
		return 0, 0
	}
	return v.seq(n - 1), n
}

// find returns the position of seq, or the position of the first entry above
// it and false. Dense sequences (the common case) are found in O(1).
func (x *index) find(seq uint64) (int64, bool) {
	v := x.v.Load()
	n := v.n.Load()
	if n == 0 {
		return 0, false
	}
	first := v.seq(0)
	if seq >= first {
		if d := seq - first; d < uint64(n) && v.seq(int64(d)) == seq {
			return int64(d), true
		}
	}
	i := int64(sort.Search(int(n), func(i int) bool { return v.seq(int64(i)) >= seq }))
	return i, i < n && v.seq(i) == seq
}

// lastSeq is the Log's LastSeq and its count of appends, derived from the
// index of the active segment so that an append stores nothing for them:
// LastSeq is the sequence of the index's last entry once it holds more than
// it did when the tail was published, else the tail's last. Writers that
// move LastSeq otherwise (recovery, TruncateBack, Reset) Store it; advance
// follows the index of a new active segment at its first append.
type lastSeq struct {
	t atomic.Pointer[tail] // replaced, never modified; nil until the first Store
	// w is LastSeq as the writer knows it (writer only, under wmu).
	w uint64
}

// tail is one publication of lastSeq.
type tail struct {
	idx     *index // the index appends go to (nil: none yet)
	start   int64  // idx's published entries when published
	last    uint64 // LastSeq while idx holds no more than start entries
	appends uint64 // appends counted before those past start
}

// Load returns LastSeq.
func (p *lastSeq) Load() uint64 {
	t := p.t.Load()
	if t == nil {
		return 0
	}
	if t.idx != nil {
		if s, n := t.idx.lastSeq(); n > t.start {
			return s
		}
	}
	return t.last
}

// appends returns the records appended since Open.
func (p *lastSeq) appends() uint64 {
	t := p.t.Load()
	if t == nil {
		return 0
	}
	if t.idx != nil {
		if n := t.idx.len(); n > t.start {
			return t.appends + uint64(n-t.start)
		}
	}
	return t.appends
}

// Store sets LastSeq to v. Writer only.
func (p *lastSeq) Store(v uint64) {
	var x *index
	var start int64
	if t := p.t.Load(); t != nil && t.idx != nil {
		x, start = t.idx, t.idx.len()
	}
	p.t.Store(&tail{idx: x, start: start, last: v, appends: p.appends()})
	p.w = v
}

// follow makes x, the index the k records just added to went to, the one
// LastSeq follows, if it is not already. Writer only.
func (p *lastSeq) follow(x *index, k int64) {
	t := p.t.Load()
	if t != nil && t.idx == x {
		return
	}
	p.t.Store(&tail{idx: x, start: x.len() - k, last: p.w, appends: p.appends()})
}

// rebase restarts the count of appends at 0 (Open, after recovery filled the
// indexes). Writer only.
func (p *lastSeq) rebase() {
	var x *index
	var start int64
	if t := p.t.Load(); t != nil && t.idx != nil {
		x, start = t.idx, t.idx.len()
	}
	p.t.Store(&tail{idx: x, start: start, last: p.Load()})
}

// appendCount is Stats.Appends, read from the Log's lastSeq.
type appendCount struct{ p *lastSeq }

// Load returns the records appended since Open.
func (c appendCount) Load() uint64 { return c.p.appends() }
