package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mmapwal/mmapwal/mmapwal"
)

var repairCmd = &command{
	name:     "repair",
	synopsis: "repair DIR [--apply] [--salvage-to SEQ]",
	summary:  "what Open would repair (dry run); --apply does it; --salvage-to SEQ drops records after SEQ",
	help: `Without --apply nothing is changed: it prints what an Open with the default
TruncatePartial policy would do (the library's dry run, mmapwal.PlanRepair):
cut a torn tail into a quarantine file, finish a TruncateBack a crash
interrupted, remove a segment that never held a record (prepared, or whose
creation a crash interrupted), remove segments wholly below a front
truncation, clear META's clean-close record. With --apply it opens the log
that way (taking the writer's lock: exit 4 while a writer has it open) and
closes it cleanly, and prints what was done.

A log with damage to durable data is not repaired by any Open (exit 3). The
only way to lose acknowledged records is explicit:
  --salvage-to SEQ   keep the records up to SEQ (at most the last intact one),
                     move every later byte (the rest of the segment, every later
                     segment file) into quarantine files, and print exactly what
                     is dropped; a dry run unless --apply is given too
                     (mmapwal.Salvage).

flags:
  --apply            do it (default: a dry run that changes nothing)
  --salvage-to SEQ   salvage instead of repair, as above
`,
	run: runRepair,
}

func runRepair(c *cli, args []string) int {
	f := newFlags("repair")
	apply := f.Bool("apply", false, "do it (default: a dry run)")
	salvage := f.Uint64("salvage-to", 0, "keep the records up to SEQ, quarantine the rest")
	pos, st, ok := c.parseArgs(f, args, "DIR")
	if !ok {
		return st
	}
	dir := pos[0]
	if st := c.checkDir(dir); st != exitOK {
		return st
	}
	// A writer that has the log open owns it: --apply would fail to take
	// the lock anyway, and a plan made beside it describes a tail that is
	// being written. /proc/locks tells without taking the lock; where it
	// is unknown, the open's own lock attempt answers.
	if _, live := writer(dir); live && *apply {
		return c.logErr(dir, mmapwal.ErrLocked)
	}
	if f.set["salvage-to"] {
		return c.salvage(dir, *salvage, *apply)
	}
	p, err := mmapwal.PlanRepair(dir)
	if err != nil {
		return c.logErr(dir, err)
	}
	w := c.stdout
	if p.Corruption != nil {
		ce := p.Corruption
		fmt.Fprintf(w, "%s: cannot repair: damage to durable data in %s at offset %d: %s\n", dir, ce.Segment, ce.Offset, ce.Reason.String())
		fmt.Fprintf(w, "  Open refuses the log under every policy: the damaged bytes held acknowledged records\n")
		fmt.Fprintf(w, "  records %s are intact: 'mmapwal repair %s --salvage-to %d' shows what a salvage drops (--apply does it)\n", seqRange(p.FirstSeq, p.LastSeq), dir, p.LastSeq)
		return exitCorrupt
	}
	if who, live := writer(dir); live {
		fmt.Fprintf(w, "%s: note: %s: a tail it is writing is not torn, and --apply waits for it to close the log\n", dir, who)
	}
	if !needsRepair(p) {
		fmt.Fprintf(w, "%s: nothing to repair: records %s\n", dir, seqRange(p.FirstSeq, p.LastSeq))
		return exitOK
	}
	if !*apply {
		fmt.Fprintf(w, "%s: dry run: an Open (TruncatePartial) would\n", dir)
		writePlan(w, dir, p)
		fmt.Fprintf(w, "nothing was changed; run 'mmapwal repair %s --apply' to do it\n", dir)
		return exitOK
	}
	return c.applyRepair(dir)
}

// needsRepair reports whether the plan changes anything but META's
// clean-close record (which a writable Open clears and its Close writes
// again).
func needsRepair(p *mmapwal.RepairPlan) bool {
	q := *p
	q.ClearCleanClose = false
	return q.Changes()
}

// writePlan prints the steps of p, one a line.
func writePlan(w io.Writer, dir string, p *mmapwal.RepairPlan) {
	if p.FinishTruncation {
		fmt.Fprintf(w, "  finish the TruncateBack a crash interrupted: zero %s from offset %d on (the application truncated those records)\n", p.TruncationSegment, p.TruncationOffset)
	}
	if tt := p.TornTail; tt != nil {
		fmt.Fprintf(w, "  cut the torn tail of %s at offset %d (%s): %s, copied first to %s\n", tt.Segment, tt.Offset, tt.Reason.String(), size(tt.BytesDropped), filepath.Base(tt.Quarantine))
	}
	for _, q := range p.Quarantine {
		fmt.Fprintf(w, "  copy the bytes of a file about to be removed to %s\n", filepath.Base(q))
	}
	for _, name := range p.Remove {
		fmt.Fprintf(w, "  remove %s\n", name)
	}
	if p.Create != "" {
		fmt.Fprintf(w, "  create %s: no segment is left\n", p.Create)
	}
	if p.RemoveMetaTmp {
		fmt.Fprintf(w, "  remove META.tmp (a META write a crash interrupted)\n")
	}
	for _, name := range p.Unjudged {
		fmt.Fprintf(w, "  judge %s when it reaches it (a prepared header followed by bytes): see 'mmapwal dump-segment %s'\n", name, filepath.Join(dir, name))
	}
	fmt.Fprintf(w, "  leaving records %s (LastSeq %d)\n", seqRange(p.FirstSeq, p.LastSeq), p.LastSeq)
}

// applyRepair opens the log writable, as an application would, and
// closes it.
func (c *cli) applyRepair(dir string) int {
	l, err := mmapwal.Open(dir, &mmapwal.Options{Repair: mmapwal.TruncatePartial, Durability: mmapwal.SyncManual})
	if err != nil {
		return c.logErr(dir, err)
	}
	rec := l.Recovery()
	first, last := l.FirstSeq(), l.LastSeq()
	if err := l.Close(); err != nil {
		return c.logErr(dir, err)
	}
	w := c.stdout
	fmt.Fprintf(w, "%s: repaired:\n", dir)
	if rec.FinishedTruncation {
		fmt.Fprintf(w, "  finished the TruncateBack a crash interrupted\n")
	}
	if tt := rec.TornTail; tt != nil {
		fmt.Fprintf(w, "  cut the torn tail of %s at offset %d (%s): %s, kept in %s\n", tt.Segment, tt.Offset, tt.Reason.String(), size(tt.BytesDropped), filepath.Base(tt.Quarantine))
	}
	for _, q := range rec.Quarantined {
		fmt.Fprintf(w, "  kept the bytes of a removed file in %s\n", filepath.Base(q))
	}
	for _, name := range rec.Removed {
		fmt.Fprintf(w, "  removed %s\n", name)
	}
	fmt.Fprintf(w, "  records %s (LastSeq %d); the log was then closed cleanly\n", seqRange(first, last), last)
	return exitOK
}

// salvage runs (or, without apply, plans) mmapwal.Salvage through keep.
func (c *cli) salvage(dir string, keep uint64, apply bool) int {
	var r *mmapwal.SalvageReport
	var err error
	if apply {
		r, err = mmapwal.Salvage(dir, keep)
	} else {
		r, err = mmapwal.PlanSalvage(dir, keep)
	}
	if err != nil && r == nil {
		if errors.Is(err, mmapwal.ErrInvalidArgument) {
			return c.usageErr("%s: --salvage-to %d: %s", dir, keep, strings.TrimPrefix(err.Error(), mmapwal.ErrInvalidArgument.Error()+": "))
		}
		return c.logErr(dir, err)
	}
	w := c.stdout
	verb := "dry run: a salvage would"
	if r.Applied {
		verb = "salvaged:"
	}
	fmt.Fprintf(w, "%s: %s keep records %s, and drop everything after\n", dir, verb, seqRange(r.FirstSeq, keep))
	switch {
	case r.Corruption != nil:
		fmt.Fprintf(w, "  damage found: %s at offset %d: %s\n", r.Corruption.Segment, r.Corruption.Offset, r.Corruption.Reason.String())
	case r.TornTail != nil:
		fmt.Fprintf(w, "  torn tail found: %s at offset %d: %s\n", r.TornTail.Segment, r.TornTail.Offset, r.TornTail.Reason.String())
	default:
		fmt.Fprintf(w, "  the log had no damage\n")
	}
	if r.Segment != "" {
		fmt.Fprintf(w, "  cut %s at offset %d (the end of record %d's frame)\n", r.Segment, r.Offset, keep)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(w, "  dropped: %d intact %s (%s), and every byte after them:\n", r.Dropped, plural(r.Dropped, "record", "records"), seqRange(r.DroppedFirst, r.DroppedLast))
	} else {
		fmt.Fprintf(w, "  dropped: no intact record; every byte from the cut on:\n")
	}
	for _, mv := range r.Moved {
		what := fmt.Sprintf("%s bytes %d..%d (%s)", mv.Segment, mv.Offset, mv.Offset+mv.Bytes, size(mv.Bytes))
		if mv.WholeFile {
			what = fmt.Sprintf("%s, the whole file (%s)", mv.Segment, size(mv.Bytes))
		}
		fmt.Fprintf(w, "    %s -> %s\n", what, filepath.Base(mv.Quarantine))
	}
	fmt.Fprintf(w, "  leaving LastSeq %d, FirstSeq %d\n", r.LastSeq, r.FirstSeq)
	if err != nil {
		return c.logErr(dir, err)
	}
	if !r.Applied {
		fmt.Fprintf(w, "nothing was changed; add --apply to do it (records after %d are lost to the log, kept only in the quarantine files)\n", keep)
	}
	return exitOK
}
