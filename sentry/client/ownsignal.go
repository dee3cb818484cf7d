package client

import (
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Signals a process sends to one of its own threads.
//
// kill of the caller's own process, and tkill and tgkill of a thread of
// it, with a signal the process catches (a handler without SA_RESETHAND)
// are answered here: the server would check nothing the client does not
// know (a process may always signal itself) and only push the signal
// back with the handler's disposition, which the client's copy of the
// signal table holds (sigactions.go). The signal is queued as a push is
// (queueSignalLocked; kill's as a process-directed one, to the thread
// takerOf picks), with the siginfo Linux gives (SI_USER or SI_TKILL, the
// caller's tgid and real uid), so a thread that signals itself takes it
// before the call returns.
// Go's runtime preempts goroutines so (SIGURG to its own threads), as
// pthread_kill and raise do; each was a round trip (LTP's signal06 makes
// 150,000). The signals of the client's CPU-time timers (ITIMER_PROF,
// ITIMER_VIRTUAL, RLIMIT_CPU's SIGXCPU, POSIX timers on CPU clocks: a
// profiler's ticks) take the same way when the process catches them.
//
// Forwarded as before: another process's thread (permissions, and its
// threads may live on another client), a disposition the server acts on
// (SIG_DFL and SIG_IGN: default actions, init's unkillable rule,
// signalfd readers; SA_RESETHAND changes the table), job-control signals
// (SIGCONT and the stop signals discard one another's pending), a traced
// target (a signal-delivery-stop goes through the server), signal 0,
// invalid arguments (the server's errors), and whatever is not known
// here (the table or the caller's ids).

// sysKill implements kill(2).
func sysKill(t *task, a [6]uint64) (uint64, unix.Errno) {
	if pid := int32(a[0]); pid > 0 && pid == t.proc.pid {
		if info, ok := t.sentSignalInfo(linux.Signal(int32(a[1])), linux.SI_USER); ok && t.queueOwnSignal(0, info) {
			return 0, 0
		}
	}
	return t.forwardWithSigmask(unix.SYS_KILL, a)
}

// sysTkill implements tkill(2).
func sysTkill(t *task, a [6]uint64) (uint64, unix.Errno) {
	tid, sig := int32(a[0]), linux.Signal(int32(a[1]))
	if target := t.otherThread(tid); target != nil && t.c.sigpendingFull(target.proc, sig, linux.SI_TKILL) {
		return 0, unix.EAGAIN
	}
	if t.signalOwnThread(tid, sig) {
		return 0, 0
	}
	return t.forwardWithSigmask(unix.SYS_TKILL, a)
}

// sysTgkill implements tgkill(2).
func sysTgkill(t *task, a [6]uint64) (uint64, unix.Errno) {
	tgid, tid, sig := int32(a[0]), int32(a[1]), linux.Signal(int32(a[2]))
	if target := t.otherThread(tid); target != nil && target.proc.pid == tgid && t.c.sigpendingFull(target.proc, sig, linux.SI_TKILL) {
		return 0, unix.EAGAIN
	}
	if tgid == t.proc.pid && t.signalOwnThread(tid, sig) {
		return 0, 0
	}
	return t.forwardWithSigmask(unix.SYS_TGKILL, a)
}

// sysRtSigqueueinfo implements rt_sigqueueinfo(2) and
// rt_tgsigqueueinfo(2) (sysno): forwarded, after RLIMIT_SIGPENDING's
// check for a target this client runs (rt_sigqueueinfo's pid names the
// process by any of its threads).
func sysRtSigqueueinfo(sysno uintptr) localHandler {
	return func(t *task, a [6]uint64) (uint64, unix.Errno) {
		target, sig, infoAddr := t.otherThread(int32(a[0])), linux.Signal(int32(a[1])), a[2]
		if sysno == unix.SYS_RT_TGSIGQUEUEINFO {
			target, sig, infoAddr = t.otherThread(int32(a[1])), linux.Signal(int32(a[2])), a[3]
			if target != nil && target.proc.pid != int32(a[0]) {
				target = nil
			}
		}
		var code [4]byte
		if target != nil && t.copyIn(infoAddr+8, code[:]) == 0 &&
			t.c.sigpendingFull(target.proc, sig, int32(hostarch.ByteOrder.Uint32(code[:]))) {
			return 0, unix.EAGAIN
		}
		return t.forwardWithSigmask(sysno, a)
	}
}

// sigpendingFull says a signal sig with si_code code may not be queued
// for process p: RLIMIT_SIGPENDING (Linux's __sigqueue_alloc and
// __send_signal_locked) refuses a real-time signal whose si_code is
// negative (tkill, sigqueue: EAGAIN) once the signals pending for p's
// real user would pass p's limit. The count is of the signals this
// client holds pending (the sandbox's processes live here; a push on
// its way is not counted yet).
func (c *client) sigpendingFull(p *process, sig linux.Signal, code int32) bool {
	if !sig.IsRealtime() || code >= 0 {
		return false
	}
	lim := p.limits.Get(limits.SignalsPending).Cur
	if lim == limits.Infinity {
		return false
	}
	pending, ok := c.userSignalsQueued(p)
	return ok && pending+1 > lim
}

// userSignalsQueued counts the signals this client holds queued for the
// threads of p's real user (Linux's user_struct sigpending, which
// RLIMIT_SIGPENDING bounds and /proc/<pid>/status's SigQ shows); false
// if p's ids are not known. A push on its way is not counted yet.
func (c *client) userSignalsQueued(p *process) (uint64, bool) {
	ids, ok := c.ids.get(p.pid)
	if !ok {
		return 0, false
	}
	c.mu.Lock()
	tasks := make([]*task, 0, len(c.tasks))
	for _, o := range c.tasks {
		tasks = append(tasks, o)
	}
	c.mu.Unlock()
	pending := uint64(0)
	for _, o := range tasks {
		if oids, ok := c.ids.get(o.proc.pid); !ok || oids.ruid != ids.ruid {
			continue
		}
		o.mu.Lock()
		pending += uint64(len(o.pending))
		o.mu.Unlock()
	}
	return pending, true
}

// jobControlSignals are the signals whose generation changes the
// process's job-control state (the server's jobControlOnSignalLocked).
var jobControlSignals = linux.MakeSignalSet(linux.SIGCONT, linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU)

// signalOwnThread queues sig, from t, in thread tid of t's process and
// returns true, or returns false having done nothing when the call must
// go to the server (see above).
func (t *task) signalOwnThread(tid int32, sig linux.Signal) bool {
	if tid <= 0 {
		return false
	}
	info, ok := t.sentSignalInfo(sig, linux.SI_TKILL)
	return ok && t.queueOwnSignal(tid, info)
}

// sentSignalInfo is the siginfo of sig sent by t with code (SI_USER,
// SI_TKILL): t's tgid and real uid, if known.
func (t *task) sentSignalInfo(sig linux.Signal, code int32) (linux.SignalInfo, bool) {
	var info linux.SignalInfo
	ids, ok := t.ownIDs()
	if !ok || ids.zombie || !sig.IsValid() {
		return info, false
	}
	info.Signo = int32(sig)
	info.Code = code
	info.SetPID(t.proc.pid)
	info.SetUID(int32(ids.ruid))
	return info, true
}

// sendOwnSignal sends info, a signal the kernel raises in t's process
// (a timer's, SIGXCPU's), to thread tid (0: the process): queued here if
// queueOwnSignal can, else by the server's rt_(tg)sigqueueinfo with the
// same siginfo.
func (t *task) sendOwnSignal(tid int32, info linux.SignalInfo) {
	if t.queueOwnSignal(tid, info) {
		return
	}
	b := make([]byte, sizeofSiginfo)
	info.MarshalBytes(b)
	inputs := []*pb.Region{{Addr: scratchAddr, Data: b}}
	if tid != 0 {
		t.forwardInternal(unix.SYS_RT_TGSIGQUEUEINFO, [6]uint64{uint64(t.proc.pid), uint64(tid), uint64(info.Signo), scratchAddr}, inputs)
		return
	}
	t.forwardInternal(unix.SYS_RT_SIGQUEUEINFO, [6]uint64{uint64(t.proc.pid), uint64(info.Signo), scratchAddr}, inputs)
}

// queueOwnSignal queues info, a signal of t's process to itself, in
// thread tid (0: the process, in the thread takerOf picks, as a
// process-directed push) and returns true, or returns false having done
// nothing when the signal must go through the server (see above).
func (t *task) queueOwnSignal(tid int32, info linux.SignalInfo) bool {
	sig := linux.Signal(info.Signo)
	if !sig.IsValid() || jobControlSignals&linux.SignalSetOf(sig) != 0 {
		return false
	}
	act, ok := t.c.sigs.action(t.proc.pid, sig)
	if !ok || act.Handler == linux.SIG_DFL || act.Handler == linux.SIG_IGN || act.Flags&linux.SA_RESETHAND != 0 {
		return false
	}
	var target *task
	if tid == 0 {
		target = t.proc.takerOf(sig, t)
	} else if target = t.c.lookupTask(tid); target == nil || target.proc != t.proc {
		return false
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.killed || target.cleanedUp || target.trace.tracer != 0 {
		return false
	}
	target.queueSignalLocked(queuedSignal{info: info, act: act}, true)
	return true
}
