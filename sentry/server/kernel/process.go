package kernel

import (
	"sync/atomic"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ptrace"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// MaxTID bounds TIDs (pid_max).
const MaxTID = 1 << 22

// Thread is one application thread. TID changes only on an exec by a
// thread that is not the leader. All fields are protected by the kernel
// lock (the server's clientState.Mu) unless said otherwise. Its calls'
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
}

// ReplayOrder places its record among a message's (ReplayObject).
func (th *Thread) ReplayOrder() (replay.Order, bool) { return OrderThread, th != nil }

// Process is a thread group. Fields are protected by the kernel lock.
type Process struct {
	PID int32
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
