package mmapwal

import (
	"errors"
	"fmt"
	"math"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Errors returned by the Log. Match them with errors.Is; the ones with fields
// ([SequenceError], [CorruptionError]) also with errors.As.
var (
	// ErrClosed: the Log (or the Iterator) was closed.
	ErrClosed = errors.New("mmapwal: log closed")
	// ErrPoisoned: an earlier failure left the disk possibly different from
	// what the log believes (a failed msync or fdatasync of written
	// records). Every later write fails with it; reads of durable records
	// keep working. Close, then reopen (after fixing the disk) to recover
	// what was durable.
	ErrPoisoned = errors.New("mmapwal: log poisoned by an earlier write failure")
	// ErrLocked: another Log, in this process or another, has the directory
	// open for writing.
	ErrLocked = errors.New("mmapwal: log directory locked by another writer")
	// ErrNotFound: no record has the sequence (never written, truncated, or
	// in a gap left by AppendSeq).
	ErrNotFound = errors.New("mmapwal: record not found")
	// ErrTruncated: the records a reader was positioned at were truncated
	// away under it: an iterator returned records that a TruncateBack
	// dropped since, or a ReadOnly log found that the writer truncated or
	// rewrote the record it was reading. The error value is a
	// *TruncatedError; it also matches ErrNotFound.
	ErrTruncated = errors.New("mmapwal: records truncated under the reader")
	// ErrRecordTooLarge: the record (or batch) exceeds Options.MaxRecordSize
	// or what one segment can hold. Nothing was written.
	ErrRecordTooLarge = errors.New("mmapwal: record too large")
	// ErrNoSpace: the filesystem is full (it wraps ENOSPC too). Nothing was
	// written; the log stays usable and appends succeed again once space is
	// freed.
	ErrNoSpace = errors.New("mmapwal: no space left on device")
	// ErrUnsupportedVersion: the log was written by a newer format version.
	// It is never repaired.
	ErrUnsupportedVersion = errors.New("mmapwal: unsupported format version")
	// ErrSequence: a sequence was not above LastSeq. The error value is a
	// *SequenceError.
	ErrSequence = errors.New("mmapwal: sequence not above the last sequence")
	// ErrCorrupt: the log's bytes are damaged. The error value is a
	// *CorruptionError that says where and why.
	ErrCorrupt = errors.New("mmapwal: log corrupt")
	// ErrInvalidArgument: a call's argument is out of range (an empty batch,
	// a truncation point outside the log, a bad Options field).
	ErrInvalidArgument = errors.New("mmapwal: invalid argument")
)

// errControlFault: a follower's access to its mapping of the control area
// faulted (the file shrank under it). The follower drops the area and
// scans the frames.
var errControlFault = errors.New("mmapwal: control area unreadable (the file shrank under the mapping)")

// errReadOnlyWait ends Iterator.NextWait on a ReadOnly Log at the end of
// what it read at Open: no record can come.
var errReadOnlyWait = fmt.Errorf("%w: NextWait at the end of a ReadOnly Log, which never sees later appends (OpenFollower follows a log as it grows)", ErrInvalidArgument)

// SequenceError is returned when a caller-chosen sequence is not above
// LastSeq. It matches ErrSequence.
type SequenceError struct {
	// Expected is LastSeq()+1, the lowest sequence that was allowed, or 0
	// when none was: LastSeq() is math.MaxUint64 and sequences never wrap.
	Expected uint64
	Provided uint64 // the sequence the caller gave
}

// seqError is the *SequenceError for a sequence not above last.
func seqError(last, provided uint64) *SequenceError {
	e := &SequenceError{Provided: provided}
	if last < math.MaxUint64 {
		e.Expected = last + 1
	}
	return e
}

func (e *SequenceError) Error() string {
	if e.Expected == 0 {
		return fmt.Sprintf("mmapwal: sequence %d not above the last sequence %d: the sequence space is exhausted", e.Provided, uint64(math.MaxUint64))
	}
	return fmt.Sprintf("mmapwal: sequence %d not above the last sequence (expected ≥ %d)", e.Provided, e.Expected)
}

// Is makes errors.Is(err, ErrSequence) hold.
func (e *SequenceError) Is(target error) bool { return target == ErrSequence }

// TruncatedError says which records were truncated away under a reader.
// It matches ErrTruncated and ErrNotFound.
type TruncatedError struct {
	Seq     uint64 // the first sequence the reader had reached (or returned) that no longer exists
	LastSeq uint64 // the log's LastSeq() after the truncation
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("mmapwal: records truncated under the reader: record %d no longer exists (LastSeq %d)", e.Seq, e.LastSeq)
}

// Is makes errors.Is(err, ErrTruncated) and errors.Is(err, ErrNotFound)
// hold.
func (e *TruncatedError) Is(target error) bool {
	return target == ErrTruncated || target == ErrNotFound
}

// Reason says why bytes of the log were judged damaged. Its String tells,
// among others, a torn tail (ReasonTornTail: the residue of a crash while
// appending records that were never acknowledged) from damage to durable
// data (ReasonChecksumMismatch and the rest).
type Reason = crcframe.Reason

// The reasons a CorruptionError can carry.
const (
	ReasonTornTail               = crcframe.TornTail
	ReasonChecksumMismatch       = crcframe.ChecksumMismatch
	ReasonIncompleteHeader       = crcframe.IncompleteHeader
	ReasonIncompletePayload      = crcframe.IncompletePayload
	ReasonLengthOutOfBounds      = crcframe.LengthOutOfBounds
	ReasonSequenceViolation      = crcframe.SequenceViolation
	ReasonUnknownType            = crcframe.UnknownType
	ReasonBadMagic               = crcframe.BadMagic
	ReasonUnsupportedVersion     = crcframe.UnsupportedVersion
	ReasonHeaderChecksumMismatch = crcframe.HeaderChecksumMismatch
	ReasonForeignSegment         = crcframe.ForeignSegment
	ReasonSegmentNumberMismatch  = crcframe.SegmentNumberMismatch
	ReasonSegmentShort           = crcframe.SegmentShort
	ReasonGarbageAfterEnd        = crcframe.GarbageAfterEnd
	ReasonSegmentGap             = crcframe.SegmentGap
	ReasonMissingMeta            = crcframe.MissingMeta
	ReasonIOFault                = crcframe.IOFault
	ReasonMissingSeal            = crcframe.MissingSeal
	ReasonMissingMark            = crcframe.MissingMark
)

// CorruptionError says where the log is damaged and why. It matches
// ErrCorrupt, and errors.Is also matches its Reason (for example
// errors.Is(err, ReasonChecksumMismatch)).
type CorruptionError struct {
	Segment string // the segment file's name ("" for the directory or META)
	Offset  int64  // byte offset in the segment
	Reason  Reason
	// Durable reports whether the damaged bytes were proven durable (they
	// held acknowledged records): such damage is never repaired.
	Durable bool
}

func (e *CorruptionError) Error() string {
	what := "damage"
	if e.Reason == ReasonTornTail {
		what = "torn tail"
	} else if e.Durable {
		what = "damage to durable data"
	}
	return fmt.Sprintf("mmapwal: log corrupt: %s in segment %q at offset %d: %s", what, e.Segment, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the Reason.
func (e *CorruptionError) Unwrap() error { return e.Reason }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// FilesystemError is returned by Open, and by an append that rotates, when
// the log's directory or one of its segment files is where a store into
// preallocated space may need new space — so that on a full disk the store
// would fault (SIGBUS) instead of failing: zfs and bcachefs (copy-on-write
// always), a btrfs directory or segment without the NOCOW attribute, and a
// segment whose extents a reflink copy or a snapshot shares. It matches
// errors.ErrUnsupported.
type FilesystemError struct {
	FS   string // the filesystem, as sysutil.FSType names it ("btrfs", "zfs", …)
	Path string // the directory or the segment file
	Why  string // what is wrong and what to do
	Err  error  // the cause, when a call failed; nil otherwise
}

func (e *FilesystemError) Error() string {
	msg := fmt.Sprintf("mmapwal: unsupported filesystem %s: %s: %s", e.FS, e.Path, e.Why)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, errors.ErrUnsupported) hold.
func (e *FilesystemError) Is(target error) bool { return target == errors.ErrUnsupported }

// Unwrap returns the cause, if any.
func (e *FilesystemError) Unwrap() error { return e.Err }
