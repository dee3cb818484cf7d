#include "textflag.h"

// func call(fn, a uintptr, ts *unix.Timespec) int64
//
// The callee runs on the lower 192 bytes of this function's frame: SP
// is moved to their top, 16-byte aligned as the System V ABI wants;
// BX, callee-saved there, keeps the frame's SP.
TEXT ·call(SB),0,$256-32
	MOVQ fn+0(FP), AX
	MOVQ a+8(FP), DI
	MOVQ ts+16(FP), SI
	MOVQ SP, BX
	ADDQ $192, SP
	ANDQ $~15, SP
	CALL AX
	MOVQ BX, SP
	MOVQ AX, ret+24(FP)
	RET
