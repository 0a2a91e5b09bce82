package sysutil

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrUnsupported is returned, wrapped, by calls that have no implementation on
// the running OS, and by [Madvise] when the kernel does not know the advice.
// It is errors.ErrUnsupported, so callers may test either.
var ErrUnsupported = errors.ErrUnsupported

// unsupported returns an error wrapping ErrUnsupported that names the call and
// the OS.
func unsupported(call string) error {
	return fmt.Errorf("sysutil: %s on %s: %w", call, runtime.GOOS, ErrUnsupported)
}
