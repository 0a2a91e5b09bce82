package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mmapwal/mmapwal/mmapwal"
	"github.com/mmapwal/mmapwal/segment"
)

var verifyCmd = &command{
	name:     "verify",
	synopsis: "verify DIR [--strict]",
	summary:  "check every frame: exit 0 intact, 1 a torn tail only, 3 damage to durable data",
	help: `It opens the log ReadOnly (no lock, nothing written) and reads every frame
through the library, checking each one's checksum, sequence and type:
  exit 0  intact;
  exit 1  a torn tail only: bytes that no acknowledged record owns, left by a
          crash before they were synced; it says where, and how many bytes the
          next Open (TruncatePartial, or "mmapwal repair DIR --apply") cuts;
  exit 3  damage to durable data: the segment, the offset and the reason;
          no Open repairs it ("mmapwal repair DIR --salvage-to SEQ" drops the
          records after SEQ).
On a log that a live writer holds (its lock is taken, as /proc/locks shows),
a tail being written is not a torn tail: it is reported as in progress, and
verify exits 0.

flags:
  --strict  treat a torn tail as corruption (exit 3)
`,
	run: runVerify,
}

func runVerify(c *cli, args []string) int {
	f := newFlags("verify")
	strict := f.Bool("strict", false, "treat a torn tail as corruption (exit 3)")
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
	err := verifyAll(context.Background(), l)
	_, live := writer(dir)
	rec := l.Recovery()
	var ce *mmapwal.CorruptionError
	switch {
	case errors.As(err, &ce) && live && writerAppended(l, ce):
		// Frames the writer appended since the open, after the view's end.
	case errors.As(err, &ce):
		// The open's verdict stands unless the scan found damage before
		// it: where the open stopped, Verify sees the view's end, and
		// what follows it is the damage the open already judged.
		if before(ce, rec) {
			rec.Corruption, rec.TornTail = ce, nil
		}
	case errors.Is(err, mmapwal.ErrTruncated) && live:
		// The writer truncated records the view held: what is left was
		// checked, and the writer owns the rest.
	case err != nil:
		return c.logErr(dir, err)
	}
	w := c.stdout
	switch {
	case rec.Corruption != nil:
		ce := rec.Corruption
		fmt.Fprintf(w, "%s: corrupt: damage to durable data in %s at offset %d: %s\n", dir, ce.Segment, ce.Offset, ce.Reason.String())
		fmt.Fprintf(w, "  records %s are intact; no Open repairs this: the damaged bytes held acknowledged records\n", seqRange(l.FirstSeq(), l.LastSeq()))
		fmt.Fprintf(w, "  salvage: mmapwal repair %s --salvage-to %d shows what dropping every later record means (--apply does it)\n", dir, l.LastSeq())
		return exitCorrupt
	case rec.TornTail != nil && live:
		tt := rec.TornTail
		fmt.Fprintf(w, "%s: intact: records %s checked; a writer is appending: its tail in %s from offset %d is in progress, not torn\n",
			dir, seqRange(l.FirstSeq(), l.LastSeq()), tt.Segment, tt.Offset)
		return exitOK
	case rec.TornTail != nil:
		tt := rec.TornTail
		what := "torn tail"
		if *strict {
			what = "corrupt (--strict): torn tail"
		}
		fmt.Fprintf(w, "%s: %s in %s at offset %d: %s\n", dir, what, tt.Segment, tt.Offset, tt.Reason.String())
		fmt.Fprintf(w, "  %s that no acknowledged record owns: the residue of a crash before they were synced\n", sizeExact(tt.BytesDropped))
		fmt.Fprintf(w, "  the next Open cuts them into %s; records %s are intact\n", segment.QuarantineName(tt.Segment, tt.Offset), seqRange(l.FirstSeq(), l.LastSeq()))
		fmt.Fprintf(w, "  repair: mmapwal repair %s --apply\n", dir)
		if *strict {
			return exitCorrupt
		}
		return exitTornTail
	}
	segs := 0
	if all, err := l.Segments(); err == nil {
		for _, si := range all {
			if si.State == mmapwal.SegmentSealed || si.State == mmapwal.SegmentActive {
				segs++
			}
		}
	}
	closed := "not closed cleanly"
	if rec.Clean || l.Meta().MarkSegment != "" {
		closed = "closed cleanly"
	}
	if live {
		closed = "a writer has it open"
	}
	fmt.Fprintf(w, "%s: intact: records %s in %d %s, every frame checked; %s\n", dir, seqRange(l.FirstSeq(), l.LastSeq()),
		segs, plural(segs, "segment", "segments"), closed)
	return exitOK
}

// writerAppended reports whether ce is Verify finding bytes after the end
// of the view's newest segment: on a log a live writer holds, its appends
// since the open (Log.Verify: "beside a live writer it may report as
// damage what the writer is changing meanwhile").
func writerAppended(l *mmapwal.Log, ce *mmapwal.CorruptionError) bool {
	segs, err := l.Segments()
	if err != nil || ce.Reason != mmapwal.ReasonGarbageAfterEnd {
		return false
	}
	for i := len(segs) - 1; i >= 0; i-- {
		if si := segs[i]; si.Used > 0 {
			return si.Name == ce.Segment && ce.Offset >= si.Used
		}
	}
	return false
}

// before reports whether the damage ce lies before where the open found
// the valid frames end (a torn tail or damage), or the open found none.
func before(ce *mmapwal.CorruptionError, rec mmapwal.RecoveryReport) bool {
	seg, off := "", int64(0)
	switch {
	case rec.Corruption != nil:
		seg, off = rec.Corruption.Segment, rec.Corruption.Offset
	case rec.TornTail != nil:
		seg, off = rec.TornTail.Segment, rec.TornTail.Offset
	default:
		return true
	}
	return ce.Segment < seg || ce.Segment == seg && ce.Offset < off
}

// verifyAll reads and checks every frame of l through the library
// (Log.Verify: checksums, types, sequences, each sealed segment's end and
// nothing after the newest segment's frames). On a ReadOnly log the open
// scanned every segment already, and Recovery reports where the valid
// frames end and why; Verify reads them again, so that damage since, or
// missed by the open, is found.
func verifyAll(ctx context.Context, l *mmapwal.Log) error {
	return l.Verify(ctx)
}
