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

// DropPages removes the whole pages inside b, a sub-slice of a MAP_SHARED
// mapping from [Mmap], from this process's page tables, keeping them in the
// page cache as they are: a dirty page stays dirty and is written back as
// usual, and a later access maps it again from the page cache (a minor
// fault, no I/O). Pages that b only partly covers are left alone.
//
// It is the step before [StartWriteback] of bytes the process will not
// store to again: write-back must write-protect every page-table entry of a
// page it cleans, and on Linux each of them costs an inter-processor
// interrupt (a TLB shootdown) of every CPU running the process — the
// appender's included. Pages that no page table maps need none of that.
// DropPages itself flushes the TLB once per call.
//
// Never use it on pages mapped privately (see [Privatize]): their private
// copies would be discarded. It is advisory: a no-op where the OS lacks
// MADV_DONTNEED's semantics for shared mappings (everywhere but Linux), and
// it consults no fault hook.
func DropPages(b []byte) error {
	if b = pageInner(b); len(b) == 0 {
		return nil
	}
	return dropPages(b)
}
