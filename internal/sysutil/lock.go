package sysutil

import (
	"errors"
	"os"
)

// ErrLocked is returned, wrapped, by [Lock] when another open file
// description of the file, usually another process's, holds the lock.
var ErrLocked = errors.New("sysutil: file is locked by another process")

// Lock takes an exclusive advisory lock on f without blocking: flock(2) with
// LOCK_EX|LOCK_NB. The lock belongs to f's open file description, so a second
// open of the same file conflicts even within one process, and closing f
// releases it. If the lock is held elsewhere the error wraps [ErrLocked].
// Where flock is unavailable (windows and OSes other than linux and darwin)
// Lock returns an error wrapping [ErrUnsupported].
func Lock(f *os.File) error {
	if err := fault(OpLock, f.Name()); err != nil {
		return err
	}
	return pathError("flock", f, control(f, lock))
}

// Unlock releases a lock taken by [Lock] (flock(2) with LOCK_UN). Closing f
// has the same effect.
func Unlock(f *os.File) error {
	return pathError("flock", f, control(f, unlock))
}
