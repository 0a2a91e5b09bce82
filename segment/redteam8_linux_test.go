//go:build linux

package segment_test

import (
	"hash/crc32"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime/debug"
	"syscall"
	"testing"

	"github.com/mmapwal/mmapwal/crcframe"
)

// Red team 8, the mapping half (Linux: the raw munmap of one page of a
// mapping): crc3's prefetch past its input never faults.

// TestRT8ChecksumAtEndOfMapping: inputs that end at the last byte of a
// mapped page whose next page is unmapped (and, separately, mapped
// PROT_NONE), every length 0..600 at every alignment: the prefetch past
// the input must not fault, and the result is hash/crc32's. Inputs that
// start within 640 bytes of the end put every prefetched line in the
// hole.
func TestRT8ChecksumAtEndOfMapping(t *testing.T) {
	page := syscall.Getpagesize()
	for _, hole := range []string{"munmap", "PROT_NONE", "past EOF"} {
		t.Run(hole, func(t *testing.T) {
			fd, flags := -1, syscall.MAP_ANON|syscall.MAP_PRIVATE
			if hole == "past EOF" { // a file of one page mapped two: the second is SIGBUS
				f, err := os.CreateTemp(t.TempDir(), "rt8")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Truncate(int64(page)); err != nil {
					t.Fatal(err)
				}
				fd, flags = int(f.Fd()), syscall.MAP_SHARED
			}
			m, err := syscall.Mmap(fd, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, flags)
			if err != nil {
				t.Fatal("mmap:", err)
			}
			first := m[:page:page]
			switch hole {
			case "past EOF":
				defer syscall.Munmap(m)
			case "munmap":
				// syscall.Munmap takes only whole mappings: the raw call on
				// the second page (its address without unsafe).
				addr := reflect.ValueOf(m[page:]).Pointer()
				if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, addr, uintptr(page), 0); e != 0 {
					syscall.Munmap(m)
					t.Fatal(e)
				}
				// The first page stays mapped for the rest of the process
				// (syscall.Munmap of m would fail on the hole): one page.
			default:
				if err := syscall.Mprotect(m[page:], syscall.PROT_NONE); err != nil {
					syscall.Munmap(m)
					t.Fatal(err)
				}
				defer syscall.Munmap(m)
			}
			if !rt8Faults(m[page:]) {
				t.Fatal("the page after the input does not fault: no hole to prefetch into")
			}
			rng := rand.New(rand.NewPCG(8, 4))
			for i := range first {
				first[i] = byte(rng.Uint32())
			}
			for _, seed := range []uint32{0, 0xdeadbeef} {
				for n := 0; n <= 600; n++ {
					for shift := range 16 { // the input ends shift bytes before the hole
						end := page - shift
						b := first[end-n : end]
						if got, want := crcframe.Checksum(seed, b), crc32.Update(seed, rt8Castagnoli, b); got != want {
							t.Fatalf("len %d ending %d before the hole: %#08x, want %#08x", n, shift, got, want)
						}
					}
				}
			}
		})
	}
}

// rt8Faults reports whether reading b[0] faults.
func rt8Faults(b []byte) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		faulted = recover() != nil
	}()
	rt8Sink += b[0]
	return false
}

var rt8Sink byte
