package mmapwal_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// mappedDirty returns the dirty bytes of this process's mapping of path
// (Shared_Dirty + Private_Dirty of its /proc/self/smaps entry), or -1 when
// path is not mapped.
func mappedDirty(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	dirty, in := int64(-1), false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasSuffix(line, " "+path):
			in, dirty = true, 0
		case in && (strings.HasPrefix(line, "Shared_Dirty:") || strings.HasPrefix(line, "Private_Dirty:")):
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			require.NoError(t, err)
			dirty += kb << 10
		case in && strings.HasPrefix(line, "VmFlags:"):
			return dirty
		}
	}
	return dirty
}

// TestPreparePopulatesReopened: after a restart, the free space of the
// active segment that recovery reopened is populated for writing in the
// background (its pages become writable, hence dirty), as a segment the
// log prepares itself is, so that the appends that follow do not fault on
// every page. The file is synced before the reopen so that no page starts
// dirty.
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
	deadline := time.Now().Add(10 * time.Second)
	for mappedDirty(t, path) < size-64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the reopen, %d of the active segment's %d bytes are writable", mappedDirty(t, path), size)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err = l.Append([]byte("after"))
	require.NoError(t, err)
}
