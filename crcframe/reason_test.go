package crcframe_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// allReasons lists every defined Reason. TestReasonStrings checks that no
// other value has a name, so a new Reason must be added here.
var allReasons = []crcframe.Reason{
	crcframe.CleanEnd, crcframe.IncompleteHeader, crcframe.IncompletePayload,
	crcframe.ChecksumMismatch, crcframe.LengthOutOfBounds,
	crcframe.SequenceViolation, crcframe.UnknownType,

	crcframe.BadMagic, crcframe.UnsupportedVersion,
	crcframe.HeaderChecksumMismatch, crcframe.ForeignSegment,
	crcframe.SegmentNumberMismatch, crcframe.SegmentShort,
	crcframe.GarbageAfterEnd,

	crcframe.TornTail, crcframe.SegmentGap, crcframe.MissingMeta,
	crcframe.IOFault, crcframe.MissingSeal, crcframe.MissingMark,
}

const unknownReason = "unknown reason"

// TestReasonStrings: every defined Reason has its own String and Error, the
// Error is package-prefixed, and no undefined value has a name.
func TestReasonStrings(t *testing.T) {
	strs, errs := map[string]crcframe.Reason{}, map[string]crcframe.Reason{}
	for _, r := range allReasons {
		s, e := r.String(), r.Error()
		if s == "" || s == unknownReason {
			t.Errorf("Reason(%d).String() = %q", uint8(r), s)
		}
		if e != "crcframe: "+s {
			t.Errorf("Reason(%d).Error() = %q, want %q", uint8(r), e, "crcframe: "+s)
		}
		if prev, dup := strs[s]; dup {
			t.Errorf("Reason(%d) and Reason(%d) share String %q", uint8(r), uint8(prev), s)
		}
		if prev, dup := errs[e]; dup {
			t.Errorf("Reason(%d) and Reason(%d) share Error %q", uint8(r), uint8(prev), e)
		}
		strs[s], errs[e] = r, r
	}

	named := 0
	for v := range 256 {
		if crcframe.Reason(v).String() != unknownReason {
			named++
		}
	}
	if named != len(allReasons) {
		t.Errorf("%d Reason values have names, allReasons lists %d: update allReasons", named, len(allReasons))
	}
}

// TestReasonUnknown: the zero Reason and undefined values say so.
func TestReasonUnknown(t *testing.T) {
	for _, r := range []crcframe.Reason{0, 8, 31, 39, 63, 70, 255} {
		if s := r.String(); s != unknownReason {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(r), s, unknownReason)
		}
		if e := r.Error(); !strings.HasSuffix(e, unknownReason) {
			t.Errorf("Reason(%d).Error() = %q, want it to say %q", uint8(r), e, unknownReason)
		}
	}
}

// TestReasonWrapped: a Reason wrapped with context by fmt.Errorf("%w") still
// matches errors.Is and errors.As, and matches no other Reason.
func TestReasonWrapped(t *testing.T) {
	for _, r := range allReasons {
		err := fmt.Errorf("segment 7 offset 4096: %w", r)
		err = fmt.Errorf("open log: %w", err)
		if !errors.Is(err, r) {
			t.Errorf("errors.Is(wrapped %v, %v) = false", r, r)
		}
		var got crcframe.Reason
		if !errors.As(err, &got) || got != r {
			t.Errorf("errors.As(wrapped %v) = %v", r, got)
		}
		for _, other := range allReasons {
			if other != r && errors.Is(err, other) {
				t.Errorf("wrapped %v matches %v", r, other)
			}
		}
		if !strings.Contains(err.Error(), r.Error()) {
			t.Errorf("wrapped message %q lacks %q", err, r.Error())
		}
	}
}
