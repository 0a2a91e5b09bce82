package raftstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// The test helpers of this package, in one place.

// smallOpts: 16 KiB segments (rotation every few dozen logs), SyncManual
// (StoreLogs syncs itself).
func smallOpts() *Options {
	return &Options{Log: &mmapwal.Options{SegmentSize: 16 << 10, Durability: mmapwal.SyncManual}}
}

func openStore(t testing.TB, dir string, o *Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t testing.TB, s *Store, o *Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStore(t, s.dir, o)
}

// testLog is the log at index idx: its fields derive from idx, so that a
// read can be checked without remembering what was written.
func testLog(idx uint64) *raft.Log {
	lg := &raft.Log{Index: idx, Term: 1 + idx/10, Type: raft.LogType(idx % 7), Data: []byte(fmt.Sprintf("data %d %s", idx, bytes.Repeat([]byte{'x'}, int(idx%50))))}
	if idx%3 == 0 {
		lg.Extensions = []byte(fmt.Sprintf("ext %d", idx))
	}
	if idx%4 != 0 {
		lg.AppendedAt = time.Unix(1_700_000_000, int64(idx)*1000)
	}
	return lg
}

func testLogs(from, to uint64) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, testLog(i))
	}
	return logs
}

func storeRange(t testing.TB, s *Store, from, to uint64) {
	t.Helper()
	if err := s.StoreLogs(testLogs(from, to)); err != nil {
		t.Fatalf("StoreLogs(%d..%d): %v", from, to, err)
	}
}

// sameLog reports how got differs from want, or "".
func sameLog(got, want *raft.Log) string {
	switch {
	case got.Index != want.Index, got.Term != want.Term, got.Type != want.Type:
		return fmt.Sprintf("index/term/type %d/%d/%d, want %d/%d/%d", got.Index, got.Term, got.Type, want.Index, want.Term, want.Type)
	case !bytes.Equal(got.Data, want.Data):
		return fmt.Sprintf("Data %q, want %q", got.Data, want.Data)
	case !bytes.Equal(got.Extensions, want.Extensions):
		return fmt.Sprintf("Extensions %q, want %q", got.Extensions, want.Extensions)
	case !got.AppendedAt.Equal(want.AppendedAt):
		return fmt.Sprintf("AppendedAt %v, want %v", got.AppendedAt, want.AppendedAt)
	}
	return ""
}

// checkRange checks FirstIndex, LastIndex and every log between them
// (testLog contents), and that the indexes just outside are not found.
func checkRange(t testing.TB, s *Store, first, last uint64) {
	t.Helper()
	f, err1 := s.FirstIndex()
	l, err2 := s.LastIndex()
	if err1 != nil || err2 != nil || f != first || l != last {
		t.Fatalf("FirstIndex, LastIndex = %d, %d (%v, %v); want %d, %d", f, l, err1, err2, first, last)
	}
	if last == 0 {
		return
	}
	for i := first; i <= last; i++ {
		var lg raft.Log
		if err := s.GetLog(i, &lg); err != nil {
			t.Fatalf("GetLog(%d) in [%d, %d]: %v", i, first, last, err)
		}
		if d := sameLog(&lg, testLog(i)); d != "" {
			t.Fatalf("GetLog(%d): %s", i, d)
		}
	}
	for _, i := range []uint64{first - 1, last + 1} {
		var lg raft.Log
		if err := s.GetLog(i, &lg); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) outside [%d, %d] = %v, want raft.ErrLogNotFound", i, first, last, err)
		}
	}
}

// copyTree copies the regular files under src into dst: with the store
// open, what a SIGKILL would leave (the page cache).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !info.Mode().IsRegular() || info.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
