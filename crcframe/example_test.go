package crcframe_test

import (
	"errors"
	"fmt"

	"github.com/mmapwal/mmapwal/crcframe"
)

func ExampleEncode() {
	seed := crcframe.Seed([16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}, 7)
	payload := []byte("hello")

	dst := make([]byte, crcframe.Size(len(payload)))
	n, err := crcframe.Encode(dst, seed, crcframe.Header{Seq: 1, Type: crcframe.Full}, payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, "bytes")
	fmt.Printf("header  % x\n", dst[:crcframe.HeaderSize])
	fmt.Printf("payload % x\n", dst[crcframe.HeaderSize:n])
	// Output:
	// 32 bytes
	// header  8c a5 c2 32 05 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00
	// payload 68 65 6c 6c 6f 00 00 00
}

func ExampleDecode() {
	seed := crcframe.Seed([16]byte{0xaa}, 1)

	// A preallocated, zero-filled segment area holding two records.
	seg := make([]byte, 256)
	off := 0
	for seq, rec := range []string{"first record", "second"} {
		n, err := crcframe.Encode(seg[off:], seed, crcframe.Header{Seq: uint64(seq + 1), Type: crcframe.Full}, []byte(rec))
		if err != nil {
			fmt.Println(err)
			return
		}
		off += n
	}

	// Scan until the zero header that ends the written data.
	for off := 0; ; {
		h, payload, n, err := crcframe.Decode(seg[off:], seed, 1<<20)
		if errors.Is(err, crcframe.CleanEnd) {
			fmt.Println("clean end at offset", off)
			break
		}
		if err != nil {
			fmt.Println("corrupt at offset", off, err)
			break
		}
		fmt.Printf("offset %d: seq %d %q\n", off, h.Seq, payload)
		off += n
	}
	// Output:
	// offset 0: seq 1 "first record"
	// offset 40: seq 2 "second"
	// clean end at offset 72
}
