package bench_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// followAll reads records with NextWait until ctx is done, as a live
// consumer does; it returns the records it saw.
func followAll(ctx context.Context, b *testing.B, it *mmapwal.Iterator) int {
	n := 0
	for it.NextWait(ctx) {
		n++
	}
	if err := it.Err(); err != nil && err != context.Canceled {
		b.Error(err)
	}
	return n
}

// BenchmarkAppendFollowers is BenchmarkAppend's 128-byte case with live
// readers of every record as it is appended, beside the case with none: the
// writer's cost of being followed. "iterators" are the Log's own iterators
// in NextWait; "followers" are Followers (OpenFollower, what another process
// uses: they poll the control area and sleep on its futex), here in this
// process. allocs/op counts the whole process, the readers included.
func BenchmarkAppendFollowers(b *testing.B) {
	for _, c := range []struct {
		name     string
		n        int
		follower bool
	}{{"none", 0, false}, {"iterators=2", 2, false}, {"followers=2", 2, true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rec := make([]byte, 128)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range c.n {
				it, err := l.NewIterator(1)
				if c.follower {
					f, ferr := mmapwal.OpenFollower(dir, nil)
					if ferr != nil {
						b.Fatal(ferr)
					}
					defer f.Close()
					it.Close()
					it, err = f.NewIterator(1)
				}
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					defer it.Close()
					followAll(ctx, b, it)
				})
			}
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}

// BenchmarkIteratorNextWait: a live consumer's cost per record when the
// records are already there (0 allocations per record).
func BenchmarkIteratorNextWait(b *testing.B) {
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
	rec := make([]byte, 128)
	const n = 1 << 16
	for range n {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	it, err := l.NewIterator(1)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { it.Close() }()
	b.SetBytes(128)
	b.ReportAllocs()
	for b.Loop() {
		if it.Seq() == n { // at the end: start over (NextWait would wait)
			it.Close()
			if it, err = l.NewIterator(1); err != nil {
				b.Fatal(err)
			}
		}
		if !it.NextWait(ctx) {
			b.Fatal(it.Err())
		}
	}
}
