package mmapwal

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Reservation is space for one record inside the log's mapping: the caller
// writes the record straight into Bytes (zero copy), then Commits it or
// Aborts. One reservation is open at a time; other writers wait until it is
// committed or aborted, so keep it short.
//
// Close does not wait for an open reservation (its holder may be the
// goroutine calling Close): it orphans it. The memory of Bytes stays valid
// until the holder's Commit or Abort, but no longer reaches the file, and
// the Commit fails with ErrClosed and leaves no record.
type Reservation struct {
	l   *Log
	s   *seg // pinned until the reservation ends
	off int64
	buf []byte // immutable; handed out by Bytes until done

	// done is set by the Commit or Abort that ended the reservation.
	done atomic.Bool
	// orphaned is set (under l.wmu) by a Close that found the reservation
	// open: its pages were detached from the file and the file holds the
	// durable mark where its frame would have gone.
	orphaned bool
}

// Reserve opens a reservation of n bytes (0 ≤ n ≤ MaxRecordSize). The record
// gets its sequence at Commit, so an Abort leaves no gap.
func (l *Log) Reserve(n int) (*Reservation, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.waitWritable(); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: Reserve(%d): negative size", ErrInvalidArgument, n)
	}
	if n > l.opts.MaxRecordSize {
		return nil, fmt.Errorf("%w: Reserve(%d), MaxRecordSize is %d", ErrRecordTooLarge, n, l.opts.MaxRecordSize)
	}
	if l.last.Load() == math.MaxUint64 && !l.active.fits(l.off, crcframe.Size(n)) {
		// Its Commit could only fail (no sequence is left), and a
		// rotation would activate a segment at first sequence 0.
		return nil, errSeqExhausted
	}
	if err := l.ensureRoom(crcframe.Size(n)); err != nil {
		return nil, err
	}
	s := l.active
	f, err := s.pin() // the reservation's own: Close may unpin the writer's
	if err != nil {
		return nil, err
	}
	buf := f.Payload(l.off, n)
	if s.recycled {
		// The space holds stale bytes of the file's previous use (records
		// TruncateFront dropped, FORMAT.md §9.7): hand it out zeroed, as a
		// fresh segment's, so that no caller reads them and no record
		// committed without filling all of it carries them.
		clear(buf)
	}
	r := &Reservation{l: l, s: s, off: l.off, buf: buf}
	l.resv = r
	return r, nil
}

// size is the frame size of the reservation.
func (r *Reservation) size() int64 { return int64(crcframe.Size(len(r.buf))) }

// Bytes returns the reserved space: n bytes of the log's mapping. It is
// valid until Commit or Abort and must not be used after (it returns nil
// then).
func (r *Reservation) Bytes() []byte {
	if r.done.Load() {
		return nil
	}
	return r.buf
}

// Commit frames what was written into Bytes as the record LastSeq()+1 and
// returns its sequence. Under SyncAlways it returns once the record is
// durable. After Close it fails with ErrClosed and leaves no record. A
// second Commit, or a Commit after Abort, fails with ErrInvalidArgument.
func (r *Reservation) Commit() (uint64, error) {
	l := r.l
	l.wmu.Lock()
	switch {
	case r.done.Load():
		l.wmu.Unlock()
		return 0, fmt.Errorf("%w: reservation already committed or aborted", ErrInvalidArgument)
	case r.orphaned:
		r.finish()
		l.wmu.Unlock()
		return 0, ErrClosed
	}
	seq, err := l.commitLocked(r)
	l.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	return seq, l.afterAppend(seq)
}

func (l *Log) commitLocked(r *Reservation) (uint64, error) {
	defer l.endReservation(r)
	if err := l.writable(); err != nil {
		r.s.file.Clear(r.off, r.off+r.size())
		return 0, err
	}
	seq, err := l.checkSeq(0, 1)
	if err != nil {
		r.s.file.Clear(r.off, r.off+r.size())
		return 0, err
	}
	n, err := r.s.file.CommitFrame(r.off, crcframe.Header{Seq: seq, Durable: l.durableMark(r.s), Type: crcframe.Full}, len(r.buf))
	if err != nil {
		r.s.file.Clear(r.off, r.off+r.size())
		return 0, err // Reserve made room: never
	}
	r.s.idx.add(r.off, seq)
	l.advance(r.s, n, seq, seq)
	return seq, nil
}

// Abort drops the reservation: the space is zeroed and the log is as if
// Reserve had not been called. Abort after Commit or a second Abort does
// nothing.
func (r *Reservation) Abort() {
	l := r.l
	l.wmu.Lock()
	defer l.wmu.Unlock()
	switch {
	case r.done.Load():
	case r.orphaned:
		r.finish()
	default:
		l.abortLocked(r)
	}
}

func (l *Log) abortLocked(r *Reservation) {
	r.s.file.Clear(r.off, r.off+r.size())
	l.endReservation(r)
}

// endReservation closes r and wakes the writers waiting for it. Writer only.
func (l *Log) endReservation(r *Reservation) {
	r.finish()
	l.resv = nil
	l.resvCond.Broadcast()
}

// finish marks r done and releases its pin (the last pin of a closed log's
// segment unmaps it). Under l.wmu.
func (r *Reservation) finish() {
	r.done.Store(true)
	r.s.unpin()
}

// orphan detaches an open reservation from the file when the log closes
// under it: its pages become private (the holder may go on storing into
// Bytes, but nothing reaches the file), and the bytes the holder stored so
// far are zeroed in the file. It reports whether the detach worked; if not,
// the log must not claim a clean end. Writer only.
func (l *Log) orphan(r *Reservation) error {
	r.orphaned = true
	l.resv = nil
	l.resvCond.Broadcast()
	if err := r.s.file.Detach(r.off, r.off+r.size()); err != nil {
		return err
	}
	return r.s.file.ClearThrough(r.off, r.off+r.size())
}
