package sysutil

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says the filesystem is full: ENOSPC, or
// EDQUOT for an exhausted quota.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
