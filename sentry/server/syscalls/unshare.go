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
// (CLONE_SYSVSEM); CLONE_THREAD, CLONE_SIGHAND and CLONE_VM succeed only
// when there is nothing to unshare, as in Linux. Every namespace flag
// fails: EINVAL for CLONE_NEWUSER (Linux without CONFIG_USER_NS: its
// check needs no privilege and comes first), else EPERM without
// CAP_SYS_ADMIN, then EINVAL (Linux's copy_*_ns without the namespace's
// support; a mount namespace, which Linux always has, is not modeled
// either). The fd table and fs context are per process, so a thread of
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
		return 0, unix.EINVAL
	}
	if flags&unix.CLONE_SYSVSEM != 0 {
		k.UnshareSemUndoLocked(t)
	}
	if flags&unix.CLONE_FS != 0 {
		if err := k.UnshareFSLocked(t); err != nil {
			return 0, err
		}
	}
	if flags&unix.CLONE_FILES != 0 {
		if err := k.UnshareFDTableLocked(t); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
