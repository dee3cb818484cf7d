package client

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/arch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

const (
	sizeofSiginfo = 128
	ssAutoDisarm  = 1 << 31
	minSigStkSz   = 2048
)

// negErrno is -e as a register value.
func negErrno(e unix.Errno) uintptr { return uintptr(-int64(e)) }

// unblockable are the signals no mask can hold.
var unblockable = linux.MakeSignalSet(linux.SIGKILL, linux.SIGSTOP)

// defaultIgnored are the signals whose default action is to ignore them.
var defaultIgnored = linux.MakeSignalSet(linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH, linux.SIGCONT)

// queueSignalPush queues a signal the server routed to t.
func (t *task) queueSignalPush(m *pb.SignalPush) {
	var qs queuedSignal
	if len(m.Siginfo) >= sizeofSiginfo {
		qs.info.UnmarshalBytes(m.Siginfo[:sizeofSiginfo])
	}
	qs.info.Signo = m.Signo
	haveAct := len(m.Sigaction) >= (*linux.SigAction)(nil).SizeBytes()
	if haveAct {
		qs.act.UnmarshalBytes(m.Sigaction[:(*linux.SigAction)(nil).SizeBytes()])
	}
	sig := linux.Signal(m.Signo)
	if !sig.IsValid() {
		t.c.log.Warn("server pushed an invalid signal", "tid", m.Tid, "signo", m.Signo)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queueSignalLocked(qs, haveAct)
}

// queueSignalLocked queues qs (its disposition in qs.act when haveAct)
// in t's pending signals and gets t's attention if it may take it.
//
// Preconditions: t.mu is locked; qs.info.Signo is valid.
func (t *task) queueSignalLocked(qs queuedSignal, haveAct bool) {
	sig := linux.Signal(qs.info.Signo)
	if t.coalesceTimerSignalLocked(&qs.info) {
		return
	}
	if haveAct && (t.mask|t.realBlocked)&linux.SignalSetOf(sig) == 0 && ignores(qs.act, sig) && t.trace.tracer == 0 {
		// An ignored signal no mask holds is dropped (Linux's
		// sig_ignored): the server sends it for a thread that blocks
		// it to take with sigwaitinfo. A tracer sees every signal in
		// a signal-delivery-stop.
		return
	}
	if !sig.IsRealtime() {
		// Standard signals do not queue twice.
		for _, p := range t.pending {
			if p.info.Signo == qs.info.Signo {
				return
			}
		}
	}
	t.pending = append(t.pending, qs)
	if t.mask&linux.SignalSetOf(sig) == 0 || t.state == stateBlocked {
		t.notifyLocked()
	} else {
		t.notePendingLocked()
	}
}

// pushIgnores says the disposition m carries ignores its signal.
func pushIgnores(m *pb.SignalPush) bool {
	var act linux.SigAction
	if len(m.Sigaction) < act.SizeBytes() {
		return false
	}
	act.UnmarshalBytes(m.Sigaction[:act.SizeBytes()])
	return ignores(act, linux.Signal(m.Signo))
}

// ignores says act ignores sig: SIG_IGN, or SIG_DFL of a signal whose
// default action is to ignore it.
func ignores(act linux.SigAction, sig linux.Signal) bool {
	return act.Handler == linux.SIG_IGN || act.Handler == linux.SIG_DFL && defaultIgnored&linux.SignalSetOf(sig) != 0
}

// takerOf returns the thread of p a process-directed signal sig goes to:
// t, the server's choice, unless t blocks sig and another live thread
// does not (Linux's complete_signal). The server does not know the
// masks, which live here.
func (p *process) takerOf(sig linux.Signal, t *task) *task {
	if !t.blocks(sig) {
		return t
	}
	for _, o := range p.liveThreads() {
		if o != t && !o.blocks(sig) && !o.isKilled() {
			return o
		}
	}
	return t
}

// blocks says t's mask blocks sig.
func (t *task) blocks(sig linux.Signal) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mask&linux.SignalSetOf(sig) != 0
}

// deliverableLocked says a pending signal is not masked.
//
// Preconditions: t.mu is locked.
func (t *task) deliverableLocked() bool {
	for _, p := range t.pending {
		if t.mask&linux.SignalSetOf(linux.Signal(p.info.Signo)) == 0 {
			return true
		}
	}
	return false
}

// pendingSetLocked returns the set of pending signals.
func (t *task) pendingSetLocked() linux.SignalSet {
	var s linux.SignalSet
	for _, p := range t.pending {
		s |= linux.SignalSetOf(linux.Signal(p.info.Signo))
	}
	return s
}

// dequeueLocked removes and returns the first pending signal not in
// mask, lowest signal number first (synchronous signals first, as Linux
// does for SIGSEGV..SIGFPE).
func (t *task) dequeueLocked(mask linux.SignalSet) (queuedSignal, bool) {
	best := -1
	for i, p := range t.pending {
		if mask&linux.SignalSetOf(linux.Signal(p.info.Signo)) != 0 {
			continue
		}
		if best < 0 || p.info.Signo < t.pending[best].info.Signo {
			best = i
		}
	}
	if best < 0 {
		return queuedSignal{}, false
	}
	qs := t.pending[best]
	t.pending = append(t.pending[:best], t.pending[best+1:]...)
	return qs, true
}

// setMaskLocked sets the signal mask (SIGKILL and SIGSTOP stay unblocked).
func (t *task) setMaskLocked(m linux.SignalSet) {
	t.mask = m &^ unblockable
}

// deliverSignals runs before every return to the application: it sets up
// handler frames for deliverable signals and resolves the restart of an
// interrupted system call.
func (t *task) deliverSignals() {
	for {
		t.mu.Lock()
		qs, ok := t.dequeueLocked(t.mask)
		traced := t.trace.tracer != 0 && qs.info.Signo != int32(linux.SIGKILL)
		t.mu.Unlock()
		if !ok {
			break
		}
		if traced {
			// The signal-delivery-stop (ptrace.go).
			if qs, ok = t.ptraceSignalStop(qs); !ok {
				if t.isKilled() {
					return
				}
				continue
			}
		}
		t.deliver(qs)
		if t.isKilled() {
			return
		}
	}
	if t.restartErrno != 0 {
		// No handler ran: restart the call transparently.
		if t.restartErrno == errRestartRestartBlock && t.restartBlock != nil {
			t.ac.RestartSyscallWithRestartBlock()
		} else {
			t.ac.RestartSyscall()
		}
		t.restartErrno = 0
	}
}

// deliveryAction is the disposition qs is delivered with: as Linux's
// get_signal, the process's as it is now (the client's copy of its
// table), which may have changed since the signal was generated with
// qs.act (a thread that blocked it installed another handler). qs.act
// stays when the copy is not known, when it had SA_RESETHAND (the server
// reset the handler when it sent the signal: the copy's SIG_DFL is that
// reset) and when the server sent the signal as ignored and the copy
// says SIG_DFL (init's unkillable rule, which the server applied).
func (t *task) deliveryAction(qs queuedSignal) linux.SigAction {
	cur, ok := t.c.sigs.action(t.proc.pid, linux.Signal(qs.info.Signo))
	switch {
	case !ok, qs.act.Flags&linux.SA_RESETHAND != 0:
		return qs.act
	case cur.Handler == linux.SIG_DFL && qs.act.Handler == linux.SIG_IGN:
		return qs.act
	}
	return cur
}

// discardIgnored drops the pending sig of every thread of t's process
// once its disposition ignores it, blocked or not (POSIX; Linux's
// do_sigaction), after an rt_sigaction that set it.
func (t *task) discardIgnored(sig linux.Signal) {
	act, ok := t.c.sigs.action(t.proc.pid, sig)
	if !ok || !ignores(act, sig) {
		return
	}
	discardPending(t.proc.liveThreads(), linux.SignalSetOf(sig))
}

// discardPending drops the pending signals in set of threads.
func discardPending(threads []*task, set linux.SignalSet) {
	for _, t := range threads {
		t.mu.Lock()
		t.pending = slices.DeleteFunc(t.pending, func(qs queuedSignal) bool {
			return set&linux.SignalSetOf(linux.Signal(qs.info.Signo)) != 0
		})
		t.mu.Unlock()
	}
}

// deliver runs the handler of one signal.
func (t *task) deliver(qs queuedSignal) {
	sig := linux.Signal(qs.info.Signo)
	t.noteDequeued(&qs.info)
	act := t.deliveryAction(qs)
	switch act.Handler {
	case linux.SIG_IGN:
		return
	case linux.SIG_DFL:
		if defaultIgnored&linux.SignalSetOf(sig) != 0 {
			return
		}
		// The disposition changed after the server routed the signal,
		// or the signal came to the client for a signalfd: let the
		// server apply the default action now. A fatal one goes back
		// as a Fault, which applies it rather than route it here again.
		t.c.log.Debug("signal with default action pushed; returning it to the server", "tid", t.tid, "signal", sig)
		if defaultIsFatal(sig) {
			t.reportFault(&qs.info, false)
			return
		}
		t.forwardInternal(unix.SYS_TGKILL, [6]uint64{uint64(t.proc.pid), uint64(t.tid), uint64(sig)}, nil)
		return
	}

	// Resolve an interrupted system call (Linux's handle_signal).
	if e := t.restartErrno; e != 0 {
		switch e {
		case errRestartSys:
			if act.Flags&linux.SA_RESTART != 0 {
				t.ac.RestartSyscall()
			} else {
				t.ac.SetReturn(negErrno(unix.EINTR))
			}
		case errRestartNoIntr:
			t.ac.RestartSyscall()
		default:
			t.ac.SetReturn(negErrno(unix.EINTR))
		}
		t.restartErrno = 0
		t.restartBlock = nil
	}

	if err := t.pctx.PullFullState(t.mm.AddressSpace(), t.ac); err != nil {
		t.c.log.Warn("cannot pull thread state for a signal", "tid", t.tid, "err", err)
	}
	sp := hostarch.Addr(t.ac.Stack())
	t.mu.Lock()
	alt := t.altStack
	mask := t.mask
	if t.haveSavedMask {
		mask = t.savedMask
	}
	t.mu.Unlock()
	if act.Flags&linux.SA_ONSTACK != 0 && alt.IsEnabled() {
		alt.Flags |= linux.SS_ONSTACK
		if !alt.Contains(sp) {
			sp = alt.Top()
		}
	}
	st := &arch.Stack{Arch: t.ac, IO: t.mm, Bottom: sp}
	info := qs.info
	if err := t.ac.SignalSetup(st, &act, &info, &alt, mask, cpuid.HostFeatureSet()); err != nil {
		t.c.log.Debug("cannot set up a signal frame", "tid", t.tid, "signal", sig, "err", err)
		// Linux's force_sigsegv: SIGSEGV goes to its handler (which
		// may run on another stack), unless the frame that failed was
		// SIGSEGV's own: then the default action.
		if sig == linux.SIGSEGV {
			t.forceSignal(linux.SIGSEGV)
		} else {
			info := linux.SignalInfo{Signo: int32(linux.SIGSEGV), Code: linux.SI_KERNEL}
			t.syncSignal(&info)
		}
		return
	}
	t.pctx.FullStateChanged()
	t.mu.Lock()
	t.haveSavedMask = false
	newMask := t.mask | act.Mask
	if act.Flags&linux.SA_NODEFER == 0 {
		newMask |= linux.SignalSetOf(sig)
	}
	t.setMaskLocked(newMask)
	t.mu.Unlock()
}

// syncSignal handles a synchronous fault the client cannot resolve: only
// the server knows the disposition, so it is reported with a Fault call;
// the server pushes the signal back for a handler or kills the process
// (Linux's force_sig).
func (t *task) syncSignal(info *linux.SignalInfo) {
	sig := linux.Signal(info.Signo)
	t.faultStreak++
	t.mu.Lock()
	blocked := t.mask&linux.SignalSetOf(sig) != 0
	traced := t.trace.tracer != 0
	t.mu.Unlock()
	if traced && !t.ptraceSyncSignal(info) {
		return
	}
	// A handler that returns to the same fault forever is Linux's
	// behaviour too, but a disposition race must not loop: after a few
	// faults with no syscall in between, force the default action.
	t.reportFault(info, blocked || t.faultStreak > 8)
}

// reraiseAfterExec handles signals pushed for a handler of the image exec
// just replaced (the server chose the handler when it sent the signal,
// which can race with the exec). Linux keeps such a signal pending across
// exec, where its disposition is now the default: a signal whose default
// is fatal goes back to the server as a Fault, which applies the current
// disposition; one whose default is to ignore it is dropped.
func (t *task) reraiseAfterExec() {
	t.mu.Lock()
	var stale []linux.SignalInfo
	kept := t.pending[:0]
	for _, p := range t.pending {
		if h := p.act.Handler; h != linux.SIG_DFL && h != linux.SIG_IGN {
			if defaultIsFatal(linux.Signal(p.info.Signo)) {
				stale = append(stale, p.info)
			}
			continue
		}
		kept = append(kept, p)
	}
	t.pending = kept
	t.mu.Unlock()
	for i := range stale {
		t.reportFault(&stale[i], false)
	}
}

// defaultIsFatal says sig's default action ends the process.
func defaultIsFatal(sig linux.Signal) bool {
	switch sig {
	case linux.SIGCHLD, linux.SIGCONT, linux.SIGURG, linux.SIGWINCH,
		linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU:
		return false
	}
	return true
}

// forceSignal makes sig take its default action (a signal frame could not
// be built or restored).
func (t *task) forceSignal(sig linux.Signal) {
	var info linux.SignalInfo
	info.Signo = int32(sig)
	info.Code = linux.SI_KERNEL
	t.reportFault(&info, true)
}

// reportFault sends a Fault call; blocked makes the server apply the
// default action whatever the disposition.
//
// A signal that ends the process with a core comes back as a
// CoreDumpPlan: the core is written before the process ends
// (coredump.go).
func (t *task) reportFault(info *linux.SignalInfo, blocked bool) {
	b := make([]byte, sizeofSiginfo)
	info.MarshalBytes(b)
	f := &pb.Fault{Signo: info.Signo, Siginfo: b, Blocked: blocked}
	t.prepareDump(f)
	reply, err := t.call(&pb.Call{Tid: t.tid, Op: &pb.Call_Fault{Fault: f}})
	if err != nil {
		return
	}
	if t.c.cfg.Strace {
		t.c.log.Info(fmt.Sprintf("fault(%d, blocked=%v) = %d", info.Signo, blocked, reply.Errno), "tid", t.tid)
	}
	if plan := reply.GetCoreDump(); plan != nil {
		t.coreDumpFault(f, info, plan)
		return
	}
	if ex := reply.GetExit(); ex != nil {
		t.applyExit(ex)
	}
}

// forwardKillSelf asks the server to kill t's process with sig.
func (t *task) forwardKillSelf(sig linux.Signal) {
	t.forwardInternal(unix.SYS_KILL, [6]uint64{uint64(t.proc.pid), uint64(sig)}, nil)
}

// Local signal system calls.

func sysRtSigprocmask(t *task, a [6]uint64) (uint64, unix.Errno) {
	how, setAddr, oldAddr, size := a[0], a[1], a[2], a[3]
	if size != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	var set linux.SignalSet
	if setAddr != 0 {
		v, err := t.readUint64(setAddr)
		if err != 0 {
			return 0, err
		}
		set = linux.SignalSet(v)
	}
	t.mu.Lock()
	old := t.mask
	if setAddr != 0 {
		switch how {
		case linux.SIG_BLOCK:
			t.setMaskLocked(old | set)
		case linux.SIG_UNBLOCK:
			t.setMaskLocked(old &^ set)
		case linux.SIG_SETMASK:
			t.setMaskLocked(set)
		default:
			t.mu.Unlock()
			return 0, unix.EINVAL
		}
	}
	t.mu.Unlock()
	if oldAddr != 0 {
		if err := t.writeUint64(oldAddr, uint64(old)); err != 0 {
			return 0, err
		}
	}
	return 0, 0
}

func sysRtSigpending(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[1] != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	t.mu.Lock()
	set := t.pendingSetLocked() & t.mask
	t.mu.Unlock()
	return 0, t.writeUint64(a[0], uint64(set))
}

func sysRtSigsuspend(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[1] != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	v, err := t.readUint64(a[0])
	if err != 0 {
		return 0, err
	}
	t.mu.Lock()
	t.savedMask = t.mask
	t.haveSavedMask = true
	t.setMaskLocked(linux.SignalSet(v))
	t.mu.Unlock()
	t.blockOn(nil, time.Time{})
	t.mu.Lock()
	if !t.deliverableLocked() {
		// Killed: restore the mask.
		t.mask = t.savedMask
		t.haveSavedMask = false
	}
	t.mu.Unlock()
	return 0, errRestartNoHand
}

func sysPause(t *task, a [6]uint64) (uint64, unix.Errno) {
	t.blockOn(nil, time.Time{})
	return 0, errRestartNoHand
}

func sysRtSigtimedwait(t *task, a [6]uint64) (uint64, unix.Errno) {
	setAddr, infoAddr, tsAddr, size := a[0], a[1], a[2], a[3]
	if size != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	v, err := t.readUint64(setAddr)
	if err != 0 {
		return 0, err
	}
	set := linux.SignalSet(v) &^ unblockable
	var deadline time.Time
	poll := false
	if tsAddr != 0 {
		d, err := t.readTimespec(tsAddr)
		if err != 0 {
			return 0, err
		}
		if d < 0 {
			return 0, unix.EINVAL
		}
		if d == 0 {
			poll = true
		}
		deadline = time.Now().Add(d)
	}
	t.mu.Lock()
	qs, ok := t.dequeueLocked(^set)
	if !ok && !poll {
		// Wait with the waited-for signals unblocked.
		old := t.mask
		t.setMaskLocked(old &^ set)
		t.realBlocked = old
		t.mu.Unlock()
		berr := t.blockOn(nil, deadline)
		t.mu.Lock()
		t.mask, t.realBlocked = old, 0
		qs, ok = t.dequeueLocked(^set)
		if !ok {
			t.mu.Unlock()
			if berr == errTimedOut {
				return 0, unix.EAGAIN
			}
			return 0, unix.EINTR
		}
	}
	t.mu.Unlock()
	if !ok {
		return 0, unix.EAGAIN
	}
	t.noteDequeued(&qs.info)
	if infoAddr != 0 {
		b := make([]byte, sizeofSiginfo)
		qs.info.MarshalBytes(b)
		if err := t.copyOut(infoAddr, b); err != 0 {
			return 0, err
		}
	}
	return uint64(qs.info.Signo), 0
}

func sysRtSigreturn(t *task, a [6]uint64) (uint64, unix.Errno) {
	t.noReturn = true
	st := &arch.Stack{Arch: t.ac, IO: t.mm, Bottom: hostarch.Addr(t.ac.Stack())}
	set, alt, err := t.ac.SignalRestore(st, true, cpuid.HostFeatureSet())
	if err != nil {
		t.c.log.Debug("bad signal frame in rt_sigreturn", "tid", t.tid, "err", err)
		t.forceSignal(linux.SIGSEGV)
		return 0, 0
	}
	t.pctx.FullStateChanged()
	t.mu.Lock()
	t.setAltStackLocked(alt)
	t.setMaskLocked(set)
	t.mu.Unlock()
	return 0, 0
}

// onAltStackLocked says the thread runs on its alternate signal stack.
func (t *task) onAltStackLocked() bool {
	return t.altStack.IsEnabled() && t.altStack.Contains(hostarch.Addr(t.ac.Stack()))
}

func (t *task) setAltStackLocked(alt linux.SignalStack) bool {
	if t.onAltStackLocked() {
		return false
	}
	if alt.Flags&linux.SS_DISABLE != 0 {
		t.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	} else {
		alt.Flags &= linux.SS_DISABLE
		t.altStack = alt
	}
	return true
}

func sysSigaltstack(t *task, a [6]uint64) (uint64, unix.Errno) {
	ssAddr, ossAddr := a[0], a[1]
	t.mu.Lock()
	old := t.altStack
	onStack := t.onAltStackLocked()
	t.mu.Unlock()
	if onStack {
		old.Flags |= linux.SS_ONSTACK
	}
	if ossAddr != 0 {
		b := make([]byte, old.SizeBytes())
		old.MarshalBytes(b)
		if err := t.copyOut(ossAddr, b); err != 0 {
			return 0, err
		}
	}
	if ssAddr != 0 {
		var ss linux.SignalStack
		b := make([]byte, ss.SizeBytes())
		if err := t.copyIn(ssAddr, b); err != 0 {
			return 0, err
		}
		ss.UnmarshalBytes(b)
		if ss.Flags&^(linux.SS_DISABLE|linux.SS_ONSTACK|ssAutoDisarm) != 0 {
			return 0, unix.EINVAL
		}
		if ss.Flags&linux.SS_DISABLE == 0 && ss.Size < minSigStkSz {
			return 0, unix.ENOMEM
		}
		t.mu.Lock()
		ok := t.setAltStackLocked(ss)
		t.mu.Unlock()
		if !ok {
			return 0, unix.EPERM
		}
	}
	return 0, 0
}

// Memory helpers returning errnos.

func (t *task) copyIn(addr uint64, b []byte) unix.Errno {
	if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return unix.EFAULT
	}
	return 0
}

func (t *task) copyOut(addr uint64, b []byte) unix.Errno {
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return unix.EFAULT
	}
	return 0
}

func (t *task) readUint64(addr uint64) (uint64, unix.Errno) {
	var b [8]byte
	if err := t.copyIn(addr, b[:]); err != 0 {
		return 0, err
	}
	return le64(b[:]), 0
}

func (t *task) writeUint64(addr uint64, v uint64) unix.Errno {
	var b [8]byte
	hostarch.ByteOrder.PutUint64(b[:], v)
	return t.copyOut(addr, b[:])
}

func (t *task) writeUint32(addr uint64, v uint32) unix.Errno {
	var b [4]byte
	hostarch.ByteOrder.PutUint32(b[:], v)
	return t.copyOut(addr, b[:])
}

// readTimespec reads a struct timespec as a duration.
func (t *task) readTimespec(addr uint64) (time.Duration, unix.Errno) {
	var b [16]byte
	if err := t.copyIn(addr, b[:]); err != 0 {
		return 0, err
	}
	sec, nsec := int64(le64(b[:])), int64(le64(b[8:]))
	if nsec < 0 || nsec >= 1e9 || sec < 0 {
		return -1, 0
	}
	if sec > (1<<62)/int64(time.Second) {
		return time.Duration(1 << 62), 0
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), 0
}

func (t *task) writeTimespec(addr uint64, d time.Duration) unix.Errno {
	var b [16]byte
	hostarch.ByteOrder.PutUint64(b[:], uint64(d/time.Second))
	hostarch.ByteOrder.PutUint64(b[8:], uint64(d%time.Second))
	return t.copyOut(addr, b[:])
}
