//go:build !linux

package sysutil

import (
	"sync/atomic"
	"time"
)

// futexWait polls: this OS has no futex reachable without cgo (darwin's
// __ulock_wait is private API), so waiters notice only a change of the word.
func futexWait(w *atomic.Uint32, val uint32, timeout time.Duration) (bool, error) {
	return pollWait(w, val, timeout), nil
}

// futexWake wakes nobody: pollers see the change of the word that precedes
// every wake-up.
func futexWake(*atomic.Uint32, int) (int, error) { return 0, nil }
