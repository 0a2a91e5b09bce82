package sysutil

// SetFallocateCall replaces the fallocate(2) wrapper, so tests reach the
// zero-filling fallback and the failure paths on any filesystem.
func SetFallocateCall(fn func(fd int, mode uint32, off, length int64) error) (restore func()) {
	prev := fallocateCall
	fallocateCall = fn
	return func() { fallocateCall = prev }
}

// SetMadviseCall replaces the madvise(2) wrapper, so tests can play an old
// kernel.
func SetMadviseCall(fn func(b []byte, advice int) error) (restore func()) {
	prev := madviseCall
	madviseCall = fn
	return func() { madviseCall = prev }
}
