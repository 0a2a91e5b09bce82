//go:build linux || darwin

package sysutil

import "golang.org/x/sys/unix"

// lock maps EWOULDBLOCK, flock's answer when another open file description
// holds the lock, to ErrLocked.
func lock(fd int) error {
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		return ErrLocked
	}
	return err
}

func unlock(fd int) error { return unix.Flock(fd, unix.LOCK_UN) }
