package mmapwal

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
)

// TestRedteam10ReserveStaleBytes: Reserve in a recycled segment hands out
// space that holds the stale bytes of the file's previous use (records
// TruncateFront dropped). In a fresh segment the space is zero; a caller
// that fills part of it (or reads it) must not get another record's bytes,
// and a record committed that way must not carry them.
func TestRedteam10ReserveStaleBytes(t *testing.T) {
	_, l := recycledLog(t, 8192, 2)
	defer l.Close()
	if !l.active.recycled {
		t.Fatal("the newest segment is not recycled")
	}
	off := l.off
	if l.active.file.ZeroAt(off+crcframe.HeaderSize, 200) {
		t.Fatal("no stale bytes where the reservation goes: the test proves nothing")
	}
	r, err := l.Reserve(200)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Bytes()
	if !crcframe.IsZero(b) {
		r.Abort()
		t.Fatal("Reserve's Bytes hold stale bytes of the file's previous use")
	}
	seq, err := r.Commit()
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Read(seq)
	if err != nil {
		t.Fatal(err)
	}
	if !crcframe.IsZero(v) {
		t.Fatal("a record committed without writing its bytes carries stale bytes")
	}
}

// headerLikePayload is a payload of n bytes (n a multiple of 8) for a frame
// at offset fo of a segment of size size whose every third aligned word
// (by absolute offset) reads as a frame header claiming a frame to the end
// of the segment: bytes 4..7 the length, bytes 20..23 (the next word but
// one) 1, 0, 0, 0 (type full, reserved zero). Ordinary data does this:
// an array of (u32, u32) pairs whose second halves mix small counts with
// large values.
func headerLikePayload(fo int64, n int, size int64) []byte {
	b := make([]byte, n)
	p := fo + crcframe.HeaderSize
	for i := 0; i+8 <= n; i += 8 {
		a := p + int64(i)
		binary.LittleEndian.PutUint32(b[i:], 0x9e3779b9^uint32(a))
		v := uint32(1)
		if (a/8)%3 == 0 {
			if l := size - a - 2*crcframe.HeaderSize; l > 0 {
				v = uint32(l) &^ 7
			}
		}
		binary.LittleEndian.PutUint32(b[i+4:], v)
	}
	return b
}

// TestRedteam10StaleTailScanCost: after a crash (no damage: a process
// killed with its page cache intact), Open searches the stale bytes after
// the frames of the newest recycled segment for frames of its seed
// (FORMAT.md §9.7: "≈ one read of the rest of the segment"). When the
// stale records' payloads have header-like words, each such word passes
// plausible and costs a CRC over the length it claims: the search is
// quadratic in the segment size. At 1 MiB this takes seconds instead of
// about a millisecond; at the default 64 MiB it is hours, and every crash
// (and every ReadOnly open beside a live writer) pays it.
func TestRedteam10StaleTailScanCost(t *testing.T) {
	const size = 1 << 20
	dir := fastTempDir(t)
	l := mustOpen(t, dir, recycleOpts(size, 1))
	defer l.Close()
	for l.Stats().Segments < 3 {
		if _, err := l.Append(headerLikePayload(l.off, 4000, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(l.LastSeq()); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Pooled != 1 {
		t.Fatalf("pooled %d", l.Stats().Pooled)
	}
	for l.Stats().Recycled == 0 {
		if _, err := l.Append(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	appendUpTo(t, l, l.LastSeq()+3)
	last := l.LastSeq()
	cp := crashCopy(t, dir)
	start := time.Now()
	l2, err := Open(cp, recycleOpts(size, 1))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.LastSeq() != last || l2.Recovery().TornTail != nil {
		t.Fatalf("recovery %+v, LastSeq %d, want %d", l2.Recovery(), l2.LastSeq(), last)
	}
	t.Logf("Open after the crash took %v", took)
	if took > 250*time.Millisecond {
		t.Fatalf("Open of a 1 MiB recycled segment after a crash took %v: the search for frames of the seed in the stale bytes CRCs the length every header-like stale word claims (quadratic)", took)
	}
}
