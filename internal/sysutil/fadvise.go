package sysutil

import "os"

// FadviseDontNeed tells the kernel that bytes [off, off+n) of f will not be
// read again soon, so their clean pages may leave the page cache; n == 0 means
// to the end of the file. Dirty pages are not dropped until written back.
// On linux it is posix_fadvise(POSIX_FADV_DONTNEED). Elsewhere it does nothing
// and returns nil: the advice only saves memory, and losing it changes no
// result. It has no fault hook for the same reason.
func FadviseDontNeed(f *os.File, off, n int64) error {
	return fadviseDontNeed(f, off, n)
}
