package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// SignalProcessLocked sends sig to p (to thread target if non-nil and
// alive). info is the raw siginfo. Per p's disposition the signal is
// dropped, kills p, stops p, or is pushed to one thread for its handler.
// SIGCONT continues a stopped p whatever its disposition (jobctl.go).
//
// Signal masks live on the client, so a signal whose default action is
// fatal goes there too when the client keeps it pending while blocked
// (Kernel.FatalSignalsToClient; else it ends p at once), and a blocked
// stop signal still stops p.
func (k *Kernel) SignalProcessLocked(p *Process, target *Thread, sig int, info []byte, d *Deferred) {
	if !p.Exiting && sig > 0 && sig <= ksignal.NumSignals && sig != int(unix.SIGKILL) {
		if tt := PtraceTracedTargetLocked(p, target); tt != nil {
			// A traced thread takes every signal but SIGKILL into a
			// signal-delivery-stop first, whatever its disposition
			// (ptrace.go): the client stops and applies what the
			// tracer lets through (as a Fault, which comes back to
			// signalProcessUntracedLocked).
			if discard := k.jobControlOnSignalLocked(p, sig, d); discard != 0 {
				defer k.pushJobControlLocked(p, discard, d)
			}
			k.PushSignalLocked(p, tt, sig, info, p.Sig.Act[sig], d)
			return
		}
	}
	k.signalProcessUntracedLocked(p, target, sig, info, d)
}

// signalProcessUntracedLocked is SignalProcessLocked without the
// signal-delivery-stop of a traced thread.
func (k *Kernel) signalProcessUntracedLocked(p *Process, target *Thread, sig int, info []byte, d *Deferred) {
	if p.Exiting || sig <= 0 || sig > ksignal.NumSignals {
		return
	}
	if sig == int(unix.SIGKILL) {
		k.ExitProcessLocked(p, ksignal.WaitStatus(sig), d)
		return
	}
	if discard := k.jobControlOnSignalLocked(p, sig, d); discard != 0 {
		// After the signal's own push (jobControlOnSignalLocked), with
		// the stop state as it is then.
		defer k.pushJobControlLocked(p, discard, d)
	}
	act := p.Sig.Act[sig]
	switch act.Handler {
	case ksignal.SigIgn:
		if k.FatalSignalsToClient {
			// Linux queues an ignored signal a thread blocks
			// (sigwaitinfo takes it); the client, which knows the
			// masks, drops it unless one does.
			k.PushSignalLocked(p, target, sig, info, act, d)
		}
		return
	case ksignal.SigDfl:
		if wants, reader := signalfdReaderLocked(p, sig); wants {
			// Pushed as SIGIO is: the client keeps it pending if
			// blocked, else applies the default action.
			k.QueueAsyncSignalLocked(p, k.signalfdTargetLocked(p, target, reader), sig, info, d)
			return
		}
		switch ksignal.DefaultActionOf(sig) {
		case ksignal.ActTerminate, ksignal.ActCore:
			if p.Stopped || k.FatalSignalsToClient {
				// To the client, whose threads' masks say whether
				// one takes it now (then it comes back as a Fault,
				// which applies the default action: task.deliver)
				// or it stays pending (a thread blocks it to take it
				// with sigwait or sigtimedwait, as a daemon blocks
				// SIGTERM), as no thread of a stopped process takes
				// it (Linux's complete_signal).
				k.PushSignalLocked(p, target, sig, info, act, d)
				return
			}
			k.ExitProcessLocked(p, p.KilledStatusLocked(sig), d)
		case ksignal.ActStop:
			k.stopProcessLocked(p, sig, d)
		case ksignal.ActIgnore:
			if k.FatalSignalsToClient {
				// As an ignored one (SIGCHLD, SIGWINCH, SIGURG).
				k.PushSignalLocked(p, target, sig, info, act, d)
			}
		}
		return
	}
	k.PushSignalLocked(p, target, sig, info, act, d)
	if act.Flags&ksignal.SAResetHand != 0 {
		// The handler only: Linux keeps the flags and mask.
		p.Sig.Act[sig].Handler = ksignal.SigDfl
		k.Trk.Changed(SigTable{Handlers: p.Sig})
	}
}

// PushSignalLocked queues sig with disposition act in one of p's threads
// (target if it is alive) on the client.
func (k *Kernel) PushSignalLocked(p *Process, target *Thread, sig int, info []byte, act ksignal.Action, d *Deferred) {
	toProcess := target == nil || target.Killed || target.Proc != p
	if toProcess {
		target = p.AnyLiveThread()
	}
	if target == nil {
		return
	}
	d.Push(&sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{
		Tid: target.TID, Signo: int32(sig), Siginfo: info, Sigaction: act.Bytes(), ProcessDirected: toProcess,
	}}})
}

// Fault delivers a synchronous signal the thread took in application code,
// as Linux's force_sig does: the handler runs if there is one and the
// signal is not blocked; otherwise the process dies of the signal, even if
// it is the application's first process.
//
// A death with a core (f.CanDump, the signal's default action dumps core,
// RLIMIT_CORE not 0, core_pattern not a pipe) waits for the client's
// dump: Fault returns the CoreDumpPlan instead of ending the process, and
// the client's next Fault (f.DumpDone) ends it, with WCOREDUMP if the
// core was written, as Linux's do_coredump ends before the parent sees
// the exit.
func (k *Kernel) Fault(t *Thread, f *sentrypb.Fault) (*sentrypb.CoreDumpPlan, error) {
	if f == nil || f.Signo <= 0 || int(f.Signo) > ksignal.NumSignals {
		return nil, unix.EINVAL
	}
	sig := int(f.Signo)
	var d Deferred
	var plan *sentrypb.CoreDumpPlan
	k.Mu.Lock()
	p := t.Proc
	if !p.Exiting {
		act := p.Sig.Act[sig]
		switch {
		case !f.Blocked && act.Handler == ksignal.SigDfl && ksignal.DefaultActionOf(sig) == ksignal.ActStop:
			// A stop signal a tracer let through (ptrace.go): its
			// default action, not routed to the tracer again.
			k.stopProcessLocked(p, sig, &d)
		case !f.Blocked && act.Handler == ksignal.SigDfl && (ksignal.DefaultActionOf(sig) == ksignal.ActIgnore || ksignal.DefaultActionOf(sig) == ksignal.ActContinue):
		case f.Blocked || act.Handler == ksignal.SigIgn || act.Handler == ksignal.SigDfl:
			status := p.KilledStatusLocked(sig)
			switch {
			case f.DumpDone:
				status = ksignal.WaitStatus(sig)
				if f.CoreDumped && ksignal.DefaultActionOf(sig) == ksignal.ActCore {
					status |= ksignal.CoreDumpFlag
				}
			case f.CanDump && status&ksignal.CoreDumpFlag != 0:
				pattern, usesPID := k.Sysctl.CorePattern()
				if pattern == "" || pattern[0] == '|' {
					// No helper to pipe the core to (and Linux
					// writes none for an empty pattern).
					status = ksignal.WaitStatus(sig)
					break
				}
				plan = k.coreDumpPlanLocked(p, pattern, usesPID)
			}
			if plan == nil {
				k.ExitProcessLocked(p, status, &d)
			}
		default:
			k.signalProcessUntracedLocked(p, t, sig, f.Siginfo, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	if plan != nil {
		// Outside the kernel lock, as /proc/<pid>/maps names them.
		plan.FileNames = make([][]byte, len(f.MappedFiles))
		for i, id := range f.MappedFiles {
			if mf, _, _, ok := k.Maps.Lookup(id); ok {
				plan.FileNames[i] = []byte(k.Synth.FilePath(mf))
				mf.DecRef()
			}
		}
	}
	return plan, nil
}

// coreDumpPlanLocked is what the client needs of p to write its core.
// Precondition: the kernel lock held.
func (k *Kernel) coreDumpPlanLocked(p *Process, pattern string, usesPID bool) *sentrypb.CoreDumpPlan {
	plan := &sentrypb.CoreDumpPlan{Pattern: []byte(pattern), UsesPid: usesPID, Filter: p.CoredumpFilter,
		Pgrp: p.PGID, Sid: p.SID, Uid: p.Creds.RUID, Gid: p.Creds.RGID, Fsuid: p.Creds.FSUID}
	if p.Parent != nil {
		plan.Ppid = p.Parent.PID
	}
	if p.Exe != nil {
		if path, ok := k.VFS.PathOf(p.Exe); ok {
			plan.Exe = []byte(path)
		}
	}
	return plan
}

// KillFromOutside sends a signal from outside the application (the OCI
// runtime's kill, do's forwarded terminal signals): to the first process,
// with all to every live process, with foreground to the terminal's
// foreground process group (a key typed at the terminal). With asContainer the first process
// is treated as Linux treats the init of a PID namespace signalled from
// an ancestor namespace: it gets only signals it has a handler for, and
// SIGKILL. The sender is the host (si_pid 0, si_code SI_USER).
func (k *Kernel) KillFromOutside(m *sentrypb.Kill) error {
	if m == nil || m.Signo < 0 || m.Signo > ksignal.NumSignals {
		return unix.EINVAL
	}
	sig := int(m.Signo)
	var d Deferred
	k.Mu.Lock()
	var targets []*Process
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
		targets = k.ProcessGroupLocked(k.TTY.FgPgrp)
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
				k.initIgnoresLocked(p, nil, sig, info, &d)
				continue
			}
			k.SignalProcessLocked(p, nil, sig, info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return nil
}

// SignalfdWantsLocked says a signalfd in p's fd table reads sig, so that
// a signal with the default disposition goes to the client (where it
// stays pending if blocked) rather than being dropped or killing p on
// the server. Stop signals keep their own path. Precondition: k.Mu held.
func SignalfdWantsLocked(p *Process, sig int) bool {
	wants, _ := signalfdReaderLocked(p, sig)
	return wants
}

// signalfdReaderLocked is SignalfdWantsLocked, with the thread id that
// last read or waited on such a signalfd (0: none yet).
// Precondition: k.Mu held.
func signalfdReaderLocked(p *Process, sig int) (bool, int32) {
	switch unix.Signal(sig) {
	case unix.SIGKILL, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false, 0
	}
	if p.FDs == nil {
		return false, 0
	}
	bit := uint64(1) << (sig - 1)
	wants, reader := false, int32(0)
	p.FDs.Each(func(_ int32, e fdtable.Entry) {
		if s, ok := e.File.Impl.(*signalfd.File); ok && s.Mask()&bit != 0 {
			wants = true
			if r := s.LastReader(); r != 0 {
				reader = r
			}
		}
	})
	return wants, reader
}

// signalfdTargetLocked is the thread a signal for a signalfd goes to: the
// one it was sent to, or for a signal sent to the process the thread
// that reads the signalfd, if it is one of p's. Precondition: k.Mu held.
func (k *Kernel) signalfdTargetLocked(p *Process, target *Thread, reader int32) *Thread {
	if target != nil || reader == 0 {
		return target
	}
	if t := k.Threads[reader]; t != nil && t.Proc == p && !t.Killed {
		return t
	}
	return nil
}

// QueueAsyncSignalLocked sends a signal the kernel raises on its own
// (SIGIO): with a handler as kill does; without one it still goes to the
// client, which holds the mask, so that a blocked one waits there for
// sigtimedwait (the client drops an ignored one and sends one with a fatal
// default action back). Precondition: k.Mu held.
func (k *Kernel) QueueAsyncSignalLocked(p *Process, t *Thread, sig int, info []byte, d *Deferred) {
	if p.Exiting {
		return
	}
	act := p.Sig.Act[sig]
	if act.Handler != ksignal.SigDfl && act.Handler != ksignal.SigIgn {
		k.SignalProcessLocked(p, t, sig, info, d)
		return
	}
	if t == nil || t.Killed || t.Proc != p {
		t = p.AnyLiveThread()
	}
	if t == nil {
		return
	}
	d.Push(&sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{
		Tid: t.TID, Signo: int32(sig), Siginfo: info, Sigaction: act.Bytes()}}})
}

// SignalFromAppLocked sends a signal the application asked for (kill,
// tkill, sigqueue). As in a Linux PID namespace, init gets only signals
// it has a handler for.
func (k *Kernel) SignalFromAppLocked(p *Process, t *Thread, sig int, info []byte, d *Deferred) {
	// A signalfd's signal is queued even for init: blocked, Linux does
	// not count it ignored (sig_ignored).
	if p == k.Init && p.Sig.Act[sig].Handler == ksignal.SigDfl && !SignalfdWantsLocked(p, sig) {
		k.initIgnoresLocked(p, t, sig, info, d)
		return
	}
	k.SignalProcessLocked(p, t, sig, info, d)
}

// initIgnoresLocked sends sig, which init's default disposition ignores
// (Linux's unkillable init), to the client if it keeps a blocked signal
// pending (FatalSignalsToClient), as ignored: Linux queues it while
// blocked (tini, a container's init, blocks every signal and takes them
// with sigtimedwait), and drops it otherwise.
func (k *Kernel) initIgnoresLocked(p *Process, t *Thread, sig int, info []byte, d *Deferred) {
	if k.FatalSignalsToClient && sig != int(unix.SIGKILL) && sig != int(unix.SIGSTOP) {
		k.PushSignalLocked(p, t, sig, info, ksignal.Action{Handler: ksignal.SigIgn}, d)
	}
}

// signalfdReadiness is signalfd s's readiness for a wait of thread t.
func signalfdReadiness(s *signalfd.File, t *Thread) (uint32, <-chan struct{}) {
	pending, grown := t.SigWait.Get()
	ev, ch := s.ReadinessFor(t.TID, pending)
	if ev != 0 {
		return ev, nil
	}
	return 0, wake.Merge([]<-chan struct{}{grown, ch}, nil)
}

// ReadinessFor is f's readiness for a wait of thread t (nil: none known):
// a signalfd's depends on the waiting thread's pending signals.
func ReadinessFor(t *Thread, f *fdesc.File) (uint32, <-chan struct{}) {
	if s, ok := f.Impl.(*signalfd.File); ok && t != nil {
		return signalfdReadiness(s, t)
	}
	return f.Impl.Readiness(f)
}
