package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// aheadOpenFlags are the flags of an open made for a lease ahead: read
// only, a last symbolic link not followed, and no wait for a lease break.
const aheadOpenFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_LARGEFILE

// OpenAhead opens path (absolute, or relative to c's cwd) read-only for
// a read lease the client asked ahead of the process's open
// (Syscall.ahead_names; the server's dataahead.go), if it names a regular
// gofer file c's credentials may read. It installs no fd and raises no
// inotify event (no lease is granted while the client has watches), and
// opens nothing an open would break an F_SETLEASE lease of: no holder
// hears of an open the application did not make. The caller releases
// the description (DecRef), whose gofer handle the dentry then keeps for
// the process's own open of the file (vfs/kept.go).
func OpenAhead(c *kernel.Task, path string) (*fdesc.File, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	v := c.Kernel.VFS
	start, err := StartDir(c, unix.AT_FDCWD, path)
	if err != nil {
		return nil, err
	}
	pre := preOpenFor(aheadOpenFlags)
	defer func() { v.ReleasePreOpened(pre) }()
	d, err := v.ResolveForOpen(c, start, path, false, pre)
	if err != nil {
		return nil, err
	}
	if d.Kind != vfs.KindGofer || !d.IsRegular() {
		return nil, unix.EINVAL
	}
	if c.Kernel.Leases.Conflicts(d.Ino(), false) {
		return nil, unix.EWOULDBLOCK
	}
	f, err := openDentry(c, d, aheadOpenFlags, pre)
	if err != nil {
		return nil, err
	}
	if g, ok := f.Impl.(*vfs.GoferFile); ok {
		// Its handle stays for the process's own open (vfs/kept.go).
		g.KeepAhead()
	}
	return f, nil
}
