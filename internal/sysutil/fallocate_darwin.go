package sysutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves the bytes past the old size with F_PREALLOCATE, then sets
// the size with ftruncate: F_PREALLOCATE allocates blocks but leaves the
// file's length alone. Darwin has no call that fills holes below the old
// size, so those are left as they are.
func allocate(f *os.File, old, size int64) error {
	if size <= old {
		return nil
	}
	err := control(f, func(fd int) error { return preallocate(fd, size-old) })
	if errors.Is(err, unix.ENOTSUP) {
		return zeroFill(f, old, size)
	}
	if err != nil {
		return pathError("fcntl F_PREALLOCATE", f, err)
	}
	return f.Truncate(size)
}

// preallocate reserves n bytes past the physical end of fd, contiguous if the
// volume can, otherwise wherever they fit.
func preallocate(fd int, n int64) error {
	st := unix.Fstore_t{
		Flags:   unix.F_ALLOCATECONTIG | unix.F_ALLOCATEALL,
		Posmode: unix.F_PEOFPOSMODE,
		Length:  n,
	}
	if unix.FcntlFstore(uintptr(fd), unix.F_PREALLOCATE, &st) == nil {
		return nil
	}
	st.Flags = unix.F_ALLOCATEALL
	return unix.FcntlFstore(uintptr(fd), unix.F_PREALLOCATE, &st)
}
