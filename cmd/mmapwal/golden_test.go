package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/segment"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// runCLI runs the command in-process and returns its status and outputs.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	st := run(args, &out, &errb)
	return st, out.String(), errb.String()
}

// session runs each command line in turn (DIR stands for dir) and returns
// the transcript: the command, its exit status, its stdout, its stderr
// (each line prefixed "stderr: "), with dir written DIR. It fails the test
// on a panic or a stack trace, or on stderr that is not one line per
// message.
func session(t *testing.T, dir string, cmds ...string) string {
	t.Helper()
	var sb strings.Builder
	for _, cmd := range cmds {
		args := strings.Fields(cmd)
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "DIR", dir)
		}
		st, out, errs := runCLI(args...)
		if strings.Contains(out+errs, "panic") || strings.Contains(out+errs, "goroutine ") {
			t.Fatalf("%s: a panic or a stack trace:\n%s%s", cmd, out, errs)
		}
		fmt.Fprintf(&sb, "$ mmapwal %s\n", cmd)
		sb.WriteString(strings.ReplaceAll(out, dir, "DIR"))
		for _, line := range strings.SplitAfter(strings.ReplaceAll(errs, dir, "DIR"), "\n") {
			if line != "" {
				sb.WriteString("stderr: " + line)
			}
		}
		fmt.Fprintf(&sb, "[exit %d]\n\n", st)
	}
	return sb.String()
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./cmd/mmapwal -run %s -update' to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-want +got):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines that differ, for failure messages.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			fmt.Fprintf(&sb, "line %d:\n-%s\n+%s\n", i+1, a, b)
		}
	}
	return sb.String()
}

var (
	seg2 = "DIR/" + segment.Name(2)
	seg3 = "DIR/" + segment.Name(3)
	seg4 = "DIR/" + segment.Name(4)
)

// TestGoldenIntact: every read-only command on the fixed intact log.
func TestGoldenIntact(t *testing.T) {
	dir := t.TempDir()
	intactLog(t, dir)
	golden(t, "intact", session(t, dir,
		"info DIR",
		"verify DIR",
		"verify DIR --strict",
		"dump DIR --to 12",
		"dump DIR --from 20 --to 26 --payload hex",
		"dump --payload text --format jsonl --from 7 --limit 3 DIR",
		"dump DIR --from 4 --limit 3 --payload base64 --format jsonl",
		"dump DIR --from 58 --payload none",
		"tail DIR",
		"tail -n 3 DIR --payload len --format jsonl",
		"tail DIR --from 55 -n 2",
		"stats DIR",
		"repair DIR",
		"quarantine DIR",
		"dump-segment "+seg2,
		"dump-segment "+seg3,
	))
}

// TestGoldenTorn: the fixed log with a torn tail and a prepared segment:
// what each command says, then the repair, and the log after it.
func TestGoldenTorn(t *testing.T) {
	dir := t.TempDir()
	tornLog(t, dir)
	golden(t, "torn", session(t, dir,
		"info DIR",
		"verify DIR",
		"verify --strict DIR",
		"dump DIR --from 55",
		"tail -n 3 DIR",
		"tail DIR -n 3 --durable",
		"stats DIR",
		"dump-segment "+seg3,
		"dump-segment "+seg4,
		"repair DIR",
		"repair DIR --apply",
		"verify DIR",
		"quarantine DIR list",
		"info DIR",
	))
}

// TestGoldenCorrupt: the fixed log with a damaged record in a sealed
// segment: what each command says, the refused repair, the salvage's dry
// run and the salvage, and the log after it.
func TestGoldenCorrupt(t *testing.T) {
	dir := t.TempDir()
	corruptLog(t, dir)
	golden(t, "corrupt", session(t, dir,
		"info DIR",
		"verify DIR",
		"dump DIR --from 28 --to 35",
		"tail DIR -n 2 --payload none",
		"dump-segment "+seg2,
		"repair DIR",
		"repair DIR --apply",
		"repair DIR --salvage-to 40",
		"repair DIR --salvage-to 25",
		"repair --apply DIR --salvage-to 25",
		"verify DIR",
		"info DIR",
		"quarantine DIR",
		"dump DIR --from 24 --payload none",
	))
}

// TestGoldenHelp: the usage texts.
func TestGoldenHelp(t *testing.T) {
	cmds := []string{"help"}
	for _, c := range commands {
		cmds = append(cmds, c.name+" -h")
	}
	golden(t, "help", session(t, t.TempDir(), cmds...))
}

// readmeDir is the directory the README's session shows.
const readmeDir = "/var/lib/orders/wal"

// TestREADMESession: the session in the README's
// Operations section is a real one: the transcript of these commands on
// the fixed torn and corrupt logs, byte for byte.
func TestREADMESession(t *testing.T) {
	torn, corrupt := t.TempDir(), t.TempDir()
	tornLog(t, torn)
	corruptLog(t, corrupt)
	s := shellSession(t, torn, "info DIR", "verify DIR", "repair DIR", "repair DIR --apply", "verify DIR") +
		shellSession(t, corrupt, "verify DIR", "repair DIR", "repair DIR --salvage-to 31", "repair DIR --salvage-to 31 --apply", "verify DIR")
	golden(t, "readme-session", s)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(s, "\n\n\n") {
		if !strings.Contains(string(readme), strings.TrimSpace(block)) {
			t.Errorf("README.md's Operations section does not show this part of the session (testdata/readme-session.golden):\n%s", block)
		}
	}
}

// shellSession is session as a shell shows it: DIR is readmeDir, the exit
// status is echoed when it is not 0, stderr lines are as they are.
func shellSession(t *testing.T, dir string, cmds ...string) string {
	t.Helper()
	var sb strings.Builder
	for _, cmd := range cmds {
		args := strings.Fields(strings.ReplaceAll(cmd, "DIR", dir))
		st, out, errs := runCLI(args...)
		fmt.Fprintf(&sb, "$ mmapwal %s\n%s%s", strings.ReplaceAll(cmd, "DIR", readmeDir), out, errs)
		if st != 0 {
			fmt.Fprintf(&sb, "$ echo $?\n%d\n", st)
		}
	}
	return strings.ReplaceAll(sb.String(), dir, readmeDir) + "\n\n"
}
