package mmapwal

import (
	"fmt"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Reservation is space for one record inside the log's mapping: the caller
// writes the record straight into Bytes (zero copy), then Commits it or
// Aborts. One reservation is open at a time; other writers wait until it is
// committed or aborted, so keep it short.
type Reservation struct {
	l    *Log
	s    *seg
	off  int64
	buf  []byte
	done bool
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
	if err := l.ensureRoom(crcframe.Size(n)); err != nil {
		return nil, err
	}
	s := l.active
	start := l.off + crcframe.HeaderSize
	r := &Reservation{l: l, s: s, off: l.off, buf: s.file.Data()[start : start+int64(n) : start+int64(n)]}
	l.resv = r
	return r, nil
}

// Bytes returns the reserved space: n bytes of the log's mapping. It is
// valid until Commit or Abort and must not be used after.
func (r *Reservation) Bytes() []byte {
	if r.done {
		return nil
	}
	return r.buf
}

// Commit frames what was written into Bytes as the record LastSeq()+1 and
// returns its sequence. Under SyncAlways it returns once the record is
// durable. A second Commit, or a Commit after Abort, fails.
func (r *Reservation) Commit() (uint64, error) {
	l := r.l
	l.wmu.Lock()
	if r.done || l.resv != r {
		l.wmu.Unlock()
		return 0, fmt.Errorf("%w: reservation already committed, aborted or closed", ErrInvalidArgument)
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
		clear(r.s.file.Data()[r.off : r.off+int64(crcframe.Size(len(r.buf)))])
		return 0, err
	}
	seq, err := l.checkSeq(0, 1)
	if err != nil {
		clear(r.s.file.Data()[r.off : r.off+int64(crcframe.Size(len(r.buf)))])
		return 0, err
	}
	n, _ := crcframe.EncodeHeader(r.s.file.Data()[r.off:], r.s.file.Seed(),
		crcframe.Header{Seq: seq, Durable: l.durableMark(r.s), Type: crcframe.Full}, len(r.buf))
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
	if !r.done && l.resv == r {
		l.abortLocked(r)
	}
}

func (l *Log) abortLocked(r *Reservation) {
	clear(r.s.file.Data()[r.off : r.off+int64(crcframe.Size(len(r.buf)))])
	l.endReservation(r)
}

// endReservation closes r and wakes the writers waiting for it. Writer only.
func (l *Log) endReservation(r *Reservation) {
	r.done, r.buf = true, nil
	l.resv = nil
	l.resvCond.Broadcast()
}
