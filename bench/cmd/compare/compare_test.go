package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/bench"
)

func TestMachineName(t *testing.T) {
	name := machineName()
	if !regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+c$`).MatchString(name) {
		t.Fatalf("machineName() = %q: want lowercase words joined by '-', ending in the CPU count", name)
	}
	if got := fileName(" Big Box/../x_1 "); got != "big-box-x-1" {
		t.Errorf("fileName = %q, want big-box-x-1", got)
	}
}

// TestResultsFiles checks the names of the results files, that the report
// goes to the text file and the plot to the SVG, and the error of an
// unusable -out.
func TestResultsFiles(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 2, 23, 30, 0, 0, time.FixedZone("east", 3*3600)) // 20:30 UTC
	for _, tt := range []struct {
		quick bool
		kind  string
		want  string
	}{
		{false, "", "2026-12-02-box-4c"},
		{true, "", "2026-12-02-box-4c-quick"},
		{false, "sweep", "2026-12-02-box-4c-sweep"},
	} {
		r, err := openResults(config{out: dir, machine: "box-4c", quick: tt.quick}, tt.kind, start)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(r.txt, "report\n"); err != nil {
			t.Fatal(err)
		}
		if err := r.close(func(w io.Writer) error { _, err := io.WriteString(w, "<svg/>"); return err }); err != nil {
			t.Fatal(err)
		}
		for ext, body := range map[string]string{".txt": "report\n", ".svg": "<svg/>"} {
			got, err := os.ReadFile(filepath.Join(dir, tt.want+ext))
			if err != nil || string(got) != body {
				t.Errorf("%s%s: %q, %v; want %q", tt.want, ext, got, err, body)
			}
		}
	}
	if r, err := openResults(config{}, "", start); err != nil || r.txt != nil || r.out() != os.Stdout || r.close(nil) != nil {
		t.Error("without -out: want stdout only and no files")
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openResults(config{out: filepath.Join(file, "sub"), machine: "m"}, "", start); err == nil {
		t.Error("-out below a regular file: want an error")
	}
}

// fakeReport returns a report of one round with the given records/s per
// adapter for every throughput workload, and bytes per record for (vi).
func fakeReport(rates map[string]float64) *report {
	c := config{writers: 16, rounds: 1, machine: "box-4c", base: "mmapwal"}
	var adapters []bench.Adapter
	for _, name := range []string{"pebble", "pebble-recycled", "raw-chunked", "mmapwal-recycled", "mmapwal"} { // mmapwal last: the base goes first anyway
		if _, ok := rates[name]; ok {
			a, _ := bench.Lookup(name)
			adapters = append(adapters, a)
		}
	}
	r := newReport(c, adapters)
	r.rounds = 1
	for name, rate := range rates {
		for w := range numWorkloads {
			res := bench.Result{Ops: 1000, Elapsed: time.Duration(1000 / rate * 1e9)}
			if w == wDisk {
				res.Disk.Used = int64(rate * 1000)
			}
			r.add(w, name, res)
		}
	}
	return r
}

func TestPrintVs(t *testing.T) {
	r := fakeReport(map[string]float64{"mmapwal": 300, "pebble": 200, "raw-chunked": 600})
	var out bytes.Buffer
	r.printVs(&out)
	if got := out.String(); !strings.Contains(got, "vs pebble") || !strings.Contains(got, "vs raw-chunked") ||
		strings.Contains(got, "vs raw ") || strings.Contains(got, "vs copy") {
		t.Fatalf("want columns for the peers that ran only:\n%s", out.String())
	}
	if !regexp.MustCompile(`\(i\) 128 B bulk +1\.50× +0\.50×`).MatchString(out.String()) {
		t.Errorf("(i): want 1.50× pebble and 0.50× raw-chunked:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "(iv) 16 durable writers") {
		t.Errorf("want the writer count in the label:\n%s", out.String())
	}
	if got := out.String(); strings.Contains(got, "mmapwal-recycled against") {
		t.Errorf("a table for mmapwal-recycled, which did not run:\n%s", got)
	}
	out.Reset()
	fakeReport(map[string]float64{"mmapwal": 300, "mmapwal-recycled": 400, "pebble-recycled": 200}).printVs(&out)
	if !regexp.MustCompile(`mmapwal-recycled against(.|\n)*\(i\) 128 B bulk +2\.00×`).MatchString(out.String()) {
		t.Errorf("want a table for mmapwal-recycled, 2.00× pebble-recycled at (i):\n%s", out.String())
	}
	out.Reset()
	fakeReport(map[string]float64{"pebble": 1}).printVs(&out)
	if out.Len() != 0 {
		t.Errorf("without mmapwal: want no table, got:\n%s", out.String())
	}
}

func TestChart(t *testing.T) {
	r := fakeReport(map[string]float64{"pebble": 200, "mmapwal": 300})
	var out bytes.Buffer
	if err := r.chart()(&out); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(out.Bytes(), new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	// mmapwal first in the legend, whatever the adapters' order.
	if i, j := strings.Index(out.String(), ">mmapwal<"), strings.Index(out.String(), ">pebble<"); i < 0 || j < 0 || i > j {
		t.Errorf("legend order: mmapwal at %d, pebble at %d", i, j)
	}
}

func TestSweepPlan(t *testing.T) {
	for _, tt := range []struct {
		name    string
		quick   bool
		free    int64
		run     int // log sizes run, from the smallest
		skipped string
	}{
		{"room for all", false, 1 << 40, len(sweepLogSizes), ""},
		{"quick", true, 1 << 40, 3, "-quick stops at 256MiB"},
		{"little space", false, sweepNeed(64<<20) + 1, 2, "256MiB log: needs 576MiB free, 336MiB free in /d"},
		{"no space", false, 0, 0, "16MiB log: needs 276MiB free"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &sweep{c: config{quick: tt.quick}}
			s.plan("/d", tt.free)
			if len(s.logSizes) != tt.run || len(s.skipped) != len(sweepLogSizes)-tt.run {
				t.Fatalf("run %v, skipped %q; want %d run", s.logSizes, s.skipped, tt.run)
			}
			if tt.skipped != "" && !strings.Contains(strings.Join(s.skipped, "\n"), tt.skipped) {
				t.Errorf("skipped %q: want a reason containing %q", s.skipped, tt.skipped)
			}
		})
	}
}

// TestSelectedWorkloads checks -workloads: the steps it keeps, in a
// round's order, and the error of an unknown name.
func TestSelectedWorkloads(t *testing.T) {
	for _, tt := range []struct{ flag, want string }{
		{"", "bulk128 bulk4k serial concurrent"},
		{"iv,iii", "serial concurrent"},
		{"v", "bulk128"},
		{" ii , vi", "bulk128 bulk4k"},
	} {
		got, err := config{workloads: tt.flag}.selected()
		var names []string
		for _, s := range got {
			names = append(names, s.name)
		}
		if err != nil || strings.Join(names, " ") != tt.want {
			t.Errorf("-workloads %q: got %v, %v; want %s", tt.flag, names, err, tt.want)
		}
	}
	if _, err := (config{workloads: "iv,vii"}).selected(); err == nil || !strings.Contains(err.Error(), `"vii"`) {
		t.Errorf("-workloads iv,vii: got %v, want an error naming vii", err)
	}
}

// TestPerFlushNote checks the records-per-flush footnote: medians of the
// adapters that count flushes, none for the others.
func TestPerFlushNote(t *testing.T) {
	r := fakeReport(map[string]float64{"mmapwal": 300, "pebble": 200})
	if got := r.perFlush(wConcurrent); got != "" {
		t.Errorf("no counts: got %q, want no note", got)
	}
	for _, v := range []float64{9, 15, 14} {
		r.add(wConcurrent, "mmapwal", bench.Result{Ops: 1000, Elapsed: time.Second / 300, PerFlush: v})
	}
	if got, want := r.perFlush(wConcurrent), "records per flush (median over rounds): mmapwal 14.0\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
