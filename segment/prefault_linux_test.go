package segment_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/segment"
)

// mappedRSS returns the bytes of the mapping of path that this process's
// page tables map now (the Rss of its /proc/self/smaps entry).
func mappedRSS(tb testing.TB, path string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/smaps")
	requireNoErr(tb, err, "open smaps")
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, " "+path) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			requireNoErr(tb, err, "parse Rss")
			return kb << 10
		}
	}
	tb.Fatalf("no mapping of %s in /proc/self/smaps", path)
	return 0
}

// TestPrefaultAsync: the background population maps every page of the
// range, and the stores that follow it land in the file.
func TestPrefaultAsync(t *testing.T) {
	const size = 4 << 20
	f := createSegment(t, size)
	if rss := mappedRSS(t, f.Path()); rss > size/2 {
		t.Fatalf("a fresh segment maps %d bytes before any population", rss)
	}
	f.PrefaultAsync(segment.HeaderSize, size, size)
	f.WaitPrefault()
	if rss := mappedRSS(t, f.Path()); rss != size {
		t.Fatalf("after PrefaultAsync of the whole segment, %d of %d bytes are mapped", rss, size)
	}
	copy(f.Data()[size-5:], "tail!")
	requireNoErr(t, f.Sync(size-5, size), "Sync")
	disk, err := os.ReadFile(f.Path())
	requireNoErr(t, err, "ReadFile")
	if string(disk[size-5:]) != "tail!" {
		t.Fatalf("the file ends with %q", disk[size-5:])
	}
}

// TestPrefaultAsyncStops: Close and Detach stop a population under way and
// wait for it (the goroutine is gone when they return); an empty or
// reversed range starts nothing.
func TestPrefaultAsyncStops(t *testing.T) {
	const size = 256 << 20 // long enough to be under way when Close comes
	f := createSegment(t, size)
	f.PrefaultAsync(segment.HeaderSize, size, size)
	requireNoErr(t, f.Close(), "Close")
	if f.PrefaultRunning() {
		t.Fatal("the population runs on after Close")
	}

	g := createSegment(t, size)
	g.PrefaultAsync(segment.HeaderSize, size, size)
	requireNoErr(t, g.Detach(size-8192, size), "Detach")
	if g.PrefaultRunning() {
		t.Fatal("the population runs on after Detach")
	}
	g.PrefaultAsync(size, size, size)
	g.PrefaultAsync(size, segment.HeaderSize, size)
	if g.PrefaultRunning() {
		t.Fatal("an empty range started a population")
	}
}

// TestPrefaultAsyncLimit: the population stops at its limit and waits
// there (Close still stops it), and goes on up to each limit
// PrefaultLimit raises; a lower limit changes nothing.
func TestPrefaultAsyncLimit(t *testing.T) {
	const size, mib = 8 << 20, 1 << 20
	f := createSegment(t, size)
	f.PrefaultAsync(0, size, 3*mib)
	waitRSS := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); mappedRSS(t, f.Path()) != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes mapped, want %d", mappedRSS(t, f.Path()), want)
			}
		}
	}
	waitRSS(3 * mib)
	time.Sleep(20 * time.Millisecond)
	if rss := mappedRSS(t, f.Path()); rss != 3*mib || !f.PrefaultRunning() {
		t.Fatalf("at its limit the population mapped %d bytes (want %d) and running = %v (want true)", rss, 3*mib, f.PrefaultRunning())
	}
	f.PrefaultLimit(2 * mib)
	f.PrefaultLimit(5*mib + 4096)
	waitRSS(5*mib + 4096)
	f.PrefaultLimit(size)
	f.WaitPrefault()
	waitRSS(size)

	g := createSegment(t, size)
	g.PrefaultAsync(0, size, mib)
	time.Sleep(5 * time.Millisecond) // let it reach its limit and wait there
	requireNoErr(t, g.Close(), "Close")
	if g.PrefaultRunning() {
		t.Fatal("a population waiting at its limit runs on after Close")
	}
}
