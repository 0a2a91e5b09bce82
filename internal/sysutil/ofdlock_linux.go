package sysutil

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

func lockOFD(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.EACCES:
			return ErrLocked
		case unix.EINVAL:
			return unsupported("F_OFD_SETLK")
		}
		return err
	}
}

func lockedOFD(f *os.File) (held, known bool, err error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk)
		switch err {
		case unix.EINTR:
			continue
		case unix.EINVAL:
			return false, false, nil // no OFD locks here
		case nil:
			return lk.Type != unix.F_UNLCK, true, nil
		}
		return false, false, err
	}
}

func unlockOFD(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
	for {
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != unix.EINTR {
			return err
		}
	}
}
