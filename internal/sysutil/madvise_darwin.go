package sysutil

import (
	"os"

	"golang.org/x/sys/unix"
)

var madviseFlags = [...]int{
	AdviceNormal:     unix.MADV_NORMAL,
	AdviceSequential: unix.MADV_SEQUENTIAL,
	AdviceRandom:     unix.MADV_RANDOM,
	AdviceWillNeed:   unix.MADV_WILLNEED,
	AdviceDontNeed:   unix.MADV_DONTNEED,
}

// madvise expects b to start on a page boundary. Darwin has no
// MADV_POPULATE_WRITE.
func madvise(b []byte, advice Advice) error {
	if advice == AdvicePopulateWrite {
		return unsupported("madvise(MADV_POPULATE_WRITE)")
	}
	return os.NewSyscallError("madvise", unix.Madvise(b, madviseFlags[advice]))
}
