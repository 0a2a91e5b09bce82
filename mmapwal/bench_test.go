package mmapwal

import (
	"fmt"
	"sync"
	"testing"
)

// Benchmarks of the engine's own paths (the peer comparison lives in the
// bench/ module). Sizes are named key=value so benchstat can compare runs.

func benchLog(b *testing.B, o *Options) *Log {
	b.Helper()
	l, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 1024, 4096, 65536} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l := benchLog(b, &Options{Durability: SyncManual})
			rec := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendSeq(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	rec := make([]byte, 128)
	b.SetBytes(128)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq += 2
		if err := l.AppendSeq(seq, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveCommit(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	b.SetBytes(128)
	b.ReportAllocs()
	for b.Loop() {
		r, err := l.Reserve(128)
		if err != nil {
			b.Fatal(err)
		}
		r.Bytes()[0] = 1
		if _, err := r.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	batch := make([][]byte, 16)
	for i := range batch {
		batch[i] = make([]byte, 128)
	}
	b.SetBytes(16 * 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendDurable(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l := benchLog(b, &Options{Durability: SyncAlways})
			rec := make([]byte, 128)
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / writers
			for w := 0; w < writers; w++ {
				wg.Go(func() {
					for i := 0; i < per; i++ {
						if _, err := l.Append(rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(l.Stats().RecordsPerSync, "records/sync")
		})
	}
}

func fillLog(b *testing.B, l *Log, n int, size int) {
	b.Helper()
	rec := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadInto(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	const n = 100000
	fillLog(b, l, n, 128)
	dst := make([]byte, 0, 256)
	b.SetBytes(128)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i = (i*7919 + 1) % n
		var err error
		if dst, err = l.ReadInto(dst[:0], i+1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkView(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	const n = 100000
	fillLog(b, l, n, 128)
	b.SetBytes(128)
	b.ReportAllocs()
	i := uint64(0)
	sum := 0
	fn := func(p []byte) error { sum += len(p); return nil }
	for b.Loop() {
		i = (i*7919 + 1) % n
		if err := l.View(i+1, fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIterator(b *testing.B) {
	l := benchLog(b, &Options{Durability: SyncManual})
	const n = 1000000
	fillLog(b, l, n, 128)
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	it, err := l.NewIterator(1)
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	for i := 0; i < b.N; i++ {
		if !it.Next() {
			it.Close()
			if it, err = l.NewIterator(1); err != nil || !it.Next() {
				b.Fatal("no records", err)
			}
		}
	}
}

// BenchmarkBulk is the "N appends then one Sync" workload, timed to the end
// of the Sync; bps=0 is the default early write-back, bps=off leaves it to
// the kernel.
func BenchmarkBulk(b *testing.B) {
	for _, size := range []int{128, 4096} {
		for _, bps := range []int64{0, DefaultSegmentSize} {
			name := fmt.Sprintf("size=%d/bps=%d", size, bps)
			b.Run(name, func(b *testing.B) {
				rec := make([]byte, size)
				n := (128 << 20) / size // 128 MiB of payload per op
				b.SetBytes(int64(n * size))
				for b.Loop() {
					b.StopTimer()
					l, err := Open(b.TempDir(), &Options{Durability: SyncManual, BytesPerSync: bps})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for i := 0; i < n; i++ {
						if _, err := l.Append(rec); err != nil {
							b.Fatal(err)
						}
					}
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					l.Close()
					b.StartTimer()
				}
			})
		}
	}
}
