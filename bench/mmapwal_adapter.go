package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	register(Adapter{
		Name: "mmapwal-recycled",
		Desc: "mmapwal (this module), 64 MiB segments, SyncManual, RecycleSegments 8: the workload runs in recycled segment files (pre-written and truncated away before it, as pebble-recycled pre-writes its log)",
		Open: openMmapwalRecycled,
		// A reopen sees the records appended after the preparation.
		Reopen:  true,
		Durable: true,
		Runs:    All,
	})
}

// recycledPool is the RecycleSegments of mmapwal-recycled: enough pooled
// files for the largest workload of cmd/compare ((i): ~152 MiB of frames)
// to run in recycled segments only.
const recycledPool = 8

// mmapwalWAL adapts mmapwal's public API. A call with one record uses
// Append, a call with several AppendBatch (an atomic batch); under
// SyncManual a durable call then calls Sync.
type mmapwalWAL struct {
	dir    string
	always bool
	l      *mmapwal.Log
	// base is the LastSeq of the log before the workload's first record
	// (mmapwal-recycled's preparation appended and dropped records before
	// it), 0 otherwise: Replay reports sequences from 1.
	base uint64
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

// Replay walks an iterator from sequence 1 (of the workload); values are
// slices of the mapping, valid until the next call of Next.
func (w *mmapwalWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	it, err := w.l.NewIterator(w.base + 1)
	if err != nil {
		return 0, err
	}
	n := 0
	for it.Next() {
		n++
		if err := fn(it.Seq()-w.base, it.Value()); err != nil {
			it.Close()
			return n, err
		}
	}
	return n, firstErr(it.Err(), it.Close())
}

// DiskBytes reports the segment files, which are preallocated: Used scans
// back from the end of each to its last non-zero byte, rounded up to the
// 8-byte frame alignment, as walbench does (a prepared segment counts its
// header). A recycled segment (mmapwal-recycled) has the stale bytes of
// its earlier use after its frames: its Used is where the log says its
// frames end (Log.Segments), and pool files count nothing.
func (w *mmapwalWAL) DiskBytes() (DiskUsage, error) {
	infos, err := w.l.Segments()
	if err != nil {
		return DiskUsage{}, err
	}
	recycled := map[string]int64{}
	for _, si := range infos {
		if si.Flags&flagRecycled != 0 {
			recycled[si.Name] = si.Used
		}
	}
	// The preparation's records that TruncateFront dropped are still in
	// front of the first record of the segment holding it: not the log's.
	if w.l.LastSeq() >= w.l.FirstSeq() {
		if fr, err := w.l.Frame(w.l.FirstSeq()); err == nil {
			if u, ok := recycled[fr.Segment]; ok {
				recycled[fr.Segment] = u - (fr.Offset - segmentHeaderSize)
			}
		}
	}
	used := measure.UsedToLastNonZero(8)
	return measure.DirUsage(w.dir, func(path string, size int64) (int64, error) {
		if strings.HasPrefix(filepath.Base(path), "recycle-") {
			return 0, nil // a pool file (mmapwal-recycled) holds nothing of the log
		}
		if u, ok := recycled[filepath.Base(path)]; ok {
			return u, nil
		}
		if strings.HasSuffix(path, ".wal") {
			return used(path, size)
		}
		return size, nil
	})
}

// flagRecycled is the segment header's flag bit 1, recycled segment
// (FORMAT.md §9.1), as Log.Segments reports it in SegmentInfo.Flags.
const flagRecycled = 1 << 1

// segmentHeaderSize is where a segment's first frame starts (FORMAT.md §2).
const segmentHeaderSize = 64

// RecordsPerFlush is the log's group-commit factor (Stats.RecordsPerSync).
func (w *mmapwalWAL) RecordsPerFlush() float64 { return w.l.Stats().RecordsPerSync }

// Close syncs, writes the durable mark and closes the log.
func (w *mmapwalWAL) Close() error { return w.l.Close() }

// openMmapwalRecycled opens the log in dir with segment recycling. In a
// fresh dir it first prepares the state of a log in steady state, whose
// TruncateFront keeps up with its appends: it fills segments with 1 MiB
// records (enough for about o.SizeHint bytes plus one, at most
// recycledPool), syncs, truncates them all away (they go to the pool),
// appends until a rotation took a pool file, and truncates those records
// away too. The workload then starts in a recycled segment, and every
// rotation it needs takes another pool file. None of this is timed: the
// workloads time from their first append, as pebble-recycled's
// pre-written log is made before its timed part.
func openMmapwalRecycled(dir string, o Options) (WAL, error) {
	_, err := os.Stat(filepath.Join(dir, "META"))
	fresh := errors.Is(err, fs.ErrNotExist)
	const seg = 64 << 20
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: seg, Durability: mmapwal.SyncManual, RecycleSegments: recycledPool})
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := prepareRecycled(l, int(min(max(o.SizeHint/seg+2, 2), recycledPool))); err != nil {
			l.Close()
			return nil, err
		}
	}
	base := l.FirstSeq() - min(l.FirstSeq(), 1)
	return &mmapwalWAL{dir: dir, l: l, base: base}, nil
}

// prepareRecycled fills n+1 segments of l, drops them all into the pool,
// and appends until l appends into a recycled file (those records dropped
// too).
func prepareRecycled(l *mmapwal.Log, n int) error {
	rec := measure.Pattern(1 << 20)
	fill := func(done func() bool) error {
		for !done() {
			if _, err := l.Append(rec); err != nil {
				return err
			}
		}
		if err := l.Sync(); err != nil {
			return err
		}
		return l.TruncateFront(l.LastSeq() + 1)
	}
	if err := fill(func() bool { return l.Stats().Segments > n }); err != nil {
		return err
	}
	if err := fill(func() bool { return l.Stats().Recycled > 0 }); err != nil {
		return err
	}
	if st := l.Stats(); st.Recycled == 0 || st.Pooled == 0 {
		return fmt.Errorf("mmapwal-recycled: preparation left %d recycled, %d pooled", st.Recycled, st.Pooled)
	}
	return nil
}
