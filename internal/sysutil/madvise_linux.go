package sysutil

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// madviseCall is unix.Madvise; tests replace it to reach the old-kernel path
// on a kernel that knows MADV_POPULATE_WRITE.
var madviseCall = unix.Madvise

var madviseFlags = [...]int{
	AdviceNormal:        unix.MADV_NORMAL,
	AdviceSequential:    unix.MADV_SEQUENTIAL,
	AdviceRandom:        unix.MADV_RANDOM,
	AdviceWillNeed:      unix.MADV_WILLNEED,
	AdviceDontNeed:      unix.MADV_DONTNEED,
	AdvicePopulateWrite: unix.MADV_POPULATE_WRITE,
}

// madvise expects b to start on a page boundary. Kernels before 5.14 answer
// MADV_POPULATE_WRITE with EINVAL, which is reported as unsupported.
func madvise(b []byte, advice Advice) error {
	err := madviseCall(b, madviseFlags[advice])
	if advice == AdvicePopulateWrite && errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: %w", unsupported("madvise(MADV_POPULATE_WRITE)"), err)
	}
	return os.NewSyscallError("madvise", err)
}
