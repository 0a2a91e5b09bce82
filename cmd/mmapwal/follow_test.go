package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// syncBuffer is a bytes.Buffer safe to read while tail -f writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until buf holds want, failing after a generous deadline.
func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(buf.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q; it is:\n%s", want, buf.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// followLog opens a writer on a fresh log with small segments and appends
// rec-1..rec-n.
func followLog(t *testing.T, n int) (string, *mmapwal.Log) {
	t.Helper()
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: 64 << 10, Durability: mmapwal.SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	appendRecs(t, l, 1, n)
	return dir, l
}

func appendRecs(t *testing.T, l *mmapwal.Log, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := l.Append(fmt.Appendf(nil, "rec-%d-%s", i, strings.Repeat("x", 1000))); err != nil {
			t.Fatal(err)
		}
	}
}

// runTailF runs tail -f in a goroutine; the returned func waits for its
// exit status and stderr.
func runTailF(args ...string) (*syncBuffer, func() (int, string)) {
	out, errb := new(syncBuffer), new(syncBuffer)
	done := make(chan int, 1)
	go func() { done <- run(args, out, errb) }()
	return out, func() (int, string) {
		select {
		case st := <-done:
			return st, errb.String()
		case <-time.After(30 * time.Second):
			return -1, "tail -f did not stop"
		}
	}
}

// TestTailFollow: tail -f prints the last records, then each new one as a
// writer appends it — across rotations into new segments — and stops with
// exit 0 when its context ends.
func TestTailFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prev := stopContext
	stopContext = func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	defer func() { stopContext = prev }()

	dir, l := followLog(t, 5)
	out, wait := runTailF("tail", dir, "-n", "2", "-f", "--payload", "len")
	waitFor(t, out, "5 ")
	appendRecs(t, l, 6, 200) // 1 KB records in 64 KiB segments: several rotations
	waitFor(t, out, "200 ")
	cancel()
	st, errs := wait()
	if st != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", st, errs)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != followHeader(recordFlags{payload: newChoice("len", "len")}) {
		t.Errorf("header %q", lines[0])
	}
	for i, line := range lines[1:] {
		var seq uint64
		var n int
		if _, err := fmt.Sscanf(line, "%d %d", &seq, &n); err != nil || seq != uint64(4+i) || n != len(fmt.Sprintf("rec-%d-", seq))+1000 {
			t.Fatalf("line %d: %q (want record %d)", i+1, line, 4+i)
		}
	}
	if len(lines) != 1+197 {
		t.Fatalf("%d lines, want a header and records 4..200", len(lines))
	}
}

// TestTailFollowFor: --for ends tail -f on a log nobody writes; jsonl lines
// carry the payload; a SIGINT ends it too.
func TestTailFollowFor(t *testing.T) {
	dir, l := followLog(t, 3)
	l.Close()
	st, out, errs := runCLI("tail", dir, "-f", "--for", "50ms", "--from", "2", "--format", "jsonl", "--payload", "text")
	if st != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", st, errs)
	}
	want := fmt.Sprintf(`{"v":1,"seq":2,"length":1006,"payload":"rec-2-%s"}`+"\n"+`{"v":1,"seq":3,"length":1006,"payload":"rec-3-%s"}`+"\n",
		strings.Repeat("x", 1000), strings.Repeat("x", 1000))
	if out != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, want)
	}

	// SIGINT: the real stop context. The signal goes to this process only
	// once tail -f has printed, so after signal.NotifyContext took it.
	buf, wait := runTailF("tail", dir, "-f", "--payload", "none")
	waitFor(t, buf, "3 ")
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if st, errs := wait(); st != exitOK || errs != "" {
		t.Fatalf("after SIGINT: exit %d, stderr %q", st, errs)
	}
}

// TestTailFollowTruncated: a TruncateBack of records tail -f printed ends
// it with exit 4 and one line, never different records at the same
// sequences.
func TestTailFollowTruncated(t *testing.T) {
	dir, l := followLog(t, 10)
	out, wait := runTailF("tail", dir, "-f", "--for", "3s", "--payload", "none")
	waitFor(t, out, "10 ")
	if err := l.TruncateBack(7); err != nil {
		t.Fatal(err)
	}
	for i := 8; i <= 12; i++ { // different records at the sequences it printed
		if _, err := l.Append(fmt.Appendf(nil, "new-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st, errs := wait()
	if st != exitUnreadable || !strings.Contains(errs, "truncated") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", st, errs, out.String())
	}
}
