package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/mmapwal"
)

var statsCmd = &command{
	name:     "stats",
	synopsis: "stats DIR",
	summary:  "record sizes, bytes on disk per record and per payload byte, segment fill",
	help: `It reads every record's frame (a ReadOnly open) and prints:
  - the record count and sequence range;
  - the payload sizes: min, p50, p99, max, total;
  - the frame bytes per record (payload, 24-byte header and padding to 8) and
    the disk bytes allocated per record;
  - each segment's fill (bytes used by frames over its size);
  - the disk bytes allocated (segments and META, st_blocks) per payload byte.
`,
	run: runStats,
}

func runStats(c *cli, args []string) int {
	f := newFlags("stats")
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
	var lens []int
	var payload, frames int64
	err := eachRecord(l, l.FirstSeq(), l.LastSeq(), 0, func(fr mmapwal.RecordFrame, _ []byte) error {
		lens = append(lens, fr.Length)
		payload += int64(fr.Length)
		frames += int64(crcframe.Size(fr.Length))
		return nil
	})
	if err != nil {
		return c.logErr(dir, err)
	}
	segs, err := l.Segments()
	if err != nil {
		return c.logErr(dir, err)
	}
	disk, err := mmapwal.DiskUsage(dir)
	if err != nil {
		return c.logErr(dir, err)
	}
	var fills []string
	for _, si := range segs {
		if si.State == mmapwal.SegmentSealed || si.State == mmapwal.SegmentActive {
			fills = append(fills, fmt.Sprintf("%d: %s", si.Number, percent(si.Used, si.Size)))
		}
	}
	slices.Sort(lens)
	n := len(lens)
	kv := newTable(c.stdout, "")
	kv.row("records", fmt.Sprintf("%d (%s)", n, seqRange(l.FirstSeq(), l.LastSeq())))
	if n > 0 {
		kv.row("payload", fmt.Sprintf("min %s, p50 %s, p99 %s, max %s; %s in total",
			size(int64(lens[0])), size(int64(rank(lens, 50))), size(int64(rank(lens, 99))), size(int64(lens[n-1])), size(payload)))
		kv.row("per record", fmt.Sprintf("%s of frame, %s of disk allocated", size(frames/int64(n)), size(disk/int64(n))))
	}
	kv.row("segment fill", strings.Join(fills, ", "))
	perByte := "-"
	if payload > 0 {
		perByte = strconv.FormatFloat(float64(disk)/float64(payload), 'f', 2, 64)
	}
	kv.row("disk", fmt.Sprintf("%s allocated (META, LOCK and the segments) for %s of payload: %s bytes per payload byte", size(disk), size(payload), perByte))
	kv.flush()
	return c.endNote(dir, l)
}

// rank is the p-th percentile of the sorted lens, nearest rank.
func rank(lens []int, p int) int {
	i := (p*len(lens) + 99) / 100
	return lens[max(i, 1)-1]
}
