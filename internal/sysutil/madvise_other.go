//go:build !linux && !darwin

package sysutil

func madvise([]byte, Advice) error { return unsupported("madvise") }
