package mmapwal

// The test helpers shared by this package's internal tests (package
// mmapwal): each is written once, here, under one name. The external tests
// (package mmapwal_test) cannot see them; theirs are in xhelpers_test.go.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/segment"
)

// waitPrepared starts the preparation of the next segment if Open left it
// to the first append, and waits until it is over, so that a copy or
// snapshot of the directory (or a crash point) does not depend on its
// timing.
func waitPrepared(l *Log) {
	l.prep.startDeferred() // Open leaves it to the first append (preparer.startLater)
	l.prep.mu.Lock()
	done := l.prep.done
	l.prep.mu.Unlock()
	if done != nil {
		<-done
	}
}

// activeRoom returns the bytes left in the active segment, after l.off.
func activeRoom(l *Log) int64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.active.size - l.off
}

// shmDir is a tmpfs on Linux, where there is one.
const shmDir = "/dev/shm"

// haveShm reports whether shmDir exists: where it does, fastTempDir's
// directories are on it, and tests may afford their fine-grained loops.
func haveShm() bool {
	st, err := os.Stat(shmDir)
	return err == nil && st.IsDir()
}

// fastTempDir returns a fresh directory, removed when the test ends, on a
// tmpfs (shmDir) when there is one, else t.TempDir(). The tests that use it
// open thousands of logs or images and check the log's logic, not the
// disk's: on a disk every Open, rotation and truncation costs several
// fsyncs. (The images are removed as soon as they are checked: a few MiB at
// a time, which even a container's small /dev/shm holds.)
func fastTempDir(t testing.TB) string {
	t.Helper()
	if haveShm() {
		if d, err := os.MkdirTemp(shmDir, "mmapwal-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// dirImage is a copy of a log directory's regular files (LOCK excluded),
// by name: what snapshotDir read or writeImage is to write.
type dirImage map[string][]byte

// snapshotDir reads the regular files of dir, except LOCK and CONTROL. It reads through
// the page cache (and a live Log's MAP_SHARED mapping): what a crash of the
// process, not of the machine, would leave.
func snapshotDir(t testing.TB, dir string) dirImage {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := dirImage{}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == lockName || e.Name() == controlName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		img[e.Name()] = b
	}
	return img
}

// clone returns a deep copy of img: its bytes can be damaged freely.
func (img dirImage) clone() dirImage {
	c := make(dirImage, len(img))
	for k, v := range img {
		c[k] = bytes.Clone(v)
	}
	return c
}

// with returns a shallow copy of img with the given files replaced: kv is
// name, bytes, name, bytes…; a nil value removes the file.
func (img dirImage) with(kv ...any) dirImage {
	c := make(dirImage, len(img))
	for k, v := range img {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		name, b := kv[i].(string), kv[i+1].([]byte)
		if b == nil {
			delete(c, name)
		} else {
			c[name] = b
		}
	}
	return c
}

// segNames returns the image's segment file names, in log order.
func (img dirImage) segNames() []string {
	var names []string
	for name := range img {
		if _, ok := segment.ParseName(name); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// writeImage writes img into a new directory under base (under a new
// fastTempDir when base is "") and returns it.
func writeImage(t testing.TB, base string, img dirImage) string {
	t.Helper()
	if base == "" {
		base = fastTempDir(t)
	}
	dir, err := os.MkdirTemp(base, "img-")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range img {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameFiles reports how the files of dir (LOCK aside) differ from img: nil
// when they are exactly img's, byte for byte.
func sameFiles(t testing.TB, dir string, img dirImage) error {
	t.Helper()
	got := snapshotDir(t, dir)
	var diff []string
	for name, b := range img {
		if g, ok := got[name]; !ok {
			diff = append(diff, name+" was removed")
		} else if !bytes.Equal(g, b) {
			diff = append(diff, name+" was changed")
		}
	}
	for name := range got {
		if _, ok := img[name]; !ok {
			diff = append(diff, name+" was created")
		}
	}
	if diff == nil {
		return nil
	}
	sort.Strings(diff)
	return errors.New(strings.Join(diff, ", "))
}

// goroutineID returns the running goroutine's id (from its stack header),
// for the fault hooks that tell a fault in the caller's own call from one in
// the log's background goroutines.
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	s := strings.TrimPrefix(string(buf[:n]), "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		id, _ := strconv.ParseUint(s[:i], 10, 64)
		return id
	}
	return 0
}

// splitmix is the splitmix64 step (an increment, then its finalizer): the
// mixer of the tests' seeds and self-checking payloads.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// testSeed returns the seed of a randomized test: MMAPWAL_SEED when set,
// else one drawn from the clock. It logs the seed and how to replay it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MMAPWAL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("MMAPWAL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay: MMAPWAL_SEED=%d go test -run '^%s$' ./mmapwal)", seed, seed, t.Name())
	return seed
}

// manualOpts are the options of most tests' small logs: segments of segSize
// bytes, SyncManual (a test syncs when it means to), repair policy p.
func manualOpts(segSize int64, p RepairPolicy) *Options {
	return &Options{SegmentSize: segSize, Durability: SyncManual, Repair: p}
}

// readOnlyOpts are manualOpts' ReadOnly counterpart.
func readOnlyOpts(segSize int64) *Options {
	return &Options{SegmentSize: segSize, Durability: SyncManual, ReadOnly: true}
}

// rt6UnseenWriter is the red-team-6 writer that follower f does not see
// through a control area: after f judged the closed area of dir, it stops
// f's recheck (mode "stopped": the next look comes within trustRecheck),
// opens a writer without a control area, cuts the log to 50 and appends
// 51..60 of generation 2 without a sync; in mode "due" it then waits
// until f's recheck fell due. The writer closes at the test's end.
func rt6UnseenWriter(t testing.TB, f *Follower, dir, mode string) *Log {
	t.Helper()
	if mode == "stopped" {
		f.recheck.Stop()
	}
	testHookNoControl = true
	l2, err := Open(dir, folOpts())
	testHookNoControl = false
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	if err := l2.TruncateBack(50); err != nil {
		t.Fatal(err)
	}
	rt5Append(t, l2, 51, 60, 2)
	if mode == "due" {
		for deadline := time.Now().Add(sleepBound); !f.due.Load(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the recheck never fell due")
			}
		}
	}
	return l2
}

// mustOpen opens the log in dir with o or fails the test. The caller
// closes it (a Cleanup would run after the test's own deferred checks).
func mustOpen(t testing.TB, dir string, o *Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
