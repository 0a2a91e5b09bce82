package mmapwal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Log is a write-ahead log in one directory. Every method is safe for
// concurrent use.
//
// Writers (appends, reservations, truncations) are serialised by one mutex;
// readers (Read, ReadInto, View, iterators) take no lock on the common path:
// they trust the published counts of each segment's index, which the writer
// stores only after the frame bytes are in the mapping.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File // holds the directory's flock (nil when ReadOnly)

	recovery RecoveryReport

	// Writer state, guarded by wmu.
	wmu      sync.Mutex
	resvCond sync.Cond    // L = &wmu; writers wait here while a reservation is open
	resv     *Reservation // the open reservation, if any
	active   *seg         // the segment appends go to
	off      int64        // where the next frame goes in active
	wbFrom   int64        // write-back was requested up to here in active
	wbAt     int64        // write-back is due once off reaches it (setWritebackAt)
	popAt    int64        // the active segment's population limit is due to rise at this off
	bgAt     int64        // advance calls background once off reaches it: min(wbAt, popAt)
	wb       writeback
	meta     meta   // the META on disk
	nextNum  uint64 // number of the segment after active
	// maxNum is the highest segment number this Log has given out (nextNum
	// included) before a TruncateBack lowered nextNum: Reset numbers its
	// segment above it. Writer only.
	maxNum uint64
	prep   preparer
	// pool holds the numbers that the files in the segment pool last held
	// (their names, FORMAT.md §1), oldest first: files TruncateFront took
	// out of the log for rotation to reuse (recycle.go). At most
	// Options.RecycleSegments. Writer only.
	pool []uint64

	// Published state, read without locks.
	segs    atomic.Pointer[[]*seg] // the log's segments in order; replaced, never modified
	first   atomic.Uint64          // FirstSeq
	last    lastSeq                // LastSeq, derived from the active index (see lastSeq)
	front   atomic.Uint64          // records below are truncated away
	durable atomic.Uint64          // DurableSeq
	closed  atomic.Bool
	done    chan struct{}           // closed with closed (shutdown): ends NextWait's naps (Iterator.nap); nil in the Logs of inspect and repair
	poison  atomic.Pointer[error]   // the failure that poisoned the log
	cuts    atomic.Pointer[backCut] // the newest TruncateBack (a sentinel before any)
	// frontGone is the highest record a TruncateFront removed, stored
	// before front: an iterator behind front lost records only if it is
	// at or below it.
	frontGone atomic.Uint64
	// resets counts the Resets: an iterator opened before one ends (see
	// Reset). Bumped before the Reset changes anything readers see.
	resets atomic.Uint64
	maps   mapSet // bounds the mapped segments (Options.MaxMappedSegments)

	// Waiting iterators (NextWait): wNew is woken after each append
	// publishes its records (advance), wDurable after DurableSeq rises;
	// both after a truncation, Close and poisoning (wakeAll), which every
	// waiter must see. The writer changes the state first, then wakes.
	wNew, wDurable waitSet
	// ctl is the control area followers read (control.go), nil when the
	// log has none (ReadOnly, or it could not be made). Used under wmu.
	ctl *control
	// listen is the listeners word (see listenFollower): ctl's, or
	// ownListen without ctl; the one load an append pays for followers and
	// waiters. The pointer is changed under wmu and lmu (openControl,
	// ctlClose), read by the writer under wmu and by waiting iterators
	// under lmu; the word itself is atomic.
	listen    *atomic.Uint64
	ownListen atomic.Uint64
	lmu       sync.Mutex
	pubs      uint32 // appends published for a follower flag (listenDecay). Writer only.

	// fmu serialises every flush of segment bytes (see flush): taken after
	// wmu when both are held, never before it.
	fmu sync.Mutex

	// Group commit. smu guards syncing and syncDone; the caller that set
	// syncing (the leader) runs the round, and gc decides when it starts.
	smu      sync.Mutex
	syncing  bool
	syncDone chan struct{} // closed when the running sync round ends
	gc       gather

	flushStop chan struct{}
	flushDone chan struct{}

	st stats
}

// Open opens the log in dir, creating the directory and an empty log if
// missing, and recovers it: it checks every segment, finds the end of the
// last one and repairs a torn tail as opts.Repair says (see Recovery).
// A nil opts means the defaults.
//
// Open reads what it needs, so that its time grows with the number of
// segments, not of bytes, and it maps and holds open at most about
// MaxMappedSegments files at once, however many segments the log has. A
// writable open of a format version 2 log checks each sealed segment's
// header and the seal that ends it (where the next segment's header
// records it) and leaves its frames to be verified on first use, by a read,
// an iterator, a truncation or Verify (RecoveryReport.Deferred): damage
// there is then a *CorruptionError (Durable) from that call, never a
// record. Open scans whole the newest segment (torn tails are judged there
// as always; after a clean Close it does not read past the recorded
// durable mark), every segment of a version 1 log, the segment that holds
// FirstSeq when a TruncateFront point falls inside it, and every segment of
// a ReadOnly open (salvage: Recovery().Corruption says where the valid
// records end). Open followed by Verify finds what a full scan finds.
//
// Errors: ErrLocked when another writer has the log open, ErrCorrupt
// (a *CorruptionError) for damage that is not a repairable torn tail,
// ErrUnsupportedVersion for a log of a newer format, ErrInvalidArgument for
// bad Options.
func Open(dir string, opts *Options) (*Log, error) {
	start := time.Now()
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var l *Log
	if o.ReadOnly {
		l, err = openReadOnly(dir, o)
	} else {
		l = newLog(dir, o)
		if err = l.open(); err != nil {
			l.releaseAll()
		}
	}
	if err != nil {
		return nil, err
	}
	l.recovery.Duration = time.Since(start)
	l.last.rebase() // Stats.Appends counts from here
	if !o.ReadOnly {
		l.openControl()
		if len(l.pool) == 0 { // else rotation reuses a pool file
			l.prep.startLater(l.nextNum) // at the first append: a replay prepares nothing
		}
		l.wb.run()
		if o.Durability == SyncInterval {
			l.flushStop, l.flushDone = make(chan struct{}), make(chan struct{})
			go l.flusher()
		}
	}
	return l, nil
}

// newLog returns a Log of dir with the options o, not opened yet.
func newLog(dir string, o Options) *Log {
	l := &Log{dir: dir, opts: o, log: o.Logger, syncDone: make(chan struct{}), done: make(chan struct{})}
	l.cuts.Store(new(backCut))
	l.gc.init()
	l.st.appends = appendCount{&l.last}
	l.listen = &l.ownListen
	l.maps.l = l
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.resvCond.L = &l.wmu
	l.prep.cfg = prepConfig{dir: dir, size: o.SegmentSize, smallPages: o.Durability != SyncManual}
	return l
}

// openReadOnly opens dir ReadOnly. A writer may be changing the files
// while Open reads them (rotating, truncating, recovering, in this or
// another process), and what it read at different moments may not fit
// together: a segment gone between the listing and its open, a seal
// written after the scan of its segment and before the next header was
// read, a tail being zeroed by a TruncateBack whose redo record was not in
// META yet. So an open that finds damage (or fails) is made again; its
// verdict stands only when two opens in a row reach the same one and the
// directory (META, and each segment file's identity and size) looked the
// same before, between and after them — damage that is really there is
// found again, one that a moving writer made up is not — or after
// roAttempts.
func openReadOnly(dir string, o Options) (*Log, error) {
	var prevVerdict, prevAfter string
	for attempt := 1; ; attempt++ {
		before := dirState(dir)
		l := newLog(dir, o)
		err := l.open()
		verdict := ""
		switch {
		case err != nil:
			verdict = "error: " + err.Error()
		case l.recovery.Corruption != nil:
			verdict = "corruption: " + l.recovery.Corruption.Error()
		}
		if verdict == "" {
			return l, nil
		}
		after := dirState(dir)
		if attempt >= roAttempts || (verdict == prevVerdict && before == prevAfter && before == after) {
			if err != nil {
				l.releaseAll()
				return nil, err
			}
			return l, nil
		}
		l.releaseAll()
		prevVerdict, prevAfter = verdict, after
		time.Sleep(time.Duration(attempt) * 100 * time.Microsecond)
	}
}

// roAttempts bounds the opens of openReadOnly.
const roAttempts = 30

// dirState describes what a ReadOnly open of dir reads: META's bytes and
// identity, and the identity and size of each file named like a segment,
// so that two states compare equal only if a writer changed nothing in
// between (as far as a directory listing and stat can tell).
func dirState(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	var b []byte
	for _, e := range ents {
		name := e.Name()
		if _, ok := segment.ParseName(name); !ok && name != metaName {
			continue
		}
		id, err := sysutil.FileID(filepath.Join(dir, name))
		b = fmt.Appendf(b, "%s %s %v;", name, id, err)
	}
	meta, err := os.ReadFile(filepath.Join(dir, metaName))
	return fmt.Sprintf("%s META %x %v", b, meta, err)
}

// open locks the directory, reads META and recovers the segments.
func (l *Log) open() error {
	if l.opts.ReadOnly {
		if _, err := os.Stat(l.dir); err != nil {
			return err
		}
	} else if err := mkdirAll(l.dir); err != nil {
		return err
	}
	if err := l.lockDir(); err != nil {
		return err
	}
	nums, err := listSegments(l.dir)
	if err = l.damage(err); err != nil { // ReadOnly serves the segments before a bad entry
		return err
	}
	l.meta, err = readMeta(l.dir)
	if !l.opts.ReadOnly {
		if err := checkFilesystem(l.dir, errors.Is(err, os.ErrNotExist) && len(nums) == 0); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(err, os.ErrNotExist) && len(nums) == 0 && !l.opts.ReadOnly:
		return l.create()
	case errors.Is(err, os.ErrNotExist):
		return &CorruptionError{Segment: metaName, Reason: ReasonMissingMeta, Durable: true}
	case err != nil:
		return err
	}
	if !l.opts.ReadOnly {
		sysutil.Remove(filepath.Join(l.dir, metaTmpName))
	}
	l.prep.cfg.logID, l.prep.cfg.version = l.meta.logID, l.meta.version
	if err := l.recover(nums); err != nil {
		return err
	}
	if err := l.clearCleanClose(); err != nil {
		return err
	}
	if l.opts.ReadOnly {
		return nil // pool files are not the log's: a reader ignores them
	}
	return l.openPool()
}

// create makes a new, empty log: META first (it names the log), then the
// first segment.
func (l *Log) create() error {
	id, err := newLogID()
	if err != nil {
		return err
	}
	l.meta = meta{version: metaVersion, logID: id}
	if err := writeMeta(l.dir, l.meta); err != nil {
		return mapNoSpace(err)
	}
	l.prep.cfg.logID, l.prep.cfg.version = id, segment.Version
	s, err := l.newSeg(1, 1)
	if err != nil {
		return err
	}
	l.publishSegs([]*seg{s})
	l.setActive(s, segment.HeaderSize)
	l.nextNum = 2
	return nil
}

func (l *Log) lockDir() error {
	if l.opts.ReadOnly {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(l.dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := sysutil.Lock(f); err != nil {
		f.Close()
		if errors.Is(err, sysutil.ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, l.dir)
		}
		return err
	}
	l.lock = f
	return nil
}

// listSegments returns the segment numbers in dir, ascending. An entry
// whose name is a segment's but which is not a regular file (a symlink, a
// directory) is never skipped: listSegments returns the numbers below it
// and a *CorruptionError naming it.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint64
	irregular := map[uint64]bool{}
	for _, e := range ents {
		if n, ok := segment.ParseName(e.Name()); ok {
			nums = append(nums, n)
			irregular[n] = !e.Type().IsRegular()
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	for i, n := range nums {
		if irregular[n] {
			return nums[:i], &CorruptionError{Segment: segment.Name(n), Reason: ReasonBadMagic, Durable: true}
		}
	}
	return nums, nil
}

// newSeg creates segment number num, active from sequence first, and maps it.
func (l *Log) newSeg(num, first uint64) (*seg, error) {
	f, err := prepareSegment(l.prep.cfg, num, first, false)
	if err != nil {
		return nil, mapNoSpace(err)
	}
	return l.segFromFile(f), nil
}

// segFromFile wraps an open segment file.
func (l *Log) segFromFile(f *segment.File) *seg {
	h := f.Header()
	s := &seg{
		num: h.Number, path: f.Path(), name: filepath.Base(f.Path()), size: h.Size,
		first: h.FirstSeq, idx: newIndex(maxRecords(h.Size)),
		file: f, logID: h.LogID, write: !l.opts.ReadOnly, maps: &l.maps,
	}
	s.written = segment.HeaderSize
	s.synced.Store(segment.HeaderSize)
	s.recycled = f.Recycled()
	return s
}

// maxRecords is the most frames a segment of the given size can hold.
func maxRecords(size int64) int64 { return (size - segment.HeaderSize) / 24 }

// setActive makes s the segment appends go to, at offset off. Writer only.
func (l *Log) setActive(s *seg, off int64) {
	s.mu.Lock()
	s.refs++ // the writer's own pin, released when s is sealed or closed
	s.mu.Unlock()
	l.active, l.off, l.wbFrom, l.popAt = s, off, off, off
	l.setWritebackAt()
}

func (l *Log) publishSegs(segs []*seg) { l.segs.Store(&segs) }

func (l *Log) segments() []*seg {
	if p := l.segs.Load(); p != nil {
		return *p
	}
	return nil
}

// mapNoSpace makes a full-disk error match ErrNoSpace (it still matches
// ENOSPC too).
func mapNoSpace(err error) error {
	if err != nil && sysutil.IsNoSpace(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Close makes everything appended durable, writes a durable mark of the end
// (so that later damage to any record, the last included, is detected), and
// releases the log. Iterators and Views still running keep their segments
// mapped until they finish. A second Close returns nil.
//
// Close does not wait for an open Reservation: the reservation's Bytes stay
// valid until its Commit or Abort, but stores into them no longer reach the
// file, and its Commit fails with ErrClosed and leaves no record.
//
// Close of a poisoned log releases its resources and returns ErrPoisoned.
func (l *Log) Close() error {
	l.wmu.Lock()
	if l.closed.Load() {
		l.wmu.Unlock()
		return nil
	}
	var err error
	r := l.resv
	if r != nil {
		err = l.orphan(r) // the holder may be this goroutine: do not wait
	}
	if err == nil {
		err = l.closeWriter(r)
	}
	l.closed.Store(true) // in the same critical section: no append after the mark
	l.resvCond.Broadcast()
	l.wmu.Unlock()
	l.wakeAll()
	l.shutdown(false)
	return err
}

// shutdown marks the log closed and releases its goroutines, mappings and
// lock. keepPrepared closes the segment prepared in the background without
// removing it, as a crash would leave it (the crash tests let go of a log
// this way, without Close's sync and durable mark).
func (l *Log) shutdown(keepPrepared bool) {
	l.wmu.Lock()
	l.closed.Store(true)
	if l.done != nil && !isClosed(l.done) {
		close(l.done)
	}
	l.resvCond.Broadcast()
	l.ctlClose()
	l.wmu.Unlock()
	l.wakeAll()
	l.gc.interrupt() // a round waiting for company starts now (and finds the log closed)
	if l.flushStop != nil {
		close(l.flushStop)
		<-l.flushDone
	}
	l.wb.stop()
	if keepPrepared {
		l.prep.release()
	} else {
		l.prep.discard() // an unused prepared segment is not left behind
	}
	l.releaseAll()
}

// closeWriter syncs and writes the durable mark; r is the reservation
// Close orphaned, or nil. Writer only.
func (l *Log) closeWriter(r *Reservation) error {
	if l.opts.ReadOnly || l.active == nil {
		return nil
	}
	if err := l.poisoned(); err != nil {
		return err
	}
	if r != nil {
		return l.writeMarkThrough(r)
	}
	if err := l.syncActiveLocked(); err != nil {
		return err
	}
	return l.writeMarkLocked()
}

// releaseAll unmaps every segment (or leaves it to the last pin) and drops
// the lock.
func (l *Log) releaseAll() {
	for _, s := range l.segments() {
		s.retire(false)
	}
	if l.active != nil {
		l.active.unpin()
	}
	if l.lock != nil {
		sysutil.Unlock(l.lock)
		l.lock.Close()
		l.lock = nil
	}
}

// FirstSeq returns the sequence of the first record in the log; LastSeq()+1
// when the log holds no record and LastSeq() > 0; with LastSeq() 0, the
// point a Reset(1) or TruncateFront(1) set, else 0 (a log that never held a
// record).
func (l *Log) FirstSeq() uint64 { return l.first.Load() }

// LastSeq returns the sequence of the last record appended (or, after
// truncations, the highest one kept); 0 on a log that never held a record.
func (l *Log) LastSeq() uint64 { return l.last.Load() }

// DurableSeq returns the highest sequence known durable: every record up to
// it survives a crash. On a ReadOnly log it is what the files prove at Open
// (a durable mark, sealed segments, the frames' durable watermarks), which
// beside a live writer may be below the writer's own.
func (l *Log) DurableSeq() uint64 { return l.durable.Load() }

// Recovery reports what Open found and did.
func (l *Log) Recovery() RecoveryReport { return l.recovery }

// poisoned returns the poisoning error, or nil.
func (l *Log) poisoned() error {
	if p := l.poison.Load(); p != nil {
		return *p
	}
	return nil
}

// setPoison poisons the log for writes after a failure that may have left the
// disk different from what the log believes.
func (l *Log) setPoison(cause error) error {
	err := fmt.Errorf("%w: %w", ErrPoisoned, cause)
	if l.poison.CompareAndSwap(nil, &err) {
		markPoisoned(l.dir)
		l.log.Error("mmapwal: log poisoned; writes will fail until it is reopened", "dir", l.dir, "cause", cause)
		l.wakeAll()      // DurableOnly waiters fail now: DurableSeq never rises again
		l.ctlPoisoned()  // and followers
		l.gc.interrupt() // a round waiting for company gives up now
	}
	return l.poisoned()
}

// writable returns why the log cannot take writes now, or nil. Writer only.
func (l *Log) writable() error {
	switch {
	case l.closed.Load():
		return ErrClosed
	case l.opts.ReadOnly:
		return fmt.Errorf("%w: the log was opened ReadOnly", ErrInvalidArgument)
	}
	return l.poisoned()
}

// poisonedDirs remembers the directories whose log was poisoned in this
// process: after a failed write-back the page cache may hold bytes that never
// reached the disk, so a reopen here evicts those pages before trusting them.
var poisonedDirs sync.Map

func markPoisoned(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		poisonedDirs.Store(abs, true)
	}
}

func wasPoisoned(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	_, ok := poisonedDirs.Load(abs)
	return ok
}

// isClosed reports whether ch is closed (ch is only ever closed, never
// sent on).
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
