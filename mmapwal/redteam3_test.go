//go:build redteam3

package mmapwal

// Red team 3 (issue 11, live readers): each test here FAILS on the code it
// was written against and shows one broken guarantee. They are behind the
// build tag so that the branch stays green:
//
//	go test -tags redteam3 -race -count=1 -run TestRedTeam3 ./mmapwal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
//	go test -tags redteam3 -run '^$' -bench BenchmarkRedTeam3AppendStale -benchtime 200000x ./mmapwal
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

// A follower trusts a control area when the pid in it holds the log's lock
// (follower.go trustedLocked). A pid is not an identity: the writer's
// process is SIGKILLed (its control area stays, pid and incarnation in
// it), and the next writer runs under the same pid (a container's PID 1,
// pid reuse) but does not maintain the control area (an older version, as
// the issue requires followers to handle). The follower then trusts the
// dead writer's area forever: a DurableOnly follower never sees another
// record (DurableSeq frozen: it waits forever), and the others are never
// told of the new writer's truncations. In-process the two writers share
// the pid by construction; the SIGKILL is emulated by putting back the
// bytes a kill leaves (crashRelease's ctlClose zeroes the pid).
func TestRedTeam3StaleControlSamePid(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 20; seq++ {
		l.Append(folPayload(seq))
	}
	l.Sync()
	f := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	it, _ := f.NewIterator(1)
	defer it.Close()
	expect(t, it, seqRange(1, 20)...)
	path := filepath.Join(dir, controlName)
	killed, err := os.ReadFile(path) // what SIGKILL would leave
	if err != nil {
		t.Fatal(err)
	}
	crashRelease(l)
	writeInPlace(t, path, killed)
	// The next writer: same pid, does not maintain the control area.
	l, err = Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.wmu.Lock()
	l.ctl.close()
	l.ctl, l.listen = nil, &l.ownListen
	l.wmu.Unlock()
	writeInPlace(t, path, killed)
	for seq := uint64(21); seq <= 40; seq++ {
		l.Append(folPayload(seq))
	}
	l.Sync()
	l.Append(folPayload(41)) // its durable field proves 21..40 to a follower that scans
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if !it.NextWait(ctx) {
		st, _ := f.state()
		t.Fatalf("DurableOnly follower: no record after 20 though 21..40 are durable (%v); control area trusted %v, its DurableSeq %d",
			it.Err(), st.trusted, st.durable)
	}
}

// The control area is rebuilt by each writer, and nothing in it is needed
// to read the log, so a CONTROL file may go (an operator's clean-up, a
// copy or restore of the directory that skips it as the crash tests' own
// copyDir does) and the next writer creates a new one. A follower that
// mapped the old file keeps it for good (follower.go stateLocked maps the
// file only while f.ctl is nil): it never trusts a control area again,
// never registers, is never woken by the futex and never sees the new
// writer's truncation epochs, DurableSeq or Resets; it polls and relies on
// the frames alone (see TestRedTeam3UntrustedCutAcrossSegments for what
// that misses).
func TestRedTeam3RecreatedControlNeverTrusted(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	l.Append(folPayload(1))
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	expect(t, it, 1)
	l.Close()
	if err := os.Remove(filepath.Join(dir, controlName)); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append(folPayload(2))
	expect(t, it, 2)
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := f.state()
		if err != nil {
			t.Fatal(err)
		}
		if st.trusted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new writer maintains a new CONTROL (followers registered: %d); the follower still reads the removed one (incarnation %#x, trusted %v)",
				l.ctl.followers.Load(), st.inc, st.trusted)
		}
		time.Sleep(time.Millisecond)
	}
}

// "0 allocations per record on the follower": a follower that keeps up with
// a live writer looks at the end of the active segment after each record.
// There nextSegment asks acquire for the next segment, which exists (the
// writer prepares it in the background) but is not active yet; releasing it
// drops the cache's only other reference and unmaps it (follower.go
// releaseLocked, since 879815e), so every look at the tail opens, stats,
// maps, unmaps and closes the prepared segment again: allocations (file
// name, os.File, mapping) and five system calls per look, per record while
// following, and 50 times per NextWait that spins. Without the prepared
// segment (before the writer made it) the look is free.
func TestRedTeam3FollowerTailReopensPrepared(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{Durability: SyncManual, SegmentSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := make([]byte, 200)
	l.Append(rec)
	waitPrepared(l)
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for it.Next() {
	}
	if a := testing.AllocsPerRun(2000, func() {
		l.Append(rec)
		if !it.Next() {
			t.Fatal("no record", it.Err())
		}
		if it.Next() { // at the end: what a NextWait does before it sleeps
			t.Fatal("a record too many")
		}
	}); a != 0 {
		t.Fatalf("%v allocations per record following a live writer", a)
	}
}
