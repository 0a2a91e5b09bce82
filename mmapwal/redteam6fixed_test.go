package mmapwal

// Red team 6's repros of broken properties, fixed: they failed on main
// 477ecd2, where a closed area's DurableSeq, LastSeq and FirstSeq were
// taken as current (st.trusted) though a writer the follower did not see
// may have changed the log since (st.tells()).

import (
	"bytes"
	"testing"
)

// TestRT6ClosedAreaDurableOnly (failed before the fix): a DurableOnly follower returns a
// record that is not durable. The writer (this version) appends 1..100,
// syncs and closes: the closed area says DurableSeq 100. A follower that
// returned 1..50 judges the closed area trusted (LOCK free, fingerprint
// holds). A writer that does not maintain the area (an older version:
// testHookNoControl) opens, TruncateBack(50), appends 51..60 with other
// bytes and does not sync (its DurableSeq is 50). The follower's next look
// reuses the closed-area verdict — within 50 ms of the judgment ("stopped"),
// or at the first look after the recheck fell due, which uses the stale
// verdict while refreshTrust runs ("due") — and durable() takes the closed
// area's DurableSeq 100 (follower.go:1187, `if st.trusted { return seq <=
// st.durable }`: trusted includes closed, unlike tells()), so it returns
// record 51 of the second writer: above that writer's DurableSeq, lost at
// a power cut. The per-record checks that FORMAT.md §9.6 says keep a closed
// area safe (the last record returned still in place) do not cover
// durability: record 50 is intact.
func TestRT6ClosedAreaDurableOnly(t *testing.T) {
	for _, mode := range []string{"stopped", "due"} {
		t.Run(mode, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l, 1, 100, 1)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
			it, _ := f.NewIterator(1)
			defer it.Close()
			for s := uint64(1); s <= 50; s++ {
				if !nextWithin(it) || it.Seq() != s || !bytes.Equal(it.Value(), rt5Payload(s, 1)) {
					t.Fatalf("record %d: seq %d err %v", s, it.Seq(), it.Err())
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := f.DurableSeq(); got != 100 { // a look: judges the closed area
				t.Fatalf("DurableSeq %d after Close, want 100", got)
			}
			l2 := rt6UnseenWriter(t, f, dir, mode)
			if nextWithin(it) && it.Seq() > l2.DurableSeq() {
				t.Fatalf("DurableOnly follower returned record %d (generation 2: %v); the writer's DurableSeq is %d",
					it.Seq(), bytes.Equal(it.Value(), rt5Payload(it.Seq(), 2)), l2.DurableSeq())
			}
		})
	}
}

// TestRT6ClosedAreaStaleTail (failed before the fix): the same reuse of a closed area's
// verdict (within trustRecheck, "stopped", or at the first look after the
// recheck fell due, "due") makes a Follower's LastSeq and DurableSeq
// report the closed area's 100 after a writer that does not maintain the
// area cut to 50 and appended 51..60 without a sync: LastSeq 100 while
// Read(61..100) is ErrNotFound with no truncation racing, and DurableSeq
// 100 above the writer's 50. Cause: tailSeq (follower.go:668-673) takes
// max(scan, st.last / st.durable) whenever st.trusted, which includes a
// closed area (st.tells() is false), whose words say how the last writer
// of this version left the log, not what an unseen writer did since.
func TestRT6ClosedAreaStaleTail(t *testing.T) {
	for _, mode := range []string{"stopped", "due"} {
		t.Run(mode, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			rt5Append(t, l, 1, 100, 1)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f := openFollower(t, dir, nil)
			if got := f.LastSeq(); got != 100 { // a look: judges the closed area
				t.Fatalf("LastSeq %d after Close, want 100", got)
			}
			l2 := rt6UnseenWriter(t, f, dir, mode)
			last, ds := f.LastSeq(), f.DurableSeq()
			_, rerr := f.Read(last)
			if last != 60 || ds > l2.DurableSeq() {
				t.Fatalf("LastSeq %d (Read(%d): %v), DurableSeq %d; the log holds 1..60, the writer's DurableSeq is %d",
					last, last, rerr, ds, l2.DurableSeq())
			}
		})
	}
}
