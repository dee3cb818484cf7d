package kernel

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ptrace"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// ptrace (docs/ARCHITECTURE.md, "ptrace"). The tracee's registers and
// memory are the client's, which serves PTRACE_PEEK*, POKE*, GETREGS and
// the like from the tracee's own state without a round trip. The server
// owns what belongs with the process tree: who traces whom (checked and
// recorded here), the ptrace-stops as the tracer's wait4 and waitid see
// them, and the relation's end when either side exits.
//
// A ptrace-stop is a call: the tracee's client thread sends PtraceStop
// (its stop number and wait status) and the call blocks here until the
// tracer resumes it (PTRACE_CONT, PTRACE_SYSCALL, PTRACE_DETACH) or the
// tracee is killed; the reply carries the tracer's request and the signal
// to inject. The relation and the stop are in the tracee's thread record,
// so a restored server has the tracee traced and stopped, and the
// PtraceStop call the client re-sends after a recovery finds the same
// stop (by its number) and waits again, or returns at once if the tracer
// had resumed it.

// PtraceAttachLocked makes t the tracer of thread tid (PTRACE_ATTACH,
// which also sends it SIGSTOP, or PTRACE_SEIZE with options). If the
// tracee's process is in a group stop, entered is closed once the tracee
// reports it as a ptrace-stop.
func (k *Kernel) PtraceAttachLocked(t *Thread, tid int32, seize bool, addr, data uint64, d *Deferred) (entered <-chan struct{}, err error) {
	var opts uint32
	if seize {
		if addr != 0 || data&^ptrace.OptionsMask != 0 {
			return nil, unix.EIO
		}
		opts = uint32(data)
	}
	tt := k.Threads[tid]
	if tt == nil || tt.Killed || tt.Proc.Exiting {
		return nil, unix.ESRCH
	}
	if tt.Proc == t.Proc || tt.Ptrace != nil {
		return nil, unix.EPERM
	}
	if !ptraceMayAccess(t.Proc, tt.Proc) {
		return nil, unix.EPERM
	}
	k.PtraceLinkLocked(t, tt, opts, seize, d)
	if tt.Proc.Stopped {
		entered = tt.Ptrace.WaitEntered()
	}
	if !seize {
		k.SignalProcessLocked(tt.Proc, tt, int(unix.SIGSTOP), ksignal.SiginfoKill(int(unix.SIGSTOP), ksignal.SIUser, t.Proc.PID, t.Proc.Creds.RUID), d)
	}
	return entered, nil
}

// ptraceMayAccess says tracer may trace tracee (package ptrace).
func ptraceMayAccess(tracer, tracee *Process) bool {
	return ptrace.MayAccess(ptraceCreds(tracer.Creds), ptraceCreds(tracee.Creds), func() bool {
		for q := tracee; q != nil; q = q.Parent {
			if q == tracer {
				return true
			}
		}
		return false
	})
}

// ptraceCreds are cr as package ptrace checks them.
func ptraceCreds(cr auth.Creds) ptrace.Creds {
	return ptrace.Creds{RUID: cr.RUID, EUID: cr.EUID, SUID: cr.SUID, RGID: cr.RGID, EGID: cr.EGID, SGID: cr.SGID,
		CapSysPtrace: cr.Capable(linux.CAP_SYS_PTRACE)}
}

// PtraceLinkLocked makes tracer trace tt.
func (k *Kernel) PtraceLinkLocked(tracer, tt *Thread, opts uint32, seized bool, d *Deferred) {
	tt.Ptrace = &PtraceTracee{Tracer: tracer, Tracee: ptrace.Tracee{Options: opts, Seized: seized}}
	if tracer.Tracees == nil {
		tracer.Tracees = make(map[*Thread]struct{})
	}
	tracer.Tracees[tt] = struct{}{}
	k.Trk.Changed(tt)
	d.Push(PtraceUpdatePush(tt, false))
}

// PtraceUnlinkLocked ends tt's relation with its tracer.
func (k *Kernel) PtraceUnlinkLocked(tt *Thread, d *Deferred) {
	tr := tt.Ptrace
	if tr == nil {
		return
	}
	delete(tr.Tracer.Tracees, tt)
	tt.Ptrace = nil
	k.Trk.Changed(tt)
	if !tt.Killed {
		d.Push(PtraceUpdatePush(tt, false))
	}
}

// PtraceResumeLocked ends tt's ptrace-stop with the tracer's request req
// and the signal sig to inject.
func (k *Kernel) PtraceResumeLocked(tt *Thread, req, sig int32, seq uint64) {
	tt.Ptrace.Resume(req, sig, seq)
	k.Trk.Changed(tt)
}

// PtraceUpdatePush tells the client tt's tracer and options.
func PtraceUpdatePush(tt *Thread, interrupt bool) *sentrypb.Push {
	u := &sentrypb.PtraceUpdate{Tid: tt.TID, Interrupt: interrupt}
	if tr := tt.Ptrace; tr != nil {
		u.Tracer, u.Options, u.Seized = tr.Tracer.TID, tr.Options, tr.Seized
	}
	return &sentrypb.Push{Msg: &sentrypb.Push_Ptrace{Ptrace: u}}
}

// PtraceStop serves a PtraceStop call of traced thread t: it enters the
// stop (unless it is the one t is already in: a call re-sent after a
// recovery), tells the tracer, and waits for the tracer to end it.
func (k *Kernel) PtraceStop(t *Thread, seq uint64, m *sentrypb.PtraceStop) *sentrypb.Reply {
	r := &sentrypb.Reply{Seq: seq}
	if m == nil {
		r.Errno = int32(unix.EINVAL)
		return r
	}
	var d Deferred
	k.Mu.Lock()
	tr := t.Ptrace
	if tr == nil || t.Killed {
		k.Mu.Unlock()
		r.Action = &sentrypb.Reply_PtraceResume{PtraceResume: &sentrypb.PtraceResume{Detached: true}}
		return r
	}
	fresh, err := tr.EnterStop(m.Gen, m.WaitStatus)
	if err != nil {
		k.Mu.Unlock()
		r.Errno = int32(syserr.ErrnoOf(err))
		return r
	}
	if fresh {
		k.Trk.Changed(t)
		k.ptraceNotifyTracerLocked(t, ptrace.CLDTrapped, (m.WaitStatus>>8)&0xffff, &d)
		k.Waitq.Notify()
	}
	for tr.Stopped && !t.Killed {
		ch := tr.Wake()
		k.Mu.Unlock()
		d.Run(k.Out)
		// Only SIGKILL (the thread's end) or the tracer ends a
		// ptrace-stop; the client's Interrupts are not heeded.
		freed := false
		select {
		case <-ch:
		case <-t.Dead:
		case <-k.Done:
			freed = true
		}
		k.Mu.Lock()
		if freed {
			k.Mu.Unlock()
			r.Errno = int32(unix.EIO)
			return r
		}
	}
	r.Action = &sentrypb.Reply_PtraceResume{PtraceResume: &sentrypb.PtraceResume{
		Request: tr.ResumeReq, Signo: tr.ResumeSig, Detached: t.Ptrace != tr,
	}}
	k.Mu.Unlock()
	d.Run(k.Out)
	return r
}

// ptraceNotifyTracerLocked sends the tracer of tt SIGCHLD with code and
// status, unless it ignores SIGCHLD or set SA_NOCLDSTOP.
func (k *Kernel) ptraceNotifyTracerLocked(tt *Thread, code, status int32, d *Deferred) {
	tp := tt.Ptrace.Tracer.Proc
	if tp.Exiting {
		return
	}
	act := tp.Sig.Act[unix.SIGCHLD]
	if act.Handler == ksignal.SigIgn || (code != ksignal.CLDExited && code != ksignal.CLDKilled && act.Flags&ksignal.SANoCldStop != 0) {
		return
	}
	k.SignalProcessLocked(tp, tt.Ptrace.Tracer, int(unix.SIGCHLD), ksignal.SiginfoChld(int(unix.SIGCHLD), code, tt.TID, tt.Proc.Creds.RUID, status), d)
}

// PtraceTracedTargetLocked returns the thread of p a signal sent to p (or
// to target) stops in as a signal-delivery-stop: target if traced, else
// p's first traced live thread; nil if none is traced.
func PtraceTracedTargetLocked(p *Process, target *Thread) *Thread {
	if target != nil && target.Proc == p && !target.Killed {
		if target.Ptrace != nil {
			return target
		}
		return nil
	}
	var best *Thread
	for t := range p.Live {
		if t.Ptrace != nil && (best == nil || t.TID < best.TID) {
			best = t
		}
	}
	return best
}

// ptraceThreadGoneLocked ends the relations of a thread that exits: its
// tracees are detached (and resumed if stopped, as Linux's exit_ptrace).
func (k *Kernel) ptraceThreadGoneLocked(t *Thread, d *Deferred) {
	for tt := range t.Tracees {
		if tt.Ptrace.Stopped {
			k.PtraceResumeLocked(tt, linux.PTRACE_DETACH, 0, 0)
		}
		if tt.Ptrace.Options&linux.PTRACE_O_EXITKILL != 0 && !tt.Proc.Exiting {
			k.ExitProcessLocked(tt.Proc, ksignal.WaitStatus(int(unix.SIGKILL)), d)
		}
		k.PtraceUnlinkLocked(tt, d)
	}
	t.Tracees = nil
}

// ptraceProcessExitLocked ends the relations of exiting p's threads as
// tracers and as tracees.
func (k *Kernel) ptraceProcessExitLocked(p *Process, d *Deferred) {
	for t := range p.All {
		k.ptraceThreadGoneLocked(t, d)
		if t.TID == p.PID {
			k.ptraceTraceeGoneLocked(t, p.ExitStatus, d)
		}
	}
}

// ptraceTraceeGoneLocked ends traced thread t, which ended with wait
// status status: its tracer's wait reports it (exitPending, with
// SIGCHLD), unless t is a process's leader whose tracer is its parent
// (the parent's wait of the process reports it) or the tracer is gone.
// A leader that ends before its process stays traced until then.
func (k *Kernel) ptraceTraceeGoneLocked(t *Thread, status int32, d *Deferred) {
	tr := t.Ptrace
	if tr == nil || tr.ExitPending {
		return
	}
	tr.Stopped, tr.WaitPending = false, false
	leader := t.TID == t.Proc.PID
	if leader && !t.Proc.Exiting {
		return
	}
	if tr.Tracer.Killed || tr.Tracer.Proc.Exiting || (leader && tr.Tracer.Proc == t.Proc.Parent) {
		k.PtraceUnlinkLocked(t, d)
		return
	}
	tr.ExitPending, tr.ExitStatus = true, status
	k.Trk.Changed(t)
	code, st := ksignal.ChildStatus(status)
	k.ptraceNotifyTracerLocked(t, code, st, d)
	k.Waitq.Notify()
}

// PtraceWaitLocked reports a ptrace-stop or an exit of a tracee of p's
// threads that match accepts, for wait4 and waitid; ok is false if there
// is none. A tracee is eligible whatever __WCLONE says, and its stops
// need no WUNTRACED, as on Linux.
func (k *Kernel) PtraceWaitLocked(p *Process, match func(p, ch *Process, tid int32) bool, options uint32) (r WaitResult, found, ok bool) {
	var best *Thread
	for th := range p.Live {
		for tt := range th.Tracees {
			if !match(p, tt.Proc, tt.TID) {
				continue
			}
			found = true
			tr := tt.Ptrace
			if (tr.Stopped && tr.WaitPending) || tr.ExitPending {
				if best == nil || tt.TID < best.TID {
					best = tt
				}
			}
		}
	}
	if best == nil {
		return WaitResult{}, found, false
	}
	tr := best.Ptrace
	if tr.ExitPending {
		st := tr.ExitStatus
		r = WaitResult{PID: best.TID, Status: st, UID: best.Proc.Creds.RUID}
		r.Code, r.SIStatus = ksignal.ChildStatus(st)
		if options&unix.WNOWAIT == 0 {
			var d Deferred
			k.PtraceUnlinkLocked(best, &d)
		}
		return r, true, true
	}
	r = WaitResult{PID: best.TID, Status: tr.StopStatus, UID: best.Proc.Creds.RUID, Code: ptrace.CLDTrapped, SIStatus: (tr.StopStatus >> 8) & 0xffff}
	if options&unix.WNOWAIT == 0 {
		tr.WaitPending = false
		k.Trk.Changed(best)
	}
	return r, true, true
}

// PtraceCloneLocked makes the new thread or process child of t traced by
// t's tracer if t's options ask for the kind of clone flags makes
// (Linux's ptrace_init_task with PT_TRACE_*); a child of a PTRACE_ATTACH
// relation starts with SIGSTOP pending, of PTRACE_SEIZE with a
// PTRACE_EVENT_STOP.
func (k *Kernel) PtraceCloneLocked(t, child *Thread, flags uint64, d *Deferred) {
	tr := t.Ptrace
	if tr == nil || tr.Tracer.Killed {
		return
	}
	if tr.Options&ptrace.CloneOption(flags) == 0 {
		return
	}
	k.PtraceLinkLocked(tr.Tracer, child, tr.Options, tr.Seized, d)
	if tr.Seized {
		d.Push(PtraceUpdatePush(child, true))
		return
	}
	k.PushSignalLocked(child.Proc, child, int(unix.SIGSTOP), ksignal.SiginfoKill(int(unix.SIGSTOP), ksignal.SIUser, 0, 0), child.Proc.Sig.Act[unix.SIGSTOP], d)
}

// PtraceExecLocked sends SIGTRAP to t after a successful exec if it is
// traced by PTRACE_ATTACH or PTRACE_TRACEME without PTRACE_O_TRACEEXEC
// (the legacy exec stop, a signal-delivery-stop on the client).
func (k *Kernel) PtraceExecLocked(t *Thread, d *Deferred) {
	tr := t.Ptrace
	if tr == nil || tr.Seized || tr.Options&linux.PTRACE_O_TRACEEXEC != 0 {
		return
	}
	k.PushSignalLocked(t.Proc, t, int(unix.SIGTRAP), ksignal.SiginfoKill(int(unix.SIGTRAP), ksignal.SIUser, 0, 0), t.Proc.Sig.Act[unix.SIGTRAP], d)
}

// restorePtraceLocked links the restored threads of states to their
// tracers, ignoring relations no server could have recorded.
func (k *Kernel) restorePtraceLocked(states []*sentrypb.ThreadState) {
	for _, ts := range states {
		if tt := k.Threads[ts.Tid]; tt != nil {
			tt.PtraceDetachSeq = ts.PtraceDetachSeq
		}
		ps := ts.GetPtrace()
		if ps == nil {
			continue
		}
		tt, tracer := k.Threads[ts.Tid], k.Threads[ps.Tracer]
		if tt == nil || tracer == nil || tt.Killed && !ps.ExitPending || tracer.Killed || tracer.Proc == tt.Proc {
			k.Log.Warn("restore: ptrace relation ignored", "tid", ts.Tid, "tracer", ps.Tracer)
			continue
		}
		st, err := ptrace.FromProto(ps)
		if err != nil {
			k.Log.Warn("restore: ptrace relation ignored", "tid", ts.Tid, "err", err)
			continue
		}
		tt.Ptrace = &PtraceTracee{Tracer: tracer, Tracee: *st}
		if tracer.Tracees == nil {
			tracer.Tracees = make(map[*Thread]struct{})
		}
		tracer.Tracees[tt] = struct{}{}
	}
}

// TracerPIDLocked is the TID of p's leader's tracer (/proc/<pid>/status
// TracerPid), 0 if it is not traced.
func TracerPIDLocked(t *Thread) int32 {
	if t == nil || t.Ptrace == nil {
		return 0
	}
	return t.Ptrace.Tracer.Proc.PID
}
