package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// chdir, fchdir, chroot, getcwd and umask: a process's fs context
// (kernel.FSContext).

// Chdir is chdir(2) and fchdir(2).
func Chdir(c *kernel.Task) (int64, error) {
	var d *vfs.Dentry
	if c.Sysno == unix.SYS_FCHDIR {
		f, err := c.GetFile(ArgInt(c, 0))
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		if d = vfs.DentryOf(f); d == nil {
			return 0, unix.ENOTDIR
		}
		if err := searchable(c, d); err != nil {
			return 0, err
		}
	} else {
		var err error
		if d, err = searchableAt(c); err != nil {
			return 0, err
		}
	}
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil {
		fs.Cwd = d
		c.Kernel.Trk.Changed(fs)
	}
	if d.Kind == vfs.KindGofer {
		c.Reply.CwdIno = d.Ino()
	}
	return 0, nil
}

// Chroot is chroot(2): the directory at path becomes the root of the
// caller's fs context (shared by CLONE_FS, copied by fork, kept by
// exec); the cwd stays where it is. Linux's order: the walk's errors
// (EFAULT, ENAMETOOLONG, ENOENT, ELOOP, EACCES, ENOTDIR), then search
// permission on the directory (EACCES), then CAP_SYS_CHROOT (EPERM).
func Chroot(c *kernel.Task) (int64, error) {
	d, err := searchableAt(c)
	if err != nil {
		return 0, err
	}
	if !c.ProcessCreds().Capable(linux.CAP_SYS_CHROOT) {
		return 0, unix.EPERM
	}
	if d == c.Kernel.VFS.Root {
		d = nil // the sandbox's root: no root of its own
	}
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	if fs := c.Thread.Proc.FS; fs != nil && fs.Root != d {
		if d != nil {
			// Before the root is seen: a walk that does not see the
			// flag takes no lock to look for a root.
			c.Kernel.Rooted.Store(true)
		}
		fs.Root = d
		c.Kernel.Trk.Changed(fs)
	}
	return 0, nil
}

// searchableAt is the directory the path argument 0 names, which the
// caller may search (chdir, chroot).
func searchableAt(c *kernel.Task) (*vfs.Dentry, error) {
	p, err := PathArg(c, 0)
	if err != nil {
		return nil, err
	}
	d, err := c.Kernel.VFS.Resolve(c, c.Cwd(), p, true)
	if err != nil {
		return nil, err
	}
	return d, searchable(c, d)
}

// searchable checks that d is a directory (ENOTDIR) the caller may
// search (EACCES).
func searchable(c *kernel.Task, d *vfs.Dentry) error {
	if !d.IsDir() {
		return unix.ENOTDIR
	}
	return c.MayAccess(d, auth.MayExec)
}

// Getcwd is getcwd(2): the cwd's path from the caller's root, or, for a
// cwd outside it (a chroot(2) that left the cwd behind), its path from
// the sandbox's root after "(unreachable)", as Linux's getcwd answers
// (glibc's realpath then fails with ENOENT).
func Getcwd(c *kernel.Task) (int64, error) {
	p, ok := c.Kernel.VFS.PathFrom(c.Root(), c.Cwd())
	if !ok {
		return 0, unix.ENOENT
	}
	if c.PathView != nil {
		// The answer holds while no directory on the path changes
		// (a rename of any of them revokes its search lease).
		for _, d := range c.Kernel.VFS.AncestorsOf(c.Cwd()) {
			if d.Kind != vfs.KindGofer {
				c.NotLeasable = true
			}
			c.Searched(d)
		}
	}
	b := append([]byte(p), 0)
	if uint64(len(b)) > c.Args[1] {
		return 0, unix.ERANGE
	}
	return int64(len(b)), c.Mem.CopyOut(c.Args[0], b)
}

// Umask is umask(2).
func Umask(c *kernel.Task) (int64, error) {
	c.Kernel.Mu.Lock()
	defer c.Kernel.Mu.Unlock()
	fs := c.Thread.Proc.FS
	if fs == nil {
		return 0, unix.ESRCH
	}
	old := fs.Umask
	fs.Umask = uint32(c.Args[0]) & 0777
	c.Kernel.Trk.Changed(fs)
	return int64(old), nil
}
