package sysutil

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAllocated: a preallocated file takes at least its size; a sparse one
// (truncated up, never written) takes less than its size.
func TestAllocated(t *testing.T) {
	dir := t.TempDir()
	pre, err := os.Create(filepath.Join(dir, "pre"))
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()
	if err := Fallocate(pre, 1<<20); err != nil {
		t.Fatal(err)
	}
	fi, err := pre.Stat()
	if err != nil {
		t.Fatal(err)
	}
	n, known := Allocated(fi)
	if !known {
		t.Skip("this OS reports no block count: Allocated is the size")
	}
	if n < 1<<20 {
		t.Errorf("Allocated of a preallocated 1 MiB file = %d", n)
	}
	sparse := filepath.Join(dir, "sparse")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 1<<20); err != nil {
		t.Fatal(err)
	}
	if fi, err = os.Stat(sparse); err != nil {
		t.Fatal(err)
	}
	if n, _ := Allocated(fi); n >= 1<<20 {
		t.Errorf("Allocated of a sparse 1 MiB file = %d, want less", n)
	}
}
