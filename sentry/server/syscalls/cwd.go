package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// chdir, fchdir, getcwd and umask: a process's fs context
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
		d = vfs.DentryOf(f)
		if d == nil {
			return 0, unix.ENOTDIR
		}
	} else {
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		d, err = c.Kernel.VFS.Resolve(c, c.Cwd(), p, true)
		if err != nil {
			return 0, err
		}
	}
	if !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	if err := c.MayAccess(d, auth.MayExec); err != nil {
		return 0, err
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

// Getcwd is getcwd(2).
func Getcwd(c *kernel.Task) (int64, error) {
	p, ok := c.Kernel.VFS.PathOf(c.Cwd())
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
