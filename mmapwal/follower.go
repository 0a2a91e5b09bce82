package mmapwal

import "context"

// followIter is the state of a Follower's iterator.
type followIter struct{}

func (f *followIter) next(it *Iterator) bool                          { return false }
func (f *followIter) nextWait(it *Iterator, ctx context.Context) bool { return false }
func (f *followIter) close()                                          {}
