package measure

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFile writes data to dir/name, then grows the file to size with
// zeros (a stand-in for a preallocated, zero-filled segment).
func writeFile(t *testing.T, dir, name string, data []byte, size int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsedToLastNonZero(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		data       []byte
		size       int64
		align      int64
		want       int64
		wantSparse bool
	}{
		{"empty", nil, 0, 1, 0, false},
		{"all zero", nil, 3 << 20, 8, 0, false},
		{"one byte", []byte{7}, 1 << 20, 1, 1, false},
		{"one byte, aligned", []byte{7}, 1 << 20, 8, 8, false},
		{"ends on the chunk edge", Pattern(1 << 20), 5 << 20, 8, 1 << 20, false},
		{"past the first chunk, zeros inside", append(append(Pattern(10), make([]byte, 2<<20)...), 9), 4 << 20, 1, 10 + 2<<20 + 1, false},
		{"no zero tail, aligned past size", Pattern(13), 13, 8, 13, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, tt.name, tt.data, tt.size)
			got, err := UsedToLastNonZero(tt.align)(path, tt.size)
			if err != nil || got != tt.want {
				t.Fatalf("UsedToLastNonZero(%d) = %d, %v; want %d", tt.align, got, err, tt.want)
			}
		})
	}
	if _, err := UsedToLastNonZero(1)(filepath.Join(dir, "missing"), 10); err == nil {
		t.Fatal("missing file: want an error")
	}
}

func TestDirUsage(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.wal", Pattern(100), 64<<10)
	b := writeFile(t, dir, "sub/b.log", Pattern(50), 50)
	if err := os.Symlink(a, filepath.Join(dir, "link")); err != nil { // not a regular file: skipped
		t.Fatal(err)
	}
	u, err := DirUsage(dir, UsedToLastNonZero(8))
	if err != nil {
		t.Fatal(err)
	}
	if u.Files != 2 || u.Used != 104+50 || u.Apparent != 64<<10+50 {
		// a.wal: 100 bytes rounded up to 104; b.log: 56 is past its size, so 50.
		t.Errorf("DirUsage = %+v, want 2 files, 154 used, %d apparent", u, 64<<10+50)
	}
	if u.Allocated <= 0 {
		t.Errorf("Allocated = %d, want the blocks of the files", u.Allocated)
	}
	f, err := FilesUsage([]string{a, b}, SizeIsUsed)
	if err != nil || f.Files != 2 || f.Used != f.Apparent || f.Apparent != u.Apparent || f.Allocated != u.Allocated {
		t.Errorf("FilesUsage = %+v, %v; want the same files as %+v, used = size", f, err, u)
	}
	if _, err := FilesUsage([]string{filepath.Join(dir, "missing")}, SizeIsUsed); err == nil {
		t.Error("FilesUsage of a missing file: want an error")
	}
	if _, err := DirUsage(filepath.Join(dir, "missing"), SizeIsUsed); err == nil {
		t.Error("DirUsage of a missing directory: want an error")
	}
}
