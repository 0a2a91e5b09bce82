package mmapwal_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// mappedBytes returns the sum of the given /proc/self/smaps fields (such
// as "Rss", "Shared_Dirty") of this process's mapping of path, or -1 when
// path is not mapped.
func mappedBytes(t *testing.T, path string, fields ...string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sum, in := int64(-1), false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, " "+path) {
			in, sum = true, 0
			continue
		}
		if !in {
			continue
		}
		if strings.HasPrefix(line, "VmFlags:") {
			return sum
		}
		for _, field := range fields {
			if strings.HasPrefix(line, field+":") {
				kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				require.NoError(t, err)
				sum += kb << 10
			}
		}
	}
	return sum
}

// mappedDirty is the dirty bytes of the mapping of path.
func mappedDirty(t *testing.T, path string) int64 {
	return mappedBytes(t, path, "Shared_Dirty", "Private_Dirty")
}

// waitFor polls cond every 5 ms for up to 10 s and fails with msg if it
// never held.
func waitFor(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
	}
}

// TestPreparePopulatesReopened: after a restart, the free space of the
// active segment that recovery reopened is populated for writing in the
// background from the first append on (its pages become writable, hence
// dirty), as a segment the log prepares itself is, so that the appends
// that follow do not fault on every page; not before it, where it would
// compete with a replay. The file is synced before the reopen so that no
// page starts dirty.
func TestPreparePopulatesReopened(t *testing.T) {
	const size = 4 << 20
	o := &mmapwal.Options{SegmentSize: size, Durability: mmapwal.SyncManual}
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, o)
	require.NoError(t, err)
	for range 10 {
		_, err := l.Append(make([]byte, 100))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	path := filepath.Join(dir, "0000000000000001.wal")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // the first Log's population left its pages dirty
	require.NoError(t, f.Close())

	l = openAt(t, dir, o)
	time.Sleep(20 * time.Millisecond)
	require.Less(t, mappedDirty(t, path), int64(64<<10), "populated before the first append")
	_, err = l.Append([]byte("after"))
	require.NoError(t, err)
	waitFor(t, func() bool { return mappedDirty(t, path) >= size-64<<10 }, func() string {
		return fmt.Sprintf("10 s after the first append, %d of the active segment's %d bytes are writable", mappedDirty(t, path), size)
	})
}

// TestWritebackDropsPages: early write-back takes the pages it starts
// writing out of the process's page tables (no TLB shootdown of the
// appender per page it cleans), and only whole 2 MiB folios behind the one
// being written: after 5 MiB of appends with BytesPerSync 1 MiB, the first
// 4 MiB of the segment are unmapped, the rest still mapped, and every
// record reads back.
func TestWritebackDropsPages(t *testing.T) {
	const size, mib = 16 << 20, 1 << 20
	l, dir := openLog(t, &mmapwal.Options{SegmentSize: size, Durability: mmapwal.SyncManual, BytesPerSync: mib})
	path := filepath.Join(dir, "0000000000000001.wal")
	require.Equal(t, int64(size), mappedBytes(t, path, "Rss"), "a new log's first segment is populated inside Open")
	rec := make([]byte, 4096-24)
	for i := 0; i < 5*mib/4096; i++ {
		rec[0] = byte(i)
		mustAppend(t, l, rec)
	}
	waitFor(t, func() bool { return mappedBytes(t, path, "Rss") <= size-4*mib+64<<10 }, func() string {
		return fmt.Sprintf("after 5 MiB of appends, %d of the segment's %d bytes are still mapped", mappedBytes(t, path, "Rss"), size)
	})
	require.GreaterOrEqual(t, mappedBytes(t, path, "Rss"), int64(size-4*mib), "write-back dropped pages of the folio being written")
	for i := 0; i < 5*mib/4096; i++ {
		rec[0] = byte(i)
		require.Equal(t, rec, mustRead(t, l, uint64(i+1)), "record %d", i+1)
	}
	require.NoError(t, l.Sync())
}

// TestPreparePopulatesAhead: a segment's page tables are populated a
// bounded lead ahead of the writer, not all at once: a new log's first
// 64 MiB segment maps 16 MiB after Open, and after 24 MiB of appends about
// 24 + 16 MiB (a populated page is dirty, and zeroes nobody writes would be
// written back by the kernel).
func TestPreparePopulatesAhead(t *testing.T) {
	const size, mib = 64 << 20, 1 << 20
	l, dir := openLog(t, &mmapwal.Options{SegmentSize: size, Durability: mmapwal.SyncManual, BytesPerSync: size})
	path := filepath.Join(dir, "0000000000000001.wal")
	rss := func() int64 { return mappedBytes(t, path, "Rss") }
	time.Sleep(20 * time.Millisecond) // a population that ignored its limit would go on meanwhile
	require.InDelta(t, 16*mib, rss(), mib, "mapped after Open")
	rec := make([]byte, 4096-24)
	for range 24 * mib / 4096 {
		mustAppend(t, l, rec)
	}
	waitFor(t, func() bool { return rss() >= 24*mib+16*mib-2*mib }, func() string {
		return fmt.Sprintf("after 24 MiB of appends, %d bytes mapped, want about %d", rss(), 40*mib)
	})
	time.Sleep(20 * time.Millisecond)
	require.LessOrEqual(t, rss(), int64(24*mib+16*mib+3*mib), "populated further ahead than its lead")
}
