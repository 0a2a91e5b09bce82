package raftstore

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// TestCopyFrom migrates a raft-boltdb/v2 store: every log, field for field,
// and raft's stable keys; a key missing in the source is skipped; a
// non-empty destination is refused.
func TestCopyFrom(t *testing.T) {
	src, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), "raft.db"), MsgpackUseNewTimeFormat: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// A compacted source: logs 101..5100, some large (several CopyFrom
	// batches and segments).
	var logs []*raft.Log
	for i := uint64(1); i <= 5100; i++ {
		lg := testLog(i)
		if i%500 == 0 {
			lg.Data = make([]byte, 9000)
			lg.Data[0] = byte(i)
		}
		logs = append(logs, lg)
	}
	if err := src.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := src.DeleteRange(1, 100); err != nil {
		t.Fatal(err)
	}
	if err := src.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if err := src.Set([]byte("LastVoteCand"), []byte("node-3")); err != nil {
		t.Fatal(err)
	}
	// LastVoteTerm is missing: skipped.

	dst := openStore(t, t.TempDir(), smallOpts())
	if err := CopyFrom(dst, src, src); err != nil {
		t.Fatal(err)
	}
	dst = reopen(t, dst, smallOpts())
	first, _ := dst.FirstIndex()
	last, _ := dst.LastIndex()
	if first != 101 || last != 5100 {
		t.Fatalf("copied [%d, %d], want [101, 5100]", first, last)
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := dst.GetLog(i, &got); err != nil {
			t.Fatal(err)
		}
		if d := sameLog(&got, logs[i-1]); d != "" {
			t.Fatalf("log %d: %s", i, d)
		}
	}
	if v, err := dst.GetUint64([]byte("CurrentTerm")); v != 42 || err != nil {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
	if v, err := dst.Get([]byte("LastVoteCand")); string(v) != "node-3" || err != nil {
		t.Fatalf("LastVoteCand = %q, %v", v, err)
	}
	if _, err := dst.GetUint64([]byte("LastVoteTerm")); err != ErrKeyNotFound {
		t.Fatalf("LastVoteTerm = %v, want ErrKeyNotFound", err)
	}
	if err := CopyFrom(dst, src, nil); !errors.Is(err, mmapwal.ErrInvalidArgument) {
		t.Fatalf("CopyFrom into a full store = %v, want ErrInvalidArgument", err)
	}
	// An empty source copies nothing.
	empty := openStore(t, t.TempDir(), smallOpts())
	if err := CopyFrom(openStore(t, t.TempDir(), smallOpts()), empty, empty); err != nil {
		t.Fatal(err)
	}
}
