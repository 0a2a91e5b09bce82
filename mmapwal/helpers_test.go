package mmapwal

// The test helpers shared by this package's internal tests (package
// mmapwal): each is written once, here, under one name. The external tests
// (package mmapwal_test) cannot see them; theirs are in xhelpers_test.go.

// waitPrepared waits until the background preparation of the next segment
// is over, so that a copy or snapshot of the directory (or a crash point)
// does not depend on its timing.
func waitPrepared(l *Log) {
	l.prep.mu.Lock()
	done := l.prep.done
	l.prep.mu.Unlock()
	if done != nil {
		<-done
	}
}

// activeRoom returns the bytes left in the active segment, after l.off.
func activeRoom(l *Log) int64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.active.size - l.off
}
