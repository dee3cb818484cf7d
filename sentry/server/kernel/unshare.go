package kernel

// What unshare(2) gives a task of its own: its fd table, its fs context
// and its System V semaphore undo list, and the checks of Linux's
// check_unshare_flags that need the process tree.
//
// The fd table and the fs context are the process's here (Process.FDs,
// Process.FS), which its threads share: a thread cannot hold a table of
// its own. unshare of either from a thread whose table (or context) its
// thread group shares would need one, so it fails (ErrPerThread) rather
// than take the table from every thread of the process; from a
// single-threaded process it is Linux's.

import "golang.org/x/sys/unix"

// ErrPerThread is unshare's answer when only the calling thread, not
// its whole process, would get a table of its own (see above): EINVAL,
// the errno Linux's own unshare gives for what it cannot split (a
// thread's signal queues, CLONE_THREAD).
var ErrPerThread = unix.EINVAL

// ThreadGroupEmptyLocked is Linux's thread_group_empty for t: no other
// thread is in its group. A killed leader stays in its group until it is
// reaped (another thread still sees it), as in Linux; a killed
// non-leader has left. Precondition: the kernel lock is held.
func (k *Kernel) ThreadGroupEmptyLocked(t *Thread) bool {
	p := t.Proc
	for o := range p.Live {
		if o != t {
			return false
		}
	}
	leader := k.Threads[p.PID]
	return leader == nil || leader == t || leader.Proc != p
}

// SighandSharedLocked says p's signal dispositions are shared with
// another process not yet reaped (CLONE_SIGHAND without CLONE_THREAD), as
// Linux's sighand count > 1: a zombie holds its table until reaped.
// Precondition: the kernel lock is held.
func (k *Kernel) SighandSharedLocked(p *Process) bool {
	for _, q := range k.Procs {
		if q != p && q.Sig == p.Sig {
			return true
		}
	}
	return false
}

// VMSharedLocked says another live process uses p's address space
// (CLONE_VM without CLONE_THREAD: a vfork child before its exec, and its
// parent), as Linux's !current_is_single_threaded for a single-threaded
// p. Precondition: the kernel lock is held.
func (k *Kernel) VMSharedLocked(p *Process) bool {
	for _, q := range k.Procs {
		if q != p && q.VM != nil && q.VM == p.VM && !q.Exiting && !q.Zombie {
			return true
		}
	}
	return false
}

// UnshareFDTableLocked gives t's process an fd table of its own when
// another process shares its table (CLONE_FILES), as Linux's unshare_fd;
// ErrPerThread when t's thread group shares it. A table no other task
// uses is kept. Precondition: the kernel lock is held.
func (k *Kernel) UnshareFDTableLocked(t *Thread) error {
	p := t.Proc
	if p.FDs == nil {
		return unix.ESRCH
	}
	if !k.ThreadGroupEmptyLocked(t) {
		return ErrPerThread
	}
	if p.FDs.Shared() && !p.FDs.CopyFits() {
		return unix.EMFILE // Linux's dup_fd, fs/nr_open lowered below an open fd
	}
	if tab := p.FDs.Unshare(); tab != p.FDs {
		p.FDs = tab
		k.Trk.Changed(p) // the process's record names its table
	}
	return nil
}

// UnshareFSLocked gives t's process an fs context of its own (cwd and
// umask) when another process shares it (CLONE_FS), as Linux's
// unshare_fs; ErrPerThread when t's thread group shares it.
// Precondition: the kernel lock is held.
func (k *Kernel) UnshareFSLocked(t *Thread) error {
	p := t.Proc
	if p.FS == nil {
		return unix.ESRCH
	}
	if !k.ThreadGroupEmptyLocked(t) {
		return ErrPerThread
	}
	if p.FS.Refs <= 1 {
		return nil
	}
	old := p.FS
	old.Refs--
	p.FS = old.Copy()
	// Both contexts' records, and the process's, which names its own.
	k.Trk.Changed(old)
	k.Trk.Changed(p.FS)
	k.Trk.Changed(p)
	return nil
}

// UnshareSemUndoLocked gives t a new, empty System V semaphore undo
// list, as Linux's exit_sem then a fresh list: when no other task holds
// t's list, its adjustments are applied first. The adjustments are per
// process here (package sysvipc), so they are applied only when t is
// also its process's only thread; otherwise they stay the process's.
// Precondition: the kernel lock is held.
func (k *Kernel) UnshareSemUndoLocked(t *Thread) {
	last := true
	for _, o := range k.Threads {
		if o != t && o.SemUndo == t.SemUndo && !TaskGoneLocked(o) {
			last = false
			break
		}
	}
	if last && k.ThreadGroupEmptyLocked(t) {
		k.IPC.ProcessUnsharedUndo(t.Proc.PID)
	}
	t.SemUndo = &Identity{}
	k.Trk.Changed(t) // ThreadState.sysvsem names the new list
}
