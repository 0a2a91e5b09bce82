package mmapwal

import (
	"testing"

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
