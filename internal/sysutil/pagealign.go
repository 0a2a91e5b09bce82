package sysutil

import "unsafe"

// pageSpan returns the address and length of the whole pages under b, and
// the file offset of the first of them when b[0] is byte off of its file.
func pageSpan(b []byte, off int64) (addr unsafe.Pointer, length uintptr, pageOff int64) {
	a := pageAlign(b)
	back := len(a) - len(b)
	n := (len(a) + PageSize() - 1) &^ (PageSize() - 1)
	return unsafe.Pointer(unsafe.SliceData(a)), uintptr(n), off - int64(back)
}

// pageAlign returns b extended backwards to start on a page boundary.
//
// msync(2) and madvise(2) reject addresses that are not page-aligned, but
// callers hand [Msync] and [Madvise] sub-slices of a mapping that usually start
// mid-page. No safe API yields a slice that begins before b[0], so this file uses
// unsafe (as does shared.go, for atomics on mapped words). The extension stays inside
// the mapping because every mapping starts on a page boundary and b lies
// within it; b must therefore point into memory returned by [Mmap], never into
// the Go heap.
func pageAlign(b []byte) []byte {
	p := unsafe.Pointer(unsafe.SliceData(b))
	back := int(uintptr(p) & uintptr(PageSize()-1))
	return unsafe.Slice((*byte)(unsafe.Add(p, -back)), len(b)+back)
}

// pageInner returns the whole pages inside b: b with its start rounded up
// and its end rounded down to page boundaries (empty when b holds no whole
// page).
func pageInner(b []byte) []byte {
	ps := uintptr(PageSize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (ps - start&(ps-1)) & (ps - 1)
	if uintptr(len(b)) < lo {
		return nil
	}
	n := (uintptr(len(b)) - lo) &^ (ps - 1)
	return b[lo : lo+n : lo+n]
}
