package sysutil

import "os"

// Open file description locks (fcntl F_OFD_SETLK / F_OFD_GETLK, linux).
//
// A writer that must let other processes tell whether it is still alive
// and holds a file, without their reading /proc/locks (which takes the
// kernel's file-lock rwsem for writing: an RCU grace period, milliseconds,
// during which every process's flock and fcntl locks wait), takes an OFD
// write lock on the file with [LockOFD]; a reader asks with [LockedOFD],
// one fcntl that changes nothing. The lock belongs to the open file
// description: it is released when the last descriptor of it is closed (the
// writer's death included), a second open of the file conflicts with it even
// in the same process, and it is independent of flock(2) locks on the same
// file.

// LockOFD takes an exclusive OFD lock on the whole of f without blocking.
// If another open file description holds a conflicting one the error wraps
// [ErrLocked]; where OFD locks are unavailable it wraps [ErrUnsupported].
func LockOFD(f *os.File) error {
	if err := fault(OpLock, f.Name()); err != nil {
		return err
	}
	return pathError("fcntl F_OFD_SETLK", f, lockOFD(f))
}

// LockedOFD reports whether an open file description other than f's holds
// an OFD lock on any byte of f. known is false where the OS cannot tell
// (no OFD locks: other systems, linux before 3.15); held is then false.
// It takes no lock and allocates nothing.
func LockedOFD(f *os.File) (held, known bool, err error) {
	held, known, err = lockedOFD(f)
	return held, known, pathError("fcntl F_OFD_GETLK", f, err)
}

// UnlockOFD releases an OFD lock taken by [LockOFD] on f. Closing the
// last descriptor of f's open file description has the same effect.
func UnlockOFD(f *os.File) error {
	return pathError("fcntl F_OFD_SETLK", f, unlockOFD(f))
}
