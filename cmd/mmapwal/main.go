// Command mmapwal is the operator's tool for mmapwal logs: it shows what a
// log directory holds, checks every frame, and repairs what recovery may
// repair, telling a torn tail (the residue of a crash before the bytes were
// synced, which the next Open cuts) from damage to durable data (which no
// Open repairs).
//
//	go install github.com/mmapwal/mmapwal/cmd/mmapwal@latest
//	mmapwal info DIR
//	mmapwal verify DIR [--strict]
//	mmapwal dump DIR [--from SEQ] [--to SEQ] [--limit N] [--payload none|len|hex|base64|text] [--format table|jsonl]
//	mmapwal dump-segment FILE
//	mmapwal tail DIR [-n N] [--from SEQ] [--durable] [--payload …] [--format …] [-f [--for D]]
//	mmapwal stats DIR
//	mmapwal repair DIR [--apply] [--salvage-to SEQ]
//	mmapwal quarantine DIR [list|rm]
//
// Flags may come before or after DIR. Exit status: 0 success, 1 a torn tail
// only (verify), 2 a usage error, 3 corruption of durable data, 4 the log
// cannot be read (a missing directory, not a log, a newer format version,
// an I/O error, a writer holding the lock that repair --apply needs).
//
// Every command but `repair --apply` and `quarantine rm` is read-only,
// takes no lock and is safe beside a live writer: it reads the log through
// a ReadOnly open of the library, and decides nothing about the format
// itself (the dry-run repair report and the salvage are the library's:
// mmapwal.PlanRepair, mmapwal.Salvage).
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit statuses, the same for every command.
const (
	exitOK         = 0 // success; verify: the log is intact
	exitTornTail   = 1 // verify: a torn tail only, which the next Open cuts
	exitUsage      = 2 // an unknown command or flag, a bad value (as Go's flag package)
	exitCorrupt    = 3 // damage to durable data (a torn tail with it included)
	exitUnreadable = 4 // the log cannot be read: missing, not a log, newer version, I/O error, locked
)

// command is one subcommand.
type command struct {
	name     string
	synopsis string // one line: arguments and flags
	summary  string // one line: what it does
	help     string // the rest of its help text
	run      func(c *cli, args []string) int
}

var commands = []*command{infoCmd, verifyCmd, dumpCmd, dumpSegmentCmd, tailCmd, statsCmd, repairCmd, quarantineCmd}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

const usageHead = `mmapwal shows, checks and repairs mmapwal write-ahead logs.

usage: mmapwal COMMAND [arguments and flags]   (flags may come before or after DIR)

commands:
`

const usageTail = `
exit status: 0 success; 1 a torn tail only (verify: the next Open cuts it);
2 usage error; 3 corruption of durable data; 4 the log cannot be read
(missing directory, not a log, newer format version, I/O error, locked).

Every command but "repair --apply" and "quarantine rm" is read-only, takes no
lock and is safe on a log that a live writer is appending to.
Run "mmapwal help COMMAND" (or "mmapwal COMMAND -h") for a command's flags.
`

// usage writes the top-level help.
func usage(w io.Writer) {
	io.WriteString(w, usageHead)
	tw := newTable(w, "  ")
	for _, c := range commands {
		tw.row(shortSynopsis(c.synopsis), c.summary)
	}
	tw.row("help [COMMAND]", "this text, or a command's")
	tw.flush()
	io.WriteString(w, usageTail)
}

// shortSynopsis is a synopsis for the list of commands: a long one keeps
// its arguments and says [flags] for the rest.
func shortSynopsis(s string) string {
	if len(s) <= 28 {
		return s
	}
	if i := strings.Index(s, " [-"); i > 0 {
		return s[:i] + " [flags]"
	}
	return s
}

// commandUsage writes a command's help.
func commandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: mmapwal %s\n\n%s\n", c.synopsis, c.summary+".")
	if c.help != "" {
		fmt.Fprintf(w, "\n%s", c.help)
	}
}

// run is the whole program: args without the program name; it returns the
// exit status. Everything goes to stdout and stderr, so that tests run it
// in-process.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(args[1:], stdout, stderr)
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "mmapwal: unknown command %q (run 'mmapwal help' for the list)\n", args[0])
		return exitUsage
	}
	return c.run(&cli{cmd: c, stdout: stdout, stderr: stderr}, args[1:])
}

func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintf(stderr, "mmapwal help: one command at a time, not %q\n", strings.Join(args, " "))
		return exitUsage
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "mmapwal help: unknown command %q (run 'mmapwal help' for the list)\n", args[0])
		return exitUsage
	}
	commandUsage(stdout, c)
	return exitOK
}

// cli is one run of a command.
type cli struct {
	cmd            *command
	stdout, stderr io.Writer
}

// fail writes one line to stderr, "mmapwal CMD: msg", and returns status.
func (c *cli) fail(status int, format string, args ...any) int {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	msg = strings.ReplaceAll(msg, "\n", " ")
	fmt.Fprintf(c.stderr, "mmapwal %s: %s\n", c.cmd.name, msg)
	return status
}

// usageErr reports a usage error.
func (c *cli) usageErr(format string, args ...any) int {
	return c.fail(exitUsage, format+" (run 'mmapwal help %s')", append(args, c.cmd.name)...)
}

// logErr reports err, which opening or reading the log at dir returned,
// with the exit status its kind calls for.
func (c *cli) logErr(dir string, err error) int {
	var ce *mmapwal.CorruptionError
	var pe *fs.PathError
	switch {
	case errors.Is(err, mmapwal.ErrUnsupportedVersion):
		return c.fail(exitUnreadable, "%s: written by a newer mmapwal (unsupported format version): upgrade mmapwal; the log was not changed (%v)", dir, err)
	case errors.Is(err, mmapwal.ErrLocked):
		return c.fail(exitUnreadable, "%s: locked: a writer has the log open%s; close it first", dir, holders(dir))
	case errors.As(err, &ce) && ce.Reason == mmapwal.ReasonMissingMeta && !hasSegments(dir):
		return c.fail(exitUnreadable, "%s: not a mmapwal log (no META and no segment files)", dir)
	case errors.As(err, &ce):
		return c.fail(exitCorrupt, "%s: %v", dir, err)
	case errors.Is(err, mmapwal.ErrInvalidArgument):
		return c.fail(exitUsage, "%s: %v", dir, err)
	case errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) && pe.Path == dir:
		return c.fail(exitUnreadable, "%s: no such directory", dir)
	}
	return c.fail(exitUnreadable, "%s: %v", dir, err)
}

// holders says who holds the writer's lock of dir, for messages: "" when
// unknown.
func holders(dir string) string {
	pids, known, err := mmapwal.LockHolders(dir)
	if err != nil || !known || len(pids) == 0 {
		return ""
	}
	return " (" + pidList(pids) + ")"
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = fmt.Sprint("pid ", p)
		if p == 0 {
			s[i] = "a process in another pid namespace"
		}
	}
	return strings.Join(s, ", ")
}

// hasSegments reports whether dir holds any file named like a segment.
func hasSegments(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, ok := segment.ParseName(e.Name()); ok {
			return true
		}
	}
	return false
}

// checkDir returns a non-zero status, reported, when dir is not a directory
// that can be read.
func (c *cli) checkDir(dir string) int {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.fail(exitUnreadable, "%s: no such directory", dir)
	case err != nil:
		return c.logErr(dir, err)
	case !st.IsDir():
		return c.fail(exitUnreadable, "%s: not a directory", dir)
	}
	return exitOK
}

// openLog opens the log in dir ReadOnly: no lock, no change, safe beside a
// live writer. It returns a non-zero status, reported, when it cannot.
func (c *cli) openLog(dir string) (*mmapwal.Log, int) {
	if st := c.checkDir(dir); st != exitOK {
		return nil, st
	}
	l, err := mmapwal.Open(dir, &mmapwal.Options{ReadOnly: true})
	if err != nil {
		return nil, c.logErr(dir, err)
	}
	return l, exitOK
}

// writer describes who holds the writer's lock of dir: live is true when
// some process does (a tail being written is then no torn tail).
func writer(dir string) (desc string, live bool) {
	pids, known, err := mmapwal.LockHolders(dir)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")", false
	case !known:
		return "unknown (this system lists no locks)", false
	case len(pids) == 0:
		return "none (the lock is free)", false
	}
	sort.Ints(pids)
	return pidList(pids) + " holds the writer's lock", true
}
