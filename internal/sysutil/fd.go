package sysutil

import (
	"errors"
	"os"
	"syscall"
)

// control runs fn with f's descriptor, retrying while fn fails with EINTR.
// Unlike f.Fd, it holds f open for the whole call, so neither a concurrent
// Close nor f's cleanup can recycle the descriptor mid-syscall, and it leaves
// f's blocking mode alone. The retry matters because the Go runtime preempts
// goroutines with signals, and calls such as fallocate on tmpfs give up with
// EINTR whenever a signal is pending.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		for {
			opErr = fn(int(fd))
			if !errors.Is(opErr, syscall.EINTR) {
				return
			}
		}
	})
	if err != nil {
		// Control fails only when f is closed, with an internal error that
		// f's own methods report as os.ErrClosed; do the same.
		return os.ErrClosed
	}
	return opErr
}

// pathError wraps a failed call on f with the call's name and f's name, or
// returns nil when err is nil.
func pathError(op string, f *os.File, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: f.Name(), Err: err}
}
