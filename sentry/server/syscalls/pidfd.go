package syscalls

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/pidfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The pidfd calls: pidfd_open, pidfd_send_signal and pidfd_getfd, over
// package kernel's pidfds (kernel/pidfd.go). Clone's CLONE_PIDFD is
// process.go's, waitid's P_PIDFD its Waitid. Errors come in Linux's
// order (kernel/pid.c, kernel/signal.c).

// pidfdNonblock is PIDFD_NONBLOCK, pidfd_open's only flag here: Linux
// 6.9's PIDFD_THREAD (a pidfd of one thread) is refused with EINVAL, as
// a kernel before it does.
const pidfdNonblock = unix.O_NONBLOCK

// PidfdOpen implements pidfd_open(2): a close-on-exec pidfd of process
// pid.
func PidfdOpen(c *kernel.Task) (int64, error) {
	pid, flags := ArgInt(c, 0), uint32(c.Args[1])
	if flags&^pidfdNonblock != 0 || pid <= 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	k := c.Kernel
	k.Mu.Lock()
	f, err := k.NewPidfdLocked(pid, flags)
	k.Mu.Unlock()
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, true, c.CallSeq)
	return int64(fd), err
}

// pidfdOf returns the pidfd at fd of the caller: EBADF if fd is not open
// or not a pidfd. The caller drops the reference on f.
func pidfdOf(c *kernel.Task, fd int32) (*fdesc.File, *pidfd.File, error) {
	f, err := c.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	pf, ok := f.Impl.(*pidfd.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return f, pf, nil
}

// PidfdSendSignal implements pidfd_send_signal(2): as kill(2) of the
// process the pidfd refers to (or, as Linux allows, of the process whose
// /proc/<pid> directory the fd is), with the caller's siginfo as
// rt_sigqueueinfo's. No flag is supported: Linux 6.9's PIDFD_SIGNAL_*
// scopes are EINVAL, as before them.
func PidfdSendSignal(c *kernel.Task) (int64, error) {
	fd, sig, infoAddr, flags := ArgInt(c, 0), int(int32(c.Args[1])), c.Args[2], uint32(c.Args[3])
	if flags != 0 {
		return 0, unix.EINVAL
	}
	f, err := c.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	pf, isPidfd := f.Impl.(*pidfd.File)
	var procPID int32
	var procGen uint64
	if !isPidfd {
		d := vfs.DentryOf(f)
		if d == nil || d.Kind != vfs.KindProcPid {
			return 0, unix.EBADF
		}
		procPID, procGen = d.PID, d.Gen
	}
	var info []byte
	if infoAddr != 0 {
		if info, err = c.Mem.CopyIn(infoAddr, ksignal.SizeofSiginfo); err != nil {
			return 0, err
		}
		if int(int32(binary.LittleEndian.Uint32(info[0:]))) != sig {
			return 0, unix.EINVAL
		}
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	var p *kernel.Process
	if isPidfd {
		p = k.PidfdProcessLocked(pf)
	} else if p = k.Procs[procPID]; p != nil && procGen != 0 && p.Gen != procGen {
		// The directory's process was reaped and its id given to
		// another (Linux's proc inode holds its struct pid).
		p = nil
	}
	if p == nil {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	self := c.Thread.Proc
	if info != nil {
		// Only the caller itself may be sent a siginfo that claims to
		// come from a user (si_code >= 0, or SI_TKILL).
		code := int32(binary.LittleEndian.Uint32(info[8:]))
		if p != self && (code >= 0 || code == ksignal.SITkill) {
			k.Mu.Unlock()
			return 0, unix.EPERM
		}
	} else {
		info = ksignal.SiginfoKill(sig, ksignal.SIUser, self.PID, self.Creds.RUID)
	}
	switch {
	case sig < 0 || sig > ksignal.NumSignals:
		err = unix.EINVAL
	case !mayKillLocked(self, p, sig):
		err = unix.EPERM
	case sig != 0:
		k.SignalFromAppLocked(p, nil, sig, info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return 0, err
}

// PidfdGetfd implements pidfd_getfd(2): a close-on-exec duplicate, in
// the caller's table, of fd targetfd of the process the pidfd refers
// to, which the caller must be allowed to trace (Linux's
// PTRACE_MODE_ATTACH_REALCREDS: its real ids, or CAP_SYS_PTRACE, and
// the Yama scope), as the same description (its offset and flags are
// shared).
func PidfdGetfd(c *kernel.Task) (int64, error) {
	fd, targetfd, flags := ArgInt(c, 0), ArgInt(c, 1), c.Args[2]
	if flags != 0 {
		return 0, unix.EINVAL
	}
	f, pf, err := pidfdOf(c, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	k := c.Kernel
	k.Mu.Lock()
	p := k.PidfdProcessLocked(pf)
	if p == nil {
		k.Mu.Unlock()
		return 0, unix.ESRCH
	}
	self := c.Thread.Proc
	if p != self && !k.PtraceMayAccessLocked(self, p) {
		k.Mu.Unlock()
		return 0, unix.EPERM
	}
	from, to, exiting := p.FDs, self.FDs, p.Exiting
	k.Mu.Unlock()
	if exiting || from == nil || to == nil {
		// An exiting process's fds are ESRCH, as current Linux
		// answers (older kernels: EBADF for a zombie's, its table
		// gone).
		return 0, unix.ESRCH
	}
	tf, _, err := from.Get(targetfd)
	if err != nil {
		return 0, err
	}
	nfd, err := to.Install(tf, 0, true, c.CallSeq)
	if err != nil {
		return 0, fmt.Errorf("pidfd_getfd: installing fd %d of process %d: %w", targetfd, pf.PID, err)
	}
	return int64(nfd), nil
}

// clonePidfdCheck refuses a clone(CLONE_PIDFD) as Linux's
// copy_process does before the child is made: with EMFILE when the
// caller's table is full, as Linux reserves the fd first, then with
// EFAULT if the pidfd cannot be written at addr. The client sends the
// pidfd's 4 bytes as an input only if the application may write them
// (sysabi's pidfd probe); it writes the pidfd after the reply.
func clonePidfdCheck(c *kernel.Task, addr uint64) error {
	tab, err := c.FDTable()
	if err != nil {
		return err
	}
	if !tab.HasFree() {
		return unix.EMFILE
	}
	if addr == 0 {
		return unix.EFAULT
	}
	if _, err := c.Mem.CopyIn(addr, 4); err != nil {
		return unix.EFAULT
	}
	return nil
}

// clonePidfd installs a close-on-exec pidfd of child tid, just made by
// the caller's clone(CLONE_PIDFD), in the caller's table, and writes its
// number to addr (clone's parent_tid argument, clone3's pidfd) as an
// int. Should another thread fill the table since clonePidfdCheck, the
// child, which has not run yet, is killed (as the client ends a child
// whose address space it could not copy) and the clone fails with
// EMFILE.
func clonePidfd(c *kernel.Task, tid int32, addr uint64) error {
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	np := k.Procs[tid]
	tab := c.Thread.Proc.FDs
	if np == nil || tab == nil {
		k.Mu.Unlock()
		return fmt.Errorf("clone: child %d gone before its pidfd: %w", tid, unix.ESRCH)
	}
	fd, err := tab.Install(pidfd.New(tid, np.Gen, k.PidfdExitLocked(np), 0), 0, true, c.CallSeq)
	if err != nil {
		k.ExitProcessLocked(np, np.KilledStatusLocked(int(unix.SIGKILL)), &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	if err != nil {
		return fmt.Errorf("clone: child %d's pidfd: %w", tid, err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(fd))
	return c.Mem.CopyOut(addr, b[:])
}
