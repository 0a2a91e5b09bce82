package mmapwal

import (
	"time"

	"github.com/mmapwal/mmapwal/segment"
)

// flush makes [from, to) of f durable. It is the one path by which an open
// Log flushes segment bytes: sync rounds, rotation, Close's durable mark,
// TruncateBack's zeroing and retype. Recovery, before Open returns (and
// Salvage, under the writer's lock, with no Log open), syncs segment bytes
// by hand instead, with nothing else running: the cut of a torn tail
// (segment.File.Zero), the tail at Open (syncTailAtOpen) and the redo of an
// interrupted TruncateBack (finishCut); they call the synced-range hook
// themselves, and a failure there fails the Open, marking the directory
// poisoned (openFlush), or the Salvage. Its rules:
//
//   - Flushes run one at a time (fmu). Linux reports a write-back error to
//     only one of several concurrent msync/fdatasync callers of a file, so
//     of two concurrent flushes of lost pages one could fail and the other
//     return success; serialised, the failure poisons the log before the
//     next flush starts.
//   - A failure poisons the log, and every flush after it fails with
//     ErrPoisoned without asking the OS: no watermark rises after a failed
//     flush (callers raise theirs only when flush returns nil, and check the
//     poison again under wmu before they do).
//   - The synced-range test hook (testHookSynced) is called here for
//     exactly the range that a successful flush covered; the only other
//     callers are those three recovery syncs, each for the range it synced.
//
// appends is the Stats count of appends the flush covers.
func (l *Log) flush(f *segment.File, from, to int64, appends uint64) error {
	return l.flushBy(f, from, to, appends, func() error { return f.Sync(from, to) })
}

// flushFile is flush by fdatasync of the whole file rather than msync of
// the range: for bytes written through the descriptor (segment.File.Detach).
// [from, to) is what the caller changed and now claims durable.
func (l *Log) flushFile(f *segment.File, from, to int64, appends uint64) error {
	return l.flushBy(f, from, to, appends, f.SyncFile)
}

func (l *Log) flushBy(f *segment.File, from, to int64, appends uint64, sync func() error) error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if err := l.poisoned(); err != nil {
		return err
	}
	if from >= to {
		return nil
	}
	start := time.Now()
	if err := sync(); err != nil {
		return l.setPoison(err)
	}
	l.st.observeSync(time.Since(start), appends)
	if testHookSynced != nil {
		testHookSynced(f.Path(), from, to)
	}
	return nil
}
