//go:build linux || darwin

package sysutil

import (
	"os"

	"golang.org/x/sys/unix"
)

func mmap(fd, length int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, length, prot, unix.MAP_SHARED)
}

func munmap(b []byte) error {
	return os.NewSyscallError("munmap", unix.Munmap(b))
}

// msync expects b to start on a page boundary.
func msync(b []byte, async bool) error {
	flags := unix.MS_SYNC
	if async {
		flags = unix.MS_ASYNC
	}
	return os.NewSyscallError("msync", unix.Msync(b, flags))
}

func privatize(fd int, b []byte, off int64) error {
	addr, n, pageOff := pageSpan(b, off)
	_, err := unix.MmapPtr(fd, pageOff, addr, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	return os.NewSyscallError("mmap", err)
}
