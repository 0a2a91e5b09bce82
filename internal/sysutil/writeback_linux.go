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

// dropPages zaps the page-table entries of b, whole pages of a shared file
// mapping: the kernel moves each entry's dirty bit to its page first, so no
// store is lost.
func dropPages(b []byte) error {
	return os.NewSyscallError("madvise", unix.Madvise(b, unix.MADV_DONTNEED))
}
