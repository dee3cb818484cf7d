package syscalls

import (
	"context"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The calls that make and remove names, as Linux's fs/namei.c: mkdir,
// symlink, link, unlink and rmdir, rename and mknod, each a gofer call
// on its parent directory's handle that the dentry cache then follows
// (vfs.InsertChild, Forget, Moved), with its inotify events. An unlink
// or rename announces the inodes it changes to the other clients' leases
// first (goferclient.WithChanging); an unlink whose name is missing notes
// the directory for a negative unlink's lease (unlinkMissing, the
// server's negunlink.go). A call re-sent after a restore asks the gofer,
// whose reply cache answers as the first execution did.

// Mkdir is mkdir(2) and mkdirat(2).
func Mkdir(c *kernel.Task) (int64, error) {
	if c.Sysno == unix.SYS_MKDIR {
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return mkdirAt(c, linux.AT_FDCWD, p, uint32(c.Args[1]))
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return mkdirAt(c, ArgInt(c, 0), p, uint32(c.Args[2]))
}

func mkdirAt(c *kernel.Task, dirfd int32, path string, mode uint32) (int64, error) {
	dir, name, _, err := ResolveCreate(c, dirfd, path, true)
	if err != nil {
		return 0, err
	}
	return makeName(c, dir, name, "mkdir", unix.S_IFDIR|mode&01777&^c.Umask(),
		func(ctx context.Context, dh uint64, uid, gid, m uint32) (madeName, error) {
			return c.Kernel.Gofer.Mkdir(ctx, &goferpb.MkdirRequest{Dir: dh, Name: []byte(name), Mode: m & 07777, Uid: uid, Gid: gid, Origin: c.GoferOrigin(0)})
		})
}

// Symlink is symlink(2) and symlinkat(2).
func Symlink(c *kernel.Task) (int64, error) {
	target, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	dirfd, pi := int32(linux.AT_FDCWD), 1
	if c.Sysno == unix.SYS_SYMLINKAT {
		dirfd, pi = ArgInt(c, 1), 2
	}
	p, err := PathArg(c, pi)
	if err != nil {
		return 0, err
	}
	if target == "" {
		return 0, unix.ENOENT
	}
	dir, name, trailing, err := CreateAt(c, dirfd, p)
	if err != nil {
		return 0, err
	}
	if trailing {
		return 0, unix.ENOENT
	}
	return makeName(c, dir, name, "symlink", unix.S_IFLNK|0777,
		func(ctx context.Context, dh uint64, uid, gid, _ uint32) (madeName, error) {
			return c.Kernel.Gofer.Symlink(ctx, &goferpb.SymlinkRequest{Dir: dh, Name: []byte(name), Target: []byte(target), Uid: uid, Gid: gid, Origin: c.GoferOrigin(0)})
		})
}

// Link is link(2) and linkat(2).
func Link(c *kernel.Task) (int64, error) {
	var (
		olddirfd, newdirfd int32 = linux.AT_FDCWD, linux.AT_FDCWD
		oi, ni                   = 0, 1
		flags              uint32
	)
	if c.Sysno == unix.SYS_LINKAT {
		olddirfd, oi, newdirfd, ni, flags = ArgInt(c, 0), 1, ArgInt(c, 2), 3, uint32(c.Args[4])
	}
	if flags&^(linux.AT_SYMLINK_FOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	op, err := PathArg(c, oi)
	if err != nil {
		return 0, err
	}
	np, err := PathArg(c, ni)
	if err != nil {
		return 0, err
	}
	od, of, err := LookupAt(c, olddirfd, op, flags&linux.AT_SYMLINK_FOLLOW != 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if of != nil {
		defer of.DecRef()
		if od == nil {
			return 0, unix.ENOENT
		}
	}
	if od.IsDir() {
		return 0, unix.EPERM
	}
	if od.Kind != vfs.KindGofer {
		return 0, unix.EXDEV
	}
	dir, name, trailing, err := CreateAt(c, newdirfd, np)
	if err != nil {
		return 0, err
	}
	if trailing {
		return 0, unix.ENOENT
	}
	if v := c.Kernel.VFS; v.MountOf(c.MountNS(), od) != v.MountOf(c.MountNS(), dir) {
		return 0, unix.EXDEV
	}
	if cr := c.ProcessCreds(); !cr.Capable(linux.CAP_FOWNER) {
		if a, err := TargetAttrs(c, cr, od, nil); err != nil {
			return 0, err
		} else if !cr.MayHardlink(a) {
			return 0, unix.EPERM
		}
	}
	v := c.Kernel.VFS
	oh, err := c.HandleOf(od)
	if err != nil {
		return 0, err
	}
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Link(ctx, &goferpb.LinkRequest{Dir: dh, Name: []byte(name), Target: oh, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("link "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	c.Kernel.InotifyChild(dir, name, linux.IN_CREATE, false)
	return 0, nil
}

// Unlink is unlink(2), rmdir(2) and unlinkat(2).
func Unlink(c *kernel.Task) (int64, error) {
	switch c.Sysno {
	case unix.SYS_UNLINK:
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return unlinkAt(c, linux.AT_FDCWD, p, 0)
	case unix.SYS_RMDIR:
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return unlinkAt(c, linux.AT_FDCWD, p, linux.AT_REMOVEDIR)
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	flags := uint32(c.Args[2])
	if flags&^linux.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	return unlinkAt(c, ArgInt(c, 0), p, flags)
}

func unlinkAt(c *kernel.Task, dirfd int32, path string, flags uint32) (int64, error) {
	start, startFile, err := startDirFile(c, dirfd, path)
	if err != nil {
		return 0, err
	}
	if startFile != nil {
		// rm -r removes each entry relative to its directory's fd.
		c.NoteDirFile(startFile)
	}
	v := c.Kernel.VFS
	dir, name, trailing, err := v.ResolveParent(c, start, path)
	if err != nil {
		return 0, err
	}
	rmdir := flags&linux.AT_REMOVEDIR != 0
	switch name {
	case ".":
		if rmdir {
			return 0, unix.EINVAL
		}
		return 0, unix.EISDIR
	case "..":
		if rmdir {
			return 0, unix.ENOTEMPTY
		}
		return 0, unix.EISDIR
	}
	d, err := v.LookupChild(c, dir, name)
	if err != nil {
		if syserr.ErrnoOf(err) == unix.ENOENT && c.Resent() && dir.Kind == vfs.KindGofer {
			// Re-sent after a restore: the first execution may have
			// removed it; the gofer's reply cache knows.
			return goferUnlink(c, dir, name, flags)
		}
		return 0, unlinkMissing(c, dir, err)
	}
	if rmdir && !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	if !rmdir && d.IsDir() {
		return 0, unix.EISDIR
	}
	if !rmdir && trailing {
		return 0, unix.ENOTDIR
	}
	if dir.Kind == vfs.KindMqueueDir && d.Kind == vfs.KindMqueue {
		// /dev/mqueue/<name>: mq_unlink of the name, with its checks
		// (the mqueue root is sticky).
		return 0, c.Kernel.MQ.Unlink(mqCaller(c), name)
	}
	if dir.Kind != vfs.KindGofer || d.Kind != vfs.KindGofer {
		return 0, unix.EACCES
	}
	if d == v.Root || v.MountRoot(d) != nil {
		return 0, unix.EBUSY
	}
	if err := c.MayRemove(dir, d); err != nil {
		return 0, err
	}
	r, err := goferUnlink(c, dir, name, flags)
	if err == nil && rmdir && !c.Posted && c.Reply != nil {
		// The directory removed, for a client that could not tell which
		// one the call named (a posted rmdir's it could).
		c.Reply.RemovedIno = d.Ino()
	}
	return r, err
}

func goferUnlink(c *kernel.Task, dir *vfs.Dentry, name string, flags uint32) (int64, error) {
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	// The gofer keeps a file the application still has open (it renames
	// it aside) so that a gofer restart does not lose it.
	open := false
	child := v.CachedChild(dir, name)
	if child != nil && child.Kind == vfs.KindGofer && child.IsRegular() && flags&linux.AT_REMOVEDIR == 0 {
		open = c.Kernel.InodeOpen(child.Ino())
	}
	removeDir := flags&linux.AT_REMOVEDIR != 0
	if child != nil && child.Kind == vfs.KindGofer && !open && child.IsDir() == removeDir && !child.IsSymlink() &&
		c.HoldUnlink(dir, name, child.GoferDev(), child.Ino(), removeDir) {
		// Sent with the run's others at its end (kernel's unlinkrun.go).
		return 0, nil
	}
	// After those held before it: the gofer sees them in the calls' order.
	c.FlushHeldUnlinks()
	ctx, cancel := v.RPCCtx()
	defer cancel()
	req := &goferpb.UnlinkRequest{Dir: dh, Name: []byte(name), Flags: flags & linux.AT_REMOVEDIR, Origin: c.GoferOrigin(0), Open: open}
	if child != nil && child.Kind == vfs.KindGofer {
		// Other clients' leases on it go first (readlease.BeginChange).
		ctx = goferclient.WithChanging(ctx, child.Ino())
		req.Found = &goferpb.InodeID{Dev: child.GoferDev(), Ino: child.Ino()}
	}
	r, err := c.Kernel.Gofer.Unlink(ctx, req)
	if err := syserr.FromGofer("unlink "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	v.Forget(dir, name)
	if child != nil {
		// Linux reports IN_DELETE_SELF when the inode goes: here when
		// the name goes unless the file is still open (a hard link
		// left is not known).
		c.Kernel.InotifyRemoved(dir, name, child.Ino(), flags&linux.AT_REMOVEDIR != 0, !open)
	} else {
		c.Kernel.InotifyChild(dir, name, linux.IN_DELETE, flags&linux.AT_REMOVEDIR != 0)
	}
	return 0, nil
}

// Rename is rename(2), renameat(2) and renameat2(2).
func Rename(c *kernel.Task) (int64, error) {
	var (
		od, nd int32 = linux.AT_FDCWD, linux.AT_FDCWD
		oi, ni       = 0, 1
		flags  uint32
	)
	switch c.Sysno {
	case unix.SYS_RENAMEAT:
		od, oi, nd, ni = ArgInt(c, 0), 1, ArgInt(c, 2), 3
	case unix.SYS_RENAMEAT2:
		od, oi, nd, ni, flags = ArgInt(c, 0), 1, ArgInt(c, 2), 3, uint32(c.Args[4])
	}
	if flags&^(linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE) != 0 || flags == linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE {
		return 0, unix.EINVAL
	}
	op, err := PathArg(c, oi)
	if err != nil {
		return 0, err
	}
	np, err := PathArg(c, ni)
	if err != nil {
		return 0, err
	}
	v := c.Kernel.VFS
	os, err := StartDir(c, od, op)
	if err != nil {
		return 0, err
	}
	ns, err := StartDir(c, nd, np)
	if err != nil {
		return 0, err
	}
	odir, oname, _, err := v.ResolveParent(c, os, op)
	if err != nil {
		return 0, err
	}
	ndir, nname, _, err := v.ResolveParent(c, ns, np)
	if err != nil {
		return 0, err
	}
	if oname == "." || oname == ".." || nname == "." || nname == ".." {
		return 0, unix.EBUSY
	}
	src, err := v.LookupChild(c, odir, oname)
	if err != nil {
		// Re-sent after a restore, the source may be gone because the
		// first execution moved it: the gofer's reply cache knows.
		if syserr.ErrnoOf(err) != unix.ENOENT || !c.Resent() {
			return 0, err
		}
	}
	if odir.Kind != vfs.KindGofer || ndir.Kind != vfs.KindGofer || (src != nil && src.Kind != vfs.KindGofer) {
		return 0, unix.EXDEV
	}
	if v.MountOf(c.MountNS(), odir) != v.MountOf(c.MountNS(), ndir) {
		return 0, unix.EXDEV
	}
	if src != nil && v.MountRoot(src) != nil {
		return 0, unix.EBUSY
	}
	if !v.HasMounts() {
		// No mount point to find (and no Walk to pay for).
	} else if dst, err := v.LookupChild(c, ndir, nname); err == nil && v.MountRoot(dst) != nil {
		return 0, unix.EBUSY
	}
	if v.ReadOnly(c.MountNS(), odir) || v.ReadOnly(c.MountNS(), ndir) {
		return 0, unix.EROFS
	}
	if src != nil {
		if err := c.MayRename(odir, src, ndir, nname, flags); err != nil {
			return 0, err
		}
	}
	oh, err := c.HandleOf(odir)
	if err != nil {
		return 0, err
	}
	nh, err := c.HandleOf(ndir)
	if err != nil {
		return 0, err
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	// Other clients' leases on the file moved and the one replaced go
	// first (readlease.BeginChange).
	var moved []uint64
	if src != nil {
		moved = append(moved, src.Ino())
	}
	if dst, err := v.LookupChild(c, ndir, nname); err == nil && dst.Kind == vfs.KindGofer {
		moved = append(moved, dst.Ino())
	}
	ctx = goferclient.WithChanging(ctx, moved...)
	r, err := c.Kernel.Gofer.Rename(ctx, &goferpb.RenameRequest{OldDir: oh, OldName: []byte(oname), NewDir: nh, NewName: []byte(nname), Flags: flags, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("rename "+oname, r.GetErrno(), err); err != nil {
		return 0, err
	}
	v.Moved(odir, oname, ndir, nname, flags&linux.RENAME_EXCHANGE != 0)
	if src != nil {
		c.Kernel.InotifyRenamed(odir, ndir, oname, nname, src.Ino(), src.IsDir())
	}
	return 0, nil
}

// Mknod is mknod(2) and mknodat(2).
func Mknod(c *kernel.Task) (int64, error) {
	dirfd, pi, mode, dev := int32(linux.AT_FDCWD), 0, uint32(c.Args[1]), c.Args[2]
	if c.Sysno == unix.SYS_MKNODAT {
		dirfd, pi, mode, dev = ArgInt(c, 0), 1, uint32(c.Args[2]), c.Args[3]
	}
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR, unix.S_IFBLK:
	case unix.S_IFDIR:
		return 0, unix.EPERM
	default:
		return 0, unix.EINVAL
	}
	p, err := PathArg(c, pi)
	if err != nil {
		return 0, err
	}
	dir, name, trailing, err := CreateAt(c, dirfd, p)
	if err != nil {
		return 0, err
	}
	if trailing {
		return 0, unix.ENOENT
	}
	if t := mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
		// Device nodes are not served (a node in the gofer's tree would
		// reach the host's device), for root too, as runsc.
		c.Kernel.LogUnsupportedOnce("mknod of a device node")
		return 0, unix.EPERM
	}
	return makeName(c, dir, name, "mknod", mode&unix.S_IFMT|mode&07777&^c.Umask(),
		func(ctx context.Context, dh uint64, uid, gid, m uint32) (madeName, error) {
			return c.Kernel.Gofer.Mknod(ctx, &goferpb.MknodRequest{Dir: dh, Name: []byte(name), Mode: m, Uid: uid, Gid: gid, Rdev: dev, Origin: c.GoferOrigin(0)})
		})
}

// madeName is the gofer's reply to a call that makes a name (MkdirReply,
// SymlinkReply, MknodReply).
type madeName interface {
	GetErrno() int32
	GetHandle() *goferpb.Handle
	GetStat() *goferpb.Stat
}

// makeName makes name in gofer directory dir, a file of mode (its type
// and permissions, the umask applied), with gofer call op, which send
// sends given dir's handle and the new file's owner and mode
// (auth.Creds.NewFileOwner); then the dentry cache holds it and its
// IN_CREATE is reported.
func makeName(c *kernel.Task, dir *vfs.Dentry, name, op string, mode uint32,
	send func(ctx context.Context, dh uint64, uid, gid, m uint32) (madeName, error)) (int64, error) {
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	uid, gid, m := c.ProcessCreds().NewFileOwner(v.AttrsOf(dir), mode)
	ctx, cancel := v.RPCCtx()
	defer cancel()
	seen := v.RemovalsSeen()
	r, err := send(ctx, dh, uid, gid, m)
	if err := syserr.FromGofer(op+" "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	if h, st := r.GetHandle(), r.GetStat(); h != nil && st != nil {
		v.InsertChild(dir, name, h.Id, h.FileHandle, st, seen)
	}
	c.Kernel.InotifyChild(dir, name, linux.IN_CREATE, mode&unix.S_IFMT == unix.S_IFDIR)
	return 0, nil
}

// unlinkMissing returns the error of an unlink whose last name's lookup
// in dir failed with err: EROFS on a read-only mount before ENOENT, as
// Linux's do_unlinkat (mnt_want_write before the lookup). For ENOENT of
// a gofer directory in which the caller may make names it notes dir
// (c.MissingIn).
func unlinkMissing(c *kernel.Task, dir *vfs.Dentry, err error) error {
	if syserr.ErrnoOf(err) != unix.ENOENT {
		return err
	}
	if c.Kernel.VFS.ReadOnly(c.MountNS(), dir) {
		return unix.EROFS
	}
	if c.PathView != nil && dir.Kind == vfs.KindGofer && c.MayWriteDir(dir) == nil {
		c.MissingIn = dir
	}
	return err
}
