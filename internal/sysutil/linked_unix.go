//go:build unix

package sysutil

import (
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
