package sysutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync uses F_FULLFSYNC, which also flushes the drive's write cache;
// darwin's fsync(2) does not. Filesystems without it (some network and FUSE
// ones) answer ENOTSUP or EINVAL, and f.Sync is the best left there.
func fdatasync(f *os.File) error {
	err := control(f, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0)
		return err
	})
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		return f.Sync()
	}
	return pathError("fcntl F_FULLFSYNC", f, err)
}
