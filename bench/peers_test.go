package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// testSizes are the record sizes of the adapter tests: tiny, around the
// 8-byte id, the workloads' 128 B and 4 KiB, and larger than a pebble or
// rosedb block (32 KiB), so that records span blocks.
var testSizes = []int{1, 8, 9, 100, 128, 1000, 4096, 4097, 32 << 10, 70_000}

// testRecordSize is the size of test record id (deterministic).
func testRecordSize(id uint64) int {
	r := rand.New(rand.NewPCG(id, 7))
	return testSizes[r.IntN(len(testSizes))]
}

// appendTestRecords appends records from..to, mixing the three ways a log is
// written: single Appends, batched Appends and durable batches of 1..5.
func appendTestRecords(t *testing.T, w WAL, from, to uint64) (payload int64) {
	t.Helper()
	var batch [][]byte
	flush := func(durable bool) {
		t.Helper()
		if len(batch) == 0 {
			return
		}
		call, name := w.Append, "Append"
		if durable {
			call, name = w.AppendDurable, "AppendDurable"
		}
		if err := call(batch); err != nil {
			t.Fatalf("%s of %d records ending at %d: %v", name, len(batch), measure.RecordID(batch[len(batch)-1]), err)
		}
		batch = batch[:0]
	}
	n := to - from + 1
	for id := from; id <= to; id++ {
		size := testRecordSize(id)
		payload += int64(size)
		batch = append(batch, measure.NewRecord(id, size))
		switch k := id - from; {
		case k < n/2: // singles
			flush(false)
		case k < n*8/10: // batches of 10
			if len(batch) == 10 || id == to {
				flush(false)
			}
		default: // durable batches of 1..5
			if len(batch) == int(id%5)+1 || id == to {
				flush(true)
			}
		}
	}
	flush(true)
	return payload
}

// replayTestRecords replays w and checks it holds exactly records 1..n, with
// seq equal to the id and every byte in place.
func replayTestRecords(t *testing.T, w WAL, n uint64) {
	t.Helper()
	var next uint64 = 1
	got, err := w.Replay(func(seq uint64, b []byte) error {
		if seq != next {
			return fmt.Errorf("seq %d, want %d", seq, next)
		}
		if err := measure.CheckRecord(b, next, testRecordSize(next)); err != nil {
			return err
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got != int(n) || next != n+1 {
		t.Fatalf("Replay visited %d records (checked %d), want %d", got, next-1, n)
	}
}

// openTest opens a's log in dir or fails the test.
func openTest(t *testing.T, a Adapter, dir string) WAL {
	t.Helper()
	w, err := a.Open(dir, Options{SizeHint: 8 << 20})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

// closeTest closes w or fails the test.
func closeTest(t *testing.T, w WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestPeers writes 1000 records of varied sizes through every adapter,
// syncs, reopens (where the library can) and reads all of them back, then
// appends 10 more after the reopen and reads all 1010 after another one.
func TestPeers(t *testing.T) {
	const n = 1000
	for _, a := range Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, a, dir)
			payload := appendTestRecords(t, w, 1, n)
			if err := w.Sync(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			checkDiskBytes(t, a, w, n, payload)
			if !a.Reopen {
				replayTestRecords(t, w, n)
				closeTest(t, w)
				return
			}
			closeTest(t, w)

			w = openTest(t, a, dir)
			replayTestRecords(t, w, n)
			appendTestRecords(t, w, n+1, n+10)
			closeTest(t, w)

			w = openTest(t, a, dir)
			replayTestRecords(t, w, n+10)
			closeTest(t, w)
		})
	}
}

// checkDiskBytes checks that DiskBytes accounts for at least the payload
// and, on disk, for no more than the files hold.
func checkDiskBytes(t *testing.T, a Adapter, w WAL, records int, payload int64) {
	t.Helper()
	u, err := w.DiskBytes()
	if err != nil {
		t.Fatalf("DiskBytes: %v", err)
	}
	// A record of 1 or 8 bytes may end in zero bytes that a scan back from
	// the end of a preallocated file cannot tell from free space.
	if u.Used < payload-8 {
		t.Errorf("DiskBytes().Used = %d, less than the %d payload bytes", u.Used, payload)
	}
	if a.Durable && u.Used > u.Apparent {
		t.Errorf("DiskBytes().Used = %d, more than the files' %d bytes", u.Used, u.Apparent)
	}
	// mmapwal's frames: a 24-byte header and the payload padded to 8 bytes,
	// plus segment headers; a recycled segment's stale bytes do not count.
	if strings.HasPrefix(a.Name, "mmapwal") && u.Used > payload+(24+7)*int64(records)+4096 {
		t.Errorf("DiskBytes().Used = %d, more than %d records' frames (%d payload bytes) take", u.Used, records, payload)
	}
	t.Logf("payload %d B, used %d B, files %d B, allocated %d B", payload, u.Used, u.Apparent, u.Allocated)
}

// TestRawChunked checks that raw-chunked writes in chunks of at most
// rawChunk bytes (a larger frame alone), that a Sync or a durable call
// writes out the buffer, and that what it wrote reads back after a reopen,
// including what was still buffered at Close.
func TestRawChunked(t *testing.T) {
	dir := t.TempDir()
	w, err := openRaw(dir, rawChunk)
	if err != nil {
		t.Fatal(err)
	}
	fileSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, "raw.log"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	const size = 1000
	frame := int64(rawHeader + size)
	perChunk := int64(rawChunk) / frame // frames in one write(2)
	p := measure.NewPayload(rawChunk + 10)
	id := uint64(0)
	appendN := func(n int64) {
		t.Helper()
		for range n {
			id++
			if err := w.Append([][]byte{p.Record(id, size)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(perChunk)
	if got := fileSize(); got != 0 {
		t.Fatalf("after one chunk's worth of appends the file holds %d bytes, want 0 (still buffered)", got)
	}
	appendN(1)
	if got := fileSize(); got != perChunk*frame {
		t.Fatalf("after a frame that does not fit the file holds %d bytes, want one chunk, %d", got, perChunk*frame)
	}
	id++
	if err := w.AppendDurable([][]byte{p.Record(id, size)}); err != nil {
		t.Fatal(err)
	}
	if got, want := fileSize(), (perChunk+2)*frame; got != want {
		t.Fatalf("after a durable call the file holds %d bytes, want %d", got, want)
	}
	id++
	big := p.Record(id, rawChunk+10) // larger than the buffer: written alone
	if err := w.Append([][]byte{big}); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	appendN(3) // buffered at Close
	closeTest(t, w)

	w, err = openRaw(dir, rawChunk)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTest(t, w)
	n, err := w.Replay(func(seq uint64, b []byte) error {
		want := size
		if seq == uint64(perChunk+3) {
			want = rawChunk + 10
		}
		return measure.CheckRecord(b, seq, want)
	})
	if err != nil || uint64(n) != id {
		t.Fatalf("Replay: %d records, %v; want %d", n, err, id)
	}
}
