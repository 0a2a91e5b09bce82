package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	register(Adapter{
		Name:    "pebble",
		Desc:    "pebble/v2 v2.1.7 record.LogWriter on a fresh file; SyncRecord for durability (group commit in its flush loop)",
		Open:    func(dir string, o Options) (WAL, error) { return openPebble(dir, o, false) },
		Reopen:  true,
		Durable: true,
		Runs:    All,
	})
	register(Adapter{
		Name:    "pebble-recycled",
		Desc:    "pebble/v2 v2.1.7 record.LogWriter on a recycled log file (pre-written, reused with ReuseForWrite)",
		Open:    func(dir string, o Options) (WAL, error) { return openPebble(dir, o, true) },
		Reopen:  true,
		Durable: true,
		Runs:    All,
	})
}

const (
	// pebbleMemTableSize is pebble's default MemTableSize (4 MiB); a DB
	// preallocates 110% of it for each WAL file.
	pebbleMemTableSize = 4 << 20
	// pebblePrealloc is what pebble's walPreallocateSize returns by default.
	pebblePrealloc = pebbleMemTableSize + pebbleMemTableSize/10
	// pebbleMaxRecycled caps the size of the pre-written file at the size
	// of the WAL of a 64 MiB memtable (CockroachDB's setting): a recycled
	// log is an old log, and a log lives as long as its memtable. A longer
	// run writes past it, into new space.
	pebbleMaxRecycled = 64 << 20
	// pebbleMinRecycled is the size of the pre-written file when no size
	// hint is given: 4 default memtables' worth.
	pebbleMinRecycled = 4 * pebbleMemTableSize
)

// pebbleWAL adapts pebble's record.LogWriter the way pebble's commit
// pipeline drives it: writes are serialized by mu (commitPipeline.mu), a
// durable write reserves a sync-queue slot first (logSyncQSem), hands its
// last record to SyncRecord with a WaitGroup, and waits outside mu, so that
// the flush loop can cover many waiters with one fdatasync. Files are
// created through pebble's vfs, wrapped in a syncing file that preallocates
// like a DB's WAL. Records use the format of new stores (recyclable chunks,
// FormatMinSupported; WAL sync offsets are off).
//
// The LogWriter has no "sync what you have" call, so Sync writes an empty
// record with SyncRecord; Replay skips empty records.
type pebbleWAL struct {
	dir      string
	recycled bool
	sem      chan struct{} // sync queue slots, as pebble's commit.logSyncQSem

	mu     sync.Mutex
	w      *record.LogWriter // nil until the first append after a reopen
	path   string            // file of w
	nextNo uint64            // number of the next log file; 0 once closed
	logs   []pebbleLog       // logs found at Open, for Replay
	// obsolete is the pre-written log the next log recycles, if any.
	obsolete string
}

// pebbleLog is one log file.
type pebbleLog struct {
	num  uint64
	path string
}

// openPebble opens the logs in dir. In a fresh dir it creates log 1, or, if
// recycled, pre-writes log 1 and reuses it as log 2.
func openPebble(dir string, o Options, recycled bool) (WAL, error) {
	logs, err := listPebbleLogs(dir)
	if err != nil {
		return nil, err
	}
	p := &pebbleWAL{
		dir:      dir,
		recycled: recycled,
		sem:      make(chan struct{}, record.SyncConcurrency-1),
		logs:     logs,
		nextNo:   1,
	}
	if len(logs) > 0 {
		p.nextNo = logs[len(logs)-1].num + 1
		return p, nil // the next log is created by the first append
	}
	if recycled {
		if err := p.writeObsoleteLog(o.SizeHint); err != nil {
			return nil, err
		}
		p.logs = nil // log 1 is obsolete: its records are not ours
	}
	if err := p.newLog(); err != nil {
		return nil, err
	}
	return p, nil
}

// listPebbleLogs returns the NNNNNN.log files of dir in log order.
func listPebbleLogs(dir string) ([]pebbleLog, error) {
	names, err := vfs.Default.List(dir)
	if err != nil {
		return nil, err
	}
	var logs []pebbleLog
	for _, name := range names {
		num, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".log") {
			continue
		}
		logs = append(logs, pebbleLog{num: num, path: filepath.Join(dir, name)})
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i].num < logs[j].num })
	return logs, nil
}

// pebbleLogName is the file name of log num, as pebble names WAL files.
func pebbleLogName(dir string, num uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%06d.log", num))
}

// pebbleConfig is the LogWriterConfig of a DB with default options.
func (p *pebbleWAL) pebbleConfig() record.LogWriterConfig {
	return record.LogWriterConfig{
		QueueSemChan:        p.sem,
		WriteWALSyncOffsets: func() bool { return false },
	}
}

// newLog creates (or, when recycling, reuses the obsolete log as) the next
// log and opens a LogWriter on it, as wal.StandaloneManager.Create does.
func (p *pebbleWAL) newLog() error {
	num := p.nextNo
	name := pebbleLogName(p.dir, num)
	var (
		f   vfs.File
		err error
	)
	if p.obsolete != "" {
		f, err = vfs.Default.ReuseForWrite(p.obsolete, name, vfs.WriteCategoryUnspecified)
		p.obsolete = ""
	} else {
		f, err = vfs.Default.Create(name, vfs.WriteCategoryUnspecified)
	}
	if err != nil {
		return err
	}
	if err := syncDir(p.dir); err != nil {
		f.Close()
		return err
	}
	f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{PreallocateSize: pebblePrealloc})
	p.w = newLogWriter(record.NewLogWriter, f, num, p.pebbleConfig())
	p.path = name
	p.nextNo = num + 1
	return nil
}

// writeObsoleteLog fills log 1 with about size bytes of records, closes it
// and leaves it to be recycled: the state of a WAL that pebble's
// LogRecycler hands back after its memtable was flushed.
func (p *pebbleWAL) writeObsoleteLog(size int64) error {
	size = min(max(size, pebbleMinRecycled), pebbleMaxRecycled)
	name := pebbleLogName(p.dir, 1)
	f, err := vfs.Default.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	w := newLogWriter(record.NewLogWriter, vfs.NewSyncingFile(f, vfs.SyncingFileOptions{}), 1, p.pebbleConfig())
	rec := measure.Pattern(32 << 10)
	for w.Size() < size {
		if _, err := w.WriteRecord(rec); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	p.nextNo, p.obsolete = 2, name
	return nil
}

// newLogWriter calls record.NewLogWriter with a log number of the type it
// takes, pebble's internal base.DiskFileNum, which cannot be named here; T is
// inferred from the function passed in.
func newLogWriter[T ~uint64](
	newWriter func(io.Writer, T, record.LogWriterConfig) *record.LogWriter,
	w io.Writer, num uint64, cfg record.LogWriterConfig,
) *record.LogWriter {
	return newWriter(w, T(num), cfg)
}

// newLogReader is newLogWriter for record.NewReader.
func newLogReader[T ~uint64](newReader func(io.Reader, T) *record.Reader, r io.Reader, num uint64) *record.Reader {
	return newReader(r, T(num))
}

// writer returns the current LogWriter, creating the next log after a
// reopen; the caller holds mu.
func (p *pebbleWAL) writer() (*record.LogWriter, error) {
	if p.w == nil {
		if p.nextNo == 0 {
			return nil, errClosed
		}
		if err := p.newLog(); err != nil {
			return nil, err
		}
	}
	return p.w, nil
}

// Append writes recs with WriteRecord; the flush loop writes them out.
func (p *pebbleWAL) Append(recs [][]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, err := p.writer()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := w.WriteRecord(r); err != nil {
			return err
		}
	}
	return nil
}

// AppendDurable writes recs, the last one with SyncRecord, and waits for
// the flush loop's sync.
func (p *pebbleWAL) AppendDurable(recs [][]byte) error {
	if len(recs) == 0 {
		return p.Sync()
	}
	p.sem <- struct{}{}
	var (
		wg      sync.WaitGroup
		syncErr error
	)
	wg.Add(1)
	p.mu.Lock()
	w, err := p.writer()
	for i := 0; err == nil && i < len(recs)-1; i++ {
		_, err = w.WriteRecord(recs[i])
	}
	if err == nil {
		_, err = w.SyncRecord(recs[len(recs)-1], &wg, &syncErr)
	}
	p.mu.Unlock()
	if err != nil {
		<-p.sem
		return err
	}
	wg.Wait()
	return syncErr
}

// Sync writes an empty record with SyncRecord and waits for it.
func (p *pebbleWAL) Sync() error {
	p.mu.Lock()
	idle := p.w == nil
	p.mu.Unlock()
	if idle {
		return nil
	}
	return p.AppendDurable([][]byte{nil})
}

// Replay reads the logs found at Open in order with record.Reader. Like
// pebble's replayWAL, it takes io.EOF as the end of a log and, in the last
// log only, record.ErrUnexpectedEOF too (a torn tail); invalid or zeroed
// chunks that the reader confirms as corruption fail the replay.
func (p *pebbleWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	var buf bytes.Buffer
	for i, l := range p.logs {
		last := i == len(p.logs)-1
		if err := replayPebbleLog(l, last, &buf, func(b []byte) error {
			n++
			return fn(uint64(n), b)
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// replayPebbleLog calls fn for every non-empty record of one log.
func replayPebbleLog(l pebbleLog, last bool, buf *bytes.Buffer, fn func([]byte) error) error {
	f, err := os.Open(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	rr := newLogReader(record.NewReader, f, l.num)
	for {
		r, err := rr.Next()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		switch {
		case errors.Is(err, io.EOF), last && errors.Is(err, record.ErrUnexpectedEOF):
			return nil
		case err != nil:
			return fmt.Errorf("pebble: replaying %s: %w", l.path, err)
		}
		if buf.Len() == 0 {
			continue // a Sync marker
		}
		if err := fn(buf.Bytes()); err != nil {
			return err
		}
	}
}

// DiskBytes reports the log files; the open log's Used is LogWriter.Size,
// which excludes pebble's fallocate(KEEP_SIZE) preallocation and, when
// recycled, the stale bytes of the old log after the new one's end.
func (p *pebbleWAL) DiskBytes() (DiskUsage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return measure.DirUsage(p.dir, func(path string, size int64) (int64, error) {
		if p.w != nil && path == p.path {
			return p.w.Size(), nil
		}
		return size, nil
	})
}

// Close flushes, syncs and closes the current log.
func (p *pebbleWAL) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nextNo == 0 {
		return errClosed
	}
	p.nextNo = 0
	if p.w == nil {
		return nil
	}
	err := p.w.Close()
	p.w = nil
	return err
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	d, err := vfs.Default.OpenDir(dir)
	if err != nil {
		return err
	}
	return firstErr(d.Sync(), d.Close())
}
