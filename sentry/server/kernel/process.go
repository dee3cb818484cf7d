package kernel

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/pidfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ptrace"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// MaxTID bounds TIDs (pid_max); MaxThreads bounds live threads per
// client.
const (
	MaxTID     = 1 << 22
	MaxThreads = 4096
)

// reservedPIDs is the first id handed out after the ids wrap at MaxTID
// (Linux's RESERVED_PIDS).
const reservedPIDs = 300

// Thread is one application thread. TID changes only on an exec by a
// thread that is not the leader. All fields are protected by the kernel
// lock (Kernel.Mu) unless said otherwise. Its calls'
// queue is the front's.
type Thread struct {
	TID  int32
	Proc *Process
	// InFlight says a call of the thread is between its start and its
	// reply (set by the front's worker): the kernel then leaves the news
	// of the thread's end to that reply, and pushes TaskExit only for a
	// thread with none.
	InFlight bool
	// Killed says the server ended the thread (fatal signal, exit_group,
	// exec by another thread); ExitStatus is its process's wait status.
	Killed     bool
	ExitStatus int32
	// Dead is closed when Killed is set, waking the thread's blocked call.
	Dead chan struct{}
	// Sleeping says the thread's call is blocked (/proc shows it as S).
	// Atomic; set by the call's goroutine.
	Sleeping atomic.Bool
	// SigWait is the client's pending set for the thread's current wait
	// call (signalfd, sigtimedwait); it has its own lock.
	SigWait ksignal.WaitPending
	// Ptrace is the thread's relation to its tracer and its ptrace-stop
	// while it is traced (nil otherwise); Tracees are the threads it
	// traces.
	Ptrace  *PtraceTracee
	Tracees map[*Thread]struct{}
	// PtraceDetachSeq is the seq of the tracer's PTRACE_DETACH that
	// ended the thread's last relation (0: none).
	PtraceDetachSeq uint64
	// Sched is the thread's scheduling attributes (sched.go), set by
	// setpriority and the sched_set* calls, inherited at clone.
	Sched SchedAttr
	// TimerSlack is the thread's timer slack (PR_SET_TIMERSLACK).
	TimerSlack TimerSlack
	// IO and SemUndo are the thread's I/O context and System V
	// semaphore undo list as kcmp(2) tells them apart (kcmp.go): its own
	// from its creation, its creator's after a clone with CLONE_IO, or
	// with CLONE_SYSVSEM. Set when the thread is made or restored, then
	// kept (exec too). The undo adjustments themselves are per process
	// (package sysvipc).
	IO, SemUndo *Identity
	// Ahead is the plan of writes ahead of the thread's queued posted
	// writes (vfs/writeahead.go). Owned by the thread's worker (the
	// front's threadWorker and the calls it runs): no lock.
	Ahead vfs.WriteAhead
}

// ReplayOrder places its record among a message's (ReplayObject).
func (th *Thread) ReplayOrder() (replay.Order, bool) { return OrderThread, th != nil }

// DefaultCoredumpFilter is a process's first coredump_filter: Linux's
// MMF_DUMP_FILTER_DEFAULT (anonymous private and shared memory, ELF
// headers, private huge pages).
const DefaultCoredumpFilter = 0x33

// Process is a thread group. Fields are protected by the kernel lock.
type Process struct {
	PID int32
	// Gen tells the process from the others the client had with the
	// same PID (a reused id: ns_last_pid): a /proc/<pid> directory fd
	// refers to the process it was opened for, and its inode number
	// differs; a pidfd's record names it (ProcessState.gen). Kept by a
	// restore. Immutable once the process is published.
	Gen uint64
	// Parent is the parent process; a zombie a wait reaped keeps it
	// (for its record) until the wait's reply, though it left the
	// parent's Children at once.
	Parent *Process
	// Children are the processes whose parent this is.
	Children map[*Process]struct{}
	// Live are the threads still running; All are every thread not yet
	// freed (killed threads stay until the process is reaped).
	Live map[*Thread]struct{}
	All  map[*Thread]struct{}
	// PGID and SID are its process group and session (neither is an
	// object of its own).
	PGID int32
	SID  int32
	// ExitSignal is sent to the parent when the process exits.
	ExitSignal int
	// FsizeLimit is the RLIMIT_FSIZE soft limit when FsizeLimited (the
	// client sends it, as RLIMIT_NOFILE); copied by fork.
	FsizeLimited bool
	FsizeLimit   uint64
	// CoreDumps says the RLIMIT_CORE soft limit is not 0; copied by fork.
	CoreDumps bool
	// NiceLimit and RTPrioLimit are the RLIMIT_NICE and RLIMIT_RTPRIO
	// soft limits (the client sends them, as RLIMIT_CORE): how far the
	// process may raise its threads' priority without CAP_SYS_NICE
	// (sched.go). Copied by fork.
	NiceLimit, RTPrioLimit uint64
	// CoredumpFilter is /proc/<pid>/coredump_filter's mask (what a core
	// would hold; no core file is written): DefaultCoredumpFilter at
	// first, copied by fork, kept by execve.
	CoredumpFilter uint32
	// OOMScoreAdj is /proc/<pid>/oom_score_adj (-1000..1000), and
	// OOMScoreAdjMin the least a writer without CAP_SYS_RESOURCE may set
	// it to (Linux's signal->oom_score_adj and oom_score_adj_min): 0 at
	// first, copied by fork, kept by execve. The sandbox never runs out
	// of memory by Linux's OOM killer; they are kept for the programs
	// that set and read them, and for oom_score.
	OOMScoreAdj, OOMScoreAdjMin int32
	// PdeathSignal is sent to the process when its parent exits
	// (PR_SET_PDEATHSIG; 0: none). Not inherited; cleared when its
	// credentials change.
	PdeathSignal int
	// ChildSubreaper says orphaned descendants are reparented to this
	// process rather than to init (PR_SET_CHILD_SUBREAPER).
	ChildSubreaper bool
	// Execed is set by execve (Linux: PF_FORKNOEXEC cleared): the parent
	// may no longer setpgid it.
	Execed bool
	// Exiting is set once the process started exiting; Zombie once it
	// waits to be reaped; ExitStatus is its wait status.
	Exiting    bool
	Zombie     bool
	ExitStatus int32
	// FDs is the fd table (shared on CLONE_FILES); nil once exited.
	FDs *fdtable.Table
	// FilesClosed, set when the process exits holding the table's last
	// use, is closed once its files are (after k.Mu, DropFDTableLocked):
	// a parent that reaps the zombie waits for it, so that what the
	// files held (a pipe's last reader) is gone when wait returns, as in
	// Linux, which closes them before it notifies the parent.
	FilesClosed <-chan struct{}
	// VM is the process's address space as kcmp(2) tells it apart
	// (kcmp.go): shared with the process whose clone with CLONE_VM made
	// it (vfork), a new one from fork and exec. Once the process exits,
	// kcmp finds none, as Linux after exit_mm.
	VM *Identity
	// FS is the cwd/umask context (shared on CLONE_FS).
	FS *FSContext
	// Sig holds the signal dispositions (shared on CLONE_SIGHAND).
	Sig   *ksignal.Handlers
	Creds auth.Creds
	// Comm is the process name; Exe the file it executes.
	Comm string
	Exe  *vfs.Dentry
	// Argv and Env are the command line and environment of the last exec
	// (for /proc/<pid>/cmdline and environ).
	Argv, Env []string
	// Timers are the process's ITIMER_REAL and POSIX timers by id;
	// NextTimerID is the next timer_create id.
	Timers      map[int32]*AppTimer
	NextTimerID int32
	// Spawned marks a process made by the OCI runtime's exec (Spawn): its
	// exit is pushed as SpawnExit. A restored process with no parent that
	// is not init is one.
	Spawned bool
	// Stopped says the process is in a group stop and StopSig is the
	// signal that stopped it; WaitCode is the stop or continue event its
	// parent has not waited for (CLD_STOPPED, CLD_CONTINUED, or 0).
	Stopped  bool
	StopSig  int
	WaitCode int32
	// PidfdExit is what the process's pidfds know of its end (nil until
	// the first pidfd: PidfdExitLocked), marked when it becomes a zombie
	// and when it is reaped; it tells it from a later process with the
	// same id.
	PidfdExit *pidfd.Exit
}

// ReplayOrder places its record among a message's (ReplayObject).
func (p *Process) ReplayOrder() (replay.Order, bool) { return OrderProc, p != nil }

// AnyLiveThread returns p's leader thread if it is alive, else its live
// thread of the lowest TID, else nil. Precondition: the kernel lock held.
func (p *Process) AnyLiveThread() *Thread {
	var any *Thread
	for t := range p.Live {
		if t.TID == p.PID {
			return t
		}
		if any == nil || t.TID < any.TID {
			any = t
		}
	}
	return any
}

// KilledStatusLocked is the wait status of p killed by sig: with
// WCOREDUMP when sig's default action dumps core and p's RLIMIT_CORE is
// not 0, as Linux reports when it writes the core (no core is written).
// Precondition: the kernel lock held.
func (p *Process) KilledStatusLocked(sig int) int32 {
	st := ksignal.WaitStatus(sig)
	if p.CoreDumps && ksignal.DefaultActionOf(sig) == ksignal.ActCore {
		st |= ksignal.CoreDumpFlag
	}
	return st
}

// PtraceTracee is a traced thread's relation: its tracer, and the
// relation's and stop's state (package ptrace). Protected by the kernel
// lock.
type PtraceTracee struct {
	Tracer *Thread
	ptrace.Tracee
}

// AppTimer is one signal-raising timer of a process: its ITIMER_REAL or
// a POSIX timer. Its fields are protected by the kernel lock; Timer has
// its own lock (a leaf below the kernel lock), and its expiry is told to
// the listener the kernel gave it, with no lock held.
type AppTimer struct {
	Proc *Process
	// ID is the timer_create id, or the ITIMER_REAL's own.
	ID      int32
	ClockID int32
	// Notify, Signo, TID and Value are the struct sigevent.
	Notify, Signo, TID int32
	Value              uint64
	// Timer runs the timer; nil for a timer on a CPU-time clock, which
	// the client runs (only it measures CPU time): the server holds its
	// id.
	Timer *ktimer.Timer
	// Deleted is set when the timer is deleted (timer_delete, exec,
	// exit): an expiration racing with it is dropped.
	Deleted bool
}

// ReplayOrder places its record among a message's (ReplayObject).
func (tm *AppTimer) ReplayOrder() (replay.Order, bool) { return OrderTimer, tm != nil }

// AllocTIDLocked returns a free TID: requested if it is free and nonzero
// (replay rebuilds the same ids), else the next free one.
func (k *Kernel) AllocTIDLocked(requested int32) (int32, error) {
	if len(k.Threads) >= MaxThreads {
		return 0, unix.EAGAIN
	}
	inUse := func(id int32) bool {
		if _, ok := k.Threads[id]; ok {
			return true
		}
		_, ok := k.Procs[id]
		return ok
	}
	if requested > 0 {
		if requested >= MaxTID || inUse(requested) {
			return 0, unix.EEXIST
		}
		if requested > k.LastTID {
			k.LastTID = requested
			k.Trk.IDsChanged()
		}
		return requested, nil
	}
	for i := 0; i < MaxTID; i++ {
		k.LastTID++
		if k.LastTID >= MaxTID {
			// Past pid_max the ids start over above the reserved ones,
			// as Linux's alloc_pid (RESERVED_PIDS).
			k.LastTID = reservedPIDs
		}
		if !inUse(k.LastTID) {
			k.Trk.IDsChanged()
			return k.LastTID, nil
		}
	}
	return 0, unix.EAGAIN
}

// NewThreadLocked makes a thread of p with TID tid.
func (k *Kernel) NewThreadLocked(p *Process, tid int32) *Thread {
	t := &Thread{TID: tid, Proc: p, Dead: make(chan struct{}), IO: &Identity{}, SemUndo: &Identity{}}
	p.Live[t] = struct{}{}
	p.All[t] = struct{}{}
	k.Threads[tid] = t
	k.Trk.Changed(t)
	return t
}

// NewProcessLocked makes a process with PID requestedPID (or the next
// free one) and its leader thread. The caller fills in the rest.
func (k *Kernel) NewProcessLocked(requestedPID int32, parent *Process) (*Process, error) {
	pid, err := k.AllocTIDLocked(requestedPID)
	if err != nil {
		return nil, err
	}
	k.lastGen++
	p := &Process{
		PID:        pid,
		Gen:        k.lastGen,
		Parent:     parent,
		Children:   make(map[*Process]struct{}),
		Live:       make(map[*Thread]struct{}),
		All:        make(map[*Thread]struct{}),
		ExitSignal: int(unix.SIGCHLD),
		VM:         &Identity{},

		CoredumpFilter: DefaultCoredumpFilter,
	}
	if parent != nil {
		parent.Children[p] = struct{}{}
	}
	k.Procs[pid] = p
	k.Trk.Changed(p)
	k.NewThreadLocked(p, pid)
	return p, nil
}

// ExitWaitStatus is the wait status of exit(code).
func ExitWaitStatus(code int) int32 { return int32(code&0xff) << 8 }

// KillThreadLocked ends t because of something other than its own exit
// call. A call in flight is woken and replied with an exit action; an idle
// thread gets a TaskExit push.
func (k *Kernel) KillThreadLocked(t *Thread, status int32, d *Deferred) {
	if t.Killed {
		return
	}
	t.Killed = true
	t.ExitStatus = status
	close(t.Dead)
	delete(t.Proc.Live, t)
	k.Trk.Changed(t)
	k.ptraceThreadGoneLocked(t, d)
	if t.TID != t.Proc.PID {
		k.ptraceTraceeGoneLocked(t, status, d)
	}
	if !t.InFlight {
		te := &sentrypb.TaskExit{Tid: t.TID, WaitStatus: status}
		if k.AppExited {
			te.WaitStatus, te.AppExit = k.AppStatus, true
		}
		d.Push(&sentrypb.Push{Msg: &sentrypb.Push_TaskExit{TaskExit: te}})
	}
}

// ExitProcessLocked makes p exit with wait status status: its threads are
// ended, its fds closed, its children reparented to init, and it becomes a
// zombie for its parent (or is reaped at once if the parent ignores its
// exit signal). If p is init, the whole application ends.
func (k *Kernel) ExitProcessLocked(p *Process, status int32, d *Deferred) {
	if p.Exiting {
		return
	}
	p.Exiting = true
	p.ExitStatus = status
	k.Trk.Changed(p)
	k.DeleteTimersLocked(p, true)
	// SEM_UNDO adjustments and shared memory attachments end with it.
	if gone := k.IPC.ProcessExited(p.PID); len(gone) > 0 {
		d.Do(func() { k.RemoveSegmentFiles(gone) })
	}
	if p == k.Init {
		k.AppExited = true
		k.AppStatus = status
	}
	for t := range p.Live {
		k.KillThreadLocked(t, status, d)
	}
	k.ptraceProcessExitLocked(p, d)
	if p.FDs != nil {
		p.FilesClosed = k.DropFDTableLocked(p.FDs, p.PID, d)
		p.FDs = nil
	}
	if p.FS != nil {
		p.FS.Refs--
		k.Trk.Changed(p.FS)
	}
	k.Trk.Changed(SigTable{Handlers: p.Sig})
	if p == k.Init {
		// The application is over: end every other process.
		for _, q := range k.Procs {
			if q != p && !q.Exiting {
				k.ExitProcessLocked(q, status, d)
			}
		}
		k.becomeZombieLocked(p)
		return
	}
	// Groups p kept from being orphaned (jobctl.go).
	orphanable := k.orphanableByExitLocked(p)
	// Reparent children to the nearest subreaper, else init, and send
	// those that asked their parent-death signal.
	reaper := k.reaperForLocked(p)
	for c := range p.Children {
		delete(p.Children, c)
		k.Trk.Changed(c)
		if reaper != nil {
			c.Parent = reaper
			reaper.Children[c] = struct{}{}
			if c.Zombie {
				k.notifyParentLocked(c, d)
			}
		} else {
			c.Parent = nil
			if c.Zombie {
				k.ReapLocked(c)
			}
		}
		if c.PdeathSignal != 0 && !c.Zombie {
			// As Linux, once the child has its new parent.
			info := ksignal.SiginfoKill(c.PdeathSignal, ksignal.SIUser, p.PID, p.Creds.RUID)
			k.SignalProcessLocked(c, nil, c.PdeathSignal, info, d)
		}
	}
	k.hangUpOrphanedLocked(orphanable, d)
	p.Zombie = true
	if p.Spawned {
		d.Push(SpawnExitPush(p))
	}
	k.notifyParentLocked(p, d)
	k.becomeZombieLocked(p)
}

// becomeZombieLocked marks exited p a zombie and wakes its waits and
// its pidfds' (notifyParentLocked may have reaped it already).
func (k *Kernel) becomeZombieLocked(p *Process) {
	p.Zombie = true
	if p.PidfdExit != nil {
		p.PidfdExit.SetExited()
	}
	k.Waitq.Notify()
}

// CredsChanged is told that p's credentials changed from old: as Linux's
// commit_creds, a change of the effective or fs user or group clears
// the parent-death signal (a set-user-ID program does not get one its
// unprivileged parent asked for).
func (p *Process) CredsChanged(old auth.Creds) {
	cr := p.Creds
	if cr.EUID != old.EUID || cr.EGID != old.EGID || cr.FSUID != old.FSUID || cr.FSGID != old.FSGID {
		p.PdeathSignal = 0
	}
}

// reaperForLocked is the process that adopts exiting p's children (Linux's
// find_new_reaper): p's nearest ancestor that is a child subreaper and
// not exiting, else init; nil once init is exiting.
func (k *Kernel) reaperForLocked(p *Process) *Process {
	for a := p.Parent; a != nil && a != k.Init; a = a.Parent {
		if a.ChildSubreaper && !a.Exiting {
			return a
		}
	}
	if k.Init != nil && !k.Init.Exiting {
		return k.Init
	}
	return nil
}

// notifyParentLocked signals zombie p's parent, or reaps p if the parent
// does not wait for it (SIGCHLD ignored or SA_NOCLDWAIT).
func (k *Kernel) notifyParentLocked(p *Process, d *Deferred) {
	par := p.Parent
	if par == nil || par.Exiting {
		if par == nil {
			k.ReapLocked(p)
		}
		return
	}
	if p.ExitSignal == int(unix.SIGCHLD) {
		act := par.Sig.Act[unix.SIGCHLD]
		if act.Handler == ksignal.SigIgn || act.Flags&ksignal.SANoCldWait != 0 {
			k.ReapLocked(p)
			return
		}
	}
	if p.ExitSignal > 0 && p.ExitSignal <= ksignal.NumSignals {
		code, st := ksignal.ChildStatus(p.ExitStatus)
		info := ksignal.SiginfoChld(p.ExitSignal, code, p.PID, p.Creds.RUID, st)
		k.SignalProcessLocked(par, nil, p.ExitSignal, info, d)
	}
}

// ReapLocked frees zombie p.
func (k *Kernel) ReapLocked(p *Process) {
	for _, o := range k.UnlinkReapedLocked(p) {
		k.Trk.Changed(o)
	}
}

// UnlinkReapedLocked removes reaped process p and its threads from the
// tables and returns the objects whose records that deleted (p and its
// threads), for the caller to touch now (ReapLocked) or as a wait's
// reply is built (commitEffectsLocked, for reapWaitedLocked).
func (k *Kernel) UnlinkReapedLocked(p *Process) []ReplayObject {
	objs := []ReplayObject{p}
	if p.PidfdExit != nil {
		p.PidfdExit.SetReaped()
	}
	if p.Parent != nil {
		delete(p.Parent.Children, p)
		p.Parent = nil
	}
	for t := range p.All {
		if k.Threads[t.TID] == t {
			delete(k.Threads, t.TID)
		}
		objs = append(objs, t)
	}
	p.All = map[*Thread]struct{}{}
	if k.Procs[p.PID] == p {
		delete(k.Procs, p.PID)
	}
	return objs
}

// GoneThreadExitLocked answers an exit or exit_group (nil for any other
// call) of a thread this server does not know: one whose exit a dead
// server ran, and whose process a wait reaped there, before the exit's
// reply reached the client, which re-sent it. An exit cannot fail: the
// thread ends as it asked (ESRCH left it spinning in libc's exit loop on
// the client). Precondition: k.Mu.
func (k *Kernel) GoneThreadExitLocked(call *sentrypb.Call) *sentrypb.ExitAction {
	sc := call.GetSyscall()
	if sc == nil || (sc.Sysno != unix.SYS_EXIT && sc.Sysno != unix.SYS_EXIT_GROUP) {
		return nil
	}
	var code int
	if len(sc.Args) > 0 {
		code = int(sc.Args[0])
	}
	ea := &sentrypb.ExitAction{Group: sc.Sysno == unix.SYS_EXIT_GROUP, WaitStatus: ExitWaitStatus(code)}
	if k.AppExited {
		ea.WaitStatus, ea.AppExit = k.AppStatus, true
	}
	return ea
}

// ExitThreadLocked ends t by its own exit(2). If it was the process's
// last thread the process exits with status code.
func (k *Kernel) ExitThreadLocked(t *Thread, code int, d *Deferred) *sentrypb.ExitAction {
	p := t.Proc
	delete(p.Live, t)
	t.Killed = true
	t.ExitStatus = ExitWaitStatus(code)
	close(t.Dead)
	k.Trk.Changed(t)
	k.ptraceThreadGoneLocked(t, d)
	if t.TID != p.PID {
		k.ptraceTraceeGoneLocked(t, t.ExitStatus, d)
		delete(p.All, t)
		delete(k.Threads, t.TID)
	}
	if len(p.Live) == 0 {
		k.ExitProcessLocked(p, ExitWaitStatus(code), d)
	}
	ea := &sentrypb.ExitAction{Group: false, WaitStatus: ExitWaitStatus(code)}
	if k.AppExited {
		ea.WaitStatus, ea.AppExit = k.AppStatus, true
	}
	return ea
}

// ProcessGroupLocked returns the live (non-zombie) processes in pgid.
func (k *Kernel) ProcessGroupLocked(pgid int32) []*Process {
	var out []*Process
	for _, p := range k.Procs {
		if p.PGID == pgid && !p.Exiting {
			out = append(out, p)
		}
	}
	return out
}

// SpawnExitPush is the push that tells the client spawned process p
// exited with its wait status.
func SpawnExitPush(p *Process) *sentrypb.Push {
	return &sentrypb.Push{Msg: &sentrypb.Push_SpawnExit{SpawnExit: &sentrypb.SpawnExit{Pid: p.PID, WaitStatus: p.ExitStatus}}}
}

// RemoveSegmentFiles removes the files of destroyed segments. The gofer
// renames one the client still maps aside (as any unlinked open file).
func (k *Kernel) RemoveSegmentFiles(names []string) {
	v := k.VFS
	dir, dh := v.ShmIfMade()
	if dir == nil {
		// A restored server that has not opened /dev/shm yet: the
		// files go with the directory when the client's state is freed.
		return
	}
	for _, name := range names {
		child := v.CachedChild(dir, name)
		open := child != nil && k.Maps.Holds(child.Ino())
		ctx, cancel := v.RPCCtx()
		r, err := k.Gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dh, Name: []byte(name), Open: open})
		cancel()
		if err := syserr.FromGofer("unlink "+name, r.GetErrno(), err); err != nil {
			k.Log.Warn("removing a shared memory segment's file failed", "name", name, "err", err)
		}
		v.Forget(dir, name)
	}
}

// testHookFilesClose, set by tests only, runs before a dropped table's
// files are closed (to widen the window a reaping parent must wait out).
var testHookFilesClose atomic.Pointer[func()]

// SetTestHookFilesClose sets testHookFilesClose (nil: none); for tests
// of other packages.
func SetTestHookFilesClose(f func()) {
	if f == nil {
		testHookFilesClose.Store(nil)
		return
	}
	testHookFilesClose.Store(&f)
}

// DropFDTableLocked drops process pid's use of tab; the last one closes
// every file, each as a close by pid (fdesc.File.Flush), after k.Mu is
// released, through d, before d's pushes: an exiting process's parent
// gets SIGCHLD once they are closed, as Linux's exit_files comes before
// exit_notify. It returns a channel closed once
// they are, nil when there was none to close.
func (k *Kernel) DropFDTableLocked(tab *fdtable.Table, pid int32, d *Deferred) <-chan struct{} {
	files := tab.Release()
	if len(files) == 0 {
		return nil
	}
	closed := make(chan struct{})
	d.Before(func() {
		defer close(closed)
		if hook := testHookFilesClose.Load(); hook != nil {
			(*hook)()
		}
		for _, f := range files {
			f.Flush(pid)
			f.DecRef()
		}
	})
	return closed
}
