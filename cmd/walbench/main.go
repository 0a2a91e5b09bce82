// Command walbench measures mmapwal's throughput and latency on a disk.
//
// Without flags it runs a short standard mix in a fresh temporary directory
// (128 B and 4 KiB records, SyncManual and SyncAlways, 1 and 16 writers,
// each run then replayed) and prints one table. Workload flags replace the
// mix by one custom run; `walbench -h` lists them.
//
// It drives only mmapwal's public API, the way pebble's `pebble bench
// write` drives pebble.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	if dir := os.Getenv(followerEnv); dir != "" { // a --followers-process child
		os.Exit(followerChild(dir, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const helpText = `walbench measures mmapwal's append throughput and latency, group commit,
disk use, replay speed and recovery time.

usage: walbench [flags]

Without workload flags it runs the standard mix (about 15 s on 2 cores):
128 B and 4 KiB records × sync=manual (counted runs, one Sync at the end)
and sync=always (1.5 s timed runs) × 1 and 16 writers, each replayed, in a
fresh directory under --dir (default: the system temp dir) that is removed
afterwards. Any workload flag (--records --duration --size --writers
--durability --batch --reserve --segment-size --replay --followers
--followers-process --rate) runs one custom run
instead; --json, --plot, --cpuprofile, --dir and --keep apply to either.

Workload:
  --records N          write N records in total (split over the writers)
  --duration D         write for D, e.g. 500ms, 10s (default 2s; not with --records)
  --size S             record size: 128, 4k, 64KiB, 1M, or a uniform range
                       min-max such as 100-4k (k, M, G are 1024-based; default 128)
  --writers K          concurrent writer goroutines (default 1)
  --durability M       always (every append returns durable; writers share
                       syncs), interval[=10ms], or manual (default always)
  --batch N            append with AppendBatch of N records per call
  --reserve            append with the zero-copy Reserve/Commit path (not with --batch)
  --segment-size B     segment file size, e.g. 64M (default: the engine's, 64 MiB)
  --replay             then close, time Open, iterate every record and verify
                       the count and the contents
  --followers N        N live followers read every record as it is appended
                       (NextWait) and time append -> NextWait return
  --followers-process  the followers are child processes reading the shared
                       mapping (OpenFollower); implies --followers 1
  --rate R             append at R calls/s over all writers (e.g. 1000)

Output:
  --json               print one JSON document on stdout instead of the table
  --plot FILE.svg      write latency percentiles and throughput over time as SVG
  --cpuprofile FILE    write a CPU profile of the whole invocation
  --dir DIR            create the benchmark directory inside DIR
  --keep               keep the benchmark directory (its path goes to stderr)

Measurement: each append call is timed with time.Now/time.Since (monotonic
clock); that adds about 20-40 ns to every call, which is visible at
millions of appends/s. Latencies come from a log-bucketed histogram whose
percentiles are within 0.4% of the exact ones. MB is 10^6 payload bytes.
Runs stop at their count or duration; unless sync=always, the run's time
includes one final Sync, so every record counted is durable. Disk bytes per
record are the segment files' bytes up to the end of their last frame,
measured after Close. A progress line goes to stderr, on a terminal only,
for runs over 2 s. Exit status: 0 ok, 1 a failure while running, 2 bad
flags or an unusable directory.
`

// run is walbench with its arguments and output streams; it returns the
// exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			code = fail(stderr, fmt.Errorf("internal error: %v", r))
		}
	}()
	cfg, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, helpText)
		return 0
	}
	if err != nil {
		return fail(stderr, err)
	}
	return execute(cfg, stdout, stderr)
}

// fail prints err as one line and returns its exit code: 2 for a usage
// error, 1 otherwise.
func fail(stderr io.Writer, err error) int {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintf(stderr, "walbench: %s\n", msg)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// execute runs cfg's runs and writes the reports.
func execute(cfg config, stdout, stderr io.Writer) int {
	var plot *os.File
	if cfg.plot != "" {
		f, err := os.Create(cfg.plot)
		if err != nil {
			return fail(stderr, usagef("--plot: %v", err))
		}
		plot = f
		defer f.Close()
	}
	if cfg.cpuprofile != "" {
		stop, err := startProfile(cfg.cpuprofile)
		if err != nil {
			return fail(stderr, err)
		}
		defer stop()
	}
	base, err := makeBase(cfg.dir)
	if err != nil {
		return fail(stderr, err)
	}
	if cfg.keep {
		defer fmt.Fprintf(stderr, "walbench: kept %s\n", base)
	} else {
		defer os.RemoveAll(base)
	}
	h := newHeader(base, cfg.keep, time.Now())
	results, err := runAll(cfg, base, stderr)
	if err != nil {
		if plot != nil {
			os.Remove(cfg.plot)
		}
		return fail(stderr, err)
	}
	if cfg.json {
		err = writeJSON(stdout, h, results)
	} else {
		err = writeTable(stdout, h, results)
	}
	if err == nil && plot != nil {
		err = writePlot(plot, h, results)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// runAll runs each spec in turn; an interrupt (Ctrl-C) stops the current
// run and skips the rest, so the directory is still cleaned up.
func runAll(cfg config, base string, stderr io.Writer) ([]*result, error) {
	abort := new(atomic.Bool)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		select {
		case <-sig:
			abort.Store(true)
		case <-quit:
		}
	}()
	e := env{base: base, keep: cfg.keep, abort: abort}
	if isTerminal(stderr) {
		e.progress = stderr
	}
	var results []*result
	for i, s := range cfg.runs {
		r, err := runBench(e, s, i)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", s.name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// makeBase creates the benchmark directory inside parent (the system temp
// dir when empty) and checks that it is usable.
func makeBase(parent string) (string, error) {
	what := "--dir"
	if parent == "" {
		parent, what = os.TempDir(), "temporary directory"
	}
	if fi, err := os.Stat(parent); err != nil {
		return "", usagef("%s: %v", what, err)
	} else if !fi.IsDir() {
		return "", usagef("%s: %s is not a directory", what, parent)
	}
	base, err := os.MkdirTemp(parent, "walbench-")
	if err != nil {
		return "", usagef("%s: cannot create a directory in it: %v", what, err)
	}
	return base, nil
}

// startProfile starts the CPU profile and returns what stops it.
func startProfile(name string) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, usagef("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, usagef("--cpuprofile: %v", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
