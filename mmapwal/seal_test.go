package mmapwal

import (
	"os"
	"path/filepath"
	"testing"
)

// dropCleanClose removes the clean-close record from dir's META, as a
// writer's Open does before its first write, without going through the
// sysutil seam (so that fault-injection counts are not disturbed). Tests
// that fake a crash of a writer after a clean Close use it.
func dropCleanClose(tb testing.TB, dir string) {
	tb.Helper()
	path := filepath.Join(dir, metaName)
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := decodeMeta(b)
	if err != nil {
		tb.Fatal(err)
	}
	if m.clean.seg == 0 {
		return
	}
	m.clean = cleanClose{}
	if err := os.WriteFile(path, m.encode(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// bbWithoutCleanClose returns a copy of META bytes without the clean-close
// record, as a writer's Open leaves it (or as a version 1 log has none).
func bbWithoutCleanClose(tb testing.TB, b []byte) []byte {
	tb.Helper()
	m, err := decodeMeta(b)
	if err != nil {
		tb.Fatal(err)
	}
	m.clean = cleanClose{}
	return m.encode()
}
