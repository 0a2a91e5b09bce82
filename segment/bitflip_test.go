package segment_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// TestScanBitFlip flips every bit of the three frames of base3, one at a
// time, in a mapped segment. CRC-32C catches every single-bit error, so the
// frame holding the flipped bit is always the first invalid one: Scan stops
// at its offset with the records before it, visited unchanged, and never
// accepts the segment with three records. The frames after it are still
// valid, so the evidence (ValidAfter, DurableAfter) is exactly theirs.
func TestScanBitFlip(t *testing.T) {
	frames := base3()
	orig, offs, end := segImage(t, testHeader(corpusSize), frames)
	f := openImage(t, orig)
	img := f.Data()
	for i := int64(segment.HeaderSize); i < end; i++ {
		k := frameAt(offs, i)
		wantAfter := uint32(0)
		for _, g := range frames[k+1:] {
			wantAfter = max(wantAfter, g.h.Durable)
		}
		for bit := range 8 {
			copy(img, orig)
			img[i] ^= 1 << bit
			e, seen := scan(f, testPrevSeq, corpusSize)
			if e.Reason == crcframe.CleanEnd || e.Bad != offs[k] || e.Offset != offs[k] || e.Records != k ||
				e.ValidAfter != (k < len(frames)-1) || e.DurableAfter != wantAfter {
				t.Fatalf("bit %d of byte %d (frame %d at %d) flipped: End = %+v", bit, i, k, offs[k], e)
			}
			requireVisited(t, seen, frames[:k], offs[:k])
		}
	}
}

// frameAt returns the index of the frame holding byte i, given the frames'
// start offsets.
func frameAt(offs []int64, i int64) int {
	k := 0
	for k+1 < len(offs) && offs[k+1] <= i {
		k++
	}
	return k
}

// TestScanBitFlipTail flips one bit of every byte of the zeroed tail after
// the last frame: the scan keeps all three records and stops at their end.
// A stray bit in the 24 bytes there makes a non-zero frame header, an
// invalid frame (the reason Decode gives, a length past the segment end
// reported as LengthOutOfBounds); one further on is garbage after the clean
// end. Either way Dirty ends just past the stray byte.
func TestScanBitFlipTail(t *testing.T) {
	orig, _, end := segImage(t, testHeader(corpusSize), base3())
	f := openImage(t, orig)
	img := f.Data()
	for i := end; i < corpusSize; i++ {
		copy(img, orig)
		img[i] ^= 1 << (i % 8)
		want := segment.End{Offset: end, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.GarbageAfterEnd, Bad: end,
			Dirty: (i + 8) &^ 7}
		if i < end+crcframe.HeaderSize {
			_, _, _, err := crcframe.Decode(img[end:], f.Seed(), corpusSize)
			want.Reason = err.(crcframe.Reason)
			if want.Reason == crcframe.IncompletePayload {
				want.Reason = crcframe.LengthOutOfBounds
			}
			if want.Reason != crcframe.ChecksumMismatch && want.Reason != crcframe.LengthOutOfBounds {
				t.Fatalf("byte %d flipped: Decode says %v", i, want.Reason)
			}
		}
		e, _ := scan(f, testPrevSeq, corpusSize)
		if e != want {
			t.Fatalf("byte %d flipped: End = %+v, want %+v", i, e, want)
		}
	}
}

// TestOpenBitFlipHeader flips every bit of the 64-byte segment header: Open
// refuses each one, with BadMagic for the magic's bits and
// HeaderChecksumMismatch for all the others (the CRC field's included).
func TestOpenBitFlipHeader(t *testing.T) {
	orig, _, _ := segImage(t, testHeader(corpusSize), base3())
	path := filepath.Join(t.TempDir(), segment.Name(testNumber))
	img := make([]byte, len(orig))
	for i := range segment.HeaderSize {
		want := crcframe.HeaderChecksumMismatch
		if i < 8 {
			want = crcframe.BadMagic
		}
		for bit := range 8 {
			copy(img, orig)
			img[i] ^= 1 << bit
			requireNoErr(t, os.WriteFile(path, img, 0o644), "write")
			f, err := segment.Open(path, testNumber, testLogID, false)
			if err == nil {
				f.Close()
				t.Fatalf("bit %d of header byte %d flipped: Open succeeded", bit, i)
			}
			requireOpenError(t, err, path, want, 0)
		}
	}
}

// TestScanCutLastRecord zeroes the image from every offset c inside the
// last record (frame at 160: 24 header bytes and a 17-byte payload, 160 …
// 200, then padding to 208) to the end of the segment, as a torn write that
// never reached the disk does. What is asserted, for each c:
//
//   - if the surviving bytes [160, c) are all zero, the whole frame is gone:
//     the clean end at 160, Clean(), two records;
//   - otherwise the frame at 160 is the first invalid one: Reason
//     ChecksumMismatch, Bad == Offset == 160, two records, LastSeq 11,
//     ValidAfter false (nothing after it proves it durable: a torn tail),
//     and Dirty is the end of the surviving bytes rounded up to 8;
//   - and a cut in the padding (c ≥ 201) changes no byte, so the segment
//     still scans cleanly with three records.
func TestScanCutLastRecord(t *testing.T) {
	frames := base3()
	orig, offs, end := segImage(t, testHeader(corpusSize), frames)
	last := offs[2]
	payloadEnd := last + crcframe.HeaderSize + int64(len(frames[2].payload))
	f := openImage(t, orig)
	img := f.Data()
	for c := last; c < end; c++ {
		copy(img, orig)
		clear(img[c:])
		e, seen := scan(f, testPrevSeq, corpusSize)
		var want segment.End
		switch {
		case c >= payloadEnd:
			want = segment.End{Offset: end, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.CleanEnd, Bad: end, Dirty: end}
			requireVisited(t, seen, frames, offs)
		case crcframe.IsZero(img[last:c]):
			want = segment.End{Offset: last, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.CleanEnd, Bad: last, Dirty: last}
			requireVisited(t, seen, frames[:2], offs[:2])
		default:
			want = segment.End{Offset: last, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.ChecksumMismatch, Bad: last,
				Dirty: naiveDirty(img, last)}
			requireVisited(t, seen, frames[:2], offs[:2])
		}
		if e != want {
			t.Fatalf("cut at %d: End =\n\t%+v\nwant\n\t%+v", c, e, want)
		}
	}
}

// naiveDirty is DirtyEnd computed byte by byte: just past the last non-zero
// byte at or after from, rounded up to 8 (from is 8-aligned), or from.
func naiveDirty(img []byte, from int64) int64 {
	for i := int64(len(img)) - 1; i >= from; i-- {
		if img[i] != 0 {
			return (i + 8) &^ 7
		}
	}
	return from
}
