package crcframe

// Reason says why bytes did not parse as a frame or a segment, or what a
// recovery scan concluded about them. It is the one vocabulary of the whole
// scan: crcframe reports the frame reasons, package segment the segment-header
// reasons, and mmapwal the log-level verdicts. It lives here, in the lowest
// package, so that every layer shares the same values.
//
// Every Reason except [CleanEnd] is an error, and each is a distinct value:
//
//	if errors.Is(err, crcframe.ChecksumMismatch) { … }
//	var r crcframe.Reason
//	if errors.As(err, &r) { … }
type Reason uint8

// Frame reasons, reported by [Decode].
const (
	// CleanEnd is not an error: an all-zero frame header, the preallocated
	// space after the last frame.
	CleanEnd Reason = iota + 1
	// IncompleteHeader: fewer than HeaderSize bytes remain and they are not
	// all zero.
	IncompleteHeader
	// IncompletePayload: the frame's declared length runs past the bytes
	// available (a file cut short).
	IncompletePayload
	// ChecksumMismatch: the CRC does not match the frame's bytes.
	ChecksumMismatch
	// LengthOutOfBounds: the declared length exceeds the maximum record size
	// or the end of the segment.
	LengthOutOfBounds
	// SequenceViolation: a valid frame whose sequence is not above the
	// previous record's (or is 0).
	SequenceViolation
	// UnknownType: a valid checksum but an unknown frame type or non-zero
	// reserved bytes: written by a newer format, never skipped.
	UnknownType
)

// Segment reasons, reported by package segment.
const (
	// BadMagic: the segment header does not start with the format's magic.
	BadMagic Reason = iota + 32
	// UnsupportedVersion: the header names a format version this reader does
	// not know (a newer one). Never repaired.
	UnsupportedVersion
	// HeaderChecksumMismatch: the segment header's CRC does not match.
	HeaderChecksumMismatch
	// ForeignSegment: the segment belongs to another log (identity differs).
	ForeignSegment
	// SegmentNumberMismatch: the header's segment number differs from the
	// file name's.
	SegmentNumberMismatch
	// SegmentShort: the file is shorter than the size its header records.
	SegmentShort
	// GarbageAfterEnd: non-zero bytes after the clean end of a segment.
	GarbageAfterEnd
)

// Log reasons, reported by package mmapwal.
const (
	// TornTail: invalid bytes at the end of the newest segment that nothing
	// proves durable: the residue of a crash while appending unsynced
	// records. Truncated under the TruncatePartial repair policy.
	TornTail Reason = iota + 64
	// SegmentGap: a segment is missing in the middle of the log, or a
	// segment's first sequence does not continue the previous one.
	SegmentGap
	// MissingMeta: segments exist but the META file does not, or it is
	// unreadable.
	MissingMeta
	// IOFault: reading the mapping failed (EIO, or a file truncated under
	// the mapping raised SIGBUS).
	IOFault
	// MissingSeal: a segment that the next segment's header records as
	// sealed (format version 2) does not end with its seal frame at the
	// recorded offset: its tail was lost or damaged.
	MissingSeal
	// MissingMark: META records a clean Close (format version 2) but the
	// newest segment does not end with the durable mark at the recorded
	// place and sequence: records of a cleanly closed log were lost.
	MissingMark
)

var reasonNames = map[Reason]string{
	CleanEnd:               "clean end",
	IncompleteHeader:       "incomplete frame header",
	IncompletePayload:      "incomplete frame payload",
	ChecksumMismatch:       "checksum mismatch",
	LengthOutOfBounds:      "length out of bounds",
	SequenceViolation:      "sequence violation",
	UnknownType:            "unknown frame type",
	BadMagic:               "bad segment magic",
	UnsupportedVersion:     "unsupported format version",
	HeaderChecksumMismatch: "segment header checksum mismatch",
	ForeignSegment:         "foreign segment",
	SegmentNumberMismatch:  "segment number mismatch",
	SegmentShort:           "segment file short",
	GarbageAfterEnd:        "garbage after end",
	TornTail:               "torn tail",
	SegmentGap:             "segment gap",
	MissingMeta:            "missing or bad META",
	IOFault:                "I/O fault reading the mapping",
	MissingSeal:            "missing or misplaced seal of a sealed segment",
	MissingMark:            "missing or misplaced mark of a clean Close",
}

// String returns a short human description, e.g. "checksum mismatch".
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "unknown reason"
}

// Error implements error, so a Reason can be returned and matched with
// errors.Is and errors.As.
func (r Reason) Error() string { return "crcframe: " + r.String() }
