package mmapwal_test

// The test helpers shared by this package's external tests (package
// mmapwal_test): each is written once, here, under one name. The internal
// tests' (package mmapwal) are in helpers_test.go, which these cannot see.

import (
	"os"
	"path/filepath"
	"testing"
)

// copyToTempDir copies the regular files of dir (LOCK included) into a new
// directory, t.TempDir(), and returns it.
func copyToTempDir(t testing.TB, dir string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}
