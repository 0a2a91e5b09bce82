package mmapwal

import (
	"testing"
)

// BenchmarkFollowerNext: a follower's Next over records already there
// (one that is behind a bulk writer), 128 B payloads, in segments of 64
// MiB under a live writer: the per-record cost the follower takes from the
// cores the writer runs on.
func BenchmarkFollowerNext(b *testing.B) {
	dir := fastTempDir(b)
	l, err := Open(dir, &Options{Durability: SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 1 << 20
	p := make([]byte, 128)
	for range n {
		if _, err := l.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	f, err := OpenFollower(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	it, err := f.NewIterator(1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !it.Next() {
			it.Close()
			if it, err = f.NewIterator(1); err != nil || !it.Next() {
				b.Fatalf("from the start again: %v", it.Err())
			}
		}
	}
	b.StopTimer()
	it.Close()
}
