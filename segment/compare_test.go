package segment_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// TestQuarantineHolds compares quarantine files with a file's bytes at an
// offset, across the 64 KiB chunks of the compare.
func TestQuarantineHolds(t *testing.T) {
	dir := t.TempDir()
	file := pattern(300 << 10)
	path := filepath.Join(dir, segment.Name(testNumber))
	requireNoErr(t, os.WriteFile(path, file, 0o644), "write")
	const from = 1000
	other := bytes.Clone(file[from : from+200<<10])
	other[130<<10] ^= 1 // in the third chunk
	for _, c := range []struct {
		name   string
		q      []byte // nil: no quarantine file
		path   string
		exists bool
		same   bool
	}{
		{"no quarantine file", nil, path, false, false},
		{"the range", file[from : from+200<<10], path, true, true},
		{"to the file's end", file[from:], path, true, true},
		{"a prefix of the range", file[from : from+70<<10], path, true, true},
		{"empty", []byte{}, path, true, true},
		{"another byte in a later chunk", other, path, true, false},
		{"past the file's end", append(bytes.Clone(file[from:]), 0), path, true, false},
		{"whole file move: existence only", file[from:], "", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := filepath.Join(t.TempDir(), "q")
			if c.q != nil {
				requireNoErr(t, os.WriteFile(q, c.q, 0o644), "write quarantine")
			}
			exists, same, err := segment.QuarantineHolds(q, c.path, from)
			requireNoErr(t, err, "QuarantineHolds")
			if exists != c.exists || same != c.same {
				t.Fatalf("QuarantineHolds = %v, %v, want %v, %v", exists, same, c.exists, c.same)
			}
		})
	}
}

// TestQuarantineHoldsErrors: failures to open either file, or a file that
// is gone, are errors, never a verdict.
func TestQuarantineHoldsErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, segment.Name(testNumber))
	requireNoErr(t, os.WriteFile(path, pattern(1000), 0o644), "write")
	q := filepath.Join(dir, "q")
	requireNoErr(t, os.WriteFile(q, pattern(10), 0o644), "write quarantine")
	for _, failing := range []string{q, path} {
		restore := sysutil.SetFault(func(op sysutil.Op, p string) error {
			if op == sysutil.OpOpen && p == failing {
				return syscall.EIO
			}
			return nil
		})
		_, _, err := segment.QuarantineHolds(q, path, 0)
		restore()
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("open of %s fails: %v, want EIO", filepath.Base(failing), err)
		}
	}
	if _, _, err := segment.QuarantineHolds(q, filepath.Join(dir, "gone"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the file is gone: %v, want ErrNotExist", err)
	}
}
