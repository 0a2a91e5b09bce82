package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// results is where a report goes besides stdout: with -out, a text file
// and an SVG beside it.
type results struct {
	txt  *os.File // nil without -out
	base string   // path without extension
}

// openResults creates DIR/<date>-<machine><suffix>.txt for -out DIR, kind
// being "" for the workloads and "sweep" for the sweep.
func openResults(c config, kind string, start time.Time) (*results, error) {
	if c.out == "" {
		return &results{}, nil
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, err
	}
	name := start.UTC().Format(time.DateOnly) + "-" + c.machine
	if c.quick {
		name += "-quick"
	}
	if kind != "" {
		name += "-" + kind
	}
	r := &results{base: filepath.Join(c.out, name)}
	f, err := os.Create(r.base + ".txt")
	if err != nil {
		return nil, err
	}
	r.txt = f
	return r, nil
}

// out is where the report is printed.
func (r *results) out() io.Writer {
	if r.txt == nil {
		return os.Stdout
	}
	return io.MultiWriter(os.Stdout, r.txt)
}

// close writes the SVG with plot (with -out) and closes the text file,
// saying on stderr where both are.
func (r *results) close(plot func(io.Writer) error) error {
	if r.txt == nil {
		return nil
	}
	err := r.txt.Close()
	f, cerr := os.Create(r.base + ".svg")
	if cerr != nil {
		return firstErr(err, cerr)
	}
	err = firstErr(err, plot(f), f.Close())
	fmt.Fprintf(os.Stderr, "wrote %s.txt and %s.svg\n", r.base, r.base)
	return err
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cpuModel returns the "model name" of /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

var (
	nonName   = regexp.MustCompile(`[^a-z0-9]+`)
	cpuFiller = regexp.MustCompile(`\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$|\b\d+-core\b`)
)

// fileName makes name safe in a file name: lowercase letters, digits and
// single dashes.
func fileName(name string) string {
	return strings.Trim(nonName.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// machineName is the default -machine: the host name's first label, at
// most three words of the CPU model and the CPU count, e.g.
// "vm-amd-epyc-2c" or "build1-intel-xeon-gold-8c".
func machineName() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(strings.ToLower(host), ".")
	model := cpuFiller.ReplaceAllString(strings.ToLower(cpuModel()), " ")
	words := strings.Fields(nonName.ReplaceAllString(model, " "))
	words = words[:min(len(words), 3)]
	parts := append([]string{nonName.ReplaceAllString(host, "")}, words...)
	parts = append(parts, fmt.Sprintf("%dc", runtime.NumCPU()))
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "-")
}
