//go:build !purego

#include "textflag.h"

// func prefetchLines(p unsafe.Pointer, lines int)
// Issues PREFETCHT0 for `lines` consecutive cache lines starting at the line
// holding p. A prefetch never faults, whatever the address.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loop
done:
	RET
