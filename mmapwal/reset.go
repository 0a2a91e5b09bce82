package mmapwal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Reset drops every record, durably, and makes the next Append take next,
// which may be below or above the old LastSeq (0 is ErrInvalidArgument).
// When it returns nil, LastSeq() == DurableSeq() == next−1 and FirstSeq()
// == next (the convention of a log emptied by TruncateFront: Reset(1)
// leaves FirstSeq 1 and LastSeq 0), also after a reopen. Every iterator
// opened before it ends with a *TruncatedError (ErrTruncated, also
// ErrNotFound); reads of the dropped records return
// ErrNotFound. The segment files are removed and one new segment, numbered
// above every one in use or given out since Open, takes the records from
// next on.
//
// It is what a Raft follower needs after installing a snapshot: an empty
// log that restarts at the snapshot's index + 1, even below what it held.
//
// It is crash safe: it first writes a redo record into META (the reset
// feature, FORMAT.md §9.5), then removes the segments, creates the new one
// and clears the record; a crash leaves the old log (before the record is
// durable) or the reset one (recovery finishes what the record says). A
// failure after the record was written poisons the log (ErrPoisoned); a
// reopen finishes the Reset.
func (l *Log) Reset(next uint64) error {
	if next == 0 {
		return invalidf("Reset(0): sequences start at 1")
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	defer l.truncated()                      // waiting iterators end: see Iterator.Next
	if err := l.waitWritable(); err != nil { // makes META version 2 first
		return err
	}
	// Above the active segment, the one prepared after it and every number
	// given out before a TruncateBack handed numbers out again, so that a
	// Reset never gives a number again to a file that held a record.
	num := max(l.nextNum, l.maxNum) + 1
	m := l.meta
	m.reset, m.firstSeq, m.floor = num, next, next-1
	m.backSeg, m.backOff, m.clean = 0, 0, cleanClose{}
	// 1. The redo record: from here on a crash finishes the Reset.
	if err := writeMeta(l.dir, m); err != nil {
		if errors.Is(err, errMetaInDoubt) {
			return l.setPoison(err) // a reopen may finish the Reset
		}
		return mapNoSpace(err)
	}
	l.meta = m
	// Readers: before anything changes, end the iterators, refuse every
	// sequence below next (front) and at or above it (a pending cut) until
	// the new segment is published.
	l.ctlTruncating()
	l.resets.Add(1)
	// Iterators opened before end through resets; those opened after must
	// not take the old records for ones a TruncateFront removed under them.
	l.frontGone.Store(next - 1)
	c := l.addCut(next - 1)
	l.st.gen.Add(1) // sync rounds in flight must not raise DurableSeq
	l.gc.truncated(next - 1)
	l.front.Store(next)
	if err := l.resetSegments(num, next); err != nil {
		return l.setPoison(err) // c stays pending: nothing is read until a reopen
	}
	c.pending.Store(false)
	// 2. Done: clear the redo record.
	m.reset = 0
	if err := writeMeta(l.dir, m); err != nil {
		return l.setPoison(err)
	}
	l.meta = m
	l.prepareNext()
	return nil
}

// resetSegments removes every segment (the prepared one too), creates
// segment num active from sequence next and makes it the only one.
// Writer only.
func (l *Log) resetSegments(num, next uint64) error {
	if err := l.prep.discard(); err != nil {
		return err
	}
	for _, s := range l.segments() {
		s.retire(true)
		if err := sysutil.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := sysutil.SyncDir(l.dir); err != nil {
		return err
	}
	s, err := l.newSeg(num, next)
	if err != nil {
		return err
	}
	l.publishSegs([]*seg{s})
	l.active.unpin() // the writer's pin of the old active segment
	l.setActive(s, segment.HeaderSize)
	l.nextNum = num + 1
	l.last.Store(next - 1)
	l.durable.Store(next - 1)
	l.updateFirst()
	return nil
}

// finishReset completes a Reset that a crash interrupted (META holds its
// redo record) before recovery scans anything: every segment file goes,
// the Reset's segment is created afresh (it never held a record: the
// record is cleared before the first append), and META is rewritten
// without the record. It returns the segment numbers left: the new one.
// A ReadOnly open changes nothing and reads the log as the redo would
// leave it: no segment, LastSeq = META's floor.
func (l *Log) finishReset(nums []uint64) ([]uint64, error) {
	m := l.meta
	if l.opts.ReadOnly {
		l.recovery.PendingTruncation = true
		return nil, nil
	}
	for _, n := range nums {
		name := segment.Name(n)
		if err := sysutil.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, l.openFlush(err)
		}
		l.recovery.Removed = append(l.recovery.Removed, name)
	}
	if err := sysutil.SyncDir(l.dir); err != nil {
		return nil, l.openFlush(err)
	}
	f, err := prepareSegment(l.prep.cfg, m.reset, m.firstSeq, false)
	if err != nil {
		return nil, l.openFlush(mapNoSpace(err))
	}
	f.Close()
	num := m.reset
	m.reset = 0
	if err := writeMeta(l.dir, m); err != nil {
		return nil, l.openFlush(fmt.Errorf("mmapwal: finish an interrupted Reset: %w", err))
	}
	l.meta = m
	l.recovery.FinishedTruncation = true
	return []uint64{num}, nil
}
