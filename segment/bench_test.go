package segment_test

import (
	"fmt"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/segment"
)

// benchSegmentSize is the size of the benchmarked segments: the engine's
// default.
const benchSegmentSize = 64 << 20

// Sinks keep the compiler from discarding benchmarked work.
var (
	sinkEnd segment.End
	sinkCRC uint32
)

// BenchmarkAppend measures WriteFrame alone: encoding a frame into the
// mapping of a prefaulted 64 MiB segment, with no sync. When the segment is
// full it starts again at the first frame offset, so the loop never leaves
// pages the kernel has already mapped. Bytes are payload bytes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 1024, 4096} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			f := createSegment(b, benchSegmentSize)
			if err := f.Prefault(segment.HeaderSize, f.Size()); err != nil {
				b.Fatal(err)
			}
			payload := pattern(size)
			h := crcframe.Header{Type: crcframe.Full}
			off := int64(segment.HeaderSize)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if !f.Fits(off, size) {
					off = segment.HeaderSize
				}
				h.Seq++
				n, err := f.WriteFrame(off, h, payload)
				if err != nil {
					b.Fatal(err)
				}
				off += int64(n)
			}
		})
	}
}

// BenchmarkScan measures Scan of a 64 MiB segment full of 128-byte records
// (152-byte frames), the recovery path, beside crc-baseline: CRC-32C alone
// over the same bytes, the floor under any scan. Bytes are the frames'
// bytes in both, so their MB/s compare directly.
func BenchmarkScan(b *testing.B) {
	f := createSegment(b, benchSegmentSize)
	payload := pattern(128)
	off, records := int64(segment.HeaderSize), 0
	for f.Fits(off, len(payload)) {
		records++
		n, err := f.WriteFrame(off, crcframe.Header{Seq: uint64(records), Type: crcframe.Full}, payload)
		if err != nil {
			b.Fatal(err)
		}
		off += int64(n)
	}
	frames := f.Data()[segment.HeaderSize:off]

	b.Run("size=128", func(b *testing.B) {
		b.SetBytes(int64(len(frames)))
		b.ReportAllocs()
		for b.Loop() {
			sinkEnd = f.Scan(0, crcframe.MaxPayload, func(int64, crcframe.Header, []byte) {})
		}
		if !sinkEnd.Clean() || sinkEnd.Records != records {
			b.Fatalf("scan: %+v, want %d records", sinkEnd, records)
		}
	})
	b.Run("crc-baseline", func(b *testing.B) {
		b.SetBytes(int64(len(frames)))
		b.ReportAllocs()
		for b.Loop() {
			sinkCRC = crcframe.Checksum(f.Seed(), frames)
		}
	})
}
