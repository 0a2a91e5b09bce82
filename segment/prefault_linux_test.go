package segment_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

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
	f.PrefaultAsync(segment.HeaderSize, size)
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
	f.PrefaultAsync(segment.HeaderSize, size)
	requireNoErr(t, f.Close(), "Close")
	if f.PrefaultRunning() {
		t.Fatal("the population runs on after Close")
	}

	g := createSegment(t, size)
	g.PrefaultAsync(segment.HeaderSize, size)
	requireNoErr(t, g.Detach(size-8192, size), "Detach")
	if g.PrefaultRunning() {
		t.Fatal("the population runs on after Detach")
	}
	g.PrefaultAsync(size, size)
	g.PrefaultAsync(size, segment.HeaderSize)
	if g.PrefaultRunning() {
		t.Fatal("an empty range started a population")
	}
}
