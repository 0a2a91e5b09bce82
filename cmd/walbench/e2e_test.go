package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runJSON runs walbench with --json and decodes its output.
func runJSON(t *testing.T, args ...string) jsonDoc {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("walbench %q: exit %d: %s", args, code, stderr.String())
	}
	// Not a terminal: no progress line; only --keep says where it kept.
	if msg := stderr.String(); msg != "" && !(slices.Contains(args, "--keep") && strings.HasPrefix(msg, "walbench: kept ") && strings.Count(msg, "\n") == 1) {
		t.Errorf("stderr: %q", msg)
	}
	var doc jsonDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	return doc
}

// checkRun checks that a run's figures agree with each other.
func checkRun(t *testing.T, r jsonRun, records int64) {
	t.Helper()
	if r.Records != records || r.Replay == nil || r.Replay.Records != records || int64(r.Replay.RecoveredRecords) != records {
		t.Fatalf("%s: wrote %d, replay %+v; want %d each", r.Name, r.Records, r.Replay, records)
	}
	if r.Replay.PayloadBytes != r.PayloadBytes || r.PayloadBytes < records*int64(r.Config.SizeMin) || r.PayloadBytes > records*int64(r.Config.SizeMax) {
		t.Errorf("%s: payload bytes %d, replayed %d", r.Name, r.PayloadBytes, r.Replay.PayloadBytes)
	}
	if r.RecordsPerSec <= 0 || r.MBPerSec <= 0 || r.Seconds <= 0 || r.Replay.RecordsPerSec <= 0 || r.Replay.OpenSeconds <= 0 {
		t.Errorf("%s: rates %v rec/s, %v MB/s, replay %v rec/s, open %v s", r.Name, r.RecordsPerSec, r.MBPerSec, r.Replay.RecordsPerSec, r.Replay.OpenSeconds)
	}
	l := r.Latency
	if !(0 <= l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.P9999 && l.P9999 <= l.Max && l.Max > 0) {
		t.Errorf("%s: latency percentiles not monotonic: %+v", r.Name, l)
	}
	if r.Syncs < 1 || r.RecordsPerSync <= 0 {
		t.Errorf("%s: %d syncs, %v records/sync", r.Name, r.Syncs, r.RecordsPerSync)
	}
	// Every record takes at least its payload and a 24-byte frame header on
	// disk, and the segments hold little else.
	perRecord := float64(r.PayloadBytes)/float64(records) + 24
	if r.DiskBytesPerRecord < perRecord || r.DiskBytesPerRecord > perRecord+8+float64(r.Segments*4096)/float64(records) {
		t.Errorf("%s: %v disk bytes per record, want about %v", r.Name, r.DiskBytesPerRecord, perRecord)
	}
	if len(r.Throughput) == 0 {
		t.Errorf("%s: no throughput samples", r.Name)
	}
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := runJSON(t, "--records", "2000", "--size", "128", "--durability", "manual", "--replay", "--dir", dir)
	if len(doc.Runs) != 1 {
		t.Fatalf("%d runs", len(doc.Runs))
	}
	r := doc.Runs[0]
	checkRun(t, r, 2000)
	if r.Latency.Count != 2000 || r.PayloadBytes != 2000*128 || r.DiskBytesPerRecord < 152 || r.DiskBytesPerRecord > 153 {
		t.Errorf("latency count %d, payload %d, disk/record %v", r.Latency.Count, r.PayloadBytes, r.DiskBytesPerRecord)
	}
	if !strings.HasPrefix(doc.Dir, dir) {
		t.Errorf("dir %q not under --dir %q", doc.Dir, dir)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind without --keep: %v", entries)
	}
}

// TestEndToEndPaths covers the other append paths, a size range, several
// writers, SyncInterval and SyncAlways, rotation into more segments, --keep
// and --plot.
func TestEndToEndPaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args     []string
		records  int64
		rotation bool // the run fills more than one segment
	}{
		{[]string{"--records", "3000", "--size", "10-300", "--writers", "3", "--durability", "interval=1ms", "--batch", "7", "--segment-size", "64k"}, 3000, true},
		{[]string{"--records", "1000", "--size", "1k", "--writers", "2", "--durability", "manual", "--reserve", "--segment-size", "64KiB",
			"--cpuprofile", filepath.Join(t.TempDir(), "cpu.prof")}, 1000, true},
		{[]string{"--records", "50", "--size", "64", "--writers", "4", "--durability", "always", "--segment-size", "1M"}, 50, false},
	}
	for _, c := range cases {
		dir := t.TempDir()
		plot := filepath.Join(t.TempDir(), "p.svg")
		doc := runJSON(t, append(c.args, "--replay", "--dir", dir, "--keep", "--plot", plot)...)
		r := doc.Runs[0]
		checkRun(t, r, c.records)
		if r.Config.Batch > 0 && r.Latency.Count >= uint64(r.Records) {
			t.Errorf("%s: %d latency samples for %d records: want one per batch", r.Name, r.Latency.Count, r.Records)
		}
		if c.rotation && r.Segments < 2 {
			t.Errorf("%s: %d segments, want rotation", r.Name, r.Segments)
		}
		wals, _ := filepath.Glob(filepath.Join(doc.Dir, "*", "*.wal"))
		if len(wals) == 0 {
			t.Errorf("%s: --keep kept no segment in %s", r.Name, doc.Dir)
		}
		if i := slices.Index(c.args, "--cpuprofile"); i >= 0 {
			if fi, err := os.Stat(c.args[i+1]); err != nil || fi.Size() == 0 {
				t.Errorf("%s: no CPU profile: %v", r.Name, err)
			}
		}
		if !doc.Kept {
			t.Errorf("%s: --keep, but the document says the directory was removed", r.Name)
		}
		svg, err := os.ReadFile(plot)
		if err != nil {
			t.Fatal(err)
		}
		checkSVG(t, svg, 1)
	}
}

// TestTableOutput runs walbench for its table.
func TestTableOutput(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--records", "500", "--durability", "manual", "--segment-size", "1M", "--dir", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "size=128B/sync=manual/writers=1 ") || !strings.Contains(out, "p99.9") || strings.Count(out, "\nsize=") != 1 {
		t.Errorf("table:\n%s", out)
	}
}

// TestMeasureDisk checks where the scan puts the end of a segment's last
// frame: past its last non-zero byte, rounded up to 8.
func TestMeasureDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		size int
		set  []int // offsets of non-zero bytes
		want int64
	}{
		{4096, nil, 0},
		{4096, []int{0}, 8},
		{4096, []int{100}, 104},
		{4096, []int{5, 4095}, 4096},
		{3 << 20, []int{17, 1<<20 + 5}, 1<<20 + 8},
		{3 << 20, []int{2<<20 - 1}, 2 << 20},
		{3<<20 + 16, []int{3<<20 + 9}, 3<<20 + 16},
	}
	for i, c := range cases {
		b := make([]byte, c.size)
		for _, o := range c.set {
			b[o] = 0xff
		}
		name := filepath.Join(dir, "f.wal")
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		du, err := measureDisk(dir)
		used, size := du.used, du.fileBytes
		if err != nil || used != c.want || size != int64(c.size) || du.segments != 1 {
			t.Errorf("case %d: used %d, size %d, %v; want %d, %d", i, used, size, err, c.want, c.size)
		}
	}
}
