package sysutil_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// waitForWake calls FutexWake on the word at m[off], leaving the word alone,
// until it reports a waiter woken: only a real wake-up, not a change of the
// word, can then end that waiter's wait.
func waitForWake(t *testing.T, m []byte, off int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := sysutil.FutexWake(m, off, 1)
		require.NoError(t, err)
		if n == 1 {
			return
		}
		require.Zero(t, n)
		require.True(t, time.Now().Before(deadline), "no waiter found on the word")
		time.Sleep(time.Millisecond)
	}
}

// TestFutexWake: FutexWake ends a wait whose word has not changed, and
// counts the waiter it woke.
func TestFutexWake(t *testing.T) {
	_, a, b := mapShared(t, sysutil.PageSize())
	done := make(chan bool)
	go func() {
		woke, err := sysutil.FutexWait(a, 128, 0, 60*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- woke
	}()
	waitForWake(t, b, 128)
	require.True(t, <-done, "the wait timed out")
	n, err := sysutil.FutexWake(b, 128, 0)
	require.NoError(t, err)
	require.Zero(t, n, "woke a waiter that had left")
}

// futexChildEnv names the file a re-executed test binary maps read-only and
// waits on, as a follower process would.
const futexChildEnv = "SYSUTIL_FUTEX_CHILD"

// futexChild is the child of TestFutexCrossProcess: it waits on word 0 of a
// read-only mapping and reports through its exit status: 0 woken, 3 timed
// out, 4 an error.
func futexChild(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	m, err := sysutil.Mmap(f, sysutil.PageSize(), false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	woke, err := sysutil.FutexWait(m, 0, 0, 60*time.Second)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 4
	case !woke:
		return 3
	}
	return 0
}

// TestFutexCrossProcess: a FutexWake in this process wakes a FutexWait in
// another process that maps the same file read-only — what FUTEX_PRIVATE_FLAG
// would prevent.
func TestFutexCrossProcess(t *testing.T) {
	if path := os.Getenv(futexChildEnv); path != "" {
		os.Exit(futexChild(path))
	}
	path, m, _ := mapShared(t, sysutil.PageSize())
	cmd := exec.Command(os.Args[0], "-test.run=^TestFutexCrossProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), futexChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() }) // on failure; a no-op once it has exited
	waitForWake(t, m, 0)
	err := cmd.Wait()
	require.NoError(t, err, "child: exit 3 means its wait timed out, 4 an error")
	v, _ := sysutil.LoadUint32(m, 0)
	require.Zero(t, v, "the word changed: the wake-up proved nothing")
}
