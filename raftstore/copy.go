package raftstore

import (
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// copyBatchBytes bounds the Data a CopyFrom batch holds.
const copyBatchBytes = 4 << 20

// stableKeys are the StableStore keys CopyFrom copies: those raft uses
// (CurrentTerm, LastVoteTerm, LastVoteCand).
var stableKeys = struct{ Uint64, Bytes [][]byte }{
	Uint64: [][]byte{[]byte("CurrentTerm"), []byte("LastVoteTerm")},
	Bytes:  [][]byte{[]byte("LastVoteCand")},
}

// CopyFrom copies every log of logs, and raft's stable keys (CurrentTerm,
// LastVoteTerm, LastVoteCand) of stable, into dst, which must be empty, as
// raft-wal's migrate package does: open the old stores with the node
// stopped, CopyFrom, close them, and start raft on dst. A key missing in stable (an error whose text is "not
// found") is skipped. Either may be nil. The logs go in batches of about 4
// MiB, each durable; a failure leaves dst holding a prefix, so delete it
// and start again.
func CopyFrom(dst *Store, logs raft.LogStore, stable raft.StableStore) error {
	if last, err := dst.LastIndex(); err != nil || last != 0 {
		if err == nil {
			err = fmt.Errorf("%w: CopyFrom into a store that holds logs (LastIndex %d)", mmapwal.ErrInvalidArgument, last)
		}
		return err
	}
	if stable != nil {
		if err := copyStable(dst, stable); err != nil {
			return err
		}
	}
	if logs == nil {
		return nil
	}
	return copyLogs(dst, logs)
}

func copyStable(dst *Store, src raft.StableStore) error {
	for _, k := range stableKeys.Uint64 {
		v, err := src.GetUint64(k)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("raftstore: CopyFrom: read %s: %w", k, err)
		}
		if err := dst.SetUint64(k, v); err != nil {
			return err
		}
	}
	for _, k := range stableKeys.Bytes {
		v, err := src.Get(k)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("raftstore: CopyFrom: read %s: %w", k, err)
		}
		if err := dst.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// isNotFound is raft's own test for a missing stable key: the error text.
func isNotFound(err error) bool { return err != nil && err.Error() == ErrKeyNotFound.Error() }

func copyLogs(dst *Store, src raft.LogStore) error {
	first, err := src.FirstIndex()
	if err != nil {
		return fmt.Errorf("raftstore: CopyFrom: FirstIndex: %w", err)
	}
	last, err := src.LastIndex()
	if err != nil {
		return fmt.Errorf("raftstore: CopyFrom: LastIndex: %w", err)
	}
	if last == 0 {
		return nil
	}
	var batch []*raft.Log
	size := 0
	for idx := first; idx <= last; idx++ {
		lg := new(raft.Log)
		if err := src.GetLog(idx, lg); err != nil {
			return fmt.Errorf("raftstore: CopyFrom: log %d of [%d, %d]: %w", idx, first, last, err)
		}
		batch = append(batch, lg)
		size += len(lg.Data) + len(lg.Extensions) + 32
		if size >= copyBatchBytes || idx == last {
			if err := dst.StoreLogs(batch); err != nil {
				return fmt.Errorf("raftstore: CopyFrom: store logs %d..%d: %w", batch[0].Index, idx, err)
			}
			batch, size = batch[:0], 0
		}
	}
	return nil
}
