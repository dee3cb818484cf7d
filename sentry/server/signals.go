package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

const (
	numSignals = 64

	sigDfl = 0
	sigIgn = 1

	saNoCldStop = 0x1
	saNoCldWait = 0x2
	saSiginfo   = 0x4
	saRestorer  = 0x04000000
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saNodefer   = 0x40000000
	saResetHand = 0x80000000

	// si_code values.
	siUser   = 0
	siKernel = 0x80
	siQueue  = -1
	siTkill  = -6

	cldExited    = 1
	cldKilled    = 2
	cldStopped   = 5
	cldContinued = 6

	sizeofSiginfo   = 128
	sizeofSigaction = 32
)

// sigAction is a kernel struct sigaction (amd64).
type sigAction struct {
	handler, flags, restorer, mask uint64
}

func (a sigAction) bytes() []byte {
	b := make([]byte, sizeofSigaction)
	binary.LittleEndian.PutUint64(b[0:], a.handler)
	binary.LittleEndian.PutUint64(b[8:], a.flags)
	binary.LittleEndian.PutUint64(b[16:], a.restorer)
	binary.LittleEndian.PutUint64(b[24:], a.mask)
	return b
}

func parseSigAction(b []byte) sigAction {
	return sigAction{
		handler:  binary.LittleEndian.Uint64(b[0:]),
		flags:    binary.LittleEndian.Uint64(b[8:]),
		restorer: binary.LittleEndian.Uint64(b[16:]),
		mask:     binary.LittleEndian.Uint64(b[24:]),
	}
}

// sigHandlers are a process's signal dispositions (shared on
// CLONE_SIGHAND). Protected by clientState.mu.
type sigHandlers struct {
	act [numSignals + 1]sigAction
	// id is the replay-state id (0 until first reported).
	id uint64
}

func (h *sigHandlers) clone() *sigHandlers {
	c := *h
	c.id = 0
	return &c
}

// resetForExec resets caught signals to SIG_DFL, keeping ignored ones.
func (h *sigHandlers) resetForExec() {
	for i := range h.act {
		if h.act[i].handler != sigIgn {
			h.act[i] = sigAction{}
		}
	}
}

type defaultAction int

const (
	actTerminate defaultAction = iota
	actCore
	actIgnore
	actStop
	actContinue
)

func defaultActionOf(sig int) defaultAction {
	switch unix.Signal(sig) {
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return actCore
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return actIgnore
	case unix.SIGCONT:
		return actContinue
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return actStop
	}
	return actTerminate
}

// signalWaitStatus is the wait status of a process killed by sig. No core
// is ever dumped, so the 0x80 core flag is never set (as on Linux with
// RLIMIT_CORE 0).
func signalWaitStatus(sig int) int32 { return int32(sig & 0x7f) }

func siginfoKill(sig int, code int32, pid int32, uid uint32) []byte {
	b := make([]byte, sizeofSiginfo)
	binary.LittleEndian.PutUint32(b[0:], uint32(sig))
	binary.LittleEndian.PutUint32(b[8:], uint32(code))
	binary.LittleEndian.PutUint32(b[16:], uint32(pid))
	binary.LittleEndian.PutUint32(b[20:], uid)
	return b
}

func siginfoChld(sig int, code int32, pid int32, uid uint32, status int32) []byte {
	b := siginfoKill(sig, code, pid, uid)
	binary.LittleEndian.PutUint32(b[24:], uint32(status))
	return b
}

// signalProcessLocked sends sig to p (to thread target if non-nil and
// alive). info is the raw siginfo. Per p's disposition the signal is
// dropped, kills p, stops p, or is pushed to one thread for its handler.
// SIGCONT continues a stopped p whatever its disposition (jobctl.go).
//
// Signal masks live on the client, so a blocked signal whose default
// action is fatal still kills the process (unless a signalfd of p reads
// it: then the client keeps it pending), and a blocked stop signal
// still stops it.
func (k *clientState) signalProcessLocked(p *process, target *thread, sig int, info []byte, d *deferred) {
	if !p.exiting && sig > 0 && sig <= numSignals && sig != int(unix.SIGKILL) {
		if tt := ptraceTracedTargetLocked(p, target); tt != nil {
			// A traced thread takes every signal but SIGKILL into a
			// signal-delivery-stop first, whatever its disposition
			// (ptrace.go): the client stops and applies what the
			// tracer lets through (as a Fault, which comes back to
			// signalProcessUntracedLocked).
			if discard := k.jobControlOnSignalLocked(p, sig, d); discard != 0 {
				defer k.pushJobControlLocked(p, discard, d)
			}
			k.pushSignalLocked(p, tt, sig, info, p.sig.act[sig], d)
			return
		}
	}
	k.signalProcessUntracedLocked(p, target, sig, info, d)
}

// signalProcessUntracedLocked is signalProcessLocked without the
// signal-delivery-stop of a traced thread.
func (k *clientState) signalProcessUntracedLocked(p *process, target *thread, sig int, info []byte, d *deferred) {
	if p.exiting || sig <= 0 || sig > numSignals {
		return
	}
	if sig == int(unix.SIGKILL) {
		k.exitProcessLocked(p, signalWaitStatus(sig), d)
		return
	}
	if discard := k.jobControlOnSignalLocked(p, sig, d); discard != 0 {
		// After the signal's own push (jobControlOnSignalLocked), with
		// the stop state as it is then.
		defer k.pushJobControlLocked(p, discard, d)
	}
	act := p.sig.act[sig]
	switch act.handler {
	case sigIgn:
		return
	case sigDfl:
		if wants, reader := signalfdReaderLocked(p, sig); wants {
			// Pushed as SIGIO is: the client keeps it pending if
			// blocked, else applies the default action.
			k.queueAsyncSignalLocked(p, k.signalfdTargetLocked(p, target, reader), sig, info, d)
			return
		}
		switch defaultActionOf(sig) {
		case actTerminate, actCore:
			if p.stopped {
				// No thread of a stopped process takes it (Linux's
				// complete_signal): it waits in the client's queue and,
				// once the process continues, comes back to take its
				// default action (task.deliver).
				k.pushSignalLocked(p, target, sig, info, act, d)
				return
			}
			k.exitProcessLocked(p, signalWaitStatus(sig), d)
		case actStop:
			k.stopProcessLocked(p, sig, d)
		}
		return
	}
	k.pushSignalLocked(p, target, sig, info, act, d)
	if act.flags&saResetHand != 0 {
		p.sig.act[sig] = sigAction{}
		k.trk.touch(p.sig)
	}
}

// pushSignalLocked queues sig with disposition act in one of p's threads
// (target if it is alive) on the client.
func (k *clientState) pushSignalLocked(p *process, target *thread, sig int, info []byte, act sigAction, d *deferred) {
	if target == nil || target.killed || target.proc != p {
		target = p.anyLiveThread()
	}
	if target == nil {
		return
	}
	d.pushes = append(d.pushes, &sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{
		Tid: target.tid, Signo: int32(sig), Siginfo: info, Sigaction: act.bytes(),
	}}})
}

// fault delivers a synchronous signal the thread took in application code,
// as Linux's force_sig does: the handler runs if there is one and the
// signal is not blocked; otherwise the process dies of the signal, even if
// it is the application's first process.
func (k *clientState) fault(t *thread, f *sentrypb.Fault) error {
	if f == nil || f.Signo <= 0 || int(f.Signo) > numSignals {
		return unix.EINVAL
	}
	sig := int(f.Signo)
	var d deferred
	k.mu.Lock()
	p := t.proc
	if !p.exiting {
		act := p.sig.act[sig]
		switch {
		case !f.Blocked && act.handler == sigDfl && defaultActionOf(sig) == actStop:
			// A stop signal a tracer let through (ptrace.go): its
			// default action, not routed to the tracer again.
			k.stopProcessLocked(p, sig, &d)
		case !f.Blocked && act.handler == sigDfl && (defaultActionOf(sig) == actIgnore || defaultActionOf(sig) == actContinue):
		case f.Blocked || act.handler == sigIgn || act.handler == sigDfl:
			k.exitProcessLocked(p, signalWaitStatus(sig), &d)
		default:
			k.signalProcessUntracedLocked(p, t, sig, f.Siginfo, &d)
		}
	}
	k.mu.Unlock()
	d.run(k)
	return nil
}

// killFromOutside sends a signal from outside the application (the OCI
// runtime's kill, do's forwarded terminal signals): to the first process,
// with all to every live process, with foreground to the terminal's
// foreground process group (a key typed at the terminal). With asContainer the first process
// is treated as Linux treats the init of a PID namespace signalled from
// an ancestor namespace: it gets only signals it has a handler for, and
// SIGKILL. The sender is the host (si_pid 0, si_code SI_USER).
func (k *clientState) killFromOutside(m *sentrypb.Kill) error {
	if m == nil || m.Signo < 0 || m.Signo > numSignals {
		return unix.EINVAL
	}
	sig := int(m.Signo)
	var d deferred
	k.mu.Lock()
	var targets []*process
	if m.Pid != 0 {
		// One spawned process, signalled by its exec's caller.
		if p := k.procs[m.Pid]; p != nil && p.spawned && !p.exiting {
			targets = append(targets, p)
		}
	} else if m.Foreground {
		if !k.tty.present {
			k.mu.Unlock()
			return unix.ENOTTY
		}
		targets = k.processGroupLocked(k.tty.fgPgrp)
	} else if m.All {
		for _, p := range k.procs {
			if !p.exiting {
				targets = append(targets, p)
			}
		}
	} else if k.init != nil && !k.init.exiting {
		targets = append(targets, k.init)
	}
	if len(targets) == 0 {
		k.mu.Unlock()
		return unix.ESRCH
	}
	if sig != 0 {
		info := siginfoKill(sig, siUser, 0, 0)
		for _, p := range targets {
			if m.AsContainer && p == k.init && sig != int(unix.SIGKILL) && p.sig.act[sig].handler == sigDfl {
				continue
			}
			k.signalProcessLocked(p, nil, sig, info, &d)
		}
	}
	k.mu.Unlock()
	d.run(k)
	return nil
}
