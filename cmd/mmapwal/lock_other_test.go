//go:build !unix

package main

import "testing"

// lockLog: mmapwal takes no lock here (sysutil returns ErrUnsupported).
func lockLog(t *testing.T, dir string) func() {
	t.Skip("the writer's lock is a flock, which this OS lacks")
	return nil
}
