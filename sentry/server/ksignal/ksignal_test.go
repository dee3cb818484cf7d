package ksignal

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestDefaultActionOf(t *testing.T) {
	for _, tc := range []struct {
		sig  unix.Signal
		want DefaultAction
	}{
		{unix.SIGTERM, ActTerminate},
		{unix.SIGKILL, ActTerminate},
		{unix.SIGSEGV, ActCore},
		{unix.SIGCHLD, ActIgnore},
		{unix.SIGWINCH, ActIgnore},
		{unix.SIGCONT, ActContinue},
		{unix.SIGTSTP, ActStop},
		{unix.SIGSTOP, ActStop},
		{unix.Signal(40), ActTerminate}, // a real-time signal
	} {
		if got := DefaultActionOf(int(tc.sig)); got != tc.want {
			t.Errorf("DefaultActionOf(%v) = %v, want %v", tc.sig, got, tc.want)
		}
	}
}

func TestActionLayout(t *testing.T) {
	a := Action{Handler: 0x401000, Flags: SASiginfo | SARestorer, Restorer: 0x402000, Mask: 1 << 9}
	b := a.Bytes()
	if len(b) != SizeofSigaction {
		t.Fatalf("%d bytes, want %d", len(b), SizeofSigaction)
	}
	if got := ParseAction(b); got != a {
		t.Errorf("ParseAction(Bytes()) = %+v, want %+v", got, a)
	}
}

// TestHandlers: execve (Flush) resets caught signals and keeps ignored
// ones, and every action loses its flags, restorer and mask, as Linux's
// flush_signal_handlers(t, 0); a clone is a copy without the replay id.
func TestHandlers(t *testing.T) {
	h := &Handlers{ID: 7}
	h.Act[unix.SIGINT] = Action{Handler: 0x401000, Flags: SARestart | SARestorer, Restorer: 0x402000, Mask: 1 << 9}
	h.Act[unix.SIGPIPE] = Action{Handler: SigIgn}
	h.Act[unix.SIGUSR1] = Action{Handler: SigIgn, Flags: SARestart | SANodefer | SARestorer, Restorer: 0x402000, Mask: 1<<(unix.SIGUSR2-1) | 1<<(unix.SIGHUP-1)}
	h.Act[unix.SIGUSR2] = Action{Handler: SigDfl, Flags: SASiginfo, Mask: 1 << 3}
	c := h.Clone()
	if c.ID != 0 || c.Act != h.Act {
		t.Errorf("Clone: id %d, same actions %v; want 0, true", c.ID, c.Act == h.Act)
	}
	h.Flush()
	for _, tc := range []struct {
		sig  unix.Signal
		want Action
	}{
		{unix.SIGINT, Action{}},
		{unix.SIGPIPE, Action{Handler: SigIgn}},
		{unix.SIGUSR1, Action{Handler: SigIgn}},
		{unix.SIGUSR2, Action{}},
	} {
		if got := h.Act[tc.sig]; got != tc.want {
			t.Errorf("after exec %v = %+v, want %+v", tc.sig, got, tc.want)
		}
	}
	if c.Act[unix.SIGINT].Handler != 0x401000 || c.Act[unix.SIGUSR1].Flags == 0 {
		t.Error("exec of the original changed its clone")
	}
}

func TestSiginfo(t *testing.T) {
	b := SiginfoChld(int(unix.SIGCHLD), CLDExited, 42, 1000, 3)
	le := func(off int) uint32 {
		return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
	}
	if len(b) != SizeofSiginfo || le(0) != uint32(unix.SIGCHLD) || le(8) != CLDExited || le(16) != 42 || le(20) != 1000 || le(24) != 3 {
		t.Errorf("siginfo %x", b[:28])
	}
}
