package gofer

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Operations that change a directory: Mkdir, Symlink, Mknod, Link, Unlink,
// Rename. Create is in io.go because it also opens the file.

// finishCreate applies ownership and the exact permission bits (the gofer's
// own umask must not matter: the sentry has already applied the
// application's) to the new file pathFD (an O_PATH fd) of type ftype, then
// installs a handle for it. If openFD is not -1, it is an fd of the same
// file open with the open flags openFlags, which becomes the handle's open
// fd. On failure it removes the new file again if name still refers to it,
// and closes pathFD and openFD.
func (s *Server) finishCreate(dir *handle, name string, pathFD, openFD int, openFlags, uid, gid, perm, ftype uint32) (*goferpb.Handle, *goferpb.Stat, error) {
	st, hostPerm, err := s.settleNew(pathFD, ftype, uid, gid, perm)
	// changed: the stat above is no longer the file's.
	changed := false
	// noSetID: the new file holds no set-id attribute.
	var noSetID uint64
	if err == nil && perm&setIDBits&^hostPerm != 0 {
		err = s.storeSetID(pathFD, st, perm&setIDBits&^hostPerm)
		changed = true
	} else {
		noSetID = s.setIDs.storesMark()
	}
	if err != nil {
		removeIfSame(dir.fd, name, pathFD)
		unix.Close(pathFD)
		if openFD >= 0 {
			unix.Close(openFD)
		}
		return nil, nil, err
	}
	var h *handle
	if changed {
		h, st, err = s.newHandle(pathFD)
		if err != nil {
			if openFD >= 0 {
				unix.Close(openFD)
			}
			return nil, nil, err
		}
	} else {
		// The stat above is the file's as the handle would read it: a
		// new inode has no set-id attribute, and none was stored.
		h = newHandleOf(pathFD, st)
	}
	h.noSetIDSince = noSetID
	if openFD >= 0 {
		// h is not yet published: no lock needed.
		switch openFlags & unix.O_ACCMODE {
		case unix.O_RDONLY:
			h.rfd = openFD
		case unix.O_WRONLY:
			h.wfd = openFD
		default:
			h.rfd, h.wfd = openFD, openFD
		}
		h.setSyncLocked(openFlags)
	}
	h.incRef() // ours, for markOpen once h is published
	defer h.decRef()
	id, err := s.insert(h)
	if err != nil {
		h.decRef()
		return nil, nil, err
	}
	if openFD >= 0 {
		s.markOpen(h, &openedBy{st: st, name: name})
	}
	return &goferpb.Handle{Id: id, FileHandle: h.fileHandle}, st, nil
}

// finishCreatePath is finishCreate for a new file that is not opened.
func (s *Server) finishCreatePath(dir *handle, name string, pathFD int, uid, gid, perm, ftype uint32) (*goferpb.Handle, *goferpb.Stat, error) {
	return s.finishCreate(dir, name, pathFD, -1, 0, uid, gid, perm, ftype)
}

// settleNew gives the new file fd (an O_PATH fd of the file of type
// ftype the gofer has just made, or of what its name held by the time it
// opened it) the owner uid:gid and the permission bits perm (less the
// set-id bits the gofer strips, stripSetID), and returns its attributes
// after, and the bits it has (for its own type). What the creation surely
// left otherwise is changed before the one statx: an owner other than the
// gofer's euid, the bits the gofer's umask cut (unless set-id bits are
// asked for: they are set, as a chown clears them, only once the statx
// has shown the file's type). A file the statx then shows otherwise than
// asked (the group of a set-group-ID directory, set-id bits, a default
// ACL's mask, a umask changed since the gofer read it) gets what it lacks,
// and a statx again. A chown refused with EPERM to a gofer that is not
// root is not an error (the file keeps the gofer's owner).
func (s *Server) settleNew(fd int, ftype, uid, gid, perm uint32) (*goferpb.Stat, uint32, error) {
	ownerKept := false // a chown refused to a gofer that is not root
	chown := func() error {
		err := fchown(fd, int(uid), int(gid))
		if err != nil && !s.isRoot && errnoOf(err) == int32(unix.EPERM) {
			ownerKept, err = true, nil
		}
		return err
	}
	chmod := func(bits uint32) error {
		pdir, pname := procFD(fd)
		return wrap(unix.Fchmodat(pdir, pname, bits&0o7777, 0), "chmod new file")
	}
	if uid != s.euid {
		if err := chown(); err != nil {
			return nil, 0, err
		}
	}
	if bits := s.stripSetID(perm, ftype); ftype != unix.S_IFLNK && bits&setIDBits == 0 && bits&^s.umask != bits {
		if err := chmod(bits); err != nil {
			return nil, 0, err
		}
	}
	st, err := statFD(fd)
	if err != nil {
		return nil, 0, err
	}
	typ := st.GetMode() & unix.S_IFMT
	hostPerm := s.stripSetID(perm, typ)
	ownerOK := ownerKept || st.GetUid() == uid && st.GetGid() == gid
	modeOK := typ == unix.S_IFLNK || st.GetMode()&0o7777 == hostPerm&0o7777
	if ownerOK && modeOK {
		return st, hostPerm, nil
	}
	if !ownerOK {
		if err := chown(); err != nil {
			return nil, 0, err
		}
	}
	if typ != unix.S_IFLNK && (!modeOK || !ownerOK && hostPerm&setIDBits != 0) {
		// Also restores set-id bits cleared by the chown.
		if err := chmod(hostPerm); err != nil {
			return nil, 0, err
		}
	}
	st, err = statFD(fd)
	return st, hostPerm, err
}

// processUmask returns the process's umask as /proc/self/status shows it
// (without setting it, which would race with the process's other
// threads), or 0 if it cannot be read.
func processUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m) & 0o777
			}
		}
	}
	return 0
}

// removeIfSame unlinks name from dirfd if it still names the file fd; it is
// the best-effort undo of a creation whose setup failed.
func removeIfSame(dirfd int, name string, fd int) {
	var a, b unix.Stat_t
	if unix.Fstatat(fd, "", &a, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW) != nil ||
		unix.Fstatat(dirfd, name, &b, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		a.Dev != b.Dev || a.Ino != b.Ino {
		return
	}
	flags := 0
	if a.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR
	}
	unix.Unlinkat(dirfd, name, flags)
}

// lookupDirName looks up a directory handle and checks name.
func (s *Server) lookupDirName(dirID uint64, name string) (*handle, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	dir, err := s.lookupDir(dirID)
	if err == nil && s.hidden(dir, name) {
		dir.decRef()
		return nil, errorf(unix.ENOENT, "%q is hidden", name)
	}
	return dir, err
}

// lookupDirNameBytes is lookupDirName of a name as a request holds it,
// without its conversion to a string (an allocation a file rm -r
// removes) when the name is valid.
func (s *Server) lookupDirNameBytes(dirID uint64, name []byte) (*handle, error) {
	if !nameOK(name) {
		return s.lookupDirName(dirID, string(name)) // its error
	}
	dir, err := s.lookupDir(dirID)
	if err == nil && string(name) == SillyDirName && s.hidden(dir, SillyDirName) {
		dir.decRef()
		return nil, errorf(unix.ENOENT, "%q is hidden", name)
	}
	return dir, err
}

// Mkdir implements goferpb.GoferServer.Mkdir.
func (s *Server) Mkdir(_ context.Context, req *goferpb.MkdirRequest) (*goferpb.MkdirReply, error) {
	return once(s, req.GetOrigin(), "mkdir", func() (*goferpb.MkdirReply, []byte) {
		h, st, err := s.mkdir(req)
		s.log.Debug("mkdir", "dir", req.GetDir(), "name", req.GetName(), "mode", req.GetMode(), "err", err)
		if err != nil {
			return &goferpb.MkdirReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.MkdirReply{Handle: h, Stat: st, DirStat: s.freshStat(req.GetDir())}, h.GetFileHandle()
	}, func(r *goferpb.MkdirReply, fh []byte) *goferpb.MkdirReply {
		r.DirStat = nil // the directory may have changed since
		if r.Errno != 0 || r.Handle == nil {
			return r // failed, or its file was removed at once
		}
		nh, st, h, err := s.reacquire(fh, req.GetDir(), string(req.GetName()))
		if errors.Is(err, errCreationGone) {
			// The creation happened once and its effect is already
			// undone by a later call: its success stands, with the
			// first execution's attributes and no handle (there is no
			// file to name).
			s.log.Debug("re-sent creation of a file since removed", "op", "mkdir", "name", req.GetName())
			return &goferpb.MkdirReply{Stat: r.GetStat()}
		}
		if err != nil {
			return &goferpb.MkdirReply{Errno: errnoOf(err)}
		}
		h.decRef()
		return &goferpb.MkdirReply{Handle: nh, Stat: st}
	}), nil
}

func (s *Server) mkdir(req *goferpb.MkdirRequest) (*goferpb.Handle, *goferpb.Stat, error) {
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, nil, wrap(err, "mkdir")
	}
	defer dir.decRef()
	name, perm := string(req.GetName()), req.GetMode()&0o7777
	if err := unix.Mkdirat(dir.fd, name, perm); err != nil {
		return nil, nil, wrap(err, "mkdir %q", name)
	}
	fd, err := openPath(dir.fd, name)
	if errors.Is(err, unix.ENOENT) {
		// Made, and already removed by a concurrent call (another
		// thread of the sentry's application): the creation succeeded,
		// and there is no file left to hand out.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, wrap(err, "mkdir %q: open", name)
	}
	return s.finishCreatePath(dir, name, fd, req.GetUid(), req.GetGid(), perm, unix.S_IFDIR)
}

// Symlink implements goferpb.GoferServer.Symlink.
func (s *Server) Symlink(_ context.Context, req *goferpb.SymlinkRequest) (*goferpb.SymlinkReply, error) {
	return once(s, req.GetOrigin(), "symlink", func() (*goferpb.SymlinkReply, []byte) {
		h, st, err := s.symlink(req)
		s.log.Debug("symlink", "dir", req.GetDir(), "name", req.GetName(), "target", req.GetTarget(), "err", err)
		if err != nil {
			return &goferpb.SymlinkReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.SymlinkReply{Handle: h, Stat: st, DirStat: s.freshStat(req.GetDir())}, h.GetFileHandle()
	}, func(r *goferpb.SymlinkReply, fh []byte) *goferpb.SymlinkReply {
		r.DirStat = nil // the directory may have changed since
		if r.Errno != 0 || r.Handle == nil {
			return r // failed, or its file was removed at once
		}
		nh, st, h, err := s.reacquire(fh, req.GetDir(), string(req.GetName()))
		if errors.Is(err, errCreationGone) {
			// The creation happened once and its effect is already
			// undone by a later call: its success stands, with the
			// first execution's attributes and no handle (there is no
			// file to name).
			s.log.Debug("re-sent creation of a file since removed", "op", "symlink", "name", req.GetName())
			return &goferpb.SymlinkReply{Stat: r.GetStat()}
		}
		if err != nil {
			return &goferpb.SymlinkReply{Errno: errnoOf(err)}
		}
		h.decRef()
		return &goferpb.SymlinkReply{Handle: nh, Stat: st}
	}), nil
}

func (s *Server) symlink(req *goferpb.SymlinkRequest) (*goferpb.Handle, *goferpb.Stat, error) {
	target := string(req.GetTarget())
	switch {
	case target == "":
		return nil, nil, errorf(unix.ENOENT, "symlink: empty target")
	case strings.IndexByte(target, 0) >= 0:
		return nil, nil, errorf(unix.EINVAL, "symlink: NUL in target")
	case len(target) >= unix.PathMax:
		return nil, nil, errorf(unix.ENAMETOOLONG, "symlink: target of %d bytes", len(target))
	}
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, nil, wrap(err, "symlink")
	}
	defer dir.decRef()
	name := string(req.GetName())
	// The target is stored, never resolved by the gofer.
	if err := unix.Symlinkat(target, dir.fd, name); err != nil {
		return nil, nil, wrap(err, "symlink %q", name)
	}
	fd, err := openPath(dir.fd, name)
	if errors.Is(err, unix.ENOENT) {
		// Made, and already removed by a concurrent call (another
		// thread of the sentry's application): the creation succeeded,
		// and there is no file left to hand out.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, wrap(err, "symlink %q: open", name)
	}
	return s.finishCreatePath(dir, name, fd, req.GetUid(), req.GetGid(), 0o777, unix.S_IFLNK)
}

// Mknod implements goferpb.GoferServer.Mknod. Regular files, FIFOs and
// sockets can be created; device nodes give EPERM (a device node in the
// root would be a way out of it).
func (s *Server) Mknod(_ context.Context, req *goferpb.MknodRequest) (*goferpb.MknodReply, error) {
	return once(s, req.GetOrigin(), "mknod", func() (*goferpb.MknodReply, []byte) {
		h, st, err := s.mknod(req)
		s.log.Debug("mknod", "dir", req.GetDir(), "name", req.GetName(), "mode", req.GetMode(), "err", err)
		if err != nil {
			return &goferpb.MknodReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.MknodReply{Handle: h, Stat: st, DirStat: s.freshStat(req.GetDir())}, h.GetFileHandle()
	}, func(r *goferpb.MknodReply, fh []byte) *goferpb.MknodReply {
		r.DirStat = nil // the directory may have changed since
		if r.Errno != 0 || r.Handle == nil {
			return r // failed, or its file was removed at once
		}
		nh, st, h, err := s.reacquire(fh, req.GetDir(), string(req.GetName()))
		if errors.Is(err, errCreationGone) {
			// The creation happened once and its effect is already
			// undone by a later call: its success stands, with the
			// first execution's attributes and no handle (there is no
			// file to name).
			s.log.Debug("re-sent creation of a file since removed", "op", "mknod", "name", req.GetName())
			return &goferpb.MknodReply{Stat: r.GetStat()}
		}
		if err != nil {
			return &goferpb.MknodReply{Errno: errnoOf(err)}
		}
		h.decRef()
		return &goferpb.MknodReply{Handle: nh, Stat: st}
	}), nil
}

func (s *Server) mknod(req *goferpb.MknodRequest) (*goferpb.Handle, *goferpb.Stat, error) {
	mode := req.GetMode()
	ftype := mode & unix.S_IFMT
	switch ftype {
	case 0:
		ftype = unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		return nil, nil, errorf(unix.EPERM, "mknod: device nodes are not served")
	default:
		return nil, nil, errorf(unix.EINVAL, "mknod: file type %#o", ftype)
	}
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, nil, wrap(err, "mknod")
	}
	defer dir.decRef()
	name, perm := string(req.GetName()), mode&0o7777
	if err := unix.Mknodat(dir.fd, name, ftype|perm, 0); err != nil {
		return nil, nil, wrap(err, "mknod %q", name)
	}
	fd, err := openPath(dir.fd, name)
	if errors.Is(err, unix.ENOENT) {
		// Made, and already removed by a concurrent call (another
		// thread of the sentry's application): the creation succeeded,
		// and there is no file left to hand out.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, wrap(err, "mknod %q: open", name)
	}
	return s.finishCreatePath(dir, name, fd, req.GetUid(), req.GetGid(), perm, ftype)
}

// Link implements goferpb.GoferServer.Link.
func (s *Server) Link(_ context.Context, req *goferpb.LinkRequest) (*goferpb.LinkReply, error) {
	return once(s, req.GetOrigin(), "link", func() (*goferpb.LinkReply, []byte) {
		st, err := s.link(req)
		s.log.Debug("link", "dir", req.GetDir(), "name", req.GetName(), "target", req.GetTarget(), "err", err)
		if err != nil {
			return &goferpb.LinkReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.LinkReply{Stat: st}, nil
	}, nil), nil
}

func (s *Server) link(req *goferpb.LinkRequest) (*goferpb.Stat, error) {
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, wrap(err, "link")
	}
	defer dir.decRef()
	target, err := s.lookup(req.GetTarget())
	if err != nil {
		return nil, wrap(err, "link target")
	}
	defer target.decRef()
	if target.ftype == unix.S_IFDIR {
		return nil, errorf(unix.EPERM, "link: target is a directory")
	}
	name := string(req.GetName())
	err = unix.Linkat(target.fd, "", dir.fd, name, unix.AT_EMPTY_PATH)
	if err == unix.ENOENT && !s.isRoot && target.ftype != unix.S_IFLNK {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link does not.
		err = unix.Linkat(unix.AT_FDCWD, target.procPath(), dir.fd, name, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return nil, wrap(err, "link %q", name)
	}
	return s.statFile(target.fd)
}

// Unlink implements goferpb.GoferServer.Unlink.
func (s *Server) Unlink(_ context.Context, req *goferpb.UnlinkRequest) (*goferpb.UnlinkReply, error) {
	return once(s, req.GetOrigin(), "unlink", func() (*goferpb.UnlinkReply, []byte) {
		r := &unlinkReply1{}
		changed, err := s.unlink(req, &r.changed)
		if s.log.IsDebug() { // its arguments cost allocations (rm -r: one call a file)
			s.log.Debug("unlink", "dir", req.GetDir(), "name", req.GetName(), "flags", req.GetFlags(), "err", err)
		}
		if err != nil {
			r.changed[0] = nil
			r.r.Errno = errnoOf(err)
			return &r.r, nil
		}
		r.r.Changed = changed
		return &r.r, nil
	}, nil), nil
}

// unlinkReply1 is an UnlinkReply with room for the one changed inode an
// unlink of a found inode names: one allocation, not two, an unlink (rm
// -r: one a file).
type unlinkReply1 struct {
	r       goferpb.UnlinkReply
	changed [1]*goferpb.InodeID
}

// UnlinkMany implements goferpb.GoferServer.UnlinkMany: each unlink as
// Unlink, in order, with its own Origin. One that meets a handle this
// gofer does not know (EBADF, ESTALE) stops the request there, so that
// the caller, having re-resolved its handles, sends it again whole (the
// unlinks already run are then answered from the reply cache).
func (s *Server) UnlinkMany(ctx context.Context, req *goferpb.UnlinkManyRequest) (*goferpb.UnlinkManyReply, error) {
	dirs, names, origins, flags, found := req.GetDirs(), req.GetNames(), req.GetOrigins(), req.GetFlags(), req.GetFound()
	if len(names) != len(dirs) || (len(origins) != 0 && len(origins) != len(dirs)) || (len(flags) != 0 && len(flags) != len(dirs)) ||
		(len(found) != 0 && len(found) != len(dirs)) {
		return &goferpb.UnlinkManyReply{Errno: int32(unix.EINVAL)}, nil
	}
	// Errnos alone when the caller asks and its found says every
	// unlink's changed inode (unlink's reply names found's then).
	errnos := req.GetErrnosWanted() && len(found) == len(dirs) && !slices.ContainsFunc(found, func(f *goferpb.InodeID) bool { return f.GetIno() == 0 })
	out := &goferpb.UnlinkManyReply{}
	if errnos {
		out.Errnos = make([]int32, 0, len(dirs))
	} else {
		out.Unlinks = make([]*goferpb.UnlinkReply, 0, len(dirs))
	}
	// Each unlink's request in turn: Unlink keeps nothing of it.
	one := &goferpb.UnlinkRequest{}
	for i := range dirs {
		one.Dir, one.Name, one.Origin, one.Flags, one.Found = dirs[i], names[i], nil, 0, nil
		if len(origins) > 0 {
			one.Origin = origins[i]
		}
		if len(flags) > 0 {
			one.Flags = flags[i]
		}
		if len(found) > 0 {
			one.Found = found[i]
		}
		r, err := s.Unlink(ctx, one)
		if err != nil {
			return nil, err
		}
		if e := unix.Errno(r.GetErrno()); e == unix.EBADF || e == unix.ESTALE {
			out.Errno = int32(e)
			return out, nil
		}
		if errnos {
			out.Errnos = append(out.Errnos, r.GetErrno())
			continue
		}
		out.Unlinks = append(out.Unlinks, r)
	}
	return out, nil
}

// unlink removes the name and returns the inode it named (the one the
// sentry found there, when it says: UnlinkRequest.found, in one's room).
func (s *Server) unlink(req *goferpb.UnlinkRequest, one *[1]*goferpb.InodeID) ([]*goferpb.InodeID, error) {
	flags := req.GetFlags()
	if flags != 0 && flags != unix.AT_REMOVEDIR {
		return nil, errorf(unix.EINVAL, "unlink: flags %#x", flags)
	}
	dir, err := s.lookupDirNameBytes(req.GetDir(), req.GetName())
	if err != nil {
		return nil, wrap(err, "unlink")
	}
	defer dir.decRef()
	var changed []*goferpb.InodeID
	if f := req.GetFound(); f.GetIno() != 0 && !req.GetOpen() {
		// The sentry's word for it (UnlinkRequest.found): Linux's unlink
		// tells nothing of the inode, and a stat of the name before
		// each was as many calls as unlinks.
		one[0] = f
		changed = one[:]
	} else {
		changed = inodesAt(dir.fd, string(req.GetName()))
	}
	if flags == 0 && req.GetOpen() {
		if id, last := s.isLastName(dir, string(req.GetName())); last {
			return changed, s.sillyRename(dir, string(req.GetName()), id)
		}
	}
	if err := unlinkatName(dir.fd, req.GetName(), int(flags)); err != nil {
		// Not wrap's arguments on success: they cost allocations.
		return changed, wrap(err, "unlink %q", req.GetName())
	}
	return changed, nil
}

// inodesAt returns the inodes the names in directory dirfd hold (those
// that exist), as the InodeIDs of a reply.
func inodesAt(dirfd int, names ...string) []*goferpb.InodeID {
	var out []*goferpb.InodeID
	for _, name := range names {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			out = append(out, &goferpb.InodeID{Dev: st.Dev, Ino: st.Ino})
		}
	}
	return out
}

// Rename implements goferpb.GoferServer.Rename. Handles of the renamed
// file (and of anything below it) stay valid.
func (s *Server) Rename(_ context.Context, req *goferpb.RenameRequest) (*goferpb.RenameReply, error) {
	return once(s, req.GetOrigin(), "rename", func() (*goferpb.RenameReply, []byte) {
		changed, check, err := s.rename(req)
		s.log.Debug("rename", "old_dir", req.GetOldDir(), "old_name", req.GetOldName(),
			"new_dir", req.GetNewDir(), "new_name", req.GetNewName(), "flags", req.GetFlags(), "check", check, "err", err)
		if err != nil {
			return &goferpb.RenameReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.RenameReply{Changed: changed, Differs: check == exchangeDiffer, ExchangedBefore: check == exchangeDone}, nil
	}, nil), nil
}

// rename renames and returns the inodes the two names held before; a
// RENAME_EXCHANGE with check_inos is done only if the check says
// exchangeRuns (conditional.go), and then nothing changed.
func (s *Server) rename(req *goferpb.RenameRequest) ([]*goferpb.InodeID, exchangeCheck, error) {
	const allowed = unix.RENAME_NOREPLACE | unix.RENAME_EXCHANGE
	if req.GetFlags()&^uint32(allowed) != 0 {
		return nil, exchangeRuns, errorf(unix.EINVAL, "rename: flags %#x", req.GetFlags())
	}
	if err := checkName(string(req.GetNewName())); err != nil {
		return nil, exchangeRuns, wrap(err, "rename")
	}
	oldDir, err := s.lookupDirName(req.GetOldDir(), string(req.GetOldName()))
	if err != nil {
		return nil, exchangeRuns, wrap(err, "rename")
	}
	defer oldDir.decRef()
	newDir, err := s.lookupDir(req.GetNewDir())
	if err != nil {
		return nil, exchangeRuns, wrap(err, "rename")
	}
	defer newDir.decRef()
	if s.hidden(newDir, string(req.GetNewName())) {
		return nil, exchangeRuns, errorf(unix.ENOENT, "rename to %q: hidden", req.GetNewName())
	}
	if req.GetCheckInos() && req.GetFlags()&unix.RENAME_EXCHANGE != 0 {
		check, err := checkExchange(oldDir.fd, string(req.GetOldName()), newDir.fd, string(req.GetNewName()), req)
		if err != nil || check != exchangeRuns {
			return nil, check, err
		}
	}
	changed := append(inodesAt(oldDir.fd, string(req.GetOldName())), inodesAt(newDir.fd, string(req.GetNewName()))...)
	return changed, exchangeRuns, wrap(unix.Renameat2(oldDir.fd, string(req.GetOldName()), newDir.fd, string(req.GetNewName()), uint(req.GetFlags())),
		"rename %q to %q", req.GetOldName(), req.GetNewName())
}
