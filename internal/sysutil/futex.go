package sysutil

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Futexes on shared memory.
//
// A process that waits for another to change a word of a MAP_SHARED mapping
// (a follower waiting for the writer to publish a record) calls [FutexWait]
// with the value it last saw; the process that changes the word calls
// [FutexWake] after the change. On linux these are futex(2) FUTEX_WAIT and
// FUTEX_WAKE without FUTEX_PRIVATE_FLAG, so the kernel keys the wait queue
// on the file page and offset, and a waker in one process wakes waiters in
// every other process that maps the same file, read-only mappings included.
//
// The protocol is the usual one: the waker changes the word, then wakes; the
// waiter loads the word, checks its condition, and waits with the value it
// loaded. FutexWait returns at once if the word no longer holds that value,
// so a change made between the check and the wait is never missed. It may
// also return with the word unchanged (a spurious wake-up), so callers loop.
//
// Elsewhere FutexWake wakes nobody and FutexWait sleep-polls the word (short
// sleeps, which Go rounds up to about a millisecond), so waiters notice only
// a change of the word, never a bare wake-up: the protocol above works
// unchanged, with more latency.

// FutexWait blocks while the 4-byte word at m[off] holds val, until a
// [FutexWake] on the same word (from any process), or until timeout has
// passed if timeout > 0; timeout <= 0 waits with no limit. It returns false if
// it timed out and true otherwise: woken, the word no longer held val, or a
// spurious wake-up. Signals do not end the wait early: it resumes for the
// time left. m must be a mapping from [Mmap] for the wait to be seen by other
// processes; any memory works within one process.
func FutexWait(m []byte, off int, val uint32, timeout time.Duration) (bool, error) {
	w, err := Uint32At(m, off)
	if err != nil {
		return false, err
	}
	return futexWait(w, val, timeout)
}

// FutexWake wakes up to n waiters (all of them if n <= 0) blocked in
// [FutexWait] on the 4-byte word at m[off], in any process, and returns how
// many it woke. Change the word before waking: where futexes are emulated
// (see above) waiters see only the change, and FutexWake returns 0.
func FutexWake(m []byte, off int, n int) (int, error) {
	w, err := Uint32At(m, off)
	if err != nil {
		return 0, err
	}
	return futexWake(w, n)
}

// Polling parameters of the portable fallback: it yields pollSpins times,
// then sleeps for pollMinSleep, doubling up to pollMaxSleep.
const (
	pollSpins    = 16
	pollMinSleep = 50 * time.Microsecond
	pollMaxSleep = time.Millisecond
)

// pollWait is the portable FutexWait: it returns true once w no longer holds
// val, false when timeout (if > 0) has passed first.
func pollWait(w *atomic.Uint32, val uint32, timeout time.Duration) bool {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	sleep := pollMinSleep
	for i := 0; ; i++ {
		if w.Load() != val {
			return true
		}
		if i < pollSpins {
			runtime.Gosched()
			continue
		}
		d := sleep
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return false
			}
			d = min(d, left)
		}
		time.Sleep(d)
		sleep = min(2*sleep, pollMaxSleep)
	}
}
