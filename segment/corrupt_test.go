package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// corpusDir holds one small crafted segment file per corruption reason,
// with a README.txt line per file. `go test ./segment -run
// TestCorruptCorpus -update` regenerates it; otherwise the test checks that
// the builders below still produce the files byte for byte.
const corpusDir = "testdata/corrupt"

// corpusSize is the size of every corpus segment: the smallest allowed.
const corpusSize = segment.MinSize

// base3 are three full records, 48-byte frames at 64, 112 and 160 (the
// segment's frames end at 208). Each claims the frames before it durable,
// as a writer that syncs after every record would.
func base3() []frame {
	return []frame{
		rec(crcframe.Full, 10, 0, "record 10 payload"),
		rec(crcframe.Full, 11, 112, "record 11 payload"),
		rec(crcframe.Full, 12, 160, "record 12 payload"),
	}
}

// image builds a corpus segment of the test log holding frames.
func image(tb testing.TB, frames []frame) []byte {
	img, _, _ := segImage(tb, testHeader(corpusSize), frames)
	return img
}

// recycled builds a corpus segment whose header has FlagRecycled, holding
// frames over stale frames of segment 2 of the test log (full records in
// 64-byte frames from 64 to the end), with a zero frame header after the frames
// when endHeader is set, then mutated by mutate if not nil.
func recycled(frames []frame, endHeader bool, mutate func([]byte)) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		old := testHeader(corpusSize)
		old.Number = testNumber - 1
		var stale []frame
		for i := range (corpusSize - segment.HeaderSize) / 64 {
			stale = append(stale, rec(crcframe.Full, uint64(1+i), 0, "stale record of segment 2, 64-byte frame"))
		}
		img, _, _ := segImage(tb, old, stale)
		h := testHeader(corpusSize)
		h.Version, h.Flags = 2, segment.FlagRecycled
		fresh, _, end := segImage(tb, h, frames)
		copy(img, fresh[:end])
		if endHeader {
			clear(img[end : end+crcframe.HeaderSize])
		}
		if mutate != nil {
			mutate(img)
		}
		return img
	}
}

// resealHeader recomputes the segment header's CRC after a mutation, so
// that the mutation reaches the checks behind the checksum.
func resealHeader(img []byte) {
	binary.LittleEndian.PutUint32(img[60:], crcframe.Checksum(0, img[:60]))
}

// corruptCase is one file of the corpus: how to build it and what Open, or
// else Scan(testPrevSeq, maxPayload), must report for it.
type corruptCase struct {
	file  string
	what  string
	build func(testing.TB) []byte

	openErr crcframe.Reason // Open must fail with this reason …
	openOff int64           // … at this offset

	maxPayload int
	end        segment.End
}

func corruptCases() []corruptCase {
	withHeader := func(h segment.Header) func(testing.TB) []byte {
		return func(tb testing.TB) []byte {
			img, _, _ := segImage(tb, h, base3())
			return img
		}
	}
	mutated := func(frames []frame, mutate func(img []byte)) func(testing.TB) []byte {
		return func(tb testing.TB) []byte {
			img := image(tb, frames)
			mutate(img)
			return img
		}
	}
	withLen := func(n int) []frame {
		f := base3()
		f[2].payload = pattern(n)
		return f
	}
	last := func(f frame) []frame { return append(base3()[:2], f) }
	other := testHeader(corpusSize)
	other.LogID = otherLogID
	renumbered := testHeader(corpusSize)
	renumbered.Number = testNumber + 1
	long := testHeader(2 * corpusSize)

	return []corruptCase{
		// Open: the segment header.
		{file: "open-bad-magic.wal", what: `magic "Mmapwal\0" (header CRC recomputed)`,
			build: mutated(base3(), func(b []byte) { b[0] = 'M'; resealHeader(b) }), openErr: crcframe.BadMagic},
		// Refused as unsupported by format version 1, a valid header of
		// version 2 (no flags) since: the file is kept, its verdict moved.
		{file: "open-unsupported-version.wal", what: "version 2 in a header with a valid CRC (unsupported in version 1; a valid version 2 header without flags since)",
			build: mutated(base3(), func(b []byte) { b[8] = 2; resealHeader(b) }), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.CleanEnd, Bad: 208, Dirty: 208}},
		{file: "open-unsupported-version-3.wal", what: "version 3 in a header with a valid CRC",
			build: mutated(base3(), func(b []byte) { b[8] = 3; resealHeader(b) }), openErr: crcframe.UnsupportedVersion},
		// Refused while flag bit 1 was reserved; a recycled segment since
		// (FORMAT.md §9.7), whose zeros after the frames end it cleanly.
		{file: "open-unsupported-v2-reserved-flag.wal", what: "version 2 with the flag bit 1 (recycled) set, valid CRC (refused while the bit was reserved; a recycled segment since)",
			build: mutated(base3(), func(b []byte) { b[8], b[12] = 2, 2; resealHeader(b) }), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.CleanEnd, Bad: 208, Dirty: 208}},
		{file: "open-unsupported-v2-reserved-flag-2.wal", what: "version 2 with the reserved flag bit 2 set, valid CRC",
			build: mutated(base3(), func(b []byte) { b[8], b[12] = 2, 4; resealHeader(b) }), openErr: crcframe.UnsupportedVersion},
		{file: "open-unsupported-v2-seal-offset.wal", what: "version 2, flag prev sealed, prev seal offset 12 (inside the header), valid CRC",
			build: mutated(base3(), func(b []byte) { b[8], b[12], b[56] = 2, 1, 12; resealHeader(b) }), openErr: crcframe.UnsupportedVersion},
		{file: "open-unsupported-flags.wal", what: "flags 1 in a header with a valid CRC (v1 refuses unknown flags)",
			build: mutated(base3(), func(b []byte) { b[12] = 1; resealHeader(b) }), openErr: crcframe.UnsupportedVersion},
		{file: "open-header-checksum.wal", what: "bit 0 of byte 40 (first seq) flipped, CRC not updated",
			build: mutated(base3(), func(b []byte) { b[40] ^= 1 }), openErr: crcframe.HeaderChecksumMismatch},
		{file: "open-foreign-segment.wal", what: "a valid segment 3 of the log f1…f0",
			build: withHeader(other), openErr: crcframe.ForeignSegment},
		{file: "open-number-mismatch.wal", what: "a valid segment of the test log whose header says number 4",
			build: withHeader(renumbered), openErr: crcframe.SegmentNumberMismatch},
		{file: "open-segment-short.wal", what: "header says 8192 bytes, the file has 4096",
			build: func(tb testing.TB) []byte {
				img, _, _ := segImage(tb, long, base3())
				return img[:corpusSize]
			}, openErr: crcframe.SegmentShort, openOff: corpusSize},
		{file: "open-incomplete-header.wal", what: "a 40-byte file: the first 40 bytes of a valid header",
			build: func(tb testing.TB) []byte { return image(tb, base3())[:40] }, openErr: crcframe.IncompleteHeader},

		// Scan: the frames.
		{file: "scan-checksum-mismatch.wal", what: "records 10, 11, 12; bit 0 of payload byte 3 of record 12 (at 160) flipped",
			build: mutated(base3(), func(b []byte) { b[160+24+3] ^= 1 }), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.ChecksumMismatch, Bad: 160, Dirty: 208}},
		{file: "scan-length-past-end.wal", what: "records 10, 11, 12; the length of record 12 (at 160) set to 3950, past the segment end",
			build: mutated(base3(), func(b []byte) { binary.LittleEndian.PutUint32(b[160+4:], 3950) }), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.LengthOutOfBounds, Bad: 160, Dirty: 208}},
		{file: "scan-length-over-max.wal", what: "records 10, 11, 12 with a valid 200-byte record 12 (at 160), scanned with maxPayload 128",
			build: mutated(withLen(200), func([]byte) {}), maxPayload: 128,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.LengthOutOfBounds, Bad: 160, Dirty: 384}},
		{file: "scan-sequence-repeat.wal", what: "records 10, 11, 11: the third (at 160) does not increase the sequence",
			build: mutated(last(rec(crcframe.Full, 11, 160, "record 11 again!!")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.SequenceViolation, Bad: 160, Dirty: 208}},
		{file: "scan-sequence-zero.wal", what: "records 10, 11, then a valid frame with sequence 0 (at 160)",
			build: mutated(last(rec(crcframe.Full, 0, 160, "record 00 payload")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.SequenceViolation, Bad: 160, Dirty: 208}},
		{file: "scan-sequence-batch-gap.wal", what: "record 10, batch first 11 (at 112), middle 13 (at 160): not consecutive",
			build: mutated([]frame{
				rec(crcframe.Full, 10, 0, "record 10 payload"),
				rec(crcframe.First, 11, 112, "record 11 payload"),
				rec(crcframe.Middle, 13, 112, "record 13 payload"),
			}, func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 112, Records: 1, LastSeq: 10, OpenBatch: 112, Reason: crcframe.SequenceViolation, Bad: 160, Dirty: 208}},
		{file: "scan-unknown-type.wal", what: "records 10, 11, then a valid frame of type 7 (at 160) with a payload (unknown in version 1; a seal of a shape no writer produces since version 2)",
			build: mutated(last(rec(7, 12, 160, "record 12 payload")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.UnknownType, Bad: 160, Dirty: 208}},
		{file: "scan-unknown-type-8.wal", what: "records 10, 11, then a valid frame of type 8 (at 160)",
			build: mutated(last(rec(8, 12, 160, "record 12 payload")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.UnknownType, Bad: 160, Dirty: 208}},
		{file: "scan-sealed.wal", what: "records 10, 11, then a seal (seq 11, durable 160, at 160) and zeros: a sealed segment",
			build: mutated(last(rec(crcframe.Seal, 11, 160, "")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 184, Records: 2, LastSeq: 11, Durable: 160, Sealed: true, Reason: crcframe.CleanEnd, Bad: 184, Dirty: 184}},
		{file: "scan-frame-after-seal.wal", what: "records 10, 11, a seal (at 160), then record 12 (at 184): nothing may follow a seal",
			build: mutated(append(last(rec(crcframe.Seal, 11, 160, "")), rec(crcframe.Full, 12, 184, "record 12 payload")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 184, Records: 2, LastSeq: 11, Durable: 160, Sealed: true, Reason: crcframe.SequenceViolation, Bad: 184, Dirty: 232}},
		{file: "scan-seal-payload.wal", what: "records 10, 11, then a seal at 160 with a 5-byte payload",
			build: mutated(last(rec(crcframe.Seal, 11, 112, "seal!")), func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.UnknownType, Bad: 160, Dirty: 192}},
		// Recycled segments (FORMAT.md §9.7): stale frames of segment 2
		// of the test log fill the file behind the new frames.
		{file: "scan-recycled-clean.wal", what: "recycled: records 10, 11, 12, a zero frame header at 208, then stale frames of segment 2",
			build: recycled(base3(), true, nil), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.CleanEnd, Bad: 208, Dirty: 208}},
		{file: "scan-recycled-torn-stale.wal", what: "recycled: records 10, 11, 12, no zero frame header after them (a crash lost it): the stale bytes at 208, inside a stale frame, claim a length of 1: a torn tail of that one claimed frame",
			build: recycled(base3(), false, nil), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.ChecksumMismatch, Bad: 208, Dirty: 240}},
		{file: "scan-recycled-stale-frame.wal", what: "recycled: records 10, 11, 12, 13 ending at 256, no zero frame header: at 256 a whole stale frame of segment 2, which fails this seed's checksum: a torn tail of that frame",
			build: recycled(append(base3(), rec(crcframe.Full, 13, 208, "record 13 payload ......")), false, nil), maxPayload: corpusSize,
			end: segment.End{Offset: 256, Records: 4, LastSeq: 13, Durable: 208, Reason: crcframe.ChecksumMismatch, Bad: 256, Dirty: 320}},
		{file: "scan-recycled-torn-frame.wal", what: "recycled: records 10, 11, 12 with a bit of record 12 (at 160) flipped, a zero frame header at 208, stale frames after",
			build: recycled(base3(), true, func(b []byte) { b[160+27] ^= 1 }), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.ChecksumMismatch, Bad: 160, Dirty: 208}},
		{file: "scan-recycled-valid-after.wal", what: "recycled: records 10, 11, 12, a zero frame header at 208, record 14 (durable 300) of this segment at 256 among the stale frames",
			build: recycled(base3(), true, func(b []byte) {
				crcframe.Encode(b[256:], crcframe.Seed(testLogID, testNumber), crcframe.Header{Seq: 14, Durable: 300, Type: crcframe.Full}, []byte("record 14 payload"))
			}), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.GarbageAfterEnd, Bad: 208,
				ValidAfter: true, DurableAfter: 300, Dirty: 304}},
		{file: "scan-recycled-sealed.wal", what: "recycled: records 10, 11, a seal at 160, then stale bytes (no zero header): nothing after a seal is read",
			build: recycled(last(rec(crcframe.Seal, 11, 160, "")), false, nil), maxPayload: corpusSize,
			end: segment.End{Offset: 184, Records: 2, LastSeq: 11, Durable: 160, Sealed: true, Reason: crcframe.CleanEnd, Bad: 184, Dirty: 184}},
		{file: "scan-recycled-full.wal", what: "recycled: records 10, 11, 12, 13 filling the segment to 4080, then 16 stale bytes: no frame header fits, the frames end there",
			build: recycled(append(base3(), frame{crcframe.Header{Seq: 13, Durable: 208, Type: crcframe.Full}, pattern(3848)}), false, nil), maxPayload: corpusSize,
			end: segment.End{Offset: 4080, Records: 4, LastSeq: 13, Durable: 208, Reason: crcframe.CleanEnd, Bad: 4080, Dirty: 4080}},
		{file: "scan-garbage-after-end.wal", what: "records 10, 11, 12, zeros, and byte 4000 = 0x5a",
			build: mutated(base3(), func(b []byte) { b[4000] = 0x5a }), maxPayload: corpusSize,
			end: segment.End{Offset: 208, Records: 3, LastSeq: 12, Durable: 160, Reason: crcframe.GarbageAfterEnd, Bad: 208, Dirty: 4008}},
		{file: "scan-incomplete-header.wal", what: "records 10, 11, 12, 13 filling the segment to 4080, then 16 bytes 0xff: a frame header straddling the end",
			build: mutated(append(base3(), frame{crcframe.Header{Seq: 13, Durable: 208, Type: crcframe.Full}, pattern(3848)}), func(b []byte) {
				copy(b[4080:], bytes.Repeat([]byte{0xff}, 16))
			}), maxPayload: corpusSize,
			end: segment.End{Offset: 4080, Records: 4, LastSeq: 13, Durable: 208, Reason: crcframe.IncompleteHeader, Bad: 4080, Dirty: 4096}},
		{file: "scan-open-batch.wal", what: "record 10, batch first 11 (at 112), middle 12 (at 160), then zeros: the batch never got its last frame",
			build: mutated([]frame{
				rec(crcframe.Full, 10, 0, "record 10 payload"),
				rec(crcframe.First, 11, 112, "record 11 payload"),
				rec(crcframe.Middle, 12, 112, "record 12 payload"),
			}, func([]byte) {}), maxPayload: corpusSize,
			end: segment.End{Offset: 112, Records: 1, LastSeq: 10, OpenBatch: 112, Reason: crcframe.CleanEnd, Bad: 208, Dirty: 208}},
		{file: "scan-evidence-proven.wal", what: "records 10, 11, 12; record 11 (at 112) damaged; record 12 claims durable 160 > 112",
			build: mutated(base3(), func(b []byte) { b[112+24] ^= 0x80 }), maxPayload: corpusSize,
			end: segment.End{Offset: 112, Records: 1, LastSeq: 10, Reason: crcframe.ChecksumMismatch, Bad: 112, ValidAfter: true, DurableAfter: 160, Dirty: 208}},
		{file: "scan-evidence-unproven.wal", what: "records 10, 11, 12; record 11 (at 112) damaged; record 12 claims only durable 64 < 112",
			build: mutated(last(rec(crcframe.Full, 12, 64, "record 12 payload")), func(b []byte) { b[112+24] ^= 0x80 }), maxPayload: corpusSize,
			end: segment.End{Offset: 112, Records: 1, LastSeq: 10, Reason: crcframe.ChecksumMismatch, Bad: 112, ValidAfter: true, DurableAfter: 64, Dirty: 208}},
		{file: "scan-evidence-mark.wal", what: "records 10, 11, 12 and Close's mark (seq 12, durable 208, at 208); record 12 (at 160) damaged",
			build: mutated(append(base3(), rec(crcframe.Mark, 12, 208, "")), func(b []byte) { b[160+24+16] ^= 0x01 }), maxPayload: corpusSize,
			end: segment.End{Offset: 160, Records: 2, LastSeq: 11, Durable: 112, Reason: crcframe.ChecksumMismatch, Bad: 160, ValidAfter: true, DurableAfter: 208, Dirty: 232}},
	}
}

// readmeLine describes one corpus file and what it must produce.
func (c corruptCase) readmeLine() string {
	if c.openErr != 0 {
		return fmt.Sprintf("%s: %s. Open(number %d, log 01…10) fails: %s, offset %d.",
			c.file, c.what, testNumber, reasonIdent(c.openErr), c.openOff)
	}
	e := c.end
	return fmt.Sprintf("%s: %s. Scan(prevSeq %d, maxPayload %d): %s at Bad %d; Offset %d, Records %d, LastSeq %d, OpenBatch %d, "+
		"Clean %v, ValidAfter %v, DurableAfter %d, ProvenDurable %v, Dirty %d.",
		c.file, c.what, testPrevSeq, c.maxPayload, reasonIdent(e.Reason), e.Bad, e.Offset, e.Records, e.LastSeq, e.OpenBatch,
		e.Clean(), e.ValidAfter, e.DurableAfter, e.ProvenDurable(), e.Dirty)
}

// reasonIdent names a reason as Go code and prose, e.g.
// "crcframe.BadMagic (bad segment magic)".
func reasonIdent(r crcframe.Reason) string {
	names := map[crcframe.Reason]string{
		crcframe.CleanEnd: "CleanEnd", crcframe.IncompleteHeader: "IncompleteHeader",
		crcframe.ChecksumMismatch: "ChecksumMismatch", crcframe.LengthOutOfBounds: "LengthOutOfBounds",
		crcframe.SequenceViolation: "SequenceViolation", crcframe.UnknownType: "UnknownType",
		crcframe.BadMagic: "BadMagic", crcframe.UnsupportedVersion: "UnsupportedVersion",
		crcframe.HeaderChecksumMismatch: "HeaderChecksumMismatch", crcframe.ForeignSegment: "ForeignSegment",
		crcframe.SegmentNumberMismatch: "SegmentNumberMismatch", crcframe.SegmentShort: "SegmentShort",
		crcframe.GarbageAfterEnd: "GarbageAfterEnd",
	}
	return fmt.Sprintf("crcframe.%s (%s)", names[r], r.String())
}

func corpusReadme(cases []corruptCase) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Crafted segment files, one per reason the segment package reports (format versions 1 and 2).\n"+
		"Generated by `go test ./segment -run TestCorruptCorpus -update`; TestCorruptCorpus checks them byte for byte.\n"+
		"Each is a segment of log 01…10, number %d, first seq %d, %d bytes (unless said otherwise), opened as\n"+
		"segment %d of that log; offsets are decimal. The base is records 10, 11, 12: 48-byte full frames at 64, 112\n"+
		"and 160 with durable watermarks 0, 112 and 160.\n\n", testNumber, testFirstSeq, corpusSize, testNumber)
	for _, c := range cases {
		b.WriteString(c.readmeLine())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// TestCorruptCorpus checks every reason Open and Scan report against a
// crafted file of testdata/corrupt: the file is what its builder produces,
// byte for byte, and Open or Scan of it gives exactly the recorded result.
func TestCorruptCorpus(t *testing.T) {
	cases := corruptCases()
	readme := corpusReadme(cases)
	if *update {
		requireNoErr(t, os.MkdirAll(corpusDir, 0o755), "mkdir")
		for _, c := range cases {
			requireNoErr(t, os.WriteFile(filepath.Join(corpusDir, c.file), c.build(t), 0o644), "write")
		}
		requireNoErr(t, os.WriteFile(filepath.Join(corpusDir, "README.txt"), readme, 0o644), "write README")
	}

	got, err := os.ReadFile(filepath.Join(corpusDir, "README.txt"))
	requireNoErr(t, err, "read README")
	if !bytes.Equal(got, readme) {
		t.Errorf("%s/README.txt differs from the cases (run with -update if the change is intended):\n%s", corpusDir, readme)
	}
	ents, err := os.ReadDir(corpusDir)
	requireNoErr(t, err, "ReadDir")
	for _, e := range ents {
		if e.Name() != "README.txt" && !slices.ContainsFunc(cases, func(c corruptCase) bool { return c.file == e.Name() }) {
			t.Errorf("%s/%s is not in the corpus table", corpusDir, e.Name())
		}
	}

	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".wal"), func(t *testing.T) {
			path := filepath.Join(corpusDir, c.file)
			got, err := os.ReadFile(path)
			requireNoErr(t, err, "read")
			if !bytes.Equal(got, c.build(t)) {
				t.Fatalf("%s is not what its builder produces", path)
			}
			f, err := segment.Open(path, testNumber, testLogID, false)
			if c.openErr != 0 {
				requireOpenError(t, err, path, c.openErr, c.openOff)
				return
			}
			requireNoErr(t, err, "Open")
			defer f.Close()
			end, seen := scan(f, testPrevSeq, c.maxPayload)
			requireEnd(t, end, c.end)
			if len(seen) != end.Records {
				t.Fatalf("visited %d records, End.Records = %d", len(seen), end.Records)
			}
			for _, v := range seen {
				if v.off >= end.Offset {
					t.Fatalf("visited a record at %d, past End.Offset %d", v.off, end.Offset)
				}
			}
		})
	}
}

// requireOpenError checks an Open error: a *segment.Error for path at off
// whose reason is want.
func requireOpenError(tb testing.TB, err error, path string, want crcframe.Reason, off int64) {
	tb.Helper()
	requireReason(tb, err, want)
	var se *segment.Error
	if !errors.As(err, &se) {
		tb.Fatalf("err = %T %v, want a *segment.Error", err, err)
	}
	if se.Path != path || se.Offset != off || se.Reason != want {
		tb.Fatalf("Error = %+v, want path %s, offset %d, reason %v", *se, path, off, want)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want.String()) {
		tb.Fatalf("Error() = %q, want the path and the reason in it", err.Error())
	}
}
