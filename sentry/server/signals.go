package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// signalProcessLocked sends sig to p (to thread target if non-nil and
// alive). info is the raw siginfo. Per p's disposition the signal is
// dropped, kills p, stops p, or is pushed to one thread for its handler.
// SIGCONT continues a stopped p whatever its disposition (jobctl.go).
//
// Signal masks live on the client, so a blocked signal whose default
// action is fatal still kills the process (unless a signalfd of p reads
// it: then the client keeps it pending), and a blocked stop signal
// still stops it.
func signalProcessLocked(k *clientState, p *process, target *thread, sig int, info []byte, d *deferred) {
	if !p.Exiting && sig > 0 && sig <= ksignal.NumSignals && sig != int(unix.SIGKILL) {
		if tt := ptraceTracedTargetLocked(p, target); tt != nil {
			// A traced thread takes every signal but SIGKILL into a
			// signal-delivery-stop first, whatever its disposition
			// (ptrace.go): the client stops and applies what the
			// tracer lets through (as a Fault, which comes back to
			// signalProcessUntracedLocked).
			if discard := jobControlOnSignalLocked(k, p, sig, d); discard != 0 {
				defer pushJobControlLocked(k, p, discard, d)
			}
			pushSignalLocked(k, p, tt, sig, info, p.Sig.Act[sig], d)
			return
		}
	}
	signalProcessUntracedLocked(k, p, target, sig, info, d)
}

// signalProcessUntracedLocked is signalProcessLocked without the
// signal-delivery-stop of a traced thread.
func signalProcessUntracedLocked(k *clientState, p *process, target *thread, sig int, info []byte, d *deferred) {
	if p.Exiting || sig <= 0 || sig > ksignal.NumSignals {
		return
	}
	if sig == int(unix.SIGKILL) {
		exitProcessLocked(k, p, ksignal.WaitStatus(sig), d)
		return
	}
	if discard := jobControlOnSignalLocked(k, p, sig, d); discard != 0 {
		// After the signal's own push (jobControlOnSignalLocked), with
		// the stop state as it is then.
		defer pushJobControlLocked(k, p, discard, d)
	}
	act := p.Sig.Act[sig]
	switch act.Handler {
	case ksignal.SigIgn:
		return
	case ksignal.SigDfl:
		if wants, reader := signalfdReaderLocked(p, sig); wants {
			// Pushed as SIGIO is: the client keeps it pending if
			// blocked, else applies the default action.
			queueAsyncSignalLocked(k, p, signalfdTargetLocked(k, p, target, reader), sig, info, d)
			return
		}
		switch ksignal.DefaultActionOf(sig) {
		case ksignal.ActTerminate, ksignal.ActCore:
			if p.Stopped {
				// No thread of a stopped process takes it (Linux's
				// complete_signal): it waits in the client's queue and,
				// once the process continues, comes back to take its
				// default action (task.deliver).
				pushSignalLocked(k, p, target, sig, info, act, d)
				return
			}
			exitProcessLocked(k, p, p.KilledStatusLocked(sig), d)
		case ksignal.ActStop:
			stopProcessLocked(k, p, sig, d)
		}
		return
	}
	pushSignalLocked(k, p, target, sig, info, act, d)
	if act.Flags&ksignal.SAResetHand != 0 {
		p.Sig.Act[sig] = ksignal.Action{}
		k.Trk.Changed(sigTable{Handlers: p.Sig})
	}
}

// pushSignalLocked queues sig with disposition act in one of p's threads
// (target if it is alive) on the client.
func pushSignalLocked(k *clientState, p *process, target *thread, sig int, info []byte, act ksignal.Action, d *deferred) {
	if target == nil || target.Killed || target.Proc != p {
		target = p.AnyLiveThread()
	}
	if target == nil {
		return
	}
	d.Push(&sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{
		Tid: target.TID, Signo: int32(sig), Siginfo: info, Sigaction: act.Bytes(),
	}}})
}

// fault delivers a synchronous signal the thread took in application code,
// as Linux's force_sig does: the handler runs if there is one and the
// signal is not blocked; otherwise the process dies of the signal, even if
// it is the application's first process.
func fault(k *clientState, t *thread, f *sentrypb.Fault) error {
	if f == nil || f.Signo <= 0 || int(f.Signo) > ksignal.NumSignals {
		return unix.EINVAL
	}
	sig := int(f.Signo)
	var d deferred
	k.Mu.Lock()
	p := t.Proc
	if !p.Exiting {
		act := p.Sig.Act[sig]
		switch {
		case !f.Blocked && act.Handler == ksignal.SigDfl && ksignal.DefaultActionOf(sig) == ksignal.ActStop:
			// A stop signal a tracer let through (ptrace.go): its
			// default action, not routed to the tracer again.
			stopProcessLocked(k, p, sig, &d)
		case !f.Blocked && act.Handler == ksignal.SigDfl && (ksignal.DefaultActionOf(sig) == ksignal.ActIgnore || ksignal.DefaultActionOf(sig) == ksignal.ActContinue):
		case f.Blocked || act.Handler == ksignal.SigIgn || act.Handler == ksignal.SigDfl:
			exitProcessLocked(k, p, p.KilledStatusLocked(sig), &d)
		default:
			signalProcessUntracedLocked(k, p, t, sig, f.Siginfo, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return nil
}

// killFromOutside sends a signal from outside the application (the OCI
// runtime's kill, do's forwarded terminal signals): to the first process,
// with all to every live process, with foreground to the terminal's
// foreground process group (a key typed at the terminal). With asContainer the first process
// is treated as Linux treats the init of a PID namespace signalled from
// an ancestor namespace: it gets only signals it has a handler for, and
// SIGKILL. The sender is the host (si_pid 0, si_code SI_USER).
func killFromOutside(k *clientState, m *sentrypb.Kill) error {
	if m == nil || m.Signo < 0 || m.Signo > ksignal.NumSignals {
		return unix.EINVAL
	}
	sig := int(m.Signo)
	var d deferred
	k.Mu.Lock()
	var targets []*process
	if m.Pid != 0 {
		// One spawned process, signalled by its exec's caller.
		if p := k.Procs[m.Pid]; p != nil && p.Spawned && !p.Exiting {
			targets = append(targets, p)
		}
	} else if m.Foreground {
		if !k.TTY.Present {
			k.Mu.Unlock()
			return unix.ENOTTY
		}
		targets = processGroupLocked(k, k.TTY.FgPgrp)
	} else if m.All {
		for _, p := range k.Procs {
			if !p.Exiting {
				targets = append(targets, p)
			}
		}
	} else if k.Init != nil && !k.Init.Exiting {
		targets = append(targets, k.Init)
	}
	if len(targets) == 0 {
		k.Mu.Unlock()
		return unix.ESRCH
	}
	if sig != 0 {
		info := ksignal.SiginfoKill(sig, ksignal.SIUser, 0, 0)
		for _, p := range targets {
			if m.AsContainer && p == k.Init && sig != int(unix.SIGKILL) && p.Sig.Act[sig].Handler == ksignal.SigDfl {
				continue
			}
			signalProcessLocked(k, p, nil, sig, info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return nil
}
