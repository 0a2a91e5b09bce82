package mmapwal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// Tests of Follower (issue 11) with the writer in the same process: the
// follower reads through its own read-only mappings and the control area
// file as another process would.

const folSegSize = 16 << 10

func folOpts() *Options { return &Options{Durability: SyncManual, SegmentSize: folSegSize} }

// openFollower opens a Follower on dir, closed when the test ends.
func openFollower(t *testing.T, dir string, o *FollowerOptions) *Follower {
	t.Helper()
	f, err := OpenFollower(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// folPayload is the content of record seq in these tests.
func folPayload(seq uint64) []byte {
	return bytes.Repeat([]byte{byte(seq), byte(seq >> 8)}, int(seq%300))
}

// nextWithin calls NextWait with a deadline (the tests' only bound: a hang
// fails instead of stalling the suite).
func nextWithin(it *Iterator) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return it.NextWait(ctx)
}

// expect reads the records want from it, checking each byte for byte.
func expect(t *testing.T, it *Iterator, want ...uint64) {
	t.Helper()
	for _, seq := range want {
		if !nextWithin(it) {
			t.Fatalf("record %d: NextWait false, err %v", seq, it.Err())
		}
		if it.Seq() != seq || !bytes.Equal(it.Value(), folPayload(seq)) {
			t.Fatalf("got record %d (%d bytes), want %d", it.Seq(), len(it.Value()), seq)
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestFollowerAllWriteKinds(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, nil)
	it, err := f.NewIterator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	done := make(chan error, 1)
	var want []uint64
	go func() {
		done <- func() error {
			for seq := uint64(1); seq <= 400; seq++ {
				switch {
				case seq%50 == 10: // a gap: AppendSeq
					if err := l.AppendSeq(seq+3, folPayload(seq+3)); err != nil {
						return err
					}
					seq += 3
				case seq%7 == 0: // a batch of three
					b := [][]byte{folPayload(seq), folPayload(seq + 1), folPayload(seq + 2)}
					if _, err := l.AppendBatch(b); err != nil {
						return err
					}
					seq += 2
				case seq%11 == 0: // a reservation
					p := folPayload(seq)
					r, err := l.Reserve(len(p))
					if err != nil {
						return err
					}
					copy(r.Bytes(), p)
					if _, err := r.Commit(); err != nil {
						return err
					}
				default:
					if _, err := l.Append(folPayload(seq)); err != nil {
						return err
					}
				}
				if seq%13 == 0 {
					if err := l.Sync(); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()
	// The sequences the writer makes, computed the same way.
	for seq := uint64(1); seq <= 400; seq++ {
		switch {
		case seq%50 == 10:
			seq += 3
			want = append(want, seq)
		case seq%7 == 0:
			want = append(want, seq, seq+1, seq+2)
			seq += 2
		default:
			want = append(want, seq)
		}
	}
	expect(t, it, want...)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Stats().Rotations == 0 {
		t.Fatal("the test did not rotate")
	}
	if got, last := f.LastSeq(), l.LastSeq(); got != last {
		t.Fatalf("Follower.LastSeq %d, Log.LastSeq %d", got, last)
	}
	if f.FirstSeq() != 1 {
		t.Fatalf("FirstSeq %d", f.FirstSeq())
	}
	b, err := f.Read(want[len(want)/2])
	if err != nil || !bytes.Equal(b, folPayload(want[len(want)/2])) {
		t.Fatalf("Read: %v", err)
	}
	if _, err := f.Read(10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read of a gap: %v", err)
	}
}

func TestFollowerDurableOnly(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 5; seq++ {
		l.Append(folPayload(seq))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	if it.NextWait(ctx) {
		t.Fatalf("record %d returned, DurableSeq %d", it.Seq(), l.DurableSeq())
	}
	cancel()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	expect(t, it, 1, 2, 3, 4, 5)
	if f.DurableSeq() != 5 {
		t.Fatalf("DurableSeq %d", f.DurableSeq())
	}
	l.Append(folPayload(6))
	for i := 0; i < 20; i++ {
		if it.Next() {
			t.Fatalf("record %d above DurableSeq", it.Seq())
		}
	}
}

func TestFollowerTruncateBack(t *testing.T) {
	for _, durableOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("durableOnly=%v", durableOnly), func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for seq := uint64(1); seq <= 100; seq++ {
				l.Append(folPayload(seq))
			}
			l.Sync()
			f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
			it, _ := f.NewIterator(1)
			defer it.Close()
			expect(t, it, seqRange(1, 100)...)
			if err := l.TruncateBack(40); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(41); seq <= 60; seq++ {
				l.Append([]byte("another record")) // same sequences, other bytes
			}
			l.Sync()
			if nextWithin(it) {
				t.Fatalf("returned record %d after TruncateBack", it.Seq())
			}
			var te *TruncatedError
			if !errors.As(it.Err(), &te) || !errors.Is(it.Err(), ErrNotFound) {
				t.Fatalf("err %v, want a *TruncatedError", it.Err())
			}
			// A new iterator reads the log as it is now.
			it2, _ := f.NewIterator(39)
			defer it2.Close()
			expect(t, it2, 39, 40)
			if !nextWithin(it2) || it2.Seq() != 41 || string(it2.Value()) != "another record" {
				t.Fatalf("after the cut: %d %q %v", it2.Seq(), it2.Value(), it2.Err())
			}
		})
	}
}

func TestFollowerTruncateFront(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 300; seq++ {
		l.Append(folPayload(seq))
	}
	f := openFollower(t, dir, nil)
	behind, _ := f.NewIterator(1)
	defer behind.Close()
	expect(t, behind, 1)
	atEnd, _ := f.NewIterator(1)
	defer atEnd.Close()
	expect(t, atEnd, seqRange(1, 300)...)
	if err := l.TruncateFront(250); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "0000000000000001.wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("TruncateFront removed no segment")
	}
	l.Append(folPayload(301))
	if nextWithin(behind) {
		t.Fatalf("returned %d after TruncateFront(250) dropped 2..249", behind.Seq())
	}
	if err := behind.Err(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	expect(t, atEnd, 301)
	if f.FirstSeq() != 250 {
		t.Fatalf("FirstSeq %d", f.FirstSeq())
	}
	fresh, _ := f.NewIterator(1)
	defer fresh.Close()
	expect(t, fresh, 250)
}

func TestFollowerReset(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		l.Append(folPayload(seq))
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	expect(t, it, seqRange(1, 10)...)
	if err := l.Reset(5); err != nil {
		t.Fatal(err)
	}
	l.Append(folPayload(5))
	if nextWithin(it) || !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("after Reset: seq %d, err %v", it.Seq(), it.Err())
	}
	it2, _ := f.NewIterator(1)
	defer it2.Close()
	expect(t, it2, 5)
}

// The follower goes on across the writer's Close and reopen, and across a
// crash (no Close) and the next writer's recovery.
func TestFollowerWriterRestarts(t *testing.T) {
	dir := fastTempDir(t)
	var f *Follower
	var it *Iterator
	seq := uint64(0)
	for round := 0; round < 4; round++ {
		l, err := Open(dir, folOpts())
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			f = openFollower(t, dir+"/../"+filepath.Base(dir), nil) // the same directory, another path
			it, _ = f.NewIterator(1)
			defer it.Close()
		}
		from := seq + 1
		for i := 0; i < 80; i++ {
			seq++
			if _, err := l.Append(folPayload(seq)); err != nil {
				t.Fatal(err)
			}
		}
		l.Sync()
		expect(t, it, seqRange(from, seq)...)
		if round%2 == 0 {
			l.Close()
		} else {
			crashRelease(l)
		}
	}
}

// A follower on a log no writer has open reads it and waits; a writer
// that opens it later wakes it.
func TestFollowerNoWriter(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 50; seq++ {
		l.Append(folPayload(seq))
	}
	l.Close()
	for _, durableOnly := range []bool{false, true} {
		f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
		it, _ := f.NewIterator(1)
		defer it.Close()
		expect(t, it, seqRange(1, 50)...) // Close's mark proves them durable
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
		if it.NextWait(ctx) || !errors.Is(it.Err(), context.DeadlineExceeded) {
			t.Fatalf("no writer: %v", it.Err())
		}
		cancel()
		if f.LastSeq() != 50 || f.DurableSeq() != 50 || f.FirstSeq() != 1 {
			t.Fatalf("First %d Last %d Durable %d", f.FirstSeq(), f.LastSeq(), f.DurableSeq())
		}
		res := make(chan error, 1)
		go func() {
			if !nextWithin(it) {
				res <- it.Err()
				return
			}
			if it.Seq() != 51 {
				res <- fmt.Errorf("got %d", it.Seq())
			}
			res <- nil
		}()
		l, err = Open(dir, folOpts())
		if err != nil {
			t.Fatal(err)
		}
		l.Append(folPayload(51))
		l.Sync()
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		l.TruncateBack(50)
		l.Close()
	}
}

// A record the follower returned, then cut as a torn tail by the next
// writer's recovery: ErrTruncated, never a different record at its
// sequence; a DurableOnly follower never saw it.
func TestFollowerTornTailRepair(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 20; seq++ {
		l.Append(folPayload(seq))
	}
	l.Sync()
	l.Append(folPayload(21)) // never synced: the torn tail to be
	all := openFollower(t, dir, nil)
	dur := openFollower(t, dir, &FollowerOptions{DurableOnly: true})
	itAll, _ := all.NewIterator(1)
	defer itAll.Close()
	itDur, _ := dur.NewIterator(1)
	defer itDur.Close()
	expect(t, itAll, seqRange(1, 21)...)
	expect(t, itDur, seqRange(1, 20)...)
	// The crash tore record 21: flip a byte of its payload in the file.
	segs := l.segments()
	s := segs[len(segs)-1]
	off := s.idx.off(s.idx.len() - 1)
	crashRelease(l)
	path := s.path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off+30] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() != 20 {
		t.Fatalf("recovery kept LastSeq %d", l.LastSeq())
	}
	l.Append([]byte("a new 21"))
	l.Sync()
	if nextWithin(itAll) {
		t.Fatalf("returned %d %q after the repair", itAll.Seq(), itAll.Value())
	}
	var te *TruncatedError
	if !errors.As(itAll.Err(), &te) || te.Seq != 21 {
		t.Fatalf("err %v, want a *TruncatedError at 21", itAll.Err())
	}
	if !nextWithin(itDur) || itDur.Seq() != 21 || string(itDur.Value()) != "a new 21" {
		t.Fatalf("DurableOnly follower: %d %q %v", itDur.Seq(), itDur.Value(), itDur.Err())
	}
}

func TestFollowerControlVersion(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append(folPayload(1))
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	expect(t, it, 1)
	// A newer writer rebuilt the control area in a newer format.
	path := filepath.Join(dir, controlName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[ctlVersionOff:], controlVersion+1)
	writeInPlace(t, path, b)
	l.Append(folPayload(2))
	if nextWithin(it) || !errors.Is(it.Err(), ErrUnsupportedVersion) {
		t.Fatalf("newer control area: %v", it.Err())
	}
	if _, err := OpenFollower(dir, nil); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("OpenFollower: %v", err)
	}
}

// writeInPlace overwrites the file at path with b without truncating it
// (a writer maps it: a shorter file would fault its stores).
func writeInPlace(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}

// Damaged control areas: the follower reads the right records (it falls
// back to the frames), never panics. A shorter file is made only while no
// writer maps it.
func TestFollowerDamagedControl(t *testing.T) {
	damages := map[string]func([]byte) []byte{
		"garbage":  func(b []byte) []byte { return bytes.Repeat([]byte{0xa5}, len(b)) },
		"short":    func(b []byte) []byte { return b[:10] },
		"empty":    func([]byte) []byte { return []byte{} },
		"foreign":  func(b []byte) []byte { b[ctlLogIDOff] ^= 1; return b },
		"zero-inc": func(b []byte) []byte { clear(b[ctlIncarnationOff : ctlIncarnationOff+8]); return b },
		"wrong-pid": func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[ctlPIDOff:], 1<<40) // no such lock holder
			binary.LittleEndian.PutUint64(b[ctlDurableOff:], 1<<60)
			binary.LittleEndian.PutUint64(b[ctlEpochOff:], 7) // "truncating"
			return b
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for seq := uint64(1); seq <= 30; seq++ {
				l.Append(folPayload(seq))
			}
			l.Sync()
			l.Append(folPayload(31))
			path := filepath.Join(dir, controlName)
			b, _ := os.ReadFile(path)
			if d := damage(b); len(d) == len(b) {
				writeInPlace(t, path, d)
			} else {
				crashRelease(l) // 31 stays, not durable
				if err := os.WriteFile(path, d, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, durableOnly := range []bool{false, true} {
				f := openFollower(t, dir, &FollowerOptions{DurableOnly: durableOnly})
				it, _ := f.NewIterator(1)
				defer it.Close()
				want := uint64(31)
				if durableOnly {
					want = 30
				}
				expect(t, it, seqRange(1, want)...)
				if it.Next() {
					t.Fatalf("DurableOnly %v: record %d", durableOnly, it.Seq())
				}
			}
			if l.closed.Load() {
				return
			}
			// A writer the follower does not trust truncates: the
			// follower finds out from the frames.
			f := openFollower(t, dir, nil)
			it, _ := f.NewIterator(1)
			defer it.Close()
			expect(t, it, seqRange(1, 31)...)
			if err := l.TruncateBack(10); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(11); seq <= 40; seq++ {
				l.Append([]byte("other"))
			}
			if nextWithin(it) || !errors.Is(it.Err(), ErrTruncated) {
				t.Fatalf("after an untold TruncateBack: %d %q %v", it.Seq(), it.Value(), it.Err())
			}
		})
	}
}

// A batch whose last frame a crash never wrote: no follower returns any of
// it, and the records after the next writer's recovery come in order.
func TestFollowerIncompleteBatch(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	l.Append(folPayload(1))
	l.AppendBatch([][]byte{folPayload(2), folPayload(3), folPayload(4)})
	segs := l.segments()
	s := segs[len(segs)-1]
	lastOff := s.idx.off(s.idx.len() - 1)
	crashRelease(l)
	b, _ := os.ReadFile(s.path)
	clear(b[lastOff : lastOff+64]) // record 4's frame, never written
	if err := os.WriteFile(s.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	expect(t, it, 1)
	for i := 0; i < 20; i++ {
		if it.Next() {
			t.Fatalf("returned %d of an unfinished batch", it.Seq())
		}
	}
	l, err = Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastSeq() != 1 {
		t.Fatalf("recovery: LastSeq %d", l.LastSeq())
	}
	l.Append(folPayload(2))
	expect(t, it, 2)
}

func TestFollowerClose(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := OpenFollower(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := f.NewIterator(1)
	defer it.Close()
	res := make(chan error, 1)
	go func() {
		it.NextWait(context.Background())
		res <- it.Err()
	}()
	time.Sleep(2 * time.Millisecond) // let it wait (not asserted)
	f.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("after Follower.Close: %v", err)
	}
	if _, err := f.NewIterator(1); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestFollowerNoMeta(t *testing.T) {
	if _, err := OpenFollower(fastTempDir(t), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty directory: %v", err)
	}
}

func TestFollowerAllocs(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, &Options{Durability: SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 3000; i++ {
		l.Append([]byte("payload of a record"))
	}
	l.Sync()
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	ctx := context.Background()
	it.NextWait(ctx)
	if a := testing.AllocsPerRun(2000, func() {
		if !it.NextWait(ctx) {
			t.Fatal(it.Err())
		}
	}); a != 0 {
		t.Fatalf("%v allocations per record", a)
	}
}

// goldenControlPath is the control area of FORMAT.md §9.6 with fixed
// values: log identity 01 02 … 10, incarnation 0x1122334455667789, pid
// 4242, epoch 6, DurableSeq 90, LastSeq 100, FirstSeq 3, segment 7, end
// 0x1a40, resets 1, followers 2, waiters 1, futex 9; cut ring: lineage
// 0x0102030405060709, front gone 2, cuts 2: {epoch 4, seq 0 (a Reset)},
// {epoch 6, seq 95}.
const goldenControlPath = "testdata/control-v1.bin"

// goldenControlTipPath is goldenControlPath's area with the lineage's
// fingerprint recorded (bytes 576–631, zero in the first golden file,
// which an area of an earlier build leaves: not recorded): tip segment 7,
// offset 0x1a28, seq 100, CRC 0xdeadbeef, floor seq 94, front seq 3.
const goldenControlTipPath = "testdata/control-v1-tip.bin"

func TestControlGolden(t *testing.T) {
	t.Run("v1", func(t *testing.T) { controlGolden(t, goldenControlPath, false) })
	t.Run("v1-tip", func(t *testing.T) { controlGolden(t, goldenControlTipPath, true) })
}

func controlGolden(t *testing.T, golden string, withTip bool) {
	path := filepath.Join(t.TempDir(), controlName)
	if err := os.WriteFile(path, make([]byte, controlSize), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mapControl(file, true)
	if err != nil {
		t.Fatal(err)
	}
	var id [16]byte
	for i := range id {
		id[i] = byte(i + 1)
	}
	c.writeHeader(id)
	c.incarnation.Store(0x1122334455667789)
	c.pid.Store(4242)
	c.epoch.Store(6)
	c.durable.Store(90)
	c.last.Store(100)
	c.first.Store(3)
	c.segment.Store(7)
	c.end.Store(0x1a40)
	c.resets.Store(1)
	c.followers.Store(2)
	c.waiters.Store(1)
	c.futex.Store(9)
	c.ring.lineage.Store(0x0102030405060709)
	c.ring.frontGone.Store(2)
	c.addCut(4, 0)  // a Reset
	c.addCut(6, 95) // a TruncateBack(94)
	if withTip {
		c.storeTip(tip{seg: 7, off: 0x1a28, seq: 100, crc: 0xdeadbeef, floor: 94, front: 3, recorded: true})
	}
	got := bytes.Clone(c.m)
	c.close()
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" && withTip {
		// The first golden file is never regenerated: its bytes are
		// those of an area without a fingerprint.
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("control area layout changed:\n got %x\nwant %x", got[:640], want[:min(640, len(want))])
	}
}

// TestFollowerStress runs a writer doing random appends, batches, syncs,
// TruncateBacks, TruncateFronts, Resets and reopens against followers (one
// DurableOnly) and checks what they return: strictly increasing sequences,
// payloads that are what was appended at that sequence, and never a
// record appended after a TruncateBack that dropped a record the follower
// had returned (it must fail with ErrTruncated first; it then starts
// again).
func TestFollowerStress(t *testing.T) {
	t.Run("control", func(t *testing.T) { followerStress(t) })
	t.Run("no-control", func(t *testing.T) {
		// Writers of an older version: the followers have the frames only.
		testHookNoControl = true
		defer func() { testHookNoControl = false }()
		followerStress(t)
	})
}

func followerStress(t *testing.T) {
	dir := fastTempDir(t)
	type cut struct {
		gen, point uint64 // the TruncateBack (or reopen) that made gen cut the log to point
		reopen     bool
	}
	var mu sync.Mutex
	var cuts []cut
	gen := uint64(1)
	payload := func(seq, gen uint64) []byte {
		b := make([]byte, 16+seq%200)
		binary.LittleEndian.PutUint64(b, seq)
		binary.LittleEndian.PutUint64(b[8:], gen)
		return b
	}
	stop := make(chan struct{})
	var finalLast uint64 // the log's LastSeq once the writer is done (set before stop is closed)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	follow := func(durableOnly bool) {
		defer wg.Done()
		f, err := OpenFollower(dir, &FollowerOptions{DurableOnly: durableOnly, PollInterval: 200 * time.Microsecond})
		if err != nil {
			errs <- err
			return
		}
		defer f.Close()
		var lastSeq, lastGen uint64
		var stopped time.Time
		it, err := f.NewIterator(1)
		if err != nil {
			errs <- err
			return
		}
		defer func() { it.Close() }()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			ok := it.NextWait(ctx)
			cancel()
			if !ok {
				err := it.Err()
				switch {
				case errors.Is(err, context.DeadlineExceeded): // not sticky: wait again
					select {
					case <-stop:
						// The writer is done: the follower must reach its end.
						if lastSeq == finalLast {
							return
						}
						if stopped.IsZero() {
							stopped = time.Now()
						} else if time.Since(stopped) > 10*time.Second {
							fi := it.fol
							dbg := fmt.Sprintf("want %d returned %d", fi.want, fi.returned)
							if fi.file != nil {
								h, _, ok := fi.frameAt(fi.file, fi.off)
								lk, _ := fi.file.f.Linked()
								dbg += fmt.Sprintf(" file %d linked %v first %d off %d frame %+v %v", fi.file.num, lk, activeFrom(fi.file), fi.off, h, ok)
							}
							nums, _ := listSegments(dir)
							m, _ := readMeta(dir)
							dbg += fmt.Sprintf(" segs %v meta first %d", nums, m.firstSeq)
							errs <- fmt.Errorf("DurableOnly %v: stuck at %d, the log ends at %d: %s", durableOnly, lastSeq, finalLast, dbg)
							return
						}
					default:
					}
				case errors.Is(err, ErrTruncated) || errors.Is(err, ErrNotFound):
					it.Close() // start again
					if it, err = f.NewIterator(1); err != nil {
						errs <- err
						return
					}
					lastSeq, lastGen = 0, 0
				default:
					errs <- fmt.Errorf("DurableOnly %v: %v", durableOnly, err)
					return
				}
				continue
			}
			seq, v := it.Seq(), it.Value()
			if len(v) < 16 || binary.LittleEndian.Uint64(v) != seq || !bytes.Equal(v, payload(seq, binary.LittleEndian.Uint64(v[8:]))) {
				errs <- fmt.Errorf("record %d: bytes not appended at %d", seq, seq)
				return
			}
			g := binary.LittleEndian.Uint64(v[8:])
			if seq <= lastSeq {
				errs <- fmt.Errorf("record %d after %d", seq, lastSeq)
				return
			}
			mu.Lock()
			for _, c := range cuts {
				if c.gen > lastGen && c.gen <= g && c.point < lastSeq {
					mu.Unlock()
					errs <- fmt.Errorf("DurableOnly %v: returned %d (gen %d) though a cut to %d (gen %d, reopen %v) dropped %d (gen %d) it returned", durableOnly, seq, g, c.point, c.gen, c.reopen, lastSeq, lastGen)
					return
				}
			}
			mu.Unlock()
			lastSeq, lastGen = seq, g
		}
	}
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go follow(false)
	go follow(true)
	rng := testSeed(t)
	for op := 0; op < 1500; op++ {
		rng = splitmix(rng)
		switch r := rng % 100; {
		case r < 60:
			l.Append(payload(l.LastSeq()+1, gen))
		case r < 75:
			s := l.LastSeq() + 1
			l.AppendBatch([][]byte{payload(s, gen), payload(s+1, gen), payload(s+2, gen)})
		case r < 85:
			l.Sync()
		case r < 92:
			if last, first := l.LastSeq(), l.FirstSeq(); last > first+5 {
				point := last - 1 - (rng>>8)%5
				mu.Lock()
				gen++
				cuts = append(cuts, cut{gen, point, false})
				mu.Unlock()
				if err := l.TruncateBack(point); err != nil {
					t.Fatal(err)
				}
			}
		case r < 96:
			if last, first := l.LastSeq(), l.FirstSeq(); last > first+50 {
				l.TruncateFront(first + 10)
			}
		case r < 97:
			next := max(l.LastSeq()+6, 15) - (rng>>8)%12 // below or above LastSeq+1
			mu.Lock()
			gen++
			cuts = append(cuts, cut{gen, next - 1, false})
			mu.Unlock()
			if err := l.Reset(next); err != nil {
				t.Fatal(err)
			}
		default:
			if rng>>20%2 == 0 {
				l.Close()
			} else {
				crashRelease(l)
			}
			if l, err = Open(dir, folOpts()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			gen++ // a crash may cut a torn tail: records after it are a new generation
			cuts = append(cuts, cut{gen, l.LastSeq(), true})
			mu.Unlock()
		}
	}
	// End with records after every cut, so that LastSeq is a record.
	l.Append(payload(l.LastSeq()+1, gen))
	finalLast = l.LastSeq()
	l.Close()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// rt3Payload is record seq of generation gen, n bytes long.
func rt3Payload(gen byte, seq uint64, n int) []byte {
	b := bytes.Repeat([]byte{gen, byte(seq), byte(seq >> 8)}, n/3+1)
	return b[:n]
}

// Red team 3, regression: the writer cuts back below what the follower
// returned, re-appends other records at the same sequences, and a
// TruncateFront removes the segment of the follower's last record before
// it looks again. It used to take the missing segment for a harmless
// TruncateFront (and then spin); the cut ring tells it of the cut: ErrTruncated.
func TestFollowerCutThenFrontIsSilent(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if _, err := l.Append(rt3Payload('a', seq, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if !nextWithin(it) || it.Seq() != seq || !bytes.Equal(it.Value(), rt3Payload('a', seq, 1000)) {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	// The follower has applied a1..a40. The writer takes a21..a40 back
	// and writes b21..b60 (bigger, so that they spread over more segments).
	if err := l.TruncateBack(20); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(21); seq <= 60; seq++ {
		if _, err := l.Append(rt3Payload('b', seq, 4000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(41); err != nil {
		t.Fatal(err)
	}
	if nextWithin(it) {
		t.Fatalf("follower applied a21..a40, the log now holds b21..b40, and it goes on silently with record %d (%c...)",
			it.Seq(), it.Value()[0])
	}
	if !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", it.Err())
	}
}

// Red team 3, regression: after a cut the writer re-appends records of the
// same sizes, the one at the follower's last sequence byte for byte as
// before. Checking only that record missed the cut; the ring does not.
func TestFollowerCutSameLastRecord(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		l.Append(rt3Payload('a', seq, 100))
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	if err := l.TruncateBack(35); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(36); seq <= 39; seq++ {
		l.Append(rt3Payload('b', seq, 100))
	}
	l.Append(rt3Payload('a', 40, 100)) // record 40 as it was
	l.Append(rt3Payload('b', 41, 100))
	if got, _ := f.Read(36); !bytes.Equal(got, rt3Payload('b', 36, 100)) {
		t.Fatalf("the log does not hold b36: %q", got)
	}
	if nextWithin(it) {
		t.Fatalf("follower applied a36..a39, the log holds b36..b39, and it goes on silently with record %d (%c...)",
			it.Seq(), it.Value()[0])
	}
	if !errors.Is(it.Err(), ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", it.Err())
	}
}

// Red team 3, regression: a Reset the follower sees only after the writer
// closed (or reopened: a new incarnation) still ends it with ErrTruncated
// (the ring is carried over; a closed area is trusted while nobody holds
// LOCK), not ErrNotFound or an endless wait.
func TestFollowerResetAcrossRestart(t *testing.T) {
	for _, next := range []uint64{11, 1000} {
		for _, reopen := range []bool{false, true} {
			t.Run(map[bool]string{false: "close", true: "reopen"}[reopen]+"-"+map[uint64]string{11: "next11", 1000: "next1000"}[next], func(t *testing.T) {
				dir := fastTempDir(t)
				l, err := Open(dir, folOpts())
				if err != nil {
					t.Fatal(err)
				}
				for seq := uint64(1); seq <= 10; seq++ {
					l.Append(folPayload(seq))
				}
				f := openFollower(t, dir, nil)
				it, _ := f.NewIterator(1)
				defer it.Close()
				expect(t, it, seqRange(1, 10)...)
				if err := l.Reset(next); err != nil {
					t.Fatal(err)
				}
				l.Append([]byte("after the reset"))
				l.Close()
				if reopen {
					l, err = Open(dir, folOpts())
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
				}
				if nextWithin(it) {
					t.Fatalf("returned %d %q after Reset(%d) dropped the records it returned", it.Seq(), it.Value(), next)
				}
				if !errors.Is(it.Err(), ErrTruncated) {
					t.Fatalf("err %v, want ErrTruncated", it.Err())
				}
			})
		}
	}
}

// Red team 3, regression: a TruncateFront into a gap after the follower's
// position removes nothing it had still to return (front gone says so): it
// goes on, as the writer's own iterator does.
func TestFollowerFrontIntoGap(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		l.Append(rt3Payload('a', seq, 1000))
	}
	// A gap: 11..99 never existed; 100.. do not fit in the first segment.
	for seq := uint64(100); seq <= 105; seq++ {
		if err := l.AppendSeq(seq, rt3Payload('a', seq, 8000)); err != nil {
			t.Fatal(err)
		}
	}
	f := openFollower(t, dir, nil)
	fit, _ := f.NewIterator(1)
	defer fit.Close()
	own, _ := l.NewIterator(1)
	defer own.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		if !nextWithin(fit) || !own.Next() {
			t.Fatalf("record %d: %v %v", seq, fit.Err(), own.Err())
		}
	}
	if err := l.TruncateFront(100); err != nil { // drops 1..10 only: nothing either had still to return
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "0000000000000001.wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the segment of record 10 is still there: the test needs it gone")
	}
	if !own.Next() || own.Seq() != 100 {
		t.Fatalf("writer's iterator: %d %v", own.Seq(), own.Err())
	}
	if !nextWithin(fit) || fit.Seq() != 100 {
		t.Fatalf("follower: %d %v; the writer's own iterator goes on with 100 (the cut removed only records it returned)", fit.Seq(), fit.Err())
	}
}

// rt3NoControl makes l a writer that does not maintain the control area
// (a writer of an older version): it unmaps its own and removes the file.
func rt3NoControl(t *testing.T, l *Log) {
	t.Helper()
	l.wmu.Lock()
	if c := l.ctl; c != nil {
		l.lmu.Lock() // waiting iterators read l.listen under lmu
		l.ctl, l.listen = nil, &l.ownListen
		l.lmu.Unlock()
		c.close()
	}
	l.wmu.Unlock()
	if err := os.Remove(filepath.Join(l.dir, controlName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// Red team 3, regression: TruncatedError.Seq is the first sequence the
// iterator returned that no longer exists (the point a consumer rolls back
// to), as the writer's own iterators say: from the cut ring with a control
// area, from the marks of the last records returned without one.
func TestFollowerTruncatedSeq(t *testing.T) {
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

// Red team 3, regression: without a control area, a cut that removed the
// segment of the follower's position left the records it dropped in the
// follower's mapping; a record is now returned only while its file is
// still linked after the copy.
func TestFollowerUntrustedCutAcrossSegments(t *testing.T) {
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

// Red team 3, regression: without a control area a DurableOnly follower
// took a seal for proof of durability, but rotate writes the seal before
// it syncs (append.go rotate): while that sync runs (held by the fault
// hook here) it must return nothing above DurableSeq.
func TestFollowerDurableOnlySealBeforeSync(t *testing.T) {
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

// Red team 3, regression: a pid is no identity. The writer is SIGKILLed
// (its area stays, emulated by putting its bytes back), and the next
// writer, same pid, does not maintain the area: the follower must not
// trust the dead one's (a DurableOnly follower would wait forever). The
// flock a live writer holds on CONTROL tells them apart.
func TestFollowerStaleControlSamePid(t *testing.T) {
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

// Red team 3, regression: CONTROL is removed between two writers and the
// next one creates a new file; a follower that mapped the old one maps the
// new one (its link count says the old is gone) and trusts it again.
func TestFollowerRecreatedControlNeverTrusted(t *testing.T) {
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

// Red team 3, regression: "0 allocations per record on the follower". A
// follower that keeps up with a live writer looks at the end of the active
// segment after each record, where the writer's prepared next segment
// exists but is not active: it keeps it mapped instead of opening and
// mapping it again at each look.
func TestFollowerTailReopensPrepared(t *testing.T) {
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

// The cut ring keeps the last 16 cuts and folds older ones into its oldest
// entry: the lowest cut since an epoch is exact while the ring covers it
// and never higher than the true one when it does not.
func TestControlCutRingFold(t *testing.T) {
	path := filepath.Join(t.TempDir(), controlName)
	if err := os.WriteFile(path, make([]byte, controlSize), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mapControl(file, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	seqs := []uint64{50, 40, 90, 7, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 30, 80}
	for i, s := range seqs {
		c.addCut(uint64(2*i+2), s)
	}
	for e0 := uint64(0); e0 <= uint64(2*len(seqs)); e0 += 2 {
		want := ^uint64(0)
		for i, s := range seqs {
			if uint64(2*i+2) > e0 {
				want = min(want, s)
			}
		}
		low, folded, _ := c.cutsSince(e0)
		got := min(low, folded)
		covered := e0 >= uint64(2*(len(seqs)-ctlRingLen)+2) // the oldest entry kept (folded) is not after e0
		if covered && (got != want || folded != ^uint64(0)) || got > want {
			t.Errorf("cutsSince(%d) = %d, %d folded, want %d (covered %v)", e0, low, folded, want, covered)
		}
		if !covered && low != ^uint64(0) && low < want {
			t.Errorf("cutsSince(%d): %d outside the fold, below the cuts after it (%d)", e0, low, want)
		}
	}
}

// A follower that does not look while the writer cuts above its position
// 20 times (more than the ring holds) goes on; a cut below it then ends it
// at the first record it returned that is gone.
func TestFollowerManyCutsAbove(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		l.Append(rt3Payload('a', seq, 100))
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	for k := uint64(39); k > 19; k-- {
		if err := l.TruncateBack(k); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(20); seq <= 30; seq++ {
		l.Append(rt3Payload('b', seq, 100))
	}
	if !nextWithin(it) || it.Seq() != 11 || !bytes.Equal(it.Value(), rt3Payload('a', 11, 100)) {
		t.Fatalf("after 20 cuts above it: %d %v", it.Seq(), it.Err())
	}
	if err := l.TruncateBack(5); err != nil {
		t.Fatal(err)
	}
	var te *TruncatedError
	if nextWithin(it) || !errors.As(it.Err(), &te) || te.Seq != 6 {
		t.Fatalf("after TruncateBack(5): %d %v, want TruncatedError at 6", it.Seq(), it.Err())
	}
}

// Without a control area, an idle look re-validates every mark of the last
// records returned, not only the last one: a cut whose re-appends rewrote
// the last record byte for byte is found, at the first record gone.
func TestFollowerUntrustedCutSameLastRecord(t *testing.T) {
	dir := fastTempDir(t)
	l, err := Open(dir, folOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rt3NoControl(t, l)
	for seq := uint64(1); seq <= 40; seq++ {
		l.Append(rt3Payload('a', seq, 100))
	}
	f := openFollower(t, dir, nil)
	it, _ := f.NewIterator(1)
	defer it.Close()
	for seq := uint64(1); seq <= 40; seq++ {
		if !nextWithin(it) || it.Seq() != seq {
			t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
		}
	}
	if err := l.TruncateBack(35); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(36); seq <= 39; seq++ {
		l.Append(rt3Payload('b', seq, 100))
	}
	l.Append(rt3Payload('a', 40, 100)) // record 40 as it was
	var te *TruncatedError
	for range 40 {
		if it.Next() {
			t.Fatalf("returned %d after the cut", it.Seq())
		}
		if it.Err() != nil {
			break
		}
	}
	if !errors.As(it.Err(), &te) || te.Seq != 36 {
		t.Fatalf("err %v, want a *TruncatedError at 36", it.Err())
	}
}

// A cut followed by a writer restart reaches a follower that looks only
// after the restart, at the right sequence: the next writer's open carries
// the cut ring over (without it the follower would have only the marks of
// its last 64 records, and would answer its first record, 1).
func TestFollowerCutAcrossRestart(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "kill"}[kill], func(t *testing.T) {
			dir := fastTempDir(t)
			l, err := Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			for seq := uint64(1); seq <= 100; seq++ {
				l.Append(rt3Payload('a', seq, 100))
			}
			f := openFollower(t, dir, nil)
			it, _ := f.NewIterator(1)
			defer it.Close()
			for seq := uint64(1); seq <= 100; seq++ {
				if !nextWithin(it) || it.Seq() != seq {
					t.Fatalf("record %d: %d %v", seq, it.Seq(), it.Err())
				}
			}
			if err := l.TruncateBack(20); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(21); seq <= 99; seq++ {
				l.Append(rt3Payload('b', seq, 100))
			}
			l.Append(rt3Payload('a', 100, 100)) // as it was
			l.Sync()
			if kill {
				crashRelease(l)
			} else {
				l.Close()
			}
			l, err = Open(dir, folOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.Append(rt3Payload('b', 101, 100))
			var te *TruncatedError
			if nextWithin(it) || !errors.As(it.Err(), &te) || te.Seq != 21 {
				t.Fatalf("%d %v, want a *TruncatedError at 21", it.Seq(), it.Err())
			}
		})
	}
}
