package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

var dumpSegmentCmd = &command{
	name:     "dump-segment",
	synopsis: "dump-segment FILE",
	summary:  "one segment file without META: header, frames, where they end and why",
	help: `It maps the file read-only and takes the log's identity and the segment number
from its own header (no META is read, so a segment of any log, or one copied
out of its directory, can be shown). It prints the header's fields, every
frame of the valid prefix (records, pads, marks, seals), then the end: a
clean end (only zeros after it), or the first invalid frame and why. After an
invalid frame it lists the frames that still decode further on and says
whether one of them proves the bytes durable (its durable watermark is past
the invalid frame): then they are damage, not a torn tail. Whether a torn
tail may be cut also depends on the segments after this one and on META,
which only "mmapwal verify DIR" reads.
Exit status 0 when the file was read, whatever it holds; 3 when its header is
damaged or the file is shorter than its header says; 4 when it cannot be read
or is not a segment file (no segment magic, or a newer format version).
`,
	run: runDumpSegment,
}

func runDumpSegment(c *cli, args []string) int {
	f := newFlags("dump-segment")
	pos, st, ok := c.parseArgs(f, args, "FILE")
	if !ok {
		return st
	}
	path := pos[0]
	sf, err := segment.OpenStandalone(path)
	if err != nil {
		return c.segmentErr(path, err)
	}
	defer sf.Close()
	h := sf.Header()
	w := c.stdout
	kv := newTable(w, "")
	kv.row("file", path)
	kv.row("header", headerLine(h))
	kv.row("identity", hex.EncodeToString(h.LogID[:]))
	num := fmt.Sprint(h.Number)
	if n, ok := segment.ParseName(filepath.Base(path)); ok && n != h.Number {
		num += fmt.Sprintf(" (the file name says %d: in a log this is a segment number mismatch)", n)
	}
	kv.row("number", num)
	first := fmt.Sprint(h.FirstSeq)
	prev := uint64(0)
	if h.FirstSeq == 0 {
		first = "0 (prepared: the first record follows the previous segment's last)"
	} else {
		prev = h.FirstSeq - 1
	}
	kv.row("first seq", first)
	kv.row("size", fmt.Sprintf("%s (%d bytes; the file has %d)", size(h.Size), h.Size, sf.FileSize()))
	kv.flush()

	maxPayload := sf.MaxFramePayload()
	end := sf.Scan(prev, maxPayload, func(int64, crcframe.Header, []byte) {})
	fmt.Fprintf(w, "\nframes: %d records in the valid prefix, which ends at offset %d\n", end.Records, end.Offset)
	if err := writeFrames(w, sf, segment.HeaderSize, end.Bad, maxPayload); err != nil {
		return c.segmentErr(path, err)
	}
	writeEnd(w, sf, end, maxPayload)
	return exitOK
}

// segmentErr reports why the segment file at path does not open.
func (c *cli) segmentErr(path string, err error) int {
	var se *segment.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.fail(exitUnreadable, "%s: no such file", path)
	case errors.Is(err, crcframe.UnsupportedVersion):
		return c.fail(exitUnreadable, "%s: written by a newer mmapwal (unsupported format version)", path)
	case errors.Is(err, crcframe.BadMagic), errors.Is(err, crcframe.IncompleteHeader):
		return c.fail(exitUnreadable, "%s: not a segment file: %s", path, se0(err))
	case errors.As(err, &se):
		return c.fail(exitCorrupt, "%s: damaged segment: %s at offset %d", path, se.Reason.String(), se.Offset)
	}
	return c.fail(exitUnreadable, "%s: %v", path, err)
}

// se0 is the reason a segment error carries.
func se0(err error) string {
	var r crcframe.Reason
	if errors.As(err, &r) {
		return r.String()
	}
	return err.Error()
}

func headerLine(h segment.Header) string {
	s := fmt.Sprintf("version %d, flags %#x", max(h.Version, 1), h.Flags)
	if h.Flags&segment.FlagPrevSealed != 0 {
		s += fmt.Sprintf(" (prev sealed: the previous segment's seal frame is at its offset %d)", h.PrevSeal)
	}
	return s
}

// writeFrames prints the frames from off up to to, as FrameAt decodes them
// one after the other.
func writeFrames(w io.Writer, sf *segment.File, off, to int64, maxPayload int) error {
	t := newTable(w, "  ")
	t.row("OFFSET", "TYPE", "SEQ", "LENGTH", "DURABLE", "CRC")
	for off < to {
		fr, err := sf.FrameAt(off, maxPayload)
		if err != nil {
			return err
		}
		t.row(fr.Offset, fr.Type, fr.Seq, len(fr.Payload), fr.Durable, fmt.Sprintf("0x%08x", fr.CRC))
		off += int64(fr.Size)
	}
	t.flush()
	return nil
}

// writeEnd prints how the frames end and what follows.
func writeEnd(w io.Writer, sf *segment.File, end segment.End, maxPayload int) {
	follow := "only zeros follow"
	if sf.Recycled() {
		follow = "stale bytes of the file's earlier segments follow (a recycled segment: no frame of this one)"
	}
	switch {
	case end.Clean() && end.Sealed:
		fmt.Fprintf(w, "\nend: a seal frame ends the segment at offset %d (it was sealed by rotation); %s\n", end.Offset, follow)
		return
	case end.Clean() && end.Marked:
		fmt.Fprintf(w, "\nend: a durable mark (a Close) ends the frames at offset %d; %s\n", end.Offset, follow)
		return
	case end.Clean():
		fmt.Fprintf(w, "\nend: clean at offset %d: %s\n", end.Offset, follow)
		return
	}
	if end.OpenBatch != 0 {
		fmt.Fprintf(w, "\nend: an unfinished batch from offset %d (its records are not part of the prefix)\n", end.OpenBatch)
	}
	why := end.Reason.String()
	if fr, err := sf.FrameAt(end.Bad, maxPayload); err == nil && end.Reason == crcframe.SequenceViolation {
		why += fmt.Sprintf(" (a valid %s frame of sequence %d that does not follow the one before)", fr.Type, fr.Seq)
	}
	fmt.Fprintf(w, "\nend: invalid frame at offset %d: %s\n", end.Bad, why)
	fmt.Fprintf(w, "after: non-zero bytes up to offset %d (%s from the end of the valid prefix)\n", end.Dirty, size(end.Dirty-end.Offset))
	var later []segment.Frame
	sf.FramesAfter(end.Bad+crcframe.Alignment, maxPayload, func(fr segment.Frame) { later = append(later, fr) })
	if len(later) > 0 {
		fmt.Fprintf(w, "frames that still decode after it: %d\n", len(later))
		t := newTable(w, "  ")
		t.row("OFFSET", "TYPE", "SEQ", "LENGTH", "DURABLE", "CRC")
		for _, fr := range later {
			t.row(fr.Offset, fr.Type, fr.Seq, len(fr.Payload), fr.Durable, fmt.Sprintf("0x%08x", fr.CRC))
		}
		t.flush()
	}
	if end.ProvenDurable() {
		fmt.Fprintf(w, "verdict: proven durable (a later frame's durable watermark, %d, is past offset %d): damage to durable data, never a torn tail\n", end.DurableAfter, end.Bad)
		return
	}
	fmt.Fprintf(w, "verdict: nothing in this segment proves those bytes durable: a torn tail if this is the log's newest segment, no later one was activated and the log was not closed cleanly; damage otherwise\n")
}
