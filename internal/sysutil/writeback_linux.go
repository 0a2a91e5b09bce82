package sysutil

import (
	"os"

	"golang.org/x/sys/unix"
)

func startWriteback(f *os.File, off, n int64) error {
	return control(f, func(fd int) error {
		return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
