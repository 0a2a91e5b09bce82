package mmapwal

import (
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentSize: 1 << 16, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2000; i++ {
		seq, err := l.Append([]byte(fmt.Sprintf("rec-%d", i)))
		if err != nil || seq != uint64(i) {
			t.Fatal(seq, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := l.Read(1500)
	if err != nil || string(b) != "rec-1500" {
		t.Fatal(string(b), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, &Options{SegmentSize: 1 << 16, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", l.Recovery())
	it, _ := l.NewIterator(1)
	n := 0
	for it.Next() {
		n++
		if string(it.Value()) != fmt.Sprintf("rec-%d", it.Seq()) {
			t.Fatal(it.Seq())
		}
	}
	if n != 2000 || it.Err() != nil {
		t.Fatal(n, it.Err())
	}
	it.Close()
	if err := l.TruncateBack(1000); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFront(500); err != nil {
		t.Fatal(err)
	}
	if s, err := l.Append([]byte("x")); err != nil || s != 1001 {
		t.Fatal(s, err)
	}
	l.Close()
	l, err = Open(dir, &Options{SegmentSize: 1 << 16, Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v first=%d last=%d", l.Recovery(), l.FirstSeq(), l.LastSeq())
	l.Close()
}
