package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapwal/mmapwal/mmapwal"
)

func TestParseBytes(t *testing.T) {
	good := map[string]int64{
		"0": 0, "128": 128, "128B": 128, "4k": 4096, "4K": 4096, "4KiB": 4096, "4kb": 4096,
		"64KiB": 64 << 10, "1M": 1 << 20, "1MiB": 1 << 20, "2G": 2 << 30, " 8 ": 8,
	}
	for in, want := range good {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "k", "4q", "4 k", "-1", "1.5k", "4KiBs", "99999999999999999999", "9000000000G"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string][2]int{
		"128": {128, 128}, "4k": {4096, 4096}, "64KiB": {65536, 65536},
		"100-200": {100, 200}, "1k-4k": {1024, 4096}, "0-16": {0, 16}, "7-7": {7, 7},
	}
	for in, want := range good {
		lo, hi, err := parseSize(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("parseSize(%q) = %d, %d, %v; want %v", in, lo, hi, err, want)
		}
	}
	for _, in := range []string{"", "abc", "200-100", "1-", "-1", "1-2-3", "4x", "2G", "1k-2G"} {
		if lo, hi, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, %d; want an error", in, lo, hi)
		}
	}
	if got := formatSize(4096, 4096); got != "4KiB" {
		t.Errorf("formatSize(4096) = %q", got)
	}
	if got := formatSize(100, 1536); got != "100B-1536B" {
		t.Errorf("formatSize(100, 1536) = %q", got)
	}
}

func TestStandardMix(t *testing.T) {
	// No flags, and output or placement flags only, run the standard mix.
	for _, args := range [][]string{nil, {"--json", "--dir", "/x", "--keep", "--plot", "p.svg", "--cpuprofile", "c"}} {
		cfg, err := parseArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.runs) != 8 {
			t.Fatalf("%q: %d runs, want the 8 of the standard mix", args, len(cfg.runs))
		}
		names := map[string]bool{}
		for _, s := range cfg.runs {
			names[s.name] = true
			if !s.replay || (s.records == 0) == (s.duration == 0) {
				t.Errorf("%s: want replay and exactly one of records and duration: %+v", s.name, s)
			}
			if s.durability == mmapwal.SyncAlways && s.duration == 0 {
				t.Errorf("%s: durable runs are timed", s.name)
			}
		}
		for _, n := range []string{"size=128B/sync=manual/writers=1", "size=4KiB/sync=always/writers=16"} {
			if !names[n] {
				t.Errorf("no run %q in %v", n, names)
			}
		}
	}
}

func TestParseCustom(t *testing.T) {
	cases := []struct {
		args []string
		want spec
	}{
		{[]string{"--records", "2000"}, spec{name: "size=128B/sync=always/writers=1", records: 2000, sizeMin: 128, sizeMax: 128, writers: 1}},
		{[]string{"--replay"}, spec{name: "size=128B/sync=always/writers=1", duration: customDuration, sizeMin: 128, sizeMax: 128, writers: 1, replay: true}},
		{[]string{"-duration", "3s", "--size", "1k-4k", "--writers=4", "--durability", "interval=5ms", "--batch", "16", "--segment-size", "1M"},
			spec{name: "size=1KiB-4KiB/sync=interval=5ms/writers=4/batch=16", duration: 3 * time.Second, sizeMin: 1024, sizeMax: 4096,
				writers: 4, durability: mmapwal.SyncInterval, interval: 5 * time.Millisecond, batch: 16, segmentSize: 1 << 20}},
		{[]string{"--durability", "interval", "--reserve", "--records", "1_000"},
			spec{name: "size=128B/sync=interval=10ms/writers=1/reserve", records: 1000, sizeMin: 128, sizeMax: 128, writers: 1,
				durability: mmapwal.SyncInterval, interval: 10 * time.Millisecond, reserve: true}},
		{[]string{"--durability", "MANUAL", "--size", "64KiB"}, spec{name: "size=64KiB/sync=manual/writers=1", duration: customDuration,
			sizeMin: 64 << 10, sizeMax: 64 << 10, writers: 1, durability: mmapwal.SyncManual}},
	}
	for _, c := range cases {
		cfg, err := parseArgs(c.args)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if len(cfg.runs) != 1 || cfg.runs[0] != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.args, cfg.runs, c.want)
		}
	}
}

// TestBadFlags checks that each bad flag or unusable place gives exit code
// 2 and exactly one line on stderr naming the problem, and writes nothing
// on stdout.
func TestBadFlags(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--size", "abc"}, `walbench: --size: cannot parse "abc"`},
		{[]string{"--size", "200-100"}, "--size: range"},
		{[]string{"--records", "abc"}, `--records: cannot parse "abc"`},
		{[]string{"--records", "0"}, "--records: 0 out of range"},
		{[]string{"--records", "10", "--duration", "1s"}, "mutually exclusive"},
		{[]string{"--duration", "soon"}, `--duration: cannot parse "soon"`},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--writers", "0"}, "--writers"},
		{[]string{"--writers", "many"}, "--writers"},
		{[]string{"--durability", "sometimes"}, `--durability: cannot parse "sometimes"`},
		{[]string{"--durability", "interval=abc"}, "--durability"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--batch", "4", "--reserve"}, "--reserve and --batch"},
		{[]string{"--segment-size", "big"}, "--segment-size"},
		{[]string{"--nosuch"}, "flag provided but not defined: -nosuch"},
		{[]string{"--records"}, "flag needs an argument: -records"},
		{[]string{"--reserve=maybe"}, "-reserve"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--dir", filepath.Join(tmp, "missing")}, "--dir"},
		{[]string{"--dir", file}, "is not a directory"},
		{[]string{"--records", "10", "--plot", filepath.Join(tmp, "missing", "p.svg")}, "--plot"},
		{[]string{"--records", "10", "--cpuprofile", filepath.Join(tmp, "missing", "c.prof")}, "--cpuprofile"},
		// Settings the engine refuses, found at Open or at the first append.
		{[]string{"--records", "10", "--segment-size", "1001", "--dir", tmp}, "--segment-size"},
		{[]string{"--records", "10", "--size", "128k", "--segment-size", "64k", "--dir", tmp}, "--size"},
		{[]string{"--records", "1000", "--batch", "100", "--size", "1k", "--segment-size", "64k", "--dir", tmp}, "--batch"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") ||
			!strings.HasPrefix(msg, "walbench: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line containing %q", c.args, code, msg, c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", c.args, stdout.String())
		}
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 { // only "file": failed runs clean up after themselves
		t.Errorf("left behind in --dir: %v", entries)
	}
}

// TestHelp checks that -h prints the help, which describes every flag.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("%s: exit %d, stderr %q", arg, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "time.Now/time.Since") {
			t.Errorf("%s: the help does not state the timing overhead", arg)
		}
		var r rawFlags
		fs := newFlagSet(&r)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(stdout.String(), "--"+f.Name+" ") {
				t.Errorf("%s: the help does not describe --%s", arg, f.Name)
			}
		})
	}
}
