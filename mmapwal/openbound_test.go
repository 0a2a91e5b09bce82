//go:build linux

package mmapwal

// Open that scales with MaxMappedSegments, not with the number of segments
// (issue 13, bug 7): a log of 300 small segments opens, reads back and
// iterates with RLIMIT_NOFILE at about 100 descriptors beyond what the
// process already uses and MaxMappedSegments 8, writable and ReadOnly, as
// format version 1 (scanned whole at Open) and version 2 (sealed segments
// verified on first read). The descriptors and the mappings of segment
// files stay bounded throughout: the same bound keeps a log far below
// vm.max_map_count (65530 by default), which cannot be lowered for one
// process, so the test counts the mappings in /proc/self/maps instead.
//
// RLIMIT_NOFILE is per process and the test binary runs other tests in
// parallel goroutines, so the check runs in a child process
// (TestOpenBoundedChild) that lowers its own limit. Linux only: it counts
// descriptors and mappings in /proc/self.

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	obEnvDir  = "MMAPWAL_OPENBOUND_DIR"
	obEnvLast = "MMAPWAL_OPENBOUND_LAST"
	obSegs    = 300 // segments in the log
	obSpare   = 100 // descriptors the child may open beyond those it has
	obMapped  = 8   // MaxMappedSegments
)

// TestOpenBoundedFDs builds the logs and runs the child on each.
func TestOpenBoundedFDs(t *testing.T) {
	if os.Getenv(obEnvDir) != "" {
		t.Skip("in the child")
	}
	t.Run("v1", func(t *testing.T) {
		dir := fastTempDir(t)
		last := writeV1Log(t, dir, obSegs, 20)
		obRunChild(t, dir, last)
	})
	t.Run("v2", func(t *testing.T) {
		dir := fastTempDir(t)
		l, err := Open(dir, &Options{SegmentSize: 4096, Durability: SyncManual, MaxMappedSegments: obMapped})
		require.NoError(t, err)
		for l.Stats().Segments < obSegs {
			_, err := l.Append(sealPayload(l.LastSeq() + 1))
			require.NoError(t, err)
		}
		last := l.LastSeq()
		require.NoError(t, l.Close())
		obRunChild(t, dir, last)
	})
}

// obRunChild runs TestOpenBoundedChild on dir and fails with its output
// unless it passed.
func obRunChild(t *testing.T, dir string, last uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenBoundedChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), obEnvDir+"="+dir, obEnvLast+"="+strconv.FormatUint(last, 10))
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestOpenBoundedChild")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "openbound_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestOpenBoundedChild is the child of TestOpenBoundedFDs; run directly it
// skips.
func TestOpenBoundedChild(t *testing.T) {
	dir := os.Getenv(obEnvDir)
	if dir == "" {
		t.Skip("the child process of TestOpenBoundedFDs: runs only when re-executed by it")
	}
	last, err := strconv.ParseUint(os.Getenv(obEnvLast), 10, 64)
	require.NoError(t, err)
	base := obCount(t, "/proc/self/fd", "")
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = uint64(base + obSpare)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	t.Logf("%d descriptors open, RLIMIT_NOFILE lowered to %d; %d segments, %d records", base, lim.Cur, obSegs, last)

	// What may be open beside the sealed segments MaxMappedSegments
	// bounds: the newest, the segment prepared in the background, LOCK, a
	// file Open reads for a moment, and the pins of an iterator.
	const extra = 6
	for _, ro := range []bool{false, true} {
		l, err := Open(dir, &Options{SegmentSize: 4096, Durability: SyncManual, MaxMappedSegments: obMapped, ReadOnly: ro})
		require.NoError(t, err, "Open (ReadOnly %v)", ro)
		maxFDs, maxMaps := 0, 0
		check := func(what string) {
			fds, maps := obCount(t, "/proc/self/fd", "")-base, obCount(t, "/proc/self/maps", dir)
			maxFDs, maxMaps = max(maxFDs, fds), max(maxMaps, maps)
			require.LessOrEqual(t, fds, obMapped+extra, "%s (ReadOnly %v): descriptors", what, ro)
			require.LessOrEqual(t, maps, obMapped+extra, "%s (ReadOnly %v): mappings of segment files", what, ro)
			require.LessOrEqual(t, l.Stats().MappedSegments, obMapped+3, "%s (ReadOnly %v): Stats().MappedSegments", what, ro)
		}
		check("after Open")
		require.Equal(t, uint64(1), l.FirstSeq())
		require.Equal(t, last, l.LastSeq())
		for seq := uint64(1); seq <= last; seq++ {
			got, err := l.Read(seq)
			require.NoError(t, err, "Read(%d) (ReadOnly %v)", seq, ro)
			require.Equal(t, sealPayload(seq), got, "Read(%d)", seq)
			if seq%97 == 0 {
				check("reading")
			}
		}
		it, err := l.NewIterator(1)
		require.NoError(t, err)
		n := uint64(0)
		for it.Next() {
			n++
			require.Equal(t, n, it.Seq())
			require.Equal(t, sealPayload(n), it.Value())
			if n%97 == 0 {
				check("iterating")
			}
		}
		require.NoError(t, it.Err())
		require.Equal(t, last, n)
		it.Close()
		check("after iterating")
		require.NoError(t, l.Close())
		t.Logf("ReadOnly %v: at most %d descriptors and %d mappings of segment files beyond the %d before Open", ro, maxFDs, maxMaps, base)
	}
}

// obCount counts the entries of /proc/self/fd, or the lines of
// /proc/self/maps that name a file in dir.
func obCount(t *testing.T, path, dir string) int {
	t.Helper()
	if dir == "" {
		ents, err := os.ReadDir(path)
		require.NoError(t, err)
		return len(ents) - 1 // the directory ReadDir itself had open
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), filepath.Clean(dir)+"/") {
			n++
		}
	}
	require.NoError(t, sc.Err())
	return n
}
