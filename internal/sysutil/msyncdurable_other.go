//go:build !linux

package sysutil

// MsyncIsDurable reports whether a successful msync(MS_SYNC) alone makes the
// range durable. On darwin msync writes the pages but does not flush the
// drive's cache, so F_FULLFSYNC (Fdatasync) must follow; elsewhere we make
// no assumption either.
const MsyncIsDurable = false
