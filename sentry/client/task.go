package client

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/errors/linuxerr"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/arch"
	"gvisor.dev/gvisor/pkg/sentry/kernel/auth"
	"gvisor.dev/gvisor/pkg/sentry/kernel/futex"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// creds are a process's credentials as the server last reported them.
type creds struct {
	uid, gid, euid, egid uint32
}

// process is the client's view of one thread group: just what the client
// needs locally (limits, credentials, its threads for group exit).
type process struct {
	pid    int32
	limits *limits.LimitSet

	mu sync.Mutex
	// threads are the live threads. Protected by mu.
	threads map[int32]*task
	// creds. Protected by mu.
	creds creds
	// personality(2) value. Protected by mu.
	personality uint32
	// dumpable is prctl(PR_GET_DUMPABLE). Protected by mu.
	dumpable uint64
	// membarrierRegs are the membarrier(2) registrations of its address
	// space (membarrier.go). Atomic.
	membarrierRegs atomic.Uint32
	// noNewPrivs is prctl(PR_GET_NO_NEW_PRIVS). Protected by mu.
	noNewPrivs bool
	// timerOverrun is the overrun of the last delivered signal of each
	// POSIX timer (timers.go). Protected by mu.
	timerOverrun map[linux.TimerID]int32
	// exitedUserNS and exitedSysNS are the CPU times of the process's
	// exited threads (cputime.go). Atomic.
	exitedUserNS, exitedSysNS atomic.Int64
	// childUserNS and childSysNS are the CPU times of its reaped
	// children (childtimes.go). Atomic.
	childUserNS, childSysNS atomic.Int64
	// retiredIO is the read and write accounting of its exited threads
	// and its reaped children (ioacct.go).
	retiredIO ioAcct
	// maxRSSKB is the peak resident set of the address spaces the
	// process left (exec, its threads' exits), childMaxRSSKB the largest
	// of its reaped children's (maxrss.go). Atomic.
	maxRSSKB, childMaxRSSKB atomic.Uint64
	// cpuTimers are ITIMER_VIRTUAL and ITIMER_PROF (cputimers.go);
	// cpuTicking says a ticker runs for them. Protected by mu.
	cpuTimers  [2]cpuTimer
	cpuTicking bool
	// cpuPosixTimers are the POSIX timers on CPU-time clocks, by id
	// (cpuposixtimers.go). Protected by mu.
	cpuPosixTimers map[int32]*cpuPosixTimer
	// cpuTimersArmed says a CPU timer (interval or POSIX) is armed.
	// Atomic; written under mu.
	cpuTimersArmed atomic.Bool
	// stop is the process's group stop (jobctl.go). Its fields say who
	// changes them.
	stop stopState
	// dumper is the thread that writes the process's core, once one
	// does; dumping is set when it starts (coredump.go). Atomic.
	dumper  atomic.Pointer[task]
	dumping atomic.Bool
	// dontDump are the ranges madvise(MADV_DONTDUMP) marked (Linux's
	// VM_DONTDUMP, which gVisor's mm does not keep), sorted and apart
	// (dontdump.go). Protected by mu.
	dontDump []hostarch.AddrRange
	// callOrder orders a thread's answers and posts against the calls
	// the process's other threads send (threadorder.go): fdRemovals
	// counts such calls in flight that may remove an fd, offsetCalls, by
	// description, those that may move its offset (offsetBegun those
	// begun while some were in flight: an entry goes when its count of
	// calls in flight does), otherCalls those not neutral, fdCalls, by
	// fd, the neutral ones naming an fd. Protected by callOrder (held
	// while an answer is checked and posted; doc.go's lock order).
	callOrder   sync.Mutex
	fdRemovals  int
	offsetCalls map[uint64]int
	offsetBegun map[uint64]uint64
	otherCalls  int
	fdCalls     map[int32]int
}

// liveThreads returns a snapshot of p's live threads (for work that
// takes their locks, never taken under p.mu).
func (p *process) liveThreads() []*task {
	p.mu.Lock()
	defer p.mu.Unlock()
	threads := make([]*task, 0, len(p.threads))
	for _, t := range p.threads {
		threads = append(threads, t)
	}
	return threads
}

func newProcess(pid int32, ls *limits.LimitSet, cr creds) *process {
	p := &process{pid: pid, limits: ls, threads: make(map[int32]*task), creds: cr, dumpable: 1}
	// An inherited RLIMIT_CPU is checked from the start (cputimers.go).
	p.cpuTimersArmed.Store(ls.Get(limits.CPU).Cur != limits.Infinity)
	return p
}

func (p *process) getCreds() creds {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.creds
}

// defaultLimits are a root process's limits unless told otherwise:
// gVisor's distro defaults, with RLIMIT_SIGPENDING the host's (Linux
// derives it from the machine's memory; gVisor's table says 0, which
// refuses every queued real-time signal: ownsignal.go).
func defaultLimits() *limits.LimitSet {
	ls, err := limits.NewLinuxDistroLimitSet()
	if err != nil {
		panic(err)
	}
	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &host); err == nil {
		ls.SetUnchecked(limits.SignalsPending, limits.Limit{Cur: limits.FromLinux(host.Cur), Max: limits.FromLinux(host.Max)})
	}
	return ls
}

type taskState int

const (
	// stateKernel: running client code that does not block.
	stateKernel taskState = iota
	// stateApp: inside platform.Context.Switch.
	stateApp
	// stateBlocked: in a local blocking wait (woken through task.wake).
	stateBlocked
	// stateForwarding: waiting for a forwarded call's reply.
	stateForwarding
)

// queuedSignal is a signal pushed by the server, waiting for delivery.
type queuedSignal struct {
	info linux.SignalInfo
	act  linux.SigAction
}

// task is one application thread.
//
// Fields without a "Protected by" note are owned by the task goroutine
// (and by its creator before it starts).
type task struct {
	c    *client
	tid  int32
	proc *process

	// mm is the address space. Changed by the task goroutine under mu
	// (exec, exit); others read it under mu (ProcQuery).
	mm      *mm.MemoryManager
	futexes *futex.Manager
	ac      *arch.Context64
	pctx    gvplatform.Context
	gctx    *platform.Context

	// clearTID is set_tid_address / CLONE_CHILD_CLEARTID.
	clearTID hostarch.Addr
	// robustList is set_robust_list's head. Atomic: another thread's
	// get_robust_list reads it.
	robustList atomic.Uint64
	// name is the thread's comm (prctl PR_SET_NAME, /proc/<pid>/comm).
	// Protected by mu.
	name string
	// vforkDone is closed when this vfork child execs or exits.
	vforkDone chan struct{}
	// restartErrno is the restart code the last syscall returned, applied
	// on the next return to the application.
	restartErrno unix.Errno
	// restartBlock continues an interrupted local sleep (restart_syscall).
	restartBlock func(t *task) (uint64, unix.Errno)
	// noReturn says the last syscall set the registers itself
	// (rt_sigreturn, execve).
	noReturn bool
	// posted says the current call was posted (not waited for; --strace
	// shows it). Owned by the task goroutine.
	posted bool
	// forwarded says the current call went to the server (a local
	// handler may forward what it cannot answer; --strace shows it).
	// Owned by the task goroutine.
	forwarded bool
	// mmapPlanned is the plan applyMmap mapped for the current
	// forwarded mmap (zero: none), which sysMmap keeps on the file's
	// lease (mmapreuse.go). Owned by the task goroutine.
	mmapPlanned mmapPlan
	// cached says the current call was answered from the read cache
	// (readcache.go; --strace shows it). Owned by the task goroutine.
	cached bool
	// unsent says the current call was taken back with the posted call
	// it undoes, neither sent (postopen.go, unpostOpen; --strace shows
	// it). Owned by the task goroutine.
	unsent bool
	// ownedScratch is the buffer ownedRead copies an owned copy's bytes
	// into before copying them out (the copy changes under rc.mu, which
	// a copy-out that faults must not hold), kept from call to call up
	// to maxOwnedScratch bytes. Owned by the task goroutine.
	ownedScratch []byte
	// unsentOpens are the last opens this task posted, the newest last
	// (up to maxUnsentOpens): a close of the newest one's fd may take it
	// back while it is unsent, and then the one before it is the newest
	// again (a directory find closes after its subdirectories'; postopen.go,
	// unpostOpen). Owned by the task goroutine.
	unsentOpens unsentOpens
	// lastDup is the newest dup this task posted, which a close of its
	// fd may take back (dupmove.go).
	lastDup postedDup
	// unsentUmask is the last umask this task posted, which the next
	// one may take back while it is unsent (umaskpair.go). Owned by the
	// task goroutine.
	unsentUmask unsentUmask
	// callMemo is what the current system call read of the
	// application's memory and made of it, for the handlers that ask
	// again (util.go); forgotten at each call. Owned by the task
	// goroutine.
	callMemo callMemo
	// lastPath is the path of the last key pathKeyShaped made: the next
	// key of the same path shares its string instead of allocating one
	// (a loop of stats or opens of one file). Owned by the task
	// goroutine.
	lastPath string
	// writeMem reads a write behind's data into the replay log's write
	// buffers (writebehind.go). Owned by the task goroutine.
	writeMem writeMemory
	// lastWB is the task's last write behind posted (nil: none, or not
	// one a later write may continue): the next write behind may be
	// appended to it while it is unsent (writemerge.go). Owned by the
	// task goroutine; the call's fields change only under the
	// transport's send lock while the call is queued.
	lastWB *wbCall
	// wbInputs holds a write behind's input regions while it is built
	// (writebehind.go: the posted call copies them). Owned by the task
	// goroutine.
	wbInputs [2]sysabi.Region
	// faultStreak counts synchronous faults reported with no syscall in
	// between (to force the default action eventually).
	faultStreak int
	// userNS and sysNS are the thread's CPU times; appSince is the
	// cpuNow of its entry into the application (0 outside); pendingNS is
	// its wall time in the application not yet charged from stub. Written
	// by the task goroutine, read (and pendingNS charged) by any
	// (cputime.go). Atomic.
	userNS, sysNS, appSince, pendingNS atomic.Int64
	// io is the thread's read and write accounting (ioacct.go). Written
	// by the task goroutine, read by any.
	io ioAcct
	// stub is the host CPU time source of the thread's address space (nil
	// on kvm). Set by the task goroutine (setStub) or, before the thread
	// runs, its creator. Atomic.
	stub atomic.Pointer[stubCPU]
	// placedGen and placedMM are the cpuPlacer gen and the address space
	// for which the CPUs of this task's stubs were last set (cpuplace.go).
	// Used only by the task goroutine.
	placedGen uint64
	placedMM  *mm.MemoryManager
	// waitedNS is how long the current system call waited; waitedSeq is
	// the seq of the last call it waited for (--strace pairs it with the
	// server's line). Used only by the task goroutine.
	waitedNS  int64
	waitedSeq uint64
	// seccomp is the thread's seccomp mode and filters (seccomp.go; nil:
	// none). Read by the task goroutine; stored under proc.mu.
	seccomp atomic.Pointer[seccompState]
	// patchSites says, for each RIP a system call of the thread entered
	// from in the address space patchSitesMM, what the thread knows of
	// its site (syscallpatch.go). patchEntries and trapEntries count the
	// thread's calls entered from a patched site and through a trap.
	// Owned by the task goroutine.
	patchSites                map[hostarch.Addr]siteState
	patchSitesMM              *mm.MemoryManager
	patchEntries, trapEntries int64

	mu sync.Mutex
	// state is what the task goroutine is doing. Protected by mu.
	state taskState
	// notified says notifyLocked ran while the task goroutine was in
	// stateKernel, after the run loop's checks (a signal, a
	// PTRACE_INTERRUPT, a group stop): the loop checks again before it
	// enters the application, and a wait the task begins meanwhile ends
	// at once (missedNotifyLocked). Protected by mu.
	notified bool
	// killed says the task must stop without returning to the
	// application. Protected by mu.
	killed bool
	// cleanedUp is set by exitCleanup before the thread's
	// CLONE_CHILD_CLEARTID wake: from then on a joiner may know it gone,
	// and a signal to it must find no thread (ownsignal.go). Protected by
	// mu.
	cleanedUp bool
	// dumpParked says the task parked for its process's core dump, its
	// full state pulled (coredump.go). Protected by mu.
	dumpParked bool
	// interruptSent says an Interrupt was sent for the current forwarded
	// call. Protected by mu.
	interruptSent bool
	// callGen counts forwarded calls. Protected by mu.
	callGen uint64
	// sigWaitGen is the callGen of the last wait call sent with the
	// pending set (signalfd.go). Protected by mu.
	sigWaitGen uint64
	// mask is the signal mask. Protected by mu.
	mask linux.SignalSet
	// realBlocked is the mask rt_sigtimedwait replaced while it waits
	// with the waited-for signals unblocked (Linux's real_blocked): an
	// ignored signal either blocks is kept. Protected by mu.
	realBlocked linux.SignalSet
	// savedMask is restored by the next handler's sigreturn (sigsuspend).
	// Protected by mu.
	savedMask     linux.SignalSet
	haveSavedMask bool
	// pending are pushed signals not yet delivered. Protected by mu.
	pending []queuedSignal
	// affinity is the thread's allowed CPUs (affinity.go; nil: all).
	// Protected by mu.
	affinity cpuMask
	// reapedTimes are the times of the child the thread's last wait
	// reaped, for its rusage (childtimes.go). Protected by mu.
	reapedTimes cpuPair
	// reapedMaxRSS is that child's peak resident set, KiB (maxrss.go).
	// Protected by mu.
	reapedMaxRSS uint64
	// altStack is sigaltstack. Protected by mu.
	altStack linux.SignalStack
	// trace is the task's ptrace relation as a tracee (ptrace.go). Its
	// fields say who changes them.
	trace ptraceState

	// wake is signalled when a blocked task may have something to do.
	wake chan struct{}
}

func (c *client) newTask(tid int32, proc *process) *task {
	t := &task{
		c:        c,
		tid:      tid,
		proc:     proc,
		gctx:     platform.NewContext(c.mf, proc.limits),
		wake:     make(chan struct{}, 1),
		altStack: linux.SignalStack{Flags: linux.SS_DISABLE},
	}
	t.gctx.Extra = func(key any) (any, bool) {
		switch key {
		case taskKey{}:
			return t, true
		case auth.CtxCredentials:
			return t.mmCredentials(), true
		}
		return nil, false
	}
	t.pctx = c.plat.NewContext(t.gctx)
	return t
}

// mmCredentials are what pkg/sentry/mm checks on the thread's behalf
// (CAP_IPC_LOCK against RLIMIT_MEMLOCK in mlock, mlockall, MAP_LOCKED
// and mremap): the process's effective capabilities, in the one user
// namespace mm compares with.
func (t *task) mmCredentials() *auth.Credentials {
	cr := t.creds()
	return &auth.Credentials{
		EffectiveKUID: auth.KUID(cr.euid),
		EffectiveKGID: auth.KGID(cr.egid),
		EffectiveCaps: auth.CapabilitySet(t.c.pipe.effectiveCaps(t.proc.pid, cr.euid)),
		UserNamespace: mmUserNamespace,
	}
}

// mmUserNamespace is the user namespace of every mmCredentials.
var mmUserNamespace = auth.NewRootUserNamespace()

// limitsOf are a root process's resource limits: the defaults with
// rlimits applied.
func limitsOf(rlimits []Rlimit) (*limits.LimitSet, error) {
	ls := defaultLimits()
	for _, r := range rlimits {
		lt, ok := limits.FromLinuxResource[r.Resource]
		if !ok {
			return nil, fmt.Errorf("rlimit %d: %w", r.Resource, unix.EINVAL)
		}
		if lt == limits.NumberOfFiles && r.Hard > nrOpen {
			return nil, fmt.Errorf("RLIMIT_NOFILE %d above nr_open (%d): %w", r.Hard, nrOpen, unix.EPERM)
		}
		if _, err := ls.Set(lt, limits.Limit{Cur: limits.FromLinux(r.Soft), Max: limits.FromLinux(r.Hard)}, true); err != nil {
			return nil, fmt.Errorf("rlimit %d: %w", r.Resource, err)
		}
	}
	return ls, nil
}

// serverLimits fills in the limits of ls the server enforces for a root
// process (RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_CORE, RLIMIT_NICE,
// RLIMIT_RTPRIO) in st, its Start or Spawn.
func serverLimits(ls *limits.LimitSet, st *pb.Start) {
	st.Nofile = min(limits.ToLinux(ls.Get(limits.NumberOfFiles).Cur), nrOpen)
	if st.Nofile == 0 {
		st.Nofile = 1 // 0 is the server's "unset"; no fd at all either way
	}
	if fs := ls.Get(limits.FileSize).Cur; fs != limits.Infinity {
		st.FsizeLimited, st.FsizeLimit = true, fs
	}
	st.CoreDumps = ls.Get(limits.Core).Cur != 0
	st.NiceLimit = limits.ToLinux(ls.Get(limits.Nice).Cur)
	st.RtprioLimit = limits.ToLinux(ls.Get(limits.RealTimePriority).Cur)
}

// newInitialTask builds the first process from the Start reply.
func (c *client) newInitialTask(plan *pb.ExecPlan) (*task, error) {
	t, err := c.newRootTask(plan, c.cfg.Rlimits, c.cfg.NoNewPrivileges)
	if err != nil {
		return nil, err
	}
	if err := t.installRootSeccomp(c.cfg.Seccomp); err != nil {
		t.pctx.Release()
		return nil, err
	}
	return t, nil
}

// newRootTask builds a process with no parent on the client (the first,
// or a spawned one) from the plan of its Start or Spawn.
func (c *client) newRootTask(plan *pb.ExecPlan, rlimits []Rlimit, noNewPrivs bool) (*task, error) {
	ls, err := limitsOf(rlimits)
	if err != nil {
		return nil, err
	}
	proc := newProcess(plan.Tid, ls, creds{plan.Uid, plan.Gid, plan.Euid, plan.Egid})
	proc.noNewPrivs = noNewPrivs
	c.registerProc(proc)
	t := c.newTask(plan.Tid, proc)
	if err := t.loadPlan(plan); err != nil {
		t.pctx.Release()
		return nil, err
	}
	return t, nil
}

// startTask registers t and starts its goroutine.
func (c *client) startTask(t *task) {
	t.proc.mu.Lock()
	t.proc.threads[t.tid] = t
	t.proc.mu.Unlock()
	c.wg.Add(1)
	c.registerTask(t)
	if c.placer != nil {
		// Threads that may run at once get every CPU before they run.
		c.placer.taskStarted()
	}
	go t.run()
}

func (t *task) setState(s taskState) {
	t.mu.Lock()
	t.state = s
	t.mu.Unlock()
}

func (t *task) isKilled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.killed
}

// kill makes t stop without returning to the application.
func (t *task) kill() {
	t.mu.Lock()
	t.killed = true
	t.notifyLocked()
	t.mu.Unlock()
}

// notifyLocked gets the task goroutine's attention: something (a signal,
// a kill) needs handling before the application runs again.
//
// Preconditions: t.mu is locked.
func (t *task) notifyLocked() {
	switch t.state {
	case stateKernel:
		t.notified = true
	case stateApp:
		t.pctx.Interrupt()
	case stateBlocked:
		select {
		case t.wake <- struct{}{}:
		default:
		}
	case stateForwarding:
		if !t.interruptSent && !t.killed {
			t.interruptSent = true
			go t.sendInterrupt(t.tid, t.callGen)
		}
	}
}

// sendInterrupt asks the server to abort the forwarded call gen. The
// server ignores an Interrupt that overtakes the Call it is meant for, so
// it is repeated (with backoff) while the same call is still in flight
// and a signal is still deliverable.
func (t *task) sendInterrupt(tid int32, gen uint64) {
	delay := 20 * time.Millisecond
	for i := 0; i < 12; i++ {
		if t.c.conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Interrupt{Interrupt: &pb.Interrupt{Tid: tid}}}) != nil {
			return
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
		t.mu.Lock()
		again := t.state == stateForwarding && t.callGen == gen && !t.killed && t.interruptsWaitLocked()
		t.mu.Unlock()
		if !again {
			return
		}
	}
}

// interruptsWaitLocked says something ends the task's wait, local or
// forwarded, before its event: a deliverable signal, a group stop, a
// PTRACE_INTERRUPT (the call restarts after the stop).
//
// Preconditions: t.mu is locked.
func (t *task) interruptsWaitLocked() bool {
	return t.deliverableLocked() || t.proc.stop.stopped.Load() || t.trace.interrupt || t.dumpingElsewhereLocked()
}

// missedNotifyLocked says notifyLocked ran while the task goroutine was
// in the client (notified) for something that still ends a wait: a wait
// the task begins now ends at once, as Linux's checks for signals before
// it sleeps, for nothing will notify it again (a SIGCHLD pushed while gdb
// built its poll left the poll waiting forever). A group stop the run
// loop saw since (notified cleared: the tracer resumed the task from it)
// ends no wait.
//
// Preconditions: t.mu is locked.
func (t *task) missedNotifyLocked() bool {
	return t.notified && t.interruptsWaitLocked()
}

var (
	errInterrupted = errors.New("interrupted")
	errTimedOut    = errors.New("timed out")
)

// blockOn waits until ch is ready (nil: never), the deadline passes
// (zero: none), or the task is interrupted by a deliverable signal or a
// kill.
func (t *task) blockOn(ch <-chan struct{}, deadline time.Time) error {
	t.mu.Lock()
	if t.killed || t.deliverableLocked() || t.missedNotifyLocked() {
		t.mu.Unlock()
		return errInterrupted
	}
	t.state = stateBlocked
	t.mu.Unlock()
	defer t.waited(cpuNow())
	defer t.setState(stateKernel)
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return errTimedOut
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		select {
		case <-ch:
			return nil
		case <-timeout:
			return errTimedOut
		case <-t.wake:
			t.mu.Lock()
			// A stop or a PTRACE_INTERRUPT also ends the wait: the
			// call restarts after the stop.
			intr := t.killed || t.interruptsWaitLocked()
			t.mu.Unlock()
			if intr {
				return errInterrupted
			}
		}
	}
}

// run is the task goroutine: gVisor's task_run loop, without a Kernel.
func (t *task) run() {
	// The ptrace platform binds stub threads to the calling OS thread.
	if t.c.lockThreads {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer t.c.wg.Done()
	defer t.exitCleanup()
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			t.c.log.Error("task panicked; killing its process", "tid", t.tid, "panic", r, "stack", string(buf))
			t.forwardKillSelf(linux.SIGKILL)
		}
	}()
	for {
		t.mu.Lock()
		killed := t.killed
		t.notified = false
		t.mu.Unlock()
		if killed {
			return
		}
		t.parkWhileStopped()
		t.parkWhileDumping()
		t.ptraceCheckInterrupt()
		if t.isKilled() {
			return
		}
		t.deliverSignals()
		t.mu.Lock()
		if t.killed {
			t.mu.Unlock()
			return
		}
		if t.deliverableLocked() || t.notified {
			t.mu.Unlock()
			continue
		}
		t.state = stateApp
		t.mu.Unlock()

		stepped := t.ptraceBeforeSwitch()
		t.enterApp()
		info, at, err := t.pctx.Switch(t.gctx, t.mm, t.ac, -1)
		t.leaveApp()
		if t.c.cfg.FirstRun != nil {
			t.c.firstRun.Do(t.c.cfg.FirstRun)
		}
		t.ptraceAfterSwitch(stepped)
		t.setState(stateKernel)
		if p := t.c.placer; p != nil {
			p.afterTrap(t)
		}

		switch err {
		case nil:
			start := cpuNow()
			t.noteSyscallSite()
			t.syscall()
			t.chargeSyscall(start)
		case gvplatform.ErrContextInterrupt, gvplatform.ErrContextCPUPreempted:
			// Re-check for signals and kills.
		case gvplatform.ErrContextSignal:
			if t.handleSwitchSignal(info, at) {
				start := cpuNow()
				t.syscall()
				t.chargeSyscall(start)
			}
		default:
			t.c.log.Error("platform switch failed; killing the process", "tid", t.tid, "err", err)
			t.forwardKillSelf(linux.SIGKILL)
			t.kill()
		}
		// CPU timers expire only while a thread runs (cpuTicker interrupts it).
		t.checkCPUTimers()
	}
}

// handleSwitchSignal handles a fault or a host signal that ended Switch.
// It returns true when the thread turns out to make a system call (a
// SIGILL at a patched site, the vsyscall page; syscallpatch.go), which
// the caller then runs.
func (t *task) handleSwitchSignal(info *linux.SignalInfo, at hostarch.AccessType) (isSyscall bool) {
	sig := linux.Signal(info.Signo)
	if sig == linux.SIGILL {
		if handled, isSyscall := t.illegalAtSite(); handled {
			return isSyscall
		}
	}
	if sig == linux.SIGSEGV && at.Execute && t.vsyscall(info.Addr()) {
		return true
	}
	if at.Any() {
		t.c.appFaults.Add(1)
		addr := hostarch.Addr(info.Addr())
		err := t.mm.HandleUserFault(t.gctx, addr, at, hostarch.Addr(t.ac.Stack()))
		if linuxerr.Equals(linuxerr.EFAULT, err) && t.growStackTo(addr) {
			// Below a MAP_GROWSDOWN mapping (stackgrow.go).
			err = t.mm.HandleUserFault(t.gctx, addr, at, hostarch.Addr(t.ac.Stack()))
		}
		if err == nil {
			t.faultStreak = 0
			return false
		}
		if sig == linux.SIGSEGV && linuxerr.Equals(linuxerr.EPERM, err) {
			info.Code = 2 // SEGV_ACCERR
		}
		if _, ok := err.(*memmap.BusError); ok {
			sig = linux.SIGBUS
			info.Signo = int32(linux.SIGBUS)
			info.Code = 2 // BUS_ADRERR
		}
		t.c.log.Debug("unhandled application fault", "tid", t.tid, "addr", fmt.Sprintf("%#x", addr), "ip", fmt.Sprintf("%#x", t.ac.IP()), "access", at.String(), "err", err)
	}
	switch sig {
	case linux.SIGILL, linux.SIGSEGV, linux.SIGBUS, linux.SIGFPE, linux.SIGTRAP:
		t.syncSignal(info)
	case gvplatform.SignalInterrupt:
		// A platform interrupt that raced with the switch.
	default:
		t.c.log.Debug("ignoring host signal during switch", "tid", t.tid, "signal", sig)
	}
	return false
}

// exitCleanup releases the task's resources when its goroutine ends.
func (t *task) exitCleanup() {
	t.mu.Lock()
	t.cleanedUp = true
	t.mu.Unlock()
	if t.mm != nil {
		// Before the address space may go: a wait that reaps the
		// process reads its peak (maxrss.go).
		t.proc.noteMaxRSS(t.mm)
	}
	if t.mm != nil {
		t.clearChildTID()
	}
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	t.retirePatchCounts()
	t.pctx.PrepareExit()
	t.pctx.Release()
	// Charge the last of the thread's time before its stub may go to
	// another address space.
	t.leaveApp()
	t.setStub(nil)
	if t.mm != nil {
		t.mm.DecUsers(t.gctx)
		t.mu.Lock()
		t.mm = nil
		t.mu.Unlock()
	}
	t.proc.mu.Lock()
	if t.proc.threads[t.tid] == t {
		delete(t.proc.threads, t.tid)
		t.retireCPU()
	}
	t.proc.mu.Unlock()
	t.c.unregisterTask(t)
}

// clearChildTID implements CLONE_CHILD_CLEARTID / set_tid_address on exit
// (and on exec, as Linux's mm_release does).
func (t *task) clearChildTID() {
	if t.clearTID == 0 {
		return
	}
	addr := t.clearTID
	t.clearTID = 0
	var zero [4]byte
	if _, err := t.mm.CopyOut(t.gctx, addr, zero[:], usermem.IOOpts{}); err != nil {
		return
	}
	t.futexes.Wake(t.futexTarget(), addr, false, ^uint32(0), 1)
}

// exitThreads ends t's whole process (exit_group): every other thread is
// stopped; t stops when its syscall returns.
func (t *task) exitGroup() {
	for _, o := range t.proc.liveThreads() {
		if o != t {
			o.kill()
		}
	}
	t.kill()
}
