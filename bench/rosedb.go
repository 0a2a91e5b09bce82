package bench

import (
	"errors"
	"io"
	"sync"

	rosewal "github.com/rosedblabs/wal"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	rose := Adapter{
		Name:    "rosedb",
		Desc:    "rosedblabs/wal v1.3.8, DefaultOptions (Sync=false): Write, then Sync for durability",
		Open:    openRosedb,
		Reopen:  true,
		Durable: true,
		Runs:    All,
	}
	register(rose)
	register(batchedAdapter(rose, Concurrent))
}

// rosedbWAL adapts rosedblabs/wal. A single record goes through Write, a
// batch through PendingWrites and WriteAll; a durable call then calls Sync,
// which with one record costs what Options.Sync=true costs. mu keeps a
// batch's PendingWrites and WriteAll together and a durable call's write and
// sync together.
type rosedbWAL struct {
	mu  sync.Mutex
	wal *rosewal.WAL
	dir string
}

// openRosedb opens the WAL in dir with the default options.
func openRosedb(dir string, _ Options) (WAL, error) {
	o := rosewal.DefaultOptions
	o.DirPath = dir
	w, err := rosewal.Open(o)
	if err != nil {
		return nil, err
	}
	return &rosedbWAL{wal: w, dir: dir}, nil
}

// write appends recs; the caller holds mu.
func (w *rosedbWAL) write(recs [][]byte) error {
	if len(recs) == 1 {
		_, err := w.wal.Write(recs[0])
		return err
	}
	for _, r := range recs {
		w.wal.PendingWrites(r)
	}
	_, err := w.wal.WriteAll()
	return err
}

// Append writes recs without syncing.
func (w *rosedbWAL) Append(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(recs)
}

// AppendDurable writes recs and syncs.
func (w *rosedbWAL) AppendDurable(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.write(recs); err != nil {
		return err
	}
	return w.wal.Sync()
}

// Sync fsyncs the active segment.
func (w *rosedbWAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wal.Sync()
}

// Replay reads every segment with a Reader in startup-traversal mode, the
// way rosedb loads its index at startup.
func (w *rosedbWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wal.SetIsStartupTraversal(true)
	defer w.wal.SetIsStartupTraversal(false)
	r := w.wal.NewReader()
	n := 0
	for {
		b, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if err := fn(uint64(n), b); err != nil {
			return n, err
		}
	}
}

// DiskBytes reports the segment files; rosedb neither preallocates nor
// recycles (a segment ends at the last chunk; blocks are padded only when
// a chunk header would not fit).
func (w *rosedbWAL) DiskBytes() (DiskUsage, error) {
	return measure.DirUsage(w.dir, measure.SizeIsUsed)
}

// Close closes the WAL. rosedblabs/wal does not sync on Close, so Close
// syncs first.
func (w *rosedbWAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return firstErr(w.wal.Sync(), w.wal.Close())
}
