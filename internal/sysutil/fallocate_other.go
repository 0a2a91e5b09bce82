//go:build !linux && !darwin

package sysutil

import "os"

// allocate zero-fills: there is no portable preallocation call.
func allocate(f *os.File, old, size int64) error { return zeroFill(f, old, size) }
