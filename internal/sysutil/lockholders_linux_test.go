package sysutil

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLockHolders: the process holding a flock is listed, by its pid, while
// it holds it and not after; a missing file has no holder; reading the list
// takes no lock (a Lock after it succeeds).
func TestLockHolders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	if pids, known, err := LockHolders(path); err != nil || !known || len(pids) != 0 {
		t.Fatalf("missing file: LockHolders = %v, %v, %v; want none, known", pids, known, err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pids, known, err := LockHolders(path); err != nil || !known || len(pids) != 0 {
		t.Fatalf("unlocked: LockHolders = %v, %v, %v; want none, known", pids, known, err)
	}
	if err := Lock(f); err != nil {
		t.Fatal(err)
	}
	pids, known, err := LockHolders(path)
	if err != nil || !known || !slices.Contains(pids, os.Getpid()) {
		t.Fatalf("locked: LockHolders = %v, %v, %v; want our pid %d", pids, known, err, os.Getpid())
	}
	if err := Unlock(f); err != nil {
		t.Fatal(err)
	}
	if pids, _, _ := LockHolders(path); len(pids) != 0 {
		t.Fatalf("after Unlock: LockHolders = %v, want none", pids)
	}
}

// TestParseLocks: only FLOCK holders of the very file count; waiters ("->"),
// POSIX locks and other files do not.
func TestParseLocks(t *testing.T) {
	const list = `1: FLOCK  ADVISORY  WRITE 10384 00:1b:14326054 0 EOF
2: FLOCK  ADVISORY  WRITE 11545 fe:00:9977880 0 EOF
2: -> FLOCK  ADVISORY  WRITE 11600 fe:00:9977880 0 EOF
3: POSIX  ADVISORY  WRITE 9592 fe:00:9977880 0 EOF
4: FLOCK  ADVISORY  WRITE 77 fe:00:99778800 0 EOF
5: FLOCK  ADVISORY  WRITE 0 fe:00:9977880 0 EOF
`
	pids, err := parseLocks(strings.NewReader(list), "fe:00:9977880")
	if err != nil || !slices.Equal(pids, []int{11545, 0}) {
		t.Fatalf("parseLocks = %v, %v; want [11545 0]", pids, err)
	}
}
