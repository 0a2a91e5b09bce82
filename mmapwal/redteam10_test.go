package mmapwal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
)

// TestRedteam10ReserveStaleBytes: Reserve in a recycled segment hands out
// space that holds the stale bytes of the file's previous use (records
// TruncateFront dropped). In a fresh segment the space is zero; a caller
// that fills part of it (or reads it) must not get another record's bytes,
// and a record committed that way must not carry them.
func TestRedteam10ReserveStaleBytes(t *testing.T) {
	_, l := recycledLog(t, 8192, 2)
	defer l.Close()
	if !l.active.recycled {
		t.Fatal("the newest segment is not recycled")
	}
	off := l.off
	if l.active.file.ZeroAt(off+crcframe.HeaderSize, 200) {
		t.Fatal("no stale bytes where the reservation goes: the test proves nothing")
	}
	r, err := l.Reserve(200)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Bytes()
	if !crcframe.IsZero(b) {
		r.Abort()
		t.Fatal("Reserve's Bytes hold stale bytes of the file's previous use")
	}
	seq, err := r.Commit()
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Read(seq)
	if err != nil {
		t.Fatal(err)
	}
	if !crcframe.IsZero(v) {
		t.Fatal("a record committed without writing its bytes carries stale bytes")
	}
}

// headerLikePayload is a payload of n bytes (n a multiple of 8) for a frame
// at offset fo of a segment of size size whose every third aligned word
// (by absolute offset) reads as a frame header claiming a frame to the end
// of the segment: bytes 4..7 the length, bytes 20..23 (the next word but
// one) 1, 0, 0, 0 (type full, reserved zero). Ordinary data does this:
// an array of (u32, u32) pairs whose second halves mix small counts with
// large values.
func headerLikePayload(fo int64, n int, size int64) []byte {
	b := make([]byte, n)
	p := fo + crcframe.HeaderSize
	for i := 0; i+8 <= n; i += 8 {
		a := p + int64(i)
		binary.LittleEndian.PutUint32(b[i:], 0x9e3779b9^uint32(a))
		v := uint32(1)
		if (a/8)%3 == 0 {
			if l := size - a - 2*crcframe.HeaderSize; l > 0 {
				v = uint32(l) &^ 7
			}
		}
		binary.LittleEndian.PutUint32(b[i+4:], v)
	}
	return b
}

// TestRedteam10StaleTailScanCost: after a crash (no damage: a process
// killed with its page cache intact), Open searches the stale bytes after
// the frames of the newest recycled segment for frames of its seed
// (FORMAT.md §9.7: "≈ one read of the rest of the segment"). When the
// stale records' payloads have header-like words, each such word passes
// plausible and costs a CRC over the length it claims: the search is
// quadratic in the segment size. At 1 MiB this takes seconds instead of
// about a millisecond; at the default 64 MiB it is hours, and every crash
// (and every ReadOnly open beside a live writer) pays it.
func TestRedteam10StaleTailScanCost(t *testing.T) {
	const size = 1 << 20
	dir := fastTempDir(t)
	l := mustOpen(t, dir, recycleOpts(size, 1))
	defer l.Close()
	for l.Stats().Segments < 3 {
		if _, err := l.Append(headerLikePayload(l.off, 4000, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(l.LastSeq()); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Pooled != 1 {
		t.Fatalf("pooled %d", l.Stats().Pooled)
	}
	for l.Stats().Recycled == 0 {
		if _, err := l.Append(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	appendUpTo(t, l, l.LastSeq()+3)
	last := l.LastSeq()
	cp := crashCopy(t, dir)
	start := time.Now()
	l2, err := Open(cp, recycleOpts(size, 1))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.LastSeq() != last || l2.Recovery().TornTail != nil {
		t.Fatalf("recovery %+v, LastSeq %d, want %d", l2.Recovery(), l2.LastSeq(), last)
	}
	t.Logf("Open after the crash took %v", took)
	if took > 250*time.Millisecond {
		t.Fatalf("Open of a 1 MiB recycled segment after a crash took %v: the search for frames of the seed in the stale bytes CRCs the length every header-like stale word claims (quadratic)", took)
	}
}

// TestRedteam10RecycleFailThenGoOn: a rotation into a pool file that fails
// before the rename (open, fdatasync, rename) leaves the log usable: the
// same Log goes on appending (a fresh segment or the next pool file), and
// every record reads back, before and after a crash and a clean reopen.
func TestRedteam10RecycleFailThenGoOn(t *testing.T) {
	for _, op := range []sysutil.Op{sysutil.OpOpen, sysutil.OpFdatasync, sysutil.OpRename} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			dir := fastTempDir(t)
			l := mustOpen(t, dir, recycleOpts(8192, 2))
			for l.Stats().Segments < 5 {
				appendUpTo(t, l, l.LastSeq()+1)
			}
			if err := l.TruncateFront(l.LastSeq()); err != nil {
				t.Fatal(err)
			}
			waitPrepared(l)
			l.wmu.Lock()
			l.prep.discard()
			l.wmu.Unlock()
			fails := 1
			restore := sysutil.SetFault(func(o sysutil.Op, path string) error {
				if _, isPool := parsePoolName(filepath.Base(path)); o == op && isPool && fails > 0 {
					fails--
					return fmt.Errorf("injected: %w", syscall.EIO)
				}
				return nil
			})
			var failed error
			for failed == nil {
				_, failed = l.Append(recPayload(l.LastSeq() + 1))
			}
			restore()
			if !errors.Is(failed, syscall.EIO) {
				t.Fatalf("Append = %v, want EIO", failed)
			}
			// The failed record was not appended; go on.
			appendUpTo(t, l, l.LastSeq()+300)
			checkRecords(t, l)
			last := l.LastSeq()
			cp := crashCopy(t, dir)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{cp, dir} {
				l2 := mustOpen(t, d, recycleOpts(8192, 2))
				if l2.LastSeq() != last || l2.Recovery().TornTail != nil || l2.Recovery().Corruption != nil {
					t.Fatalf("%s: recovery %+v, LastSeq %d, want %d", d, l2.Recovery(), l2.LastSeq(), last)
				}
				checkRecords(t, l2)
				if err := l2.Verify(t.Context()); err != nil {
					t.Fatal(err)
				}
				l2.Close()
			}
		})
	}
}

// TestRedteam10V1LogRecycles: a log written by format version 1, opened
// with RecycleSegments: TruncateFront pools its version 1 segment files
// (v1 frames and a durable mark become stale bytes), rotations reuse them
// as version 2 recycled segments; every record reads back, a crash and a
// clean reopen recover exactly, Verify finds nothing.
func TestRedteam10V1LogRecycles(t *testing.T) {
	dir := t.TempDir()
	last := writeV1Log(t, dir, 3, 8)
	o := recycleOpts(segment.MinSize, 2)
	l := mustOpen(t, dir, o)
	defer l.Close()
	if err := l.TruncateFront(last + 1); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Pooled == 0 {
		t.Fatalf("no v1 segment pooled: %v", poolFiles(t, dir))
	}
	for l.Stats().Recycled < 2 {
		if _, err := l.Append(recPayload(l.LastSeq() + 1)); err != nil {
			t.Fatal(err)
		}
	}
	appendUpTo(t, l, l.LastSeq()+3)
	checkRecords(t, l)
	want := l.LastSeq()
	cp := crashCopy(t, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cp, dir} {
		l2 := mustOpen(t, d, o)
		if l2.LastSeq() != want || l2.Recovery().TornTail != nil || l2.Recovery().Corruption != nil {
			l2.Close()
			t.Fatalf("%s: recovery %+v, LastSeq %d, want %d", d, l2.Recovery(), l2.LastSeq(), want)
		}
		checkRecords(t, l2)
		if err := l2.Verify(t.Context()); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
}

// TestRedteam10RecycleRace: appends, TruncateFront, iterators, Read and
// View race against rotations into pool files and a Close at a random
// moment: no record read is another's (or stale), no panic, and a reopen
// holds every record a Sync acknowledged, byte for byte.
func TestRedteam10RecycleRace(t *testing.T) {
	for round := range 6 {
		dir := fastTempDir(t)
		o := recycleOpts(8192, 3)
		l := mustOpen(t, dir, o)
		var acked atomic.Uint64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		bad := make(chan string, 16)
		wg.Add(4)
		go func() { // writer
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seq, err := l.Append(recPayload(l.LastSeq() + 1))
				if err != nil {
					return
				}
				if seq%7 == 0 {
					if l.Sync() == nil {
						acked.Store(max(acked.Load(), seq))
					}
				}
			}
		}()
		go func() { // front truncations
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if last := l.LastSeq(); last > 40 {
					if err := l.TruncateFront(last - 20); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidArgument) {
						bad <- fmt.Sprint("TruncateFront: ", err)
						return
					}
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		go func() { // iterators
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				it, err := l.NewIterator(l.FirstSeq())
				if err != nil {
					continue
				}
				for n := 0; n < 50 && it.Next(); n++ {
					if !payloadIs(it.Value(), it.Seq(), 7) {
						bad <- fmt.Sprintf("iterator: record %d has another's bytes", it.Seq())
					}
				}
				it.Close()
			}
		}()
		go func() { // Read and View
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seq := l.FirstSeq() + 3
				if b, err := l.Read(seq); err == nil && !payloadIs(b, seq, 7) {
					bad <- fmt.Sprintf("Read %d: another's bytes", seq)
				}
				l.View(seq, func(b []byte) error {
					if !payloadIs(b, seq, 7) && l.LastSeq() >= seq && l.FirstSeq() <= seq {
						bad <- fmt.Sprintf("View %d: another's bytes", seq)
					}
					return nil
				})
			}
		}()
		time.Sleep(time.Duration(50+round*40) * time.Millisecond)
		closeErr := l.Close()
		close(stop)
		wg.Wait()
		close(bad)
		for s := range bad {
			t.Fatal(s)
		}
		if closeErr != nil {
			t.Fatalf("Close: %v", closeErr)
		}
		if l.Stats().Recycled == 0 {
			t.Fatalf("round %d: nothing recycled", round)
		}
		l2 := mustOpen(t, dir, o)
		if l2.LastSeq() < acked.Load() {
			t.Fatalf("LastSeq %d below the acknowledged %d", l2.LastSeq(), acked.Load())
		}
		checkRecords(t, l2)
		if err := l2.Verify(t.Context()); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
}

// TestRedteam10RecycleRaceBack: TestRedteam10RecycleRace with TruncateBack
// and Reset in the mix (numbers handed out again beside the pool): appends, TruncateFront, iterators, Read and
// View race against rotations into pool files and a Close at a random
// moment: no record read is another's (or stale), no panic, and a reopen
// holds every record a Sync acknowledged, byte for byte.
// rt10Pool is the RecycleSegments of TestRedteam10RecycleRaceBack.
var rt10Pool = 3

func TestRedteam10RecycleRaceBack(t *testing.T) {
	var recycled uint64
	defer func() {
		if !t.Failed() && recycled == 0 && rt10Pool > 0 {
			t.Fatal("nothing recycled")
		}
	}()
	for round := range 6 {
		dir := fastTempDir(t)
		o := recycleOpts(8192, rt10Pool)
		l := mustOpen(t, dir, o)
		var acked atomic.Uint64
		var wl sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		bad := make(chan string, 16)
		report := func(s string) {
			select {
			case bad <- s:
			default:
			}
		}
		wg.Add(4)
		go func() { // writer
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				wl.Lock() // the payload names the sequence it gets: no truncation in between
				seq, err := l.Append(recPayload(l.LastSeq() + 1))
				wl.Unlock()
				if err != nil {
					return
				}
				if seq%7 == 0 {
					if l.Sync() == nil {
						acked.Store(max(acked.Load(), seq))
					}
				}
			}
		}()
		go func() { // front truncations
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				wl.Lock()
				if last := l.LastSeq(); last > 40 {
					var err error
					switch rand.IntN(10) {
					case 0, 1, 2:
						err = l.TruncateBack(last - uint64(rand.IntN(30)))
					case 3:
						if rand.IntN(10) == 0 {
							err = l.Reset(last + 1)
						}
					}
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidArgument) {
						report(fmt.Sprint("TruncateBack/Reset: ", err))
					}
					if err := l.TruncateFront(last - 20); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidArgument) {
						report(fmt.Sprint("TruncateFront: ", err))
					}
				}
				wl.Unlock()
				time.Sleep(200 * time.Microsecond)
			}
		}()
		go func() { // iterators
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				it, err := l.NewIterator(l.FirstSeq())
				if err != nil {
					continue
				}
				// A record is checked once the following Next did not
				// report it dropped (Iterator.Value: a TruncateBack
				// zeroes the bytes under the slice).
				var pend []byte
				var pendSeq uint64
				for n := 0; n < 50; n++ {
					ok := it.Next()
					var te *TruncatedError
					if pend != nil && (ok || !errors.As(it.Err(), &te) || te.Seq > pendSeq) && !payloadIs(pend, pendSeq, 7) {
						report(fmt.Sprintf("iterator: record %d has another's bytes (%v)", pendSeq, it.Err()))
					}
					if !ok {
						break
					}
					pend, pendSeq = append(pend[:0], it.Value()...), it.Seq()
				}
				it.Close()
			}
		}()
		go func() { // Read and View
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seq := l.FirstSeq() + 3
				if b, err := l.Read(seq); err == nil && !payloadIs(b, seq, 7) {
					report(fmt.Sprintf("Read %d: another's bytes", seq))
				}
				okBytes := true
				if l.View(seq, func(b []byte) error {
					okBytes = payloadIs(b, seq, 7)
					return nil
				}) == nil && !okBytes {
					report(fmt.Sprintf("View %d: another's bytes", seq))
				}
			}
		}()
		time.Sleep(time.Duration(50+round*40) * time.Millisecond)
		closeErr := l.Close()
		close(stop)
		wg.Wait()
		close(bad)
		for s := range bad {
			t.Fatal(s)
		}
		if closeErr != nil {
			t.Fatalf("Close: %v", closeErr)
		}
		recycled += l.Stats().Recycled
		l2 := mustOpen(t, dir, o)
		checkRecords(t, l2)
		if err := l2.Verify(t.Context()); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
}
