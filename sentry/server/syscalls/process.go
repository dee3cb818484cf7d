package syscalls

import (
	"encoding/binary"
	"sort"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The process tree's calls: clone, execve, exit, wait4 and waitid, the
// ids, process groups and sessions, over package kernel's process tree
// and exec.

// unsupportedCloneFlags are namespace flags, not implemented (a mount
// namespace is: CLONE_NEWNS).
const unsupportedCloneFlags = unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Clone implements clone(2), fork(2) and vfork(2).
func Clone(c *kernel.Task) (int64, error) {
	var flags uint64
	switch c.Sysno {
	case unix.SYS_FORK:
		flags = uint64(unix.SIGCHLD)
	case unix.SYS_VFORK:
		flags = unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)
	default:
		// As Linux's clone: only the low 32 bits are flags (clone3's
		// own flags are above them).
		flags = uint64(uint32(c.Args[0]))
	}
	if flags&unix.CLONE_PIDFD != 0 && flags&unix.CLONE_PARENT_SETTID != 0 {
		// The pidfd goes to parent_tid: kernel_clone refuses the
		// two at one location.
		return 0, unix.EINVAL
	}
	return clone(c, cloneRequest{flags: flags, pidfd: c.Args[2]})
}

// Clone3 implements clone3(2): struct clone_args, read and checked as
// Linux's copy_clone_args_from_user and clone3_args_valid, makes the
// child as clone does. The client sets up the child's stack (stack +
// stack_size), TLS and tid words from the same struct.
//
// set_tid (one pid: the sandbox has one pid namespace) needs
// CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, and a free pid.
// CLONE_INTO_CGROUP is accepted and ignored, as by a Linux built
// without cgroups (the sandbox's configuration), whose cgroup_can_fork
// refuses nothing.
func Clone3(c *kernel.Task) (int64, error) {
	addr, size := c.Args[0], c.Args[1]
	if err := sysabi.CheckCloneArgsSize(size); err != nil {
		return 0, err
	}
	b, err := c.Mem.CopyIn(addr, int(size))
	if err != nil {
		return 0, err
	}
	a, err := sysabi.DecodeCloneArgs(b)
	if err != nil {
		return 0, err
	}
	if err := a.CheckCopied(size); err != nil {
		return 0, err
	}
	var setTID []int32
	if a.SetTIDSize > 0 {
		ids, err := c.Mem.CopyIn(a.SetTID, int(4*a.SetTIDSize))
		if err != nil {
			return 0, err
		}
		for i := 0; i < len(ids); i += 4 {
			setTID = append(setTID, int32(binary.LittleEndian.Uint32(ids[i:])))
		}
	}
	if err := a.Valid(); err != nil {
		return 0, err
	}
	return clone(c, cloneRequest{flags: a.LegacyFlags(), pidfd: a.Pidfd, setTID: setTID})
}

// cloneRequest is what clone, fork, vfork and clone3 ask of the server.
type cloneRequest struct {
	// flags are clone's, with the exit signal in the low byte, and
	// clone3's CLONE_CLEAR_SIGHAND.
	flags uint64
	// pidfd is where the pidfd goes with CLONE_PIDFD.
	pidfd uint64
	// setTID is clone3's set_tid: the child's pid in each pid
	// namespace, innermost first.
	setTID []int32
}

// clone makes the child of req, in the order of Linux's copy_process:
// the flags' checks, the pid (set_tid), the pidfd, then the child.
func clone(c *kernel.Task, req cloneRequest) (int64, error) {
	flags := req.flags
	if err := cloneFlagsCheck(flags); err != nil {
		return 0, err
	}
	var requested int32
	if len(req.setTID) > 0 {
		// alloc_pid: no more pids than namespaces (one here), one in
		// pid_max's range, and the privilege to choose it.
		if len(req.setTID) > 1 {
			return 0, unix.EINVAL
		}
		requested = req.setTID[0]
		if requested < 1 || requested >= kernel.MaxTID {
			return 0, unix.EINVAL
		}
		if cr := c.ProcessCreds(); !cr.Capable(linux.CAP_SYS_ADMIN) && !cr.Capable(linux.CAP_CHECKPOINT_RESTORE) {
			return 0, unix.EPERM
		}
	}
	if flags&unix.CLONE_PIDFD != 0 {
		if err := clonePidfdCheck(c, req.pidfd); err != nil {
			return 0, err
		}
	}
	tid, err := doClone(c, flags, requested)
	if err != nil {
		return 0, err
	}
	if flags&unix.CLONE_PIDFD != 0 {
		if err := clonePidfd(c, tid, req.pidfd); err != nil {
			return 0, err
		}
	}
	if flags&(unix.CLONE_THREAD|unix.CLONE_VM) == 0 {
		// The child's copy of the address space has the parent's
		// SysV shared memory attachments.
		c.Kernel.IPC.ProcessForked(c.PID(), tid)
	}
	c.Reply.Action = &sentrypb.Reply_Clone{Clone: &sentrypb.CloneResult{ChildTid: tid}}
	return int64(tid), nil
}

// cloneFlagsCheck refuses what copy_process refuses of flags before it
// makes anything.
func cloneFlagsCheck(flags uint64) error {
	if flags&unix.CLONE_NEWNS != 0 && flags&(unix.CLONE_FS|unix.CLONE_THREAD) != 0 {
		// Linux refuses CLONE_NEWNS|CLONE_FS first; a thread's fs context
		// is its process's here, so it cannot have a namespace of its
		// own either.
		return unix.EINVAL
	}
	if flags&unix.CLONE_THREAD != 0 && flags&unix.CLONE_SIGHAND == 0 {
		return unix.EINVAL
	}
	if flags&unix.CLONE_SIGHAND != 0 && flags&unix.CLONE_VM == 0 {
		return unix.EINVAL
	}
	if flags&unsupportedCloneFlags != 0 {
		return unix.EINVAL
	}
	if int(flags&0xff) > ksignal.NumSignals {
		return unix.EINVAL
	}
	if flags&unix.CLONE_PIDFD != 0 && flags&(sysabi.CloneDetached|unix.CLONE_THREAD) != 0 {
		// Linux 6.9's thread pidfds are not supported: EINVAL, as
		// before them.
		return unix.EINVAL
	}
	return nil
}

// doClone makes the thread or process of a clone with flags, checked by
// cloneFlagsCheck, with TID requested (0: the next free one).
func doClone(c *kernel.Task, flags uint64, requested int32) (int32, error) {
	exitSig := int(flags & 0xff)
	k := c.Kernel
	if flags&unix.CLONE_NEWNS != 0 {
		if !c.ProcessCreds().Capable(linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
		// The namespace's copy is made under MntMu, taken before the
		// kernel lock (vfs's lock order).
		k.VFS.MntMu.Lock()
		defer k.VFS.MntMu.Unlock()
		k.ReapMountNS()
	}
	var d kernel.Deferred
	k.Mu.Lock()
	defer func() {
		k.Mu.Unlock()
		d.Run(k.Out)
	}()
	p := c.Thread.Proc
	if p.Exiting || c.Thread.Killed {
		return 0, unix.ESRCH
	}
	sched := c.Thread.Sched.Forked()
	if sched.Policy == linux.SCHED_DEADLINE {
		// As Linux's sched_fork: a deadline task's bandwidth is its own.
		return 0, unix.EAGAIN
	}
	if flags&unix.CLONE_THREAD != 0 {
		tid, err := k.AllocTIDLocked(requested)
		if err != nil {
			return 0, err
		}
		th := k.NewThreadLocked(p, tid)
		th.Sched, th.TimerSlack = sched, c.Thread.TimerSlack.Forked()
		shareTaskIdentities(c.Thread, th, flags)
		k.PtraceCloneLocked(c.Thread, th, flags, &d)
		return tid, nil
	}
	var nsFS *kernel.FSContext
	if flags&unix.CLONE_NEWNS != 0 {
		// The child's context in a copy of the parent's namespace, made
		// first: a failure below leaves a namespace of no process,
		// which the next ReapMountNS takes out.
		nsFS = p.FS.Copy()
		if err := k.NewMountNSLocked(nsFS); err != nil {
			return 0, err
		}
	}
	parent := p
	if flags&unix.CLONE_PARENT != 0 {
		if p.Parent == nil {
			return 0, unix.EINVAL
		}
		parent = p.Parent
	}
	if flags&unix.CLONE_FILES == 0 && !p.FDs.CopyFits() {
		// Linux's copy_process copies the fd table (dup_fd) before it
		// allocates the pid.
		return 0, unix.EMFILE
	}
	np, err := k.NewProcessLocked(requested, parent)
	if err != nil {
		return 0, err
	}
	np.PGID, np.SID = p.PGID, p.SID
	np.Creds = p.Creds
	np.FsizeLimited, np.FsizeLimit = p.FsizeLimited, p.FsizeLimit
	np.CoreDumps, np.CoredumpFilter = p.CoreDumps, p.CoredumpFilter
	np.OOMScoreAdj, np.OOMScoreAdjMin = p.OOMScoreAdj, p.OOMScoreAdjMin
	np.NiceLimit, np.RTPrioLimit = p.NiceLimit, p.RTPrioLimit
	np.ExitSignal = exitSig
	np.Comm, np.Exe, np.Argv, np.Env = p.Comm, p.Exe, p.Argv, p.Env
	if flags&unix.CLONE_VM != 0 {
		np.VM = p.VM
	}
	shareTaskIdentities(c.Thread, k.Threads[np.PID], flags)
	if flags&unix.CLONE_FILES != 0 {
		np.FDs = p.FDs
		np.FDs.IncRef()
	} else {
		np.FDs = p.FDs.Fork()
	}
	switch {
	case flags&unix.CLONE_FS != 0:
		np.FS = p.FS
		np.FS.Refs++
	case nsFS != nil:
		np.FS = nsFS
	default:
		np.FS = p.FS.Copy()
	}
	if flags&unix.CLONE_SIGHAND != 0 {
		np.Sig = p.Sig
	} else {
		np.Sig = p.Sig.Clone()
		if flags&sysabi.CloneClearSighand != 0 {
			np.Sig.Flush()
		}
	}
	k.Trk.Changed(np.FS)
	k.Trk.Changed(kernel.SigTable{Handlers: np.Sig})
	k.Threads[np.PID].Sched, k.Threads[np.PID].TimerSlack = sched, c.Thread.TimerSlack.Forked()
	k.PtraceCloneLocked(c.Thread, k.Threads[np.PID], flags, &d)
	return np.PID, nil
}

// shareTaskIdentities gives child, made by parent's clone with flags, its
// parent's I/O context (CLONE_IO) and semaphore undo list (CLONE_SYSVSEM)
// as kcmp(2) compares them; otherwise it keeps its own new ones.
// Precondition: the kernel lock is held.
func shareTaskIdentities(parent, child *kernel.Thread, flags uint64) {
	if flags&unix.CLONE_IO != 0 {
		child.IO = parent.IO
	}
	if flags&unix.CLONE_SYSVSEM != 0 {
		child.SemUndo = parent.SemUndo
	}
}

// Execve implements execve(2) and execveat(2).
func Execve(c *kernel.Task) (int64, error) {
	dirfd, pi, ai, ei, flags := int32(linux.AT_FDCWD), 0, 1, 2, uint32(0)
	if c.Sysno == unix.SYS_EXECVEAT {
		dirfd, pi, ai, ei, flags = ArgInt(c, 0), 1, 2, 3, uint32(c.Args[4])
	}
	if flags&^(linux.AT_EMPTY_PATH|linux.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	path, err := PathArg(c, pi)
	if err != nil {
		return 0, err
	}
	follow := flags&linux.AT_SYMLINK_NOFOLLOW == 0
	if path != "" {
		// As Linux since 6.8, the file is looked up before argv and
		// envp are read: an exec of a missing file fails ENOENT
		// whatever they are (the client answers some such execs
		// itself: sentry/client/openmissing.go).
		start, err := StartDir(c, dirfd, path)
		if err != nil {
			return 0, err
		}
		if _, err := c.Kernel.VFS.Resolve(c, start, path, follow); err != nil {
			return 0, err
		}
	}
	argv, err := c.Mem.CopyInStringVector(c.Args[ai], sysabi.MaxArgStrings, sysabi.MaxArgBytes)
	if err != nil {
		return 0, err
	}
	if len(argv) == 0 {
		// As Linux since 5.18: an empty argv becomes {""}, so that no
		// program sees argc 0 (and argv[1] as its environment).
		argv = []string{""}
	}
	envp, err := c.Mem.CopyInStringVector(c.Args[ei], sysabi.MaxArgStrings, sysabi.MaxArgBytes)
	if err != nil {
		return 0, err
	}
	var start *vfs.Dentry
	if path == "" {
		if flags&linux.AT_EMPTY_PATH == 0 {
			return 0, unix.ENOENT
		}
		f, err := c.GetFile(dirfd)
		if err != nil {
			return 0, err
		}
		d := vfs.DentryOf(f)
		f.DecRef()
		if d == nil {
			return 0, unix.EACCES
		}
		// The file's path from the caller's root; one outside it
		// (a chroot(2) after the open) by its name in its directory.
		p, under, _ := c.Kernel.VFS.PathUnder(c.Root(), d)
		path, start = p, c.Root()
		if !under {
			path, start = c.Kernel.VFS.NameOf(d), c.Kernel.VFS.ParentOf(d)
		}
	} else if start, err = StartDir(c, dirfd, path); err != nil {
		return 0, err
	}
	ep, err := c.Kernel.PlanExec(c, start, path, argv, envp, follow)
	if err != nil {
		return 0, err
	}
	ep.NoNewPrivs = c.NoNewPrivs
	if !c.Kernel.CommitExec(c, ep) {
		// Killed past the point of no return: the reply is its exit
		// (the caller's thread is killed).
		return 0, unix.EMFILE
	}
	c.Reply.Action = &sentrypb.Reply_Exec{Exec: ep.Plan}
	return 0, nil
}

// Exit implements exit(2).
func Exit(c *kernel.Task) (int64, error) {
	var d kernel.Deferred
	k := c.Kernel
	k.Mu.Lock()
	ea := k.ExitThreadLocked(c.Thread, int(c.Args[0]), &d)
	k.Mu.Unlock()
	d.Run(k.Out)
	c.Reply.Action = &sentrypb.Reply_Exit{Exit: ea}
	return 0, nil
}

// ExitGroup implements exit_group(2).
func ExitGroup(c *kernel.Task) (int64, error) {
	var d kernel.Deferred
	k := c.Kernel
	k.Mu.Lock()
	p := c.Thread.Proc
	status := kernel.ExitWaitStatus(int(c.Args[0]))
	if p.Exiting {
		status = p.ExitStatus
	}
	k.ExitProcessLocked(p, status, &d)
	ea := &sentrypb.ExitAction{Group: true, WaitStatus: status}
	if k.AppExited {
		ea.WaitStatus, ea.AppExit = k.AppStatus, true
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	c.Reply.Action = &sentrypb.Reply_Exit{Exit: ea}
	return 0, nil
}

const (
	wNohang    = 0x1
	wUntraced  = 0x2
	wExited    = 0x4
	wContinued = 0x8
	wNowait    = 0x01000000
	wNothread  = 0x20000000
	wAll       = 0x40000000
	wClone     = 0x80000000

	pAll   = 0
	pPID   = 1
	pPGID  = 2
	pPIDFD = 3
)

// waitFor waits for a child matching match (given the child's pid, or a
// tracee's TID) to have something to report
// per options: its exit (with exited), a stop (WUNTRACED/WSTOPPED) or a
// continue (WCONTINUED). It reaps an exited child and consumes a stop or
// continue event, unless WNOWAIT. pid 0 with WNOHANG means none is ready.
func waitFor(c *kernel.Task, match func(p, ch *kernel.Process, tid int32) bool, options uint32, exited bool) (kernel.WaitResult, error) {
	k := c.Kernel
	for {
		k.Mu.Lock()
		p := c.Thread.Proc
		var cands []*kernel.Process
		for ch := range p.Children {
			if options&wAll == 0 {
				isClone := ch.ExitSignal != int(unix.SIGCHLD)
				if isClone != (options&wClone != 0) {
					continue
				}
			}
			if match(p, ch, ch.PID) {
				cands = append(cands, ch)
			}
		}
		tr, traces, ok := k.PtraceWaitLocked(p, match, options)
		if ok {
			k.Mu.Unlock()
			return tr, nil
		}
		if len(cands) == 0 && !traces {
			k.Mu.Unlock()
			return kernel.WaitResult{}, unix.ECHILD
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].PID < cands[j].PID })
		for _, ch := range cands {
			if ch.Zombie {
				if !exited {
					continue
				}
				r := kernel.WaitResult{PID: ch.PID, Status: ch.ExitStatus, UID: ch.Creds.RUID}
				r.Code, r.SIStatus = ksignal.ChildStatus(ch.ExitStatus)
				if options&wNowait == 0 {
					reapWaitedLocked(c, ch)
				}
				closed := ch.FilesClosed
				k.Mu.Unlock()
				if closed != nil {
					awaitFilesClosed(closed)
				}
				return r, nil
			}
			if st, code, sist, ok := k.WaitEventLocked(ch, options); ok {
				r := kernel.WaitResult{PID: ch.PID, Status: st, UID: ch.Creds.RUID, Code: code, SIStatus: sist}
				k.Mu.Unlock()
				return r, nil
			}
		}
		if options&wNohang != 0 {
			k.Mu.Unlock()
			return kernel.WaitResult{}, nil
		}
		ch := k.Waitq.Wait()
		k.Mu.Unlock()
		if err := c.Block(ch, nil); err != nil {
			return kernel.WaitResult{}, err
		}
	}
}

// maxFilesCloseWait bounds how long a wait for a reaped child waits for
// its files to close: the exiting thread closes them right after it
// released k.Mu, but a close may make a gofer call.
const maxFilesCloseWait = 2 * time.Second

// awaitFilesClosed waits until a reaped child's files are closed
// (kernel.Process.FilesClosed), at most maxFilesCloseWait.
func awaitFilesClosed(closed <-chan struct{}) {
	select {
	case <-closed:
		return
	default:
	}
	t := time.NewTimer(maxFilesCloseWait)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
	}
}

// Wait4 implements wait4(2).
func Wait4(c *kernel.Task) (int64, error) {
	pid, statusAddr, options, rusage := int32(c.Args[0]), c.Args[1], uint32(c.Args[2]), c.Args[3]
	if options&^(wNohang|wUntraced|wContinued|wNothread|wAll|wClone) != 0 {
		return 0, unix.EINVAL
	}
	if pid == -1<<31 {
		return 0, unix.ESRCH
	}
	match := func(p, ch *kernel.Process, tid int32) bool {
		switch {
		case pid == -1:
			return true
		case pid > 0:
			return tid == pid
		case pid == 0:
			return ch.PGID == p.PGID
		default:
			return ch.PGID == -pid
		}
	}
	r, err := waitFor(c, match, options, true)
	if err != nil || r.PID == 0 {
		return int64(r.PID), err
	}
	if statusAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(r.Status))
		if err := c.Mem.CopyOut(statusAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if rusage != 0 {
		if err := c.Mem.CopyOut(rusage, make([]byte, 144)); err != nil {
			return 0, err
		}
	}
	return int64(r.PID), nil
}

// Waitid implements waitid(2).
func Waitid(c *kernel.Task) (int64, error) {
	idtype, id, infop, options, rusage := int(c.Args[0]), int32(c.Args[1]), c.Args[2], uint32(c.Args[3]), c.Args[4]
	if options&^(wNohang|wUntraced|wExited|wContinued|wNowait|wNothread|wAll|wClone) != 0 {
		return 0, unix.EINVAL
	}
	if options&(wExited|wUntraced|wContinued) == 0 {
		return 0, unix.EINVAL
	}
	var match func(p, ch *kernel.Process, tid int32) bool
	// eagain: finding no child ready is EAGAIN (P_PIDFD).
	eagain := false
	switch idtype {
	case pAll:
		match = func(p, ch *kernel.Process, tid int32) bool { return true }
	case pPID:
		if id <= 0 {
			return 0, unix.EINVAL
		}
		match = func(p, ch *kernel.Process, tid int32) bool { return tid == id }
	case pPGID:
		if id < 0 {
			return 0, unix.EINVAL
		}
		match = func(p, ch *kernel.Process, tid int32) bool {
			if id == 0 {
				return ch.PGID == p.PGID
			}
			return ch.PGID == id
		}
	case pPIDFD:
		// The child the pidfd refers to; a pidfd made O_NONBLOCK
		// (PIDFD_NONBLOCK) makes the wait WNOHANG, and its finding
		// nothing EAGAIN, unless the caller asked WNOHANG itself.
		if id < 0 {
			return 0, unix.EINVAL
		}
		f, pf, err := pidfdOf(c, id)
		if err != nil {
			return 0, err
		}
		nonblock := f.Nonblock()
		f.DecRef()
		match = func(p, ch *kernel.Process, tid int32) bool {
			return tid == pf.PID && ch.PidfdExit == pf.Exit
		}
		if nonblock && options&wNohang == 0 {
			options |= wNohang
			eagain = true
		}
	default:
		return 0, unix.EINVAL
	}
	r, err := waitFor(c, match, options, options&wExited != 0)
	if err != nil {
		return 0, err
	}
	if infop != 0 {
		info := make([]byte, ksignal.SizeofSiginfo)
		if r.PID != 0 {
			info = ksignal.SiginfoChld(int(unix.SIGCHLD), r.Code, r.PID, r.UID, r.SIStatus)
		}
		if err := c.Mem.CopyOut(infop, info); err != nil {
			return 0, err
		}
	}
	if rusage != 0 {
		if err := c.Mem.CopyOut(rusage, make([]byte, 144)); err != nil {
			return 0, err
		}
	}
	if eagain && r.PID == 0 {
		return 0, unix.EAGAIN
	}
	return 0, nil
}

// Getpid implements getpid(2).
func Getpid(c *kernel.Task) (int64, error) { return int64(c.PID()), nil }

// Gettid implements gettid(2).
func Gettid(c *kernel.Task) (int64, error) { return int64(c.TID()), nil }

// Getppid implements getppid(2).
func Getppid(c *kernel.Task) (int64, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if par := c.Thread.Proc.Parent; par != nil {
		return int64(par.PID), nil
	}
	return 0, nil
}

// procByPID returns the process pid names (0: the caller).
func procByPIDLocked(c *kernel.Task, pid int32) (*kernel.Process, error) {
	if pid == 0 {
		return c.Thread.Proc, nil
	}
	// A negative pid names no process (Linux's find_task_by_vpid):
	// getpgid(-99) is ESRCH, as LTP getpgid02 checks.
	p := c.Kernel.Procs[pid]
	if p == nil {
		return nil, unix.ESRCH
	}
	return p, nil
}

// Getpgid implements getpgid(2) and getpgrp(2).
func Getpgid(c *kernel.Task) (int64, error) {
	pid := int32(c.Args[0])
	if c.Sysno == unix.SYS_GETPGRP {
		pid = 0
	}
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	p, err := procByPIDLocked(c, pid)
	if err != nil {
		return 0, err
	}
	return int64(p.PGID), nil
}

// Getsid implements getsid(2).
func Getsid(c *kernel.Task) (int64, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	p, err := procByPIDLocked(c, int32(c.Args[0]))
	if err != nil {
		return 0, err
	}
	return int64(p.SID), nil
}

// Setpgid implements setpgid(2).
func Setpgid(c *kernel.Task) (int64, error) {
	pid, pgid := int32(c.Args[0]), int32(c.Args[1])
	if pgid < 0 {
		return 0, unix.EINVAL
	}
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	self := c.Thread.Proc
	target, err := procByPIDLocked(c, pid)
	if err != nil {
		return 0, err
	}
	if target != self && target.Parent != self {
		return 0, unix.ESRCH
	}
	if target.SID != self.SID {
		return 0, unix.EPERM
	}
	if target != self && target.Execed {
		// A child that has exec'd keeps its process group (Linux).
		return 0, unix.EACCES
	}
	if target.SID == target.PID {
		return 0, unix.EPERM
	}
	if pgid == 0 {
		pgid = target.PID
	}
	if pgid != target.PID {
		found := false
		for _, q := range k.Procs {
			if q.PGID == pgid && q.SID == self.SID && !q.Zombie {
				found = true
				break
			}
		}
		if !found {
			return 0, unix.EPERM
		}
	}
	target.PGID = pgid
	k.Trk.Changed(target)
	return 0, nil
}

// Setsid implements setsid(2).
func Setsid(c *kernel.Task) (int64, error) {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	for _, q := range k.Procs {
		if q.PGID == p.PID {
			return 0, unix.EPERM
		}
	}
	p.SID, p.PGID = p.PID, p.PID
	k.Trk.Changed(p)
	return int64(p.SID), nil
}

// Getrusage implements getrusage(2): the usage is the client's (zeroes here).
func Getrusage(c *kernel.Task) (int64, error) {
	switch int32(c.Args[0]) {
	case 0, -1, 1:
	default:
		return 0, unix.EINVAL
	}
	return 0, c.Mem.CopyOut(c.Args[1], make([]byte, 144))
}

// reapWaitedLocked reaps ch for c, a wait. ch leaves its parent's
// children at once, so that no other wait finds it; the rest of the reap
// (its pid and threads freed, its records deleted) is an effect of the
// call, committed with c's reply (commitEffectsLocked), not with whatever
// message the server sends first. Until then ch stays a zombie in the
// tables, so a message built meanwhile (another thread's reply, a push,
// carrying ch's exit) reports it as the zombie of its parent, not as
// gone: a server that dies before the reply leaves the zombie in the
// client's log, which the successor restores for the re-sent wait to
// reap. Precondition: c.k.Mu.
func reapWaitedLocked(c *kernel.Task, ch *kernel.Process) {
	if ch.Parent != nil {
		delete(ch.Parent.Children, ch)
	}
	eff := c.Effects()
	eff.Reaped = append(eff.Reaped, ch)
	if c.Reply != nil {
		c.Reply.ReapedPid = ch.PID
	}
}
