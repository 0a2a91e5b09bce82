//go:build !linux && !darwin

package sysutil

func mmap(int, int, bool) ([]byte, error) { return nil, unsupported("mmap") }

func munmap([]byte) error { return unsupported("munmap") }

func msync([]byte, bool) error { return unsupported("msync") }

func privatize(int, []byte, int64) error { return unsupported("mmap") }
