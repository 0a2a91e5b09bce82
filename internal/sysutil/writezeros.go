package sysutil

import "os"

// zeroChunk is the source of every zero-filling write, so filling a segment
// allocates nothing. It is only ever read; as untouched BSS it costs no RAM.
var zeroChunk [1 << 20]byte

// WriteZeros writes zeros over bytes [off, off+n) of f with positioned writes
// (pwrite) of at most 1 MiB, extending f if the range passes its end. It is how
// segments are pre-zeroed, so that a zeroed header reads as a clean end. It
// does not sync. On error a prefix of the range may have been written.
func WriteZeros(f *os.File, off, n int64) error {
	if err := fault(OpWriteZeros, f.Name()); err != nil {
		return err
	}
	if off < 0 || n < 0 {
		return pathError("writezeros", f, os.ErrInvalid)
	}
	return writeZeros(f, off, n)
}

// writeZeros is WriteZeros without the fault hook, for use inside other
// calls.
func writeZeros(f *os.File, off, n int64) error {
	for n > 0 {
		chunk := min(n, int64(len(zeroChunk)))
		if _, err := f.WriteAt(zeroChunk[:chunk], off); err != nil {
			return err
		}
		off += chunk
		n -= chunk
	}
	return nil
}
