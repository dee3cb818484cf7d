package gofer

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxSubsPerCall bounds GetdentsRequest.names: the sentry asks for at
// most 16 listings ahead at a time (its dirahead.go).
const maxSubsPerCall = 64

// getdentsOfSubs serves a Getdents that names several subdirectories
// (GetdentsRequest.names): each one's listing as getdentsOfSub makes it,
// in order, in the reply's subs, each with its own errno. A dir handle
// this gofer does not know fails the call as a whole (EBADF, so that the
// sentry heals its handles and sends it again), as do malformed names
// and inos (EINVAL).
func (s *Server) getdentsOfSubs(req *goferpb.GetdentsRequest) *goferpb.GetdentsReply {
	names, inos := req.GetNames(), req.GetInos()
	if len(req.GetName()) != 0 || len(names) > maxSubsPerCall || (len(inos) != 0 && len(inos) != len(names)) {
		return &goferpb.GetdentsReply{Errno: int32(unix.EINVAL)}
	}
	dir, err := s.lookupDir(req.GetDir())
	if err != nil {
		return &goferpb.GetdentsReply{Errno: errnoOf(err)}
	}
	dir.decRef()
	out := &goferpb.GetdentsReply{Subs: make([]*goferpb.GetdentsReply, len(names))}
	// Each listing's request in turn: getdentsOfSub keeps nothing of it.
	one := &goferpb.GetdentsRequest{Dir: req.GetDir(), Offset: req.GetOffset(), Count: req.GetCount(), Plus: req.GetPlus(), PlusIfEof: req.GetPlusIfEof(), WantHandle: req.GetWantHandle()}
	for i, name := range names {
		one.Name, one.Ino = name, 0
		if len(inos) != 0 {
			one.Ino = inos[i]
		}
		r, err := s.getdentsOfSub(one)
		if err != nil {
			r = &goferpb.GetdentsReply{Errno: errnoOf(err)}
		}
		out.Subs[i] = r
	}
	return out
}

// getdentsOfSub serves a Getdents that names a subdirectory
// (GetdentsRequest.name): the listing of directory handle req.dir's entry
// name from its start, up to count entries (eof says they are all), with
// their attributes if asked, read through a descriptor opened for this
// call alone (openat: a symbolic link is not followed out of the
// served tree) and closed with it. The sentry lists subdirectories ahead
// of an application's walk (its listings ahead) this way, without a Walk
// to each; with want_handle the reply also brings a handle of the
// subdirectory (subHandle) for the open the application makes next.
func (s *Server) getdentsOfSub(req *goferpb.GetdentsRequest) (*goferpb.GetdentsReply, error) {
	if req.GetOffset() != 0 || req.GetCount() == 0 {
		return nil, errorf(unix.EINVAL, "getdents of %q: offset %d, count %d", req.GetName(), req.GetOffset(), req.GetCount())
	}
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, wrap(err, "getdents of %q", req.GetName())
	}
	defer dir.decRef()
	fd, err := openat(dir.fd, string(req.GetName()), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, wrap(err, "getdents of %q: open", req.GetName())
	}
	defer unix.Close(fd)
	// The directory's inode (the one asked for, the handle's) and
	// whether it is a mount point, from one statx.
	ino, noMount, err := dirIdentity(fd)
	if err != nil {
		return nil, wrap(err, "getdents of %q: stat", req.GetName())
	}
	if want := req.GetIno(); want != 0 && ino != want {
		return nil, errorf(unix.ESTALE, "getdents of %q: inode %d, not %d", req.GetName(), ino, want)
	}
	// readDir's and hideSillyDir's view of the directory: this call's
	// descriptor, no handle id, at its start.
	sub := &handle{fd: fd, rfd: fd, wfd: -1, ftype: unix.S_IFDIR}
	sub.mu.Lock()
	ents, err := s.readDirAt(sub, fd, 0, true)
	sub.mu.Unlock()
	if err != nil {
		return nil, err
	}
	count := int(min(req.GetCount(), maxDirentsPerReply))
	r := &goferpb.GetdentsReply{Entries: ents[:min(len(ents), count)], Eof: len(ents) <= count}
	if wantStats(req, r.Eof) && len(r.Entries) > 0 {
		r.Stats = s.statEntriesAt(fd, r.Entries)
	}
	if req.GetWantHandle() {
		r.Sub = s.subHandle(dir, string(req.GetName()), ino)
	}
	r.SubNoMount = noMount
	return r, nil
}

// dirIdentity returns the inode number of the directory fd holds open
// and whether it is no mount point, as statx tells (false if the kernel
// does not say: before Linux 5.8).
func dirIdentity(fd int) (ino uint64, noMount bool, err error) {
	var stx unix.Statx_t
	err = unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO, &stx)
	for err == unix.EINTR {
		err = unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO, &stx)
	}
	if err == unix.ENOSYS {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return 0, false, err
		}
		return st.Ino, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return stx.Ino, stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0, nil
}

// subHandle returns a new handle of the subdirectory name of dir, as a
// Walk to it would return it, if name still names the directory of
// inode ino (the one listed, through a descriptor of it); else nil.
func (s *Server) subHandle(dir *handle, name string, ino uint64) *goferpb.WalkedFile {
	pfd, err := openPath(dir.fd, name)
	if err != nil {
		return nil
	}
	h, st, err := s.newHandle(pfd)
	if err != nil {
		return nil
	}
	if h.ino != ino || h.ftype != unix.S_IFDIR {
		h.decRef()
		return nil
	}
	id, err := s.insert(h)
	if err != nil {
		h.decRef()
		return nil
	}
	return &goferpb.WalkedFile{Handle: &goferpb.Handle{Id: id, FileHandle: h.fileHandle}, Stat: st}
}
