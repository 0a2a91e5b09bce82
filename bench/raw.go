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
		Open:    openRaw,
		Reopen:  true,
		Durable: true,
		Runs:    All,
	}
	register(raw)
	register(batchedAdapter(raw, Concurrent))
}

// rawHeader is a raw frame's header: payload length and CRC-32C of the
// payload, both u32 little endian.
const rawHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawWAL is the durable floor: what any append-only log has to do at least.
// Each call builds its frames in a reused buffer and hands them to the kernel
// in one write(2); a durable call adds one fdatasync. No preallocation, no
// group commit, no tail repair at reopen.
type rawWAL struct {
	dir  string
	mu   sync.Mutex
	f    *os.File
	buf  []byte // frame scratch, guarded by mu
	size int64  // bytes written, guarded by mu
}

// openRaw opens (or creates) dir/raw.log for appending.
func openRaw(dir string, _ Options) (WAL, error) {
	f, err := os.OpenFile(filepath.Join(dir, "raw.log"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rawWAL{dir: dir, f: f, size: st.Size()}, nil
}

// write frames recs into one write(2); the caller holds mu.
func (w *rawWAL) write(recs [][]byte) error {
	if w.f == nil {
		return errClosed
	}
	b := w.buf[:0]
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(r, castagnoli))
		b = append(b, r...)
	}
	w.buf = b
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

// Append writes recs with one write(2).
func (w *rawWAL) Append(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(recs)
}

// AppendDurable writes recs with one write(2) and one fdatasync.
func (w *rawWAL) AppendDurable(recs [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.write(recs); err != nil {
		return err
	}
	return unix.Fdatasync(int(w.f.Fd()))
}

// Sync calls fdatasync.
func (w *rawWAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errClosed
	}
	return unix.Fdatasync(int(w.f.Fd()))
}

// Replay reads the file from the start; a short frame at the end is taken
// as a torn tail and ends the replay.
func (w *rawWAL) Replay(fn func(uint64, []byte) error) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, errClosed
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

// Close syncs and closes the file.
func (w *rawWAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errClosed
	}
	err := firstErr(unix.Fdatasync(int(w.f.Fd())), w.f.Close())
	w.f = nil
	return err
}
