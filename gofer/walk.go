package gofer

import (
	"context"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// resolveFlags confine openat2 lookups. Names are single components already;
// these are defence in depth (a symlink or magic link as the final component
// is opened as itself thanks to O_PATH|O_NOFOLLOW, never followed).
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openat2Missing is set once openat2 fails with ENOSYS; lookups then use
// openat with O_NOFOLLOW.
var openat2Missing atomic.Bool

// maxNameLen is NAME_MAX.
const maxNameLen = 255

// checkName validates a single path component.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return errorf(unix.EINVAL, "invalid name %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return errorf(unix.EINVAL, "name %q is not a single component", name)
	case len(name) > maxNameLen:
		return errorf(unix.ENAMETOOLONG, "name of %d bytes", len(name))
	}
	return nil
}

// openat opens name (a checked single component) relative to dirfd without
// following symlinks at any point.
func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	for {
		var fd int
		var err error
		if !openat2Missing.Load() {
			how := unix.OpenHow{Flags: uint64(flags), Resolve: resolveFlags}
			if flags&unix.O_CREAT != 0 {
				how.Mode = uint64(mode)
			}
			fd, err = unix.Openat2(dirfd, name, &how)
			if err == unix.ENOSYS {
				openat2Missing.Store(true)
				continue
			}
		} else {
			fd, err = unix.Openat(dirfd, name, flags, mode)
		}
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openPath returns an O_PATH fd of name in dirfd, which is the symlink itself
// when name is a symlink.
func openPath(dirfd int, name string) (int, error) {
	return openat(dirfd, name, unix.O_PATH, 0)
}

// Walk implements goferpb.GoferServer.Walk.
func (s *Server) Walk(_ context.Context, req *goferpb.WalkRequest) (*goferpb.WalkReply, error) {
	if req.GetClone() && len(req.GetNames()) == 0 {
		f, err := s.clone(req.GetDir(), nil)
		s.log.Debug("walk clone", "handle", req.GetDir(), "err", err)
		if err != nil {
			return &goferpb.WalkReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.WalkReply{Files: []*goferpb.WalkedFile{f}}, nil
	}
	if req.GetOpen() && req.GetOpenFlags()&unix.O_TRUNC != 0 && req.GetOrigin() != nil {
		// The truncation once: a duplicate opens without it.
		return once(s, req.GetOrigin(), "walk-open", func() (*goferpb.WalkReply, []byte) {
			return s.walkReply(req, req.GetOpenFlags()), nil
		}, func(*goferpb.WalkReply, []byte) *goferpb.WalkReply {
			return s.walkReply(req, req.GetOpenFlags()&^unix.O_TRUNC)
		}), nil
	}
	return s.walkReply(req, req.GetOpenFlags()), nil
}

// walkReply walks req's names and, if req asks for it, opens the last
// file with openFlags.
func (s *Server) walkReply(req *goferpb.WalkRequest, openFlags uint32) *goferpb.WalkReply {
	files, err := s.walk(req.GetDir(), req.GetNames())
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("walk", "dir", req.GetDir(), "names", req.GetNames(), "walked", len(files), "err", err)
	}
	rep := &goferpb.WalkReply{Errno: errnoOf(err), Files: files}
	if req.GetOpen() {
		var openErr error
		rep.OpenStat, rep.OpenDiffers, openErr = s.walkOpen(req, openFlags, files, err)
		rep.OpenErrno = errnoOf(openErr)
		if rep.OpenErrno == 0 && req.GetPathHandle() {
			// Optional: without it the sentry walks to the name.
			last := files[len(files)-1]
			if f, err := s.clone(last.GetHandle().GetId(), last.GetStat()); err == nil {
				rep.Path = f.Handle
			}
		}
	}
	return rep
}

// walkOpen opens the last of the files a Walk returned, as Open does, for
// a Walk that asked for it (WalkRequest.open): an open by name costs the
// sentry one round trip instead of a Walk and an Open.
// With check_version, a truncation runs only on the file's version given:
// on another the file is opened without it, and walkOpen returns true;
// when it runs, walkOpen returns the file's attributes after it.
func (s *Server) walkOpen(req *goferpb.WalkRequest, flags uint32, files []*goferpb.WalkedFile, walkErr error) (*goferpb.Stat, bool, error) {
	if walkErr != nil || len(files) == 0 || len(files) != len(req.GetNames()) {
		return nil, false, errorf(unix.ENOENT, "walk-open: the walk did not reach the file")
	}
	last := files[len(files)-1]
	if ino := req.GetExpectIno(); ino != 0 && last.GetStat().GetIno() != ino {
		// The name now refers to another file than the sentry's dentry:
		// do not open (or truncate) it.
		return nil, false, errorf(unix.ESTALE, "walk-open: inode %d, want %d", last.GetStat().GetIno(), ino)
	}
	names := req.GetNames()
	st, differs, err := s.openChecked(last.GetHandle().GetId(), flags, &openedBy{st: last.GetStat(), name: string(names[len(names)-1])}, req)
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("walk-open", "handle", last.GetHandle().GetId(), "flags", flags, "differs", differs, "err", err)
	}
	if differs {
		st = nil // files' last stat
	}
	return st, differs, err
}

// clone returns a new handle for the file of handle id (sharing its O_PATH
// fd, so it names the same inode whatever became of its name). st is the
// file's stat if the caller has just taken it, else nil.
func (s *Server) clone(id uint64, st *goferpb.Stat) (*goferpb.WalkedFile, error) {
	old, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer old.decRef()
	if st == nil {
		if st, err = statFD(old.fd); err != nil {
			return nil, wrap(err, "clone")
		}
		s.addSetID(old.fd, st)
	}
	// The same inode: its type, identity and file handle are the old
	// handle's.
	h := &handle{fd: old.shareFD(), ftype: old.ftype, dev: old.dev, ino: old.ino, fileHandle: old.fileHandle, noSetIDSince: old.noSetIDSince, rfd: -1, wfd: -1}
	h.sharedFD.Store(old.sharedFD.Load())
	h.refs.Store(1)
	nid, err := s.insert(h)
	if err != nil {
		h.decRef()
		return nil, wrap(err, "clone")
	}
	return &goferpb.WalkedFile{Handle: &goferpb.Handle{Id: nid, FileHandle: h.fileHandle}, Stat: st}, nil
}

// walk walks names from the directory handle dirID. It returns the files it
// walked, stopping after a symlink, and the error that stopped it early.
func (s *Server) walk(dirID uint64, names [][]byte) ([]*goferpb.WalkedFile, error) {
	dir, err := s.lookup(dirID)
	if err != nil {
		return nil, err
	}
	// cur is the handle the next name is looked up in; we hold a reference.
	cur := dir
	defer func() { cur.decRef() }()

	var files []*goferpb.WalkedFile
	for _, nb := range names {
		name := string(nb)
		if len(files) > 0 && cur.ftype == unix.S_IFLNK {
			// The previous file was a symlink: stop, the sentry resolves it.
			break
		}
		if cur.ftype != unix.S_IFDIR {
			return files, errorf(unix.ENOTDIR, "walk %q: parent is not a directory", name)
		}
		if err := checkName(name); err != nil {
			return files, wrap(err, "walk")
		}
		if s.hidden(cur, name) {
			return files, errorf(unix.ENOENT, "walk %q: hidden", name)
		}
		fd, err := openPath(cur.fd, name)
		if err != nil {
			return files, wrap(err, "walk %q", name)
		}
		h, st, err := s.newHandle(fd)
		if err != nil {
			return files, wrap(err, "walk %q", name)
		}
		h.incRef() // our reference, so that a guessed Release cannot close h.fd under us.
		id, err := s.insert(h)
		if err != nil {
			h.decRef()
			h.decRef()
			return files, wrap(err, "walk %q", name)
		}
		files = append(files, &goferpb.WalkedFile{
			Handle: &goferpb.Handle{Id: id, FileHandle: h.fileHandle},
			Stat:   st,
		})
		cur.decRef()
		cur = h
	}
	return files, nil
}
