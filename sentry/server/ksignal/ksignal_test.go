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

// TestHandlers: execve resets caught signals and keeps ignored ones; a
// clone is a copy without the replay id.
func TestHandlers(t *testing.T) {
	h := &Handlers{ID: 7}
	h.Act[unix.SIGINT] = Action{Handler: 0x401000}
	h.Act[unix.SIGPIPE] = Action{Handler: SigIgn}
	c := h.Clone()
	if c.ID != 0 || c.Act != h.Act {
		t.Errorf("Clone: id %d, same actions %v; want 0, true", c.ID, c.Act == h.Act)
	}
	h.ResetForExec()
	if h.Act[unix.SIGINT] != (Action{}) || h.Act[unix.SIGPIPE].Handler != SigIgn {
		t.Errorf("after exec SIGINT %+v SIGPIPE %+v, want default and ignored", h.Act[unix.SIGINT], h.Act[unix.SIGPIPE])
	}
	if c.Act[unix.SIGINT].Handler != 0x401000 {
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
