//go:build !linux

package sysutil

import "os"

func lockOFD(*os.File) error { return unsupported("F_OFD_SETLK") }

func lockedOFD(*os.File) (held, known bool, err error) { return false, false, nil }

func unlockOFD(*os.File) error { return unsupported("F_OFD_SETLK") }
