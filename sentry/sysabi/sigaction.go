package sysabi

import "gvisor.dev/gvisor/pkg/abi/linux"

// SigactionFlags are the sa_flags bits rt_sigaction keeps (Linux's
// UAPI_SA_FLAGS on amd64, include/linux/signal_types.h): do_sigaction
// (5.11+) clears every other bit of a new action before storing it, so
// that a program may detect a flag the kernel does not know, and the
// action reads back without them. SA_UNSUPPORTED (0x400) is never kept;
// SA_EXPOSE_TAGBITS is kept (and reported) although it changes nothing on
// amd64. glibc's sigaction sign-extends its int sa_flags: SA_RESETHAND
// (bit 31) sets bits 32-63 too, which the kernel drops. The server stores
// the action so (sentry/server/syscalls RtSigaction) and the client's
// copy of the table takes a posted change so (sentry/client
// sigactions.go).
const SigactionFlags = linux.SA_NOCLDSTOP | linux.SA_NOCLDWAIT | linux.SA_SIGINFO |
	linux.SA_ONSTACK | linux.SA_RESTART | linux.SA_NODEFER | linux.SA_RESETHAND |
	SAExposeTagbits | linux.SA_RESTORER

// SAExposeTagbits is SA_EXPOSE_TAGBITS (asm-generic/signal-defs.h).
const SAExposeTagbits = 0x00000800
