package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// header describes the machine and the place a report was measured on.
type header struct {
	Tool      string    `json:"tool"`
	GoVersion string    `json:"go_version"`
	GOOS      string    `json:"goos"`
	GOARCH    string    `json:"goarch"`
	CPUs      int       `json:"cpus"`
	Dir       string    `json:"dir"`
	Kept      bool      `json:"kept"` // whether Dir was kept (--keep) or removed
	Started   time.Time `json:"started"`
}

func newHeader(dir string, kept bool, started time.Time) header {
	return header{Tool: "walbench", GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), Dir: dir, Kept: kept, Started: started}
}

// tableColumns are the table's headers; the first is left-aligned.
var tableColumns = []string{"run", "records", "rec/s", "MB/s", "p50", "p90", "p99", "p99.9", "p99.99", "max",
	"syncs", "rec/sync", "disk B/rec", "replay rec/s", "replay MB/s", "open"}

// tableNotes say how the table's figures were measured.
var tableNotes = []string{
	"latency: per append call (per AppendBatch call with --batch; Reserve+copy+Commit with --reserve), timed with",
	"  time.Now/time.Since (~20-40 ns of it is the clock), from a log-bucketed histogram (within 0.4%).",
	"rec/s and MB/s (10^6 payload bytes/s) cover the appends and, unless sync=always, the final Sync.",
	"disk B/rec: segment-file bytes up to the end of their last frame (headers, frames, padding, close mark) / records.",
	"replay: Close, Open (\"open\": recovery scans and checksums the log), then iterate every record and compare it",
	"  with what was written (reads every byte; page cache warm).",
}

// writeTable prints one row per run, aligned, with a header line and notes.
func writeTable(w io.Writer, h header, results []*result) error {
	kept := "removed"
	if h.Kept {
		kept = "kept"
	}
	fmt.Fprintf(w, "# walbench: %s %s/%s, %d CPUs, dir %s (%s), %s\n", h.GoVersion, h.GOOS, h.GOARCH, h.CPUs, h.Dir, kept,
		h.Started.Format("2006-01-02 15:04"))
	nameWidth := len(tableColumns[0])
	for _, r := range results {
		nameWidth = max(nameWidth, len(r.spec.name))
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells []string) {
		cells[0] = fmt.Sprintf("%-*s", nameWidth, cells[0]) // left-aligned
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row(append([]string(nil), tableColumns...))
	for _, r := range results {
		row(tableRow(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// AlignRight pads every cell on the left, the first one too: drop that.
	for line := range strings.Lines(buf.String()) {
		fmt.Fprint(w, strings.TrimPrefix(line, "  "))
	}
	for _, n := range tableNotes {
		fmt.Fprintln(w, "# "+n)
	}
	return writeFollowTable(w, results, nameWidth)
}

// followColumns are the columns of the followers' table.
var followColumns = []string{"run", "followers", "in", "records seen", "p50", "p90", "p99", "p99.9", "max", "allocs/rec"}

// writeFollowTable prints, for the runs with --followers, the latency from
// the start of an append call to a follower's NextWait returning that
// record.
func writeFollowTable(w io.Writer, results []*result, nameWidth int) error {
	var rows [][]string
	for _, r := range results {
		f := r.follow
		if f == nil {
			continue
		}
		where := "goroutines"
		if f.process {
			where = "processes"
		}
		h := &f.hist
		rows = append(rows, []string{r.spec.name, fmt.Sprint(f.followers), where, fmt.Sprint(f.records),
			formatNanos(h.Quantile(0.50)), formatNanos(h.Quantile(0.90)), formatNanos(h.Quantile(0.99)),
			formatNanos(h.Quantile(0.999)), formatNanos(h.Max()), fmt.Sprintf("%.3f", f.allocsPerRecord())})
	}
	if rows == nil {
		return nil
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, cells := range append([][]string{append([]string(nil), followColumns...)}, rows...) {
		cells[0] = fmt.Sprintf("%-*s", nameWidth, cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for line := range strings.Lines(buf.String()) {
		fmt.Fprint(w, strings.TrimPrefix(line, "  "))
	}
	for _, n := range followNotes {
		fmt.Fprintln(w, "# "+n)
	}
	return nil
}

// followNotes say how the followers' figures were measured.
var followNotes = []string{
	"followers: latency from the start of the append call (wall clock stamped in the record) to the return of",
	"  the follower's NextWait with that record, over every record and follower (a record that was already there",
	"  shares a clock reading with up to 15 before it: reads low by their handling, < 1 µs each); allocs/rec: heap",
	"  allocations while following / records seen (goroutines: the whole process's, writers included; processes:",
	"  the child's).",
}

// tableRow formats one run's figures in tableColumns order.
func tableRow(r *result) []string {
	h := r.hist
	cells := []string{
		r.spec.name,
		fmt.Sprint(r.records),
		formatCount(r.recordsPerSec()),
		fmt.Sprintf("%.1f", r.mbPerSec()),
		formatNanos(h.Quantile(0.50)),
		formatNanos(h.Quantile(0.90)),
		formatNanos(h.Quantile(0.99)),
		formatNanos(h.Quantile(0.999)),
		formatNanos(h.Quantile(0.9999)),
		formatNanos(h.Max()),
		fmt.Sprint(r.stats.Syncs),
		formatRatio(r.stats.RecordsPerSync),
		fmt.Sprintf("%.1f", r.diskPerRecord()),
		"-", "-", "-",
	}
	if rr := r.replay; rr != nil {
		cells[13] = formatCount(perSec(float64(rr.records), rr.elapsed))
		cells[14] = fmt.Sprintf("%.1f", perSec(float64(rr.bytes), rr.elapsed)/1e6)
		cells[15] = formatNanos(int64(rr.open))
	}
	return cells
}

// formatRatio writes a ratio with one decimal, or none from 1000 on.
func formatRatio(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func perSec(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

func (r *result) recordsPerSec() float64 { return perSec(float64(r.records), r.elapsed) }
func (r *result) mbPerSec() float64      { return perSec(float64(r.payloadBytes), r.elapsed) / 1e6 }

func (r *result) diskPerRecord() float64 {
	if r.records == 0 {
		return 0
	}
	return float64(r.disk.used) / float64(r.records)
}

// formatNanos writes a duration with three significant digits: 850ns,
// 1.23µs, 45.6µs, 2.10ms, 1.50s.
func formatNanos(ns int64) string {
	v := float64(ns)
	for _, u := range []struct {
		s string
		d float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
		if v >= u.d {
			return threeDigits(v/u.d) + u.s
		}
	}
	return fmt.Sprintf("%dns", ns)
}

func threeDigits(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// jsonDoc is the --json output: one document for the whole invocation.
type jsonDoc struct {
	header
	Runs []jsonRun `json:"runs"`
}

type jsonRun struct {
	Name               string       `json:"name"`
	Config             jsonConfig   `json:"config"`
	Records            int64        `json:"records"`
	PayloadBytes       int64        `json:"payload_bytes"`
	Seconds            float64      `json:"seconds"`
	RecordsPerSec      float64      `json:"records_per_sec"`
	MBPerSec           float64      `json:"mb_per_sec"`
	Latency            jsonLatency  `json:"latency_ns"`
	Syncs              uint64       `json:"syncs"`
	RecordsPerSync     float64      `json:"records_per_sync"`
	SyncSeconds        float64      `json:"sync_seconds"`
	Segments           int          `json:"segments"`
	DiskBytes          int64        `json:"disk_bytes"`
	DiskBytesPerRecord float64      `json:"disk_bytes_per_record"`
	SegmentFileBytes   int64        `json:"segment_file_bytes"`
	Replay             *jsonReplay  `json:"replay"`
	Throughput         []jsonSample `json:"throughput"`
	Followers          *jsonFollow  `json:"followers,omitempty"`
}

// jsonFollow is what the live followers of a run measured.
type jsonFollow struct {
	Count           int         `json:"count"`
	Processes       bool        `json:"processes"`
	Records         int64       `json:"records_seen"`
	Latency         jsonLatency `json:"latency_ns"`
	AllocsPerRecord float64     `json:"allocs_per_record"`
}

type jsonConfig struct {
	SizeMin        int     `json:"size_min"`
	SizeMax        int     `json:"size_max"`
	Writers        int     `json:"writers"`
	Durability     string  `json:"durability"`
	SyncIntervalNs int64   `json:"sync_interval_ns,omitempty"`
	Batch          int     `json:"batch,omitempty"`
	Reserve        bool    `json:"reserve"`
	SegmentSize    int64   `json:"segment_size,omitempty"`
	TargetRecords  int64   `json:"target_records,omitempty"`
	TargetSeconds  float64 `json:"target_seconds,omitempty"`
	Replay         bool    `json:"replay"`
	Followers      int     `json:"followers,omitempty"`
	FollowProcess  bool    `json:"followers_process,omitempty"`
	Rate           float64 `json:"rate,omitempty"`
}

// jsonLatency holds append-call latencies in nanoseconds.
type jsonLatency struct {
	Per    string  `json:"per"` // what one sample times
	Count  uint64  `json:"count"`
	Min    int64   `json:"min"`
	Mean   float64 `json:"mean"`
	P50    int64   `json:"p50"`
	P90    int64   `json:"p90"`
	P99    int64   `json:"p99"`
	P999   int64   `json:"p99_9"`
	P9999  int64   `json:"p99_99"`
	Max    int64   `json:"max"`
	MaxErr float64 `json:"max_relative_error"`
}

type jsonReplay struct {
	OpenSeconds      float64 `json:"open_seconds"`
	RecoveredRecords int     `json:"recovered_records"`
	Records          int64   `json:"records"`
	PayloadBytes     int64   `json:"payload_bytes"`
	Seconds          float64 `json:"seconds"`
	RecordsPerSec    float64 `json:"records_per_sec"`
	MBPerSec         float64 `json:"mb_per_sec"`
}

type jsonSample struct {
	T             float64 `json:"t"` // end of the bucket, seconds since the run started
	RecordsPerSec float64 `json:"records_per_sec"`
}

// writeJSON prints the results as one indented JSON document.
func writeJSON(w io.Writer, h header, results []*result) error {
	doc := jsonDoc{header: h, Runs: []jsonRun{}}
	for _, r := range results {
		doc.Runs = append(doc.Runs, toJSON(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func toJSON(r *result) jsonRun {
	s, h := r.spec, r.hist
	j := jsonRun{
		Name: s.name,
		Config: jsonConfig{SizeMin: s.sizeMin, SizeMax: s.sizeMax, Writers: s.writers,
			Durability: durabilityName(s.durability, s.interval), SyncIntervalNs: int64(s.interval),
			Batch: s.batch, Reserve: s.reserve, SegmentSize: s.segmentSize,
			TargetRecords: s.records, TargetSeconds: s.duration.Seconds(), Replay: s.replay,
			Followers: s.followers, FollowProcess: s.followProc, Rate: s.rate},
		Records: r.records, PayloadBytes: r.payloadBytes, Seconds: r.elapsed.Seconds(),
		RecordsPerSec: r.recordsPerSec(), MBPerSec: r.mbPerSec(),
		Latency: jsonLatency{Per: latencyUnit(s), Count: h.Count(), Min: h.Min(), Mean: h.Mean(),
			P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
			P9999: h.Quantile(0.9999), Max: h.Max(), MaxErr: measure.MaxRelErr},
		Syncs: r.stats.Syncs, RecordsPerSync: r.stats.RecordsPerSync, SyncSeconds: r.stats.SyncTime.Seconds(),
		Segments: r.disk.segments, DiskBytes: r.disk.used, DiskBytesPerRecord: r.diskPerRecord(),
		SegmentFileBytes: r.disk.fileBytes, Throughput: []jsonSample{},
	}
	for _, p := range r.timeline {
		j.Throughput = append(j.Throughput, jsonSample{T: p.t.Seconds(), RecordsPerSec: p.rate})
	}
	if f := r.follow; f != nil {
		fh := &f.hist
		j.Followers = &jsonFollow{Count: f.followers, Processes: f.process, Records: f.records,
			AllocsPerRecord: f.allocsPerRecord(),
			Latency: jsonLatency{Per: "append call start to a follower's NextWait return", Count: fh.Count(), Min: fh.Min(),
				Mean: fh.Mean(), P50: fh.Quantile(0.5), P90: fh.Quantile(0.9), P99: fh.Quantile(0.99),
				P999: fh.Quantile(0.999), P9999: fh.Quantile(0.9999), Max: fh.Max(), MaxErr: measure.MaxRelErr}}
	}
	if rr := r.replay; rr != nil {
		j.Replay = &jsonReplay{OpenSeconds: rr.open.Seconds(), RecoveredRecords: rr.recovered,
			Records: rr.records, PayloadBytes: rr.bytes, Seconds: rr.elapsed.Seconds(),
			RecordsPerSec: perSec(float64(rr.records), rr.elapsed), MBPerSec: perSec(float64(rr.bytes), rr.elapsed) / 1e6}
	}
	return j
}

// latencyUnit says what one latency sample timed.
func latencyUnit(s spec) string {
	switch {
	case s.batch > 0:
		return fmt.Sprintf("AppendBatch call of up to %d records", s.batch)
	case s.reserve:
		return "Reserve, copy and Commit of one record"
	}
	return "Append call"
}
