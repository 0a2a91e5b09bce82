package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapwal/mmapwal/bench"
	"github.com/mmapwal/mmapwal/internal/measure"
)

// The size sweep (-sweep) measures how the two costs that matter for a log
// grow with size, on mmapwal, pebble and the raw-chunked floor:
//
//   - append throughput for records of 64 B to 1 MiB: records totalling
//     sweepAppendBytes (quick: a quarter), one per call, then one Sync;
//   - Open+replay time for logs of 16 MiB to 4 GiB of 1 KiB records, cold
//     (the log's files dropped from the page cache) and warm, timed from
//     Open to the end of the replay, every record checked.
//
// A log size is skipped, with the reason printed, when the file system of
// the work directory has less than sweepNeed of it free; -quick stops at
// 256 MiB. Rounds and -budget work as for the workloads.
var (
	sweepRecordSizes = []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}
	sweepLogSizes    = []int64{16 << 20, 64 << 20, 256 << 20, 1 << 30, 4 << 30}
	sweepAdapters    = []string{"mmapwal", "pebble", "raw-chunked"}
)

const (
	sweepAppendBytes = 64 << 20
	sweepReplayBytes = 1 << 10 // record size of the replayed logs
	sweepQuickMaxLog = 256 << 20
)

// sweepNeed is the free space a log of size bytes needs: the log, 25 % for
// the formats' overhead on 1 KiB records, and one preallocated 64 MiB
// segment of mmapwal beyond it, with room to spare.
func sweepNeed(size int64) int64 { return size + size/4 + 256<<20 }

// sweep holds the results of a sweep: by record size and by log size, per
// adapter, one Result per round.
type sweep struct {
	c        config
	adapters []bench.Adapter
	rounds   int
	appends  map[int]map[string][]bench.Result
	replays  map[int64]map[string][]bench.BulkResults
	logSizes []int64 // the log sizes run
	skipped  []string
}

// runSweep runs the sweep and prints its tables.
func runSweep(c config) error {
	adapters, err := c.sweepAdapters()
	if err != nil {
		return err
	}
	dir, cleanup, err := workDir(c.dir)
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	res, err := openResults(c, "sweep", start)
	if err != nil {
		return err
	}
	out := res.out()
	s := &sweep{c: c, adapters: adapters, appends: map[int]map[string][]bench.Result{}, replays: map[int64]map[string][]bench.BulkResults{}}
	s.plan(dir, freeSpace(dir))
	s.header(out, dir)
	var last time.Duration
	for round := range c.rounds {
		if c.budget > 0 && round >= 2 && time.Since(start)+last > c.budget {
			fmt.Fprintf(os.Stderr, "stopping after %d rounds: another would end past -budget %s\n", round, c.budget)
			break
		}
		t := time.Now()
		if err := s.round(dir, round); err != nil {
			return err
		}
		last = time.Since(t)
		s.rounds = round + 1
		fmt.Fprintf(os.Stderr, "sweep round %d/%d done after %s\n", round+1, c.rounds, time.Since(start).Round(time.Second))
	}
	s.print(out)
	fmt.Fprintf(out, "\ntotal time %s\n", time.Since(start).Round(time.Second))
	return res.close(s.plot)
}

// sweepAdapters returns -only's adapters, or mmapwal, pebble and raw-chunked.
func (c config) sweepAdapters() ([]bench.Adapter, error) {
	if c.only != "" {
		return c.adapters()
	}
	var out []bench.Adapter
	for _, name := range sweepAdapters {
		a, ok := bench.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("no adapter %q", name)
		}
		out = append(out, a)
	}
	return out, nil
}

// freeSpace returns the bytes available to us on dir's file system
// (MaxInt64 if statfs fails: then the runs themselves will say).
func freeSpace(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return math.MaxInt64
	}
	return int64(st.Bavail) * st.Bsize
}

// plan picks the log sizes that fit: -quick and the free bytes of dir's
// file system decide.
func (s *sweep) plan(dir string, free int64) {
	for _, size := range sweepLogSizes {
		switch {
		case s.c.quick && size > sweepQuickMaxLog:
			s.skipped = append(s.skipped, fmt.Sprintf("%s log: -quick stops at %s", measure.BytesLabel(float64(size)), measure.BytesLabel(sweepQuickMaxLog)))
		case sweepNeed(size) > free:
			s.skipped = append(s.skipped, fmt.Sprintf("%s log: needs %s free, %s free in %s",
				measure.BytesLabel(float64(size)), measure.BytesLabel(float64(sweepNeed(size))), measure.BytesLabel(float64(free)), dir))
		default:
			s.logSizes = append(s.logSizes, size)
		}
	}
}

// appendBytes is the payload of one append run.
func (s *sweep) appendBytes() int {
	if s.c.quick {
		return sweepAppendBytes / 4
	}
	return sweepAppendBytes
}

// header prints the machine, the plan and what is skipped.
func (s *sweep) header(out io.Writer, dir string) {
	fmt.Fprintf(out, "compare -sweep: %s, %s/%s, %d CPUs (GOMAXPROCS %d), kernel %s, %s in %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel(), fsType(dir), dir)
	printMachine(out, s.c)
	fmt.Fprintf(out, "%s; %d rounds (fewer if -budget %s runs out), medians\n", time.Now().Format(time.DateTime), s.c.rounds, s.c.budget)
	fmt.Fprintln(out, "\nadapters:")
	for _, a := range s.adapters {
		fmt.Fprintf(out, "  %-16s %s\n", a.Name, a.Desc)
	}
	for _, sk := range s.skipped {
		fmt.Fprintf(out, "skipped: %s\n", sk)
	}
}

// round runs every size on every adapter once, in an order rotated from
// round to round.
func (s *sweep) round(dir string, round int) error {
	for _, size := range sweepRecordSizes {
		n := max(s.appendBytes()/size, 64)
		for _, a := range rotate(s.adapters, round) {
			r, err := s.run(dir, round, fmt.Sprintf("append%d", size), a, bench.BulkConfig{N: n, Size: size, Verify: round == 0})
			if err != nil {
				return err
			}
			if s.appends[size] == nil {
				s.appends[size] = map[string][]bench.Result{}
			}
			s.appends[size][a.Name] = append(s.appends[size][a.Name], r.Append)
		}
	}
	for _, size := range s.logSizes {
		for _, a := range rotate(s.adapters, round) {
			r, err := s.run(dir, round, fmt.Sprintf("log%d", size), a,
				bench.BulkConfig{N: int(size / sweepReplayBytes), Size: sweepReplayBytes, Replay: true, DropAll: s.c.dropAll})
			if err != nil {
				return err
			}
			if s.replays[size] == nil {
				s.replays[size] = map[string][]bench.BulkResults{}
			}
			s.replays[size][a.Name] = append(s.replays[size][a.Name], r)
		}
	}
	return nil
}

// run runs one RunBulk in a fresh directory, removed afterwards.
func (s *sweep) run(dir string, round int, name string, a bench.Adapter, bc bench.BulkConfig) (bench.BulkResults, error) {
	runDir := filepath.Join(dir, fmt.Sprintf("r%d-%s-%s", round+1, name, a.Name))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return bench.BulkResults{}, err
	}
	defer os.RemoveAll(runDir)
	runtime.GC()
	t := time.Now()
	r, err := bench.RunBulk(a, runDir, bc)
	if err != nil {
		return r, fmt.Errorf("sweep round %d, %s, %s: %w", round+1, name, a.Name, err)
	}
	if s.c.verbose {
		fmt.Fprintf(os.Stderr, "sweep round %d %-12s %-12s %6.2fs\n", round+1, name, a.Name, time.Since(t).Seconds())
	}
	return r, nil
}

// medianOf returns the median of f over rs.
func medianOf[T any](rs []T, f func(T) float64) float64 {
	vs := make([]float64, 0, len(rs))
	for _, r := range rs {
		vs = append(vs, f(r))
	}
	return median(vs)
}

func mbPerSec(r bench.Result) float64         { return r.MBPerSec() }
func coldSeconds(r bench.BulkResults) float64 { return r.Cold.Elapsed.Seconds() }
func warmSeconds(r bench.BulkResults) float64 { return r.Warm.Elapsed.Seconds() }

// print prints the two tables.
func (s *sweep) print(out io.Writer) {
	const me = "mmapwal"
	fmt.Fprintf(out, "\n%d rounds completed\n", s.rounds)
	fmt.Fprintf(out, "\nappend throughput by record size: records totalling %s, one per call, then one Sync; median MB/s (records/s)\n",
		measure.BytesLabel(float64(s.appendBytes())))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "record\t")
	for _, a := range s.adapters {
		fmt.Fprintf(tw, "%s\t", a.Name)
	}
	for _, a := range s.adapters {
		if a.Name != me {
			fmt.Fprintf(tw, "%s / %s\t", me, a.Name)
		}
	}
	fmt.Fprintln(tw)
	for _, size := range sweepRecordSizes {
		fmt.Fprintf(tw, "%s\t", measure.BytesLabel(float64(size)))
		for _, a := range s.adapters {
			rs := s.appends[size][a.Name]
			fmt.Fprintf(tw, "%.0f (%s)\t", medianOf(rs, mbPerSec), count(int(medianOf(rs, bench.Result.OpsPerSec))))
		}
		for _, a := range s.adapters {
			if a.Name != me {
				fmt.Fprintf(tw, "%s\t", ratioString(medianOf(s.appends[size][me], mbPerSec)/medianOf(s.appends[size][a.Name], mbPerSec)))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(out, "ratios: of median throughput; above 1× mmapwal is faster")
	if len(s.logSizes) == 0 {
		return
	}
	fmt.Fprintf(out, "\nOpen+replay of a log of %s records by log size: median seconds from Open to the end of the replay, cold / warm\n",
		measure.BytesLabel(sweepReplayBytes))
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "log\trecords\t")
	for _, a := range s.adapters {
		fmt.Fprintf(tw, "%s\t", a.Name)
	}
	for _, a := range s.adapters {
		if a.Name != me {
			fmt.Fprintf(tw, "%s / %s\t", me, a.Name)
		}
	}
	fmt.Fprintln(tw)
	for _, size := range s.logSizes {
		fmt.Fprintf(tw, "%s\t%s\t", measure.BytesLabel(float64(size)), count(int(size/sweepReplayBytes)))
		for _, a := range s.adapters {
			rs := s.replays[size][a.Name]
			fmt.Fprintf(tw, "%.3fs / %.3fs\t", medianOf(rs, coldSeconds), medianOf(rs, warmSeconds))
		}
		mine := s.replays[size][me]
		for _, a := range s.adapters {
			if a.Name != me {
				rs := s.replays[size][a.Name]
				fmt.Fprintf(tw, "%s / %s\t", ratioString(medianOf(rs, coldSeconds)/medianOf(mine, coldSeconds)),
					ratioString(medianOf(rs, warmSeconds)/medianOf(mine, warmSeconds)))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(out, "ratios: the peer's time / mmapwal's (= mmapwal's records/s / the peer's), cold / warm; above 1× mmapwal is faster")
	fmt.Fprintln(out, "cold: the log's files dropped from the page cache with posix_fadvise(DONTNEED) first; on a VM the host may still cache them")
}

// plot writes the sweep's SVG: append MB/s by record size above, cold and
// warm Open+replay time by log size below, log-log.
func (s *sweep) plot(w io.Writer) error {
	const width, height, left, right = 1000, 1120, 100, 720
	svg := measure.NewSVG(w, width, height)
	svg.Text((left+right)/2, 24, `text-anchor="middle" font-size="17" font-weight="bold"`, "make compare SWEEP=1")
	svg.Text((left+right)/2, 42, `text-anchor="middle" fill="#555"`,
		fmt.Sprintf("%s, %s, %d rounds, medians", s.c.machine, time.Now().Format(time.DateOnly), s.rounds))
	var names []string
	appendSeries := make([]measure.LineSeries, len(s.adapters))
	cold, warm := make([]measure.LineSeries, len(s.adapters)), make([]measure.LineSeries, len(s.adapters))
	for i, a := range s.adapters {
		names = append(names, a.Name)
		appendSeries[i].Name, cold[i].Name, warm[i].Name = a.Name, a.Name, a.Name
		for _, size := range sweepRecordSizes {
			appendSeries[i].Points = append(appendSeries[i].Points, measure.Point{X: float64(size), Y: medianOf(s.appends[size][a.Name], mbPerSec)})
		}
		for _, size := range s.logSizes {
			rs := s.replays[size][a.Name]
			cold[i].Points = append(cold[i].Points, measure.Point{X: float64(size), Y: medianOf(rs, coldSeconds)})
			warm[i].Points = append(warm[i].Points, measure.Point{X: float64(size), Y: medianOf(rs, warmSeconds)})
		}
	}
	secs := func(v float64) string { return measure.NanosLabel(v * 1e9) }
	var recAt, logAt []float64
	for _, size := range sweepRecordSizes {
		recAt = append(recAt, float64(size))
	}
	for _, size := range s.logSizes {
		logAt = append(logAt, float64(size))
	}
	measure.LineChart{Title: "append throughput by record size (one Sync at the end)", XLabel: "record size", YLabel: "MB/s (log scale)",
		XTick: measure.BytesLabel, YTick: measure.CountLabel, XAt: recAt, Series: appendSeries}.Draw(svg, left, right, 90, 400)
	measure.LineChart{Title: "cold Open+replay time by log size (1 KiB records)", XLabel: "log size", YLabel: "seconds (log scale)",
		XTick: measure.BytesLabel, YTick: secs, XAt: logAt, Series: cold}.Draw(svg, left, right, 470, 740)
	measure.LineChart{Title: "warm Open+replay time by log size", XLabel: "log size", YLabel: "seconds (log scale)",
		XTick: measure.BytesLabel, YTick: secs, XAt: logAt, Series: warm}.Draw(svg, left, right, 810, 1070)
	svg.Legend(right+35, 95, width-right-35-36, "adapters", names)
	return svg.End()
}
