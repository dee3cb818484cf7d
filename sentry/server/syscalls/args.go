package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// A call's arguments: its numbers, the paths it names (copied in from
// its memory) and the files its fds name, and where a path's walk starts
// and ends. Exported while handlers of the server package still use them
// (its args.go names them as it did).

// ArgInt is argument i as an int (an fd, a count, a flag word).
func ArgInt(c *kernel.Task, i int) int32 { return int32(c.Args[i]) }

// PathArg copies in the path at argument i.
func PathArg(c *kernel.Task, i int) (string, error) {
	return c.Mem.CopyInString(c.Args[i], sysabi.PathMax)
}

// StartDir returns where a lookup of path relative to dirfd starts.
func StartDir(c *kernel.Task, dirfd int32, path string) (*vfs.Dentry, error) {
	d, f, err := startDirFile(c, dirfd, path)
	if f != nil {
		f.DecRef()
	}
	return d, err
}

// startDirFile is StartDir that also returns dirfd's description, a
// reference the caller drops (nil when the lookup starts at the root or
// the cwd).
func startDirFile(c *kernel.Task, dirfd int32, path string) (*vfs.Dentry, *fdesc.File, error) {
	if len(path) > 0 && path[0] == '/' {
		return c.Root(), nil, nil
	}
	if dirfd == linux.AT_FDCWD {
		return c.Cwd(), nil, nil
	}
	f, err := c.GetFile(dirfd)
	if err != nil {
		return nil, nil, err
	}
	if vfs.DentryOf(f) == nil || !vfs.DentryOf(f).IsDir() {
		f.DecRef()
		return nil, nil, unix.ENOTDIR
	}
	return vfs.DentryOf(f), f, nil
}

// LookupAt resolves path relative to dirfd. With AT_EMPTY_PATH and an
// empty path it returns dirfd's file (a reference) instead.
func LookupAt(c *kernel.Task, dirfd int32, path string, follow, emptyOK bool) (*vfs.Dentry, *fdesc.File, error) {
	if path == "" {
		if !emptyOK {
			return nil, nil, unix.ENOENT
		}
		c.NotLeasable = true // the answer is of a description, not a path
		if dirfd == linux.AT_FDCWD {
			return c.Cwd(), nil, nil
		}
		f, err := c.GetFile(dirfd)
		if err != nil {
			return nil, nil, err
		}
		return vfs.DentryOf(f), f, nil
	}
	start, err := StartDir(c, dirfd, path)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.Kernel.VFS.Resolve(c, start, path, follow)
	if d != nil && d.Kind != vfs.KindGofer {
		c.NotLeasable = true
	}
	c.PathView.NoteFinal(d)
	return d, nil, err
}

// CreateAt resolves the parent of a path to create and checks that the
// name does not exist.
func CreateAt(c *kernel.Task, dirfd int32, path string) (*vfs.Dentry, string, bool, error) {
	return ResolveCreate(c, dirfd, path, false)
}

// ResolveCreate is CreateAt; with createFirst, a name the cache knows
// nothing of is not looked up when the caller may create in its
// directory: the gofer's creation fails with EEXIST itself if the name
// exists (one gofer call where a Walk that finds nothing and the
// creation are two). Only for a creation whose every other error comes
// after EEXIST's (mkdir's; not mknod's EPERM of a device node).
func ResolveCreate(c *kernel.Task, dirfd int32, path string, createFirst bool) (*vfs.Dentry, string, bool, error) {
	start, err := StartDir(c, dirfd, path)
	if err != nil {
		return nil, "", false, err
	}
	v := c.Kernel.VFS
	dir, name, trailing, err := v.ResolveParent(c, start, path)
	if err != nil {
		return nil, "", false, err
	}
	if name == "." || name == ".." {
		return nil, "", false, unix.EEXIST
	}
	if createFirst && v.CreateFirst(dir, name) && c.MayWriteDir(dir) == nil {
		return dir, name, trailing, nil
	}
	if _, err := v.LookupChild(c, dir, name); err == nil {
		if !c.Resent() || dir.Kind != vfs.KindGofer {
			return nil, "", false, unix.EEXIST
		}
		// A call re-sent after a restore: the name may exist because the
		// first execution made it. The gofer's reply cache knows; if it
		// did not, the gofer fails with EEXIST itself.
	} else if syserr.ErrnoOf(err) != unix.ENOENT {
		return nil, "", false, err
	}
	if dir.Kind != vfs.KindGofer {
		return nil, "", false, unix.EACCES
	}
	if err := c.MayWriteDir(dir); err != nil {
		return nil, "", false, err
	}
	return dir, name, trailing, nil
}

// maxRW is the most one call's buffer moves (a read's or write's count,
// a vector's total).
const maxRW = sysabi.MaxBuffer

// FileArg returns the file of fd argument i for a call that needs an
// open file, not an O_PATH one (EBADF, as Linux's fdget).
func FileArg(c *kernel.Task, i int) (*fdesc.File, error) {
	f, err := c.GetFile(ArgInt(c, i))
	if err != nil {
		return nil, err
	}
	if f.IsPath() {
		f.DecRef()
		return nil, unix.EBADF
	}
	return f, nil
}

// FileAs returns the file at fd with its implementation when that is a T,
// with a reference the caller drops. For another kind of file it returns
// notT, or EBADF for an O_PATH descriptor, which is for its path only
// (Linux's fdget refuses it before the call looks at the kind).
func FileAs[T fdesc.FileImpl](c *kernel.Task, fd int32, notT error) (*fdesc.File, T, error) {
	var none T
	f, err := c.GetFile(fd)
	if err != nil {
		return nil, none, err
	}
	impl, ok := f.Impl.(T)
	if !ok {
		path := f.IsPath()
		f.DecRef()
		if path {
			return nil, none, unix.EBADF
		}
		return nil, none, notT
	}
	return f, impl, nil
}

// AttrTarget resolves the file a chmod/chown/utimensat-style call names.
func AttrTarget(c *kernel.Task, dirfd int32, pathIdx int, follow bool, emptyOK bool) (*vfs.Dentry, *fdesc.File, error) {
	p, err := PathArg(c, pathIdx)
	if err != nil {
		return nil, nil, err
	}
	return LookupAt(c, dirfd, p, follow, emptyOK)
}
