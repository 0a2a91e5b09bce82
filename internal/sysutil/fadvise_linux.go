package sysutil

import (
	"os"

	"golang.org/x/sys/unix"
)

func fadviseDontNeed(f *os.File, off, n int64) error {
	err := control(f, func(fd int) error { return unix.Fadvise(fd, off, n, unix.FADV_DONTNEED) })
	return pathError("fadvise", f, err)
}
