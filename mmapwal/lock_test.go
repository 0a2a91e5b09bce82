package mmapwal

// Lock tests (issue 3 "Behaviour: Lock"): a second writable Open of the same
// directory, in this process or another, fails with ErrLocked until the
// first Log is closed; ReadOnly opens take no lock and always succeed.
//
// The other process is this test binary, re-executed to run only
// TestLockHelperProcess with lckEnvDir set: it opens the directory and
// prints one lckResult line saying what Open returned.

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	lckEnvDir      = "MMAPWAL_LOCK_HELPER_DIR"
	lckEnvReadOnly = "MMAPWAL_LOCK_HELPER_READONLY"
	lckResult      = "MMAPWAL_LOCK_RESULT="
)

// TestLockHelperProcess is not a test on its own: run by lckChild in a child
// process, it opens the directory named by lckEnvDir and reports the
// outcome on stdout: "ok", "locked" or "error: …".
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lckEnvDir)
	if dir == "" {
		t.Skip("helper process for the lock tests")
	}
	opts := &Options{SegmentSize: rcvSegSize, ReadOnly: os.Getenv(lckEnvReadOnly) == "1"}
	l, err := Open(dir, opts)
	switch {
	case err == nil:
		if !opts.ReadOnly {
			if _, err := l.Append([]byte("child")); err != nil {
				os.Stdout.WriteString(lckResult + "error: append: " + err.Error() + "\n")
				os.Exit(0)
			}
		}
		if err := l.Close(); err != nil {
			os.Stdout.WriteString(lckResult + "error: close: " + err.Error() + "\n")
			os.Exit(0)
		}
		os.Stdout.WriteString(lckResult + "ok\n")
	case errors.Is(err, ErrLocked):
		os.Stdout.WriteString(lckResult + "locked\n")
	default:
		os.Stdout.WriteString(lckResult + "error: " + err.Error() + "\n")
	}
	os.Exit(0)
}

// lckChild opens dir in a child process and returns what its Open did.
func lckChild(t *testing.T, dir string, readOnly bool) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	ro := "0"
	if readOnly {
		ro = "1"
	}
	cmd.Env = append(os.Environ(), lckEnvDir+"="+dir, lckEnvReadOnly+"="+ro)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child process: %s", out)
	for line := range strings.Lines(string(out)) {
		if r, ok := strings.CutPrefix(strings.TrimSpace(line), lckResult); ok {
			return r
		}
	}
	require.Failf(t, "no result from the child process", "output: %s", out)
	return ""
}

// TestLockAcrossProcesses: while this process holds the log, another
// process's Open fails with ErrLocked and its ReadOnly Open succeeds; after
// Close, the other process's Open succeeds.
func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentSize: rcvSegSize})
	require.NoError(t, err)
	_, err = l.Append([]byte("parent"))
	require.NoError(t, err)

	require.Equal(t, "locked", lckChild(t, dir, false), "a writer in another process while locked")
	require.Equal(t, "ok", lckChild(t, dir, true), "a ReadOnly open in another process while locked")
	require.Equal(t, "locked", lckChild(t, dir, false), "still locked")

	require.NoError(t, l.Close())
	require.Equal(t, "ok", lckChild(t, dir, false), "a writer in another process after Close")

	// The child appended and closed; this process may open it again.
	l, err = Open(dir, &Options{SegmentSize: rcvSegSize})
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, uint64(2), l.LastSeq())
	b, err := l.Read(2)
	require.NoError(t, err)
	require.Equal(t, "child", string(b))
	require.Equal(t, "locked", lckChild(t, dir, false), "locked again")
}

// TestLockInProcess: a second Open in the same process fails with ErrLocked
// (without disturbing the first Log) until the first is closed; ReadOnly
// opens succeed meanwhile.
func TestLockInProcess(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: rcvSegSize}
	l, err := Open(dir, opts)
	require.NoError(t, err)
	_, err = l.Append([]byte("one"))
	require.NoError(t, err)

	for _, p := range []RepairPolicy{TruncatePartial, Strict} {
		_, err = Open(dir, &Options{SegmentSize: rcvSegSize, Repair: p})
		require.ErrorIs(t, err, ErrLocked)
	}
	ro, err := Open(dir, &Options{SegmentSize: rcvSegSize, ReadOnly: true})
	require.NoError(t, err, "ReadOnly opens take no lock")
	b, err := ro.Read(1)
	require.NoError(t, err)
	require.Equal(t, "one", string(b))
	require.NoError(t, ro.Close())

	// The failed opens did not release the first Log's lock.
	_, err = l.Append([]byte("two"))
	require.NoError(t, err)
	_, err = Open(dir, opts)
	require.ErrorIs(t, err, ErrLocked)

	require.NoError(t, l.Close())
	l, err = Open(dir, opts)
	require.NoError(t, err, "after Close the directory can be opened again")
	require.Equal(t, uint64(2), l.LastSeq())
	require.NoError(t, l.Close())
}
