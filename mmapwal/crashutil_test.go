package mmapwal

// Helpers shared by the crash tests (crash_test.go: real SIGKILLs of a child
// process; powerloss_test.go: simulated power cuts). Both describe the log
// they expect with the same record model, and both fill records with bytes
// that are a pure function of (sequence, length, salt), so that a process
// that never saw a record can still check every byte of it.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// tortureMode reports whether MMAPWAL_TORTURE=1 asks for the long runs
// (`make torture`).
func tortureMode() bool { return os.Getenv("MMAPWAL_TORTURE") == "1" }

// envCount returns the integer in the environment variable name, or def.
func envCount(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		t.Fatalf("%s=%q: want a count", name, s)
	}
	return v
}

// mix derives a seed from a seed and any number of labels (FNV-1a, then a
// splitmix64 finalizer).
func mix(seed uint64, labels ...any) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, l := range labels {
		fmt.Fprint(h, "|", l)
	}
	return splitmix(h.Sum64())
}

// fillPayload fills b with the content of the record seq of len(b) bytes
// appended with salt.
func fillPayload(b []byte, seq uint64, salt uint32) {
	x := seq*0x9e3779b97f4a7c15 ^ uint64(salt)<<32 ^ uint64(len(b))
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		x = splitmix(x)
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
}

// payloadIs reports whether b is the content of the record (seq, len(b), salt).
func payloadIs(b []byte, seq uint64, salt uint32) bool {
	x := seq*0x9e3779b97f4a7c15 ^ uint64(salt)<<32 ^ uint64(len(b))
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		x = splitmix(x)
		binary.LittleEndian.PutUint64(w[:], x)
		if !bytes.Equal(b[i:min(i+8, len(b))], w[:min(8, len(b)-i)]) {
			return false
		}
	}
	return true
}

// crec is one record of the model of a log: its sequence, its length and the
// salt its content was made with, and the batch it was appended in (0: a
// record on its own).
type crec struct {
	seq   uint64
	size  int
	salt  uint32
	batch uint64
}

func (r crec) String() string {
	return fmt.Sprintf("%d(len %d salt %#x batch %d)", r.seq, r.size, r.salt, r.batch)
}

// grec is a record read back from a log.
type grec struct {
	seq  uint64
	data []byte
}

// readAllRecords returns a copy of every record of l, in order.
func readAllRecords(l *Log) ([]grec, error) {
	it, err := l.NewIterator(0)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []grec
	for it.Next() {
		out = append(out, grec{it.Seq(), bytes.Clone(it.Value())})
	}
	return out, it.Err()
}

// commonPrefix returns how many leading records of got equal those of want:
// same sequence, same length, bytes of that record.
func commonPrefix(got []grec, want []crec) int {
	n := 0
	for n < len(got) && n < len(want) {
		g, w := got[n], want[n]
		if g.seq != w.seq || len(g.data) != w.size || !payloadIs(g.data, w.seq, w.salt) {
			break
		}
		n++
	}
	return n
}

// splitsBatch reports whether a log that ends after want[:k] cuts a batch.
func splitsBatch(want []crec, k int) bool {
	return k > 0 && k < len(want) && want[k].batch != 0 && want[k].batch == want[k-1].batch
}

// describeMismatch explains how got differs from want.
func describeMismatch(got []grec, want []crec) string {
	n := commonPrefix(got, want)
	var sb bytes.Buffer
	fmt.Fprintf(&sb, "got %d records, want %d; first %d agree", len(got), len(want), n)
	if n < len(got) {
		g := got[n]
		fmt.Fprintf(&sb, "; got[%d] = seq %d len %d", n, g.seq, len(g.data))
	}
	if n < len(want) {
		fmt.Fprintf(&sb, "; want[%d] = %v", n, want[n])
	}
	return sb.String()
}

// firstSeqFor is the FirstSeq a log holding recs with LastSeq last reports.
func firstSeqFor(recs []grec, last uint64) uint64 {
	switch {
	case len(recs) > 0:
		return recs[0].seq
	case last > 0:
		return last + 1
	}
	return 0
}

// firstSeqOK reports whether FirstSeq fs fits recs and last: as
// firstSeqFor says, except that an empty log with LastSeq 0 reports 1 after
// a Reset(1) or TruncateFront(1) (which the harnesses do not track), else 0.
func firstSeqOK(fs uint64, recs []grec, last uint64) bool {
	want := firstSeqFor(recs, last)
	return fs == want || (len(recs) == 0 && last == 0 && fs == 1)
}

// crashRelease lets go of l as a crash would: no sync, no durable mark, and
// the segment prepared in the background stays on disk. The log's memory,
// goroutines and mappings are released, so that the directory can be opened
// again in this process.
func crashRelease(l *Log) { l.shutdown(true) }

// copyDir copies the regular files of src into dst (created if missing),
// except LOCK. It reads through the page cache: what a killed process left.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == lockName || e.Name() == controlName {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// emptyDir removes everything inside dir (and creates it if missing).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// describeDir lists a directory's files and sizes, for failure messages.
func describeDir(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var sb bytes.Buffer
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&sb, "%s(%d) ", e.Name(), info.Size())
	}
	return sb.String()
}
