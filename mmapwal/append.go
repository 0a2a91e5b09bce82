package mmapwal

import (
	"context"
	"fmt"
	"math"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Append adds a record at sequence LastSeq()+1 (1 on an empty log) and
// returns the sequence. A nil or empty record is allowed. The bytes are
// copied into the log; data may be reused when Append returns.
//
// Under SyncAlways it returns once the record is durable; otherwise the
// record is visible to readers at once and durable after the next sync.
func (l *Log) Append(data []byte) (uint64, error) {
	l.wmu.Lock()
	seq, err := l.appendLocked(0, data)
	l.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	return seq, l.afterAppend(seq)
}

// AppendSeq adds a record at a sequence the caller chooses, which must be
// above LastSeq() (gaps are allowed). A sequence not above it fails with a
// *SequenceError (ErrSequence).
func (l *Log) AppendSeq(seq uint64, data []byte) error {
	if seq == 0 {
		return seqError(l.LastSeq(), 0)
	}
	l.wmu.Lock()
	_, err := l.appendLocked(seq, data)
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	return l.afterAppend(seq)
}

// AppendBatch adds records at consecutive sequences from LastSeq()+1 and
// returns the first. The batch is atomic: after any crash, all of it or none
// of it is recovered. It must not be empty and must fit in one segment
// (ErrRecordTooLarge otherwise).
func (l *Log) AppendBatch(records [][]byte) (uint64, error) {
	l.wmu.Lock()
	first, err := l.appendBatchLocked(0, records)
	l.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	return first, l.afterAppend(first + uint64(len(records)) - 1)
}

// AppendBatchSeq is AppendBatch at the caller's sequences first, first+1, …;
// first must be above LastSeq().
func (l *Log) AppendBatchSeq(first uint64, records [][]byte) error {
	if first == 0 {
		return seqError(l.LastSeq(), 0)
	}
	l.wmu.Lock()
	_, err := l.appendBatchLocked(first, records)
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	return l.afterAppend(first + uint64(len(records)) - 1)
}

// afterAppend applies the durability mode to a record just appended.
func (l *Log) afterAppend(seq uint64) error {
	if l.opts.Durability == SyncAlways {
		return l.syncTo(context.Background(), seq, true)
	}
	return nil
}

// checkSeq returns the first sequence of n records: the next one when seq
// is 0, else seq if it is above LastSeq. The last of them must not pass
// math.MaxUint64: sequences never wrap. Writer only.
func (l *Log) checkSeq(seq uint64, n int) (uint64, error) {
	last := l.last.w
	if seq == 0 {
		if last == math.MaxUint64 {
			return 0, errSeqExhausted
		}
		seq = last + 1
	} else if seq <= last {
		return 0, seqError(last, seq)
	}
	if uint64(n-1) > math.MaxUint64-seq {
		return 0, errSeqExhausted
	}
	return seq, nil
}

// errSeqExhausted is the failure of a write that would need a sequence
// above math.MaxUint64.
var errSeqExhausted = fmt.Errorf("%w: sequence space exhausted (LastSeq would pass %d)", ErrInvalidArgument, uint64(math.MaxUint64))

// appendLocked writes one record. Writer only (wmu held).
func (l *Log) appendLocked(seq uint64, data []byte) (uint64, error) {
	if err := l.waitWritable(); err != nil {
		return 0, err
	}
	if len(data) > l.opts.MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, MaxRecordSize is %d", ErrRecordTooLarge, len(data), l.opts.MaxRecordSize)
	}
	seq, err := l.checkSeq(seq, 1)
	if err != nil {
		return 0, err
	}
	if err := l.ensureRoom(crcframe.Size(len(data))); err != nil {
		return 0, err
	}
	s := l.active
	n, err := s.file.WriteFrame(l.off, crcframe.Header{Seq: seq, Durable: l.durableMark(s), Type: crcframe.Full}, data)
	if err != nil {
		return 0, err // ensureRoom made room: never
	}
	s.idx.add(l.off, seq)
	l.advance(s, n, seq, seq)
	return seq, nil
}

// appendBatchLocked writes a batch. Writer only.
func (l *Log) appendBatchLocked(first uint64, records [][]byte) (uint64, error) {
	if err := l.waitWritable(); err != nil {
		return 0, err
	}
	if len(records) == 0 {
		return 0, fmt.Errorf("%w: empty batch", ErrInvalidArgument)
	}
	total := 0
	for _, r := range records {
		if len(r) > l.opts.MaxRecordSize {
			return 0, fmt.Errorf("%w: a record of %d bytes, MaxRecordSize is %d", ErrRecordTooLarge, len(r), l.opts.MaxRecordSize)
		}
		total += crcframe.Size(len(r))
	}
	if int64(total) > l.opts.SegmentSize-segment.HeaderSize-recordRoom {
		return 0, fmt.Errorf("%w: a batch of %d bytes does not fit in one segment", ErrRecordTooLarge, total)
	}
	first, err := l.checkSeq(first, len(records))
	if err != nil {
		return 0, err
	}
	if err := l.ensureRoom(total); err != nil {
		return 0, err
	}
	s := l.active
	durable := l.durableMark(s)
	off := l.off
	for i, r := range records {
		typ := crcframe.Middle
		switch {
		case len(records) == 1:
			typ = crcframe.Full
		case i == 0:
			typ = crcframe.First
		case i == len(records)-1:
			typ = crcframe.Last
		}
		n, err := s.file.WriteFrame(off, crcframe.Header{Seq: first + uint64(i), Durable: durable, Type: typ}, r)
		if err != nil {
			s.file.Clear(l.off, off) // ensureRoom made room: never
			return 0, err
		}
		off += int64(n)
	}
	// Publish only once the whole batch is in the mapping.
	off = l.off
	for i, r := range records {
		s.idx.put(off, first+uint64(i))
		off += int64(crcframe.Size(len(r)))
	}
	s.idx.publish() // one publication: no reader sees LastSeq inside the batch
	l.advance(s, total, first, first+uint64(len(records))-1)
	return first, nil
}

// durableMark is the durable watermark written into new frames of s.
func (l *Log) durableMark(s *seg) uint32 { return uint32(s.synced.Load()) }

// advance publishes n bytes written at l.off holding the records first..last.
// Writer only.
func (l *Log) advance(s *seg, n int, first, last uint64) {
	prevLast := l.last.w
	l.off += int64(n)
	s.written = l.off
	if s.recycled {
		s.file.EndHeader(l.off) // the clean end in front of stale bytes
	}
	l.last.follow(s.idx, int64(last-first+1)) // LastSeq and Stats.Appends follow s's index: nothing to store
	l.last.w = last
	if f := l.first.Load(); f == 0 || f > prevLast { // the log held no record
		l.first.Store(first)
	}
	if l.off >= l.bgAt {
		l.background(s)
	}
	l.notifyAppend(s, last) // after the records are published: see listenFollower
}

// background does the writer's periodic work for s, the active segment:
// a write-back request every BytesPerSync bytes, and a raise of the limit
// of the population of s's page tables (see prepareSegment) every
// prefaultEvery bytes. A segment this Log did not prepare (reopened by
// recovery, or made active again by TruncateBack) starts its population
// at its first append here, not at Open, where it would compete with a
// replay. Writer only.
func (l *Log) background(s *seg) {
	l.prep.startDeferred() // the first append after Open (see preparer.startLater)
	if l.off >= l.popAt {
		if s.file.Prefaulted() {
			s.file.PrefaultLimit(l.off + prefaultAhead)
		} else {
			s.file.PrefaultAsync(l.off, s.size, l.off+prefaultAhead)
		}
		l.popAt = l.off + prefaultEvery
	}
	if l.off >= l.wbAt {
		l.startWriteback(s)
	}
	l.bgAt = min(l.wbAt, l.popAt)
}

// startWriteback hands what was appended since the last time, up to the
// folio being written (see writebackAlign), to the write-back goroutine.
// Rotation and Sync then find most of the bytes already on their way.
// Writer only.
func (l *Log) startWriteback(s *seg) {
	to := l.off &^ (writebackAlign - 1)
	if to > l.wbFrom {
		l.wb.request(s, max(l.wbFrom, s.synced.Load()), to)
		l.wbFrom = to
	}
	l.setWritebackAt()
}

// setWritebackAt sets where advance next calls startWriteback: once
// BytesPerSync bytes were appended since wbFrom and the folio after
// wbFrom's is reached (before it, startWriteback would find nothing to
// request). Writer only.
func (l *Log) setWritebackAt() {
	l.wbAt = max(l.wbFrom+l.opts.BytesPerSync, l.wbFrom&^(writebackAlign-1)+writebackAlign)
	l.bgAt = min(l.wbAt, l.popAt)
}

// writebackAlign keeps write-back requests off the page being written, and
// off the whole folio around it: recent kernels cache a file in folios of up
// to 2 MiB (naturally aligned), and write-back write-protects a folio, so
// the next store anywhere in it faults and may wait for the disk.
const writebackAlign = 2 << 20

// waitWritable waits while a reservation is open, then reports whether the
// log can take writes, and makes a version 1 log version 2 before the
// first write (FORMAT.md §9.4). Writer only.
func (l *Log) waitWritable() error {
	for l.resv != nil && !l.closed.Load() {
		l.resvCond.Wait()
	}
	if err := l.writable(); err != nil {
		return err
	}
	return l.upgradeLocked()
}

// ensureRoom makes sure a run of record frames of n bytes fits in the
// active segment with the room for a mark and a seal after it, rotating to
// the next segment if not. Writer only.
func (l *Log) ensureRoom(n int) error { return l.ensureRoomFor(n, recordRoom) }

// ensureRoomFor makes sure n bytes fit in the active segment with room
// bytes free after them, and that it is not sealed, rotating if not.
// Writer only.
func (l *Log) ensureRoomFor(n int, room int64) error {
	if l.active.fitsFor(l.off, n, room) {
		return nil
	}
	return l.rotate()
}

// rotate seals the active segment and activates the next one: the sealed
// segment is made durable first, so that only the newest segment can ever
// hold unsynced bytes. The next segment was prepared in the background. On a
// failure before anything depends on it (no space for the new segment),
// nothing changes and the log stays usable. Writer only.
func (l *Log) rotate() error {
	if l.canRecycle() {
		return l.rotateRecycled()
	}
	next, err := l.prep.take(l.nextNum)
	if err != nil {
		return mapNoSpace(err)
	}
	if err := checkSegment(next); err != nil {
		l.prep.putBack(next)
		return err
	}
	old := l.active
	if err := l.writeSealLocked(old); err != nil {
		l.prep.putBack(next)
		return err
	}
	if err := l.syncSegLocked(old); err != nil {
		l.prep.putBack(next)
		return err
	}
	ns := l.segFromFile(next)
	last := l.last.Load()
	ns.first = last + 1
	if err := l.activateLocked(next, old, last+1); err != nil {
		l.prep.putBack(next)
		return err
	}
	l.rotated(old, ns)
	return nil
}

// rotated makes ns, the segment after the sealed and synced old, the
// active one: published, the writer's pin moved, the next number's
// preparation started (rotate and rotateRecycled). Writer only.
func (l *Log) rotated(old, ns *seg) {
	segs := append(append([]*seg(nil), l.segments()...), ns)
	l.publishSegs(segs)
	l.setActive(ns, segment.HeaderSize)
	old.unpin() // the writer's pin
	l.nextNum++
	l.prepareNext()
	l.st.rotations.Add(1)
	l.trimMapped()
}

// writeMarkLocked appends a durable mark and syncs it (Close). In a log
// still at version 1 (opened by this writer and never written to) the mark
// keeps no room for a seal, and a rotation it needs is a version 1 one
// (writeSealLocked): the log stays version 1 (FORMAT.md §9.4). Writer only.
func (l *Log) writeMarkLocked() error {
	last := l.last.Load()
	if last == 0 {
		return nil // nothing to protect
	}
	room := int64(sealSize)
	if l.meta.version < metaVersion {
		room = 0
	}
	if err := l.ensureRoomFor(markSize, room); err != nil {
		return err
	}
	s, off := l.active, l.off
	if _, err := s.file.WriteFrame(l.off, crcframe.Header{Seq: last, Durable: uint32(l.off), Type: crcframe.Mark}, nil); err != nil {
		return err
	}
	l.off += crcframe.HeaderSize
	s.written = l.off
	s.file.EndHeader(l.off)
	if err := l.syncSegLocked(s); err != nil {
		return err
	}
	return l.recordCleanCloseLocked(s, off)
}

// writeMarkThrough is writeMarkLocked for a Close that orphaned the
// reservation r (see Log.orphan): the mark goes where r's frame would have
// gone, written through the descriptor because those pages are private
// now, and flushed by fdatasync. As in writeMarkLocked, the records before
// it are made durable first and the mark is stored only then: a process
// killed between storing the mark and a flush of both would leave records
// that were never flushed behind a mark in the page cache, and the Open
// after the restart takes a log ending with a mark for closed cleanly and
// flushes only the mark (syncTailAtOpen). Writer only.
func (l *Log) writeMarkThrough(r *Reservation) error {
	s := l.active // r.s: a reservation holds off rotation and truncation
	from, to := s.synced.Load(), r.off+r.size()
	if err := l.flushFile(s.file, from, to, l.st.appends.Load()); err != nil {
		return err
	}
	s.synced.Store(to)
	l.durable.Store(l.last.Load())
	l.durableRose()
	last := l.last.Load()
	if last == 0 {
		return nil
	}
	h := crcframe.Header{Seq: last, Durable: uint32(r.off), Type: crcframe.Mark}
	if err := s.file.WriteFrameThrough(r.off, h, nil, s.file.EndHeaderEnd(r.off+crcframe.HeaderSize)); err != nil {
		return err
	}
	if err := l.flushFile(s.file, r.off, r.off+markSize, l.st.appends.Load()); err != nil {
		return err
	}
	return l.recordCleanCloseLocked(s, r.off)
}
