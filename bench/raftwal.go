package bench

import (
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	rw := Adapter{
		Name:    "raftwal",
		Desc:    "hashicorp/raft-wal v0.4.0 as a raft.LogStore, default options: one fsync per StoreLogs",
		Open:    openRaftWAL,
		Reopen:  true,
		Durable: true,
		Runs:    Serial | Concurrent,
	}
	register(rw)
	// raft-wal has no non-durable append: bulk loads go through the batcher,
	// as they do through hashicorp/raft in practice.
	register(batchedAdapter(rw, Bulk|Concurrent|Replay))
}

// raftWAL adapts hashicorp/raft-wal through the raft.LogStore methods that
// hashicorp/raft calls: StoreLogs, GetLog, FirstIndex, LastIndex. No raft
// cluster is involved; every record is a LogCommand in term 1.
//
// raft-wal v0.4.0 (the newest tag) does not close its meta store (a bbolt
// file, flock'ed) in Close — fixed by hashicorp/raft-wal#28 after the tag —
// so a second Open in the same process would wait for the lock forever. The
// adapter therefore hands it the default BoltMetaDB through WithMetaStore
// and closes that itself.
type raftWAL struct {
	dir  string
	wal  *raftwal.WAL
	meta *metadb.BoltMetaDB
	mu   sync.Mutex
	last uint64      // guarded by mu
	logs []raft.Log  // reused entries, guarded by mu
	ptrs []*raft.Log // reused StoreLogs argument, guarded by mu
}

var _ raft.LogStore = (*raftwal.WAL)(nil)

// openRaftWAL opens the WAL in dir without logging.
func openRaftWAL(dir string, _ Options) (WAL, error) {
	meta := &metadb.BoltMetaDB{}
	w, err := raftwal.Open(dir, raftwal.WithLogger(hclog.NewNullLogger()), raftwal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		return nil, err
	}
	last, err := w.LastIndex()
	if err != nil {
		w.Close()
		meta.Close()
		return nil, err
	}
	return &raftWAL{dir: dir, wal: w, meta: meta, last: last}, nil
}

// store appends recs with one StoreLogs call, which writes and fsyncs them.
func (w *raftWAL) store(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cap(w.logs) < len(recs) {
		w.logs = make([]raft.Log, len(recs))
		w.ptrs = make([]*raft.Log, len(recs))
	}
	logs, ptrs := w.logs[:len(recs)], w.ptrs[:len(recs)]
	for i, r := range recs {
		logs[i] = raft.Log{Index: w.last + 1 + uint64(i), Term: 1, Type: raft.LogCommand, Data: r}
		ptrs[i] = &logs[i]
	}
	err := w.wal.StoreLogs(ptrs)
	clear(logs) // drop references to the callers' buffers
	if err != nil {
		return err
	}
	w.last += uint64(len(recs))
	return nil
}

// Append stores recs; raft-wal syncs every StoreLogs.
func (w *raftWAL) Append(recs [][]byte) error { return w.store(recs) }

// AppendDurable stores recs.
func (w *raftWAL) AppendDurable(recs [][]byte) error { return w.store(recs) }

// Sync does nothing: every StoreLogs was synced.
func (w *raftWAL) Sync() error { return nil }

// Replay reads FirstIndex..LastIndex with GetLog, as raft does on restart
// when it replays its log.
func (w *raftWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	first, err := w.wal.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := w.wal.LastIndex()
	if err != nil || first == 0 {
		return 0, err
	}
	var l raft.Log
	n := 0
	for i := first; i <= last; i++ {
		if err := w.wal.GetLog(i, &l); err != nil {
			return n, err
		}
		n++
		if err := fn(i, l.Data); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DiskBytes reports the segment files (preallocated to 64 MiB, so Used
// scans back from their ends) and wal-meta.db.
func (w *raftWAL) DiskBytes() (DiskUsage, error) {
	return measure.DirUsage(w.dir, func(path string, size int64) (int64, error) {
		if len(path) > 4 && path[len(path)-4:] == ".wal" {
			return measure.UsedToLastNonZero(1)(path, size)
		}
		return size, nil
	})
}

// Close closes the WAL, then its meta store.
func (w *raftWAL) Close() error { return firstErr(w.wal.Close(), w.meta.Close()) }
