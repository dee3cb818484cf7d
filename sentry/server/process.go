package server

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// maxTID bounds TIDs (pid_max); maxThreads bounds live threads per client.
const (
	maxTID     = 1 << 22
	maxThreads = 4096
)

// fsContext is a process's cwd and umask (package kernel's FSContext).
type fsContext = kernel.FSContext

// thread is one application thread. tid changes only on a non-leader
// exec; all fields are protected by clientState.mu. Its calls' queue is
// the front's (threadCalls).
type thread struct {
	tid  int32
	proc *process
	// inFlight says a call of the thread is between its start and its
	// reply (set by the front's worker): killThreadLocked then leaves the
	// news of the thread's end to that reply, and pushes TaskExit only
	// for a thread with none.
	inFlight bool
	// killed says the server ended the thread (fatal signal, exit_group,
	// exec by another thread); exitStatus is its process's wait status.
	killed     bool
	exitStatus int32
	// dead is closed when killed is set, waking the thread's blocked call.
	dead chan struct{}
	// sleeping says the thread's call is blocked in syscallCtx.block
	// (/proc shows it as S). Atomic; set by the call's goroutine.
	sleeping atomic.Bool
	// sigw is the client's pending set for the thread's current wait
	// call (file_signalfd.go); it has its own lock.
	sigw ksignal.WaitPending
	// ptrace is the thread's relation to its tracer and its ptrace-stop
	// while it is traced (nil otherwise); tracees are the threads it
	// traces (ptrace.go).
	ptrace  *ptraceTracee
	tracees map[*thread]struct{}
	// ptraceDetachSeq is the seq of the tracer's PTRACE_DETACH that
	// ended the thread's last relation (0: none).
	ptraceDetachSeq uint64
}

// process is a thread group. Fields are protected by clientState.mu.
type process struct {
	pid int32
	// parent is the parent process; a zombie a wait reaped keeps it
	// (for its record) until the wait's reply, though it left the
	// parent's children at once (reapWaitedLocked).
	parent *process
	// children are the processes whose parent this is.
	children map[*process]struct{}
	// live are the threads still running; all are every thread not yet
	// freed (killed threads stay until the process is reaped).
	live map[*thread]struct{}
	all  map[*thread]struct{}
	pgid int32
	sid  int32
	// exitSignal is sent to the parent when the process exits.
	exitSignal int
	// fsizeLimit is the RLIMIT_FSIZE soft limit when fsizeLimited (the
	// client sends it, as RLIMIT_NOFILE: rlimit.go). Protected by
	// clientState.mu; copied by fork.
	fsizeLimited bool
	fsizeLimit   uint64
	// coreDumps says the RLIMIT_CORE soft limit is not 0 (coredump.go).
	// Protected by clientState.mu; copied by fork.
	coreDumps bool
	// execed is set by execve (Linux: PF_FORKNOEXEC cleared): the parent
	// may no longer setpgid it. Protected by clientState.mu.
	execed bool
	// exiting is set once the process started exiting; zombie once it
	// waits to be reaped; exitStatus is its wait status.
	exiting    bool
	zombie     bool
	exitStatus int32
	// fds is the fd table (shared on CLONE_FILES); nil once exited.
	fds *fdTable
	// fs is the cwd/umask context (shared on CLONE_FS).
	fs *fsContext
	// sig holds the signal dispositions (shared on CLONE_SIGHAND).
	sig   *ksignal.Handlers
	creds auth.Creds
	// comm is the process name; exe the path of its executable.
	comm string
	exe  *dentry
	// argv and env are the command line and environment of the last exec
	// (for /proc/<pid>/cmdline and environ).
	argv, env []string
	// timers are the process's ITIMER_REAL (id itimerRealID) and POSIX
	// timers (timers.go); nextTimerID is the next timer_create id.
	timers      map[int32]*appTimer
	nextTimerID int32
	// spawned marks a process made by Spawn (spawn.go): its exit is
	// pushed as SpawnExit. A restored process with no parent that is not
	// init is one.
	spawned bool
	// stopped says the process is in a group stop and stopSig is the
	// signal that stopped it; waitCode is the stop or continue event its
	// parent has not waited for (cldStopped, cldContinued, or 0)
	// (jobctl.go). Protected by clientState.mu.
	stopped  bool
	stopSig  int
	waitCode int32
}

// allocTIDLocked returns a free TID: requested if it is free and nonzero
// (replay rebuilds the same ids), else the next free one.
func (k *clientState) allocTIDLocked(requested int32) (int32, error) {
	if len(k.threads) >= maxThreads {
		return 0, unix.EAGAIN
	}
	inUse := func(id int32) bool {
		if _, ok := k.threads[id]; ok {
			return true
		}
		_, ok := k.procs[id]
		return ok
	}
	if requested > 0 {
		if requested >= maxTID || inUse(requested) {
			return 0, unix.EEXIST
		}
		if requested > k.lastTID {
			k.lastTID = requested
			k.trk.IDsChanged()
		}
		return requested, nil
	}
	for i := 0; i < maxTID; i++ {
		k.lastTID++
		if k.lastTID >= maxTID {
			k.lastTID = 2
		}
		if !inUse(k.lastTID) {
			k.trk.IDsChanged()
			return k.lastTID, nil
		}
	}
	return 0, unix.EAGAIN
}

// newThreadLocked makes a thread of p with TID tid.
func (k *clientState) newThreadLocked(p *process, tid int32) *thread {
	t := &thread{tid: tid, proc: p, dead: make(chan struct{})}
	p.live[t] = struct{}{}
	p.all[t] = struct{}{}
	k.threads[tid] = t
	k.trk.touch(t)
	return t
}

// newProcessLocked makes a process with PID requestedPID (or the next
// free one) and its leader thread. The caller fills in the rest.
func (k *clientState) newProcessLocked(requestedPID int32, parent *process) (*process, error) {
	pid, err := k.allocTIDLocked(requestedPID)
	if err != nil {
		return nil, err
	}
	p := &process{
		pid:        pid,
		parent:     parent,
		children:   make(map[*process]struct{}),
		live:       make(map[*thread]struct{}),
		all:        make(map[*thread]struct{}),
		exitSignal: int(unix.SIGCHLD),
	}
	if parent != nil {
		parent.children[p] = struct{}{}
	}
	k.procs[pid] = p
	k.trk.touch(p)
	k.newThreadLocked(p, pid)
	return p, nil
}

// leaderLocked returns p's leader thread if it is alive, else any live
// thread, else nil.
func (p *process) anyLiveThread() *thread {
	var any *thread
	for t := range p.live {
		if t.tid == p.pid {
			return t
		}
		if any == nil || t.tid < any.tid {
			any = t
		}
	}
	return any
}

// exitWaitStatus is the wait status of exit(code).
func exitWaitStatus(code int) int32 { return int32(code&0xff) << 8 }

// killThreadLocked ends t because of something other than its own exit
// call. A call in flight is woken and replied with an exit action; an idle
// thread gets a TaskExit push.
func (k *clientState) killThreadLocked(t *thread, status int32, d *deferred) {
	if t.killed {
		return
	}
	t.killed = true
	t.exitStatus = status
	close(t.dead)
	delete(t.proc.live, t)
	k.trk.touch(t)
	k.ptraceThreadGoneLocked(t, d)
	if t.tid != t.proc.pid {
		k.ptraceTraceeGoneLocked(t, status, d)
	}
	if !t.inFlight {
		te := &sentrypb.TaskExit{Tid: t.tid, WaitStatus: status}
		if k.appExited {
			te.WaitStatus, te.AppExit = k.appStatus, true
		}
		d.Push(&sentrypb.Push{Msg: &sentrypb.Push_TaskExit{TaskExit: te}})
	}
}

// exitProcessLocked makes p exit with wait status status: its threads are
// ended, its fds closed, its children reparented to init, and it becomes a
// zombie for its parent (or is reaped at once if the parent ignores its
// exit signal). If p is init, the whole application ends.
func (k *clientState) exitProcessLocked(p *process, status int32, d *deferred) {
	if p.exiting {
		return
	}
	p.exiting = true
	p.exitStatus = status
	k.trk.touch(p)
	k.deleteTimersLocked(p, true)
	// SEM_UNDO adjustments and shared memory attachments end with it.
	if gone := k.ipc.ProcessExited(p.pid); len(gone) > 0 {
		d.Do(func() { k.removeSegmentFiles(gone) })
	}
	if p == k.init {
		k.appExited = true
		k.appStatus = status
	}
	for t := range p.live {
		k.killThreadLocked(t, status, d)
	}
	k.ptraceProcessExitLocked(p, d)
	if p.fds != nil {
		k.dropFDTableLocked(p.fds, d)
		p.fds = nil
	}
	if p.fs != nil {
		p.fs.Refs--
		k.trk.touch(p.fs)
	}
	k.trk.touch(sigTable{Handlers: p.sig})
	if p == k.init {
		// The application is over: end every other process.
		for _, q := range k.procs {
			if q != p && !q.exiting {
				k.exitProcessLocked(q, status, d)
			}
		}
		p.zombie = true
		k.waitq.Notify()
		return
	}
	// Groups p kept from being orphaned (jobctl.go).
	orphanable := k.orphanableByExitLocked(p)
	// Reparent children to init.
	for c := range p.children {
		delete(p.children, c)
		k.trk.touch(c)
		if k.init != nil && !k.init.exiting {
			c.parent = k.init
			k.init.children[c] = struct{}{}
			if c.zombie {
				k.notifyParentLocked(c, d)
			}
		} else {
			c.parent = nil
			if c.zombie {
				k.reapLocked(c)
			}
		}
	}
	k.hangUpOrphanedLocked(orphanable, d)
	p.zombie = true
	if p.spawned {
		d.Push(spawnExitPush(p))
	}
	k.notifyParentLocked(p, d)
	k.waitq.Notify()
}

// notifyParentLocked signals zombie p's parent, or reaps p if the parent
// does not wait for it (SIGCHLD ignored or SA_NOCLDWAIT).
func (k *clientState) notifyParentLocked(p *process, d *deferred) {
	par := p.parent
	if par == nil || par.exiting {
		if par == nil {
			k.reapLocked(p)
		}
		return
	}
	if p.exitSignal == int(unix.SIGCHLD) {
		act := par.sig.Act[unix.SIGCHLD]
		if act.Handler == ksignal.SigIgn || act.Flags&ksignal.SANoCldWait != 0 {
			k.reapLocked(p)
			return
		}
	}
	if p.exitSignal > 0 && p.exitSignal <= ksignal.NumSignals {
		code, st := ksignal.ChildStatus(p.exitStatus)
		info := ksignal.SiginfoChld(p.exitSignal, code, p.pid, p.creds.RUID, st)
		k.signalProcessLocked(par, nil, p.exitSignal, info, d)
	}
}

// reapLocked frees zombie p.
func (k *clientState) reapLocked(p *process) {
	for _, o := range k.unlinkReapedLocked(p) {
		k.trk.touch(o)
	}
}

// unlinkReapedLocked removes reaped process p and its threads from the
// tables and returns the objects whose records that deleted (p and its
// threads), for the caller to touch now (reapLocked) or as a wait's
// reply is built (commitEffectsLocked, for reapWaitedLocked).
func (k *clientState) unlinkReapedLocked(p *process) []replayObject {
	objs := []replayObject{p}
	if p.parent != nil {
		delete(p.parent.children, p)
		p.parent = nil
	}
	for t := range p.all {
		if k.threads[t.tid] == t {
			delete(k.threads, t.tid)
		}
		objs = append(objs, t)
	}
	p.all = map[*thread]struct{}{}
	if k.procs[p.pid] == p {
		delete(k.procs, p.pid)
	}
	return objs
}

// goneThreadExitLocked answers an exit or exit_group (nil for any other
// call) of a thread this server does not know: one whose exit a dead
// server ran, and whose process a wait reaped there, before the exit's
// reply reached the client, which re-sent it. An exit cannot fail: the
// thread ends as it asked (ESRCH left it spinning in libc's exit loop on
// the client). Precondition: k.mu.
func (k *clientState) goneThreadExitLocked(call *sentrypb.Call) *sentrypb.ExitAction {
	sc := call.GetSyscall()
	if sc == nil || (sc.Sysno != unix.SYS_EXIT && sc.Sysno != unix.SYS_EXIT_GROUP) {
		return nil
	}
	var code int
	if len(sc.Args) > 0 {
		code = int(sc.Args[0])
	}
	ea := &sentrypb.ExitAction{Group: sc.Sysno == unix.SYS_EXIT_GROUP, WaitStatus: exitWaitStatus(code)}
	if k.appExited {
		ea.WaitStatus, ea.AppExit = k.appStatus, true
	}
	return ea
}

// exitThreadLocked ends t by its own exit(2). If it was the process's
// last thread the process exits with status code.
func (k *clientState) exitThreadLocked(t *thread, code int, d *deferred) *sentrypb.ExitAction {
	p := t.proc
	delete(p.live, t)
	t.killed = true
	t.exitStatus = exitWaitStatus(code)
	close(t.dead)
	k.trk.touch(t)
	k.ptraceThreadGoneLocked(t, d)
	if t.tid != p.pid {
		k.ptraceTraceeGoneLocked(t, t.exitStatus, d)
		delete(p.all, t)
		delete(k.threads, t.tid)
	}
	if len(p.live) == 0 {
		k.exitProcessLocked(p, exitWaitStatus(code), d)
	}
	ea := &sentrypb.ExitAction{Group: false, WaitStatus: exitWaitStatus(code)}
	if k.appExited {
		ea.WaitStatus, ea.AppExit = k.appStatus, true
	}
	return ea
}

// processGroupLocked returns the live (non-zombie) processes in pgid.
func (k *clientState) processGroupLocked(pgid int32) []*process {
	var out []*process
	for _, p := range k.procs {
		if p.pgid == pgid && !p.exiting {
			out = append(out, p)
		}
	}
	return out
}
