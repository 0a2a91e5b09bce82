//go:build unix

package sysutil

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func linkCount(f *os.File) (uint64, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstat(int(f.Fd()), &st)
		if err != unix.EINTR {
			return uint64(st.Nlink), err
		}
	}
}

// statID is FileID: the inode and the times in nanoseconds.
func statID(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fmt.Sprintf("dev %d ino %d size %d mtime %d.%d ctime %d.%d",
		st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec), nil
}
