//go:build redteam3

package mmapwal

// Red team 3 (issue 11, live readers): each test here FAILS on the code it
// was written against and shows one broken guarantee. They are behind the
// build tag so that the branch stays green:
//
//	go test -tags redteam3 -race -count=1 -run TestRedTeam3 ./mmapwal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/internal/sysutil"
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

// rt3NoControl makes l a writer that does not maintain the control area
// (a writer of an older version): it unmaps its own and removes the file.
func rt3NoControl(t *testing.T, l *Log) {
	t.Helper()
	l.wmu.Lock()
	if l.ctl != nil {
		l.ctl.close()
		l.ctl, l.listen = nil, &l.ownListen
	}
	l.wmu.Unlock()
	if err := os.Remove(filepath.Join(l.dir, controlName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// A follower without a control area to trust learns of a TruncateBack only
// from the frames: its last returned record changed (checked in advance
// when the next record is in the same segment) or an idle look re-validates.
// When the follower's position is in a segment the cut removed, it reads
// the removed file's mapping to its end, moves to the next segment
// (nextSegment: the new file of that number is active) and returns the
// re-appended records there, never checking its last record, which lives in
// another file (follower.go advance: fi.retFile == fi.file only). Worse, the
// removed file's mapping still holds a41..a45, records the cut dropped, and
// the follower returns them first.
func TestRedTeam3UntrustedCutAcrossSegments(t *testing.T) {
	for _, durableOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "all", true: "durableOnly"}[durableOnly], func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rt3NoControl(t, l)
			for seq := uint64(1); seq <= 45; seq++ {
				l.Append(rt3Payload('a', seq, 1000))
			}
			l.Sync()
			l.Append(rt3Payload('a', 46, 1000)) // its durable field proves 1..45 to the follower
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
			it, _ := f.NewIterator(1)
			defer it.Close()
			for seq := uint64(1); seq <= 40; seq++ {
				if !nextWithin(it) || it.Seq() != seq {
					t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
				}
			}
			// No idle look between the cut and the re-appends.
			if err := l.TruncateBack(20); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(21); seq <= 80; seq++ {
				l.Append(rt3Payload('b', seq, 4000))
			}
			l.Sync()
			l.Append(rt3Payload('b', 81, 4000))
			if nextWithin(it) {
				t.Fatalf("follower applied a21..a40, the log holds b21..b40, and it goes on silently with record %d (%c...)",
					it.Seq(), it.Value()[0])
			}
			if !errors.Is(it.Err(), ErrTruncated) {
				t.Fatalf("err %v, want ErrTruncated", it.Err())
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

// TruncatedError.Seq is "the first sequence the iterator had reached (or
// returned) that no longer exists": the point a consumer rolls back to. A
// follower reports its last returned record instead (follower.go
// revalidate: Seq min(fi.returned, last+1)), so a consumer that rolls back
// from Seq keeps records the cut took back. The writer's own iterators
// report the lowest cut (iterator.go followCuts: low+1). Found by
// TestRedTeam3KillWriter/with-cuts (a consumer that trusted Seq kept
// records of a killed writer that the next one replaced).
func TestRedTeam3FollowerTruncatedSeq(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(map[bool]string{true: "control", false: "frames"}[trusted], func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if !trusted {
				rt3NoControl(t, l)
			}
			for seq := uint64(1); seq <= 40; seq++ {
				l.Append(rt3Payload('a', seq, 100))
			}
			f := openFollower(t, dir, nil)
			fit, _ := f.NewIterator(1)
			defer fit.Close()
			own, _ := l.NewIterator(1)
			defer own.Close()
			for seq := uint64(1); seq <= 40; seq++ {
				if !nextWithin(fit) || !own.Next() {
					t.Fatalf("record %d: %v %v", seq, fit.Err(), own.Err())
				}
			}
			if err := l.TruncateBack(20); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(21); seq <= 50; seq++ {
				l.Append(rt3Payload('b', seq, 100))
			}
			var ownTE, folTE *TruncatedError
			if own.Next() || !errors.As(own.Err(), &ownTE) {
				t.Fatalf("writer's iterator: %v", own.Err())
			}
			if nextWithin(fit) || !errors.As(fit.Err(), &folTE) {
				t.Fatalf("follower: %d %v", fit.Seq(), fit.Err())
			}
			if folTE.Seq != 21 {
				t.Fatalf("follower: TruncatedError{Seq %d, LastSeq %d}, want Seq 21 (records 21..40 it returned are gone); the writer's iterator says {Seq %d, LastSeq %d}",
					folTE.Seq, folTE.LastSeq, ownTE.Seq, ownTE.LastSeq)
			}
		})
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

// "DurableOnly: never a record above DurableSeq() of the writer." Without a
// control area to trust, a DurableOnly follower proves durability from the
// frames, and takes a seal for proof that everything before it was synced
// (follower.go durable: Mark or Seal, d = max(d, o)). But rotate writes the
// seal into the mapping before it syncs the segment (append.go rotate:
// writeSealLocked, then syncSegLocked), so while that sync runs the
// follower returns every record of the segment since the last Sync: a
// replica shipping DurableOnly records acknowledges ones a power cut on the
// writer's machine takes back. (A Close's mark is written after its sync:
// fine.) The sync is held up here by the fault hook; without it the test
// fails under load about once in 40 runs (TestRT3HeldDurableOnlyBound was
// written as a "held" test and found it).
func TestRedTeam3DurableOnlySealBeforeSync(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{Durability: SyncManual, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rt3NoControl(t, l)
	rec := make([]byte, 300)
	for l.activeRoomOK(3 * 300) {
		l.Append(rec)
	}
	l.Sync()
	l.Append(rec) // not durable: DurableSeq stays below it
	durable := l.DurableSeq()
	waitPrepared(l)
	f := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	it, _ := f.NewIterator(1)
	defer it.Close()
	for it.Next() {
	}
	if it.Seq() != durable {
		t.Fatalf("before the rotation the follower reached %d, DurableSeq %d", it.Seq(), durable)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	restore := sysutil.SetFault(func(op sysutil.Op, path string) error {
		if op == sysutil.OpMsync || op == sysutil.OpFdatasync {
			once.Do(func() { close(held); <-release })
		}
		return nil
	})
	defer restore()
	done := make(chan struct{})
	go func() { // appends until the rotation, whose sync is held
		defer close(done)
		for n := 0; n < 10; n++ {
			l.Append(rec)
		}
	}()
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("no sync")
	}
	got := it.Next()
	seq, d := it.Seq(), l.DurableSeq()
	close(release)
	<-done
	if got && seq > d {
		t.Fatalf("DurableOnly follower returned record %d while the writer's DurableSeq is %d (the rotation's sync still running)", seq, d)
	}
}

// activeRoomOK reports whether n more bytes fit in the active segment with
// the room a rotation needs.
func (l *Log) activeRoomOK(n int) bool {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.active.fitsFor(l.off, n, recordRoom)
}
