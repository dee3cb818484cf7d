package server

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

const (
	atFDCWD           = -100
	atSymlinkNofollow = 0x100
	atRemovedir       = 0x200
	atSymlinkFollow   = 0x400
	atNoAutomount     = 0x800
	atEmptyPath       = 0x1000
	atEaccess         = 0x200
	atStatxSyncType   = 0x6000
)

// ---- open ----
// ---- directory and name operations ----

func sysMkdir(c *syscallCtx) (int64, error) {
	if c.Sysno == unix.SYS_MKDIR {
		p, err := pathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return mkdirAt(c, atFDCWD, p, uint32(c.Args[1]))
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return mkdirAt(c, argInt(c, 0), p, uint32(c.Args[2]))
}

func mkdirAt(c *syscallCtx, dirfd int32, path string, mode uint32) (int64, error) {
	dir, name, _, err := resolveCreate(c, dirfd, path, true)
	if err != nil {
		return 0, err
	}
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	uid, gid, m := cr.NewFileOwner(v.AttrsOf(dir), unix.S_IFDIR|mode&01777&^c.Umask())
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Mkdir(ctx, &goferpb.MkdirRequest{Dir: dh, Name: name, Mode: m & 07777, Uid: uid, Gid: gid, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("mkdir "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	if r.Handle != nil && r.Stat != nil {
		v.InsertChild(dir, name, r.Handle.Id, r.Handle.FileHandle, r.Stat)
	}
	inotifyChild(c.Kernel, dir, name, inCreate, true)
	return 0, nil
}

func sysSymlink(c *syscallCtx) (int64, error) {
	target, err := pathArg(c, 0)
	if err != nil {
		return 0, err
	}
	dirfd, pi := int32(atFDCWD), 1
	if c.Sysno == unix.SYS_SYMLINKAT {
		dirfd, pi = argInt(c, 1), 2
	}
	p, err := pathArg(c, pi)
	if err != nil {
		return 0, err
	}
	if target == "" {
		return 0, unix.ENOENT
	}
	dir, name, trailing, err := createAt(c, dirfd, p)
	if err != nil {
		return 0, err
	}
	if trailing {
		return 0, unix.ENOENT
	}
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	uid, gid, _ := cr.NewFileOwner(v.AttrsOf(dir), unix.S_IFLNK|0777)
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Symlink(ctx, &goferpb.SymlinkRequest{Dir: dh, Name: name, Target: target, Uid: uid, Gid: gid, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("symlink "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	if r.Handle != nil && r.Stat != nil {
		v.InsertChild(dir, name, r.Handle.Id, r.Handle.FileHandle, r.Stat)
	}
	inotifyChild(c.Kernel, dir, name, inCreate, false)
	return 0, nil
}

func sysLink(c *syscallCtx) (int64, error) {
	var (
		olddirfd, newdirfd int32 = atFDCWD, atFDCWD
		oi, ni                   = 0, 1
		flags              uint32
	)
	if c.Sysno == unix.SYS_LINKAT {
		olddirfd, oi, newdirfd, ni, flags = argInt(c, 0), 1, argInt(c, 2), 3, uint32(c.Args[4])
	}
	if flags&^(atSymlinkFollow|atEmptyPath) != 0 {
		return 0, unix.EINVAL
	}
	op, err := pathArg(c, oi)
	if err != nil {
		return 0, err
	}
	np, err := pathArg(c, ni)
	if err != nil {
		return 0, err
	}
	od, of, err := lookupAt(c, olddirfd, op, flags&atSymlinkFollow != 0, flags&atEmptyPath != 0)
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
	dir, name, trailing, err := createAt(c, newdirfd, np)
	if err != nil {
		return 0, err
	}
	if trailing {
		return 0, unix.ENOENT
	}
	if v := c.Kernel.VFS; v.MountOf(od) != v.MountOf(dir) {
		return 0, unix.EXDEV
	}
	if cr := c.ProcessCreds(); !cr.Capable(linux.CAP_FOWNER) {
		if a, err := targetAttrs(c, cr, od, nil); err != nil {
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
	r, err := c.Kernel.Gofer.Link(ctx, &goferpb.LinkRequest{Dir: dh, Name: name, Target: oh, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("link "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	inotifyChild(c.Kernel, dir, name, inCreate, false)
	return 0, nil
}

func sysUnlink(c *syscallCtx) (int64, error) {
	switch c.Sysno {
	case unix.SYS_UNLINK:
		p, err := pathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return unlinkAt(c, atFDCWD, p, 0)
	case unix.SYS_RMDIR:
		p, err := pathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return unlinkAt(c, atFDCWD, p, atRemovedir)
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	flags := uint32(c.Args[2])
	if flags&^atRemovedir != 0 {
		return 0, unix.EINVAL
	}
	return unlinkAt(c, argInt(c, 0), p, flags)
}

func unlinkAt(c *syscallCtx, dirfd int32, path string, flags uint32) (int64, error) {
	start, err := startDir(c, dirfd, path)
	if err != nil {
		return 0, err
	}
	v := c.Kernel.VFS
	dir, name, trailing, err := v.ResolveParent(c, start, path)
	if err != nil {
		return 0, err
	}
	rmdir := flags&atRemovedir != 0
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
	if dir.Kind != vfs.KindGofer || d.Kind != vfs.KindGofer {
		return 0, unix.EACCES
	}
	if d == v.Root || v.MountRoot(d) != nil {
		return 0, unix.EBUSY
	}
	if err := c.MayRemove(dir, d); err != nil {
		return 0, err
	}
	return goferUnlink(c, dir, name, flags)
}

func goferUnlink(c *syscallCtx, dir *dentry, name string, flags uint32) (int64, error) {
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	// The gofer keeps a file the application still has open (it renames
	// it aside) so that a gofer restart does not lose it.
	open := false
	child := v.CachedChild(dir, name)
	if child != nil && child.Kind == vfs.KindGofer && child.IsRegular() && flags&atRemovedir == 0 {
		open = c.Kernel.InodeOpen(child.Ino())
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	if child != nil && child.Kind == vfs.KindGofer {
		// Other clients' leases on it go first (readlease.BeginChange).
		ctx = goferclient.WithChanging(ctx, child.Ino())
	}
	r, err := c.Kernel.Gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dh, Name: name, Flags: flags & atRemovedir, Origin: c.GoferOrigin(0), Open: open})
	if err := syserr.FromGofer("unlink "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	v.Forget(dir, name)
	if child != nil {
		// Linux reports IN_DELETE_SELF when the inode goes: here when
		// the name goes unless the file is still open (a hard link
		// left is not known).
		inotifyRemoved(c.Kernel, dir, name, child.Ino(), flags&atRemovedir != 0, !open)
	} else {
		inotifyChild(c.Kernel, dir, name, inDelete, flags&atRemovedir != 0)
	}
	return 0, nil
}

const (
	renameNoreplace = 1
	renameExchange  = 2
	renameWhiteout  = 4
)

func sysRename(c *syscallCtx) (int64, error) {
	var (
		od, nd int32 = atFDCWD, atFDCWD
		oi, ni       = 0, 1
		flags  uint32
	)
	switch c.Sysno {
	case unix.SYS_RENAMEAT:
		od, oi, nd, ni = argInt(c, 0), 1, argInt(c, 2), 3
	case unix.SYS_RENAMEAT2:
		od, oi, nd, ni, flags = argInt(c, 0), 1, argInt(c, 2), 3, uint32(c.Args[4])
	}
	if flags&^(renameNoreplace|renameExchange) != 0 || flags == renameNoreplace|renameExchange {
		return 0, unix.EINVAL
	}
	op, err := pathArg(c, oi)
	if err != nil {
		return 0, err
	}
	np, err := pathArg(c, ni)
	if err != nil {
		return 0, err
	}
	v := c.Kernel.VFS
	os, err := startDir(c, od, op)
	if err != nil {
		return 0, err
	}
	ns, err := startDir(c, nd, np)
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
	if v.MountOf(odir) != v.MountOf(ndir) {
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
	if v.ReadOnly(odir) || v.ReadOnly(ndir) {
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
	r, err := c.Kernel.Gofer.Rename(ctx, &goferpb.RenameRequest{OldDir: oh, OldName: oname, NewDir: nh, NewName: nname, Flags: flags, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("rename "+oname, r.GetErrno(), err); err != nil {
		return 0, err
	}
	v.Moved(odir, oname, ndir, nname, flags&renameExchange != 0)
	if src != nil {
		inotifyRenamed(c.Kernel, odir, ndir, oname, nname, src.Ino(), src.IsDir())
	}
	return 0, nil
}

// ---- mknod ----

func sysMknod(c *syscallCtx) (int64, error) {
	dirfd, pi, mode, dev := int32(atFDCWD), 0, uint32(c.Args[1]), c.Args[2]
	if c.Sysno == unix.SYS_MKNODAT {
		dirfd, pi, mode, dev = argInt(c, 0), 1, uint32(c.Args[2]), c.Args[3]
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
	p, err := pathArg(c, pi)
	if err != nil {
		return 0, err
	}
	dir, name, trailing, err := createAt(c, dirfd, p)
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
	v := c.Kernel.VFS
	dh, err := c.HandleOf(dir)
	if err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	uid, gid, m := cr.NewFileOwner(v.AttrsOf(dir), mode&unix.S_IFMT|mode&07777&^c.Umask())
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Mknod(ctx, &goferpb.MknodRequest{Dir: dh, Name: name, Mode: m, Uid: uid, Gid: gid, Rdev: dev, Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("mknod "+name, r.GetErrno(), err); err != nil {
		return 0, err
	}
	if r.Handle != nil && r.Stat != nil {
		v.InsertChild(dir, name, r.Handle.Id, r.Handle.FileHandle, r.Stat)
	}
	inotifyChild(c.Kernel, dir, name, inCreate, false)
	return 0, nil
}
