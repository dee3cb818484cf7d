package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// TestSigactionUnknownFlags: rt_sigaction clears the sa_flags bits Linux
// 5.11+ does not know before storing the action (UAPI_SA_FLAGS), so that
// glibc's sign-extended SA_RESETHAND reads back as its 32 bits, from the
// caller's table and from a fork child's copy of it.
func TestSigactionUnknownFlags(t *testing.T) {
	e := started(t)
	m := e.mem
	query := func(tid int32, sig unix.Signal) ksignal.Action {
		t.Helper()
		old := m.zeros(ksignal.SizeofSigaction)
		e.ok(tid, unix.SYS_RT_SIGACTION, uint64(sig), 0, old, 8)
		return ksignal.ParseAction(m.bytes(old, ksignal.SizeofSigaction))
	}
	for _, tc := range []struct {
		flags, want uint64
	}{
		// glibc's sigaction with SA_RESETHAND | SA_ONSTACK.
		{0xffffffff8c000000, 0x8c000000},
		// Every bit: UAPI_SA_FLAGS (SA_EXPOSE_TAGBITS kept,
		// SA_UNSUPPORTED, SA_IMMUTABLE and the ABI bits not).
		{^uint64(0), 0xdc000807},
		{0x400 | 0x00800000 | 0x03000000 | 0x20000000, 0},
	} {
		act := m.alloc(ksignal.Action{Handler: 0x5000, Flags: tc.flags, Restorer: 0x1234, Mask: 1 << 3}.Bytes())
		e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGALRM), act, 0, 8)
		want := ksignal.Action{Handler: 0x5000, Flags: tc.want, Restorer: 0x1234, Mask: 1 << 3}
		if got := query(1, unix.SIGALRM); got != want {
			t.Errorf("flags %#x: read back %+v, want %+v", tc.flags, got, want)
		}
		if got := query(e.fork(1), unix.SIGALRM); got != want {
			t.Errorf("flags %#x: a fork child's copy %+v, want %+v", tc.flags, got, want)
		}
	}
}
