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

// ErrBadOffset is returned, wrapped in an [*OffsetError], by the atomics on
// shared memory and the futex calls when the word they are given does not lie
// wholly inside the slice or is not aligned to its size.
var ErrBadOffset = errors.New("sysutil: word outside the mapping or misaligned")

// OffsetError describes a word that [LoadUint32] and its siblings, or
// [FutexWait] and [FutexWake], refused: Size bytes at Off of a slice of Len
// bytes. errors.Is(err, ErrBadOffset) holds for it.
type OffsetError struct {
	Off  int // the offset asked for
	Size int // 4 or 8
	Len  int // len of the slice
}

func (e *OffsetError) Error() string {
	if e.Off < 0 || e.Off > e.Len-e.Size {
		return fmt.Sprintf("sysutil: %d-byte word at offset %d outside a slice of %d bytes", e.Size, e.Off, e.Len)
	}
	return fmt.Sprintf("sysutil: %d-byte word at offset %d is not %d-byte aligned", e.Size, e.Off, e.Size)
}

// Is makes errors.Is(err, ErrBadOffset) true.
func (e *OffsetError) Is(target error) bool { return target == ErrBadOffset }
