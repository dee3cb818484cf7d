package server

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
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

// keptOpenFlags are the open flags an open file description remembers.
const keptOpenFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_SYNC |
	unix.O_DSYNC | unix.O_NOATIME | unix.O_PATH | unix.O_ASYNC

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
	return vfs.NewFile(vfs.NewGoferFile(v, r.Handle.Id, r.Handle.FileHandle, nil), d, flags&keptOpenFlags), nil
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
	f.Flags.Store(fs.Flags & keptOpenFlags)
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
	kept := flags & keptOpenFlags
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
		return openDevNode(c, d, kept)
	case vfs.KindProcFile, vfs.KindProcFdInfo:
		if acc != unix.O_RDONLY && d.ProcScope == procfs.Top && c.ProcessCreds().FSUID != 0 {
			// /proc/sys's writable files are root's, mode 0644.
			return nil, unix.EACCES
		}
		return c.Kernel.Synth.OpenProcFile(d, flags, kept)
	case vfs.KindProcFd:
		of, err := procFDFile(c.Kernel, d.PID, d.FD)
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
	ownedFileOpened(c, d)
	if d.Mode&unix.S_IFMT == unix.S_IFIFO {
		return openFifo(c, d, flags)
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
		killPriv(c, d, h, v.AttrsOf(d))
		noteMappedResize(c, d, h)
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, fh, nil), d, kept), nil
}

// noteMappedResize tells the client, in this call's reply, the new size
// of gofer file d (through handle h, 0: d's own) if the client maps it.
func noteMappedResize(c *syscallCtx, d *dentry, h uint64) {
	if c.Reply == nil || d == nil || d.Kind != vfs.KindGofer || !c.Kernel.Maps.Holds(d.Ino()) {
		return
	}
	if h == 0 {
		var err error
		if h, err = c.HandleOf(d); err != nil {
			return
		}
	}
	st, err := c.Kernel.VFS.GoferStat(h)
	if err != nil {
		return
	}
	c.Reply.Mapped = append(c.Reply.Mapped, c.Kernel.MappedChanges(st, 0, 0, 0)...)
}

// ---- stat ----

func toLinuxStat(st *goferpb.Stat) linux.Stat {
	return linux.Stat{
		Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink), Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Rdev: st.Rdev, Size: int64(st.Size), Blksize: int64(st.Blksize), Blocks: int64(st.Blocks),
		ATime: linux.NsecToTimespec(st.AtimeNs), MTime: linux.NsecToTimespec(st.MtimeNs), CTime: linux.NsecToTimespec(st.CtimeNs),
	}
}

func statxTime(ns int64) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
}

func toStatx(st *goferpb.Stat) linux.Statx {
	mask := uint32(linux.STATX_BASIC_STATS)
	if st.BtimeNs != 0 {
		mask |= linux.STATX_BTIME
	}
	return linux.Statx{
		Mask: mask, Blksize: st.Blksize, Nlink: st.Nlink, UID: st.Uid, GID: st.Gid, Mode: uint16(st.Mode),
		Ino: st.Ino, Size: st.Size, Blocks: st.Blocks,
		Atime: statxTime(st.AtimeNs), Btime: statxTime(st.BtimeNs), Ctime: statxTime(st.CtimeNs), Mtime: statxTime(st.MtimeNs),
		RdevMajor: uint32(unix.Major(st.Rdev)), RdevMinor: uint32(unix.Minor(st.Rdev)),
		DevMajor: uint32(unix.Major(st.Dev)), DevMinor: uint32(unix.Minor(st.Dev)),
	}
}

// statOf returns the attributes of d, or of f when f is non-nil.
func statOf(c *syscallCtx, d *dentry, f *file) (*goferpb.Stat, error) {
	flushAttrRunOf(c) // a run's held changes are made before anything reads attributes
	st, err := statOfFile(c, d, f)
	if err != nil || !c.Kernel.VFS.HasMounts() {
		return st, err
	}
	if f != nil {
		d = vfs.DentryOf(f)
	}
	if d == nil || d.Kind != vfs.KindGofer {
		return st, nil
	}
	// A file of a grafted mount is on that mount's device, as Linux
	// gives each tmpfs its own.
	if m, grafted := c.Kernel.VFS.MountInfoOf(d); grafted && m.Dev != 0 && m.Dev != st.Dev {
		st = proto.Clone(st).(*goferpb.Stat)
		st.Dev = m.Dev
	}
	return st, nil
}

func statOfFile(c *syscallCtx, d *dentry, f *file) (*goferpb.Stat, error) {
	if f != nil {
		if f.IsPath() && vfs.DentryOf(f) != nil {
			return c.Kernel.VFS.StatDentry(c, vfs.DentryOf(f))
		}
		return f.Impl.Stat(c)
	}
	if d.Kind == vfs.KindProcFd {
		of, err := procFDFile(c.Kernel, d.PID, d.FD)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer of.DecRef()
		return of.Impl.Stat(c)
	}
	return c.Kernel.VFS.StatDentry(c, d)
}

func writeStat(c *syscallCtx, addr uint64, st *goferpb.Stat) error {
	ls := toLinuxStat(st)
	b := make([]byte, ls.SizeBytes())
	ls.MarshalBytes(b)
	return c.Mem.CopyOut(addr, b)
}

func sysFstat(c *syscallCtx) (int64, error) {
	f, err := c.GetFile(argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := statOf(c, nil, f)
	if err != nil {
		return 0, err
	}
	return 0, writeStat(c, c.Args[1], st)
}

func sysStat(c *syscallCtx) (int64, error) {
	p, err := pathArg(c, 0)
	if err != nil {
		return 0, err
	}
	flags := uint32(0)
	if c.Sysno == unix.SYS_LSTAT {
		flags = atSymlinkNofollow
	}
	return fstatat(c, atFDCWD, p, c.Args[1], flags)
}

func sysNewfstatat(c *syscallCtx) (int64, error) {
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return fstatat(c, argInt(c, 0), p, c.Args[2], uint32(c.Args[3]))
}

func fstatat(c *syscallCtx, dirfd int32, path string, addr uint64, flags uint32) (int64, error) {
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount) != 0 {
		return 0, unix.EINVAL
	}
	d, f, err := lookupAt(c, dirfd, path, flags&atSymlinkNofollow == 0, flags&atEmptyPath != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	st, err := statOf(c, d, f)
	if err != nil {
		return 0, err
	}
	return 0, writeStat(c, addr, st)
}

func sysStatx(c *syscallCtx) (int64, error) {
	dirfd, flags, addr := argInt(c, 0), uint32(c.Args[2]), c.Args[4]
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount|atStatxSyncType) != 0 || flags&atStatxSyncType == atStatxSyncType {
		return 0, unix.EINVAL
	}
	if uint32(c.Args[3])&linux.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	d, f, err := lookupAt(c, dirfd, p, flags&atSymlinkNofollow == 0, flags&atEmptyPath != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	st, err := statOf(c, d, f)
	if err != nil {
		return 0, err
	}
	sx := toStatx(st)
	b := make([]byte, sx.SizeBytes())
	sx.MarshalBytes(b)
	return 0, c.Mem.CopyOut(addr, b)
}

// ---- readlink, access ----

func sysReadlink(c *syscallCtx) (int64, error) {
	if c.Sysno == unix.SYS_READLINK {
		p, err := pathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return readlinkAt(c, atFDCWD, p, c.Args[1], int64(c.Args[2]))
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return readlinkAt(c, argInt(c, 0), p, c.Args[2], int64(c.Args[3]))
}

func readlinkAt(c *syscallCtx, dirfd int32, path string, buf uint64, size int64) (int64, error) {
	if int32(size) <= 0 {
		return 0, unix.EINVAL
	}
	d, f, err := lookupAt(c, dirfd, path, false, true)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
		if d == nil {
			return 0, unix.ENOENT
		}
	}
	if !d.IsSymlink() {
		if path == "" {
			// Linux: an empty path names dirfd, which is no symlink.
			return 0, unix.ENOENT
		}
		return 0, unix.EINVAL
	}
	t, err := c.Kernel.VFS.Readlink(c, d)
	if err != nil {
		return 0, err
	}
	b := []byte(t)
	if int64(len(b)) > size {
		b = b[:size]
	}
	return int64(len(b)), c.Mem.CopyOut(buf, b)
}

func sysAccess(c *syscallCtx) (int64, error) {
	switch c.Sysno {
	case unix.SYS_ACCESS:
		p, err := pathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return accessAt(c, atFDCWD, p, uint32(c.Args[1]), 0)
	case unix.SYS_FACCESSAT:
		p, err := pathArg(c, 1)
		if err != nil {
			return 0, err
		}
		return accessAt(c, argInt(c, 0), p, uint32(c.Args[2]), 0)
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return accessAt(c, argInt(c, 0), p, uint32(c.Args[2]), uint32(c.Args[3]))
}

func accessAt(c *syscallCtx, dirfd int32, path string, mode, flags uint32) (int64, error) {
	if mode&^7 != 0 || flags&^(atEaccess|atSymlinkNofollow|atEmptyPath) != 0 {
		return 0, unix.EINVAL
	}
	cr := c.ProcessCreds()
	if flags&atEaccess == 0 {
		// access(2) checks with the real ids, and with the
		// capabilities of the real uid: none unless it is 0, then the
		// permitted set (Linux's access_override_creds), in its walk
		// too.
		cr.FSUID, cr.FSGID = cr.RUID, cr.RGID
		if cr.RUID != 0 {
			cr.Caps.Effective = 0
		} else {
			cr.Caps.Effective = cr.Caps.Permitted
		}
		c.AccessCreds = &cr
	}
	d, f, err := lookupAt(c, dirfd, path, flags&atSymlinkNofollow == 0, flags&atEmptyPath != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if mode == 0 {
		return 0, nil
	}
	st, err := statOf(c, d, f)
	if err != nil {
		return 0, err
	}
	a := vfs.AttrsOfStat(st)
	if f == nil && d.Kind != vfs.KindGofer {
		a = c.Kernel.VFS.AttrsOf(d) // /proc/<pid>/... belongs to the process
	}
	if !cr.Permits(a, mode) {
		return 0, unix.EACCES
	}
	if f != nil {
		d = vfs.DentryOf(f)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		if mode&unix.W_OK != 0 && c.Kernel.VFS.ReadOnly(d) {
			// SuS asks that a read-only file system be reported
			// (Linux's do_faccessat), devices and FIFOs aside.
			return 0, unix.EROFS
		}
	}
	return 0, nil
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

// ---- cwd ----

func sysChdir(c *syscallCtx) (int64, error) {
	var d *dentry
	if c.Sysno == unix.SYS_FCHDIR {
		f, err := c.GetFile(argInt(c, 0))
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		d = vfs.DentryOf(f)
		if d == nil {
			return 0, unix.ENOTDIR
		}
	} else {
		p, err := pathArg(c, 0)
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

func sysGetcwd(c *syscallCtx) (int64, error) {
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

func sysUmask(c *syscallCtx) (int64, error) {
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

// ---- attributes ----

// setStat applies a SetStat to d (or f) and records the attributes it
// left.
func setStat(c *syscallCtx, d *dentry, f *file, req *goferpb.SetStatRequest) error {
	v := c.Kernel.VFS
	var h uint64
	var err error
	switch {
	case f != nil && !f.IsPath():
		var ok bool
		if h, ok = vfs.HandleOfFile(f); !ok {
			if vfs.DentryOf(f) == nil {
				return unix.EPERM
			}
		}
		d = vfs.DentryOf(f)
	case f != nil:
		d = vfs.DentryOf(f)
	}
	if h == 0 {
		if d == nil || d.Kind != vfs.KindGofer {
			return unix.EPERM
		}
		if h, err = c.HandleOf(d); err != nil {
			return err
		}
	}
	if v.ReadOnly(d) {
		return unix.EROFS
	}
	req.Handle = h
	req.Origin = c.GoferOrigin(0)
	if holdAttrs(c, d, f, req) {
		return nil
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.SetStat(ctx, req)
	if err := syserr.FromGofer("setstat", r.GetErrno(), err); err != nil {
		return err
	}
	v.NoteAttrs(d, r.Stat)
	inotifyEvent(c.Kernel, d, inotifyStatEvents(req.Mask))
	return nil
}

// killPrivPart is the Origin part of the SetStat that clears set-id bits
// after a write or truncate (write RPCs number their parts from 0).
const killPrivPart = 1 << 30

// killPriv clears the set-id bits of gofer file d (through handle h, or
// d's own when h is 0), whose mode was mode, after the caller wrote or
// truncated it, if the caller lacks CAP_FSETID (perm.go: killPrivMode).
// a are the file's attributes before the change.
// The gofer runs with CAP_FSETID, so the host kernel does not do it. A
// failure is logged, not returned: the data change already happened.
func killPriv(c *syscallCtx, d *dentry, h uint64, a auth.FileAttrs) {
	if c == nil || c.Thread == nil {
		return
	}
	cr := c.ProcessCreds()
	nm, changed := cr.KillPrivMode(a)
	if !changed {
		return
	}
	v := c.Kernel.VFS
	if h == 0 {
		var err error
		if h, err = c.HandleOf(d); err != nil {
			return
		}
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.SetStat(ctx, &goferpb.SetStatRequest{Handle: h, Mask: linux.STATX_MODE, Mode: nm & 07777, Origin: c.GoferOrigin(killPrivPart)})
	if err := syserr.FromGofer("setstat (clear set-id bits)", r.GetErrno(), err); err != nil {
		c.Kernel.Log.Debug("clearing set-id bits failed", "err", err)
		return
	}
	v.NoteAttrs(d, r.Stat)
}

// targetAttrs returns the current attributes of d (or f) for a
// permission decision by cr about an owner-only change (chmod, chown,
// utimensat). A holder of CAP_FOWNER, CAP_CHOWN and CAP_FSETID may make
// any such change, so for it the stat round trip is skipped and the
// attributes returned are zero.
func targetAttrs(c *syscallCtx, cr auth.Creds, d *dentry, f *file) (auth.FileAttrs, error) {
	if d == nil && f == nil {
		return auth.FileAttrs{}, unix.ENOENT
	}
	if cr.Capable(linux.CAP_FOWNER) && cr.Capable(linux.CAP_CHOWN) && cr.Capable(linux.CAP_FSETID) {
		return auth.FileAttrs{}, nil
	}
	st, err := statOf(c, d, f)
	if err != nil {
		return auth.FileAttrs{}, err
	}
	return vfs.AttrsOfStat(st), nil
}

func sysTruncate(c *syscallCtx) (int64, error) {
	length := int64(c.Args[1])
	if length < 0 {
		return 0, unix.EINVAL
	}
	req := &goferpb.SetStatRequest{Mask: linux.STATX_SIZE, Size: uint64(length)}
	if c.Sysno == unix.SYS_FTRUNCATE {
		f, err := fileArg(c, 0)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		if _, ok := f.Impl.(*vfs.GoferFile); !ok || !f.Writable() {
			return 0, unix.EINVAL
		}
		if _, err := c.FileSizeCheck(vfs.DentryOf(f), length, 0, true); err != nil {
			return 0, err
		}
		if m := vfs.MemfdOf(f); m != nil {
			if err := m.CheckResize(c, f, uint64(length)); err != nil {
				return 0, err
			}
		}
		if err := syncBeforeResize(c, vfs.DentryOf(f), length == 0); err != nil {
			return 0, err
		}
		if err := setStat(c, nil, f, req); err != nil {
			if length == 0 {
				syncAfterFailedResize(c, vfs.DentryOf(f))
			}
			return 0, err
		}
		if h, ok := vfs.HandleOfFile(f); ok && vfs.DentryOf(f) != nil {
			killPriv(c, vfs.DentryOf(f), h, c.Kernel.VFS.AttrsOf(vfs.DentryOf(f)))
			noteMappedResize(c, vfs.DentryOf(f), h)
		}
		return 0, nil
	}
	p, err := pathArg(c, 0)
	if err != nil {
		return 0, err
	}
	d, err := c.Kernel.VFS.Resolve(c, c.Cwd(), p, true)
	if err != nil {
		return 0, err
	}
	if d.IsDir() {
		return 0, unix.EISDIR
	}
	if err := c.MayAccess(d, auth.MayWrite); err != nil {
		return 0, err
	}
	if !d.IsRegular() {
		return 0, unix.EINVAL
	}
	if c.Kernel.InodeExecuting(d.Ino()) {
		return 0, unix.ETXTBSY
	}
	if _, err := c.FileSizeCheck(d, length, 0, true); err != nil {
		return 0, err
	}
	if err := c.BreakLeases(d, true, false); err != nil {
		return 0, err
	}
	if err := syncBeforeResize(c, d, length == 0); err != nil {
		return 0, err
	}
	if err := setStat(c, d, nil, req); err != nil {
		if length == 0 {
			syncAfterFailedResize(c, d)
		}
		return 0, err
	}
	killPriv(c, d, 0, c.Kernel.VFS.AttrsOf(d))
	noteMappedResize(c, d, 0)
	return 0, nil
}

// attrTarget resolves the file a chmod/chown/utimensat-style call names.
func attrTarget(c *syscallCtx, dirfd int32, pathIdx int, follow bool, emptyOK bool) (*dentry, *file, error) {
	p, err := pathArg(c, pathIdx)
	if err != nil {
		return nil, nil, err
	}
	return lookupAt(c, dirfd, p, follow, emptyOK)
}

func sysChmod(c *syscallCtx) (int64, error) {
	var d *dentry
	var f *file
	var err error
	var mode uint32
	switch c.Sysno {
	case unix.SYS_CHMOD:
		d, f, err = attrTarget(c, atFDCWD, 0, true, false)
		mode = uint32(c.Args[1])
	case unix.SYS_FCHMOD:
		f, err = fileArg(c, 0)
		mode = uint32(c.Args[1])
	default:
		d, f, err = attrTarget(c, argInt(c, 0), 1, true, false)
		mode = uint32(c.Args[2])
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	a, err := targetAttrs(c, cr, d, f)
	if err != nil {
		return 0, err
	}
	if !cr.OwnerOrCapable(a) {
		return 0, unix.EPERM
	}
	mode = cr.ChmodMode(a, mode&07777)
	return 0, setStat(c, d, f, &goferpb.SetStatRequest{Mask: linux.STATX_MODE, Mode: mode})
}

func sysChown(c *syscallCtx) (int64, error) {
	var d *dentry
	var f *file
	var err error
	var uid, gid uint32
	switch c.Sysno {
	case unix.SYS_CHOWN, unix.SYS_LCHOWN:
		d, f, err = attrTarget(c, atFDCWD, 0, c.Sysno == unix.SYS_CHOWN, false)
		uid, gid = uint32(c.Args[1]), uint32(c.Args[2])
	case unix.SYS_FCHOWN:
		f, err = fileArg(c, 0)
		uid, gid = uint32(c.Args[1]), uint32(c.Args[2])
	default:
		flags := uint32(c.Args[4])
		if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
			return 0, unix.EINVAL
		}
		d, f, err = attrTarget(c, argInt(c, 0), 1, flags&atSymlinkNofollow == 0, flags&atEmptyPath != 0)
		uid, gid = uint32(c.Args[2]), uint32(c.Args[3])
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	req := &goferpb.SetStatRequest{}
	if uid != ^uint32(0) {
		req.Mask |= linux.STATX_UID
		req.Uid = uid
	}
	if gid != ^uint32(0) {
		req.Mask |= linux.STATX_GID
		req.Gid = gid
	}
	if d == nil && f == nil {
		return 0, unix.ENOENT
	}
	// The mode is needed whoever calls: a chown clears set-id bits
	// (perm.go: chownMode), even one that changes nothing.
	st, err := statOf(c, d, f)
	if err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	a := vfs.AttrsOfStat(st)
	if !cr.MayChown(a, argID(uint64(uid)), argID(uint64(gid))) {
		return 0, unix.EPERM
	}
	if nm, changed := cr.ChownMode(a); changed {
		if req.Mask == 0 && !cr.OwnerOrCapable(a) {
			// Linux: the mode change alone needs the owner's right.
			return 0, unix.EPERM
		}
		req.Mask |= linux.STATX_MODE
		req.Mode = nm & 07777
	}
	if req.Mask == 0 {
		return 0, nil
	}
	return 0, setStat(c, d, f, req)
}

const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

func sysUtimensat(c *syscallCtx) (int64, error) {
	dirfd, flags := argInt(c, 0), uint32(c.Args[3])
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return 0, unix.EINVAL
	}
	var times [2]timeArg
	if c.Args[2] != 0 {
		b, err := c.Mem.CopyIn(c.Args[2], 32)
		if err != nil {
			return 0, err
		}
		for i := range times {
			times[i] = timeArg{sec: int64(binary.LittleEndian.Uint64(b[16*i:])), nsec: int64(binary.LittleEndian.Uint64(b[16*i+8:]))}
			if n := times[i].nsec; n != utimeNow && n != utimeOmit && (n < 0 || n >= 1e9) {
				return 0, unix.EINVAL
			}
		}
	} else {
		times = [2]timeArg{{nsec: utimeNow}, {nsec: utimeNow}}
	}
	var d *dentry
	var f *file
	var err error
	if c.Args[1] == 0 && dirfd != atFDCWD {
		// futimens: the fd itself. A NULL path with AT_FDCWD is no
		// fd: Linux copies the path in and fails (EFAULT).
		f, err = fileArg(c, 0)
	} else {
		d, f, err = attrTarget(c, dirfd, 1, flags&atSymlinkNofollow == 0, flags&atEmptyPath != 0)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	return 0, setTimes(c, d, f, times)
}

// timeArg is one time of utimensat: a time, or nsec utimeNow/utimeOmit.
type timeArg struct{ sec, nsec int64 }

// setTimes sets the access and modification times of d (or f) as
// utimensat does, with its permission rules: explicit times need the
// owner or CAP_FOWNER (EPERM); setting both to now also lets anyone with
// write permission (EACCES).
func setTimes(c *syscallCtx, d *dentry, f *file, times [2]timeArg) error {
	req := &goferpb.SetStatRequest{}
	explicit := false
	for i, t := range times {
		switch {
		case t.nsec == utimeOmit:
			continue
		case t.nsec == utimeNow:
		case t.nsec < 0 || t.nsec >= 1e9:
			return unix.EINVAL
		default:
			explicit = true
		}
		now, ns := t.nsec == utimeNow, t.sec*1e9+t.nsec
		if i == 0 {
			req.Mask |= linux.STATX_ATIME
			req.AtimeNow, req.AtimeNs = now, ns
		} else {
			req.Mask |= linux.STATX_MTIME
			req.MtimeNow, req.MtimeNs = now, ns
		}
	}
	if req.Mask == 0 {
		return nil
	}
	cr := c.ProcessCreds()
	a, err := targetAttrs(c, cr, d, f)
	if err != nil {
		return err
	}
	if !cr.OwnerOrCapable(a) {
		if explicit {
			return unix.EPERM
		}
		if !cr.Permits(a, auth.MayWrite) {
			return unix.EACCES
		}
	}
	return setStat(c, d, f, req)
}

// ---- statfs ----

func sysStatfs(c *syscallCtx) (int64, error) {
	var d *dentry
	var f *file
	var err error
	if c.Sysno == unix.SYS_FSTATFS {
		f, err = c.GetFile(argInt(c, 0))
	} else {
		d, f, err = attrTarget(c, atFDCWD, 0, true, false)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
		d = vfs.DentryOf(f)
	}
	sf := linux.Statfs{Type: linux.TMPFS_MAGIC, BlockSize: 4096, NameLength: 255, FragmentSize: 4096}
	switch {
	case d == nil:
		sf.Type = 0x50495045 // PIPEFS_MAGIC
	case d.Kind == vfs.KindGofer:
		h, err := c.HandleOf(d)
		if f != nil {
			if fh, ok := vfs.HandleOfFile(f); ok {
				h, err = fh, nil
			}
		}
		if err != nil {
			return 0, err
		}
		ctx, cancel := c.Kernel.VFS.RPCCtx()
		defer cancel()
		r, err := c.Kernel.Gofer.StatFS(ctx, &goferpb.StatFSRequest{Handle: h})
		if err := syserr.FromGofer("statfs", r.GetErrno(), err); err != nil {
			return 0, err
		}
		sf = linux.Statfs{Type: r.Type, BlockSize: int64(r.BlockSize), Blocks: r.Blocks, BlocksFree: r.BlocksFree,
			BlocksAvailable: r.BlocksAvailable, Files: r.Files, FilesFree: r.FilesFree, NameLength: r.NameLength,
			FragmentSize: int64(r.BlockSize)}
		if m, grafted := c.Kernel.VFS.MountInfoOf(d); grafted {
			tmpfsStatfs(&sf, &m)
		}
	case d.Kind >= vfs.KindProcDir:
		sf.Type = linux.PROC_SUPER_MAGIC
	case d.Kind == vfs.KindMqueueDir:
		sf.Type = linux.MQUEUE_MAGIC
		sf.Flags = linux.ST_VALID | linux.ST_RELATIME
	}
	b := make([]byte, sf.SizeBytes())
	sf.MarshalBytes(b)
	return 0, c.Mem.CopyOut(c.Args[1], b)
}

// mayChangeAttrs fails with EROFS for a file on a read-only mount
// (Linux checks this before any permission: mnt_want_write).
func mayChangeAttrs(c *syscallCtx, d *dentry, f *file) error {
	if f != nil {
		d = vfs.DentryOf(f)
	}
	if c.Kernel.VFS.ReadOnly(d) {
		return unix.EROFS
	}
	return nil
}

// tmpfsStatfs makes sf, the statfs of the gofer directory holding
// grafted mount m's files, what Linux reports for m: a tmpfs's magic, its
// size= as the total (the free space is the smaller of that and the
// gofer's), and the mount's flags.
func tmpfsStatfs(sf *linux.Statfs, m *mount.Mount) {
	if m.FSType == "mqueue" {
		sf.Type = linux.MQUEUE_MAGIC
	}
	if m.FSType == "tmpfs" {
		sf.Type = linux.TMPFS_MAGIC
		if bs := uint64(max(sf.BlockSize, 1)); m.Tmpfs.HasSize && m.Tmpfs.Size > 0 {
			sf.Blocks = m.Tmpfs.Size / bs
			sf.BlocksFree = min(sf.BlocksFree, sf.Blocks)
			sf.BlocksAvailable = min(sf.BlocksAvailable, sf.Blocks)
		}
	}
	sf.Flags = linux.ST_VALID
	for _, f := range [][2]uint64{{unix.MS_RDONLY, linux.ST_RDONLY}, {unix.MS_NOSUID, linux.ST_NOSUID}, {unix.MS_NODEV, linux.ST_NODEV},
		{unix.MS_NOEXEC, linux.ST_NOEXEC}, {unix.MS_NOATIME, linux.ST_NOATIME}, {unix.MS_NODIRATIME, linux.ST_NODIRATIME},
		{unix.MS_RELATIME, linux.ST_RELATIME}} {
		if m.Flags&f[0] != 0 {
			sf.Flags |= f[1]
		}
	}
}

// sysUtime implements utime, utimes and futimesat on the utimensat path:
// seconds (utime) or timevals instead of timespecs, NULL for now.
func sysUtime(c *syscallCtx) (int64, error) {
	dirfd, pi, ti := int32(atFDCWD), 0, 1
	if c.Sysno == unix.SYS_FUTIMESAT {
		dirfd, pi, ti = argInt(c, 0), 1, 2
	}
	times := [2]timeArg{{nsec: utimeNow}, {nsec: utimeNow}}
	if addr := c.Args[ti]; addr != 0 {
		b, err := c.Mem.CopyIn(addr, 16)
		if c.Sysno != unix.SYS_UTIME {
			b, err = c.Mem.CopyIn(addr, 32)
		}
		if err != nil {
			return 0, err
		}
		for i := range times {
			if c.Sysno == unix.SYS_UTIME {
				times[i] = timeArg{sec: int64(binary.LittleEndian.Uint64(b[8*i:]))}
				continue
			}
			sec, usec := int64(binary.LittleEndian.Uint64(b[16*i:])), int64(binary.LittleEndian.Uint64(b[16*i+8:]))
			if usec < 0 || usec >= 1e6 {
				return 0, unix.EINVAL
			}
			times[i] = timeArg{sec: sec, nsec: usec * 1000}
		}
	}
	var d *dentry
	var f *file
	var err error
	if c.Sysno == unix.SYS_FUTIMESAT && c.Args[pi] == 0 && dirfd != atFDCWD {
		f, err = fileArg(c, 0)
	} else {
		d, f, err = attrTarget(c, dirfd, pi, true, false)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	return 0, setTimes(c, d, f, times)
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
