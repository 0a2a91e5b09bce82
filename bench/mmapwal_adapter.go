package bench

import (
	"strings"

	"github.com/mmapwal/mmapwal/internal/measure"
	"github.com/mmapwal/mmapwal/mmapwal"
)

func init() {
	register(Adapter{
		Name:    "mmapwal",
		Desc:    "mmapwal (this module), 64 MiB segments, SyncManual: Append, then Sync for durability (concurrent Syncs share a flush)",
		Open:    func(dir string, _ Options) (WAL, error) { return openMmapwal(dir, mmapwal.SyncManual) },
		Reopen:  true,
		Durable: true,
		Runs:    All,
	})
	register(Adapter{
		Name:    "mmapwal-always",
		Desc:    "mmapwal (this module), 64 MiB segments, SyncAlways: every append returns durable (group commit)",
		Open:    func(dir string, _ Options) (WAL, error) { return openMmapwal(dir, mmapwal.SyncAlways) },
		Reopen:  true,
		Durable: true,
		Runs:    Serial | Concurrent,
	})
}

// mmapwalWAL adapts mmapwal's public API. A call with one record uses
// Append, a call with several AppendBatch (an atomic batch); under
// SyncManual a durable call then calls Sync.
type mmapwalWAL struct {
	dir    string
	always bool
	l      *mmapwal.Log
}

// openMmapwal opens the log in dir with 64 MiB segments.
func openMmapwal(dir string, d mmapwal.Durability) (WAL, error) {
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: 64 << 20, Durability: d})
	if err != nil {
		return nil, err
	}
	return &mmapwalWAL{dir: dir, always: d == mmapwal.SyncAlways, l: l}, nil
}

// Append appends recs (durably under SyncAlways).
func (w *mmapwalWAL) Append(recs [][]byte) error {
	var err error
	switch len(recs) {
	case 0:
	case 1:
		_, err = w.l.Append(recs[0])
	default:
		_, err = w.l.AppendBatch(recs)
	}
	return err
}

// AppendDurable appends recs and, under SyncManual, syncs.
func (w *mmapwalWAL) AppendDurable(recs [][]byte) error {
	if err := w.Append(recs); err != nil || w.always {
		return err
	}
	return w.l.Sync()
}

// Sync makes everything appended durable.
func (w *mmapwalWAL) Sync() error { return w.l.Sync() }

// Replay walks an iterator from sequence 1; values are slices of the
// mapping, valid until the next call of Next.
func (w *mmapwalWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	it, err := w.l.NewIterator(1)
	if err != nil {
		return 0, err
	}
	n := 0
	for it.Next() {
		n++
		if err := fn(it.Seq(), it.Value()); err != nil {
			it.Close()
			return n, err
		}
	}
	return n, firstErr(it.Err(), it.Close())
}

// DiskBytes reports the segment files, which are preallocated: Used scans
// back from the end of each to its last non-zero byte, rounded up to the
// 8-byte frame alignment, as walbench does (a prepared segment counts its
// header).
func (w *mmapwalWAL) DiskBytes() (DiskUsage, error) {
	used := measure.UsedToLastNonZero(8)
	return measure.DirUsage(w.dir, func(path string, size int64) (int64, error) {
		if strings.HasSuffix(path, ".wal") {
			return used(path, size)
		}
		return size, nil
	})
}

// RecordsPerFlush is the log's group-commit factor (Stats.RecordsPerSync).
func (w *mmapwalWAL) RecordsPerFlush() float64 { return w.l.Stats().RecordsPerSync }

// Close syncs, writes the durable mark and closes the log.
func (w *mmapwalWAL) Close() error { return w.l.Close() }
