// Package sysutil owns every OS-specific call of mmapwal: mapping files,
// flushing mappings and files to stable storage, preallocating segments,
// paging advice, the directory lock, directory fsync, and the few file
// operations (create, open, rename, remove) that recovery tests need to fail on
// demand, and what copy-on-write filesystems need checked: the filesystem's
// type, the NOCOW attribute, and extents shared with another file. Other packages of mmapwal reach the OS only through it.
//
// Each capability has a portable file holding the exported function, its
// documentation and its argument checks, and one file per OS holding an
// unexported helper: fallocate.go with fallocate_linux.go, fallocate_darwin.go
// and fallocate_other.go, and so on. Filenames and build tags agree; the
// "_other" files carry the negated tag of their siblings. Linux and darwin have
// real implementations. Elsewhere the calls that cannot be emulated return an
// error wrapping [ErrUnsupported]; the rest fall back to portable code, as each
// function documents.
//
// # Mapped memory
//
// [Mmap] returns a slice backed by the file's pages, shared with every other
// mapping and with read(2)/write(2) on the file. Touching it after [Munmap], or
// beyond the end of the file, faults (SIGSEGV or SIGBUS), which Go reports as a
// fatal error rather than a recoverable panic. [Msync] and [Madvise] accept any
// sub-slice of a mapping and round its start down to a page boundary; that is
// the package's first use of unsafe (pagealign.go).
//
// # Shared memory between processes
//
// [LoadUint32], [StoreUint32], [AddUint32], [CompareAndSwapUint32], their
// 64-bit siblings, and [Uint32At]/[Uint64At] are atomics on a word of a
// mapping that other processes map too (shared.go, the package's second use of
// unsafe). [FutexWait] and [FutexWake] let a process sleep until another
// changes such a word: futex(2) without the private flag on linux, a
// sleep-poll elsewhere.
//
// # Durability
//
// [Msync] writes a mapping's dirty pages to the file; [Fdatasync] makes the
// file's data, and the metadata needed to read it back, durable. A new or
// renamed file's name is durable only after [SyncDir] on its directory.
//
// # Fault injection
//
// [SetFault] installs a process-wide hook that each call named by an [Op]
// consults first, so other packages' tests can fail msync, fdatasync or
// fallocate on demand. Advisory calls whose failure changes no result
// ([FadviseDontNeed], [Unlock]) have no Op. [FailNth] builds the common hook. With no
// hook installed the cost is one atomic load per call.
package sysutil
