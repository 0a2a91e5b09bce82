package crcframe_test

import (
	"errors"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// TestSealFrame checks the frame type version 2 adds: a seal decodes as a
// header-only frame that is not a record, and the type after it is still
// unknown.
func TestSealFrame(t *testing.T) {
	h := crcframe.Header{Seq: 41, Durable: 4032, Type: crcframe.Seal}
	f := encode(t, h, nil)
	if len(f) != crcframe.HeaderSize {
		t.Fatalf("a seal frame is %d bytes, want %d", len(f), crcframe.HeaderSize)
	}
	got, p, n, err := crcframe.Decode(f, testSeed, crcframe.MaxPayload)
	if err != nil || got != h || len(p) != 0 || n != crcframe.HeaderSize {
		t.Fatalf("Decode = %+v, %d bytes, %d, %v; want %+v", got, len(p), n, err, h)
	}
	if crcframe.Seal.IsRecord() {
		t.Fatal("a seal is not a record")
	}
	h.Type = crcframe.Seal + 1
	if _, _, _, err := crcframe.Decode(encode(t, h, nil), testSeed, crcframe.MaxPayload); !errors.Is(err, crcframe.UnknownType) {
		t.Fatalf("type %d: Decode = %v, want UnknownType", h.Type, err)
	}
}
