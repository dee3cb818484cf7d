package syscalls

import (
	"errors"
	"fmt"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The open calls: open, creat and openat (openAt), over a path's walk
// (openFile; openOrCreate and createFile for O_CREAT's last component)
// and openDentry, which makes the description of a dentry's kind
// (reopenGoferFile: /proc/<pid>/fd/<n>'s); a posted open's description
// goes at the fd its client named (installPostedOpen), and the end of a
// leasable open's walk is noted for its path lease (checkOpenedLeasable).
// RestoreSyntheticFile opens a Restore's synthesized file again by path.

// Open is open(2).
func Open(c *kernel.Task) (int64, error) {
	p, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	return openAt(c, linux.AT_FDCWD, p, uint32(c.Args[1]), uint32(c.Args[2]))
}

// Creat is creat(2).
func Creat(c *kernel.Task) (int64, error) {
	p, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	return openAt(c, linux.AT_FDCWD, p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(c.Args[1]))
}

// Openat is openat(2).
func Openat(c *kernel.Task) (int64, error) {
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return openAt(c, ArgInt(c, 0), p, uint32(c.Args[2]), uint32(c.Args[3]))
}

func openAt(c *kernel.Task, dirfd int32, path string, flags, mode uint32) (int64, error) {
	flags = sysabi.OpenFlags(flags)
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
		c.Kernel.InotifyEvent(vfs.DentryOf(f), linux.IN_OPEN)
	}
	checkOpenedLeasable(c, f)
	if c.InstallFD != nil {
		return installPostedOpen(c, tab, f, *c.InstallFD, flags&unix.O_CLOEXEC != 0)
	}
	fd, err := tab.Install(f, 0, flags&unix.O_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}

// maxReplacedRetries bounds how often an open walks a path again after
// its cached dentry was found replaced (vfs.ErrReplaced): each retry
// walks the gofer, so only a name replaced again meanwhile fails, with
// ENOENT.
const maxReplacedRetries = 2

func openFile(c *kernel.Task, dirfd int32, path string, flags, mode uint32) (*fdesc.File, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	v := c.Kernel.VFS
	start, err := StartDir(c, dirfd, path)
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
		var target *vfs.Dentry
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
func openOrCreate(c *kernel.Task, dir *vfs.Dentry, name string, trailing bool, flags, mode, part uint32, pre **vfs.PreOpened) (f *fdesc.File, link *vfs.Dentry, err error) {
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
			if err := v.ScopeStep(c, dir, d); err != nil {
				return nil, nil, err
			}
			if flags&unix.O_EXCL != 0 {
				if c.Resent() && dir.Kind == vfs.KindGofer {
					// Re-sent after a restore: the gofer's reply cache
					// answers (see ResolveCreate).
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

func createFile(c *kernel.Task, dir *vfs.Dentry, name string, flags, mode, part uint32) (*fdesc.File, error) {
	v := c.Kernel.VFS
	if dir.Kind == vfs.KindMqueueDir {
		return openMqueue(c, name, flags, mode)
	}
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
	seen := v.RemovalsSeen()
	r, err := c.Kernel.Gofer.Create(ctx, &goferpb.CreateRequest{
		Dir: dh, Name: []byte(name), Flags: flags & (unix.O_ACCMODE | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC | unix.O_TRUNC),
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
	d := v.InsertChild(dir, name, r.GetPath().GetId(), r.Handle.FileHandle, r.Stat, seen)
	c.Kernel.InotifyChild(dir, name, linux.IN_CREATE, false)
	c.Created = true
	return vfs.NewFile(vfs.NewGoferFile(v, r.Handle.Id, r.Handle.FileHandle, nil), d, flags&sysabi.KeptOpenFlags), nil
}

// truncOrigin is the Origin of a gofer open with flags: with O_TRUNC, the
// call's, so that the truncation is once (a call re-sent to a restarted
// server, after the Rewrites put back later writes, does not truncate
// again); nil for another open, which is the same when run twice.
func truncOrigin(c *kernel.Task, flags uint32) *goferpb.Origin {
	if flags&unix.O_TRUNC == 0 || c.CallSeq == 0 {
		return nil
	}
	return c.GoferOrigin(0)
}

// goferOpenFlags are the open flags the gofer's open takes.
const goferOpenFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC

// restoredSyntheticDentry finds the dentry of a synthesized file a
// Restore names: by its path, but a /proc/<pid> directory of the process
// it was opened for (FileState.proc_gen), whether or not that process is
// still there or its id another's now.
func restoredSyntheticDentry(k *kernel.Kernel, rc *kernel.Task, fs *sentrypb.FileState) (*vfs.Dentry, error) {
	p := string(fs.Path)
	if fs.ProcGen != 0 {
		pid, err := strconv.ParseInt(path.Base(p), 10, 32)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("restore /proc directory %q: %w", p, unix.EINVAL)
		}
		dir, err := k.VFS.Resolve(rc, k.VFS.Root, path.Dir(p), false)
		if err != nil {
			return nil, err
		}
		if dir.Kind != vfs.KindProcDir {
			return nil, fmt.Errorf("restore /proc directory %q: not in a /proc: %w", p, unix.ENOENT)
		}
		return k.Synth.ProcPidDentry(dir, int32(pid), fs.ProcGen), nil
	}
	return k.VFS.Resolve(rc, k.VFS.Root, p, false)
}

// RestoreSyntheticFile opens again, by its path, a synthesized file (of
// /dev or /proc) a Restore names.
func RestoreSyntheticFile(k *kernel.Kernel, rc *kernel.Task, fs *sentrypb.FileState) (*fdesc.File, error) {
	if rc == nil || len(fs.Path) == 0 {
		return nil, unix.ENOENT
	}
	d, err := restoredSyntheticDentry(k, rc, fs)
	if err != nil {
		return nil, err
	}
	f, err := openDentry(rc, d, fs.Flags&^(unix.O_CREAT|unix.O_TRUNC|unix.O_EXCL), nil)
	if err != nil {
		return nil, err
	}
	f.Flags.Store(fs.Flags & sysabi.KeptOpenFlags)
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
func openDentry(c *kernel.Task, d *vfs.Dentry, flags uint32, pre *vfs.PreOpened) (*fdesc.File, error) {
	v := c.Kernel.VFS
	kept := flags & sysabi.KeptOpenFlags
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
		return c.OpenPty(d, kept)
	case vfs.KindDevNode:
		return c.OpenDevNode(d, kept)
	case vfs.KindMqueue:
		return openMqueue(c, d.SynthName(), flags&^(unix.O_CREAT|unix.O_EXCL), 0)
	case vfs.KindProcFile, vfs.KindProcFdInfo:
		if acc != unix.O_RDONLY && d.ProcScope == procfs.Top && c.ProcessCreds().FSUID != 0 && !procfs.OthersMayWrite(d.ProcScope, d.ProcName) {
			// /proc/sys's writable files are root's, mode 0644, but
			// for the 0666 ones that check the writer at the write.
			return nil, unix.EACCES
		}
		if caps := procfs.OpenWriteCaps(d.ProcScope, d.ProcName); acc != unix.O_RDONLY && caps != 0 && !c.ProcessCreds().CapableOfAny(caps) {
			// kernel/*_next_id: writable with one of caps alone.
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
		type reopener interface{ Reopen() fdesc.FileImpl }
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
		// The handle a listing ahead of d brought, or a closed
		// description of d left (vfs/kept.go).
		h, fh, conf, ok := v.TakeKept(d)
		if !ok {
			conf = v.ConfirmStart()
			var err error
			if h, _, fh, err = v.FreshHandle(d); err != nil {
				return nil, err
			}
		}
		return vfs.NewFile(v.NewOpenedGoferDir(d, h, fh, conf), d, kept), nil
	}
	if !d.IsRegular() {
		return nil, unix.ENXIO
	}
	if flags&unix.O_TRUNC != 0 {
		if err := c.SyncBeforeResize(d, true); err != nil {
			return nil, err
		}
	}
	gflags := flags & goferOpenFlags
	var conf vfs.Confirmed
	if pre != nil {
		conf = pre.Confirmed
	}
	h, fh, ok := v.TakePreOpened(pre, d, gflags)
	if !ok && gflags == unix.O_RDONLY {
		// The handle a read-only description of d left (vfs/kept.go).
		h, fh, conf, ok = v.TakeKept(d)
	}
	var err error
	if !ok {
		conf = v.ConfirmStart()
		h, fh, err = v.OpenRegular(d, gflags, truncOrigin(c, gflags))
	}
	if err != nil {
		if flags&unix.O_TRUNC != 0 {
			c.SyncAfterFailedResize(d)
		}
		return nil, err
	}
	if flags&unix.O_TRUNC != 0 {
		c.TruncatedToZero(d)
		c.KillPriv(d, h, v.AttrsOf(d))
		c.NoteMappedResize(d, h)
	}
	if gflags == unix.O_RDONLY {
		return vfs.NewFile(v.NewReadOnlyGoferFile(d, h, fh, conf), d, kept), nil
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, fh, nil), d, kept), nil
}

// reopenGoferFile opens a new description of of's file, as open of
// /proc/<pid>/fd/<n> does on Linux: the same inode, whatever became of its
// name, through a clone of of's gofer handle.
func reopenGoferFile(c *kernel.Task, of *fdesc.File, g *vfs.GoferFile, flags, kept uint32) (*fdesc.File, error) {
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
	r, err := c.Kernel.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: flags & goferOpenFlags, Origin: truncOrigin(c, flags)})
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		c.Kernel.Releases.Release([]uint64{h})
		return nil, err
	}
	return vfs.NewFile(vfs.NewGoferFile(v, h, g.FH, g.Memfd), vfs.DentryOf(of), kept), nil
}

// installPostedOpen installs f, just opened, at fd, a posted open's
// Syscall.install_fd (the server's postopen.go: the client told the
// application that fd before the server opened the file): EMFILE
// at or above RLIMIT_NOFILE, EBUSY if fd is open, unless this is a
// re-sent call (the fd's record, folded by the client before the first
// execution's reply was lost, restored the description it had made: it
// is replaced, and calls re-sent after it redo what they did to it).
func installPostedOpen(c *kernel.Task, tab *fdtable.Table, f *fdesc.File, fd int32, cloexec bool) (int64, error) {
	id := c.Kernel.FileID(f)
	old, err := tab.InstallExact(fd, f, cloexec, c.Resent(), c.CallSeq)
	if err != nil {
		c.Kernel.Log.Warn("a posted open could not install its description at the fd the client told the application",
			"fd", fd, "errno", err)
		return 0, err
	}
	if old != nil {
		old.DecRef()
	}
	// The description's first record goes with this reply (its id was
	// assigned here, not when its fd's record is derived).
	c.Kernel.Trk.TouchFile(f)
	if c.Reply != nil {
		c.Reply.OpenedFile = id
	}
	return int64(fd), nil
}

// checkOpenedLeasable notes where an open that may get a path lease
// ended its walk (the file opened, whose attributes the lease then
// covers: the server's pathlease.go), and refuses the lease to one that opened
// anything but a regular gofer file or a gofer directory: a device, a
// FIFO (whose open may block), a synthesised file.
func checkOpenedLeasable(c *kernel.Task, f *fdesc.File) {
	if c.PathView == nil {
		return
	}
	d := vfs.DentryOf(f)
	if d == nil || d.Kind != vfs.KindGofer || !(d.IsRegular() || d.IsDir()) {
		c.NotLeasable = true
		return
	}
	c.PathView.NoteFinal(d)
}
