package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mmapwal/mmapwal/internal/measure"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// fakeResult builds a result without running anything; replayed adds a
// replay.
func fakeResult(name string, base int64, replayed bool) *result {
	r := &result{
		spec:         spec{name: name, records: 1000, sizeMin: 128, sizeMax: 128, writers: 1, durability: mmapwal.SyncManual, replay: replayed},
		records:      1000,
		payloadBytes: 128000,
		elapsed:      2 * time.Millisecond,
		hist:         new(measure.Hist),
		stats:        mmapwal.Stats{Appends: 1000, Syncs: 1, RecordsPerSync: 1000},
		disk:         diskUsage{used: 152088, segments: 1, fileBytes: 64 << 20},
	}
	for i := range int64(1000) {
		r.hist.Record(base + i*i)
	}
	for i := range 5 {
		r.timeline = append(r.timeline, point{t: time.Duration(i+1) * sampleEvery, rate: float64(base * int64(i+1))})
	}
	if replayed {
		r.replay = &replayResult{open: 3 * time.Millisecond, recovered: 1000, records: 1000, bytes: 128000, elapsed: time.Millisecond}
	}
	return r
}

var testHeader = newHeader("/tmp/walbench-test", false, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func TestTable(t *testing.T) {
	results := []*result{fakeResult("size=128B/sync=manual/writers=1", 100, true), fakeResult("size=4KiB/sync=always/writers=16", 5000, false)}
	var out bytes.Buffer
	if err := writeTable(&out, testHeader, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var rows []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1+len(results) {
		t.Fatalf("want a header and %d rows, got:\n%s", len(results), out.String())
	}
	if got := strings.Fields(strings.ReplaceAll(rows[0], "replay ", "replay_")); len(got) != len(tableColumns)+1 { // "disk B/rec" holds a space
		t.Errorf("header %q", rows[0])
	}
	for _, col := range tableColumns {
		if !strings.Contains(rows[0], col) {
			t.Errorf("header lacks %q: %q", col, rows[0])
		}
	}
	// One row per run, in order, every row as wide as the header.
	for i, r := range results {
		row := rows[1+i]
		if !strings.HasPrefix(row, r.spec.name+" ") || utf8.RuneCountInString(row) != utf8.RuneCountInString(rows[0]) {
			t.Errorf("row %d %q: want it to start with %q and be as wide as the header (%d)", i, row, r.spec.name, len(rows[0]))
		}
	}
	row := strings.Fields(rows[1])
	want := []string{"size=128B/sync=manual/writers=1", "1000", "500.0k", "64.0", "249µs"}
	for i, w := range want {
		if row[i] != w {
			t.Errorf("row field %d = %q, want %q (row %q)", i, row[i], w, rows[1])
		}
	}
	h := results[0].hist
	if p9999 := formatNanos(h.Quantile(0.9999)); row[8] != p9999 || row[9] != formatNanos(h.Max()) {
		t.Errorf("p99.99 and max: %q %q, want %q %q (row %q)", row[8], row[9], p9999, formatNanos(h.Max()), rows[1])
	}
	if f := strings.Fields(rows[2]); f[len(f)-1] != "-" { // no replay: no open time
		t.Errorf("row without replay: %q", rows[2])
	}
	if !strings.Contains(out.String(), "time.Now/time.Since") || !strings.Contains(lines[0], "/tmp/walbench-test") {
		t.Errorf("notes or machine line missing:\n%s", out.String())
	}
}

func TestJSON(t *testing.T) {
	results := []*result{fakeResult("a", 100, true), fakeResult("b", 5000, false)}
	var out bytes.Buffer
	if err := writeJSON(&out, testHeader, results); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one JSON document: %v", err)
	}
	for _, k := range []string{"tool", "go_version", "goos", "goarch", "cpus", "dir", "kept", "started", "runs"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in the document", k)
		}
	}
	runs := doc["runs"].([]any)
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	run := runs[0].(map[string]any)
	for _, k := range []string{"name", "config", "records", "payload_bytes", "seconds", "records_per_sec", "mb_per_sec",
		"latency_ns", "syncs", "records_per_sync", "sync_seconds", "segments", "disk_bytes", "disk_bytes_per_record",
		"segment_file_bytes", "replay", "throughput"} {
		if _, ok := run[k]; !ok {
			t.Errorf("no %q in a run", k)
		}
	}
	lat := run["latency_ns"].(map[string]any)
	for _, k := range []string{"per", "count", "min", "mean", "p50", "p90", "p99", "p99_9", "p99_99", "max", "max_relative_error"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("no %q in latency_ns", k)
		}
	}
	rep := run["replay"].(map[string]any)
	for _, k := range []string{"open_seconds", "recovered_records", "records", "payload_bytes", "seconds", "records_per_sec", "mb_per_sec"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("no %q in replay", k)
		}
	}
	if runs[1].(map[string]any)["replay"] != nil {
		t.Error("a run without replay has a replay object")
	}
	if got := run["records_per_sec"].(float64); got != 500000 {
		t.Errorf("records_per_sec = %v, want 500000", got)
	}
}

// TestPlot checks that the SVG is well-formed XML holding both charts, a
// curve per run in each, and the legend.
func TestPlot(t *testing.T) {
	results := []*result{fakeResult("a<&>", 100, true), fakeResult("b", 5000, false), fakeResult("empty", 1, false)}
	results[2].hist, results[2].timeline = new(measure.Hist), nil
	var out bytes.Buffer
	if err := writePlot(&out, testHeader, results); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, out.Bytes(), 2)
	// A single run, with a linear throughput axis.
	out.Reset()
	if err := writePlot(&out, testHeader, results[1:2]); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, out.Bytes(), 1)
}

// checkSVG parses an SVG and checks its structure: a latency chart and a
// throughput chart with curves curves each, and labelled axes.
func checkSVG(t *testing.T, svg []byte, curves int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var stack []string
	lines := map[string]int{} // polylines per chart
	var texts []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
				if el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", el.Name.Space)
				}
			}
			id := ""
			for _, a := range el.Attr {
				if a.Name.Local == "id" {
					id = a.Value
				}
			}
			if id == "" && len(stack) > 0 {
				id = stack[len(stack)-1]
			}
			stack = append(stack, id)
			if el.Name.Local == "polyline" {
				lines[id]++
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	if lines["latency"] != curves || lines["throughput"] != curves {
		t.Errorf("curves: %v, want %d in latency and in throughput", lines, curves)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"append latency by percentile", "records/s per 100 ms bucket", "percentile", "99.9", "records/s", "runs"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the SVG", want)
		}
	}
}
