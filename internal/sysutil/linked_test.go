package sysutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestLinked: a file is linked until its name is removed, and a file created
// under the same name since is another file; the check does not allocate.
func TestLinked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := Linked(f); !ok || err != nil {
		t.Fatalf("Linked of a new file = %v, %v", ok, err)
	}
	if n := testing.AllocsPerRun(100, func() { Linked(f) }); n != 0 {
		t.Errorf("Linked allocates %v times", n)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	g, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := runtime.GOOS == "windows" // no link count there
	if ok, err := Linked(f); ok != want || err != nil {
		t.Errorf("Linked of a removed file = %v, %v; want %v", ok, err, want)
	}
	if ok, err := Linked(g); !ok || err != nil {
		t.Errorf("Linked of the new file = %v, %v", ok, err)
	}
	f.Close()
	if _, err := Linked(f); err == nil {
		t.Error("Linked of a closed file succeeded")
	}
}
