//go:build !linux

package sysutil

import "os"

// fadviseDontNeed is a no-op: darwin has no posix_fadvise, and the advice is
// only an optimisation.
func fadviseDontNeed(*os.File, int64, int64) error { return nil }
