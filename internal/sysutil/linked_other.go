//go:build !unix

package sysutil

import "os"

func linkCount(*os.File) (uint64, error) { return 1, nil }
