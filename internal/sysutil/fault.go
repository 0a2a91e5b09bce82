package sysutil

import (
	"strconv"
	"sync/atomic"
)

// Op names an I/O call of this package for a fault hook installed with
// [SetFault].
type Op int

// The operations a fault hook can fail. Each exported function consults the
// hook with its own Op only; internal steps (the zero-filling inside
// [Fallocate], for example) do not consult it again.
const (
	OpMmap       Op = iota + 1 // Mmap; path is the file's name
	OpMunmap                   // Munmap; path is ""
	OpMsync                    // Msync; path is ""
	OpFdatasync                // Fdatasync; path is the file's name
	OpFallocate                // Fallocate; path is the file's name
	OpWriteZeros               // WriteZeros; path is the file's name
	OpMadvise                  // Madvise; path is ""
	OpLock                     // Lock; path is the file's name
	OpSyncDir                  // SyncDir; path is the directory
	OpCreate                   // Create; path is the new file
	OpOpen                     // OpenFile; path is the file
	OpRename                   // Rename; path is the old path
	OpRemove                   // Remove; path is the removed path
	OpStatfs                   // FSType; path is the directory
	OpGetFlags                 // HasNoCOW; path is the file or directory
	OpSetFlags                 // SetNoCOW; path is the file or directory
	OpFiemap                   // SharedExtents; path is the file's name
	OpUnshare                  // Unshare; path is the file's name
)

var opNames = [...]string{
	OpMmap:       "mmap",
	OpMunmap:     "munmap",
	OpMsync:      "msync",
	OpFdatasync:  "fdatasync",
	OpFallocate:  "fallocate",
	OpWriteZeros: "writezeros",
	OpMadvise:    "madvise",
	OpLock:       "lock",
	OpSyncDir:    "syncdir",
	OpCreate:     "create",
	OpOpen:       "open",
	OpRename:     "rename",
	OpRemove:     "remove",
	OpStatfs:     "statfs",
	OpGetFlags:   "getflags",
	OpSetFlags:   "setflags",
	OpFiemap:     "fiemap",
	OpUnshare:    "unshare",
}

// String returns the lower-case name of the call, such as "msync", or "Op(N)"
// for a value that names no operation.
func (op Op) String() string {
	if op > 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

// faultHook holds the installed hook, or nil. A pointer to the func value
// makes the load a single atomic operation.
var faultHook atomic.Pointer[func(Op, string) error]

// SetFault installs fn as the process-wide fault hook and returns a func that
// reinstates the previous hook; tests write t.Cleanup(sysutil.SetFault(fn)).
// Before performing its call, each function named by an Op calls
// fn(op, path), where path is the file or directory involved or "" (see
// [Op]). When fn returns a non-nil error the call is skipped and that error is
// returned as is, so errors.Is(err, syscall.EIO) works for an injected EIO.
// A nil fn removes the hook.
//
// SetFault is safe to call concurrently with the I/O functions, but the hook is
// global: tests that install one must not run in parallel with each other.
func SetFault(fn func(op Op, path string) error) (restore func()) {
	var p *func(Op, string) error
	if fn != nil {
		p = &fn
	}
	prev := faultHook.Swap(p)
	return func() { faultHook.Store(prev) }
}

// fault consults the installed hook, if any, for one call of op.
func fault(op Op, path string) error {
	if p := faultHook.Load(); p != nil {
		return (*p)(op, path)
	}
	return nil
}

// FailNth returns a fault hook for [SetFault] that fails the n-th call of op
// (counting from 1) with err and lets every other call through; with forever
// set it fails every call of op from the n-th on. Calls of other Ops are not
// counted. An n below 1 counts as 1. The returned hook is safe for concurrent
// use.
func FailNth(op Op, n int, err error, forever bool) func(Op, string) error {
	target := int64(max(n, 1))
	var calls atomic.Int64
	return func(o Op, _ string) error {
		if o != op {
			return nil
		}
		c := calls.Add(1)
		if c == target || (forever && c > target) {
			return err
		}
		return nil
	}
}
