package crcframe_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// FuzzParse feeds arbitrary bytes to Decode. Seeded from encoded frames of
// several sizes and types and from the golden file, so the fuzzer starts
// from inputs that pass the checksum. Whatever the input, Decode never
// panics; on error it returns a Reason and zero values; on success its
// payload is a sub-slice of the input, the frame lies inside the input, and
// Encode of the returned header and payload gives back exactly src[:n].
func FuzzParse(f *testing.F) {
	for i, n := range []int{0, 1, 5, 7, 8, 9, 13, 64, 127, 128, 1000} {
		ty := crcframe.Type(1 + i%6)
		frame := encode(f, crcframe.Header{Seq: uint64(i + 1), Durable: uint32(8 * i), Type: ty}, pattern(n))
		f.Add(frame)
		f.Add(frame[:len(frame)-1])               // truncated
		f.Add(append(frame, make([]byte, 32)...)) // zero fill after it
	}
	golden, err := os.ReadFile(goldenV1Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	for _, g := range goldenV1 {
		f.Add(golden[g.off:])
	}
	f.Add([]byte{})
	f.Add(make([]byte, crcframe.HeaderSize))

	f.Fuzz(func(t *testing.T, src []byte) {
		h, p, n, err := crcframe.Decode(src, testSeed, crcframe.MaxPayload)
		if err != nil {
			checkRejected(t, src, h, p, n, err)
			return
		}
		checkAccepted(t, src, h, p, n)

		// A bound equal to the length accepts the frame; one below rejects
		// it by length.
		if _, _, m, err := crcframe.Decode(src, testSeed, len(p)); err != nil || m != n {
			t.Fatalf("Decode with maxPayload = length = %d: %d, %v", len(p), m, err)
		}
		if len(p) > 0 {
			if _, _, _, err := crcframe.Decode(src, testSeed, len(p)-1); !errors.Is(err, crcframe.LengthOutOfBounds) {
				t.Fatalf("Decode with maxPayload = length-1: %v, want LengthOutOfBounds", err)
			}
		}
	})
}

// checkRejected: an error is a Reason, with zero values beside it, and
// CleanEnd only for an all-zero header.
func checkRejected(t *testing.T, src []byte, h crcframe.Header, p []byte, n int, err error) {
	t.Helper()
	var r crcframe.Reason
	if !errors.As(err, &r) {
		t.Fatalf("Decode error %v (%T) is not a Reason", err, err)
	}
	if h != (crcframe.Header{}) || p != nil || n != 0 {
		t.Fatalf("Decode error %v with header %+v, %d-byte payload, n %d", err, h, len(p), n)
	}
	head := src[:min(len(src), crcframe.HeaderSize)]
	if (r == crcframe.CleanEnd) != crcframe.IsZero(head) {
		t.Fatalf("Decode = %v for header %x", r, head)
	}
}

// checkAccepted: the frame lies in src, its payload aliases src, and it
// re-encodes to the same bytes.
func checkAccepted(t *testing.T, src []byte, h crcframe.Header, p []byte, n int) {
	t.Helper()
	if n > len(src) || n != crcframe.Size(len(p)) || n%crcframe.Alignment != 0 {
		t.Fatalf("Decode n = %d for a %d-byte payload in %d bytes", n, len(p), len(src))
	}
	if h.Seq == 0 || h.Type < crcframe.Full || h.Type > crcframe.Mark {
		t.Fatalf("Decode accepted header %+v", h)
	}
	// p is src[HeaderSize:HeaderSize+len(p)]: same capacity from the same
	// base, and (when not empty) the same first element.
	if cap(p) != cap(src)-crcframe.HeaderSize || (len(p) > 0 && &p[0] != &src[crcframe.HeaderSize]) {
		t.Fatalf("payload is not src[%d:%d]", crcframe.HeaderSize, crcframe.HeaderSize+len(p))
	}
	dst := make([]byte, n)
	m, err := crcframe.Encode(dst, testSeed, h, p)
	if err != nil || m != n {
		t.Fatalf("re-Encode = %d, %v; want %d, nil", m, err, n)
	}
	if !bytes.Equal(dst, src[:n]) {
		t.Fatalf("re-Encode differs from the accepted bytes:\n got %x\nwant %x", dst, src[:n])
	}
}
