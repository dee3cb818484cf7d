package client

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// ptrace (docs/ARCHITECTURE.md, "ptrace"). Tracer and tracee are threads
// of this client, so the requests that read or write a stopped tracee's
// registers and memory (PTRACE_PEEK*, POKE*, GETREGS, SETREGS, GETREGSET,
// GETSIGINFO, GETEVENTMSG, ...) are served here from the tracee's
// arch.Context64 and mm. Who traces whom, the stops as the tracer's wait
// sees them, and the requests that end a stop are the server's: a tracee
// enters a ptrace-stop by sending PtraceStop, whose reply is the tracer's
// PTRACE_CONT, PTRACE_SYSCALL or PTRACE_DETACH (with the signal to
// inject). The server tells the client of a new tracer or new options
// with a PtraceUpdate push.

// ptraceState is a task's ptrace relation as a tracee. Fields are
// protected by task.mu; stopGen is the task goroutine's.
type ptraceState struct {
	// tracer is the tracing thread's TID (0: not traced); options and
	// seized are the relation's, as the server last pushed them.
	tracer  int32
	options uint32
	seized  bool
	// interrupt asks for a PTRACE_EVENT_STOP (PTRACE_INTERRUPT, or the
	// first stop of an auto-attached child of a seized tracee).
	interrupt bool
	// syscallStops says the tracer last resumed the task with
	// PTRACE_SYSCALL, singlestep with PTRACE_SINGLESTEP.
	syscallStops bool
	singlestep   bool
	// stopped says the task is in a ptrace-stop: its goroutine is parked
	// in the PtraceStop call, so the tracer may use its registers and
	// memory.
	stopped bool
	// siginfo is the signal of the current signal-delivery-stop
	// (haveSiginfo), for PTRACE_GETSIGINFO and PTRACE_SETSIGINFO.
	siginfo     linux.SignalInfo
	haveSiginfo bool
	// eventMsg is PTRACE_GETEVENTMSG's value.
	eventMsg uint64
	// stopGen numbers the task's ptrace-stops (PtraceStop.gen).
	stopGen uint64
	// groupStop is the resume channel of the process's group stop the
	// task last reported to its tracer (ptraceGroupStop).
	groupStop <-chan struct{}
}

// reconcilePtrace sets every task's tracer and options from its thread
// record in the replay log after a recovery: a PtraceUpdate push lost
// with the server whose record arrived must still take effect.
func (c *client) reconcilePtrace(rl *replaylog.Log) {
	c.mu.Lock()
	tasks := make([]*task, 0, len(c.tasks))
	for _, t := range c.tasks {
		tasks = append(tasks, t)
	}
	c.mu.Unlock()
	for _, t := range tasks {
		rec := rl.Record(statekey.Thread(t.tid)).GetThread()
		if rec == nil {
			continue
		}
		ps := rec.GetPtrace()
		t.mu.Lock()
		if ps == nil {
			t.trace.tracer = 0
		} else {
			t.trace.tracer, t.trace.options, t.trace.seized = ps.Tracer, ps.Options, ps.Seized
			c.ptraceUsed.Store(true)
		}
		t.mu.Unlock()
	}
}

// onPtraceUpdate applies a PtraceUpdate push. One for a thread the
// client has not started yet (an auto-attached child) waits with its
// early pushes.
func (c *client) onPtraceUpdate(p *pb.Push) {
	m := p.GetPtrace()
	if m.Tracer != 0 {
		c.ptraceUsed.Store(true) // childwait.go
	}
	c.mu.Lock()
	t := c.tasks[m.Tid]
	if t == nil {
		c.early[m.Tid] = append(c.early[m.Tid], p)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	t.applyPtraceUpdate(m)
}

// applyPtraceUpdate sets t's relation from m.
func (t *task) applyPtraceUpdate(m *pb.PtraceUpdate) {
	t.mu.Lock()
	defer t.mu.Unlock()
	newTracer := m.Tracer != 0 && t.trace.tracer != m.Tracer
	t.trace.tracer, t.trace.options, t.trace.seized = m.Tracer, m.Options, m.Seized
	if m.Tracer == 0 {
		t.trace.syscallStops, t.trace.interrupt, t.trace.singlestep = false, false, false
		t.trace.groupStop = nil
		return
	}
	if newTracer {
		// A task parked in a group stop reports it to its new tracer.
		t.trace.groupStop = nil
		if t.proc.stop.stopped.Load() {
			t.notifyLocked()
		}
	}
	if m.Interrupt {
		t.trace.interrupt = true
		t.notifyLocked()
	}
}

// ptraceTracer returns t's tracer's TID (0: not traced) and options.
func (t *task) ptraceTracer() (int32, uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trace.tracer, t.trace.options
}

// ptraceStop enters a ptrace-stop with wait status status and waits for
// the tracer to end it. It returns nil if t is not traced or was killed
// in the stop; otherwise the tracer's resume request.
func (t *task) ptraceStop(status int32, info *linux.SignalInfo, msg uint64) *pb.PtraceResume {
	// The tracer reads the complete register state.
	if err := t.pctx.PullFullState(t.mm.AddressSpace(), t.ac); err != nil {
		t.c.log.Warn("cannot pull thread state for a ptrace-stop", "tid", t.tid, "err", err)
	}
	t.mu.Lock()
	if t.trace.tracer == 0 || t.killed {
		t.mu.Unlock()
		return nil
	}
	t.trace.stopGen++
	gen := t.trace.stopGen
	t.trace.stopped = true
	t.trace.interrupt = false
	t.trace.haveSiginfo = info != nil
	if info != nil {
		t.trace.siginfo = *info
	}
	t.trace.eventMsg = msg
	// Not stateForwarding: a signal must not interrupt a ptrace-stop.
	t.state = stateBlocked
	t.mu.Unlock()
	start := cpuNow()
	reply, err := t.c.conn.Call(t.c.ctx, &pb.Call{Tid: t.tid, Op: &pb.Call_PtraceStop{PtraceStop: &pb.PtraceStop{Gen: gen, WaitStatus: status}}})
	t.waited(start)
	t.mu.Lock()
	t.trace.stopped = false
	t.state = stateKernel
	t.mu.Unlock()
	// The tracer may have changed any register.
	t.pctx.FullStateChanged()
	if err != nil {
		t.kill()
		return nil
	}
	if ex := reply.GetExit(); ex != nil {
		t.applyExit(ex)
		return nil
	}
	res := reply.GetPtraceResume()
	if res == nil {
		t.c.log.Warn("ptrace-stop failed", "tid", t.tid, "errno", reply.Errno)
		return nil
	}
	t.mu.Lock()
	t.trace.syscallStops = res.Request == linux.PTRACE_SYSCALL && !res.Detached
	t.trace.singlestep = res.Request == linux.PTRACE_SINGLESTEP && !res.Detached
	if res.Detached {
		t.trace.tracer = 0
	}
	t.mu.Unlock()
	return res
}

// ptraceGroupStop reports the group stop of t's process, whose resume
// channel is resume, to t's tracer as a ptrace-stop, once per group stop.
// It returns true if the tracer then let t run: a tracer's PTRACE_CONT
// runs a tracee although its group stays stopped, as on Linux. It
// returns false if t is not traced, or its tracer detached (t then stays
// in the group stop).
func (t *task) ptraceGroupStop(resume <-chan struct{}) bool {
	t.mu.Lock()
	traced, seized, seen := t.trace.tracer != 0, t.trace.seized, t.trace.groupStop == resume
	if traced && !seen {
		t.trace.groupStop = resume
	}
	t.mu.Unlock()
	if !traced {
		return false
	}
	if seen {
		return true
	}
	t.proc.mu.Lock()
	sig := linux.Signal(t.proc.stop.sig)
	t.proc.mu.Unlock()
	if sig == 0 {
		sig = linux.SIGSTOP
	}
	event := 0
	if seized {
		event = linux.PTRACE_EVENT_STOP
	}
	res := t.ptraceStop(ptraceStopStatus(sig, event), nil, 0)
	if res == nil || res.Detached {
		return false
	}
	if res.Request == linux.PTRACE_LISTEN {
		// The tracee stays in the group stop, out of its ptrace-stop,
		// and traps again (PTRACE_EVENT_STOP, SIGTRAP) when the group
		// stop ends.
		if !t.waitResume(resume) {
			return false
		}
		res = t.ptraceStop(ptraceStopStatus(linux.SIGTRAP, linux.PTRACE_EVENT_STOP), nil, 0)
		if res == nil || res.Detached {
			return false
		}
	}
	t.ptraceInject(res.Signo)
	return true
}

// waitResume waits until resume is closed; false if t is killed first.
func (t *task) waitResume(resume <-chan struct{}) bool {
	for {
		t.mu.Lock()
		if t.killed {
			t.mu.Unlock()
			return false
		}
		t.state = stateBlocked
		t.mu.Unlock()
		select {
		case <-resume:
			t.setState(stateKernel)
			return true
		case <-t.wake:
			t.setState(stateKernel)
		}
	}
}

// ptraceBeforeSwitch sets the trap flag when the tracer resumed t with
// PTRACE_SINGLESTEP, so the CPU traps (SIGTRAP, a signal-delivery-stop)
// after one instruction. It returns whether ptraceAfterSwitch must clear
// the flag again (the application may have set it itself).
func (t *task) ptraceBeforeSwitch() (clear bool) {
	t.mu.Lock()
	step := t.trace.singlestep && t.trace.tracer != 0
	t.mu.Unlock()
	if !step {
		return false
	}
	clear = !t.ac.SingleStep()
	t.ac.SetSingleStep()
	return clear
}

// ptraceSyscallStep reports the single-step trap right after a system
// call, as Linux does for a task single-stepped over a syscall
// instruction: the call was the sentry's, so the CPU took no trap.
func (t *task) ptraceSyscallStep() {
	t.mu.Lock()
	step := t.trace.singlestep && t.trace.tracer != 0 && !t.killed
	t.mu.Unlock()
	if step {
		info := linux.SignalInfo{Signo: int32(linux.SIGTRAP), Code: 1} // TRAP_BRKPT
		t.ptraceSyncSignal(&info)
	}
}

// ptraceAfterSwitch clears the trap flag ptraceBeforeSwitch set.
func (t *task) ptraceAfterSwitch(clear bool) {
	if clear {
		t.ac.ClearSingleStep()
	}
}

// ptraceStopStatus is the wait status of a ptrace-stop of sig with event.
func ptraceStopStatus(sig linux.Signal, event int) int32 {
	return int32(sig)<<8 | int32(event)<<16 | 0x7f
}

// ptraceCheckInterrupt enters the PTRACE_EVENT_STOP asked for by
// PTRACE_INTERRUPT (or a seized tracee's auto-attach), before t next runs
// application code.
func (t *task) ptraceCheckInterrupt() {
	t.mu.Lock()
	want := t.trace.interrupt && t.trace.tracer != 0
	t.mu.Unlock()
	if want {
		t.ptraceStop(ptraceStopStatus(linux.SIGTRAP, linux.PTRACE_EVENT_STOP), nil, 0)
	}
}

// ptraceEvent enters the stop of PTRACE_EVENT_* event if t's tracer asked
// for it with option.
func (t *task) ptraceEvent(option uint32, event int, msg uint64) {
	if tracer, opts := t.ptraceTracer(); tracer != 0 && opts&option != 0 {
		t.ptraceStop(ptraceStopStatus(linux.SIGTRAP, event), nil, msg)
	}
}

// ptraceSyscallTraced says the tracer resumed t with PTRACE_SYSCALL, so
// its next system call stops at entry and exit.
func (t *task) ptraceSyscallTraced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trace.tracer != 0 && t.trace.syscallStops
}

// ptraceSyscallStop enters a syscall-enter or syscall-exit stop.
// It returns false if t is no longer traced with syscall stops.
func (t *task) ptraceSyscallStop() bool {
	_, opts := t.ptraceTracer()
	sig := linux.SIGTRAP
	if opts&linux.PTRACE_O_TRACESYSGOOD != 0 {
		sig |= 0x80
	}
	res := t.ptraceStop(ptraceStopStatus(sig, 0), nil, 0)
	if res == nil {
		return false
	}
	t.ptraceInject(res.Signo)
	return res.Request == linux.PTRACE_SYSCALL && !res.Detached
}

// ptraceSyscallEnter is the syscall-enter stop of t's system call: the
// tracer sees rax -ENOSYS and orig_rax the call, and may change both and
// the arguments. It returns the call to make, or skip when the tracer
// made orig_rax -1 (rax is then the call's result).
func (t *task) ptraceSyscallEnter() (sysno uintptr, args [6]uint64, skip bool) {
	t.ac.SetReturn(negErrno(unix.ENOSYS))
	t.ptraceSyscallStop()
	sysno = t.ac.SyscallNo()
	r := &t.ac.StateData().Regs
	args = [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
	return sysno, args, int64(r.Orig_rax) < 0
}

// ptraceSyscallExit is the syscall-exit stop, if the tracer still wants
// it (PTRACE_SYSCALL at the enter stop) and t lives.
func (t *task) ptraceSyscallExit() {
	if !t.isKilled() && t.ptraceSyscallTraced() {
		t.ptraceSyscallStop()
	}
}

// ptraceBeforeCall enters the PTRACE_EVENT_EXIT stop before an exit.
func (t *task) ptraceBeforeCall(sysno uintptr, args [6]uint64) {
	if sysno == unix.SYS_EXIT || sysno == unix.SYS_EXIT_GROUP {
		t.ptraceEvent(linux.PTRACE_O_TRACEEXIT, linux.PTRACE_EVENT_EXIT, (args[0]&0xff)<<8)
	}
}

// ptraceAfterCall enters the event stop of a clone (the new TID in the
// event message) or an exec (the former TID) that succeeded.
func (t *task) ptraceAfterCall(sysno uintptr, args [6]uint64, ret uint64, errno unix.Errno, oldTID int32) {
	if errno != 0 {
		return
	}
	switch sysno {
	case unix.SYS_CLONE, unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_CLONE3:
		flags := args[0]
		switch sysno {
		case unix.SYS_FORK:
			flags = uint64(unix.SIGCHLD)
		case unix.SYS_VFORK:
			flags = unix.CLONE_VFORK | unix.CLONE_VM | uint64(unix.SIGCHLD)
		case unix.SYS_CLONE3:
			flags = t.callMemo.cloneFlags
		}
		switch {
		case flags&unix.CLONE_VFORK != 0:
			// Both after the child released the parent: the client
			// waits for it inside the call (applyClone).
			t.ptraceEvent(linux.PTRACE_O_TRACEVFORK, linux.PTRACE_EVENT_VFORK, ret)
			t.ptraceEvent(linux.PTRACE_O_TRACEVFORKDONE, linux.PTRACE_EVENT_VFORK_DONE, ret)
		case flags&unix.CLONE_THREAD == 0 && flags&0xff == uint64(unix.SIGCHLD):
			t.ptraceEvent(linux.PTRACE_O_TRACEFORK, linux.PTRACE_EVENT_FORK, ret)
		default:
			t.ptraceEvent(linux.PTRACE_O_TRACECLONE, linux.PTRACE_EVENT_CLONE, ret)
		}
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT:
		if t.noReturn && !t.isKilled() {
			t.ptraceEvent(linux.PTRACE_O_TRACEEXEC, linux.PTRACE_EVENT_EXEC, uint64(oldTID))
		}
	}
}

// ptraceSeccompTrace is the hook for a seccomp filter's SECCOMP_RET_TRACE
// with data (the low 16 bits of the action): if t's tracer asked for
// PTRACE_O_TRACESECCOMP, t enters the PTRACE_EVENT_SECCOMP stop (the
// tracer may change or skip the call, as at a syscall-enter stop) and it
// returns true; without such a tracer it returns false, and the caller
// fails the call with ENOSYS, as Linux does.
func (t *task) ptraceSeccompTrace(data uint16) bool {
	tracer, opts := t.ptraceTracer()
	if tracer == 0 || opts&linux.PTRACE_O_TRACESECCOMP == 0 {
		return false
	}
	t.ac.SetReturn(negErrno(unix.ENOSYS))
	res := t.ptraceStop(ptraceStopStatus(linux.SIGTRAP, linux.PTRACE_EVENT_SECCOMP), nil, uint64(data))
	if res != nil {
		t.ptraceInject(res.Signo)
	}
	return true
}

// ptraceInject sends t the signal sig its tracer gave when it ended a
// syscall or event stop (Linux's ptrace_resume with data), as a
// signal-delivery-stop would deliver it.
func (t *task) ptraceInject(sig int32) {
	if sig <= 0 || sig > linux.SignalMaximum {
		return
	}
	info := linux.SignalInfo{Signo: sig, Code: linux.SI_USER}
	t.ptraceDeliver(&info, nil)
}

// ptraceSignalStop is the signal-delivery-stop of qs: the tracer sees it
// and decides which signal (if any) is delivered. It returns the signal
// to deliver through its handler; ok is false if there is none (dropped,
// or handed to the server for its default action).
func (t *task) ptraceSignalStop(qs queuedSignal) (queuedSignal, bool) {
	sig := linux.Signal(qs.info.Signo)
	res := t.ptraceStop(ptraceStopStatus(sig, 0), &qs.info, 0)
	if res == nil {
		if t.isKilled() {
			return qs, false
		}
		return qs, true // no longer traced: delivered as it was
	}
	t.mu.Lock()
	info := t.trace.siginfo // PTRACE_SETSIGINFO may have changed it
	t.mu.Unlock()
	if res.Signo == 0 {
		return qs, false
	}
	act := &qs.act
	if res.Signo != int32(sig) {
		// Linux: a changed signal gets a new siginfo from the tracer.
		info = linux.SignalInfo{Signo: res.Signo, Code: linux.SI_USER}
		act = nil
	}
	return t.ptraceDeliver(&info, act)
}

// ptraceDeliver delivers a signal the tracer let through (act nil: the
// server is asked for its disposition): a handler runs, or it stays
// pending if blocked; a default action or ignoring is the server's, sent
// as a Fault (which applies it without a second signal-delivery-stop).
func (t *task) ptraceDeliver(info *linux.SignalInfo, act *linux.SigAction) (queuedSignal, bool) {
	sig := linux.Signal(info.Signo)
	if act == nil {
		a, ok := t.sigactionOf(sig)
		if !ok {
			return queuedSignal{}, false
		}
		act = &a
	}
	qs := queuedSignal{info: *info, act: *act}
	switch act.Handler {
	case linux.SIG_IGN:
		return qs, false
	case linux.SIG_DFL:
		if defaultIgnored&linux.SignalSetOf(sig) == 0 {
			t.reportFault(info, false)
		}
		return qs, false
	}
	t.mu.Lock()
	blocked := t.mask&linux.SignalSetOf(sig) != 0
	if blocked {
		t.pending = append(t.pending, qs)
	}
	t.mu.Unlock()
	return qs, !blocked
}

// sigactionOf asks the server for sig's disposition in t's process.
func (t *task) sigactionOf(sig linux.Signal) (linux.SigAction, bool) {
	var act linux.SigAction
	reply := t.forwardInternal(unix.SYS_RT_SIGACTION, [6]uint64{uint64(sig), 0, scratchAddr, 8}, nil)
	if reply == nil || reply.Errno != 0 {
		return act, false
	}
	buf := make([]byte, act.SizeBytes())
	for _, o := range reply.Outputs {
		if o.Addr >= scratchAddr && o.Addr < scratchAddr+uint64(len(buf)) {
			copy(buf[o.Addr-scratchAddr:], o.Data)
		}
	}
	act.UnmarshalBytes(buf)
	return act, true
}

// ptraceSyncSignal is the signal-delivery-stop of a synchronous signal
// (a fault) of a traced task. It returns false if the tracer took the
// signal over (suppressed, or delivered here).
func (t *task) ptraceSyncSignal(info *linux.SignalInfo) bool {
	res := t.ptraceStop(ptraceStopStatus(linux.Signal(info.Signo), 0), info, 0)
	if res == nil {
		return !t.isKilled()
	}
	if res.Signo == 0 {
		return false // the faulting instruction runs again
	}
	t.mu.Lock()
	ni := t.trace.siginfo
	t.mu.Unlock()
	if res.Signo != info.Signo {
		ni = linux.SignalInfo{Signo: res.Signo, Code: linux.SI_USER}
	}
	if qs, ok := t.ptraceDeliver(&ni, nil); ok {
		t.deliver(qs)
	}
	return false
}

// sysPtrace serves the requests on a stopped tracee's registers and
// memory; the others go to the server.
func sysPtrace(t *task, a [6]uint64) (uint64, unix.Errno) {
	t.c.ptraceUsed.Store(true)
	switch req := int64(a[0]); req {
	case linux.PTRACE_PEEKTEXT, linux.PTRACE_PEEKDATA, linux.PTRACE_PEEKUSR,
		linux.PTRACE_POKETEXT, linux.PTRACE_POKEDATA, linux.PTRACE_POKEUSR,
		linux.PTRACE_GETREGS, linux.PTRACE_SETREGS, linux.PTRACE_GETFPREGS, linux.PTRACE_SETFPREGS,
		linux.PTRACE_GETREGSET, linux.PTRACE_SETREGSET,
		linux.PTRACE_GETSIGINFO, linux.PTRACE_SETSIGINFO, linux.PTRACE_GETEVENTMSG,
		linux.PTRACE_GETSIGMASK, linux.PTRACE_SETSIGMASK:
		return t.ptraceLocal(req, int32(a[1]), a[2], a[3])
	}
	return t.forward(unix.SYS_PTRACE, a)
}

// ptraceLocal serves request req on tracee tid, which must be stopped
// and traced by t (else ESRCH, as Linux's ptrace_check_attach).
func (t *task) ptraceLocal(req int64, tid int32, addr, data uint64) (uint64, unix.Errno) {
	tt := t.c.lookupTask(tid)
	if tt == nil {
		return 0, unix.ESRCH
	}
	tt.mu.Lock()
	ok := tt.trace.tracer == t.tid && tt.trace.stopped && !tt.killed
	m := tt.mm
	if ok && (m == nil || !m.IncUsers()) {
		ok = false
	}
	tt.mu.Unlock()
	if !ok {
		return 0, unix.ESRCH
	}
	// The tracee's goroutine is parked in its stop, which only this
	// thread's requests or a SIGKILL end; its mm is held for the access.
	defer m.DecUsers(t.gctx)
	switch req {
	case linux.PTRACE_PEEKTEXT, linux.PTRACE_PEEKDATA:
		var w [8]byte
		if _, err := m.CopyIn(tt.gctx, hostarch.Addr(addr), w[:], usermem.IOOpts{IgnorePermissions: true}); err != nil {
			return 0, unix.EIO
		}
		return 0, t.copyOutErrno(data, w[:])
	case linux.PTRACE_POKETEXT, linux.PTRACE_POKEDATA:
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], data)
		if _, err := m.CopyOut(tt.gctx, hostarch.Addr(addr), w[:], usermem.IOOpts{IgnorePermissions: true}); err != nil {
			return 0, unix.EIO
		}
		return 0, 0
	case linux.PTRACE_PEEKUSR:
		v, err := tt.ac.PtracePeekUser(uintptr(addr))
		if err != nil {
			return 0, unix.EIO
		}
		b := make([]byte, v.SizeBytes())
		v.MarshalBytes(b)
		return 0, t.copyOutErrno(data, b)
	case linux.PTRACE_POKEUSR:
		if err := tt.ac.PtracePokeUser(uintptr(addr), uintptr(data)); err != nil {
			return 0, unix.EIO
		}
		return 0, 0
	case linux.PTRACE_GETREGS:
		var b bytes.Buffer
		if _, err := tt.ac.PtraceGetRegs(&b); err != nil {
			return 0, unix.EIO
		}
		return 0, t.copyOutErrno(data, b.Bytes())
	case linux.PTRACE_SETREGS:
		b := make([]byte, (*linux.PtraceRegs)(nil).SizeBytes())
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(data), b, usermem.IOOpts{}); err != nil {
			return 0, unix.EFAULT
		}
		if _, err := tt.ac.PtraceSetRegs(bytes.NewReader(b)); err != nil {
			return 0, unix.EIO
		}
		return 0, 0
	case linux.PTRACE_GETFPREGS, linux.PTRACE_SETFPREGS:
		return 0, t.ptraceRegSet(tt, req == linux.PTRACE_SETFPREGS, linux.NT_PRFPREG, data, 512)
	case linux.PTRACE_GETREGSET, linux.PTRACE_SETREGSET:
		var iov [16]byte
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(data), iov[:], usermem.IOOpts{}); err != nil {
			return 0, unix.EFAULT
		}
		base, n := binary.LittleEndian.Uint64(iov[:8]), binary.LittleEndian.Uint64(iov[8:])
		if n > 1<<20 {
			n = 1 << 20
		}
		if req == linux.PTRACE_SETREGSET {
			return 0, t.ptraceRegSet(tt, true, uintptr(addr), base, int(n))
		}
		var b bytes.Buffer
		if _, err := tt.ac.PtraceGetRegSet(uintptr(addr), &b, int(n), cpuid.HostFeatureSet()); err != nil {
			return 0, toErrno(err)
		}
		if e := t.copyOutErrno(base, b.Bytes()); e != 0 {
			return 0, e
		}
		binary.LittleEndian.PutUint64(iov[8:], uint64(b.Len()))
		return 0, t.copyOutErrno(data+8, iov[8:])
	case linux.PTRACE_GETSIGINFO, linux.PTRACE_SETSIGINFO:
		tt.mu.Lock()
		have, info := tt.trace.haveSiginfo, tt.trace.siginfo
		tt.mu.Unlock()
		if !have {
			return 0, unix.EINVAL
		}
		b := make([]byte, sizeofSiginfo)
		if req == linux.PTRACE_GETSIGINFO {
			info.MarshalBytes(b)
			return 0, t.copyOutErrno(data, b)
		}
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(data), b, usermem.IOOpts{}); err != nil {
			return 0, unix.EFAULT
		}
		info.UnmarshalBytes(b)
		tt.mu.Lock()
		tt.trace.siginfo = info
		tt.mu.Unlock()
		return 0, 0
	case linux.PTRACE_GETSIGMASK, linux.PTRACE_SETSIGMASK:
		// addr is the size of the set, as for rt_sigprocmask.
		if addr != 8 {
			return 0, unix.EINVAL
		}
		var w [8]byte
		if req == linux.PTRACE_GETSIGMASK {
			tt.mu.Lock()
			binary.LittleEndian.PutUint64(w[:], uint64(tt.mask))
			tt.mu.Unlock()
			return 0, t.copyOutErrno(data, w[:])
		}
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(data), w[:], usermem.IOOpts{}); err != nil {
			return 0, unix.EFAULT
		}
		tt.mu.Lock()
		tt.setMaskLocked(linux.SignalSet(binary.LittleEndian.Uint64(w[:])))
		tt.mu.Unlock()
		return 0, 0
	case linux.PTRACE_GETEVENTMSG:
		tt.mu.Lock()
		msg := tt.trace.eventMsg
		tt.mu.Unlock()
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], msg)
		return 0, t.copyOutErrno(data, w[:])
	}
	return 0, unix.EIO
}

// ptraceRegSet reads (set false) or writes register set regset of tt
// from or to n bytes at addr of t's memory.
func (t *task) ptraceRegSet(tt *task, set bool, regset uintptr, addr uint64, n int) unix.Errno {
	if !set {
		var b bytes.Buffer
		if _, err := tt.ac.PtraceGetRegSet(regset, &b, n, cpuid.HostFeatureSet()); err != nil {
			return toErrno(err)
		}
		return t.copyOutErrno(addr, b.Bytes())
	}
	b := make([]byte, n)
	if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return unix.EFAULT
	}
	if _, err := tt.ac.PtraceSetRegSet(regset, bytes.NewReader(b), n, cpuid.HostFeatureSet()); err != nil {
		return toErrno(err)
	}
	return 0
}

// copyOutErrno copies b to addr of t's memory: EFAULT if it cannot.
func (t *task) copyOutErrno(addr uint64, b []byte) unix.Errno {
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return unix.EFAULT
	}
	return 0
}

// maxProcessVMIovecs bounds process_vm_readv's iovec counts (UIO_MAXIOV).
const maxProcessVMIovecs = 1024

// sysProcessVMReadv and sysProcessVMWritev copy between the caller's
// memory and another process's of this client (both address spaces are
// here). Permission is ptrace's (PTRACE_MODE_ATTACH_REALCREDS) as the
// client knows the credentials: the same real and effective ids, or
// effective uid 0 for CAP_SYS_PTRACE.
func sysProcessVMReadv(t *task, a [6]uint64) (uint64, unix.Errno) { return t.processVM(a, false) }

func sysProcessVMWritev(t *task, a [6]uint64) (uint64, unix.Errno) { return t.processVM(a, true) }

func (t *task) processVM(a [6]uint64, write bool) (uint64, unix.Errno) {
	pid, liov, liovcnt, riov, riovcnt, flags := int32(a[0]), a[1], a[2], a[3], a[4], a[5]
	if flags != 0 || liovcnt > maxProcessVMIovecs || riovcnt > maxProcessVMIovecs {
		return 0, unix.EINVAL
	}
	local, errno := t.iovecs(liov, int(liovcnt))
	if errno != 0 {
		return 0, errno
	}
	remote, errno := t.iovecs(riov, int(riovcnt))
	if errno != 0 {
		return 0, errno
	}
	// pid may name any thread, as on Linux.
	t.c.mu.Lock()
	target := t.c.processByPIDLocked(pid)
	if tt := t.c.tasks[pid]; tt != nil {
		target = tt.proc
	}
	t.c.mu.Unlock()
	if target == nil || t.exited(target.pid) {
		return 0, unix.ESRCH
	}
	if me, them := t.creds(), t.c.credsOf(target); me.euid != 0 && (me.uid != them.uid || me.uid != them.euid || me.gid != them.gid || me.gid != them.egid) {
		return 0, unix.EPERM
	}
	m := target.memoryManager()
	if m == nil {
		return 0, unix.ESRCH
	}
	defer m.DecUsers(t.gctx)
	var done uint64
	li, loff := 0, uint64(0)
	for _, r := range remote {
		for roff := uint64(0); roff < r[1]; {
			for li < len(local) && loff == local[li][1] {
				li, loff = li+1, 0
			}
			if li == len(local) {
				return done, 0
			}
			n := min(r[1]-roff, local[li][1]-loff, 1<<20)
			buf := make([]byte, n)
			src, dst := m, t.mm
			srcAddr, dstAddr := r[0]+roff, local[li][0]+loff
			if write {
				src, dst, srcAddr, dstAddr = t.mm, m, dstAddr, srcAddr
			}
			got, err := src.CopyIn(t.gctx, hostarch.Addr(srcAddr), buf, usermem.IOOpts{})
			if got > 0 {
				got, err = dst.CopyOut(t.gctx, hostarch.Addr(dstAddr), buf[:got], usermem.IOOpts{})
			}
			done += uint64(got)
			if err != nil || got == 0 {
				if done == 0 {
					return 0, unix.EFAULT
				}
				return done, 0
			}
			roff += uint64(got)
			loff += uint64(got)
		}
	}
	return done, 0
}

// iovecs reads n struct iovec at addr of t's memory as (base, len)
// pairs.
func (t *task) iovecs(addr uint64, n int) ([][2]uint64, unix.Errno) {
	if n == 0 {
		return nil, 0
	}
	b := make([]byte, 16*n)
	if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return nil, unix.EFAULT
	}
	out := make([][2]uint64, n)
	var total uint64
	for i := range out {
		out[i] = [2]uint64{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
		if total += out[i][1]; int64(total) < 0 || int64(out[i][1]) < 0 {
			return nil, unix.EINVAL
		}
	}
	return out, 0
}

// memoryManager returns p's address space with a user reference held
// (the caller drops it with DecUsers), or nil if p has none.
func (p *process) memoryManager() *mm.MemoryManager {
	for _, t := range p.liveThreads() {
		t.mu.Lock()
		m := t.mm
		ok := m != nil && m.IncUsers()
		t.mu.Unlock()
		if ok {
			return m
		}
	}
	return nil
}
