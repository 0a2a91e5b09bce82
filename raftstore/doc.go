// Package raftstore makes an mmapwal log the log store and stable store of
// hashicorp/raft.
//
//	store, err := raftstore.Open("/var/lib/app/raft", nil) // nil: safe defaults
//	if err != nil { … }
//	defer store.Close()
//	r, err := raft.NewRaft(conf, fsm, store, store, snaps, transport)
//
// A *Store is a raft.LogStore, a raft.StableStore, a raft.MonotonicLogStore
// (IsMonotonic is true: logs are consecutive, and raft deletes every log
// after a snapshot restore instead of leaving a gap) and a
// CommitTrackingLogStore (StageCommitIndex, GetCommitIndex), and an
// io.Closer. Every method is safe for concurrent use; GetLog takes no lock
// (raft reads one log per follower goroutine while the leader appends).
//
// # Layout
//
// The directory holds:
//
//   - log/: the mmapwal log (FORMAT.md at the repository root). Each
//     raft.Log is one record whose sequence is its raft index, encoded as
//     codec.go's diagram shows (a version byte, Term, Type, Data,
//     Extensions, AppendedAt, and the commit index in the last record of a
//     batch). StoreLogs is one atomic batch (AppendBatchSeq: all or nothing
//     after any crash); a batch too large for one segment is split into the
//     fewest segment-sized batches, of which a crash keeps a prefix.
//   - stable: raft's StableStore keys (term, vote), a small file with a
//     CRC-32C, replaced atomically on every Set (stable.tmp, fsync,
//     rename, directory fsync). It is kept out of the log, which
//     truncations would drop.
//
// # Semantics raft relies on
//
//   - An empty store has FirstIndex() == LastIndex() == 0, also after a
//     DeleteRange of everything and after a reopen.
//   - GetLog of a missing index returns raft.ErrLogNotFound itself.
//   - Get and GetUint64 of a missing key return nil or 0 and ErrKeyNotFound,
//     whose text is "not found" (raft compares it).
//   - StoreLogs takes any first index ≥ 1 on an empty store (after a full
//     DeleteRange, below the old LastIndex too: mmapwal's Log.Reset),
//     otherwise exactly LastIndex()+1 onwards; anything else is
//     ErrNonContiguous and writes nothing. It returns once the logs are
//     durable, whatever Options.Log.Durability says.
//   - DeleteRange(min, max) is inclusive and clamped like raft-wal's: see
//     the method.
//   - After a crash (kill or power cut) the store holds every StoreLogs that
//     returned nil, and every index from FirstIndex to LastIndex reads.
//
// # Versions
//
// Built and tested with github.com/hashicorp/raft v1.7.2 and
// github.com/hashicorp/raft-boltdb/v2 v2.3.1 (the versions this project's
// environment approves; raft v1.8.0, which defines
// raft.CommitTrackingLogStore, does not build beside raft-boltdb/v2
// v2.3.1: it lifts go-metrics to v0.7.0, which lacks the compat package
// raft-boltdb imports). The CommitTrackingLogStore methods are implemented
// all the same, and this package declares the interface; raft v1.8.0 calls
// them when its RestoreCommittedLogs is on. The comparisons use
// github.com/hashicorp/raft-wal v0.4.0, the newest tag served here.
//
// Migrating from another store: CopyFrom.
package raftstore
