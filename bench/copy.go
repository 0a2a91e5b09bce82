package bench

import (
	"encoding/binary"
	"errors"
	"sync"
)

func init() {
	register(Adapter{
		Name: "copy",
		Desc: "floor: copies len+payload into 64 MiB heap chunks; never durable",
		Open: func(string, Options) (WAL, error) { return &copyWAL{}, nil },
		Runs: Bulk | Replay,
	})
}

// copyChunk is the size of one heap chunk of the copy adapter.
const copyChunk = 64 << 20

// copyWAL is the non-durable floor: the least an append can cost, a copy of
// the payload behind a 4-byte length. Chunks are never reallocated, so a
// large log costs no growth copies. It cannot reopen: Replay reads the same
// instance.
type copyWAL struct {
	mu     sync.Mutex
	chunks [][]byte // each with len = bytes used
	used   int64
	closed bool
}

// errCopyTooLarge is returned for a record that does not fit in one chunk.
var errCopyTooLarge = errors.New("copy: record larger than a chunk")

// Append copies recs.
func (w *copyWAL) Append(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errClosed
	}
	for _, r := range recs {
		need := 4 + len(r)
		if need > copyChunk {
			return errCopyTooLarge
		}
		if len(w.chunks) == 0 || len(w.chunks[len(w.chunks)-1])+need > copyChunk {
			w.chunks = append(w.chunks, make([]byte, 0, copyChunk))
		}
		c := &w.chunks[len(w.chunks)-1]
		*c = binary.LittleEndian.AppendUint32(*c, uint32(len(r)))
		*c = append(*c, r...)
		w.used += int64(need)
	}
	return nil
}

// AppendDurable is Append: nothing here is ever durable.
func (w *copyWAL) AppendDurable(recs [][]byte) error { return w.Append(recs) }

// Sync does nothing.
func (w *copyWAL) Sync() error { return nil }

// Replay walks the chunks.
func (w *copyWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.chunks {
		for len(c) > 0 {
			size := binary.LittleEndian.Uint32(c)
			n++
			if err := fn(uint64(n), c[4:4+size]); err != nil {
				return n, err
			}
			c = c[4+size:]
		}
	}
	return n, nil
}

// DiskBytes reports the heap bytes used: there is no disk.
func (w *copyWAL) DiskBytes() (DiskUsage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return DiskUsage{Used: w.used, Allocated: int64(len(w.chunks)) * copyChunk}, nil
}

// Close drops the chunks.
func (w *copyWAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chunks, w.closed = nil, true
	return nil
}
