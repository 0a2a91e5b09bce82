package sysutil

import (
	"sync/atomic"
	"unsafe"
)

// Atomics on shared memory.
//
// A word of a MAP_SHARED mapping that other processes read and write (a
// follower's view of the writer's control area) cannot be a Go variable, so
// sync/atomic's typed values do not reach it directly. The functions below
// check that the word lies inside m and is aligned to its size, then operate
// on it with sync/atomic: sequentially consistent, like every Go atomic, and
// coherent across processes because all mappings of a file page share the
// same physical page. They never panic on a bad offset; they return an
// [*OffsetError]. Words are in the machine's byte order; mmapwal's platforms
// are all little-endian.
//
// [Uint32At] and [Uint64At] check once and return a typed atomic that aliases
// the word, for hot paths that must not pay for the checks on every access.
// Like any view of a mapping, it must not be used after [Munmap].
//
// This file and pagealign.go are the package's uses of unsafe.

// word returns a pointer to the size-byte word at m[off], or an
// [*OffsetError] if it is outside m or its address is not a multiple of size.
func word(m []byte, off, size int) (unsafe.Pointer, error) {
	if off < 0 || off > len(m)-size {
		return nil, &OffsetError{Off: off, Size: size, Len: len(m)}
	}
	p := unsafe.Pointer(&m[off])
	if uintptr(p)%uintptr(size) != 0 {
		return nil, &OffsetError{Off: off, Size: size, Len: len(m)}
	}
	return p, nil
}

// Uint32At returns the 4-byte word at m[off] as an atomic.Uint32 that aliases
// the memory of m. Every access through it is one atomic instruction, with no
// further check.
func Uint32At(m []byte, off int) (*atomic.Uint32, error) {
	p, err := word(m, off, 4)
	return (*atomic.Uint32)(p), err
}

// Uint64At is [Uint32At] for the 8-byte word at m[off], which must be 8-byte
// aligned (also on 32-bit platforms, where 64-bit atomics require it).
func Uint64At(m []byte, off int) (*atomic.Uint64, error) {
	p, err := word(m, off, 8)
	return (*atomic.Uint64)(p), err
}

// LoadUint32 atomically loads the 4-byte word at m[off].
func LoadUint32(m []byte, off int) (uint32, error) {
	w, err := Uint32At(m, off)
	if err != nil {
		return 0, err
	}
	return w.Load(), nil
}

// StoreUint32 atomically stores v into the 4-byte word at m[off].
func StoreUint32(m []byte, off int, v uint32) error {
	w, err := Uint32At(m, off)
	if err != nil {
		return err
	}
	w.Store(v)
	return nil
}

// AddUint32 atomically adds delta to the 4-byte word at m[off] and returns the
// new value. To subtract d, add ^uint32(d-1).
func AddUint32(m []byte, off int, delta uint32) (uint32, error) {
	w, err := Uint32At(m, off)
	if err != nil {
		return 0, err
	}
	return w.Add(delta), nil
}

// CompareAndSwapUint32 atomically replaces the 4-byte word at m[off] with new
// if it holds old, and reports whether it did.
func CompareAndSwapUint32(m []byte, off int, old, new uint32) (bool, error) {
	w, err := Uint32At(m, off)
	if err != nil {
		return false, err
	}
	return w.CompareAndSwap(old, new), nil
}

// LoadUint64 atomically loads the 8-byte word at m[off].
func LoadUint64(m []byte, off int) (uint64, error) {
	w, err := Uint64At(m, off)
	if err != nil {
		return 0, err
	}
	return w.Load(), nil
}

// StoreUint64 atomically stores v into the 8-byte word at m[off].
func StoreUint64(m []byte, off int, v uint64) error {
	w, err := Uint64At(m, off)
	if err != nil {
		return err
	}
	w.Store(v)
	return nil
}

// AddUint64 atomically adds delta to the 8-byte word at m[off] and returns the
// new value. To subtract d, add ^uint64(d-1).
func AddUint64(m []byte, off int, delta uint64) (uint64, error) {
	w, err := Uint64At(m, off)
	if err != nil {
		return 0, err
	}
	return w.Add(delta), nil
}

// CompareAndSwapUint64 atomically replaces the 8-byte word at m[off] with new
// if it holds old, and reports whether it did.
func CompareAndSwapUint64(m []byte, off int, old, new uint64) (bool, error) {
	w, err := Uint64At(m, off)
	if err != nil {
		return false, err
	}
	return w.CompareAndSwap(old, new), nil
}
