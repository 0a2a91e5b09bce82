package raftstore

import "errors"

// Errors. ErrKeyNotFound's text is exactly raft-boltdb's: raft compares
// the text of a StableStore error with "not found" to tell a missing key.
var (
	ErrKeyNotFound = errors.New("not found")
	// ErrNonContiguous: a StoreLogs batch that neither starts an empty
	// store nor continues LastIndex()+1 with consecutive indexes (index 0,
	// a gap, an overlap). Nothing was written.
	ErrNonContiguous = errors.New("raftstore: logs not contiguous with the store")
	// ErrMiddleDelete: DeleteRange of a range strictly inside the log; only
	// a prefix or a suffix can be deleted. Nothing was deleted.
	ErrMiddleDelete = errors.New("raftstore: DeleteRange strictly inside the log (only a prefix or a suffix can go)")
	// ErrBadRecord is returned when a log record does not decode: it was
	// not written by this package or a newer version wrote it. It wraps the
	// index.
	ErrBadRecord = errors.New("raftstore: log record does not decode")
	// ErrStableCorrupt is returned by Open when dir/stable is damaged or
	// missing beside an existing log (raft's term and vote would be lost).
	// It is wrapped with the reason.
	ErrStableCorrupt = errors.New("raftstore: stable file corrupt")
)
