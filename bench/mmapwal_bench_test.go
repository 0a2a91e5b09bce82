package bench_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/bench"
	"github.com/mmapwal/mmapwal/mmapwal"
	"golang.org/x/sys/unix"
)

// Go benchmarks of mmapwal's public API, each with SetBytes and ReportAllocs
// (the side-by-side comparison with other WALs is cmd/compare). Sizes are
// named key=value so benchstat can compare runs:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./ > new.txt && benchstat new.txt

func benchLog(b *testing.B, o *mmapwal.Options) *mmapwal.Log {
	b.Helper()
	l, err := mmapwal.Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 1024, 4096, 65536} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
			l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncAlways})
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

func fillLog(b *testing.B, l *mmapwal.Log, n int, size int) {
	b.Helper()
	rec := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadInto(b *testing.B) {
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
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
		for _, bps := range []int64{0, mmapwal.DefaultSegmentSize} {
			name := fmt.Sprintf("size=%d/bps=%d", size, bps)
			b.Run(name, func(b *testing.B) {
				rec := make([]byte, size)
				n := (128 << 20) / size // 128 MiB of payload per op
				b.SetBytes(int64(n * size))
				for b.Loop() {
					b.StopTimer()
					l, err := mmapwal.Open(b.TempDir(), &mmapwal.Options{Durability: mmapwal.SyncManual, BytesPerSync: bps})
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

func BenchmarkRead(b *testing.B) {
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
	const n = 100000
	fillLog(b, l, n, 128)
	b.SetBytes(128)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i = (i*7919 + 1) % n
		if _, err := l.Read(i + 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen times mmapwal.Open (recovery) of a cleanly closed 1 GiB log
// of 128 B records, warm: the log is written once, then opened b.N times.
// Open reads the newest segment and the header and seal of each sealed one
// (RecoveryReport.Deferred), not their records.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	const size = 128
	n := (1 << 30) / (size + 24)
	fillLog(b, l, n, size)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 30)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/open")
		if first, last := l.FirstSeq(), l.LastSeq(); first != 1 || last != uint64(n) {
			b.Fatalf("recovered records %d..%d, want 1..%d", first, last, n)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
}

// BenchmarkAppendThreadCPU is BenchmarkAppend at 128 B on a locked OS
// thread, reporting that thread's own CPU time per append (user-ns/op, and
// sys-ns/op: page faults) beside the wall time: on a shared machine the CPU
// time of the appending thread moves far less with the load than ns/op,
// and excludes the log's background goroutines (population, write-back).
func BenchmarkAppendThreadCPU(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := benchLog(b, &mmapwal.Options{Durability: mmapwal.SyncManual})
	rec := make([]byte, 128)
	b.SetBytes(128)
	b.ReportAllocs()
	u0, s0 := threadCPU(b)
	for b.Loop() {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	u1, s1 := threadCPU(b)
	b.ReportMetric(float64(u1-u0)/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns/op")
}

// processCPU returns the process's user and system CPU time in ns.
func processCPU(b *testing.B) (user, sys int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// threadCPU returns the calling thread's user and system CPU time in ns.
func threadCPU(b *testing.B) (user, sys int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Skip("no RUSAGE_THREAD here:", err)
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// BenchmarkReplay is workload (v) on its own: Open and iterate a closed
// log of 1M × 128 B records (records/s), cold (its files dropped from the
// page cache with DropCache before each Open) and warm. user-ns/rec and
// sys-ns/rec are the process's CPU time per record (DropCache included),
// which moves less with the machine's load than records/s.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000000
	fillLog(b, l, n, 128)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	for _, cold := range []bool{true, false} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			b.ReportAllocs()
			u0, s0 := processCPU(b)
			for b.Loop() {
				if cold {
					b.StopTimer()
					if err := bench.DropCache(dir); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				replayAll(b, dir, n)
			}
			u1, s1 := processCPU(b)
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(u1-u0)/float64(n*b.N), "user-ns/rec")
			b.ReportMetric(float64(s1-s0)/float64(n*b.N), "sys-ns/rec")
		})
	}
}

// replayAll opens dir, iterates its n records and closes it.
func replayAll(b *testing.B, dir string, n int) {
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		b.Fatal(err)
	}
	it, err := l.NewIterator(1)
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for it.Next() {
		got++
	}
	if err := it.Err(); err != nil || got != n {
		b.Fatalf("replayed %d of %d records: %v", got, n, err)
	}
	it.Close()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
