package server

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The synthesized /dev and /proc are package fsimpl/synth's
// (clientState.Synth); this file is the kernel's side: what they read of
// the kernel's state (synth.Kernel) and the vfs.Kernel methods that
// reach them.

var _ synth.Kernel = (*kernelPorts)(nil)

// SynthLookup is vfs.Kernel's: a name in a synthesized directory.
func (kp *kernelPorts) SynthLookup(c vfs.Caller, dir *dentry, name string) (*dentry, error) {
	k := (*clientState)(kp)
	return k.Synth.Lookup(c, dir, name)
}

// SynthReadlink is vfs.Kernel's: a synthesized symlink's target.
func (kp *kernelPorts) SynthReadlink(c vfs.Caller, d *dentry) (string, error) {
	k := (*clientState)(kp)
	return k.Synth.Readlink(c, d)
}

// MagicTarget is vfs.Kernel's: what a /proc magic link names.
func (kp *kernelPorts) MagicTarget(c vfs.Caller, d *dentry) (*dentry, bool, error) {
	k := (*clientState)(kp)
	return k.Synth.MagicTarget(c, d)
}

// SynthStat is vfs.Kernel's: a synthesized file's attributes.
func (kp *kernelPorts) SynthStat(d *dentry) *goferpb.Stat { return kp.Synth.Stat(d) }

// ProcOwner is vfs.Kernel's: the euid and egid of process pid.
func (kp *kernelPorts) ProcOwner(pid int32) (uid, gid uint32, ok bool) {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.Creds.EUID, p.Creds.EGID, true
	}
	return 0, 0, false
}

// Lookup is synth.Kernel's: whether n is a process or a live thread.
func (kp *kernelPorts) Lookup(n int32) (isProc bool, owner int32) {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if _, ok := k.Procs[n]; ok {
		return true, 0
	}
	if t := k.Threads[n]; t != nil {
		if _, live := t.Proc.Live[t]; live {
			return false, t.Proc.PID
		}
	}
	return false, 0
}

// IsLiveThread is synth.Kernel's: whether tid is a live thread of
// process pid.
func (kp *kernelPorts) IsLiveThread(pid, tid int32) bool {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	t := k.Threads[tid]
	if t == nil || t.Proc.PID != pid {
		return false
	}
	_, live := t.Proc.Live[t]
	return live
}

// LiveThreads is synth.Kernel's: the TIDs of process pid's live
// threads.
func (kp *kernelPorts) LiveThreads(pid int32) []int {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	var tids []int
	if p := k.Procs[pid]; p != nil {
		for t := range p.Live {
			tids = append(tids, int(t.TID))
		}
	}
	sort.Ints(tids)
	return tids
}

// procFDFile returns (a reference to) fd of process pid.
func procFDFile(k *clientState, pid, fd int32) (*file, error) {
	f, _, err := ports(k).FD(pid, fd)
	return f, err
}

// fdTableOf returns process pid's fd table, nil if none.
func fdTableOf(k *clientState, pid int32) *fdTable {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.FDs
	}
	return nil
}

// FD is synth.Kernel's: a reference to fd of process pid, and its
// close-on-exec flag.
func (kp *kernelPorts) FD(pid, fd int32) (*file, bool, error) {
	k := (*clientState)(kp)
	tab := fdTableOf(k, pid)
	if tab == nil {
		return nil, false, unix.ENOENT
	}
	return tab.Get(fd)
}

// FDs is synth.Kernel's: the fds of process pid.
func (kp *kernelPorts) FDs(pid int32) ([]int32, bool) {
	k := (*clientState)(kp)
	tab := fdTableOf(k, pid)
	if tab == nil {
		return nil, false
	}
	return tab.List(), true
}

// PIDs is synth.Kernel's: the processes, sorted.
func (kp *kernelPorts) PIDs() []int {
	k := (*clientState)(kp)
	k.Mu.Lock()
	pids := make([]int, 0, len(k.Procs))
	for pid := range k.Procs {
		pids = append(pids, int(pid))
	}
	k.Mu.Unlock()
	sort.Ints(pids)
	return pids
}

// Links is synth.Kernel's: process pid's working directory and
// executable.
func (kp *kernelPorts) Links(pid int32) (cwd, exe *dentry, err error) {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := k.Procs[pid]
	if p == nil || p.Zombie {
		return nil, nil, unix.ENOENT
	}
	if p.FS != nil {
		cwd = p.FS.Cwd
	}
	return cwd, p.Exe, nil
}

// FileName is synth.Kernel's: /proc/<pid>/fd/<n>'s name of a pipe end or
// a stdio file.
func (kp *kernelPorts) FileName(f *file) (string, bool) {
	switch impl := f.Impl.(type) {
	case *kernel.PipeEnd:
		return fmt.Sprintf("pipe:[%d]", impl.P.Ino()), true
	case *kernel.StdioFile:
		if impl.Tty {
			return "/dev/pts/0", true
		}
		return fmt.Sprintf("pipe:[stdio%d]", impl.Fd), true
	}
	return "", false
}

// CallerIDs is synth.Kernel's: the PID and TID of call c.
func (kp *kernelPorts) CallerIDs(c vfs.Caller) (pid, tid int32) {
	sc := kernel.TaskFromCall(c)
	return sc.PID(), sc.TID()
}

// Source is synth.Kernel's: the state procfs renders.
func (kp *kernelPorts) Source() procfs.Source { return procSource{(*clientState)(kp)} }

// reopenGoferFile opens a new description of of's file, as open of
// /proc/<pid>/fd/<n> does on Linux: the same inode, whatever became of its
// name, through a clone of of's gofer handle.
func reopenGoferFile(c *syscallCtx, of *file, g *vfs.GoferFile, flags, kept uint32) (*file, error) {
	v := c.Kernel.VFS
	acc := flags & unix.O_ACCMODE
	var mask uint32
	if acc != unix.O_WRONLY {
		mask |= auth.MayRead
	}
	if acc == unix.O_WRONLY || acc == unix.O_RDWR || flags&unix.O_TRUNC != 0 {
		mask |= auth.MayWrite
	}
	st, err := g.Stat(c)
	if err != nil {
		return nil, err
	}
	if !c.Creds().Permits(vfs.AttrsOfStat(st), mask) {
		return nil, unix.EACCES
	}
	ownedFileOpened(c, vfs.DentryOf(of))
	if g.Memfd != nil && flags&unix.O_TRUNC != 0 {
		if err := g.Memfd.CheckResize(c, of, 0); err != nil {
			return nil, err // F_SEAL_SHRINK
		}
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	w, err := c.Kernel.Gofer.Walk(ctx, &goferpb.WalkRequest{Dir: g.Handle, Clone: true})
	if err := syserr.FromGofer("clone", w.GetErrno(), err); err != nil {
		return nil, err
	}
	if len(w.Files) != 1 || w.Files[0].GetHandle().GetId() == 0 {
		return nil, fmt.Errorf("clone answered %d files: %w", len(w.Files), unix.EIO)
	}
	h := w.Files[0].Handle.Id
	r, err := c.Kernel.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: flags & (unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC)})
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		c.Kernel.Releases.Release([]uint64{h})
		return nil, err
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, g.FH, g.Memfd), vfs.DentryOf(of), kept), nil
}
