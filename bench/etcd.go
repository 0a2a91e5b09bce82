package bench

import (
	"errors"
	"path/filepath"
	"sync"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	e := Adapter{
		Name:    "etcd",
		Desc:    "etcd server/v3 v3.7.3 storage/wal: Save(HardState, entries), one fdatasync per Save",
		Open:    openEtcd,
		Reopen:  true,
		Durable: true,
		Runs:    Serial | Concurrent,
	}
	register(e)
	// Every Save with entries syncs: bulk loads go through the batcher, as
	// they go through etcd/raft's Ready batches in etcd.
	register(batchedAdapter(e, Bulk|Concurrent|Replay))
}

// etcdWAL adapts etcd's WAL the way etcd's raft loop drives it: each call
// becomes one Save of raftpb entries (term 1, consecutive indexes) with a
// HardState whose commit index is the last entry, and etcd syncs every Save
// that carries entries. An existing log must be read out with ReadAll
// before it accepts appends; Replay does that, and an append before Replay
// does it and drops the entries.
type etcdWAL struct {
	dir string // the WAL directory, dir/wal of Open
	mu  sync.Mutex
	w   *wal.WAL
	// unread holds while an opened log has not been read with ReadAll.
	unread bool   // guarded by mu
	last   uint64 // guarded by mu
}

// openEtcd creates the WAL in dir/wal, or opens it at the empty snapshot
// that Create records.
func openEtcd(dir string, _ Options) (WAL, error) {
	walDir := filepath.Join(dir, "wal")
	lg := zap.NewNop()
	if !wal.Exist(walDir) {
		w, err := wal.Create(lg, walDir, nil)
		if err != nil {
			return nil, err
		}
		return &etcdWAL{dir: walDir, w: w}, nil
	}
	w, err := wal.Open(lg, walDir, &walpb.Snapshot{})
	if err != nil {
		return nil, err
	}
	return &etcdWAL{dir: walDir, w: w, unread: true}, nil
}

// readAll runs ReadAll on a freshly opened log; the caller holds mu.
func (w *etcdWAL) readAll() ([]*raftpb.Entry, error) {
	_, _, ents, err := w.w.ReadAll()
	if err != nil {
		return nil, err
	}
	w.unread = false
	if len(ents) > 0 {
		w.last = ents[len(ents)-1].GetIndex()
	}
	return ents, nil
}

// save appends recs with one Save.
func (w *etcdWAL) save(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unread {
		if _, err := w.readAll(); err != nil {
			return err
		}
	}
	ents := make([]*raftpb.Entry, len(recs))
	for i, r := range recs {
		ents[i] = &raftpb.Entry{
			Term:  proto.Uint64(1),
			Index: proto.Uint64(w.last + 1 + uint64(i)),
			Type:  raftpb.EntryNormal.Enum(),
			Data:  r,
		}
	}
	last := w.last + uint64(len(recs))
	hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(last)}
	if err := w.w.Save(hs, ents); err != nil {
		return err
	}
	w.last = last
	return nil
}

// Append saves recs; etcd syncs every Save with entries.
func (w *etcdWAL) Append(recs [][]byte) error { return w.save(recs) }

// AppendDurable saves recs.
func (w *etcdWAL) AppendDurable(recs [][]byte) error { return w.save(recs) }

// Sync flushes and fdatasyncs the tail file.
func (w *etcdWAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Sync()
}

// errEtcdReplay is returned by Replay on a log that has been read already.
var errEtcdReplay = errors.New("etcd: Replay needs a freshly opened log")

// Replay reads the whole log with ReadAll, as etcd does at startup, then
// walks the entries.
func (w *etcdWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.unread {
		return 0, errEtcdReplay
	}
	ents, err := w.readAll()
	if err != nil {
		return 0, err
	}
	for i, e := range ents {
		if err := fn(e.GetIndex(), e.GetData()); err != nil {
			return i + 1, err
		}
	}
	return len(ents), nil
}

// DiskBytes reports the .wal files and the preallocated .tmp file of the
// file pipeline. etcd preallocates every file to 64 MB and truncates a file
// when it cuts the next one, so Used scans back from the end of each file.
func (w *etcdWAL) DiskBytes() (DiskUsage, error) {
	return measure.DirUsage(w.dir, measure.UsedToLastNonZero(1))
}

// Close syncs and closes the WAL.
func (w *etcdWAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return errClosed
	}
	err := w.w.Close()
	w.w = nil
	return err
}
