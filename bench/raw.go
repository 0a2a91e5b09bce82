package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mmapwal/mmapwal/internal/measure"
)

func init() {
	raw := Adapter{
		Name:    "raw",
		Desc:    "floor: one file, write(2) per call of len+CRC32C frames, fdatasync for durability",
		Open:    func(dir string, _ Options) (WAL, error) { return openRaw(dir, 0) },
		Reopen:  true,
		Durable: true,
		Runs:    All,
	}
	register(raw)
	register(batchedAdapter(raw, Concurrent))
	register(Adapter{
		Name:    "raw-chunked",
		Desc:    "floor: raw's frames built in a 1 MiB buffer, write(2) per MiB, one fdatasync per Sync or durable call",
		Open:    func(dir string, _ Options) (WAL, error) { return openRaw(dir, rawChunk) },
		Reopen:  true,
		Durable: true,
		Runs:    All,
	})
}

// rawChunk is the buffer of raw-chunked: frames are handed to the kernel
// in write(2)s of up to this many bytes (a larger frame goes alone).
const rawChunk = 1 << 20

// rawHeader is a raw frame's header: payload length and CRC-32C of the
// payload, both u32 little endian.
const rawHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawWAL is the durable floor: what any append-only log has to do at least.
// Each call builds its frames in a reused buffer; raw hands them to the
// kernel in one write(2) per call, raw-chunked (chunk > 0) only when the
// buffer holds chunk bytes, or at a Sync or a durable call. A durable call
// adds one fdatasync. No preallocation, no group commit, no tail repair at
// reopen.
type rawWAL struct {
	dir   string
	chunk int // 0: write(2) per call; else the buffer size of raw-chunked
	mu    sync.Mutex
	f     *os.File
	buf   []byte // frames not yet written, guarded by mu
	size  int64  // bytes written to the file, guarded by mu
}

// openRaw opens (or creates) dir/raw.log for appending; chunk is as in
// rawWAL.
func openRaw(dir string, chunk int) (*rawWAL, error) {
	f, err := os.OpenFile(filepath.Join(dir, "raw.log"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rawWAL{dir: dir, chunk: chunk, f: f, size: st.Size(), buf: make([]byte, 0, chunk)}, nil
}

// write frames recs into the buffer and writes it out: at once for raw;
// for raw-chunked whenever the next frame would not fit in chunk bytes,
// and at the end when flush is set. The caller holds mu.
func (w *rawWAL) write(recs [][]byte, flush bool) error {
	if w.f == nil {
		return errClosed
	}
	for _, r := range recs {
		if w.chunk > 0 && len(w.buf) > 0 && len(w.buf)+rawHeader+len(r) > w.chunk {
			if err := w.flush(); err != nil {
				return err
			}
		}
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(r)))
		w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(r, castagnoli))
		w.buf = append(w.buf, r...)
	}
	if w.chunk == 0 || flush {
		return w.flush()
	}
	return nil
}

// flush hands the buffered frames to the kernel in one write(2); the
// caller holds mu.
func (w *rawWAL) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	w.buf = w.buf[:0]
	return err
}

// sync writes out the buffer and calls fdatasync; the caller holds mu.
func (w *rawWAL) sync() error {
	if w.f == nil {
		return errClosed
	}
	if err := w.flush(); err != nil {
		return err
	}
	return unix.Fdatasync(int(w.f.Fd()))
}

// Append writes recs with one write(2) (raw) or buffers them (raw-chunked).
func (w *rawWAL) Append(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(recs, false)
}

// AppendDurable writes recs (and what raw-chunked buffered before them)
// and calls fdatasync once.
func (w *rawWAL) AppendDurable(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.write(recs, true); err != nil {
		return err
	}
	return unix.Fdatasync(int(w.f.Fd()))
}

// Sync writes out the buffer and calls fdatasync.
func (w *rawWAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sync()
}

// Replay reads the file from the start; a short frame at the end is taken
// as a torn tail and ends the replay.
func (w *rawWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, errClosed
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(w.f, 0, w.size), 1<<20)
	var (
		hdr [rawHeader]byte
		buf []byte
		n   int
	)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, nil
			}
			return n, err
		}
		size := binary.LittleEndian.Uint32(hdr[:4])
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return n, fmt.Errorf("raw: checksum mismatch in record %d", n+1)
		}
		n++
		if err := fn(uint64(n), buf); err != nil {
			return n, err
		}
	}
}

// DiskBytes reports the file: it is never preallocated.
func (w *rawWAL) DiskBytes() (DiskUsage, error) {
	return measure.DirUsage(w.dir, measure.SizeIsUsed)
}

// Close writes out the buffer, syncs and closes the file.
func (w *rawWAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errClosed
	}
	err := firstErr(w.sync(), w.f.Close())
	w.f = nil
	return err
}
