package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// flags is a command's flag set, parsed interleaved with its arguments.
type flags struct {
	*flag.FlagSet
	set map[string]bool // the flags given on the command line
}

func newFlags(name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line, by parse's caller
	return &flags{FlagSet: fs, set: map[string]bool{}}
}

// parse parses args, flags and positional arguments interleaved: Go's flag
// package stops at the first argument, so it is called again after each
// one. "--" ends the flags: everything after it is an argument. It returns
// the arguments in order.
func (f *flags) parse(args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	f.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return append(pos, tail...), nil
}

// parseArgs parses args for c and checks that the named arguments are
// given (a name in brackets, "[list|rm]", may be left out). It returns
// them and ok, or a status to exit with (-h: the usage on stdout, 0; a bad
// flag, a missing or an extra argument: one line on stderr, 2).
func (c *cli) parseArgs(f *flags, args []string, names ...string) (pos []string, status int, ok bool) {
	pos, err := f.parse(args)
	required := 0
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		commandUsage(c.stdout, c.cmd)
		return nil, exitOK, false
	case err != nil:
		return nil, c.usageErr("%v", err), false
	case len(pos) < required:
		return nil, c.usageErr("missing %s", strings.Join(names[len(pos):required], " ")), false
	case len(pos) > len(names):
		return nil, c.usageErr("unexpected argument %q", pos[len(names)]), false
	}
	return pos, exitOK, true
}

// choice is a flag whose value is one of a list.
type choice struct {
	val     string
	allowed []string
}

func newChoice(def string, allowed ...string) *choice { return &choice{val: def, allowed: allowed} }

func (c *choice) String() string { return c.val }

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
	}
	c.val = s
	return nil
}
