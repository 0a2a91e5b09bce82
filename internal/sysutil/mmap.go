package sysutil

import (
	"os"
)

// PageSize returns the size in bytes of a virtual-memory page, the unit of
// mapping, msync and madvise.
func PageSize() int {
	return os.Getpagesize()
}

// Mmap maps the first length bytes of f into memory with MAP_SHARED, readable
// and, if writable is set, writable (f must then be open for writing). Stores
// into the slice reach f's pages in the page cache; [Msync] makes them durable.
// length may exceed f's size, but touching pages wholly past the end of the
// file raises SIGBUS. The slice stays valid until [Munmap], even after f is
// closed.
func Mmap(f *os.File, length int, writable bool) ([]byte, error) {
	if err := fault(OpMmap, f.Name()); err != nil {
		return nil, err
	}
	if length <= 0 {
		return nil, pathError("mmap", f, os.ErrInvalid)
	}
	var b []byte
	err := control(f, func(fd int) (err error) {
		b, err = mmap(fd, length, writable)
		return err
	})
	return b, pathError("mmap", f, err)
}

// Munmap unmaps b, which must be the very slice returned by [Mmap] (not a
// re-slice of it). Any later access to b, or to a slice of it, faults.
func Munmap(b []byte) error {
	if err := fault(OpMunmap, ""); err != nil {
		return err
	}
	return munmap(b)
}

// Msync writes the dirty pages under b, a sub-slice of a mapping from [Mmap],
// back to the file: synchronously (MS_SYNC) unless async is set, in which case
// it only schedules the writes (MS_ASYNC). b need not start on a page
// boundary; Msync rounds its start down to one, so the whole first page is
// flushed. An empty b is a no-op. Msync does not flush the file's metadata;
// follow it with [Fdatasync] when the file's size or allocation changed.
func Msync(b []byte, async bool) error {
	if err := fault(OpMsync, ""); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	return msync(pageAlign(b), async)
}

// Privatize remaps the whole pages under b, a sub-slice of a mapping of f
// from [Mmap] whose first byte b[0] is byte off of f, as private copy-on-write pages of f (MAP_PRIVATE|MAP_FIXED):
// reads still see f's page cache until the page is stored to, and stores no
// longer reach f. b stays valid memory (a writer still holding it may go on
// storing) until the original mapping is unmapped with [Munmap], which also
// unmaps these pages. The pages around b's ends are remapped whole: they
// read the same bytes, but stores there no longer reach f either.
func Privatize(f *os.File, b []byte, off int64) error {
	if err := fault(OpMmap, f.Name()); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	err := control(f, func(fd int) error { return privatize(fd, b, off) })
	return pathError("mmap", f, err)
}
