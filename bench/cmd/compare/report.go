package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapwal/mmapwal/bench"
	"github.com/mmapwal/mmapwal/internal/measure"
)

// workload is one section of the report.
type workload int

const (
	wBulk128 workload = iota
	wBulk4K
	wSerial
	wConcurrent
	wCold
	wWarm
	wDisk
	numWorkloads
)

// report collects the results of every run and prints them.
type report struct {
	c        config
	adapters []bench.Adapter
	base     string
	rounds   int // rounds completed
	results  [numWorkloads]map[string][]bench.Result
}

// newReport returns an empty report; its base is c.base, or raw when that
// adapter is not selected.
func newReport(c config, adapters []bench.Adapter) *report {
	r := &report{c: c, adapters: adapters, base: c.base}
	if !slices.ContainsFunc(adapters, func(a bench.Adapter) bool { return a.Name == c.base }) {
		r.base = "raw"
	}
	for i := range r.results {
		r.results[i] = map[string][]bench.Result{}
	}
	return r
}

// add records the result of one run.
func (r *report) add(w workload, adapter string, res bench.Result) {
	r.results[w][adapter] = append(r.results[w][adapter], res)
}

// title is the heading of a section.
func (r *report) title(w workload) string {
	c := r.c
	switch w {
	case wBulk128:
		return fmt.Sprintf("(i) %s × 128 B appends, one record per call, then one Sync", count(c.n128))
	case wBulk4K:
		return fmt.Sprintf("(ii) %s × 4 KiB appends, one record per call, then one Sync", count(c.n4k))
	case wSerial:
		return fmt.Sprintf("(iii) 1 writer, durable 128 B appends for %s", c.serial)
	case wConcurrent:
		return fmt.Sprintf("(iv) %d writers, durable 128 B appends for %s", c.writers, c.concurrent)
	case wCold:
		return fmt.Sprintf("(v) cold replay of the %s-record log of (i): Open + Replay after posix_fadvise(DONTNEED) of its files", count(c.n128))
	case wWarm:
		return fmt.Sprintf("(v) warm replay of the %s-record log of (i)", count(c.n128))
	case wDisk:
		return "(vi) disk bytes per 128 B record, log of (i) after its Sync"
	}
	return "?"
}

// header prints the machine, the versions and the adapters.
func (r *report) header(out io.Writer, dir string) {
	fmt.Fprintf(out, "compare: %s, %s/%s, %d CPUs (GOMAXPROCS %d), kernel %s, %s in %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		kernel(), fsType(dir), dir)
	printMachine(out, r.c)
	fmt.Fprintf(out, "%s; %d rounds (fewer if -budget %s runs out), medians; ratios are relative to %s\n",
		time.Now().Format(time.DateTime), r.c.rounds, r.c.budget, r.base)
	if info, ok := debug.ReadBuildInfo(); ok {
		var mods []string
		for _, m := range info.Deps {
			for _, want := range []string{"tidwall/wal", "raft-wal", "rosedblabs/wal", "etcd/server", "pebble", "hashicorp/raft "} {
				if strings.Contains(m.Path+" ", want) {
					mods = append(mods, m.Path+" "+m.Version)
				}
			}
		}
		fmt.Fprintf(out, "modules: %s\n", strings.Join(mods, ", "))
	}
	fmt.Fprintln(out, "\nadapters:")
	for _, a := range r.adapters {
		fmt.Fprintf(out, "  %-16s %s\n", a.Name, a.Desc)
	}
	fmt.Fprintln(out)
}

// print prints every section and the summary.
func (r *report) print(out io.Writer) {
	fmt.Fprintf(out, "%d of %d rounds completed\n", r.rounds, r.c.rounds)
	for w := range numWorkloads {
		if len(r.results[w]) == 0 {
			continue
		}
		fmt.Fprintf(out, "\n%s\n", r.title(w))
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		var note string
		switch w {
		case wDisk:
			note = r.printDisk(tw)
		default:
			note = r.printSpeed(tw, w)
		}
		tw.Flush()
		fmt.Fprint(out, note)
	}
	r.printVs(out)
	r.printSummary(out)
}

// vsPeers are the adapters printVs compares mmapwal with, when they ran:
// the peers and floors that issue 9's targets name, then the rest.
var vsPeers = []string{"pebble", "pebble-recycled", "raw-chunked", "raw", "raw+b", "copy"}

// vsSelves are the mmapwal adapters printVs gives a table each, when they
// ran: mmapwal-recycled against pebble-recycled is the like-for-like
// comparison of two logs writing into files written before.
var vsSelves = []string{"mmapwal", "mmapwal-recycled"}

// printVs prints, for every workload and every mmapwal adapter that ran,
// the ratio of its median to each peer's and floor's median in this run
// (disk: bytes, lower is better; the rest: throughput, higher is better).
func (r *report) printVs(out io.Writer) {
	ran := func(name string) bool {
		return slices.ContainsFunc(r.adapters, func(a bench.Adapter) bool { return a.Name == name })
	}
	var peers []string
	for _, p := range vsPeers {
		if ran(p) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return
	}
	for _, me := range vsSelves {
		if ran(me) {
			r.printVsOf(out, me, peers)
		}
	}
}

// printVsOf prints printVs's table for the adapter me.
func (r *report) printVsOf(out io.Writer, me string, peers []string) {
	fmt.Fprintf(out, "\n%s against the peers and floors: %s's median / the peer's median, same run, %d rounds\n", me, me, r.rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	label := func(s string) string { return fmt.Sprintf("%-24s\t", s) }
	fmt.Fprint(tw, label("workload"))
	for _, p := range peers {
		fmt.Fprintf(tw, "vs %s\t", p)
	}
	fmt.Fprintln(tw)
	for w := range numWorkloads {
		if len(r.results[w][me]) == 0 {
			continue
		}
		fmt.Fprint(tw, label(r.short(w)))
		for _, p := range peers {
			v := math.NaN()
			if len(r.results[w][p]) > 0 {
				v = r.median(w, me) / r.median(w, p)
			}
			fmt.Fprint(tw, ratioString(v), "\t")
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(out, "throughput ratios: above 1× %s is faster; (vi) disk: bytes per record, below 1× %s is smaller; n/a = not run\n", me, me)
}

// shortName labels a workload (see report.short).
var shortName = [numWorkloads]string{
	wBulk128: "(i) 128 B bulk", wBulk4K: "(ii) 4 KiB bulk", wSerial: "(iii) serial durable", wCold: "(v) replay cold", wWarm: "(v) replay warm", wDisk: "(vi) disk",
}

// short labels workload w in the ratio table and the plot.
func (r *report) short(w workload) string {
	if w == wConcurrent {
		return fmt.Sprintf("(iv) %d durable writers", r.c.writers)
	}
	return shortName[w]
}

// chart returns the plot of the run: median records/s by workload, one bar
// per adapter (mmapwal first, then the others by name).
func (r *report) chart() func(io.Writer) error {
	c := measure.BarChart{
		Title:      "make compare: median records/s by workload",
		Subtitle:   fmt.Sprintf("%s, %s, %d rounds; log scale", r.c.machine, time.Now().Format(time.DateOnly), r.rounds),
		ValueLabel: "records/s (log scale)",
		Format:     func(v float64) string { return measure.CountLabel(v) + "/s" },
	}
	var names []string
	for _, a := range r.adapters {
		for w := range wDisk {
			if len(r.results[w][a.Name]) > 0 {
				names = append(names, a.Name)
				break
			}
		}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case a == r.base && b != r.base:
			return -1
		case b == r.base && a != r.base:
			return 1
		}
		return 0
	})
	c.Series = names
	for w := range wDisk {
		g := measure.BarGroup{Label: r.short(w)}
		for _, n := range names {
			v := math.NaN()
			if len(r.results[w][n]) > 0 {
				v = r.median(w, n)
			}
			g.Values = append(g.Values, v)
		}
		c.Groups = append(c.Groups, g)
	}
	return c.Write
}

// printMachine prints the machine name, the CPU model and the -note.
func printMachine(out io.Writer, c config) {
	fmt.Fprintf(out, "machine: %s (%s)\n", c.machine, cpuModel())
	if c.note != "" {
		fmt.Fprintf(out, "note: %s\n", c.note)
	}
}

// nameCell left-aligns an adapter name in a right-aligned table.
func nameCell(name string) string { return fmt.Sprintf("%-16s\t", name) }

// rows returns the adapters with results for w: the base first, then by
// median throughput, fastest first (disk: fewest bytes first).
func (r *report) rows(w workload) []string {
	var names []string
	for name := range r.results[w] {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == r.base) != (names[j] == r.base) {
			return names[i] == r.base
		}
		mi, mj := r.median(w, names[i]), r.median(w, names[j])
		if w == wDisk {
			return mi < mj // fewest bytes first
		}
		return mi > mj
	})
	return names
}

// median returns the median throughput (records/s) of an adapter, or, for
// the disk section, the median of used bytes per record.
func (r *report) median(w workload, name string) float64 {
	var vs []float64
	for _, res := range r.results[w][name] {
		if w == wDisk {
			vs = append(vs, float64(res.Disk.Used)/float64(res.Ops))
		} else {
			vs = append(vs, res.OpsPerSec())
		}
	}
	return median(vs)
}

// spread returns half the range of an adapter's throughput over rounds,
// relative to its median.
func (r *report) spread(w workload, name string) float64 {
	var lo, hi float64 = math.Inf(1), 0
	for _, res := range r.results[w][name] {
		lo, hi = min(lo, res.OpsPerSec()), max(hi, res.OpsPerSec())
	}
	return (hi - lo) / 2 / r.median(w, name)
}

// ratio is an adapter's median over the base's, or NaN without a base.
func (r *report) ratio(w workload, name string) float64 {
	b := r.median(w, r.base)
	if len(r.results[w][r.base]) == 0 || b == 0 {
		return math.NaN()
	}
	return r.median(w, name) / b
}

// printSpeed prints a throughput section with latency percentiles and
// returns its footnote.
func (r *report) printSpeed(tw io.Writer, w workload) string {
	vs := "vs " + r.base
	lat := w != wCold && w != wWarm
	fmt.Fprintf(tw, "%stime\trec/s\tMB/s\t%s\t±\t", nameCell("adapter"), vs)
	if lat {
		fmt.Fprint(tw, "p50\tp99\tp99.9\tmax\t")
	}
	if w == wCold {
		fmt.Fprint(tw, "cached before\t")
	}
	fmt.Fprintln(tw)
	for _, name := range r.rows(w) {
		rs := r.results[w][name]
		var times, mbs []float64
		var h measure.Hist
		var resident []float64
		for _, res := range rs {
			times = append(times, res.Elapsed.Seconds())
			mbs = append(mbs, res.MBPerSec())
			h.Merge(&res.Lat)
			resident = append(resident, res.Resident)
		}
		fmt.Fprintf(tw, "%s%.3fs\t%s\t%.1f\t%s\t%.0f%%\t", nameCell(name), median(times), count(int(r.median(w, name))),
			median(mbs), ratioString(r.ratio(w, name)), 100*r.spread(w, name))
		if lat {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t", dur(h.Quantile(0.5)), dur(h.Quantile(0.99)), dur(h.Quantile(0.999)), dur(h.Max()))
		}
		if w == wCold {
			fmt.Fprintf(tw, "%.0f%%\t", 100*median(resident))
		}
		fmt.Fprintln(tw)
	}
	note := "± is half the range over rounds, relative to the median\n"
	switch w {
	case wBulk128, wBulk4K:
		note += fmt.Sprintf("latency: one call in %d timed; timing an empty call reads ~40 ns here\n", bench.LatencySample)
	case wSerial, wConcurrent:
		note += "latency: every durable call\n"
		note += r.perFlush(w)
	case wCold:
		note += "cached before: fraction of the log's pages in the page cache when the replay started (mincore)\n"
	}
	return note
}

// perFlush is the footnote line of the median records per flush of each
// adapter that counts them, or "".
func (r *report) perFlush(w workload) string {
	var parts []string
	for _, name := range r.rows(w) {
		var vs []float64
		for _, res := range r.results[w][name] {
			if res.PerFlush > 0 {
				vs = append(vs, res.PerFlush)
			}
		}
		if len(vs) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, median(vs)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "records per flush (median over rounds): " + strings.Join(parts, ", ") + "\n"
}

// printDisk prints the disk section, bytes per record, and returns its
// footnote.
func (r *report) printDisk(tw io.Writer) string {
	fmt.Fprintf(tw, "%sused B/rec\toverhead B/rec\tvs %s\tfile sizes B/rec\tallocated B/rec\t\n", nameCell("adapter"), r.base)
	for _, name := range r.rows(wDisk) {
		rs := r.results[wDisk][name]
		var used, files, alloc []float64
		for _, res := range rs {
			n := float64(res.Ops)
			used = append(used, float64(res.Disk.Used)/n)
			files = append(files, float64(res.Disk.Apparent)/n)
			alloc = append(alloc, float64(res.Disk.Allocated)/n)
		}
		fmt.Fprintf(tw, "%s%.1f\t%.1f\t%s\t%.1f\t%.1f\t\n", nameCell(name), median(used), median(used)-128,
			ratioString(r.ratio(wDisk, name)), median(files), median(alloc))
	}
	return "used: bytes up to the end of the last record in each file, without preallocated or recycled space (bench.DiskUsage);\n" +
		"file sizes: st_size; allocated: st_blocks, with fallocate'd space; copy keeps its bytes in 64 MiB heap chunks\n"
}

// printSummary prints every adapter's ratios to the base in one table.
func (r *report) printSummary(out io.Writer) {
	fmt.Fprintf(out, "\nsummary: median throughput / %s's (disk: used bytes / %s's); - = not run\n", r.base, r.base)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s(i)\t(ii)\t(iii)\t(iv)\t(v) cold\t(v) warm\t(vi) disk\t\n", nameCell("adapter"))
	for _, a := range r.adapters {
		fmt.Fprint(tw, nameCell(a.Name))
		for w := range numWorkloads {
			if len(r.results[w][a.Name]) == 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprint(tw, ratioString(r.ratio(w, a.Name)), "\t")
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// median returns the median of vs (the mean of the middle two for an even
// count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratioString formats a ratio.
func ratioString(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v)
}

// count formats n with k/M suffixes.
func count(n int) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// dur formats a latency in nanoseconds with 3 significant digits.
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// kernel returns the kernel release.
func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// fsType names the file system of dir.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "?"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	}
	return fmt.Sprintf("fs 0x%x", st.Type)
}
