//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockLog takes the writer's lock of the log in dir, as a writer in
// another process would (flock on LOCK), until the returned func.
func lockLog(t *testing.T, dir string) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}
