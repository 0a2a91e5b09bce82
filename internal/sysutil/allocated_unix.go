//go:build unix

package sysutil

import (
	"io/fs"
	"syscall"
)

func blocks(fi fs.FileInfo) (int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(st.Blocks), true
}
