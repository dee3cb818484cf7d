package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/pidfd"
)

// Pidfds: a pidfd (package pidfd) holds its process's id and Exit; the
// process holds the same Exit (Process.PidfdExit), marked as it becomes
// a zombie and is reaped (becomeZombieLocked, UnlinkReapedLocked). The
// process a pidfd refers to is the one of that id whose Exit it is, so a
// later process given the id after a reap is not it.

// PidfdExitLocked returns p's Exit, made at its first pidfd.
// Precondition: k.Mu is held.
func (k *Kernel) PidfdExitLocked(p *Process) *pidfd.Exit {
	if p.PidfdExit == nil {
		p.PidfdExit = pidfd.NewExit()
		if p.Zombie {
			p.PidfdExit.SetExited()
		}
	}
	return p.PidfdExit
}

// NewPidfdLocked returns a description of a new pidfd of the process of
// id pid, with flags' O_NONBLOCK: ESRCH if there is none, EINVAL if pid
// is a thread's but not its process's (Linux's pidfd_prepare wants a
// thread group leader). A zombie has pidfds. Precondition: k.Mu is held.
func (k *Kernel) NewPidfdLocked(pid int32, flags uint32) (*fdesc.File, error) {
	p := k.Procs[pid]
	if p == nil {
		if t := k.Threads[pid]; t != nil {
			return nil, unix.EINVAL
		}
		return nil, unix.ESRCH
	}
	return pidfd.New(pid, p.Gen, k.PidfdExitLocked(p), flags), nil
}

// PidfdProcessLocked returns the process pidfd pf refers to, nil once it
// was reaped. Precondition: k.Mu is held.
func (k *Kernel) PidfdProcessLocked(pf *pidfd.File) *Process {
	if p := k.Procs[pf.PID]; p != nil && p.PidfdExit == pf.Exit {
		return p
	}
	return nil
}

// pidfdState is a pidfd's record: the id and generation of its process
// (see KernelObjectState.pidfd_pid, pidfd_gen).
func pidfdState(pf *pidfd.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	return sentrypb.FileState_PIDFD, &sentrypb.KernelObjectState{PidfdPid: pf.PID, PidfdGen: pf.Gen}
}

// restorePidfd rebuilds a pidfd after a server failure: it refers to the
// restored process of its id and generation (restoreProcsLocked ran
// before the files, and restored the generations), else to one already
// reaped, even when its id was given to another process before the
// failure. A record without a generation (from a server that predates
// them) takes the process of its id.
func (k *Kernel) restorePidfd(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) *fdesc.File {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	exit := pidfd.Gone()
	if p := k.Procs[st.PidfdPid]; p != nil && st.PidfdPid > 0 && (st.PidfdGen == 0 || st.PidfdGen == p.Gen) {
		exit = k.PidfdExitLocked(p)
	}
	f := pidfd.New(st.PidfdPid, st.PidfdGen, exit, 0)
	f.Flags.Store(fs.Flags)
	return f
}

// PtraceMayAccessLocked says process tracer may trace process tracee
// (Linux's PTRACE_MODE_ATTACH_REALCREDS, as PTRACE_ATTACH checks it):
// what pidfd_getfd asks. Precondition: k.Mu is held.
func (k *Kernel) PtraceMayAccessLocked(tracer, tracee *Process) bool {
	return ptraceMayAccess(tracer, tracee)
}
