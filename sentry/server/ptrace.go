package server

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
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

// ptraceTracee is a traced thread's relation: its tracer, and the
// relation's and stop's state (package kernel's PtraceTracee, over
// package ptrace's Tracee). Protected by clientState.Mu.
type ptraceTracee = kernel.PtraceTracee

// sysPtrace serves the requests that change the relation or end a stop;
// the client serves the ones that read or write the stopped tracee's
// registers and memory, so those never reach the server (EIO if they do).
func sysPtrace(c *syscallCtx) (int64, error) {
	req, tid := int64(c.Args[0]), int32(c.Args[1])
	k := c.Kernel
	var d deferred
	k.Mu.Lock()
	defer func() {
		k.Mu.Unlock()
		d.Run(k.Out)
	}()
	t := c.Thread
	if t.Killed {
		return 0, unix.ESRCH
	}
	switch req {
	case linux.PTRACE_TRACEME:
		par := t.Proc.Parent
		if t.Ptrace != nil || par == nil || par.Exiting {
			return 0, unix.EPERM
		}
		tracer := par.AnyLiveThread()
		if tracer == nil {
			return 0, unix.EPERM
		}
		ptraceLinkLocked(k, tracer, t, 0, false, &d)
		return 0, nil
	case linux.PTRACE_ATTACH, linux.PTRACE_SEIZE:
		entered, err := ptraceAttachLocked(k, t, tid, req == linux.PTRACE_SEIZE, c.Args[2], c.Args[3], &d)
		if err != nil || entered == nil {
			return 0, err
		}
		// A tracee in a group stop enters a ptrace-stop at once; as
		// Linux's ptrace_attach, wait for it, so that the tracer's
		// next request finds it stopped. Bounded: the attach is done
		// whatever happens to the tracee.
		k.Mu.Unlock()
		d.Run(k.Out)
		_ = c.Block(entered, time.After(ptraceAttachWait))
		k.Mu.Lock()
		return 0, nil
	}
	tt := k.Threads[tid]
	if resent(c) && tt != nil && (tt.Ptrace != nil && tt.Ptrace.Tracer == t && tt.Ptrace.ResumedBy(c.CallSeq) ||
		req == linux.PTRACE_DETACH && tt.Ptrace == nil && tt.PtraceDetachSeq == c.CallSeq) {
		// This call ended a stop (or the relation) before the server
		// it went to died; the record of that came back, so it is done.
		return 0, nil
	}
	if tt == nil || tt.Killed || tt.Ptrace == nil || tt.Ptrace.Tracer != t {
		return 0, unix.ESRCH
	}
	tr := tt.Ptrace
	switch req {
	case linux.PTRACE_KILL:
		if !tt.Proc.Exiting {
			exitProcessLocked(k, tt.Proc, ksignal.WaitStatus(int(unix.SIGKILL)), &d)
		}
		return 0, nil
	case linux.PTRACE_INTERRUPT:
		if !tr.Seized {
			return 0, unix.EIO
		}
		if !tr.Stopped {
			d.Push(ptraceUpdatePush(tt, true))
		}
		return 0, nil
	}
	if !tr.Stopped {
		return 0, unix.ESRCH
	}
	switch req {
	case linux.PTRACE_SETOPTIONS:
		opts := uint32(c.Args[3])
		if opts&^ptrace.OptionsMask != 0 {
			return 0, unix.EINVAL
		}
		tr.Options = opts
		k.Trk.Changed(tt)
		d.Push(ptraceUpdatePush(tt, false))
		return 0, nil
	case linux.PTRACE_LISTEN:
		// Only from a seized tracee's group-stop trap.
		if !tr.CanListen(func(sig int) bool { return ksignal.DefaultActionOf(sig) == ksignal.ActStop }) {
			return 0, unix.EIO
		}
		ptraceResumeLocked(k, tt, linux.PTRACE_LISTEN, 0, c.CallSeq)
		return 0, nil
	case linux.PTRACE_CONT, linux.PTRACE_SYSCALL, linux.PTRACE_SINGLESTEP, linux.PTRACE_DETACH:
		sig := int32(c.Args[3])
		if sig < 0 || sig > ksignal.NumSignals {
			return 0, unix.EIO
		}
		ptraceResumeLocked(k, tt, int32(req), sig, c.CallSeq)
		if req == linux.PTRACE_DETACH {
			ptraceUnlinkLocked(k, tt, &d)
			tt.PtraceDetachSeq = c.CallSeq
		}
		return 0, nil
	}
	// PTRACE_SYSEMU and anything unknown
	// (docs/COMPATIBILITY.md); the register and memory requests are the
	// client's.
	return 0, unix.EIO
}

// ptraceAttachWait bounds how long PTRACE_ATTACH waits for a tracee in a
// group stop to enter its ptrace-stop.
const ptraceAttachWait = 2 * time.Second

// ptraceAttachLocked makes t the tracer of thread tid (PTRACE_ATTACH,
// which also sends it SIGSTOP, or PTRACE_SEIZE with options). If the
// tracee's process is in a group stop, entered is closed once the tracee
// reports it as a ptrace-stop.
func ptraceAttachLocked(k *clientState, t *thread, tid int32, seize bool, addr, data uint64, d *deferred) (entered <-chan struct{}, err error) {
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
	ptraceLinkLocked(k, t, tt, opts, seize, d)
	if tt.Proc.Stopped {
		entered = tt.Ptrace.WaitEntered()
	}
	if !seize {
		signalProcessLocked(k, tt.Proc, tt, int(unix.SIGSTOP), ksignal.SiginfoKill(int(unix.SIGSTOP), ksignal.SIUser, t.Proc.PID, t.Proc.Creds.RUID), d)
	}
	return entered, nil
}

// ptraceMayAccess says tracer may trace tracee (package ptrace).
func ptraceMayAccess(tracer, tracee *process) bool {
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

// ptraceLinkLocked makes tracer trace tt.
func ptraceLinkLocked(k *clientState, tracer, tt *thread, opts uint32, seized bool, d *deferred) {
	tt.Ptrace = &ptraceTracee{Tracer: tracer, Tracee: ptrace.Tracee{Options: opts, Seized: seized}}
	if tracer.Tracees == nil {
		tracer.Tracees = make(map[*thread]struct{})
	}
	tracer.Tracees[tt] = struct{}{}
	k.Trk.Changed(tt)
	d.Push(ptraceUpdatePush(tt, false))
}

// ptraceUnlinkLocked ends tt's relation with its tracer.
func ptraceUnlinkLocked(k *clientState, tt *thread, d *deferred) {
	tr := tt.Ptrace
	if tr == nil {
		return
	}
	delete(tr.Tracer.Tracees, tt)
	tt.Ptrace = nil
	k.Trk.Changed(tt)
	if !tt.Killed {
		d.Push(ptraceUpdatePush(tt, false))
	}
}

// ptraceResumeLocked ends tt's ptrace-stop with the tracer's request req
// and the signal sig to inject.
func ptraceResumeLocked(k *clientState, tt *thread, req, sig int32, seq uint64) {
	tt.Ptrace.Resume(req, sig, seq)
	k.Trk.Changed(tt)
}

// ptraceUpdatePush tells the client tt's tracer and options.
func ptraceUpdatePush(tt *thread, interrupt bool) *sentrypb.Push {
	u := &sentrypb.PtraceUpdate{Tid: tt.TID, Interrupt: interrupt}
	if tr := tt.Ptrace; tr != nil {
		u.Tracer, u.Options, u.Seized = tr.Tracer.TID, tr.Options, tr.Seized
	}
	return &sentrypb.Push{Msg: &sentrypb.Push_Ptrace{Ptrace: u}}
}

// ptraceStop serves a PtraceStop call of traced thread t: it enters the
// stop (unless it is the one t is already in: a call re-sent after a
// recovery), tells the tracer, and waits for the tracer to end it.
func ptraceStop(k *clientState, t *thread, seq uint64, m *sentrypb.PtraceStop) *sentrypb.Reply {
	r := &sentrypb.Reply{Seq: seq}
	if m == nil {
		r.Errno = int32(unix.EINVAL)
		return r
	}
	var d deferred
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
		ptraceNotifyTracerLocked(k, t, ptrace.CLDTrapped, (m.WaitStatus>>8)&0xffff, &d)
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
func ptraceNotifyTracerLocked(k *clientState, tt *thread, code, status int32, d *deferred) {
	tp := tt.Ptrace.Tracer.Proc
	if tp.Exiting {
		return
	}
	act := tp.Sig.Act[unix.SIGCHLD]
	if act.Handler == ksignal.SigIgn || (code != ksignal.CLDExited && code != ksignal.CLDKilled && act.Flags&ksignal.SANoCldStop != 0) {
		return
	}
	signalProcessLocked(k, tp, tt.Ptrace.Tracer, int(unix.SIGCHLD), ksignal.SiginfoChld(int(unix.SIGCHLD), code, tt.TID, tt.Proc.Creds.RUID, status), d)
}

// ptraceTracedTargetLocked returns the thread of p a signal sent to p (or
// to target) stops in as a signal-delivery-stop: target if traced, else
// p's first traced live thread; nil if none is traced.
func ptraceTracedTargetLocked(p *process, target *thread) *thread {
	if target != nil && target.Proc == p && !target.Killed {
		if target.Ptrace != nil {
			return target
		}
		return nil
	}
	var best *thread
	for t := range p.Live {
		if t.Ptrace != nil && (best == nil || t.TID < best.TID) {
			best = t
		}
	}
	return best
}

// ptraceThreadGoneLocked ends the relations of a thread that exits: its
// tracees are detached (and resumed if stopped, as Linux's exit_ptrace).
func ptraceThreadGoneLocked(k *clientState, t *thread, d *deferred) {
	for tt := range t.Tracees {
		if tt.Ptrace.Stopped {
			ptraceResumeLocked(k, tt, linux.PTRACE_DETACH, 0, 0)
		}
		if tt.Ptrace.Options&linux.PTRACE_O_EXITKILL != 0 && !tt.Proc.Exiting {
			exitProcessLocked(k, tt.Proc, ksignal.WaitStatus(int(unix.SIGKILL)), d)
		}
		ptraceUnlinkLocked(k, tt, d)
	}
	t.Tracees = nil
}

// ptraceProcessExitLocked ends the relations of exiting p's threads as
// tracers and as tracees.
func ptraceProcessExitLocked(k *clientState, p *process, d *deferred) {
	for t := range p.All {
		ptraceThreadGoneLocked(k, t, d)
		if t.TID == p.PID {
			ptraceTraceeGoneLocked(k, t, p.ExitStatus, d)
		}
	}
}

// ptraceTraceeGoneLocked ends traced thread t, which ended with wait
// status status: its tracer's wait reports it (exitPending, with
// SIGCHLD), unless t is a process's leader whose tracer is its parent
// (the parent's wait of the process reports it) or the tracer is gone.
// A leader that ends before its process stays traced until then.
func ptraceTraceeGoneLocked(k *clientState, t *thread, status int32, d *deferred) {
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
		ptraceUnlinkLocked(k, t, d)
		return
	}
	tr.ExitPending, tr.ExitStatus = true, status
	k.Trk.Changed(t)
	code, st := ksignal.ChildStatus(status)
	ptraceNotifyTracerLocked(k, t, code, st, d)
	k.Waitq.Notify()
}

// ptraceWaitLocked reports a ptrace-stop or an exit of a tracee of p's
// threads that match accepts, for wait4 and waitid; ok is false if there
// is none. A tracee is eligible whatever __WCLONE says, and its stops
// need no WUNTRACED, as on Linux.
func ptraceWaitLocked(k *clientState, p *process, match func(p, ch *process, tid int32) bool, options uint32) (r waitResult, found, ok bool) {
	var best *thread
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
		return waitResult{}, found, false
	}
	tr := best.Ptrace
	if tr.ExitPending {
		st := tr.ExitStatus
		r = waitResult{pid: best.TID, status: st, uid: best.Proc.Creds.RUID}
		r.code, r.sistatus = ksignal.ChildStatus(st)
		if options&wNowait == 0 {
			var d deferred
			ptraceUnlinkLocked(k, best, &d)
		}
		return r, true, true
	}
	r = waitResult{pid: best.TID, status: tr.StopStatus, uid: best.Proc.Creds.RUID, code: ptrace.CLDTrapped, sistatus: (tr.StopStatus >> 8) & 0xffff}
	if options&wNowait == 0 {
		tr.WaitPending = false
		k.Trk.Changed(best)
	}
	return r, true, true
}

// ptraceCloneLocked makes the new thread or process child of t traced by
// t's tracer if t's options ask for the kind of clone flags makes
// (Linux's ptrace_init_task with PT_TRACE_*); a child of a PTRACE_ATTACH
// relation starts with SIGSTOP pending, of PTRACE_SEIZE with a
// PTRACE_EVENT_STOP.
func ptraceCloneLocked(k *clientState, t, child *thread, flags uint64, d *deferred) {
	tr := t.Ptrace
	if tr == nil || tr.Tracer.Killed {
		return
	}
	if tr.Options&ptrace.CloneOption(flags) == 0 {
		return
	}
	ptraceLinkLocked(k, tr.Tracer, child, tr.Options, tr.Seized, d)
	if tr.Seized {
		d.Push(ptraceUpdatePush(child, true))
		return
	}
	pushSignalLocked(k, child.Proc, child, int(unix.SIGSTOP), ksignal.SiginfoKill(int(unix.SIGSTOP), ksignal.SIUser, 0, 0), child.Proc.Sig.Act[unix.SIGSTOP], d)
}

// ptraceExecLocked sends SIGTRAP to t after a successful exec if it is
// traced by PTRACE_ATTACH or PTRACE_TRACEME without PTRACE_O_TRACEEXEC
// (the legacy exec stop, a signal-delivery-stop on the client).
func ptraceExecLocked(k *clientState, t *thread, d *deferred) {
	tr := t.Ptrace
	if tr == nil || tr.Seized || tr.Options&linux.PTRACE_O_TRACEEXEC != 0 {
		return
	}
	pushSignalLocked(k, t.Proc, t, int(unix.SIGTRAP), ksignal.SiginfoKill(int(unix.SIGTRAP), ksignal.SIUser, 0, 0), t.Proc.Sig.Act[unix.SIGTRAP], d)
}

// restorePtraceLocked links the restored threads of states to their
// tracers, ignoring relations no server could have recorded.
func restorePtraceLocked(k *clientState, states []*sentrypb.ThreadState) {
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
		tt.Ptrace = &ptraceTracee{Tracer: tracer, Tracee: *st}
		if tracer.Tracees == nil {
			tracer.Tracees = make(map[*thread]struct{})
		}
		tracer.Tracees[tt] = struct{}{}
	}
}

// tracerPIDLocked is the TID of p's leader's tracer (/proc/<pid>/status
// TracerPid), 0 if it is not traced.
func tracerPIDLocked(t *thread) int32 {
	if t == nil || t.Ptrace == nil {
		return 0
	}
	return t.Ptrace.Tracer.Proc.PID
}
