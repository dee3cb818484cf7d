package sysabi

import "testing"

// TestSigactionFlags: the bits rt_sigaction keeps are Linux's
// UAPI_SA_FLAGS on amd64 (SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO,
// SA_EXPOSE_TAGBITS, SA_RESTORER, SA_ONSTACK, SA_RESTART, SA_NODEFER,
// SA_RESETHAND; not SA_UNSUPPORTED), which a native rt_sigaction with
// every bit set reads back.
func TestSigactionFlags(t *testing.T) {
	if SigactionFlags != 0xdc000807 {
		t.Errorf("SigactionFlags = %#x, want 0xdc000807", uint64(SigactionFlags))
	}
	if SigactionFlags&0x400 != 0 {
		t.Error("SigactionFlags has SA_UNSUPPORTED")
	}
	// glibc's sigaction with SA_RESETHAND | SA_ONSTACK: its int sa_flags
	// sign-extended, and SA_RESTORER.
	if got := uint64(0xffffffff8c000000) & SigactionFlags; got != 0x8c000000 {
		t.Errorf("sign-extended SA_RESETHAND kept as %#x, want 0x8c000000", got)
	}
}
