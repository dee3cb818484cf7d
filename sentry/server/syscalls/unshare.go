package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// unshare(2), in the order of Linux's ksys_unshare, for a kernel without
// namespaces (CONFIG_NAMESPACES off, as /proc/config.gz says).

// unshareFlags are the flags Linux's check_unshare_flags accepts.
const unshareFlags = unix.CLONE_THREAD | unix.CLONE_FS | unix.CLONE_NEWNS | unix.CLONE_SIGHAND |
	unix.CLONE_VM | unix.CLONE_FILES | unix.CLONE_SYSVSEM |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// nsproxyFlags are the namespaces Linux's unshare_nsproxy_namespaces
// makes, each needing CAP_SYS_ADMIN (the user namespace, which needs
// none, is unshare_userns's).
const nsproxyFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Unshare is unshare(2): the caller's own fd table (CLONE_FILES), fs
// context (CLONE_FS, implied by CLONE_NEWNS) and semaphore undo list
// (CLONE_SYSVSEM), and a copy of its mount namespace (CLONE_NEWNS, with
// CAP_SYS_ADMIN: kernel.NewMountNSLocked); CLONE_THREAD, CLONE_SIGHAND
// and CLONE_VM succeed only when there is nothing to unshare, as in
// Linux. Every other namespace flag fails: EINVAL for CLONE_NEWUSER
// (Linux without CONFIG_USER_NS: its check needs no privilege and comes
// first), else EPERM without CAP_SYS_ADMIN, then EINVAL (Linux's
// copy_*_ns without the namespace's support). The fd table and fs context are per process, so a thread of
// a multithreaded process cannot get its own (kernel.ErrPerThread).
// Nothing changes unless the whole call succeeds.
func Unshare(c *kernel.Task) (int64, error) {
	flags := c.Args[0]
	// The flags each flag implies (Linux's order).
	if flags&unix.CLONE_NEWUSER != 0 {
		flags |= unix.CLONE_THREAD | unix.CLONE_FS
	}
	if flags&unix.CLONE_VM != 0 {
		flags |= unix.CLONE_SIGHAND
	}
	if flags&unix.CLONE_SIGHAND != 0 {
		flags |= unix.CLONE_THREAD
	}
	if flags&unix.CLONE_NEWNS != 0 {
		flags |= unix.CLONE_FS
	}
	if flags&^unshareFlags != 0 {
		return 0, unix.EINVAL
	}
	k := c.Kernel
	if flags&unix.CLONE_NEWNS != 0 {
		// The namespace's copy is made under MntMu, taken before the
		// kernel lock (vfs's lock order).
		k.VFS.MntMu.Lock()
		defer k.VFS.MntMu.Unlock()
		k.ReapMountNS()
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	t := c.Thread
	p := t.Proc
	if p.Exiting || t.Killed {
		return 0, unix.ESRCH
	}
	// check_unshare_flags: not implemented, but pretend it works if
	// there is nothing to unshare.
	if flags&(unix.CLONE_THREAD|unix.CLONE_SIGHAND|unix.CLONE_VM) != 0 && !k.ThreadGroupEmptyLocked(t) {
		return 0, unix.EINVAL
	}
	if flags&(unix.CLONE_SIGHAND|unix.CLONE_VM) != 0 && k.SighandSharedLocked(p) {
		return 0, unix.EINVAL
	}
	if flags&unix.CLONE_VM != 0 && k.VMSharedLocked(p) {
		return 0, unix.EINVAL
	}
	// unshare_fs and unshare_fd make copies that the namespace checks
	// below may still drop: only whether one is possible is checked
	// here.
	if flags&(unix.CLONE_FS|unix.CLONE_FILES) != 0 && flags&(unix.CLONE_NEWUSER|nsproxyFlags) == 0 && !k.ThreadGroupEmptyLocked(t) {
		return 0, kernel.ErrPerThread
	}
	if flags&unix.CLONE_NEWUSER != 0 {
		return 0, unix.EINVAL
	}
	if flags&nsproxyFlags != 0 {
		if !p.Creds.Capable(linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
		if flags&nsproxyFlags != unix.CLONE_NEWNS {
			return 0, unix.EINVAL
		}
		if !k.ThreadGroupEmptyLocked(t) {
			// The fs context, which carries the namespace, is the
			// process's.
			return 0, kernel.ErrPerThread
		}
	}
	var ns *kernel.FSContext
	if flags&unix.CLONE_NEWNS != 0 {
		// copy_mnt_ns, made first, as the only step that may still
		// fail (ENOSPC): a failure after it leaves a namespace of no
		// process, which the next ReapMountNS takes out.
		if p.FS == nil {
			return 0, unix.ESRCH
		}
		ns = &kernel.FSContext{MntNS: p.FS.MntNS}
		if err := k.NewMountNSLocked(ns); err != nil {
			return 0, err
		}
	}
	if flags&unix.CLONE_SYSVSEM != 0 {
		k.UnshareSemUndoLocked(t)
	}
	if flags&unix.CLONE_FS != 0 {
		if err := k.UnshareFSLocked(t); err != nil {
			return 0, err
		}
	}
	if ns != nil {
		// Into the context unshare_fs made the process's own: its
		// root and cwd are the same dentries, under the copies.
		p.FS.MntNS = ns.MntNS
		k.Trk.Changed(p.FS)
	}
	if flags&unix.CLONE_FILES != 0 {
		if err := k.UnshareFDTableLocked(t); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
