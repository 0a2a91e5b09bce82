package sysutil

import "os"

// StartWriteback asks the kernel to start writing the dirty pages of
// [off, off+n) of f back to the disk without waiting for them
// (sync_file_range SYNC_FILE_RANGE_WRITE on Linux; a no-op elsewhere). It
// promises no durability: it only shortens the next sync. Pages dirtied
// through a MAP_SHARED mapping are the file's pages, so this reaches them
// too; msync(MS_ASYNC) has been a no-op on Linux since 2.6.19.
func StartWriteback(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	return startWriteback(f, off, n)
}
