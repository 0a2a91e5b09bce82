package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mmapwal/mmapwal/mmapwal"
)

// usageError is a bad flag or an unusable setting: run prints it as one line
// and exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// spec is one benchmark run: a workload on one fresh log.
type spec struct {
	name        string
	records     int64         // records to write; 0 when the run is timed
	duration    time.Duration // how long to write; 0 when the run is counted
	sizeMin     int           // record size, uniform in [sizeMin, sizeMax]
	sizeMax     int
	writers     int
	durability  mmapwal.Durability
	interval    time.Duration // SyncInterval under mmapwal.SyncInterval
	batch       int           // records per AppendBatch; 0 means Append
	reserve     bool          // Reserve/Commit instead of Append
	segmentSize int64         // 0: the engine's default
	replay      bool          // reopen, time Open, iterate and verify
	followers   int           // live followers reading while the writers append
	followProc  bool          // the followers are child processes (OpenFollower), not goroutines
	rate        float64       // appends (calls) per second over all writers; 0: as fast as possible
}

// config is the parsed command line.
type config struct {
	runs       []spec
	json       bool
	cpuprofile string
	plot       string
	dir        string
	keep       bool
}

// Defaults of the standard mix: counted runs for the non-durable modes,
// timed runs for the durable one (its speed is the disk's, which varies by
// three orders of magnitude).
const (
	mixSmallRecords = 500_000
	mixLargeRecords = 40_000
	mixDurable      = 1500 * time.Millisecond
	customDuration  = 2 * time.Second
	maxWriters      = 4096
	maxFollowers    = 64
)

// standardMix is what walbench runs without workload flags: 128 B and 4 KiB
// records, SyncManual and SyncAlways, 1 and 16 writers, each then replayed.
func standardMix() []spec {
	var runs []spec
	for _, size := range []int{128, 4 << 10} {
		for _, d := range []mmapwal.Durability{mmapwal.SyncManual, mmapwal.SyncAlways} {
			for _, w := range []int{1, 16} {
				s := spec{sizeMin: size, sizeMax: size, writers: w, durability: d, replay: true}
				switch {
				case d == mmapwal.SyncAlways:
					s.duration = mixDurable
				case size == 128:
					s.records = mixSmallRecords
				default:
					s.records = mixLargeRecords
				}
				s.name = s.defaultName()
				runs = append(runs, s)
			}
		}
	}
	return runs
}

// defaultName names a run by its parameters, key=value as benchstat likes.
func (s spec) defaultName() string {
	name := fmt.Sprintf("size=%s/sync=%s/writers=%d", formatSize(s.sizeMin, s.sizeMax), durabilityName(s.durability, s.interval), s.writers)
	if s.batch > 0 {
		name += fmt.Sprintf("/batch=%d", s.batch)
	}
	if s.reserve {
		name += "/reserve"
	}
	if s.rate > 0 {
		name += "/rate=" + strconv.FormatFloat(s.rate, 'g', -1, 64)
	}
	if s.followers > 0 {
		name += fmt.Sprintf("/followers=%d", s.followers)
		if s.followProc {
			name += "-process"
		}
	}
	return name
}

func durabilityName(d mmapwal.Durability, interval time.Duration) string {
	if d == mmapwal.SyncInterval {
		return "interval=" + interval.String()
	}
	return d.String()
}

// workloadFlags are the flags that replace the standard mix by one custom
// run; the others (output and placement) apply to either.
var workloadFlags = map[string]bool{
	"records": true, "duration": true, "size": true, "writers": true, "durability": true,
	"batch": true, "reserve": true, "segment-size": true, "replay": true,
	"followers": true, "followers-process": true, "rate": true,
}

// rawFlags holds the flag values as typed, before parsing: parsing them
// ourselves gives one clear message per bad value.
type rawFlags struct {
	records, duration, size, writers, durability, batch, segmentSize string
	followers, rate                                                  string
	reserve, replay, json, keep, followProc                          bool
	cpuprofile, plot, dir                                            string
}

func newFlagSet(r *rawFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("walbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&r.records, "records", "", "write `N` records (total over all writers)")
	fs.StringVar(&r.duration, "duration", "", "write for `D` (e.g. 5s); excludes --records; default 2s for a custom run")
	fs.StringVar(&r.size, "size", "128", "record `size` in bytes: 128, 4k, 64KiB, 1M, or a uniform range min-max (k = 1024)")
	fs.StringVar(&r.writers, "writers", "1", "concurrent writer goroutines `K`")
	fs.StringVar(&r.durability, "durability", "always", "`mode`: always (sync per append, group commit), interval[=10ms], manual")
	fs.StringVar(&r.batch, "batch", "", "append with AppendBatch of `N` records per call")
	fs.BoolVar(&r.reserve, "reserve", false, "append with the zero-copy Reserve/Commit path (not with --batch)")
	fs.StringVar(&r.segmentSize, "segment-size", "", "segment file size in `bytes` (e.g. 64M); default the engine's")
	fs.StringVar(&r.followers, "followers", "", "run `N` live followers that read every record as it is appended")
	fs.BoolVar(&r.followProc, "followers-process", false, "run the followers in child processes (OpenFollower) instead of goroutines")
	fs.StringVar(&r.rate, "rate", "", "append at `R` calls per second over all writers (default: as fast as possible)")
	fs.BoolVar(&r.replay, "replay", false, "after writing: close, time Open, iterate everything and verify the count")
	fs.BoolVar(&r.json, "json", false, "print one JSON document on stdout instead of the table")
	fs.StringVar(&r.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&r.plot, "plot", "", "write latency percentiles and throughput over time to `file.svg`")
	fs.StringVar(&r.dir, "dir", "", "create the benchmark directory inside `dir` (default: the system temp dir)")
	fs.BoolVar(&r.keep, "keep", false, "keep the benchmark directory (its path goes to stderr)")
	return fs
}

// parseArgs parses the command line. Errors are *usageError, except
// flag.ErrHelp for -h.
func parseArgs(args []string) (config, error) {
	var r rawFlags
	fs := newFlagSet(&r)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, usagef("%v (walbench -h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return config{}, usagef("unexpected argument %q (walbench takes only flags)", fs.Arg(0))
	}
	cfg := config{json: r.json, cpuprofile: r.cpuprofile, plot: r.plot, dir: r.dir, keep: r.keep}
	custom := false
	fs.Visit(func(f *flag.Flag) { custom = custom || workloadFlags[f.Name] })
	if !custom {
		cfg.runs = standardMix()
		return cfg, nil
	}
	s, err := r.spec()
	if err != nil {
		return config{}, err
	}
	cfg.runs = []spec{s}
	return cfg, nil
}

// spec turns the workload flags into one run.
func (r *rawFlags) spec() (spec, error) {
	var s spec
	var err error
	if r.records != "" && r.duration != "" {
		return s, usagef("--records and --duration are mutually exclusive")
	}
	if r.records != "" {
		if s.records, err = parsePositive("--records", r.records, math.MaxInt64); err != nil {
			return s, err
		}
	} else if r.duration != "" {
		if s.duration, err = time.ParseDuration(r.duration); err != nil || s.duration <= 0 {
			return s, usagef("--duration: cannot parse %q (want a positive duration such as 500ms or 10s)", r.duration)
		}
	} else {
		s.duration = customDuration
	}
	if s.sizeMin, s.sizeMax, err = parseSize(r.size); err != nil {
		return s, usagef("--size: %v", err)
	}
	w, err := parsePositive("--writers", r.writers, maxWriters)
	if err != nil {
		return s, err
	}
	s.writers = int(w)
	if s.durability, s.interval, err = parseDurability(r.durability); err != nil {
		return s, usagef("--durability: %v", err)
	}
	if r.batch != "" {
		b, err := parsePositive("--batch", r.batch, math.MaxInt32)
		if err != nil {
			return s, err
		}
		s.batch = int(b)
	}
	if r.reserve && s.batch > 0 {
		return s, usagef("--reserve and --batch cannot be combined (Reserve commits one record at a time)")
	}
	if r.segmentSize != "" {
		if s.segmentSize, err = parseBytes(r.segmentSize); err != nil || s.segmentSize <= 0 {
			return s, usagef("--segment-size: cannot parse %q (want bytes such as 64M or 1GiB)", r.segmentSize)
		}
	}
	s.reserve, s.replay = r.reserve, r.replay
	if r.followers != "" {
		n, err := parsePositive("--followers", r.followers, maxFollowers)
		if err != nil {
			return s, err
		}
		s.followers = int(n)
	}
	if r.followProc {
		if s.followers == 0 {
			s.followers = 1
		}
		s.followProc = true
	}
	if s.followers > 0 && s.sizeMin < stampLen {
		return s, usagef("--size: followers need records of at least %d bytes (each carries its append time)", stampLen)
	}
	if r.rate != "" {
		if s.rate, err = strconv.ParseFloat(r.rate, 64); err != nil || s.rate <= 0 || math.IsInf(s.rate, 0) || math.IsNaN(s.rate) {
			return s, usagef("--rate: cannot parse %q (want a positive number of appends per second)", r.rate)
		}
	}
	s.name = s.defaultName()
	return s, nil
}

// parsePositive parses a decimal integer in [1, limit].
func parsePositive(flagName, v string, limit int64) (int64, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return 0, usagef("%s: cannot parse %q (want a positive integer)", flagName, v)
	}
	if n < 1 || n > limit {
		return 0, usagef("%s: %d out of range (want 1..%d)", flagName, n, limit)
	}
	return n, nil
}

// parseDurability parses always, manual, interval or interval=D.
func parseDurability(v string) (mmapwal.Durability, time.Duration, error) {
	name, arg, hasArg := strings.Cut(strings.ToLower(v), "=")
	switch {
	case name == "always" && !hasArg:
		return mmapwal.SyncAlways, 0, nil
	case name == "manual" && !hasArg:
		return mmapwal.SyncManual, 0, nil
	case name == "interval" && !hasArg:
		return mmapwal.SyncInterval, mmapwal.DefaultSyncInterval, nil
	case name == "interval":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return 0, 0, fmt.Errorf("cannot parse interval %q (want e.g. interval=10ms)", arg)
		}
		return mmapwal.SyncInterval, d, nil
	}
	return 0, 0, fmt.Errorf("cannot parse %q (want always, interval=10ms or manual)", v)
}

// maxSize bounds a record size: the engine's MaxRecordSize cannot exceed
// what fits in one segment, itself at most 2 GiB.
const maxSize = 1 << 30

// parseSize parses a record size ("128", "4k", "64KiB") or a uniform range
// ("100-200", "1k-4k").
func parseSize(v string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(v, "-")
	x, err := parseBytes(a)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot parse %q (want bytes such as 128, 4k, 64KiB, or a range min-max)", v)
	}
	y := x
	if isRange {
		if y, err = parseBytes(b); err != nil {
			return 0, 0, fmt.Errorf("cannot parse %q (want bytes such as 128, 4k, 64KiB, or a range min-max)", v)
		}
	}
	if x > y {
		return 0, 0, fmt.Errorf("range %q is empty (min above max)", v)
	}
	if y > maxSize {
		return 0, 0, fmt.Errorf("%q is above the largest record walbench writes (%s)", v, formatBytes(maxSize))
	}
	return int(x), int(y), nil
}

// byteUnits maps the accepted suffixes (lower-cased) to multipliers; k, M and
// G are binary, as in the engine's documentation.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

// parseBytes parses a non-negative byte count with an optional suffix:
// 4096, 4k, 4K, 4KiB, 64M, 1GiB.
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(v)
	}
	mult, ok := byteUnits[strings.ToLower(v[i:])]
	if i == 0 || !ok {
		return 0, fmt.Errorf("cannot parse %q", v)
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("cannot parse %q", v)
	}
	return n * mult, nil
}

// formatBytes writes n exactly and short: 128B, 4KiB, 64MiB (the largest
// unit that divides n), so that a run's name parses back.
func formatBytes(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return fmt.Sprintf("%dB", n)
}

func formatSize(lo, hi int) string {
	if lo == hi {
		return formatBytes(int64(lo))
	}
	return formatBytes(int64(lo)) + "-" + formatBytes(int64(hi))
}
