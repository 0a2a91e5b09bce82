package sysutil_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// TestFutexWaitChanged: a wait for a value the word no longer holds returns
// at once, with no timeout to end it.
func TestFutexWaitChanged(t *testing.T) {
	_, m, _ := mapShared(t, sysutil.PageSize())
	require.NoError(t, sysutil.StoreUint32(m, 0, 1))
	woke, err := sysutil.FutexWait(m, 0, 0, 0)
	require.NoError(t, err)
	require.True(t, woke)
}

// TestFutexWaitTimeout: with nobody to wake it, a wait ends after its
// timeout and says so.
func TestFutexWaitTimeout(t *testing.T) {
	_, m, _ := mapShared(t, sysutil.PageSize())
	const d = 20 * time.Millisecond
	start := time.Now()
	woke, err := sysutil.FutexWait(m, 0, 0, d)
	require.NoError(t, err)
	require.False(t, woke, "woken with nobody waking")
	require.GreaterOrEqual(t, time.Since(start), d, "returned before its timeout")
}

// TestFutexWakeOnChange: the documented protocol — change, then wake — ends
// a wait from another goroutine, through another mapping of the file, on
// every OS (where futexes are emulated the change alone does it).
func TestFutexWakeOnChange(t *testing.T) {
	_, a, b := mapShared(t, sysutil.PageSize())
	done := make(chan bool)
	go func() {
		woke, err := sysutil.FutexWait(a, 64, 0, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- woke
	}()
	time.Sleep(time.Millisecond) // usually enough for the waiter to block; correct either way
	require.NoError(t, sysutil.StoreUint32(b, 64, 1))
	_, err := sysutil.FutexWake(b, 64, 0)
	require.NoError(t, err)
	select {
	case woke := <-done:
		require.True(t, woke, "the wait timed out")
	case <-time.After(20 * time.Second):
		t.Fatal("the wait did not end on the change")
	}
}

// TestPollWait: the fallback returns once the word changes, and false on
// its timeout.
func TestPollWait(t *testing.T) {
	var w atomic.Uint32
	require.False(t, sysutil.PollWait(&w, 0, 5*time.Millisecond))
	require.True(t, sysutil.PollWait(&w, 1, 0), "a value the word does not hold")
	done := make(chan bool)
	go func() { done <- sysutil.PollWait(&w, 0, 30*time.Second) }()
	time.Sleep(3 * time.Millisecond) // past the spins, into the sleeps
	w.Store(2)
	select {
	case ok := <-done:
		require.True(t, ok)
	case <-time.After(20 * time.Second):
		t.Fatal("PollWait did not see the change")
	}
}

// TestFutexAllocs: waiting, timing out and waking allocate nothing, so a
// follower's NextWait can stay at 0 allocations per record.
func TestFutexAllocs(t *testing.T) {
	m := make([]byte, 8)
	require.NoError(t, sysutil.StoreUint32(m, 0, 1))
	n := testing.AllocsPerRun(100, func() {
		sysutil.FutexWait(m, 0, 0, time.Second) // the word differs: returns at once
		sysutil.FutexWait(m, 0, 1, time.Microsecond)
		sysutil.FutexWake(m, 0, 1)
		sysutil.LoadUint64(m, 0)
	})
	require.Zero(t, n)
}
