package mmapwal

// Red team 3 (issue 11, live readers): each test here failed on the code it
// was written against and showed one broken guarantee; the rest of its
// repros moved to follower_test.go and control_test.go with their fixes.
//
//	go test -race -count=1 -run TestRedTeam3 ./mmapwal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deletedFDs counts this process's descriptors on removed files of dir.
func deletedFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd") // not a finding: the platform cannot tell
	}
	n := 0
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(p, dir) && strings.HasSuffix(p, "(deleted)") {
			n++
		}
	}
	return n
}

// A follower keeps every segment it ever mapped open and mapped: a segment
// leaves Follower.files only when acquire is asked for its number again
// (follower.go acquire), which never happens once TruncateFront removed it.
// A long-running follower beside a writer that rotates and compacts leaks a
// descriptor and a mapping per segment, and the disk space of every removed
// segment stays allocated until the follower closes.
func TestRedTeam3FollowerLeaksRemovedSegments(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	rec := make([]byte, 2000)
	for seq := uint64(1); seq <= 2000; seq++ {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
		if seq%50 == 0 {
			if err := l.TruncateFront(seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	it.Next()
	if n := deletedFDs(t, dir); n > 4 {
		f.mu.Lock()
		mapped := len(f.files)
		f.mu.Unlock()
		t.Fatalf("the follower holds %d descriptors on removed segments (%d segments mapped); the writer has %d segments", n, mapped, len(l.segments()))
	}
}

// What a killed follower's leftover registration costs each Append:
//
//	go test -run '^$' -bench BenchmarkRedTeam3AppendStale -benchtime 200000x ./mmapwal
func BenchmarkRedTeam3AppendStale(b *testing.B) {
	for _, name := range []string{"clean", "stale-follower", "stale-waiter"} {
		b.Run(name, func(b *testing.B) {
			l, err := Open(fastTempDir(b), &Options{Durability: SyncManual})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			switch name {
			case "stale-follower":
				l.ctl.followers.Store(1)
			case "stale-waiter":
				l.ctl.followers.Store(1)
				l.ctl.waiters.Store(1)
			}
			rec := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
