package sysutil

import (
	"fmt"
	"os"
)

// Advice tells the kernel how a mapping is about to be used; see [Madvise].
type Advice int

// The advice [Madvise] accepts, each named after the madvise(2) flag it maps
// to.
const (
	// AdviceNormal undoes earlier advice (MADV_NORMAL).
	AdviceNormal Advice = iota
	// AdviceSequential asks for aggressive read-ahead, for a recovery scan
	// (MADV_SEQUENTIAL).
	AdviceSequential
	// AdviceRandom turns read-ahead off (MADV_RANDOM).
	AdviceRandom
	// AdviceWillNeed starts reading the pages in now (MADV_WILLNEED).
	AdviceWillNeed
	// AdviceDontNeed drops the pages from this mapping; on a shared file
	// mapping, dirty pages stay in the page cache for writeback and later
	// accesses read the file again (MADV_DONTNEED).
	AdviceDontNeed
	// AdvicePopulateWrite faults every page in writable now, so that the
	// first stores to a fresh segment take no page faults
	// (MADV_POPULATE_WRITE, linux 5.14 and later only).
	AdvicePopulateWrite
)

// Madvise gives the kernel advice about b, a sub-slice of a mapping from
// [Mmap]. Like [Msync], it rounds b's start down to a page boundary; an empty
// b is a no-op. Where the OS or kernel lacks the advice (AdvicePopulateWrite
// on darwin or before linux 5.14, anything on other OSes), the error wraps
// [ErrUnsupported]: advice is an optimisation, so callers usually ignore that
// case. An Advice outside the constants above is os.ErrInvalid.
func Madvise(b []byte, advice Advice) error {
	if err := fault(OpMadvise, ""); err != nil {
		return err
	}
	if advice < AdviceNormal || advice > AdvicePopulateWrite {
		return fmt.Errorf("sysutil: madvise: unknown advice %d: %w", advice, os.ErrInvalid)
	}
	if len(b) == 0 {
		return nil
	}
	return madvise(pageAlign(b), advice)
}
