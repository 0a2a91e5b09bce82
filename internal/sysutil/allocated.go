package sysutil

import "io/fs"

// Allocated returns the bytes the file described by fi takes on its disk:
// st_blocks × 512, which counts space preallocated with fallocate and not
// the holes of a sparse file. Where the OS reports no block count it
// returns the file's size, and known is false.
func Allocated(fi fs.FileInfo) (n int64, known bool) {
	if b, ok := blocks(fi); ok {
		return b * 512, true
	}
	return fi.Size(), false
}
