package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// TestMain lets the test binary play a --followers-process child: walbench
// re-executes itself (os.Executable) for each follower.
func TestMain(m *testing.M) {
	if dir := os.Getenv(followerEnv); dir != "" {
		os.Exit(followerChild(dir, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestStamp(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, time.Now().UnixNano(), 1<<63 - 1, -1} {
		b := make([]byte, stampLen+2)
		putStamp(b, v)
		for i, c := range b[:stampLen] {
			if c == 0 {
				t.Fatalf("stamp of %d has a zero byte at %d", v, i)
			}
		}
		if b[stampLen] != 0 {
			t.Fatalf("stamp of %d wrote past its %d bytes", v, stampLen)
		}
		if got := readStamp(b); got != v {
			t.Errorf("readStamp(putStamp(%d)) = %d", v, got)
		}
	}
}

func TestParseFollowers(t *testing.T) {
	cfg, err := parseArgs([]string{"--records", "10", "--followers", "3", "--rate", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.runs[0]
	if s.followers != 3 || s.followProc || s.rate != 1000 || s.name != "size=128B/sync=always/writers=1/rate=1000/followers=3" {
		t.Errorf("got %+v", s)
	}
	cfg, err = parseArgs([]string{"--followers-process"})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.runs[0]; s.followers != 1 || !s.followProc || s.name != "size=128B/sync=always/writers=1/followers=1-process" {
		t.Errorf("got %+v", s)
	}
	for _, args := range [][]string{
		{"--followers", "0"}, {"--followers", "x"}, {"--followers", "65"},
		{"--rate", "0"}, {"--rate", "-1"}, {"--rate", "fast"}, {"--rate", "NaN"},
		{"--followers", "1", "--size", "9"},
	} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// checkFollow checks the followers' figures of a run of records records.
func checkFollow(t *testing.T, r jsonRun, followers int, records int64, processes bool) {
	t.Helper()
	f := r.Followers
	if f == nil {
		t.Fatalf("%s: no followers' figures", r.Name)
	}
	if f.Count != followers || f.Processes != processes || f.Records != int64(followers)*records || f.Latency.Count != uint64(f.Records) {
		t.Fatalf("%s: followers %+v; want %d followers (processes %v) seeing %d records each", r.Name, f, followers, processes, records)
	}
	l := f.Latency
	if !(0 <= l.Min && l.Min <= l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Max > 0) {
		t.Errorf("%s: follower latency percentiles not monotonic: %+v", r.Name, l)
	}
}

// TestFollowersInProcess: goroutine followers see every record, of every
// append path, and the replay still checks the payloads past the stamps.
func TestFollowersInProcess(t *testing.T) {
	for _, args := range [][]string{
		{"--durability", "manual"},
		{"--durability", "manual", "--batch", "7", "--writers", "2"},
		{"--durability", "manual", "--reserve", "--size", "10-300"},
		{"--durability", "manual", "--rate", "5000"},
	} {
		doc := runJSON(t, append(args, "--records", "500", "--followers", "2", "--replay", "--dir", t.TempDir())...)
		r := doc.Runs[0]
		checkRun(t, r, 500)
		checkFollow(t, r, 2, 500, false)
	}
}

// TestFollowersProcess: child-process followers (this test binary, through
// TestMain) see every record through the shared mapping.
func TestFollowersProcess(t *testing.T) {
	doc := runJSON(t, "--durability", "manual", "--records", "500", "--followers", "2", "--followers-process", "--replay", "--dir", t.TempDir())
	r := doc.Runs[0]
	checkRun(t, r, 500)
	checkFollow(t, r, 2, 500, true)
}

// TestClockShared: records that are already there share a clock reading
// with at most clockEvery-1 before them; every record is returned once.
func TestClockShared(t *testing.T) {
	l, err := mmapwal.Open(t.TempDir(), &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 3*clockEvery + 5
	for range n {
		if _, err := l.Append(make([]byte, stampLen)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := l.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c clock
	for i := range n {
		if !c.next(ctx, it) || it.Seq() != uint64(i+1) {
			t.Fatalf("record %d: seq %d, err %v", i+1, it.Seq(), it.Err())
		}
		if want := clockEvery - i%clockEvery; c.left != want || c.now == 0 {
			t.Fatalf("record %d: %d records left to share the reading %d, want %d", i+1, c.left, c.now, want)
		}
	}
	cancel()
	if c.next(ctx, it) || !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("at the end with ctx cancelled: err %v", it.Err())
	}
}
