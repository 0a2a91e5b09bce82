package mmapwal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// applier is a consumer that applies a log of "key=value" records to its
// state and remembers the last sequence it applied, as an event-sourced
// service or a replica would. It keeps that sequence in a file of its own,
// so that after a restart it resumes right after it.
type applier struct {
	state   map[string]string
	applied uint64 // the last sequence applied
	mark    string // the file holding applied
}

// load restores the consumer's position (a real consumer would also
// restore a snapshot of its state; this one replays nothing it applied).
func load(mark string) *applier {
	a := &applier{state: map[string]string{}, mark: mark}
	if b, err := os.ReadFile(mark); err == nil {
		a.applied, _ = strconv.ParseUint(string(b), 10, 64)
	}
	return a
}

// follow applies records from the log as it grows, until it has applied
// seq until (a real consumer runs until its context is cancelled).
func (a *applier) follow(ctx context.Context, l *mmapwal.Log, until uint64) error {
	// DurableOnly: apply nothing that a crash of the writer could take back.
	it, err := l.NewIteratorWith(a.applied+1, &mmapwal.IteratorOptions{DurableOnly: true})
	if err != nil {
		return err
	}
	defer it.Close()
	for a.applied < until && it.NextWait(ctx) {
		k, v, _ := strings.Cut(string(it.Value()), "=")
		a.state[k] = v
		a.applied = it.Seq()
		fmt.Printf("applied %d: %s=%s\n", it.Seq(), k, v)
		// Record the position after the effect; a consumer whose state
		// lives elsewhere stores both in one transaction.
		if err := os.WriteFile(a.mark, []byte(strconv.FormatUint(a.applied, 10)), 0o644); err != nil {
			return err
		}
	}
	return it.Err()
}

// A consumer applies a log as it grows, blocking in NextWait while the
// writer has nothing new, and resumes from its last applied sequence after
// a restart.
func Example_follow() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	mark := filepath.Join(dir, "applied") // the consumer's own file, beside the log
	l, err := mmapwal.Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	appendAll := func(recs ...string) {
		for _, r := range recs {
			if _, err := l.Append([]byte(r)); err != nil {
				log.Fatal(err)
			}
		}
	}
	ctx := context.Background()

	// The consumer starts before there is anything to apply and waits; the
	// writer appends three records meanwhile.
	done := make(chan error)
	c := load(mark)
	go func() { done <- c.follow(ctx, l, 3) }()
	appendAll("x=1", "y=2", "x=3")
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println("consumer stops; state:", c.state)

	// The log grows while the consumer is down.
	appendAll("y=4", "z=5")

	// Restarted, it resumes after the last sequence it applied, catches up,
	// and waits for the next record.
	c = load(mark)
	fmt.Println("consumer restarts after", c.applied)
	go func() { done <- c.follow(ctx, l, 6) }()
	appendAll("x=6")
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied up to", c.applied, "of", l.LastSeq())
	// Output:
	// applied 1: x=1
	// applied 2: y=2
	// applied 3: x=3
	// consumer stops; state: map[x:3 y:2]
	// consumer restarts after 3
	// applied 4: y=4
	// applied 5: z=5
	// applied 6: x=6
	// applied up to 6 of 6
}
