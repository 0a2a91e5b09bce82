package sysutil

import (
	"os"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error {
	return pathError("fdatasync", f, control(f, unix.Fdatasync))
}
