package sysutil

import (
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futex(2) operations, without FUTEX_PRIVATE_FLAG (128): the wait queue is
// keyed on the page, so it is shared with other processes mapping it.
const (
	futexOpWait = 0 // FUTEX_WAIT
	futexOpWake = 1 // FUTEX_WAKE
)

func futexWait(w *atomic.Uint32, val uint32, timeout time.Duration) (bool, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ts unix.Timespec
		tsp := unsafe.Pointer(nil)
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return false, nil
			}
			ts = unix.NsecToTimespec(left.Nanoseconds())
			tsp = unsafe.Pointer(&ts)
		}
		// Syscall6, not RawSyscall6: the wait may be long, and the runtime
		// must hand this thread's P to other goroutines meanwhile.
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexOpWait, uintptr(val), uintptr(tsp), 0, 0)
		switch e {
		case 0, unix.EAGAIN: // woken, or the word did not hold val
			return true, nil
		case unix.ETIMEDOUT:
			return false, nil
		case unix.EINTR: // a signal (Go preempts with SIGURG): wait for the time left
			if w.Load() != val {
				return true, nil
			}
		default:
			return false, os.NewSyscallError("futex", e)
		}
	}
}

func futexWake(w *atomic.Uint32, n int) (int, error) {
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexOpWake, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("futex", e)
	}
	return int(r), nil
}
