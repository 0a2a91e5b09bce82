package measure

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
)

// Records carry their own identity so that a replay can check them cheaply:
//
//	bytes 0..7   id, little endian (writer<<40 | n for concurrent writers, else n)
//	bytes 8..    Pattern bytes 8..len: fixed pseudo-random bytes, none of them 0
//
// Records shorter than 8 bytes hold the low bytes of the id only.

// patternPeriod is the length of the random part of the pattern; longer
// patterns repeat it.
const patternPeriod = 1 << 20

// basePattern is patternPeriod pseudo-random bytes in 1..255, the same on
// every run.
var basePattern = sync.OnceValue(func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, patternPeriod)
	for i := range p {
		p[i] = byte(1 + r.IntN(255)) // never 0: see UsedToLastNonZero
	}
	return p
})

// Pattern returns n payload bytes with no zero byte, the same for every
// call: 1 MiB of fixed pseudo-random bytes, repeated. Records of any size are
// prefixes of it (IDs aside); the slice is the caller's.
func Pattern(n int) []byte {
	base := basePattern()
	p := make([]byte, n)
	for i := 0; i < n; i += len(base) {
		copy(p[i:], base)
	}
	return p
}

// Payload is a reusable record buffer for one writer.
type Payload struct {
	buf []byte
}

// NewPayload returns a Payload for records of up to maxSize bytes.
func NewPayload(maxSize int) *Payload {
	return &Payload{buf: Pattern(maxSize)}
}

// Record returns record id of the given size (at most the maxSize of
// NewPayload). The slice is overwritten by the next call.
func (p *Payload) Record(id uint64, size int) []byte {
	b := p.buf[:size]
	putID(b, id)
	return b
}

// NewRecord returns a fresh copy of record id of the given size.
func NewRecord(id uint64, size int) []byte {
	b := Pattern(size)
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

// IDMask is the part of an id a record of the given size can carry.
func IDMask(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*size) - 1
}

// CheckRecord reports whether b is record id of the given size, comparing
// every byte.
func CheckRecord(b []byte, id uint64, size int) error {
	if len(b) != size {
		return fmt.Errorf("record %d: %d bytes, want %d", id, len(b), size)
	}
	if got := RecordID(b); got != id&IDMask(size) {
		return fmt.Errorf("record %d: carries id %d", id, got)
	}
	if size > 8 && !matchesPattern(b[8:], 8) {
		return fmt.Errorf("record %d: payload bytes differ", id)
	}
	return nil
}

// matchesPattern reports whether b equals the pattern from offset off on.
func matchesPattern(b []byte, off int) bool {
	base := basePattern()
	for len(b) > 0 {
		i := off % len(base)
		n := min(len(b), len(base)-i)
		if !bytes.Equal(b[:n], base[i:i+n]) {
			return false
		}
		b, off = b[n:], off+n
	}
	return true
}
