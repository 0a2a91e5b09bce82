package sysutil

import (
	"encoding/binary"
	"os"
	"unsafe"
)

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

// PresentPages reports, for each page under b (a page-aligned slice of a
// mapping), whether this process's page tables map it now (bit 63 of its
// /proc/self/pagemap entry).
func PresentPages(b []byte) ([]bool, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ps := uintptr(PageSize())
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	n := (uintptr(len(b)) + ps - 1) / ps
	buf := make([]byte, 8*n)
	if _, err := f.ReadAt(buf, int64(addr/ps*8)); err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(buf[8*i:])&(1<<63) != 0
	}
	return out, nil
}
