package crcframe_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// testLogID and testSegment give the seed every test frame is encoded with,
// the same as the golden files'.
var (
	testLogID   = [16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	testSegment = uint64(7)
	testSeed    = crcframe.Seed(testLogID, testSegment)
)

// encode returns a frame encoded with testSeed, failing the test on error.
func encode(tb testing.TB, h crcframe.Header, payload []byte) []byte {
	tb.Helper()
	dst := make([]byte, crcframe.Size(len(payload)))
	n, err := crcframe.Encode(dst, testSeed, h, payload)
	if err != nil {
		tb.Fatalf("Encode(%+v, %d bytes): %v", h, len(payload), err)
	}
	if n != len(dst) {
		tb.Fatalf("Encode returned %d, want Size = %d", n, len(dst))
	}
	return dst
}

// pattern returns n deterministic non-zero-heavy bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// flip inverts bit (0..7) of byte i.
func flip(b []byte, i int, bit uint) { b[i] ^= 1 << bit }

// reseal recomputes the CRC of the frame f (exactly one frame, padding
// included) so that a mutation passes the checksum and reaches the checks
// behind it.
func reseal(f []byte, seed uint32) {
	binary.LittleEndian.PutUint32(f, crcframe.Checksum(seed, f[4:]))
}

// requireReason checks that err is exactly the Reason want, through both
// errors.Is and errors.As, and that the other results are zero.
func requireReason(t *testing.T, want crcframe.Reason, h crcframe.Header, payload []byte, n int, err error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var r crcframe.Reason
	if !errors.As(err, &r) || r != want {
		t.Fatalf("errors.As(%v) = %v, want %v", err, r, want)
	}
	if h != (crcframe.Header{}) || payload != nil || n != 0 {
		t.Fatalf("on error got header %+v, payload %q, n %d; want zero values", h, payload, n)
	}
}

// TestDecodeTable mutates one valid frame per case and checks the Reason
// Decode gives: a flipped bit of every field class, the same flips with the
// CRC recomputed (what a newer writer or a colliding corruption looks like),
// bounds, seeds and zero headers.
func TestDecodeTable(t *testing.T) {
	const maxPayload = 1024
	// The base frame: a 13-byte payload, so the frame is 40 bytes with 3
	// bytes of padding (37..39); 64 zero bytes follow it in the buffer.
	base := crcframe.Header{Seq: 0x0102030405060708, Durable: 64, Type: crcframe.Full}
	payload := []byte("hello, world!")
	frame := encode(t, base, payload)
	const size = 40
	if len(frame) != size {
		t.Fatalf("base frame is %d bytes, want %d", len(frame), size)
	}

	tests := []struct {
		name       string
		mutate     func(b []byte) []byte // gets frame+64 zero bytes, returns src
		seed       *uint32               // nil: testSeed
		maxPayload *int                  // nil: maxPayload
		want       crcframe.Reason       // 0: success
		wantHeader crcframe.Header       // on success; zero: base
	}{
		{name: "valid", mutate: func(b []byte) []byte { return b }},
		{name: "valid/exact src", mutate: func(b []byte) []byte { return b[:size] }},
		{name: "valid/maxPayload = length", mutate: func(b []byte) []byte { return b }, maxPayload: new(len(payload))},

		// One flipped bit in each field: the CRC catches it.
		{name: "flip/crc bit 0", mutate: flipAt(0, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/crc bit 31", mutate: flipAt(3, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/length same size", mutate: flipAt(4, 0), want: crcframe.ChecksumMismatch},           // 13 → 12
		{name: "flip/length shorter frame", mutate: flipAt(4, 3), want: crcframe.ChecksumMismatch},       // 13 → 5
		{name: "flip/length longer frame in src", mutate: flipAt(4, 4), want: crcframe.ChecksumMismatch}, // 13 → 29
		{name: "flip/length longer frame past src", mutate: func(b []byte) []byte { flip(b, 4, 4); return b[:size] }, want: crcframe.IncompletePayload},
		{name: "flip/length above maxPayload", mutate: flipAt(5, 7), want: crcframe.LengthOutOfBounds}, // 13 + 32768
		{name: "flip/length above MaxPayload", mutate: flipAt(7, 7), maxPayload: new(crcframe.MaxPayload), want: crcframe.LengthOutOfBounds},
		{name: "flip/seq low", mutate: flipAt(8, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/seq high", mutate: flipAt(15, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/durable low", mutate: flipAt(16, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/durable high", mutate: flipAt(19, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/type", mutate: flipAt(20, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/reserved first", mutate: flipAt(21, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/reserved last", mutate: flipAt(23, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/payload first", mutate: flipAt(24, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/payload last", mutate: flipAt(36, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/padding first", mutate: flipAt(37, 0), want: crcframe.ChecksumMismatch},
		{name: "flip/padding last", mutate: flipAt(39, 7), want: crcframe.ChecksumMismatch},
		{name: "flip/after frame", mutate: flipAt(size, 0)}, // not the frame's bytes

		// The CRC holds but the content is not what version 1 writes.
		{name: "resealed/type 0", mutate: resealed(func(f []byte) { f[20] = 0 }), want: crcframe.UnknownType},
		{name: "resealed/type 8", mutate: resealed(func(f []byte) { f[20] = 8 }), want: crcframe.UnknownType},
		{name: "resealed/type 255", mutate: resealed(func(f []byte) { f[20] = 255 }), want: crcframe.UnknownType},
		{name: "resealed/reserved 21", mutate: resealed(func(f []byte) { f[21] = 1 }), want: crcframe.UnknownType},
		{name: "resealed/reserved 23", mutate: resealed(func(f []byte) { f[23] = 0x80 }), want: crcframe.UnknownType},
		{name: "resealed/padding first", mutate: resealed(func(f []byte) { f[37] = 1 }), want: crcframe.UnknownType},
		{name: "resealed/padding last", mutate: resealed(func(f []byte) { f[39] = 0x80 }), want: crcframe.UnknownType},
		{name: "resealed/seq 0", mutate: resealed(func(f []byte) { clear(f[8:16]) }), want: crcframe.SequenceViolation},
		{name: "resealed/type pad", mutate: resealed(func(f []byte) { f[20] = byte(crcframe.Pad) }),
			wantHeader: crcframe.Header{Seq: base.Seq, Durable: base.Durable, Type: crcframe.Pad}},
		{name: "resealed/durable changed", mutate: resealed(func(f []byte) { f[16] = 0 }),
			wantHeader: crcframe.Header{Seq: base.Seq, Durable: 0, Type: base.Type}},

		// Bounds: the length is checked against maxPayload before the
		// payload is read or its absence noticed.
		{name: "bounds/length above maxPayload, payload absent", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[4:], 2000)
			return b[:crcframe.HeaderSize]
		}, want: crcframe.LengthOutOfBounds},
		{name: "bounds/maxPayload below length", mutate: func(b []byte) []byte { return b[:crcframe.HeaderSize] }, maxPayload: new(12), want: crcframe.LengthOutOfBounds},
		{name: "bounds/maxPayload 0", mutate: func(b []byte) []byte { return b }, maxPayload: new(0), want: crcframe.LengthOutOfBounds},
		{name: "bounds/length MaxPayload, payload absent", mutate: func(b []byte) []byte {
			// Regression: on 32-bit platforms the frame size of this length
			// overflowed int and Decode sliced out of range.
			binary.LittleEndian.PutUint32(b[4:], crcframe.MaxPayload)
			return b[:crcframe.HeaderSize]
		}, maxPayload: new(crcframe.MaxPayload), want: crcframe.IncompletePayload},
		{name: "bounds/length 2^32-1", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[4:], 1<<32-1)
			return b[:crcframe.HeaderSize]
		}, maxPayload: new(crcframe.MaxPayload), want: crcframe.LengthOutOfBounds},

		// Seeds: a frame of another log or segment never validates.
		{name: "seed/other segment", mutate: func(b []byte) []byte { return b }, seed: new(crcframe.Seed(testLogID, testSegment+1)), want: crcframe.ChecksumMismatch},
		{name: "seed/zero", mutate: func(b []byte) []byte { return b }, seed: new(uint32(0)), want: crcframe.ChecksumMismatch},

		// Zero headers mark the clean end, whatever follows.
		{name: "zero/header", mutate: func(b []byte) []byte { clear(b[:crcframe.HeaderSize]); return b }, want: crcframe.CleanEnd},
		{name: "zero/header only", mutate: func(b []byte) []byte { clear(b); return b[:crcframe.HeaderSize] }, want: crcframe.CleanEnd},
		{name: "zero/everything", mutate: func(b []byte) []byte { clear(b); return b }, want: crcframe.CleanEnd},
		{name: "zero/empty src", mutate: func(b []byte) []byte { return b[:0] }, want: crcframe.CleanEnd},
		{name: "zero/nil src", mutate: func([]byte) []byte { return nil }, want: crcframe.CleanEnd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := append(bytes.Clone(frame), make([]byte, 64)...)
			src := tc.mutate(buf)
			seed, maxP := testSeed, maxPayload
			if tc.seed != nil {
				seed = *tc.seed
			}
			if tc.maxPayload != nil {
				maxP = *tc.maxPayload
			}
			h, p, n, err := crcframe.Decode(src, seed, maxP)
			if tc.want != 0 {
				requireReason(t, tc.want, h, p, n, err)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			wantH := tc.wantHeader
			if wantH == (crcframe.Header{}) {
				wantH = base
			}
			if h != wantH || !bytes.Equal(p, payload) || n != size {
				t.Fatalf("Decode = %+v, %q, %d; want %+v, %q, %d", h, p, n, wantH, payload, size)
			}
		})
	}
}

// flipAt returns a mutator flipping bit of byte i and decoding the whole
// buffer.
func flipAt(i int, bit uint) func([]byte) []byte {
	return func(b []byte) []byte { flip(b, i, bit); return b }
}

// resealed returns a mutator that changes the 40-byte base frame with m and
// recomputes its CRC.
func resealed(m func(f []byte)) func([]byte) []byte {
	return func(b []byte) []byte {
		m(b[:40])
		reseal(b[:40], testSeed)
		return b
	}
}

// TestDecodeTruncated cuts encoded frames at every length short of their
// size: a non-zero part of a header is IncompleteHeader, a whole header with
// part of its payload IncompletePayload, and an all-zero prefix CleanEnd.
func TestDecodeTruncated(t *testing.T) {
	for _, n := range []int{0, 1, 5, 8, 13, 64, 129} {
		frame := encode(t, crcframe.Header{Seq: 9, Durable: 8, Type: crcframe.Middle}, pattern(n))
		for cut := range len(frame) {
			t.Run(fmt.Sprintf("payload=%d/cut=%d", n, cut), func(t *testing.T) {
				src := frame[:cut:cut] // no capacity beyond the cut to peek at
				var want crcframe.Reason
				switch {
				case crcframe.IsZero(src):
					want = crcframe.CleanEnd
				case cut < crcframe.HeaderSize:
					want = crcframe.IncompleteHeader
				default:
					want = crcframe.IncompletePayload
				}
				h, p, m, err := crcframe.Decode(src, testSeed, crcframe.MaxPayload)
				requireReason(t, want, h, p, m, err)
			})
		}
		if frame[0] == 0 {
			t.Fatalf("payload=%d: CRC's first byte is 0, so cut=1 tested CleanEnd, not IncompleteHeader; change the frame", n)
		}
	}
}

// TestDecodeZeroPrefix: any all-zero prefix, short of a header or not, is the
// clean end.
func TestDecodeZeroPrefix(t *testing.T) {
	zero := make([]byte, 2*crcframe.HeaderSize)
	for n := range len(zero) + 1 {
		h, p, m, err := crcframe.Decode(zero[:n], testSeed, crcframe.MaxPayload)
		requireReason(t, crcframe.CleanEnd, h, p, m, err)
	}
	// A non-zero byte anywhere in a short tail is not a clean end.
	for n := 1; n < crcframe.HeaderSize; n++ {
		b := make([]byte, n)
		b[n-1] = 1
		h, p, m, err := crcframe.Decode(b, testSeed, crcframe.MaxPayload)
		requireReason(t, crcframe.IncompleteHeader, h, p, m, err)
	}
}

// TestEncodeRoundTrip encodes and decodes payloads around the alignment and
// the common record sizes, with every frame type.
func TestEncodeRoundTrip(t *testing.T) {
	types := []crcframe.Type{crcframe.Full, crcframe.First, crcframe.Middle, crcframe.Last, crcframe.Pad, crcframe.Mark}
	for i, n := range []int{0, 1, 7, 8, 9, 127, 128, 4096, 65536} {
		t.Run(fmt.Sprintf("size=%d", n), func(t *testing.T) {
			h := crcframe.Header{Seq: uint64(1 + i*1000), Durable: uint32(i * 8), Type: types[i%len(types)]}
			payload := pattern(n)
			frame := encode(t, h, payload)
			if want := (crcframe.HeaderSize + n + 7) / 8 * 8; len(frame) != want {
				t.Fatalf("frame is %d bytes, want %d", len(frame), want)
			}
			got, p, m, err := crcframe.Decode(frame, testSeed, n)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != h || !bytes.Equal(p, payload) || m != len(frame) {
				t.Fatalf("Decode = %+v, %d bytes, %d; want %+v, %d bytes, %d", got, len(p), m, h, n, len(frame))
			}
			// The padding is zero.
			if !crcframe.IsZero(frame[crcframe.HeaderSize+n:]) {
				t.Fatalf("padding %x is not zero", frame[crcframe.HeaderSize+n:])
			}
			// EncodeHeader over the payload in place gives the same bytes.
			inPlace := make([]byte, len(frame))
			copy(inPlace[crcframe.HeaderSize:], payload)
			if m, err := crcframe.EncodeHeader(inPlace, testSeed, h, n); err != nil || m != len(frame) {
				t.Fatalf("EncodeHeader = %d, %v; want %d, nil", m, err, len(frame))
			}
			if !bytes.Equal(inPlace, frame) {
				t.Fatalf("EncodeHeader bytes differ from Encode's")
			}
		})
	}
}

// TestSize pins Size: 24 bytes of header, the payload, padding to 8.
func TestSize(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want int64
	}{
		{0, 24}, {1, 32}, {7, 32}, {8, 32}, {9, 40}, {127, 152}, {128, 152}, {129, 160},
		{4096, 4120}, {65536, 65560}, {crcframe.MaxPayload, 24 + 1<<31},
	} {
		if tc.want > math.MaxInt {
			continue // does not fit int on 32-bit platforms
		}
		if got := crcframe.Size(tc.n); int64(got) != tc.want {
			t.Errorf("Size(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestEncodeShortBuffer: a destination one byte short is io.ErrShortBuffer,
// and Encode writes nothing into it.
func TestEncodeShortBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 8, 13, 128} {
		payload := pattern(n)
		dst := bytes.Repeat([]byte{0xee}, crcframe.Size(n)-1)
		m, err := crcframe.Encode(dst, testSeed, crcframe.Header{Seq: 1, Type: crcframe.Full}, payload)
		if !errors.Is(err, io.ErrShortBuffer) || m != 0 {
			t.Errorf("Encode(%d-byte payload, %d-byte dst) = %d, %v; want 0, io.ErrShortBuffer", n, len(dst), m, err)
		}
		if !bytes.Equal(dst, bytes.Repeat([]byte{0xee}, len(dst))) {
			t.Errorf("Encode wrote into a short dst")
		}
		m, err = crcframe.EncodeHeader(dst, testSeed, crcframe.Header{Seq: 1, Type: crcframe.Full}, n)
		if !errors.Is(err, io.ErrShortBuffer) || m != 0 {
			t.Errorf("EncodeHeader(n=%d, %d-byte dst) = %d, %v; want 0, io.ErrShortBuffer", n, len(dst), m, err)
		}
	}
	// A length no buffer can hold is short, not a panic.
	if _, err := crcframe.EncodeHeader(make([]byte, 64), testSeed, crcframe.Header{Seq: 1, Type: crcframe.Full}, crcframe.MaxPayload); !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("EncodeHeader(n=MaxPayload) = %v, want io.ErrShortBuffer", err)
	}
}

// TestEncodeHeaderBadLength: a negative length is out of bounds.
func TestEncodeHeaderBadLength(t *testing.T) {
	_, err := crcframe.EncodeHeader(make([]byte, 64), testSeed, crcframe.Header{Seq: 1, Type: crcframe.Full}, -1)
	if !errors.Is(err, crcframe.LengthOutOfBounds) {
		t.Fatalf("EncodeHeader(n=-1) = %v, want LengthOutOfBounds", err)
	}
}

// TestEncodeHeaderZeroesPadding: EncodeHeader over a reused buffer clears the
// stale bytes in the padding and the reserved bytes, and touches nothing past
// the frame.
func TestEncodeHeaderZeroesPadding(t *testing.T) {
	for _, n := range []int{0, 1, 5, 7, 8, 9, 127} {
		size := crcframe.Size(n)
		dst := bytes.Repeat([]byte{0xff}, size+16)
		payload := pattern(n)
		copy(dst[crcframe.HeaderSize:], payload)
		h := crcframe.Header{Seq: 3, Durable: 16, Type: crcframe.Last}
		m, err := crcframe.EncodeHeader(dst, testSeed, h, n)
		if err != nil || m != size {
			t.Fatalf("EncodeHeader = %d, %v; want %d, nil", m, err, size)
		}
		if !crcframe.IsZero(dst[crcframe.HeaderSize+n : size]) {
			t.Errorf("n=%d: padding %x not zeroed", n, dst[crcframe.HeaderSize+n:size])
		}
		if !crcframe.IsZero(dst[21:24]) {
			t.Errorf("n=%d: reserved %x not zeroed", n, dst[21:24])
		}
		if !bytes.Equal(dst[size:], bytes.Repeat([]byte{0xff}, 16)) {
			t.Errorf("n=%d: EncodeHeader wrote past the frame", n)
		}
		if !bytes.Equal(dst[:size], encode(t, h, payload)) {
			t.Errorf("n=%d: frame differs from Encode's", n)
		}
	}
}

// TestSeed: the seed depends on both the log identity and the segment
// number, and a frame encoded under one seed fails under another.
func TestSeed(t *testing.T) {
	otherID := testLogID
	otherID[15] ^= 1
	seeds := map[string]uint32{
		"base":          testSeed,
		"other log":     crcframe.Seed(otherID, testSegment),
		"other segment": crcframe.Seed(testLogID, testSegment+1),
		"segment 0":     crcframe.Seed(testLogID, 0),
		"zero log":      crcframe.Seed([16]byte{}, testSegment),
		"high segment":  crcframe.Seed(testLogID, testSegment|1<<63),
	}
	seen := map[uint32]string{}
	for name, s := range seeds {
		if prev, ok := seen[s]; ok {
			t.Errorf("%s and %s share seed %#x", name, prev, s)
		}
		seen[s] = name
	}
	if crcframe.Seed(testLogID, testSegment) != testSeed {
		t.Errorf("Seed is not deterministic")
	}

	frame := encode(t, crcframe.Header{Seq: 1, Type: crcframe.Full}, []byte("hello"))
	for name, s := range seeds {
		h, p, n, err := crcframe.Decode(frame, s, 1024)
		if name == "base" {
			if err != nil {
				t.Errorf("Decode with own seed: %v", err)
			}
			continue
		}
		t.Run(name, func(t *testing.T) { requireReason(t, crcframe.ChecksumMismatch, h, p, n, err) })
	}
}

// TestChecksum pins Checksum to CRC-32C: the standard check value of
// "123456789" is 0xe3069283 from a zero seed.
func TestChecksum(t *testing.T) {
	if got := crcframe.Checksum(0, []byte("123456789")); got != 0xe3069283 {
		t.Fatalf("Checksum(0, 123456789) = %#x, want 0xe3069283 (CRC-32C)", got)
	}
	// Update semantics: checksumming in two pieces equals one piece.
	b := pattern(100)
	if crcframe.Checksum(crcframe.Checksum(testSeed, b[:37]), b[37:]) != crcframe.Checksum(testSeed, b) {
		t.Fatalf("Checksum does not chain")
	}
}

// TestTypeIsRecord: only Full, First, Middle and Last carry records.
func TestTypeIsRecord(t *testing.T) {
	for v := range 256 {
		ty := crcframe.Type(v)
		want := ty >= crcframe.Full && ty <= crcframe.Last
		if ty.IsRecord() != want {
			t.Errorf("Type(%d).IsRecord() = %v, want %v", v, ty.IsRecord(), want)
		}
	}
}

// TestBitFlipEveryPosition flips every bit of a buffer of three frames of
// different sizes, one at a time: the frame holding the bit never decodes,
// and the others decode to their original bytes. No walk over the buffer
// ever accepts bytes that differ from what was encoded.
func TestBitFlipEveryPosition(t *testing.T) {
	var buf []byte
	var offsets []int
	for i, n := range []int{0, 13, 100} {
		offsets = append(offsets, len(buf))
		ty := []crcframe.Type{crcframe.First, crcframe.Middle, crcframe.Last}[i]
		buf = append(buf, encode(t, crcframe.Header{Seq: uint64(10 + i), Durable: uint32(len(buf)), Type: ty}, pattern(n))...)
	}
	ends := append(offsets[1:], len(buf))
	frameOf := func(pos int) int {
		for k := range offsets {
			if pos < ends[k] {
				return k
			}
		}
		panic("position out of range")
	}

	mutated := make([]byte, len(buf))
	for pos := range buf {
		for bit := range uint(8) {
			copy(mutated, buf)
			flip(mutated, pos, bit)
			hit := frameOf(pos)
			for k, off := range offsets {
				_, _, n, err := crcframe.Decode(mutated[off:], testSeed, crcframe.MaxPayload)
				if k == hit {
					if err == nil {
						t.Fatalf("byte %d bit %d: frame %d decoded with a flipped bit", pos, bit, k)
					}
					continue
				}
				if err != nil || n != ends[k]-off {
					t.Fatalf("byte %d bit %d: untouched frame %d: n=%d err=%v", pos, bit, k, n, err)
				}
			}
			// A reader walking the buffer stops at the damage; what it
			// accepted on the way matches the original bytes.
			for off := 0; off < len(mutated); {
				_, _, n, err := crcframe.Decode(mutated[off:], testSeed, crcframe.MaxPayload)
				if err != nil {
					break
				}
				if !bytes.Equal(mutated[off:off+n], buf[off:off+n]) {
					t.Fatalf("byte %d bit %d: walk accepted altered bytes at offset %d", pos, bit, off)
				}
				off += n
			}
		}
	}
}

// TestDecodeAllocs: Decode allocates nothing, on success or on any error.
func TestDecodeAllocs(t *testing.T) {
	frame := encode(t, crcframe.Header{Seq: 1, Type: crcframe.Full}, pattern(128))
	bad := bytes.Clone(frame)
	flip(bad, 30, 1)
	inputs := map[string][]byte{
		"valid":     frame,
		"checksum":  bad,
		"truncated": frame[:100],
		"header":    frame[:10],
		"zero":      make([]byte, 64),
		"empty":     nil,
	}
	for name, src := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			_, _, _, _ = crcframe.Decode(src, testSeed, 1024)
		})
		if allocs != 0 {
			t.Errorf("Decode(%s) allocates %v times per run, want 0", name, allocs)
		}
	}
}

// TestEncodeAllocs: Encode and EncodeHeader allocate nothing.
func TestEncodeAllocs(t *testing.T) {
	payload := pattern(128)
	dst := make([]byte, crcframe.Size(len(payload)))
	h := crcframe.Header{Seq: 1, Type: crcframe.Full}
	if a := testing.AllocsPerRun(100, func() { _, _ = crcframe.Encode(dst, testSeed, h, payload) }); a != 0 {
		t.Errorf("Encode allocates %v times per run, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = crcframe.EncodeHeader(dst, testSeed, h, len(payload)) }); a != 0 {
		t.Errorf("EncodeHeader allocates %v times per run, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = crcframe.Encode(dst[:10], testSeed, h, payload) }); a != 0 {
		t.Errorf("Encode into a short buffer allocates %v times per run, want 0", a)
	}
}

// TestTypeString: every defined type has its FORMAT.md name; others say
// their number.
func TestTypeString(t *testing.T) {
	want := map[crcframe.Type]string{0: "type(0)", crcframe.Full: "full", crcframe.First: "first", crcframe.Middle: "middle",
		crcframe.Last: "last", crcframe.Pad: "pad", crcframe.Mark: "mark", crcframe.Seal: "seal", 8: "type(8)", 255: "type(255)"}
	for ty, s := range want {
		if ty.String() != s {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(ty), ty.String(), s)
		}
	}
}
