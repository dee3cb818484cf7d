package server

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
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

func sysOpen(c *syscallCtx) (int64, error) {
	p, err := pathArg(c, 0)
	if err != nil {
		return 0, err
	}
	return openAt(c, atFDCWD, p, uint32(c.Args[1]), uint32(c.Args[2]))
}

func sysCreat(c *syscallCtx) (int64, error) {
	p, err := pathArg(c, 0)
	if err != nil {
		return 0, err
	}
	return openAt(c, atFDCWD, p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(c.Args[1]))
}

func sysOpenat(c *syscallCtx) (int64, error) {
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return openAt(c, argInt(c, 0), p, uint32(c.Args[2]), uint32(c.Args[3]))
}

func openAt(c *syscallCtx, dirfd int32, path string, flags, mode uint32) (int64, error) {
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	if flags&unix.O_ACCMODE == unix.O_ACCMODE {
		return 0, unix.EINVAL
	}
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		return 0, unix.EOPNOTSUPP
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	if !tab.HasFree() {
		// Linux takes the fd before it walks: EMFILE first, and no file
		// created. (Another thread may still take the last fd between
		// here and Install.)
		return 0, unix.EMFILE
	}
	f, err := openFile(c, dirfd, path, flags, mode)
	if err != nil {
		return 0, err
	}
	if !f.IsPath() {
		inotifyEvent(c.Kernel, vfs.DentryOf(f), inOpen)
	}
	checkOpenedLeasable(c, f)
	if c.InstallFD != nil {
		return installPostedOpen(c, tab, f, *c.InstallFD, flags&unix.O_CLOEXEC != 0)
	}
	fd, err := tab.Install(f, 0, flags&unix.O_CLOEXEC != 0)
	return int64(fd), err
}

// maxReplacedRetries bounds how often an open walks a path again after
// its cached dentry was found replaced (vfs.ErrReplaced): each retry
// walks the gofer, so only a name replaced again meanwhile fails, with
// ENOENT.
const maxReplacedRetries = 2

func openFile(c *syscallCtx, dirfd int32, path string, flags, mode uint32) (*file, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	v := c.Kernel.VFS
	start, err := startDir(c, dirfd, path)
	if err != nil {
		return nil, err
	}
	follow := flags&unix.O_NOFOLLOW == 0
	// pre is the file the last lookup opened with its walk, if it did
	// (preOpenFor): the open takes it, or it is released.
	var pre *vfs.PreOpened
	defer func() { v.ReleasePreOpened(pre) }()
	if flags&unix.O_CREAT == 0 {
		for attempt := 0; ; attempt++ {
			v.ReleasePreOpened(pre)
			pre = preOpenFor(flags)
			d, err := v.ResolveForOpen(c, start, path, follow, pre)
			if err != nil {
				return nil, err
			}
			f, err := openDentry(c, d, flags, pre)
			if attempt < maxReplacedRetries && errors.Is(err, vfs.ErrReplaced) {
				continue // the cached name was stale: walk it again
			}
			return f, err
		}
	}
	if flags&unix.O_DIRECTORY != 0 {
		return nil, unix.EINVAL
	}
	dir, name, trailing, err := v.ResolveParent(c, start, path)
	if err != nil {
		return nil, err
	}
	// As Linux's open_last_lookups, a symlink in the last component is
	// followed to its target's directory and the target's name looked
	// up, or created, there in turn: O_CREAT through a dangling symlink
	// makes its target.
	hops := 0
	for {
		f, link, err := openOrCreate(c, dir, name, trailing, flags, mode, uint32(hops)<<16, &pre)
		if link == nil {
			return f, err
		}
		if !follow {
			return nil, unix.ELOOP
		}
		var target *dentry
		dir, name, trailing, target, err = v.FollowLinkParent(c, dir, link, &hops)
		if err != nil {
			return nil, err
		}
		if target != nil {
			// A magic link names a file, no name to create.
			if target.IsDir() {
				return nil, unix.EISDIR
			}
			return openDentry(c, target, flags, nil)
		}
	}
}

// openOrCreate is the last step of an open with O_CREAT of dir's child
// name (trailing: the path ended with a slash): it opens the file there or
// creates it, or returns the symlink it found there as link (f and err
// nil) for the caller to follow. The gofer creations it asks for are
// numbered from part on (their Origin.part); *pre is the file the lookup
// opened with its walk, if it did, which the caller releases.
func openOrCreate(c *syscallCtx, dir *dentry, name string, trailing bool, flags, mode, part uint32, pre **vfs.PreOpened) (f *file, link *dentry, err error) {
	v := c.Kernel.VFS
	if name == "." || name == ".." {
		// Linux's do_open: O_EXCL's EEXIST before the directory's EISDIR.
		if flags&unix.O_EXCL != 0 {
			return nil, nil, unix.EEXIST
		}
		return nil, nil, unix.EISDIR
	}
	if trailing {
		return nil, nil, unix.EISDIR
	}
	if v.CreateFirst(dir, name) && c.MayWriteDir(dir) == nil {
		// Nothing is known of the name: a Create either makes the file
		// (one gofer call, where a Walk that finds nothing and then a
		// Create are two) or finds a file there (EEXIST), which the
		// lookup below then opens. A call re-sent after a restore comes
		// here too (a new server knows no names): the gofer's reply
		// cache answers this part as it did.
		f, err := createFile(c, dir, name, flags, mode, part)
		if syserr.ErrnoOf(err) != unix.EEXIST || flags&unix.O_EXCL != 0 {
			return f, nil, err
		}
		part++
	}
	for attempt := 0; ; attempt++ {
		v.ReleasePreOpened(*pre)
		*pre = nil
		if flags&unix.O_EXCL == 0 {
			*pre = preOpenFor(flags)
		}
		d, err := v.LookupChildForOpen(c, dir, name, *pre)
		if err == nil {
			if flags&unix.O_EXCL != 0 {
				if c.Resent() && dir.Kind == vfs.KindGofer {
					// Re-sent after a restore: the gofer's reply cache
					// answers (see createAt).
					f, err := createFile(c, dir, name, flags, mode, part+uint32(attempt))
					return f, nil, err
				}
				return nil, nil, unix.EEXIST
			}
			if d.IsSymlink() {
				return nil, d, nil
			}
			if d.IsDir() {
				return nil, nil, unix.EISDIR // O_CREAT of a directory, as Linux's do_open
			}
			f, err := openDentry(c, d, flags, *pre)
			if attempt < maxReplacedRetries && errors.Is(err, vfs.ErrReplaced) {
				continue // the cached name was stale: look it up again
			}
			return f, nil, err
		}
		if syserr.ErrnoOf(err) != unix.ENOENT {
			return nil, nil, err
		}
		f, err := createFile(c, dir, name, flags, mode, part+uint32(attempt))
		if syserr.ErrnoOf(err) == unix.EEXIST && flags&unix.O_EXCL == 0 && attempt == 0 {
			continue // lost a race with another creator
		}
		return f, nil, err
	}
}

func createFile(c *syscallCtx, dir *dentry, name string, flags, mode, part uint32) (*file, error) {
	v := c.Kernel.VFS
	if dir.Kind != vfs.KindGofer {
		return nil, unix.EACCES
	}
	if err := c.MayWriteDir(dir); err != nil {
		return nil, err
	}
	dh, err := c.HandleOf(dir)
	if err != nil {
		return nil, err
	}
	cr := c.ProcessCreds()
	uid, gid, m := cr.NewFileOwner(v.AttrsOf(dir), unix.S_IFREG|mode&07777&^c.Umask())
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Create(ctx, &goferpb.CreateRequest{
		Dir: dh, Name: name, Flags: flags & (unix.O_ACCMODE | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC | unix.O_TRUNC),
		Mode: m & 07777, Uid: uid, Gid: gid, Origin: c.GoferOrigin(part), PathHandle: true,
	})
	if err := syserr.FromGofer("create "+name, r.GetErrno(), err); err != nil {
		return nil, err
	}
	if r.Handle == nil || r.Stat == nil {
		if id := r.GetPath().GetId(); id != 0 {
			c.Kernel.Releases.Release([]uint64{id})
		}
		return nil, unix.EIO
	}
	// The dentry keeps the unopened handle (if the gofer gave one) for
	// the new name's chown, chmod and stat.
	d := v.InsertChild(dir, name, r.GetPath().GetId(), r.Handle.FileHandle, r.Stat)
	inotifyChild(c.Kernel, dir, name, inCreate, false)
	c.Created = true
	return vfs.NewFile(vfs.NewGoferFile(v, r.Handle.Id, r.Handle.FileHandle, nil), d, flags&fdesc.KeptFlags), nil
}

// goferOpenFlags are the open flags the gofer's open takes.
const goferOpenFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC

// restoreSyntheticFile opens again, by its path, a synthesized file (of
// /dev or /proc) a Restore names.
func restoreSyntheticFile(k *clientState, rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	if rc == nil || fs.Path == "" {
		return nil, unix.ENOENT
	}
	d, err := k.VFS.Resolve(rc, k.VFS.Root, fs.Path, false)
	if err != nil {
		return nil, err
	}
	f, err := openDentry(rc, d, fs.Flags&^(unix.O_CREAT|unix.O_TRUNC|unix.O_EXCL), nil)
	if err != nil {
		return nil, err
	}
	f.Flags.Store(fs.Flags & fdesc.KeptFlags)
	return f, nil
}

// preOpenFor returns what an open with flags asks its last lookup to open
// with its walk (vfs.PreOpened), or nil: not an open that truncates (the
// gofer would truncate before the permission checks), nor one of a
// directory or of no file.
func preOpenFor(flags uint32) *vfs.PreOpened {
	if flags&(unix.O_TRUNC|unix.O_PATH|unix.O_DIRECTORY) != 0 {
		return nil
	}
	return &vfs.PreOpened{Flags: flags & goferOpenFlags}
}

// openDentry opens d as a new file description; pre (nil: none) is the
// file the lookup of d opened, if it did.
func openDentry(c *syscallCtx, d *dentry, flags uint32, pre *vfs.PreOpened) (*file, error) {
	v := c.Kernel.VFS
	kept := flags & fdesc.KeptFlags
	acc := flags & unix.O_ACCMODE
	wantWrite := acc == unix.O_WRONLY || acc == unix.O_RDWR
	if flags&unix.O_PATH != 0 {
		if flags&unix.O_DIRECTORY != 0 && !d.IsDir() {
			return nil, unix.ENOTDIR
		}
		return vfs.NewFile(&vfs.PathFile{D: d}, d, kept), nil
	}
	if d.IsSymlink() && d.Kind != vfs.KindProcFd {
		return nil, unix.ELOOP
	}
	if flags&unix.O_DIRECTORY != 0 && !d.IsDir() {
		return nil, unix.ENOTDIR
	}
	if d.IsDir() && (wantWrite || flags&unix.O_TRUNC != 0) {
		return nil, unix.EISDIR
	}
	switch d.Kind {
	case vfs.KindDev:
		return vfs.NewFile(&vfs.DevFile{Kind: d.Dev, D: d}, d, kept), nil
	case vfs.KindDevTty:
		return nil, unix.ENXIO
	case vfs.KindDevPtmx, vfs.KindDevPts:
		return openPty(c, d, kept)
	case vfs.KindDevNode:
		return c.OpenDevNode(d, kept)
	case vfs.KindProcFile, vfs.KindProcFdInfo:
		if acc != unix.O_RDONLY && d.ProcScope == procfs.Top && c.ProcessCreds().FSUID != 0 {
			// /proc/sys's writable files are root's, mode 0644.
			return nil, unix.EACCES
		}
		return c.Kernel.Synth.OpenProcFile(d, flags, kept)
	case vfs.KindProcFd:
		of, err := c.Kernel.ProcFDFile(d.PID, d.FD)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer of.DecRef()
		if g, ok := of.Impl.(*vfs.GoferFile); ok {
			return reopenGoferFile(c, of, g, flags, kept)
		}
		type reopener interface{ Reopen() fileImpl }
		if ro, ok := of.Impl.(reopener); ok {
			return vfs.NewFile(ro.Reopen(), nil, kept), nil
		}
		return nil, unix.ENXIO
	case vfs.KindGofer:
	default:
		if d.IsDir() {
			return vfs.NewFile(&vfs.PathFile{D: d}, d, kept), nil
		}
		return nil, unix.ENXIO
	}
	var mask uint32
	if acc != unix.O_WRONLY {
		mask |= auth.MayRead
	}
	if wantWrite || flags&unix.O_TRUNC != 0 {
		mask |= auth.MayWrite
	}
	if err := c.MayAccess(d, mask); err != nil {
		return nil, err
	}
	if flags&unix.O_NOATIME != 0 && !c.ProcessCreds().OwnerOrCapable(v.AttrsOf(d)) {
		return nil, unix.EPERM
	}
	if (wantWrite || flags&unix.O_TRUNC != 0) && d.IsRegular() && c.Kernel.InodeExecuting(d.Ino()) {
		return nil, unix.ETXTBSY
	}
	if err := c.BreakLeases(d, wantWrite || flags&unix.O_TRUNC != 0, flags&unix.O_NONBLOCK != 0); err != nil {
		return nil, err
	}
	c.Kernel.Files.OwnedFileOpened(d)
	if d.Mode&unix.S_IFMT == unix.S_IFIFO {
		return c.OpenFifo(d, flags)
	}
	if d.IsDir() {
		h, _, fh, err := v.FreshHandle(d)
		if err != nil {
			return nil, err
		}
		return vfs.NewFile(vfs.NewGoferDir(v, h, fh), d, kept), nil
	}
	if !d.IsRegular() {
		return nil, unix.ENXIO
	}
	if flags&unix.O_TRUNC != 0 {
		if err := syncBeforeResize(c, d, true); err != nil {
			return nil, err
		}
	}
	h, fh, ok := v.TakePreOpened(pre, d, flags&goferOpenFlags)
	var err error
	if !ok {
		h, fh, err = v.OpenRegular(d, flags&goferOpenFlags)
	}
	if err != nil {
		if flags&unix.O_TRUNC != 0 {
			syncAfterFailedResize(c, d)
		}
		return nil, err
	}
	if flags&unix.O_TRUNC != 0 {
		c.KillPriv(d, h, v.AttrsOf(d))
		c.NoteMappedResize(d, h)
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, fh, nil), d, kept), nil
}

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
	c.Kernel.Files.OwnedFileOpened(vfs.DentryOf(of))
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
