package sysutil_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestOFDLock: LockedOFD sees a lock another description holds (also one of
// this process), not its own, and not one whose description was closed; a
// second LockOFD conflicts; asking allocates nothing.
func TestOFDLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	w, r := open(), open()
	if held, known, err := sysutil.LockedOFD(r); held || !known || err != nil {
		t.Fatalf("no lock yet: held %v known %v err %v", held, known, err)
	}
	if err := sysutil.LockOFD(w); err != nil {
		t.Fatal(err)
	}
	if held, _, err := sysutil.LockedOFD(r); !held || err != nil {
		t.Fatalf("locked by another description: held %v err %v", held, err)
	}
	if held, _, err := sysutil.LockedOFD(w); held || err != nil {
		t.Fatalf("its own lock: held %v err %v", held, err)
	}
	if err := sysutil.LockOFD(r); !errors.Is(err, sysutil.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if a := testing.AllocsPerRun(100, func() { sysutil.LockedOFD(r) }); a != 0 {
		t.Fatalf("LockedOFD allocates %v", a)
	}
	if err := sysutil.UnlockOFD(w); err != nil {
		t.Fatal(err)
	}
	if held, _, err := sysutil.LockedOFD(r); held || err != nil {
		t.Fatalf("after UnlockOFD: held %v err %v", held, err)
	}
	if err := sysutil.LockOFD(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if held, _, err := sysutil.LockedOFD(r); held || err != nil {
		t.Fatalf("after the holder's close: held %v err %v", held, err)
	}
	if err := sysutil.LockOFD(r); err != nil {
		t.Fatalf("free again: %v", err)
	}
}
