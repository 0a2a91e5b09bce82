package sysutil

import (
	"errors"
	"os"
)

// Fallocate makes bytes [0, size) of f allocated on disk, extending f to size
// if it is shorter, so that later writes to that range, stores through a
// mapping included, cannot fail for lack of space. It never shrinks f.
//
// On linux it is fallocate(2) with mode 0, which also fills holes below the
// old size. On darwin it is fcntl(F_PREALLOCATE) for the bytes past the old
// size, then ftruncate. Where neither is available (another OS, or a
// filesystem answering EOPNOTSUPP or ENOSYS), Fallocate writes zeros from the
// old size to size in 1 MiB chunks; it never overwrites existing bytes, so
// holes below the old size stay sparse on that path.
//
// On failure Fallocate truncates f back to its old size, releasing what it had
// allocated past it, and returns the cause wrapped: when the disk is full,
// errors.Is(err, syscall.ENOSPC) holds.
func Fallocate(f *os.File, size int64) error {
	if err := fault(OpFallocate, f.Name()); err != nil {
		return err
	}
	if size < 0 {
		return pathError("fallocate", f, os.ErrInvalid)
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := allocate(f, fi.Size(), size); err != nil {
		return truncateBack(f, fi.Size(), err)
	}
	return nil
}

// truncateBack restores f's size to old after a failed allocation, so that a
// caller seeing ENOSPC is not left with a half-extended file. It returns err,
// joined with the truncation's own error if that failed too.
func truncateBack(f *os.File, old int64, err error) error {
	if terr := f.Truncate(old); terr != nil {
		return errors.Join(err, terr)
	}
	return err
}

// zeroFill is the portable allocation: zeros written from old to size.
func zeroFill(f *os.File, old, size int64) error {
	if size <= old {
		return nil
	}
	return writeZeros(f, old, size-old)
}
