package gofer

import (
	"context"
	"math"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// statxMask is what the gofer asks statx for.
const statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME

// setStatMask is the set of SetStatRequest.mask bits the gofer honours.
const setStatMask = unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID |
	unix.STATX_SIZE | unix.STATX_ATIME | unix.STATX_MTIME

// StatOfFD returns the host's attributes of the file fd as the gofer
// reports them, less what only the gofer adds (sandbox set-id bits, the
// link count of a silly-renamed file): a sentry describes a file whose
// fd was donated to it by them (donate.go).
func StatOfFD(fd int) (*goferpb.Stat, error) { return statFD(fd) }

// statFD returns the stat of the file fd (which may be an O_PATH fd of a
// symlink; the symlink itself is described).
func statFD(fd int) (*goferpb.Stat, error) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, statxMask, &stx)
	if err == unix.ENOSYS {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, wrap(err, "fstatat")
		}
		return statFromStat(&st), nil
	}
	if err != nil {
		return nil, wrap(err, "statx")
	}
	return statFromStatx(&stx), nil
}

func tsNanos(sec int64, nsec int64) int64 {
	return sec*1e9 + nsec
}

func statFromStatx(s *unix.Statx_t) *goferpb.Stat {
	st := &goferpb.Stat{}
	setStatFromStatx(st, s)
	return st
}

// setStatFromStatx sets the fields of st, a new Stat, from s, as
// statFromStatx makes one (for a listing's attributes, made together:
// statEntriesAt).
func setStatFromStatx(st *goferpb.Stat, s *unix.Statx_t) {
	st.Mode, st.Nlink, st.Uid, st.Gid = uint32(s.Mode), s.Nlink, s.Uid, s.Gid
	st.Size, st.Blocks, st.Blksize, st.Ino = s.Size, s.Blocks, s.Blksize, s.Ino
	st.Dev, st.Rdev = unix.Mkdev(s.Dev_major, s.Dev_minor), unix.Mkdev(s.Rdev_major, s.Rdev_minor)
	st.AtimeNs = tsNanos(s.Atime.Sec, int64(s.Atime.Nsec))
	st.MtimeNs = tsNanos(s.Mtime.Sec, int64(s.Mtime.Nsec))
	st.CtimeNs = tsNanos(s.Ctime.Sec, int64(s.Ctime.Nsec))
	if s.Mask&unix.STATX_BTIME != 0 {
		st.BtimeNs = tsNanos(s.Btime.Sec, int64(s.Btime.Nsec))
	}
}

func statFromStat(s *unix.Stat_t) *goferpb.Stat {
	return &goferpb.Stat{
		Mode:    s.Mode,
		Nlink:   uint32(s.Nlink),
		Uid:     s.Uid,
		Gid:     s.Gid,
		Size:    uint64(s.Size),
		Blocks:  uint64(s.Blocks),
		Blksize: uint32(s.Blksize),
		Ino:     s.Ino,
		Dev:     s.Dev,
		Rdev:    s.Rdev,
		AtimeNs: tsNanos(s.Atim.Sec, s.Atim.Nsec),
		MtimeNs: tsNanos(s.Mtim.Sec, s.Mtim.Nsec),
		CtimeNs: tsNanos(s.Ctim.Sec, s.Ctim.Nsec),
	}
}

// Stat implements goferpb.GoferServer.Stat.
func (s *Server) Stat(_ context.Context, req *goferpb.StatRequest) (*goferpb.StatReply, error) {
	st, err := s.stat(req.GetHandle())
	s.log.Debug("stat", "handle", req.GetHandle(), "err", err)
	if err != nil {
		return &goferpb.StatReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.StatReply{Stat: st}, nil
}

func (s *Server) stat(id uint64) (*goferpb.Stat, error) {
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	return s.statFile(h.fd)
}

// SetStat implements goferpb.GoferServer.SetStat. Fields are applied in the
// order size, owner, mode, times, so that a truncate does not clobber the
// times and a chown (which clears set-id bits) does not clobber the mode.
// Mask bits other than setStatMask give EINVAL. If one step fails, the
// earlier ones stay applied (as with separate system calls). A chown or
// chmod that would change nothing but the ctime, which the same call's
// times move anyway, is left out (skippableAttrs).
func (s *Server) SetStat(_ context.Context, req *goferpb.SetStatRequest) (*goferpb.SetStatReply, error) {
	return once(s, req.GetOrigin(), "setstat", func() (*goferpb.SetStatReply, []byte) {
		st, differs, err := s.setStat(req)
		s.log.Debug("setstat", "handle", req.GetHandle(), "mask", req.GetMask(), "differs", differs, "err", err)
		if err != nil {
			return &goferpb.SetStatReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.SetStatReply{Stat: st, Differs: differs}, nil
	}, func(r *goferpb.SetStatReply, _ []byte) *goferpb.SetStatReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		return r
	}), nil
}

// freshStat gives a duplicate mutation's reply the file's attributes as
// they are now, not as the first execution left them: the sentry caches
// the attributes a reply carries, and later calls may have changed the
// file (a size gone stale cut dirty mapped pages written back after a
// sentry restart). It also gives a creation's reply its directory's
// (CreateReply.dir_stat). Nil, so nothing is cached, when the handle is
// gone.
func (s *Server) freshStat(id uint64) *goferpb.Stat {
	st, err := s.stat(id)
	if err != nil {
		return nil
	}
	return st
}

// setStat runs req and returns the file's attributes after it, or, if
// req.check_version asks for a truncation of a file of another version,
// the file's attributes and true without doing anything.
func (s *Server) setStat(req *goferpb.SetStatRequest) (*goferpb.Stat, bool, error) {
	if req.GetCheckVersion() && req.GetMask()&unix.STATX_SIZE != 0 {
		h, err := s.lookup(req.GetHandle())
		if err != nil {
			return nil, false, err
		}
		st, differs, err := versionDiffers(h.fd, req)
		h.decRef()
		if err != nil || differs {
			return st, differs, err
		}
	}
	st, err := s.setStatUnchecked(req)
	return st, false, err
}

func (s *Server) setStatUnchecked(req *goferpb.SetStatRequest) (*goferpb.Stat, error) {
	h, err := s.lookup(req.GetHandle())
	if err != nil {
		return nil, err
	}
	defer h.decRef()

	// noSetID: the chmod below removed the file's set-id attribute at
	// the set-id cache's generation noneGen.
	var (
		noSetID bool
		noneGen uint64
	)
	mask := req.GetMask()
	if mask&^uint32(setStatMask) != 0 {
		return nil, errorf(unix.EINVAL, "setstat: unsupported mask bits %#x", mask&^uint32(setStatMask))
	}
	if mask&unix.STATX_SIZE != 0 {
		if err := h.truncate(req.GetSize()); err != nil {
			return nil, err
		}
	}
	skipChown, skipChmod := s.skippableAttrs(h, req)
	if skipChown {
		s.noopAttrSkips.Add(1)
	} else if mask&(unix.STATX_UID|unix.STATX_GID) != 0 {
		// The attribute's seal names the owner and group: read it before
		// they change and seal it again after (which bits a chown
		// clears is the sentry's to say, with a mode in the same call).
		var keep uint32
		if mask&unix.STATX_MODE == 0 {
			if old, err := statFD(h.fd); err == nil {
				keep = s.readSetID(h.fd, old)
			}
		}
		uid, gid := -1, -1
		if mask&unix.STATX_UID != 0 {
			uid = int(req.GetUid())
		}
		if mask&unix.STATX_GID != 0 {
			gid = int(req.GetGid())
		}
		if err := fchown(h.fd, uid, gid); err != nil {
			return nil, err
		}
		if keep != 0 {
			if err := s.storeSetIDOf(h.fd, keep); err != nil {
				return nil, err
			}
		}
	}
	if mask&unix.STATX_MODE != 0 {
		mode := req.GetMode() & 0o7777
		hostMode := s.stripSetID(mode, h.ftype)
		if skipChmod {
			s.noopAttrSkips.Add(1)
		} else if err := h.chmod(hostMode); err != nil {
			return nil, err
		}
		switch bits := mode & setIDBits &^ hostMode; {
		case h.ftype == unix.S_IFLNK:
		case bits == 0:
			// The common chmod (tar's of every file it makes): no
			// stat to remove the attribute, and none read back below.
			if noneGen, noSetID, err = s.clearSetID(h); err != nil {
				return nil, err
			}
		default:
			if err := s.storeSetIDOf(h.fd, bits); err != nil {
				return nil, err
			}
		}
	}
	if mask&(unix.STATX_ATIME|unix.STATX_MTIME) != 0 {
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if mask&unix.STATX_ATIME != 0 {
			ts[0] = timespec(req.GetAtimeNs(), req.GetAtimeNow())
		}
		if mask&unix.STATX_MTIME != 0 {
			ts[1] = timespec(req.GetMtimeNs(), req.GetMtimeNow())
		}
		if err := h.utimens(ts); err != nil {
			return nil, err
		}
	}
	if noSetID {
		return s.statFileNoSetID(h.fd, noneGen)
	}
	return s.statFile(h.fd)
}

// skippableAttrs says which of req's chown and chmod of h's file would
// change nothing but the ctime, which req's times move anyway: tar's
// chown to the owner it created the file as and chmod to the mode it
// created it with, sent with the mtime it restores (the merged SetStat of
// every file it extracts). One statx replaces the fchownat and the
// fchmodat through /proc. Only with times in req (else the ctime
// would not move), never for a symlink (whose chmod must fail). A chown
// is left out only of a file the gofer created that holds no set-id
// attribute since (handle.noSetIDSince): on another file even a no-op
// chown clears file capabilities the host set, which the sandbox cannot
// set (it has no setxattr), and only when it clears no host set-id bits
// the mode of req does not set anyway (--allow-setuid). A chmod is left
// out only when a chown before it cannot clear set-id bits (the file has
// none, or the chown is left out too).
func (s *Server) skippableAttrs(h *handle, req *goferpb.SetStatRequest) (chown, chmod bool) {
	mask := req.GetMask()
	if mask&(unix.STATX_ATIME|unix.STATX_MTIME) == 0 || mask&(unix.STATX_UID|unix.STATX_GID|unix.STATX_MODE) == 0 || h.ftype == unix.S_IFLNK {
		return false, false
	}
	// A Statx_t on the stack, not statFD's Stat: this runs for every
	// file tar extracts.
	var stx unix.Statx_t
	if err := unix.Statx(h.fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID, &stx); err != nil ||
		stx.Mask&(unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID) != unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID {
		// The steps report an error themselves, as before.
		return false, false
	}
	mode := uint32(stx.Mode)
	if mask&(unix.STATX_UID|unix.STATX_GID) != 0 && h.noSetIDSince != 0 &&
		(mask&unix.STATX_UID == 0 || stx.Uid == req.GetUid()) &&
		(mask&unix.STATX_GID == 0 || stx.Gid == req.GetGid()) &&
		(mask&unix.STATX_MODE != 0 || mode&setIDBits == 0) {
		chown = true
	}
	if mask&unix.STATX_MODE != 0 && mode&0o7777 == s.stripSetID(req.GetMode()&0o7777, h.ftype)&0o7777 &&
		(chown || mask&(unix.STATX_UID|unix.STATX_GID) == 0 || mode&setIDBits == 0) {
		chmod = true
	}
	return chown, chmod
}

func timespec(ns int64, now bool) unix.Timespec {
	if now {
		return unix.Timespec{Nsec: unix.UTIME_NOW}
	}
	return unix.NsecToTimespec(ns)
}

// fchown changes the owner of the file fd (an O_PATH fd; a symlink is
// changed itself). -1 leaves an id unchanged.
func fchown(fd, uid, gid int) error {
	return wrap(unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW), "fchownat")
}

// chmod sets h's permission bits. Linux cannot chmod a symlink.
func (h *handle) chmod(mode uint32) error {
	if h.ftype == unix.S_IFLNK {
		return errorf(unix.EOPNOTSUPP, "chmod symlink")
	}
	dir, name := procFD(h.fd)
	return wrap(unix.Fchmodat(dir, name, mode&0o7777, 0), "chmod")
}

// truncate sets h's size.
func (h *handle) truncate(size uint64) error {
	switch {
	case h.ftype == unix.S_IFDIR:
		return errorf(unix.EISDIR, "truncate")
	case h.ftype != unix.S_IFREG:
		return errorf(unix.EINVAL, "truncate of file type %#o", h.ftype)
	case size > math.MaxInt64:
		return errorf(unix.EINVAL, "truncate to %d", size)
	}
	return wrap(unix.Truncate(h.procPath(), int64(size)), "truncate")
}

// utimens sets h's times. The file itself is changed, even a symlink.
func (h *handle) utimens(ts [2]unix.Timespec) error {
	err := unix.UtimesNanoAt(h.fd, "", ts[:], unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.EINVAL && h.ftype != unix.S_IFLNK {
		// Kernels before AT_EMPTY_PATH support in utimensat: go through
		// the handle's /proc/self/fd magic link instead.
		dir, name := procFD(h.fd)
		err = unix.UtimesNanoAt(dir, name, ts[:], 0)
	}
	return wrap(err, "utimensat")
}

// StatFS implements goferpb.GoferServer.StatFS.
func (s *Server) StatFS(_ context.Context, req *goferpb.StatFSRequest) (*goferpb.StatFSReply, error) {
	reply, err := s.statFS(req.GetHandle())
	s.log.Debug("statfs", "handle", req.GetHandle(), "err", err)
	if err != nil {
		return &goferpb.StatFSReply{Errno: errnoOf(err)}, nil
	}
	return reply, nil
}

func (s *Server) statFS(id uint64) (*goferpb.StatFSReply, error) {
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	var st unix.Statfs_t
	if err := unix.Fstatfs(h.fd, &st); err != nil {
		return nil, wrap(err, "fstatfs")
	}
	return &goferpb.StatFSReply{
		Type:            uint64(st.Type),
		BlockSize:       uint64(st.Bsize),
		Blocks:          st.Blocks,
		BlocksFree:      st.Bfree,
		BlocksAvailable: st.Bavail,
		Files:           st.Files,
		FilesFree:       st.Ffree,
		NameLength:      uint64(st.Namelen),
	}, nil
}

// Readlink implements goferpb.GoferServer.Readlink.
func (s *Server) Readlink(_ context.Context, req *goferpb.ReadlinkRequest) (*goferpb.ReadlinkReply, error) {
	target, err := s.readlink(req.GetHandle())
	s.log.Debug("readlink", "handle", req.GetHandle(), "err", err)
	if err != nil {
		return &goferpb.ReadlinkReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.ReadlinkReply{Target: []byte(target)}, nil
}

func (s *Server) readlink(id uint64) (string, error) {
	h, err := s.lookup(id)
	if err != nil {
		return "", err
	}
	defer h.decRef()
	if h.ftype != unix.S_IFLNK {
		return "", errorf(unix.EINVAL, "readlink of non-symlink handle %d", id)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(h.fd, "", buf)
	if err != nil {
		return "", wrap(err, "readlinkat")
	}
	return string(buf[:n]), nil
}

// stripSetID removes the set-user-id and set-group-id bits from perm for a
// file of type ftype, unless the gofer was started to allow them: a hostile
// application must not leave a setuid-root binary on the host for a local
// user to run (the sandbox still sees them: setid.go). Only a regular
// file can be run: a directory (where set-group-ID makes new entries
// inherit its group and set-user-ID means nothing), a FIFO or a socket
// keeps its bits on the host.
func (s *Server) stripSetID(perm, ftype uint32) uint32 {
	if s.allowSetuid || ftype != unix.S_IFREG {
		return perm
	}
	return perm &^ (unix.S_ISUID | unix.S_ISGID)
}
