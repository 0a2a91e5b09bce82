package crcframe_test

import (
	"fmt"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// benchSizes are the payload sizes of the microbenchmarks. Names are
// size=N so that benchstat can compare them across revisions.
var benchSizes = []int{128, 1024, 4096, 65536}

// Sinks keep the compiler from discarding benchmarked work.
var (
	sinkN   int
	sinkCRC uint32
)

// BenchmarkEncode measures Encode: copying the payload, zeroing the padding,
// writing the header and the CRC over header and payload. Bytes are payload
// bytes.
func BenchmarkEncode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			payload := pattern(size)
			dst := make([]byte, crcframe.Size(size))
			h := crcframe.Header{Seq: 1, Type: crcframe.Full}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				n, err := crcframe.Encode(dst, testSeed, h, payload)
				if err != nil {
					b.Fatal(err)
				}
				sinkN = n
			}
		})
	}
}

// BenchmarkDecode measures Decode of a valid frame: bounds, the CRC and
// the padding check. Bytes are payload bytes.
func BenchmarkDecode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			frame := encode(b, crcframe.Header{Seq: 1, Type: crcframe.Full}, pattern(size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_, _, n, err := crcframe.Decode(frame, testSeed, crcframe.MaxPayload)
				if err != nil {
					b.Fatal(err)
				}
				sinkN = n
			}
		})
	}
}

// BenchmarkCRC is the floor under Encode and Decode: crcframe.Checksum over
// the payload alone. Bytes are payload bytes, as in the other two.
func BenchmarkCRC(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			payload := pattern(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				sinkCRC = crcframe.Checksum(testSeed, payload)
			}
		})
	}
}
