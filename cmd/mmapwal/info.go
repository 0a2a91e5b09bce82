package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

var infoCmd = &command{
	name:     "info",
	synopsis: "info DIR",
	summary:  "identity, format, sequences, clean close, segments, quarantine, writer's lock",
	help: `It reads META, every segment header and the frames (a ReadOnly open: no lock,
nothing changed, safe beside a live writer) and prints:
  - the log's identity, its format version and feature bits;
  - FirstSeq, LastSeq and DurableSeq (what the files prove durable);
  - whether the log was closed cleanly (META's clean-close record);
  - the truncation state (front, floor, a TruncateBack a crash interrupted);
  - where the valid records end: a torn tail or damage, if any;
  - a table of the segment files: number, size, first and last record,
    records, bytes used by frames, and state: sealed, active, prepared,
    creation interrupted, truncated (pending), not read (after damage);
    recycled is reserved for a later format feature;
  - the quarantine files;
  - which process holds the writer's lock, read from /proc/locks (never by
    taking the lock, which could make a starting writer fail); "unknown"
    on systems without that list.
Exit status 3 when the log has damage to durable data, 0 otherwise.
`,
	run: runInfo,
}

func runInfo(c *cli, args []string) int {
	f := newFlags("info")
	pos, st, ok := c.parseArgs(f, args, "DIR")
	if !ok {
		return st
	}
	dir := pos[0]
	l, st := c.openLog(dir)
	if l == nil {
		return st
	}
	defer l.Close()
	segs, err := l.Segments()
	if err != nil {
		return c.logErr(dir, err)
	}
	qs, err := mmapwal.QuarantineFiles(dir)
	if err != nil {
		return c.logErr(dir, err)
	}
	w := c.stdout
	m, rec := l.Meta(), l.Recovery()
	who, _ := writer(dir)
	kv := newTable(w, "")
	kv.row("log", dir)
	kv.row("identity", hex.EncodeToString(m.LogID[:]))
	kv.row("format", formatLine(m, segs))
	kv.row("records", fmt.Sprintf("first %d, last %d, durable %d", l.FirstSeq(), l.LastSeq(), l.DurableSeq()))
	kv.row("closed", closeLine(m, rec))
	kv.row("truncation", truncLine(m))
	kv.row("end", endLine(l, rec))
	kv.row("writer", who)
	kv.flush()
	writeSegments(w, segs)
	writeQuarantine(w, qs, "\n", "")
	if rec.Corruption != nil {
		return exitCorrupt
	}
	return exitOK
}

// formatLine is the format version and features of META and the segments.
func formatLine(m mmapwal.MetaInfo, segs []mmapwal.SegmentInfo) string {
	s := fmt.Sprintf("META version %d, features %#x", m.Version, m.Features)
	switch m.Features & (mmapwal.FeatureCleanClose | mmapwal.FeatureRecycled) {
	case mmapwal.FeatureCleanClose:
		s += " (clean close)"
	case mmapwal.FeatureRecycled:
		s += " (recycled segments)"
	case mmapwal.FeatureCleanClose | mmapwal.FeatureRecycled:
		s += " (clean close, recycled segments)"
	}
	versions := map[int]int{}
	for _, si := range segs {
		if si.Version != 0 {
			versions[si.Version]++
		}
	}
	var vs []string
	for v := 1; v <= segment.Version; v++ {
		if n := versions[v]; n > 0 {
			vs = append(vs, fmt.Sprintf("%d × v%d", n, v))
		}
	}
	if len(vs) > 0 {
		s += "; segment headers " + strings.Join(vs, ", ")
	}
	return s
}

func closeLine(m mmapwal.MetaInfo, rec mmapwal.RecoveryReport) string {
	switch {
	case m.MarkSegment != "":
		return fmt.Sprintf("cleanly (META records the durable mark in %s at offset %d)", m.MarkSegment, m.MarkOffset)
	case rec.Clean:
		return "cleanly (the newest segment ends with a durable mark)"
	}
	return "not cleanly: a crash, or a writer has it open"
}

func truncLine(m mmapwal.MetaInfo) string {
	s := fmt.Sprintf("front %d, floor %d", m.FrontSeq, m.FloorSeq)
	if m.BackSegment != "" {
		s += fmt.Sprintf("; a TruncateBack a crash interrupted: %s from offset %d on (the next Open finishes it)", m.BackSegment, m.BackOffset)
	}
	return s
}

// endLine says where the log's valid records end.
func endLine(l *mmapwal.Log, rec mmapwal.RecoveryReport) string {
	switch {
	case rec.Corruption != nil:
		ce := rec.Corruption
		return fmt.Sprintf("DAMAGE to durable data in %s at offset %d: %s (records up to %d are intact)", ce.Segment, ce.Offset, ce.Reason.String(), l.LastSeq())
	case rec.TornTail != nil:
		tt := rec.TornTail
		return fmt.Sprintf("torn tail in %s at offset %d: %s, %s the next Open cuts", tt.Segment, tt.Offset, tt.Reason.String(), sizeExact(tt.BytesDropped))
	}
	return "clean: every frame is valid"
}

// writeSegments prints the table of segment files.
func writeSegments(w io.Writer, segs []mmapwal.SegmentInfo) {
	var disk int64
	for _, si := range segs {
		disk += si.Allocated
	}
	fmt.Fprintf(w, "\nsegments: %d %s, %s on disk\n", len(segs), plural(len(segs), "file", "files"), size(disk))
	if len(segs) == 0 {
		return
	}
	t := newTable(w, "  ")
	t.row("SEG", "FILE", "SIZE", "FIRST", "LAST", "RECORDS", "USED", "STATE")
	for _, si := range segs {
		first, last, used := "-", "-", "-"
		if si.Records > 0 {
			first, last = fmt.Sprint(si.FirstSeq), fmt.Sprint(si.LastSeq)
		}
		if si.Used > 0 {
			used = fmt.Sprintf("%s (%s)", size(si.Used), percent(si.Used, si.Size))
		}
		state := si.State.String()
		if si.State == mmapwal.SegmentSealed && !si.SealFrame && si.Version == 1 {
			state += " (v1)"
		}
		t.row(si.Number, si.Name, size(si.Size), first, last, si.Records, used, state)
	}
	t.flush()
}

// writeQuarantine prints the table of quarantine files, its first line
// after head; tail is a line printed after it when there are some.
func writeQuarantine(w io.Writer, qs []mmapwal.QuarantineFile, head, tail string) {
	var n, disk int64
	for _, q := range qs {
		n += q.Size
		disk += q.Allocated
	}
	if len(qs) == 0 {
		fmt.Fprintf(w, "%squarantine: none\n", head)
		return
	}
	fmt.Fprintf(w, "%squarantine: %d %s, %s (%s on disk); mmapwal never reads them\n", head, len(qs), plural(len(qs), "file", "files"), size(n), size(disk))
	t := newTable(w, "  ")
	t.row("FILE", "FROM", "OFFSET", "SIZE")
	for _, q := range qs {
		t.row(q.Name, q.Segment, q.Offset, size(q.Size))
	}
	t.flush()
	if tail != "" {
		fmt.Fprintln(w, tail)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
