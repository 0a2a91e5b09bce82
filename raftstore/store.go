package raftstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// Options configure a Store. A nil *Options, and every zero field, is the
// safe default.
type Options struct {
	// Log are the options of the mmapwal log in dir/log; nil means the
	// defaults. Whatever its Durability, StoreLogs returns only once the
	// batch is durable: under SyncManual and SyncInterval it syncs itself
	// (one sync per StoreLogs instead of one per record batch of a
	// SyncAlways log: the same thing, since StoreLogs is one batch).
	Log *mmapwal.Options
	// Logger is used for the store and, when Log.Logger is nil, for the
	// log. Nil is silent.
	Logger *slog.Logger
}

// Store is a raft.LogStore, raft.StableStore, raft.MonotonicLogStore and
// CommitTrackingLogStore (StageCommitIndex, GetCommitIndex) on an mmapwal
// log. Every method is safe for concurrent use.
type Store struct {
	dir    string
	log    *mmapwal.Log
	logger *slog.Logger
	// syncSelf: the log's Durability is not SyncAlways, so StoreLogs syncs.
	syncSelf bool
	// readOnly: opened with Options.Log.ReadOnly; it changes no file.
	readOnly bool
	// segRoom is what one batch may take in an empty segment, maxRec the
	// largest record the log takes.
	segRoom, maxRec int

	// wmu serialises the writers (StoreLogs, DeleteRange) and guards buf,
	// recs and offs, which they reuse so that StoreLogs does not allocate.
	wmu  sync.Mutex
	buf  []byte
	offs []int
	recs [][]byte

	// first and last are FirstIndex and LastIndex (0, 0 when empty).
	// Written under wmu after the log changed, read without a lock.
	first, last atomic.Uint64
	// staged is the commit index raft staged; commit the one that rode in
	// the newest batch on disk (never above last once read).
	staged, commit atomic.Uint64

	smu    sync.Mutex // guards stable
	stable map[string][]byte

	closed atomic.Bool
}

// CommitTrackingLogStore is raft.CommitTrackingLogStore of hashicorp/raft
// v1.8.0, declared here because this module builds with v1.7.2 (see the
// package documentation): a LogStore that persists the commit index raft
// stages, so that a restarted node can apply committed logs before it hears
// from a leader. *Store implements it; a raft that has the interface finds
// the methods.
type CommitTrackingLogStore interface {
	raft.LogStore
	StageCommitIndex(index uint64) error
	GetCommitIndex() (uint64, error)
}

var (
	_ CommitTrackingLogStore = (*Store)(nil)
	_ raft.LogStore          = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
	_ io.Closer              = (*Store)(nil)
)

// Open opens the store in dir, creating dir and an empty store if missing.
// A nil opts means the defaults.
//
// Errors: those of mmapwal.Open (ErrLocked when another process has the
// store open, ErrCorrupt, ErrUnsupportedVersion), ErrStableCorrupt for a
// damaged or missing stable file, ErrBadRecord when the last records do not
// decode.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	var lo mmapwal.Options
	if o.Log != nil {
		lo = *o.Log
	}
	if lo.Logger == nil {
		lo.Logger = o.Logger
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !lo.ReadOnly { // a ReadOnly store changes no file (a live writer may own them)
		if err := mkdirDurable(dir); err != nil {
			return nil, err
		}
	}
	logDir := filepath.Join(dir, "log")
	_, err := os.Stat(logDir)
	logExists := err == nil
	stable, err := openStable(dir, logExists, lo.ReadOnly)
	if err != nil {
		return nil, err
	}
	l, err := mmapwal.Open(logDir, &lo)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, log: l, logger: logger, stable: stable, readOnly: lo.ReadOnly, syncSelf: lo.Durability != mmapwal.SyncAlways && !lo.ReadOnly}
	s.segRoom, s.maxRec = batchRoom(lo)
	s.loadIndexes()
	if err := s.loadCommit(); err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// batchRoom returns what one atomic batch may take in an empty segment of
// the log's segment size and the largest record: FORMAT.md §9.2 (a 64-byte
// segment header, and 48 bytes every record leaves for a mark and a seal).
func batchRoom(o mmapwal.Options) (room, maxRec int) {
	size := o.SegmentSize
	if size == 0 {
		size = mmapwal.DefaultSegmentSize
	}
	room = int(size) - 64 - 48
	maxRec = o.MaxRecordSize
	if maxRec == 0 {
		maxRec = min(mmapwal.DefaultMaxRecordSize, room-24)
	}
	return room, maxRec
}

// frameSize is the size of a record's frame in a segment (FORMAT.md §3: a
// 24-byte header and the payload, padded to 8 bytes).
func frameSize(n int) int { return (24 + n + 7) &^ 7 }

// mkdirDurable creates dir if missing and makes its name durable.
func mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return syncDir(filepath.Dir(filepath.Clean(dir)))
}

// loadIndexes sets first and last from the log. Writers only (or Open).
func (s *Store) loadIndexes() {
	first, last := s.log.FirstSeq(), s.log.LastSeq()
	if last == 0 || first == 0 || first > last {
		s.first.Store(0)
		s.last.Store(0)
		return
	}
	s.first.Store(first)
	s.last.Store(last)
}

// commitScan bounds how far back Open looks for the newest record that
// carries a commit index (the last record of every batch does once raft
// staged one; a tail truncation may have cut it off). Finding none is safe:
// raft then replays from the snapshot as without commit tracking.
const commitScan = 4096

// loadCommit finds the commit index of the newest batch on disk.
func (s *Store) loadCommit() error {
	first, last := s.first.Load(), s.last.Load()
	if last == 0 {
		return nil
	}
	for idx := last; idx >= first && last-idx < commitScan; idx-- {
		var r recordView
		ok := true
		err := s.log.View(idx, func(b []byte) error {
			r, ok = parseRecord(b)
			return nil
		})
		if err != nil {
			return fmt.Errorf("raftstore: read log %d: %w", idx, err)
		}
		if !ok {
			return fmt.Errorf("%w: index %d", ErrBadRecord, idx)
		}
		if r.commit != 0 {
			s.commit.Store(min(r.commit, last))
			return nil
		}
	}
	return nil
}

// Close closes the log. A second Close returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.log.Close()
}

// Log returns the underlying log (for inspection: Stats, Recovery). Do not
// write to it.
func (s *Store) Log() *mmapwal.Log { return s.log }

// FirstIndex returns the first index in the log, 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, mmapwal.ErrClosed
	}
	return s.first.Load(), nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, mmapwal.ErrClosed
	}
	return s.last.Load(), nil
}

// getter is GetLog's View callback, pooled so that GetLog allocates only
// the copy of Data and Extensions that raft keeps.
type getter struct {
	out *raft.Log
	idx uint64
	fn  func([]byte) error
}

var getters = sync.Pool{New: func() any {
	g := new(getter)
	g.fn = func(b []byte) error { return decodeInto(b, g.idx, g.out) }
	return g
}}

// GetLog reads the log at index into out; raft.ErrLogNotFound itself when
// there is none. Data and Extensions are copies. It runs concurrently with
// StoreLogs and DeleteRange.
func (s *Store) GetLog(index uint64, out *raft.Log) error {
	if s.closed.Load() {
		return mmapwal.ErrClosed
	}
	if index == 0 || index < s.first.Load() || index > s.last.Load() {
		return raft.ErrLogNotFound
	}
	g := getters.Get().(*getter)
	g.out, g.idx = out, index
	err := s.log.View(index, g.fn)
	g.out = nil
	getters.Put(g)
	if errors.Is(err, mmapwal.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	return err
}

// StoreLog stores one log.
func (s *Store) StoreLog(lg *raft.Log) error { return s.StoreLogs([]*raft.Log{lg}) }

// StoreLogs stores logs, which must have consecutive indexes starting at
// LastIndex()+1, or at any index ≥ 1 on an empty store (after a full
// DeleteRange, below the old LastIndex too); anything else is
// ErrNonContiguous and writes nothing. It is one atomic batch of the log
// (all or nothing after a crash), or, when too large for one segment, the
// fewest segment-sized batches, of which a crash keeps a prefix. It
// returns once every log is durable. The commit index staged by
// StageCommitIndex rides in the last record, atomically with it.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if s.closed.Load() {
		return mmapwal.ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	start, last := logs[0].Index, s.last.Load()
	if start == 0 || last != 0 && start != last+1 {
		return ErrNonContiguous
	}
	for i, lg := range logs {
		if lg.Index != start+uint64(i) {
			return ErrNonContiguous
		}
	}
	commit := s.staged.Load()
	if err := s.encode(logs, commit); err != nil {
		return err
	}
	if last == 0 && start <= s.log.LastSeq() {
		// An empty store restarting below the log's end (a snapshot was
		// installed after a full DeleteRange): only Reset can do that.
		if err := s.log.Reset(start); err != nil {
			return err
		}
		s.logger.Info("raftstore: log restarted", "index", start)
	}
	err := s.appendParts(start)
	s.loadIndexes()
	if err != nil {
		return err
	}
	if s.syncSelf {
		if err := s.log.Sync(); err != nil {
			return err
		}
	}
	if commit != 0 {
		s.commit.Store(commit)
	}
	return nil
}

// encode fills s.recs with the records of logs, the last one carrying
// commit. Writer only.
func (s *Store) encode(logs []*raft.Log, commit uint64) error {
	s.buf, s.offs = s.buf[:0], s.offs[:0]
	for i, lg := range logs {
		c := uint64(0)
		if i == len(logs)-1 {
			c = commit
		}
		s.offs = append(s.offs, len(s.buf))
		s.buf = appendRecord(s.buf, lg, c)
		if n := len(s.buf) - s.offs[i]; n > s.maxRec {
			return fmt.Errorf("%w: log %d encodes to %d bytes, the log takes at most %d", mmapwal.ErrRecordTooLarge, lg.Index, n, s.maxRec)
		}
	}
	s.offs = append(s.offs, len(s.buf))
	s.recs = s.recs[:0]
	for i := range logs {
		s.recs = append(s.recs, s.buf[s.offs[i]:s.offs[i+1]:s.offs[i+1]])
	}
	return nil
}

// appendParts appends s.recs from index start as the fewest batches that
// each fit in one segment. Writer only.
func (s *Store) appendParts(start uint64) error {
	from := 0
	for from < len(s.recs) {
		to := partEnd(s.recs, from, s.segRoom)
		if err := s.log.AppendBatchSeq(start+uint64(from), s.recs[from:to]); err != nil {
			return err
		}
		from = to
	}
	return nil
}

// partEnd returns the end of the longest run of recs from from on whose
// frames fit in room (at least one record): taken greedily from the start,
// such runs are the fewest batches that each fit in one segment, and a
// crash keeps a prefix of them.
func partEnd(recs [][]byte, from, room int) int {
	size, i := 0, from
	for ; i < len(recs); i++ {
		size += frameSize(len(recs[i]))
		if size > room && i > from {
			break
		}
	}
	return i
}

// DeleteRange deletes the logs min..max (inclusive), clamped as raft-wal
// does: min > max, a range outside [FirstIndex, LastIndex] or any range on
// an empty store is a no-op; min ≤ FirstIndex deletes the head up to max
// (everything when max ≥ LastIndex: the store is empty then, and the next
// StoreLogs may start at any index); max ≥ LastIndex deletes the tail from
// min; a range strictly inside the log is ErrMiddleDelete. Durable when it
// returns.
func (s *Store) DeleteRange(min, max uint64) error {
	if s.closed.Load() {
		return mmapwal.ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	first, last := s.first.Load(), s.last.Load()
	if last == 0 || min > max || max < first || min > last {
		return nil
	}
	var err error
	switch {
	case min <= first && max >= last:
		err = s.log.TruncateFront(s.log.LastSeq() + 1)
		s.commit.Store(0) // no record carries it any more
	case min <= first:
		err = s.log.TruncateFront(max + 1)
	case max >= last:
		err = s.log.TruncateBack(min - 1)
	default:
		return ErrMiddleDelete
	}
	s.loadIndexes()
	if err == nil && max >= last {
		// The batch that carried the commit index may be gone: take the
		// one a reopen would find.
		s.commit.Store(0)
		err = s.loadCommit()
	}
	return err
}

// IsMonotonic reports true: logs are stored at consecutive indexes only
// (raft.MonotonicLogStore), so raft deletes every log after restoring a
// snapshot instead of leaving a gap.
func (s *Store) IsMonotonic() bool { return true }

// StageCommitIndex stages raft's commit index; it is written with the next
// StoreLogs, in its last record (CommitTrackingLogStore).
func (s *Store) StageCommitIndex(index uint64) error {
	if s.closed.Load() {
		return mmapwal.ErrClosed
	}
	s.staged.Store(index)
	return nil
}

// GetCommitIndex returns the commit index of the newest batch on disk,
// never above LastIndex (CommitTrackingLogStore).
func (s *Store) GetCommitIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, mmapwal.ErrClosed
	}
	return min(s.commit.Load(), s.last.Load()), nil
}

// Set stores a stable key, durably.
func (s *Store) Set(key, val []byte) error {
	if s.closed.Load() {
		return mmapwal.ErrClosed
	}
	if s.readOnly {
		return fmt.Errorf("%w: Set on a ReadOnly store", mmapwal.ErrInvalidArgument)
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	kv := make(map[string][]byte, len(s.stable)+1)
	for k, v := range s.stable {
		kv[k] = v
	}
	kv[string(key)] = append([]byte{}, val...)
	if err := writeStable(s.dir, kv); err != nil {
		return err
	}
	s.stable = kv
	return nil
}

// Get returns a copy of a stable key's value; nil and ErrKeyNotFound when
// it is missing.
func (s *Store) Get(key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, mmapwal.ErrClosed
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	v, ok := s.stable[string(key)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return append([]byte{}, v...), nil
}

// SetUint64 stores a stable key holding a uint64 (8 bytes, big endian, as
// raft-boltdb).
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	for i := range b {
		b[i] = byte(val >> (56 - 8*i))
	}
	return s.Set(key, b[:])
}

// GetUint64 returns a stable key set by SetUint64; 0 and ErrKeyNotFound
// when it is missing.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	b, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("raftstore: key %q holds %d bytes, not a uint64", key, len(b))
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}
