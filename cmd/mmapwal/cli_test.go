package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

// TestVerifyExitStatuses: 0 intact, 1 a torn tail only, 3 with --strict
// and for damage to durable data (a torn tail after it included), 4 for a
// log it cannot read; and a tail a live writer holds is in progress, 0.
func TestVerifyExitStatuses(t *testing.T) {
	intact, torn, corrupt := t.TempDir(), t.TempDir(), t.TempDir()
	intactLog(t, intact)
	tornLog(t, torn)
	corruptLog(t, corrupt)
	both := t.TempDir() // damage in a sealed segment and a torn tail too
	tornLog(t, both)
	l, err := mmapwal.Open(both, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	fr := mustFrame(t, l, 30)
	l.Close()
	damage(t, filepath.Join(both, fr.Segment), fr.Offset+crcframe.HeaderSize)
	newer := t.TempDir()
	intactLog(t, newer)
	newerMeta(t, newer)

	for _, c := range []struct {
		args []string
		want int
		says string
	}{
		{[]string{"verify", intact}, 0, "intact"},
		{[]string{"verify", intact, "--strict"}, 0, "intact"},
		{[]string{"verify", torn}, 1, "torn tail in 0000000000000003.wal at offset"},
		{[]string{"verify", "--strict", torn}, 3, "corrupt (--strict): torn tail"},
		{[]string{"verify", corrupt}, 3, "damage to durable data in 0000000000000002.wal"},
		{[]string{"verify", corrupt, "--strict"}, 3, "damage to durable data"},
		{[]string{"verify", both}, 3, "damage to durable data in 0000000000000002.wal"},
		{[]string{"verify", newer}, 4, "written by a newer mmapwal"},
		{[]string{"verify", filepath.Join(intact, "missing")}, 4, "no such directory"},
	} {
		st, out, errs := runCLI(c.args...)
		if st != c.want || !strings.Contains(out+errs, c.says) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s%s", c.args, st, c.want, c.says, out, errs)
		}
	}

	// A writer appending beside verify: its newest frames may be half
	// written, which is no torn tail.
	live := t.TempDir()
	copyLogFiles(t, torn, live, func(string) bool { return true })
	l, err = mmapwal.Open(live, &mmapwal.Options{Durability: mmapwal.SyncManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append([]byte("unsynced")); err != nil {
		t.Fatal(err)
	}
	tail := filepath.Join(live, segment.Name(3))
	b, err := os.ReadFile(tail)
	if err != nil {
		t.Fatal(err)
	}
	view := t.TempDir() // how a reader can see the file: the record's last bytes not there yet
	lf := mustFrameW(t, l, l.LastSeq())
	copyLogFiles(t, live, view, func(string) bool { return true })
	clear(b[lf.Offset+crcframe.HeaderSize:])
	if err := os.WriteFile(filepath.Join(view, segment.Name(3)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, out, _ := runCLI("verify", view); st != 1 {
		t.Fatalf("the half-written tail without a writer: exit %d, want 1:\n%s", st, out)
	}
	// Beside the live writer (the lock held, as /proc/locks shows), verify
	// of its own directory is 0.
	if st, out, errs := runCLI("verify", live); st != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("beside a live writer: exit %d, want 0:\n%s%s", st, out, errs)
	}
}

func mustFrameW(t *testing.T, l *mmapwal.Log, seq uint64) mmapwal.RecordFrame {
	t.Helper()
	return mustFrame(t, l, seq)
}

// newerMeta rewrites dir's META as a newer format version would: version
// 3, its CRC recomputed (FORMAT.md §4: version at 8, CRC of 0–59 at 60).
func newerMeta(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "META")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(b[8:], 3)
	binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJSONLSchema: every line of --format jsonl is one object with exactly
// the keys of schema version 1 (plus "payload" with hex, base64 or text),
// of the right types, that agree with the library's view of the record.
func TestJSONLSchema(t *testing.T) {
	dir := t.TempDir()
	intactLog(t, dir)
	l, err := mmapwal.Open(dir, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	keys := []string{"crc", "durable", "length", "offset", "segment", "seq", "type", "v"}
	for _, payload := range []string{"none", "len", "hex", "base64", "text"} {
		st, out, errs := runCLI("dump", dir, "--format", "jsonl", "--payload", payload)
		if st != 0 || errs != "" {
			t.Fatalf("--payload %s: exit %d: %s", payload, st, errs)
		}
		want := slices.Clone(keys)
		if payload == "hex" || payload == "base64" || payload == "text" {
			want = append(want, "payload")
			slices.Sort(want)
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		seq := uint64(0)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("--payload %s: line %q: %v", payload, sc.Text(), err)
			}
			got := make([]string, 0, len(m))
			for k := range m {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("--payload %s: keys %v, want %v", payload, got, want)
			}
			seq++
			checkJSONRecord(t, l, m, seq, payload)
		}
		if seq != fixRecords {
			t.Fatalf("--payload %s: %d lines, want %d", payload, seq, fixRecords)
		}
	}
}

// checkJSONRecord checks one decoded jsonl line against record seq.
func checkJSONRecord(t *testing.T, l *mmapwal.Log, m map[string]any, seq uint64, payload string) {
	t.Helper()
	fr := mustFrame(t, l, seq)
	num := func(k string) float64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Fatalf("record %d: %q is %T, want a number", seq, k, m[k])
		}
		return v
	}
	if num("v") != 1 || num("seq") != float64(seq) || num("offset") != float64(fr.Offset) ||
		num("length") != float64(fr.Length) || num("durable") != float64(fr.Durable) || num("crc") != float64(fr.CRC) ||
		m["segment"] != fr.Segment || m["type"] != fr.Type.String() {
		t.Fatalf("record %d: %v, want %+v", seq, m, fr)
	}
	if !slices.Contains([]string{"full", "first", "middle", "last"}, m["type"].(string)) {
		t.Fatalf("record %d: type %q", seq, m["type"])
	}
	p, has := m["payload"].(string)
	if !has {
		return
	}
	want := fixPayload(seq)
	var got []byte
	var err error
	switch payload {
	case "hex":
		got, err = hex.DecodeString(p)
	case "base64":
		got, err = base64.StdEncoding.DecodeString(p)
	case "text":
		got, err = []byte(p), nil
		want = []byte(escapeText(want))
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("record %d: payload %q (%v), want %q", seq, p, err, want)
	}
}

// TestEscapeText: printable text as it is, everything else escaped, and
// nothing that could move a terminal's cursor left in.
func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":      "plain text",
		"a\nb\tc\rd\\e":   `a\nb\tc\rd\\e`,
		"\x00\x1b[2J\xff": `\x00\x1b[2J\xff`,
		"héllo, 世界":       "héllo, 世界",
		"\u200b\u0085":    `\xe2\x80\x8b\xc2\x85`,
	} {
		if got := escapeText([]byte(in)); got != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadOnlyCommandsChangeNothing: every command but repair --apply and
// quarantine rm leaves every byte of the directory as it was (the repair
// and salvage dry runs included), whatever the log holds.
func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	builders := map[string]func(*testing.T, string){
		"intact":  intactLog,
		"torn":    func(t *testing.T, d string) { tornLog(t, d) },
		"corrupt": func(t *testing.T, d string) { corruptLog(t, d) },
	}
	for name, build := range builders {
		dir := t.TempDir()
		build(t, dir)
		before := dirHash(t, dir)
		for _, cmd := range [][]string{
			{"info", dir}, {"verify", dir}, {"verify", dir, "--strict"}, {"dump", dir, "--payload", "hex"},
			{"dump", dir, "--format", "jsonl"}, {"tail", dir}, {"tail", dir, "--durable"}, {"stats", dir},
			{"repair", dir}, {"repair", dir, "--salvage-to", "20"}, {"quarantine", dir}, {"quarantine", dir, "list"},
			{"dump-segment", filepath.Join(dir, segment.Name(2))},
		} {
			runCLI(cmd...)
			if after := dirHash(t, dir); after != before {
				t.Fatalf("%s: %v changed the directory:\nbefore:\n%s\nafter:\n%s", name, cmd[:len(cmd)-1], before, after)
			}
		}
	}
}

// TestRepairApply: --apply cuts the torn tail into the quarantine file the
// dry run named and removes the prepared segment; verify is 0 after, the
// records are those before the tail, and a second repair has nothing to do.
func TestRepairApply(t *testing.T) {
	dir := t.TempDir()
	torn := tornLog(t, dir)
	st, dry, _ := runCLI("repair", dir)
	if st != 0 || !strings.Contains(dry, "dry run") {
		t.Fatalf("dry run: exit %d:\n%s", st, dry)
	}
	q := segment.QuarantineName(segment.Name(3), 0xc38)
	if !strings.Contains(dry, q) {
		t.Fatalf("the dry run does not name %s:\n%s", q, dry)
	}
	if st, out, errs := runCLI("repair", "--apply", dir); st != 0 || !strings.Contains(out, q) {
		t.Fatalf("--apply: exit %d:\n%s%s", st, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, q)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, segment.Name(4))); !os.IsNotExist(err) {
		t.Fatalf("the prepared segment is still there: %v", err)
	}
	if st, out, _ := runCLI("verify", dir); st != 0 {
		t.Fatalf("verify after the repair: exit %d:\n%s", st, out)
	}
	requireRecords(t, dir, torn-1)
	if st, out, _ := runCLI("repair", dir, "--apply"); st != 0 || !strings.Contains(out, "nothing to repair") {
		t.Fatalf("second repair: exit %d:\n%s", st, out)
	}
	before := dirHash(t, dir)
	if st, out, errs := runCLI("quarantine", dir, "rm"); st != 0 || !strings.Contains(out, "removed 1 quarantine file") {
		t.Fatalf("quarantine rm: exit %d:\n%s%s", st, out, errs)
	}
	if after := dirHash(t, dir); after == before || strings.Contains(after, q) {
		t.Fatalf("quarantine rm left %s", q)
	}
}

// requireRecords checks that the log in dir holds exactly the fixed
// records 1..last.
func requireRecords(t *testing.T, dir string, last uint64) {
	t.Helper()
	l, err := mmapwal.Open(dir, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.FirstSeq() != 1 || l.LastSeq() != last {
		t.Fatalf("FirstSeq %d, LastSeq %d; want 1, %d", l.FirstSeq(), l.LastSeq(), last)
	}
	for seq := uint64(1); seq <= last; seq++ {
		b, err := l.Read(seq)
		if err != nil || !bytes.Equal(b, fixPayload(seq)) {
			t.Fatalf("record %d: %q, %v", seq, b, err)
		}
	}
}

// TestSalvageTo: --salvage-to SEQ --apply keeps exactly records 1..SEQ,
// inside a batch too, and the log is intact and writable after; a point
// above the intact records is a usage error that changes nothing; a locked
// log is not salvaged.
func TestSalvageTo(t *testing.T) {
	for _, keep := range []uint64{31, 25, 3} {
		dir := t.TempDir()
		corruptLog(t, dir)
		if st, out, errs := runCLI("repair", dir, "--salvage-to", "32"); st != 2 {
			t.Fatalf("--salvage-to above the intact records: exit %d:\n%s%s", st, out, errs)
		}
		st, out, errs := runCLI("repair", "--salvage-to", strconv.FormatUint(keep, 10), dir, "--apply")
		if st != 0 || !strings.Contains(out, "salvaged") {
			t.Fatalf("--salvage-to %d --apply: exit %d:\n%s%s", keep, st, out, errs)
		}
		if st, out, _ := runCLI("verify", dir); st != 0 {
			t.Fatalf("verify after --salvage-to %d: exit %d:\n%s", keep, st, out)
		}
		requireRecords(t, dir, keep)
		l, err := mmapwal.Open(dir, fixOptions())
		if err != nil {
			t.Fatal(err)
		}
		if seq, err := l.Append([]byte("next")); err != nil || seq != keep+1 {
			t.Fatalf("append after the salvage: %d, %v", seq, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		unlock := lockLog(t, dir) // as a writer holds it
		before := dirHash(t, dir)
		if st, _, errs := runCLI("repair", dir, "--salvage-to", "1", "--apply"); st != 4 || !strings.Contains(errs, "locked") {
			t.Fatalf("salvage of a locked log: exit %d: %s", st, errs)
		}
		if st, _, errs := runCLI("repair", dir, "--apply"); st != 4 || !strings.Contains(errs, "locked") {
			t.Fatalf("repair --apply of a locked log: exit %d: %s", st, errs)
		}
		if st, _, errs := runCLI("quarantine", dir, "rm"); st != 4 || !strings.Contains(errs, "locked") {
			t.Fatalf("quarantine rm of a locked log: exit %d: %s", st, errs)
		}
		if dirHash(t, dir) != before {
			t.Fatal("a refused command changed the directory")
		}
		unlock()
	}
}

// TestBesideLiveWriter: the read-only commands run again and again while a
// writer appends (and rotates) in the same directory: none fails, verify
// never reports a torn tail or damage, dump's records are the writer's,
// in order and contiguous.
//
// Both sides are bounded, so that a loaded machine makes the test slower,
// never longer: the writer appends liveRecords records (about 150
// segments), pausing every 10; the commands run while it writes, at least
// 5 and at most liveRounds rounds.
func TestBesideLiveWriter(t *testing.T) {
	const liveRecords, liveRounds = 3000, 100
	dir := t.TempDir()
	l, err := mmapwal.Open(dir, &mmapwal.Options{SegmentSize: fixSegSize, Durability: mmapwal.SyncInterval, SyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var stop, done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for seq := uint64(1); seq <= liveRecords && !stop.Load(); seq++ {
			if _, err := l.Append(fixPayload(seq)); err != nil {
				t.Error(err)
				return
			}
			if seq%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	defer func() { stop.Store(true); wg.Wait() }()
	rounds, live := 0, 0
	for rounds < 5 || (!done.Load() && rounds < liveRounds) {
		rounds++
		if !done.Load() {
			live++
		}
		for _, cmd := range [][]string{{"info", dir}, {"verify", dir}, {"stats", dir}, {"tail", dir, "-n", "5"}, {"quarantine", dir}} {
			if st, out, errs := runCLI(cmd...); st != 0 {
				t.Fatalf("round %d: %v beside a live writer: exit %d:\n%s%s", rounds, cmd[0], st, out, errs)
			}
		}
		st, out, errs := runCLI("dump", dir, "--format", "jsonl", "--payload", "base64")
		if st != 0 {
			t.Fatalf("dump beside a live writer: exit %d: %s", st, errs)
		}
		checkLiveDump(t, out)
	}
	stop.Store(true)
	wg.Wait()
	if st := l.Stats(); st.Rotations == 0 {
		t.Fatalf("the writer never rotated: %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st, out, _ := runCLI("verify", dir); st != 0 {
		t.Fatalf("verify after Close: exit %d:\n%s", st, out)
	}
	t.Logf("%d rounds of every read-only command, %d of them beside the writer", rounds, live)
}

// checkLiveDump checks that a dump of the live log is records 1..n of the
// writer, each the payload it appended.
func checkLiveDump(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	want := uint64(1)
	for sc.Scan() {
		var r jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		p, _ := base64.StdEncoding.DecodeString(*r.Payload)
		if r.Seq != want || !bytes.Equal(p, fixPayload(want)) {
			t.Fatalf("dump beside a live writer: record %d (%q), want %d", r.Seq, p, want)
		}
		want++
	}
}

// TestBadInput: every bad input gets one line on stderr, nothing on
// stdout, and its exit status: never a panic or a stack trace.
func TestBadInput(t *testing.T) {
	intact := t.TempDir()
	intactLog(t, intact)
	newer := t.TempDir()
	intactLog(t, newer)
	newerMeta(t, newer)
	newerSeg := t.TempDir()
	intactLog(t, newerSeg)
	seg := filepath.Join(newerSeg, segment.Name(2))
	b, _ := os.ReadFile(seg)
	binary.LittleEndian.PutUint16(b[8:], 3)
	binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
	os.WriteFile(seg, b, 0o644)
	empty := t.TempDir()
	notLog := t.TempDir()
	os.WriteFile(filepath.Join(notLog, "notes.txt"), []byte("hello"), 0o644)
	file := filepath.Join(notLog, "notes.txt")
	missing := filepath.Join(empty, "missing")

	for _, c := range []struct {
		args []string
		want int
		says string
	}{
		{[]string{"info", missing}, 4, "no such directory"},
		{[]string{"dump", file}, 4, "not a directory"},
		{[]string{"verify", empty}, 4, "not a mmapwal log"},
		{[]string{"info", notLog}, 4, "not a mmapwal log"},
		{[]string{"repair", empty}, 4, "not a mmapwal log"},
		{[]string{"repair", missing, "--apply"}, 4, "no such directory"},
		{[]string{"quarantine", empty, "rm"}, 4, "not a mmapwal log"},
		{[]string{"info", newer}, 4, "written by a newer mmapwal"},
		{[]string{"verify", newerSeg}, 4, "written by a newer mmapwal"},
		{[]string{"repair", newer, "--apply"}, 4, "written by a newer mmapwal"},
		{[]string{"dump-segment", seg}, 4, "written by a newer mmapwal"},
		{[]string{"dump-segment", filepath.Join(intact, "META")}, 4, "not a segment file"},
		{[]string{"dump-segment", missing}, 4, "no such file"},
		{[]string{"info", intact, "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"dump", "-x", intact}, 2, "flag provided but not defined: -x"},
		{[]string{"dump", intact, "--payload", "utf16"}, 2, `invalid value "utf16" for flag -payload`},
		{[]string{"dump", intact, "--format", "xml"}, 2, `invalid value "xml" for flag -format`},
		{[]string{"dump", intact, "--from", "abc"}, 2, `invalid value "abc" for flag -from`},
		{[]string{"dump", intact, "--from", "9", "--to", "5"}, 2, "--from 9 is above --to 5"},
		{[]string{"dump", intact, "--limit", "-1"}, 2, "must not be negative"},
		{[]string{"tail", intact, "-n", "-3"}, 2, "must not be negative"},
		{[]string{"tail", intact, "--for", "1s"}, 2, "--for needs -f"},
		{[]string{"tail", intact, "-f", "--for", "-1s"}, 2, "must not be negative"},
		{[]string{"info"}, 2, "missing DIR"},
		{[]string{"info", intact, intact}, 2, "unexpected argument"},
		{[]string{"quarantine", intact, "purge"}, 2, `unknown action "purge"`},
		{[]string{"repair", intact, "--salvage-to", "100"}, 2, "intact records end at 60"},
		{[]string{"frobnicate", intact}, 2, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
	} {
		before := dirHash(t, intact)
		st, out, errs := runCLI(c.args...)
		if st != c.want || !strings.Contains(errs, c.says) || out != "" || strings.Count(errs, "\n") != 1 ||
			strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine") {
			t.Errorf("%v: exit %d, want %d; stderr %q, want one line saying %q; stdout %q", c.args, st, c.want, errs, c.says, out)
		}
		if dirHash(t, intact) != before {
			t.Fatalf("%v changed a log", c.args)
		}
	}
	if _, err := os.Stat(filepath.Join(empty, "LOCK")); !os.IsNotExist(err) {
		t.Fatal("a command made a LOCK in a directory that is not a log")
	}
}

// TestHelp: -h, --help and help print the usage on stdout and exit 0;
// no command at all is a usage error.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "dump"}, {"dump", "-h"}, {"tail", "--help"}, {"verify", "DIR", "-h"}} {
		st, out, errs := runCLI(args...)
		if st != 0 || !strings.Contains(out, "usage: mmapwal") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, st, out, errs)
		}
	}
	if st, _, errs := runCLI(); st != 2 || !strings.Contains(errs, "usage: mmapwal") {
		t.Errorf("no arguments: exit %d, stderr %q", st, errs)
	}
}

// TestInterleavedFlags: flags before, after and around DIR, with = or
// apart, single or double dashed, mean the same; "--" ends the flags.
func TestInterleavedFlags(t *testing.T) {
	dir := t.TempDir()
	intactLog(t, dir)
	_, want, _ := runCLI("dump", dir, "--from", "3", "--to", "7", "--payload", "hex")
	if strings.Count(want, "\n") != 6 {
		t.Fatalf("dump --from 3 --to 7: %q", want)
	}
	for _, args := range [][]string{
		{"dump", "--from", "3", "--to", "7", "--payload", "hex", dir},
		{"dump", "--from=3", dir, "-to=7", "-payload", "hex"},
		{"dump", "-from", "3", dir, "--payload=hex", "--to", "7"},
		{"dump", "--from", "3", "--to", "7", "--payload", "hex", "--", dir},
	} {
		if st, out, errs := runCLI(args...); st != 0 || out != want {
			t.Errorf("%v: exit %d, %s\n%s, want\n%s", args, st, errs, out, want)
		}
	}
	// After "--", a name that looks like a flag is an argument.
	if st, _, errs := runCLI("info", "--", "-dir-"); st != 4 || !strings.Contains(errs, "-dir-: no such directory") {
		t.Errorf(`info -- -dir-: exit %d, %q`, st, errs)
	}
}

// TestFlagParsing: parse returns the arguments in order, whatever the
// flags around them.
func TestFlagParsing(t *testing.T) {
	f := newFlags("x")
	n := f.Int("n", 0, "")
	b := f.Bool("b", false, "")
	pos, err := f.parse([]string{"a", "-n", "3", "b", "-b", "--", "-c", "d"})
	if err != nil || *n != 3 || !*b || !reflect.DeepEqual(pos, []string{"a", "b", "-c", "d"}) || !f.set["n"] || !f.set["b"] {
		t.Fatalf("parse = %v, %v; n %d b %v set %v", pos, err, *n, *b, f.set)
	}
}

// TestBinary builds the command and runs it: the exit statuses reach the
// shell, and the output is the in-process run's.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "mmapwal")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	tornLog(t, dir)
	for _, c := range []struct {
		args []string
		want int
	}{{[]string{"info", dir}, 0}, {[]string{"verify", dir}, 1}, {[]string{"verify", dir, "--strict"}, 3}, {[]string{"dump", "--bogus", dir}, 2}, {[]string{"info", dir + "/nope"}, 4}} {
		cmd := exec.Command(bin, c.args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		st := 0
		if ee, ok := err.(*exec.ExitError); ok {
			st = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		wst, wout, werr := runCLI(c.args...)
		if st != c.want || st != wst || out.String() != wout || errb.String() != werr {
			t.Errorf("%v: exit %d (want %d), stdout %q stderr %q; in-process %d %q %q", c.args, st, c.want, out.String(), errb.String(), wst, wout, werr)
		}
	}
}
