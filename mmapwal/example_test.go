package mmapwal_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// tempDir returns a new directory for an example's log; the caller removes
// it.
func tempDir() string {
	dir, err := os.MkdirTemp("", "mmapwal-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// Open a log, append records, make them durable, read one back, close.
func ExampleOpen() {
	dir := tempDir()
	defer os.RemoveAll(dir)

	// Nil options are the defaults: SyncAlways (every append is durable
	// when it returns) and 64 MiB segments. SyncManual leaves the syncing
	// to Sync, which covers every record appended before it.
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		log.Fatal(err)
	}
	for _, rec := range []string{"create table", "insert 1", "insert 2"} {
		seq, err := l.Append([]byte(rec))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("appended %q at %d\n", rec, seq)
	}
	// Readers see records at once; Sync makes them durable.
	fmt.Println("durable before Sync:", l.DurableSeq())
	if err := l.Sync(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("durable after Sync:", l.DurableSeq())

	b, err := l.Read(2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("record 2: %s\n", b)
	fmt.Printf("log holds %d..%d\n", l.FirstSeq(), l.LastSeq())
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// appended "create table" at 1
	// appended "insert 1" at 2
	// appended "insert 2" at 3
	// durable before Sync: 0
	// durable after Sync: 3
	// record 2: insert 1
	// log holds 1..3
}

// After a restart, replay the log with an iterator, then keep appending
// where it left off.
func Example_replay() {
	dir := tempDir()
	defer os.RemoveAll(dir)

	// A first run writes some records and stops.
	l, err := mmapwal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, rec := range []string{"set x=1", "set y=2", "set x=3"} {
		if _, err := l.Append([]byte(rec)); err != nil {
			log.Fatal(err)
		}
	}
	l.Close()

	// The next run opens the log and replays it from the start.
	l, err = mmapwal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	it, err := l.NewIterator(l.FirstSeq())
	if err != nil {
		log.Fatal(err)
	}
	for it.Next() {
		// Value points into the log's mapping: valid until the next Next.
		fmt.Printf("replay %d: %s\n", it.Seq(), it.Value())
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	// The iterator is at the end; it picks up records appended later.
	seq, err := l.Append([]byte("set y=4"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended at", seq)
	for it.Next() {
		fmt.Printf("follow %d: %s\n", it.Seq(), it.Value())
	}
	it.Close()
	// Output:
	// replay 1: set x=1
	// replay 2: set y=2
	// replay 3: set x=3
	// appended at 4
	// follow 4: set y=4
}

// Reserve space in the log's mapping, build the record in place (no copy),
// then Commit it, or Abort to leave no trace.
func ExampleLog_Reserve() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	l, err := mmapwal.Open(dir, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	r, err := l.Reserve(11)
	if err != nil {
		log.Fatal(err)
	}
	// Bytes is 11 bytes of the mapping: encode the record straight into it.
	copy(r.Bytes(), "hello")
	copy(r.Bytes()[5:], " world")
	seq, err := r.Commit() // the sequence is assigned here
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed at", seq)

	// An aborted reservation leaves no gap in the sequences.
	r, err = l.Reserve(100)
	if err != nil {
		log.Fatal(err)
	}
	r.Abort()
	seq, err = l.Append([]byte("next"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next append at", seq)

	err = l.View(1, func(b []byte) error {
		fmt.Printf("record 1: %s\n", b) // b is valid only inside the callback
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// committed at 1
	// next append at 2
	// record 1: hello world
}

// A batch is atomic: after a crash, all of it or none of it is recovered.
func ExampleLog_AppendBatch() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	l, err := mmapwal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	first, err := l.AppendBatch([][]byte{
		[]byte("debit  alice 10"),
		[]byte("credit bob   10"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("batch at %d..%d\n", first, l.LastSeq())

	// Caller-chosen sequences (say, Raft log indexes) with AppendBatchSeq.
	if err := l.AppendBatchSeq(10, [][]byte{[]byte("entry 10"), []byte("entry 11")}); err != nil {
		log.Fatal(err)
	}
	// A sequence not above LastSeq is refused.
	err = l.AppendBatchSeq(11, [][]byte{[]byte("late")})
	var se *mmapwal.SequenceError
	if errors.As(err, &se) {
		fmt.Printf("refused: expected %d or more, got %d\n", se.Expected, se.Provided)
	}
	fmt.Printf("log holds %d..%d\n", l.FirstSeq(), l.LastSeq())
	// Output:
	// batch at 1..2
	// refused: expected 12 or more, got 11
	// log holds 1..11
}
