package segment

// PrefaultRunning reports whether a PrefaultAsync of s is still under way.
func (s *File) PrefaultRunning() bool {
	if s.prefault == nil {
		return false
	}
	select {
	case <-s.prefault.done:
		return false
	default:
		return true
	}
}

// WaitPrefault waits for a PrefaultAsync of s to finish.
func (s *File) WaitPrefault() {
	if s.prefault != nil {
		<-s.prefault.done
	}
}
