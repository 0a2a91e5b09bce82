package bench

import (
	"sync"

	"github.com/tidwall/wal"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	def := Adapter{
		Name:    "tidwall",
		Desc:    "tidwall/wal v1.2.1, DefaultOptions (NoSync=false: every Write/WriteBatch fsyncs)",
		Open:    func(dir string, _ Options) (WAL, error) { return openTidwall(dir, *wal.DefaultOptions) },
		Reopen:  true,
		Durable: true,
		Runs:    Serial | Concurrent,
	}
	register(def)
	register(batchedAdapter(def, Concurrent))
	register(Adapter{
		Name: "tidwall-nosync",
		Desc: "tidwall/wal v1.2.1, fastest safe setup: NoSync+NoCopy, WriteBatch then Sync for durability",
		Open: func(dir string, _ Options) (WAL, error) {
			o := *wal.DefaultOptions
			o.NoSync, o.NoCopy = true, true
			return openTidwall(dir, o)
		},
		Reopen:  true,
		Durable: true,
		// Durable calls cost what they cost with default options.
		Runs: Bulk | Replay,
	})
}

// tidwallWAL adapts tidwall/wal. The log wants the caller to hand it the
// next index, so appends take mu to pick indexes and write them in order;
// tidwall holds its own mutex through the fsync anyway.
type tidwallWAL struct {
	dir    string
	noSync bool
	mu     sync.Mutex
	log    *wal.Log
	last   uint64    // guarded by mu
	batch  wal.Batch // guarded by mu
}

// openTidwall opens the log in dir with options o.
func openTidwall(dir string, o wal.Options) (WAL, error) {
	l, err := wal.Open(dir, &o)
	if err != nil {
		return nil, err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return nil, err
	}
	return &tidwallWAL{dir: dir, noSync: o.NoSync, log: l, last: last}, nil
}

// write appends recs with Write (one record) or WriteBatch; with default
// options either one fsyncs. The caller holds mu.
func (w *tidwallWAL) write(recs [][]byte) error {
	if len(recs) == 1 {
		if err := w.log.Write(w.last+1, recs[0]); err != nil {
			return err
		}
		w.last++
		return nil
	}
	for i, r := range recs {
		w.batch.Write(w.last+1+uint64(i), r)
	}
	if err := w.log.WriteBatch(&w.batch); err != nil {
		w.batch.Clear()
		return err
	}
	w.last += uint64(len(recs))
	return nil
}

// Append writes recs (durably, with default options).
func (w *tidwallWAL) Append(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(recs)
}

// AppendDurable writes recs and, under NoSync, calls Sync.
func (w *tidwallWAL) AppendDurable(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.write(recs); err != nil {
		return err
	}
	if w.noSync {
		return w.log.Sync()
	}
	return nil
}

// Sync fsyncs the tail segment.
func (w *tidwallWAL) Sync() error { return w.log.Sync() }

// Replay reads every index from FirstIndex to LastIndex with Read.
func (w *tidwallWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	first, err := w.log.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := w.log.LastIndex()
	if err != nil || first == 0 {
		return 0, err
	}
	n := 0
	for i := first; i <= last; i++ {
		b, err := w.log.Read(i)
		if err != nil {
			return n, err
		}
		n++
		if err := fn(i, b); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DiskBytes reports the segment files; tidwall neither preallocates nor
// recycles.
func (w *tidwallWAL) DiskBytes() (DiskUsage, error) {
	return measure.DirUsage(w.dir, measure.SizeIsUsed)
}

// Close closes the log (which fsyncs).
func (w *tidwallWAL) Close() error { return w.log.Close() }
