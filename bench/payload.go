package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Records carry their own identity so that a replay can check them cheaply:
//
//	bytes 0..7   id, little endian (writer<<40 | n for concurrent writers, else n)
//	bytes 8..    pattern[8:len]: fixed pseudo-random bytes, never ending in 0
//
// Records shorter than 8 bytes hold the low bytes of the id only.

// patternSize bounds the record size Payload can fill.
const patternSize = 1 << 20

// pattern is the fixed filler of every record.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, patternSize)
	for i := range p {
		p[i] = byte(r.Uint32()) | 1 // never 0; see usedToLastNonZero
	}
	return p
}()

// Payload is a reusable record buffer for one writer.
type Payload struct {
	buf []byte
}

// NewPayload returns a Payload for records of up to maxSize bytes.
func NewPayload(maxSize int) *Payload {
	if maxSize > patternSize {
		panic(fmt.Sprintf("bench: record size %d over %d", maxSize, patternSize))
	}
	p := &Payload{buf: make([]byte, maxSize)}
	copy(p.buf, pattern)
	return p
}

// Record returns record id of the given size. The slice is overwritten by
// the next call.
func (p *Payload) Record(id uint64, size int) []byte {
	b := p.buf[:size]
	putID(b, id)
	return b
}

// NewRecord returns a fresh copy of record id of the given size.
func NewRecord(id uint64, size int) []byte {
	b := make([]byte, size)
	copy(b, pattern)
	putID(b, id)
	return b
}

// putID writes id in the first (up to) 8 bytes of b.
func putID(b []byte, id uint64) {
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, id)
		return
	}
	for i := range b {
		b[i] = byte(id >> (8 * i))
	}
}

// RecordID returns the id a record carries (its low bytes if shorter than
// 8 bytes).
func RecordID(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)
	}
	var id uint64
	for i := range b {
		id |= uint64(b[i]) << (8 * i)
	}
	return id
}

// CheckRecord reports whether b is record id of the given size, comparing
// every byte.
func CheckRecord(b []byte, id uint64, size int) error {
	if len(b) != size {
		return fmt.Errorf("record %d: %d bytes, want %d", id, len(b), size)
	}
	if got := RecordID(b); got != id&idMask(size) {
		return fmt.Errorf("record %d: carries id %d", id, got)
	}
	if size > 8 && !bytes.Equal(b[8:], pattern[8:size]) {
		return fmt.Errorf("record %d: payload bytes differ", id)
	}
	return nil
}

// idMask is the part of an id a record of the given size can carry.
func idMask(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*size) - 1
}
