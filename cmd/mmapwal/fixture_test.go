package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

// The fixed logs of the golden tests. Their bytes are the same on every
// run: the log identity comes from crypto/rand, which
// cryptotest.SetGlobalRandom makes deterministic; the records, the Syncs
// (SyncManual) and so every frame's durable watermark are fixed; nothing
// on disk holds a time.

// fixSegSize is the fixed logs' segment size (the smallest): their
// records span 3 segments.
const fixSegSize = 4 << 10

// fixRecords is the number of records of the fixed logs.
const fixRecords = 60

// fixPayload is record seq's payload: text, with a few binary bytes in
// some records (to show the escaping) and sizes that vary.
func fixPayload(seq uint64) []byte {
	p := fmt.Appendf(nil, "record %03d %s", seq, strings.Repeat("abcdefghij", int(seq%7)*5))
	if seq%9 == 0 {
		p = append(p, 0, '\n', 0xff, '\t', '\\')
	}
	return p
}

// fixOptions are the fixed logs' options.
func fixOptions() *mmapwal.Options {
	return &mmapwal.Options{SegmentSize: fixSegSize, Durability: mmapwal.SyncManual}
}

// writeFixed appends records 1..n to l: batches of three every tenth
// record (so that batch frames show up), a Sync every five records.
func writeFixed(t testing.TB, l *mmapwal.Log, from, n uint64) {
	t.Helper()
	for seq := from; seq <= n; {
		if seq%10 == 4 && seq+2 <= n {
			if _, err := l.AppendBatch([][]byte{fixPayload(seq), fixPayload(seq + 1), fixPayload(seq + 2)}); err != nil {
				t.Fatal(err)
			}
			seq += 3
		} else {
			if _, err := l.Append(fixPayload(seq)); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		if seq%5 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// intactLog builds the fixed log of fixRecords records in dir, closed
// cleanly.
func intactLog(t *testing.T, dir string) {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 1)
	l, err := mmapwal.Open(dir, fixOptions())
	if err != nil {
		t.Fatal(err)
	}
	writeFixed(t, l, 1, fixRecords)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// tornLog builds the fixed log as a crash leaves it: records up to 55
// synced, 56..fixRecords appended but never synced, the last of them torn
// (a byte of its payload lost), and the next segment prepared and unused.
// It returns the torn record's sequence.
func tornLog(t *testing.T, dir string) uint64 {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 1)
	live := t.TempDir()
	l, err := mmapwal.Open(live, fixOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	writeFixed(t, l, 1, 55)
	for seq := uint64(56); seq <= fixRecords; seq++ {
		if _, err := l.Append(fixPayload(seq)); err != nil {
			t.Fatal(err)
		}
	}
	fr, err := l.Frame(fixRecords)
	if err != nil {
		t.Fatal(err)
	}
	// What a killed process leaves: the files as the page cache holds
	// them. The segment the writer prepares in the background is made
	// here instead, so that the copy does not depend on its timing.
	copyLogFiles(t, live, dir, func(name string) bool {
		n, ok := segment.ParseName(name)
		return !ok || n <= segNumber(fr.Segment)
	})
	damage(t, filepath.Join(dir, fr.Segment), fr.Offset+crcframe.HeaderSize+3)
	prepare(t, dir, segNumber(fr.Segment)+1)
	return fixRecords
}

// corruptLog builds the fixed log, closed cleanly, then damages a record in
// the middle of its second (sealed) segment; it returns that record.
func corruptLog(t *testing.T, dir string) uint64 {
	t.Helper()
	intactLog(t, dir)
	l, err := mmapwal.Open(dir, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	segs, err := l.Segments()
	if err != nil {
		t.Fatal(err)
	}
	s := segs[1]
	bad := (s.FirstSeq + s.LastSeq) / 2
	fr, err := l.Frame(bad)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Type != crcframe.Full {
		bad, fr = bad+1, mustFrame(t, l, bad+1)
	}
	damage(t, filepath.Join(dir, fr.Segment), fr.Offset+crcframe.HeaderSize+1)
	return bad
}

func mustFrame(t *testing.T, l *mmapwal.Log, seq uint64) mmapwal.RecordFrame {
	t.Helper()
	fr, err := l.Frame(seq)
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

func segNumber(name string) uint64 {
	n, _ := segment.ParseName(name)
	return n
}

// copyLogFiles copies the regular files of src that keep accepts (LOCK
// never) into dst.
func copyLogFiles(t *testing.T, src, dst string, keep func(name string) bool) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == "LOCK" || !keep(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// damage flips one bit of the file at path at offset off.
func damage(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// prepare creates segment num of the log in dir as the background
// preparation does: preallocated, a version 2 header with first seq 0.
func prepare(t *testing.T, dir string, num uint64) {
	t.Helper()
	h, err := segment.ReadHeader(filepath.Join(dir, segment.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := segment.Create(filepath.Join(dir, segment.Name(num)), segment.Header{Version: 2, LogID: h.LogID, Number: num, Size: h.Size})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// dirHash is a digest of every file of dir, names, sizes and bytes: equal
// digests mean that nothing was changed, created or removed.
func dirHash(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sb bytes.Buffer
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s %d %x\n", name, len(b), crcframe.Checksum(0, b))
	}
	return sb.String()
}
