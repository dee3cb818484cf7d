package ksignal

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Signal numbers, dispositions, sigaction flags, si_code values and
// struct sizes of Linux's ABI (amd64).
const (
	NumSignals = 64

	// SigDfl and SigIgn are the SIG_DFL and SIG_IGN handlers.
	SigDfl = 0
	SigIgn = 1

	SANoCldStop = 0x1
	SANoCldWait = 0x2
	SASiginfo   = 0x4
	SARestorer  = 0x04000000
	SAOnstack   = 0x08000000
	SARestart   = 0x10000000
	SANodefer   = 0x40000000
	SAResetHand = 0x80000000

	// si_code values.
	SIUser   = 0
	SIKernel = 0x80
	SIQueue  = -1
	SITkill  = -6

	// CLD_* si_code values of SIGCHLD.
	CLDExited    = 1
	CLDKilled    = 2
	CLDDumped    = 3
	CLDStopped   = 5
	CLDContinued = 6

	// Sizes of siginfo_t and struct sigaction.
	SizeofSiginfo   = 128
	SizeofSigaction = 32
)

// Action is a kernel struct sigaction (amd64).
type Action struct {
	Handler, Flags, Restorer, Mask uint64
}

// Bytes is a in the application's layout.
func (a Action) Bytes() []byte {
	b := make([]byte, SizeofSigaction)
	binary.LittleEndian.PutUint64(b[0:], a.Handler)
	binary.LittleEndian.PutUint64(b[8:], a.Flags)
	binary.LittleEndian.PutUint64(b[16:], a.Restorer)
	binary.LittleEndian.PutUint64(b[24:], a.Mask)
	return b
}

// ParseAction reads a struct sigaction (SizeofSigaction bytes).
func ParseAction(b []byte) Action {
	return Action{
		Handler:  binary.LittleEndian.Uint64(b[0:]),
		Flags:    binary.LittleEndian.Uint64(b[8:]),
		Restorer: binary.LittleEndian.Uint64(b[16:]),
		Mask:     binary.LittleEndian.Uint64(b[24:]),
	}
}

// Handlers are a process's signal dispositions (shared on
// CLONE_SIGHAND). Protected by their owner's lock (the server's
// kernel.Kernel.Mu).
type Handlers struct {
	Act [NumSignals + 1]Action
	// ID is the owner's id of the table (the server's replay-state id, 0
	// until first reported).
	ID uint64
}

// Clone returns a copy of h, without its ID.
func (h *Handlers) Clone() *Handlers {
	c := *h
	c.ID = 0
	return &c
}

// IgnoredCaught returns the signals h ignores and those it catches, bit
// n-1 for signal n (Linux's collect_sigign_sigcatch: a handler that is
// neither SIG_DFL nor SIG_IGN catches).
func (h *Handlers) IgnoredCaught() (ignored, caught uint64) {
	for sig := 1; sig <= NumSignals; sig++ {
		switch h.Act[sig].Handler {
		case SigDfl:
		case SigIgn:
			ignored |= 1 << (sig - 1)
		default:
			caught |= 1 << (sig - 1)
		}
	}
	return ignored, caught
}

// Flush is Linux's flush_signal_handlers(t, 0), which execve and
// clone3's CLONE_CLEAR_SIGHAND apply: caught signals go back to SIG_DFL,
// ignored ones stay ignored, and every action, an ignored one too, loses
// its flags, restorer and mask (a program exec'd with SIGPIPE ignored
// under SA_RESTART sees a bare SIG_IGN).
func (h *Handlers) Flush() {
	for i := range h.Act {
		handler := uint64(SigDfl)
		if h.Act[i].Handler == SigIgn {
			handler = SigIgn
		}
		h.Act[i] = Action{Handler: handler}
	}
}

// DefaultAction is what a signal does when its disposition is SIG_DFL.
type DefaultAction int

const (
	ActTerminate DefaultAction = iota
	ActCore
	ActIgnore
	ActStop
	ActContinue
)

// DefaultActionOf is sig's default action (signal(7)).
func DefaultActionOf(sig int) DefaultAction {
	switch unix.Signal(sig) {
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return ActCore
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return ActIgnore
	case unix.SIGCONT:
		return ActContinue
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return ActStop
	}
	return ActTerminate
}

// WaitStatus is the wait status of a process killed by sig. No core
// is ever dumped, so the 0x80 core flag is never set (as on Linux with
// RLIMIT_CORE 0).
func WaitStatus(sig int) int32 { return int32(sig & 0x7f) }

// CoreDumpFlag is WCOREDUMP's bit of a wait status.
const CoreDumpFlag = 0x80

// ChildStatus is the SIGCHLD/waitid si_code and si_status of a dead
// child's wait status: CLD_EXITED with the exit code, else CLD_KILLED or
// (WCOREDUMP) CLD_DUMPED with the signal.
func ChildStatus(status int32) (code, sistatus int32) {
	switch {
	case status&0x7f == 0:
		return CLDExited, (status >> 8) & 0xff
	case status&CoreDumpFlag != 0:
		return CLDDumped, status & 0x7f
	}
	return CLDKilled, status & 0x7f
}

// SiginfoKill is the siginfo of sig sent by pid running as uid, with
// si_code code.
func SiginfoKill(sig int, code int32, pid int32, uid uint32) []byte {
	b := make([]byte, SizeofSiginfo)
	binary.LittleEndian.PutUint32(b[0:], uint32(sig))
	binary.LittleEndian.PutUint32(b[8:], uint32(code))
	binary.LittleEndian.PutUint32(b[16:], uint32(pid))
	binary.LittleEndian.PutUint32(b[20:], uid)
	return b
}

// SiginfoChld is the siginfo of a SIGCHLD for child pid (running as
// uid) with si_code code and si_status status.
func SiginfoChld(sig int, code int32, pid int32, uid uint32, status int32) []byte {
	b := SiginfoKill(sig, code, pid, uid)
	binary.LittleEndian.PutUint32(b[24:], uint32(status))
	return b
}
