package mmapwal

// The test helpers shared by this package's internal tests (package
// mmapwal): each is written once, here, under one name. The external tests
// (package mmapwal_test) cannot see them; theirs are in xhelpers_test.go.

import (
	"os"
	"testing"
)

// waitPrepared waits until the background preparation of the next segment
// is over, so that a copy or snapshot of the directory (or a crash point)
// does not depend on its timing.
func waitPrepared(l *Log) {
	l.prep.mu.Lock()
	done := l.prep.done
	l.prep.mu.Unlock()
	if done != nil {
		<-done
	}
}

// activeRoom returns the bytes left in the active segment, after l.off.
func activeRoom(l *Log) int64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.active.size - l.off
}

// shmDir is a tmpfs on Linux, where there is one.
const shmDir = "/dev/shm"

// haveShm reports whether shmDir exists: where it does, fastTempDir's
// directories are on it, and tests may afford their fine-grained loops.
func haveShm() bool {
	st, err := os.Stat(shmDir)
	return err == nil && st.IsDir()
}

// fastTempDir returns a fresh directory, removed when the test ends, on a
// tmpfs (shmDir) when there is one, else t.TempDir(). The tests that use it
// open thousands of logs or images and check the log's logic, not the
// disk's: on a disk every Open, rotation and truncation costs several
// fsyncs. (The images are removed as soon as they are checked: a few MiB at
// a time, which even a container's small /dev/shm holds.)
func fastTempDir(t testing.TB) string {
	t.Helper()
	if haveShm() {
		if d, err := os.MkdirTemp(shmDir, "mmapwal-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}
