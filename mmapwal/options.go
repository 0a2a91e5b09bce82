package mmapwal

import (
	"log/slog"
	"time"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// Durability says when appended records become durable.
type Durability int

const (
	// SyncAlways (the default): Append, AppendSeq, AppendBatch and
	// Reservation.Commit return only once their records are durable.
	// Concurrent appenders share syncs (group commit).
	SyncAlways Durability = iota
	// SyncInterval: a background flusher syncs every Options.SyncInterval.
	// A crash loses at most the records of the last interval.
	SyncInterval
	// SyncManual: only Sync, WaitDurable and Close make records durable.
	SyncManual
)

func (d Durability) String() string {
	switch d {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncManual:
		return "manual"
	}
	return "Durability(?)"
}

// RepairPolicy says what Open does with a torn tail.
type RepairPolicy int

const (
	// TruncatePartial (the default): drop a torn tail — bytes of records
	// that were never acknowledged, left by a crash while appending — after
	// copying them to a quarantine file. Damage to durable records is
	// always an error.
	TruncatePartial RepairPolicy = iota
	// Strict: refuse to open a log with a torn tail (ErrCorrupt with
	// ReasonTornTail) and change nothing.
	Strict
)

// Options configure a Log. The zero value (and a nil *Options) is the safe
// default; each field's default is given in its comment.
type Options struct {
	// SegmentSize is the size of each new segment file in bytes; default
	// 64 MiB, between 4 KiB and 2 GiB, a multiple of 8. Existing segments
	// keep the size they were created with.
	SegmentSize int64
	// MaxRecordSize bounds new records; default 16 MiB, at most what fits
	// in one segment: SegmentSize − 136 (the segment header, one frame
	// header, and the room every record leaves for Close's durable mark and
	// rotation's seal). It never makes existing records unreadable.
	MaxRecordSize int
	// Durability: SyncAlways (default), SyncInterval or SyncManual.
	Durability Durability
	// SyncInterval is the flush period under SyncInterval; default 10ms.
	SyncInterval time.Duration
	// Repair: TruncatePartial (default) or Strict.
	Repair RepairPolicy
	// Logger receives repairs (Warn) and poisoning (Error); nil is silent.
	Logger *slog.Logger
	// ReadOnly opens without the write lock and without repairing anything:
	// it scans every segment at Open (none is deferred, see Open), serves
	// the valid prefix even of a corrupt log (salvage), and Recovery reports
	// what is wrong. Writes, Sync and WaitDurable fail
	// with ErrInvalidArgument; DurableSeq is what the files prove.
	//
	// A writer may go on beside it (in this or another process). The
	// ReadOnly Log serves the records Open found and does not follow the
	// writer, but never returns bytes that are not the record at that
	// sequence: each read copies the frame, checks the copy (checksum,
	// sequence, length) and that the segment file is still linked. A
	// record the writer truncated or replaced elsewhere since is
	// ErrTruncated (a *TruncatedError, also ErrNotFound); reopen to see
	// the log as it is now. View and Iterator.Value get checked copies.
	ReadOnly bool
	// MaxMappedSegments bounds how many sealed segments stay mapped at once
	// (the active and the prepared one are not counted); idle ones beyond it
	// are unmapped, least recently used first, and mapped again on demand
	// (by readers too). Segments in use by a reader (an iterator's current
	// segment, a View) stay mapped. Default 8.
	MaxMappedSegments int
	// BytesPerSync starts write-back (sync_file_range on Linux) each time
	// that many bytes were appended since the last, so that a later Sync or
	// rotation finds most bytes already on their way to the disk and
	// appenders are not stalled by one large flush. It promises no
	// durability. Requests stop short of the 2 MiB-aligned block being
	// written, and take the pages they cover out of the process's page
	// tables first (they stay cached; a reader maps them again with a minor
	// fault), so that write-back costs the appender no TLB shootdowns.
	// Default 1 MiB; set it to SegmentSize to leave write-back to the kernel
	// and Sync.
	BytesPerSync int64
	// RecycleSegments is how many segment files TruncateFront may keep in
	// a pool to reuse as new segments, instead of deleting them: a reused
	// file's extents are already written, so its pages fault in cheaply
	// and fdatasync converts no extent. Default 0: never recycle (every
	// segment is created fresh, and the log's format is what a writer
	// without the option writes). It must not be negative.
	//
	// Only segments TruncateFront removes are pooled, and only those of
	// the current SegmentSize that no View or iterator of this Log pins
	// then (those are deleted as before); TruncateBack and Reset delete
	// theirs. A file is reused only under a segment number above every
	// number it held. The first reuse records in META that the log holds
	// recycled segments (FORMAT.md §9.7): a version of mmapwal that does
	// not implement them refuses the log (ErrUnsupportedVersion) from
	// then on, whatever this option says later. A writer's Open keeps at
	// most RecycleSegments pool files of the right size and deletes the
	// others.
	RecycleSegments int
}

// IteratorOptions configure an Iterator (Log.NewIteratorWith). The zero
// value (and nil) is NewIterator's iterator.
type IteratorOptions struct {
	// DurableOnly stops the iterator at DurableSeq(): it never returns a
	// record that a crash could take back. (TruncateBack and Reset remove
	// durable records on purpose: such an iterator still gets
	// ErrTruncated for them.) On a poisoned log, where DurableSeq no
	// longer rises, Next and NextWait fail with ErrPoisoned at its end.
	DurableOnly bool
}

// Defaults.
const (
	DefaultSegmentSize       = 64 << 20
	DefaultMaxRecordSize     = 16 << 20
	DefaultSyncInterval      = 10 * time.Millisecond
	DefaultMaxMappedSegments = 8
	DefaultBytesPerSync      = 1 << 20
)

// withDefaults returns a copy of o with zero fields filled in, or an error
// naming the first invalid field.
func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.SegmentSize < segment.MinSize || c.SegmentSize > segment.MaxSize || c.SegmentSize%crcframe.Alignment != 0 {
		return c, invalidf("Options.SegmentSize %d: want a multiple of 8 in [%d, %d]", c.SegmentSize, segment.MinSize, segment.MaxSize)
	}
	fit := maxPayloadIn(c.SegmentSize)
	if c.MaxRecordSize == 0 {
		c.MaxRecordSize = min(DefaultMaxRecordSize, fit)
	}
	if c.MaxRecordSize < 0 || c.MaxRecordSize > fit {
		return c, invalidf("Options.MaxRecordSize %d: want 1..%d (what fits in one segment of %d bytes)", c.MaxRecordSize, fit, c.SegmentSize)
	}
	if c.Durability < SyncAlways || c.Durability > SyncManual {
		return c, invalidf("Options.Durability %d: unknown", c.Durability)
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.SyncInterval < 0 {
		return c, invalidf("Options.SyncInterval %v: must be positive", c.SyncInterval)
	}
	if c.Repair != TruncatePartial && c.Repair != Strict {
		return c, invalidf("Options.Repair %d: unknown", c.Repair)
	}
	if c.MaxMappedSegments == 0 {
		c.MaxMappedSegments = DefaultMaxMappedSegments
	}
	if c.MaxMappedSegments < 0 {
		return c, invalidf("Options.MaxMappedSegments %d: must be positive", c.MaxMappedSegments)
	}
	if c.BytesPerSync == 0 {
		c.BytesPerSync = DefaultBytesPerSync
	}
	if c.BytesPerSync < 0 {
		return c, invalidf("Options.BytesPerSync %d: must not be negative", c.BytesPerSync)
	}
	if c.RecycleSegments < 0 {
		return c, invalidf("Options.RecycleSegments %d: must not be negative", c.RecycleSegments)
	}
	return c, nil
}

// maxPayloadIn is the largest payload a new record can carry in an empty
// segment of the given size: one frame and the room it leaves for a mark
// and a seal (FORMAT.md §9.2).
func maxPayloadIn(segSize int64) int {
	n := segSize - segment.HeaderSize - crcframe.HeaderSize - recordRoom
	return int(min(n, crcframe.MaxPayload))
}

// framePayloadIn is the largest payload a frame can carry in a segment of
// the given size: what a reader accepts (a version 1 writer left no room
// behind its records).
func framePayloadIn(segSize int64) int {
	n := segSize - segment.HeaderSize - crcframe.HeaderSize
	return int(min(n, crcframe.MaxPayload))
}
