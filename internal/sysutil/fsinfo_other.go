//go:build !linux

package sysutil

import "os"

func fsType(string) (string, error)        { return "", unsupported("statfs") }
func setNoCOW(string) error                { return unsupported("FS_IOC_SETFLAGS") }
func hasNoCOW(string) (bool, error)        { return false, unsupported("FS_IOC_GETFLAGS") }
func sharedExtents(*os.File) (bool, error) { return false, unsupported("FIEMAP") }
func unshare(*os.File, int64) error        { return unsupported("FALLOC_FL_UNSHARE_RANGE") }
