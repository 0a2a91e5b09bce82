#include "textflag.h"

// func crc3(crcA uint32, p []byte, k int, ka, kb uint64) uint32
//
// p is A‖B‖C with len(B) = len(C) = k (a multiple of 8, at least 16) and
// len(A) = len(p)-2k ≥ k. It returns the non-inverted CRC-32C register
// after p from crcA. After A's first len(A)-k bytes, the three parts go
// through CRC32 in step, so that their instructions (3 cycles of latency, 1
// per cycle of throughput) overlap; then A's and B's registers are shifted
// past the bytes after them with one carry-less multiply each (ka, kb: see
// shiftConst) and folded into C's last 8 bytes before its last CRC32, as
// Linux's crc32c-pcl-intel does.
TEXT ·crc3(SB), NOSPLIT, $0-60
	MOVL crcA+0(FP), AX
	MOVQ p_base+8(FP), SI

	// A hint, which never faults and changes no result: load into the
	// cache the 192 bytes 512 on from p, the frames after this one when a
	// scan checks frame after frame (crc3 takes inputs of tripleMin to
	// tripleMax bytes: frames of small records). The hardware prefetcher
	// stops at each 4 KiB page, whose first lines then come from DRAM
	// while the CRC waits; this runs ahead into the next page (measured:
	// BenchmarkReplay in bench/, warm replay).
	PREFETCHT0 512(SI)
	PREFETCHT0 576(SI)
	PREFETCHT0 640(SI)
	MOVQ p_len+16(FP), BX
	MOVQ k+32(FP), R11
	XORL CX, CX
	XORL DX, DX

	// BX = len(A) - k: A's bytes before the parts go in step.
	LEAQ (R11)(R11*2), R8
	SUBQ R8, BX

prefix8:
	CMPQ   BX, $8
	JL     prefix4
	CRC32Q (SI), AX
	ADDQ   $8, SI
	SUBQ   $8, BX
	JMP    prefix8

prefix4:
	BTQ    $2, BX
	JNC    prefix2
	CRC32L (SI), AX
	ADDQ   $4, SI

prefix2:
	BTQ    $1, BX
	JNC    prefix1
	CRC32W (SI), AX
	ADDQ   $2, SI

prefix1:
	BTQ    $0, BX
	JNC    streams
	CRC32B (SI), AX
	INCQ   SI

streams:
	LEAQ (SI)(R11*1), R9  // B
	LEAQ (R9)(R11*1), R10 // C
	SHRQ $3, R11
	DECQ R11              // C's last 8 bytes wait for the fold

loop:
	CRC32Q (SI), AX
	CRC32Q (R9), CX
	CRC32Q (R10), DX
	ADDQ   $8, SI
	ADDQ   $8, R9
	ADDQ   $8, R10
	DECQ   R11
	JNZ    loop

	CRC32Q (SI), AX
	CRC32Q (R9), CX

	// CRC(C) ^ shift(A) ^ shift(B) = CRC32(C's register, last ^ A·ka ^ B·kb).
	MOVQ      AX, X0
	MOVQ      ka+40(FP), X1
	PCLMULQDQ $0x00, X1, X0
	MOVQ      CX, X2
	MOVQ      kb+48(FP), X3
	PCLMULQDQ $0x00, X3, X2
	PXOR      X2, X0
	MOVQ      X0, R8
	XORQ      (R10), R8
	CRC32Q    R8, DX
	MOVL      DX, ret+56(FP)
	RET

// func hasCRCInstructions() bool
TEXT ·hasCRCInstructions(SB), NOSPLIT, $0-1
	MOVL  $1, AX
	XORL  CX, CX
	CPUID
	MOVL  CX, DX
	SHRL  $20, CX // SSE4.2: CRC32
	SHRL  $1, DX  // PCLMULQDQ
	ANDL  DX, CX
	ANDL  $1, CX
	MOVB  CX, ret+0(FP)
	RET

// func mulHW(a, k uint32) uint32
//
// a·k·x^33 mod P: the carry-less product of the two registers reduced by
// CRC32 of its 64 bits from a zero register (see shiftConst).
TEXT ·mulHW(SB), NOSPLIT, $0-12
	MOVL      a+0(FP), AX
	MOVL      k+4(FP), BX
	MOVQ      AX, X0
	MOVQ      BX, X1
	PCLMULQDQ $0x00, X1, X0
	MOVQ      X0, AX
	XORL      DX, DX
	CRC32Q    AX, DX
	MOVL      DX, ret+8(FP)
	RET

// func prefixRegs(reg []uint32, p []byte)
//
// reg[0] = 0 and reg[k+1] = the non-inverted CRC-32C register after
// p[:8(k+1)] from 0, for k < len(p)/8; len(reg) > len(p)/8.
TEXT ·prefixRegs(SB), NOSPLIT, $0-48
	MOVQ reg_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ p_len+32(FP), CX
	SHRQ $3, CX
	XORL AX, AX
	MOVL AX, (DI)

regs:
	TESTQ  CX, CX
	JZ     regsDone
	CRC32Q (SI), AX
	ADDQ   $4, DI
	MOVL   AX, (DI)
	ADDQ   $8, SI
	DECQ   CX
	JMP    regs

regsDone:
	RET
