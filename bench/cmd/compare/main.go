// Command compare runs the benchmark workloads on mmapwal and on the Go
// write-ahead logs it is measured against, interleaved over several rounds,
// and prints the median of every measure with its ratio to mmapwal.
//
// Usage:
//
//	go run ./cmd/compare [-quick] [-sweep] [-rounds 3] [-dir DIR] [-only a,b] [-base mmapwal]
//	                     [-workloads i,iv] [-out DIR] [-machine NAME] [-note TEXT]
//
// With -out, the full report also goes to DIR/<date>-<machine>.txt and a
// plot of throughput by workload to DIR/<date>-<machine>.svg (-quick adds
// "-quick" to the names, -sweep "-sweep"). <date> is the UTC date of the
// start, YYYY-MM-DD; <machine> is -machine, or a short name built from the
// host name's first label, the CPU model (/proc/cpuinfo "model name",
// lowercased, trademark signs, "CPU", "Processor" and clock speed dropped,
// at most three words) and the number of CPUs: "vm-amd-epyc-2c" (a -machine
// is lowercased and anything but letters and digits becomes "-"). -note is
// printed in the header (say there what else ran on the machine).
//
// Two rounds always run; a later round that would end past -budget (judged
// by the round before it) is not started, and the report says how many
// rounds it has.
//
// The workloads (sizes of the full run; -quick in brackets):
//
//	(i)   1M × 128 B appends, one per call, then one Sync [100k]
//	(ii)  250k × 4 KiB appends, then one Sync [25k]
//	(iii) one writer, durable 128 B appends, for 2 s [1 s]
//	(iv)  16 writers, durable 128 B appends, for 1 s [0.5 s]
//	(v)   replay of the log of (i), cold (its pages dropped from the page
//	      cache) and warm
//	(vi)  disk bytes per record of the log of (i)
//
// After the per-workload tables, the report gives the ratios of mmapwal's
// medians to every peer's and floor's medians measured in the same run, and
// a summary of every adapter relative to -base.
//
// -workloads runs only the workloads listed (i, v and vi come from the
// same run, so any of them runs all three). For a log that counts its
// flushes (mmapwal), (iii) and (iv) also report records per flush.
//
// -sweep runs the size sweep instead (see sweep.go): append throughput for
// records of 64 B to 1 MiB, and Open+replay time for logs of 16 MiB to
// 4 GiB, on mmapwal, pebble and raw-chunked (or -only).
//
// Each run is timed from the first append to the end of the final sync
// (replay: from Open to the end of the replay). Within a round, every
// workload runs on every adapter before the next workload starts, in an
// order rotated from round to round, so that slow drifts of the machine
// spread over all adapters. Every run reads back what it wrote (the
// replays in every round, the other workloads in the first) and fails if a
// record is missing or differs.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mmapwal/mmapwal/bench"
)

// config is the command line.
type config struct {
	quick      bool
	rounds     int
	dir        string
	only       string
	workloads  string
	base       string
	writers    int
	n128, n4k  int
	serial     time.Duration
	concurrent time.Duration
	dropAll    bool
	verbose    bool
	budget     time.Duration
	sweep      bool
	out        string // directory for the results files; "" for none
	machine    string
	note       string
}

func main() {
	c := parseFlags()
	run := run
	if c.sweep {
		run = runSweep
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line and fills in the sizes of -quick.
func parseFlags() config {
	var c config
	flag.BoolVar(&c.quick, "quick", false, "small sizes: 100k×128 B, 25k×4 KiB, 1 s serial, 0.5 s concurrent")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds; every measure is the median over rounds")
	flag.StringVar(&c.dir, "dir", "", "directory for the logs (default: a new directory under $TMPDIR, removed at the end)")
	flag.StringVar(&c.only, "only", "", "comma-separated adapters to run (default: all)")
	flag.StringVar(&c.workloads, "workloads", "", "comma-separated workloads to run: i, ii, iii, iv, v, vi (default: all)")
	flag.StringVar(&c.base, "base", "mmapwal", "adapter the ratios are relative to (raw if this one is missing)")
	flag.IntVar(&c.writers, "writers", 16, "writers of workload (iv)")
	flag.IntVar(&c.n128, "n128", 0, "records of workload (i) (default 1M, quick 100k)")
	flag.IntVar(&c.n4k, "n4k", 0, "records of workload (ii) (default 250k, quick 25k)")
	flag.DurationVar(&c.serial, "serial", 0, "duration of workload (iii) (default 2s, quick 1s)")
	flag.DurationVar(&c.concurrent, "concurrent", 0, "duration of workload (iv) (default 1s, quick 0.5s)")
	flag.BoolVar(&c.dropAll, "dropcaches", false, "before cold replays, also empty the whole page cache (/proc/sys/vm/drop_caches; root)")
	flag.BoolVar(&c.verbose, "v", false, "print every run")
	flag.DurationVar(&c.budget, "budget", -1, "start no round after the second that would end after this much time, judged by the round before (default 9m30s, quick 1m50s; 0: no limit)")
	flag.BoolVar(&c.sweep, "sweep", false, "run the size sweep (record sizes 64 B..1 MiB, log sizes 16 MiB..4 GiB) instead of the workloads")
	flag.StringVar(&c.out, "out", "", "also write the report to `DIR`/<date>-<machine>.txt and a plot to .svg")
	flag.StringVar(&c.machine, "machine", "", "machine name in the results file names (default: host, CPU model and count)")
	flag.StringVar(&c.note, "note", "", "a note for the report's header, e.g. what else ran on the machine")
	flag.Parse()
	if c.machine == "" {
		c.machine = machineName()
	}
	c.machine = fileName(c.machine)
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if c.quick {
				*v = quick
			}
		}
	}
	defDur := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if c.quick {
				*v = quick
			}
		}
	}
	def(&c.n128, 1_000_000, 100_000)
	def(&c.n4k, 250_000, 25_000)
	defDur(&c.serial, 2*time.Second, time.Second)
	defDur(&c.concurrent, time.Second, 500*time.Millisecond)
	if c.budget < 0 {
		c.budget = 9*time.Minute + 30*time.Second
		if c.quick {
			c.budget = time.Minute + 50*time.Second
		}
	}
	return c
}

// adapters returns the adapters selected by -only.
func (c config) adapters() ([]bench.Adapter, error) {
	all := bench.Adapters()
	if c.only == "" {
		return all, nil
	}
	var out []bench.Adapter
	for _, name := range strings.Split(c.only, ",") {
		a, ok := bench.Lookup(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("unknown adapter %q", name)
		}
		out = append(out, a)
	}
	return out, nil
}

// selected returns the steps that -workloads asks for.
func (c config) selected() ([]step, error) {
	all := steps(c)
	if c.workloads == "" {
		return all, nil
	}
	names := map[string]string{"i": "bulk128", "v": "bulk128", "vi": "bulk128", "ii": "bulk4k", "iii": "serial", "iv": "concurrent"}
	want := map[string]bool{}
	for _, w := range strings.Split(c.workloads, ",") {
		name, ok := names[strings.TrimSpace(w)]
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (want i, ii, iii, iv, v or vi)", w)
		}
		want[name] = true
	}
	return slices.DeleteFunc(all, func(s step) bool { return !want[s.name] }), nil
}

// run runs every round and prints the report.
func run(c config) error {
	adapters, err := c.adapters()
	if err != nil {
		return err
	}
	selected, err := c.selected()
	if err != nil {
		return err
	}
	dir, cleanup, err := workDir(c.dir)
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	res, err := openResults(c, "", start)
	if err != nil {
		return err
	}
	out := res.out()
	rep := newReport(c, adapters)
	rep.header(out, dir)
	var last time.Duration // duration of the last round: the first one also verifies
	for round := range c.rounds {
		if c.budget > 0 && round >= 2 && time.Since(start)+last > c.budget {
			fmt.Fprintf(os.Stderr, "stopping after %d rounds: another would end past -budget %s\n", round, c.budget)
			break
		}
		roundStart := time.Now()
		for _, step := range selected {
			for _, a := range rotate(eligible(adapters, step.runs), round) {
				runDir := filepath.Join(dir, fmt.Sprintf("r%d-%s-%s", round+1, step.name, a.Name))
				if err := os.MkdirAll(runDir, 0o755); err != nil {
					return err
				}
				runtime.GC()
				t := time.Now()
				err := step.run(rep, a, runDir, round)
				os.RemoveAll(runDir)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round+1, step.name, a.Name, err)
				}
				if c.verbose {
					fmt.Fprintf(os.Stderr, "round %d %-10s %-16s %6.2fs\n", round+1, step.name, a.Name, time.Since(t).Seconds())
				}
			}
		}
		last = time.Since(roundStart)
		rep.rounds = round + 1
		fmt.Fprintf(os.Stderr, "round %d/%d done after %s\n", round+1, c.rounds, time.Since(start).Round(time.Second))
	}
	rep.print(out)
	fmt.Fprintf(out, "\ntotal time %s\n", time.Since(start).Round(time.Second))
	return res.close(rep.chart())
}

// workDir returns the directory for the logs and how to clean it up.
func workDir(dir string) (string, func(), error) {
	if dir != "" {
		d, err := os.MkdirTemp(dir, "compare-")
		return d, func() { os.RemoveAll(d) }, err
	}
	d, err := os.MkdirTemp("", "mmapwal-compare-")
	return d, func() { os.RemoveAll(d) }, err
}

// step is one workload of a round.
type step struct {
	name string
	runs bench.Workload
	run  func(rep *report, a bench.Adapter, dir string, round int) error
}

// steps returns the workloads in the order a round runs them.
func steps(c config) []step {
	return []step{
		{"bulk128", bench.Bulk | bench.Replay, func(rep *report, a bench.Adapter, dir string, _ int) error {
			r, err := bench.RunBulk(a, dir, bench.BulkConfig{N: c.n128, Size: 128, Replay: a.Runs&bench.Replay != 0, Verify: true, DropAll: c.dropAll})
			if err != nil {
				return err
			}
			if a.Runs&bench.Bulk != 0 {
				rep.add(wBulk128, a.Name, r.Append)
			}
			if a.Runs&bench.Replay != 0 {
				rep.add(wDisk, a.Name, r.Append)
				rep.add(wWarm, a.Name, r.Warm)
				if a.Reopen {
					rep.add(wCold, a.Name, r.Cold)
				}
			}
			return nil
		}},
		{"bulk4k", bench.Bulk, func(rep *report, a bench.Adapter, dir string, round int) error {
			r, err := bench.RunBulk(a, dir, bench.BulkConfig{N: c.n4k, Size: 4096, Verify: round == 0})
			if err == nil {
				rep.add(wBulk4K, a.Name, r.Append)
			}
			return err
		}},
		{"serial", bench.Serial, func(rep *report, a bench.Adapter, dir string, round int) error {
			r, err := bench.RunSerial(a, dir, c.serial, 128, round == 0)
			if err == nil {
				rep.add(wSerial, a.Name, r)
			}
			return err
		}},
		{"concurrent", bench.Concurrent, func(rep *report, a bench.Adapter, dir string, round int) error {
			r, err := bench.RunConcurrent(a, dir, c.writers, c.concurrent, 128, round == 0)
			if err == nil {
				rep.add(wConcurrent, a.Name, r)
			}
			return err
		}},
	}
}

// eligible returns the adapters that take part in any of runs.
func eligible(adapters []bench.Adapter, runs bench.Workload) []bench.Adapter {
	var out []bench.Adapter
	for _, a := range adapters {
		if a.Runs&runs != 0 {
			out = append(out, a)
		}
	}
	return out
}

// rotate returns adapters rotated left by round positions.
func rotate(adapters []bench.Adapter, round int) []bench.Adapter {
	if len(adapters) == 0 {
		return nil
	}
	k := round % len(adapters)
	return slices.Concat(adapters[k:], adapters[:k])
}
