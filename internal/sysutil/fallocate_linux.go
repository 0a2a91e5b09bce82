package sysutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fallocateCall is unix.Fallocate; tests replace it to reach the zero-filling
// fallback on filesystems that do support fallocate.
var fallocateCall = unix.Fallocate

// allocate runs fallocate(2) over [0, size) with mode 0 (allocate and extend,
// never shrink), zero-filling instead where the filesystem lacks it.
func allocate(f *os.File, old, size int64) error {
	if size == 0 {
		return nil // fallocate(2) rejects an empty range with EINVAL
	}
	err := control(f, func(fd int) error { return fallocateCall(fd, 0, 0, size) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return zeroFill(f, old, size)
	}
	return pathError("fallocate", f, err)
}
