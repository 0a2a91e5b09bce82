//go:build !linux && !darwin

package sysutil

func lock(int) error { return unsupported("flock") }

func unlock(int) error { return unsupported("flock") }
