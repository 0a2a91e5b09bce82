//go:build !linux && !darwin

package sysutil

import "os"

// fdatasync falls back to f.Sync, which also flushes timestamps: slower, but
// never weaker.
func fdatasync(f *os.File) error { return f.Sync() }
