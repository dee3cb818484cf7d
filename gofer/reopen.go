package gofer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxHandleBytes is MAX_HANDLE_SZ, the largest f_handle the kernel makes.
const maxHandleBytes = 128

// maxDepth bounds the walk up from a reopened directory to the root.
const maxDepth = 4096

// Reopen implements goferpb.GoferServer.Reopen: it returns a new handle of
// the file a Handle.file_handle names, even if the file was renamed, or
// unlinked while a handle of it was still held.
//
// A file this gofer process still holds a handle of is found in the handle
// table and its O_PATH fd is duplicated: this needs no privilege and keeps
// working for an unlinked file, which is how a restarted sentry reopens
// its clients' unlinked-but-open files. Otherwise the handle is decoded
// with open_by_handle_at(2) on the root's filesystem (which needs
// CAP_DAC_READ_SEARCH; without it the reply is EPERM and the sentry falls
// back to the path), and the result is accepted only if it lies beneath
// the root, since a file_handle comes from the network and a forged one
// could name any file of the filesystem:
//
//   - a directory is walked up with ".." until the root is met; reaching
//     the filesystem's root, another device or maxDepth first refuses it;
//   - any other file must have a name beneath the root that is the same
//     inode: the kernel's path of it is walked down from the root one
//     component at a time (findBeneath). A file with no name left (an
//     unlinked file no handle of this process holds) or whose dentry the
//     kernel cannot connect to a path is refused.
//
// Over gRPC a file_handle must also carry this gofer's MAC (handlekey.go),
// checked before any of this (admit). A refused or unknown handle gives
// ESTALE; a malformed one EINVAL.
//
// An unlinked file is reachable only while some handle of this gofer
// process keeps it open, or under its silly name (silly.go): else, after a
// gofer restart, it is gone (ESTALE).
func (s *Server) Reopen(_ context.Context, req *goferpb.ReopenRequest) (*goferpb.ReopenReply, error) {
	h, st, err := s.reopenFileHandle(req.GetFileHandle())
	s.log.Debug("reopen", "file_handle_len", len(req.GetFileHandle()), "err", err)
	if err != nil {
		return &goferpb.ReopenReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.ReopenReply{Handle: h, Stat: st}, nil
}

func (s *Server) reopenFileHandle(fh []byte) (*goferpb.Handle, *goferpb.Stat, error) {
	if len(fh) <= 4 || len(fh) > 4+maxHandleBytes {
		return nil, nil, errorf(unix.EINVAL, "reopen: file handle of %d bytes", len(fh))
	}
	if fd, orphan, ok := s.dupKnown(fh); ok {
		gh, st, err := s.install(fd)
		if err == nil && orphan != nil {
			s.adoptOrphan(gh.GetId(), orphan)
		}
		return gh, st, err
	}
	fd, err := s.openByHandle(fh)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkBeneathRoot(fd); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return s.install(fd)
}

// dupKnown returns a duplicate of the O_PATH fd of a live handle whose file
// handle is fh, and that handle if it is an orphan (with a reference).
func (s *Server) dupKnown(fh []byte) (int, *handle, bool) {
	var found *handle
	orphan := false
	s.mu.Lock()
	for _, h := range s.handles {
		if h.fileHandle != nil && bytes.Equal(h.fileHandle, fh) {
			found = h
			if _, orphan = s.orphans[h.id]; orphan {
				break // prefer the orphan: the reopen adopts it
			}
		}
	}
	if found != nil {
		found.incRef()
	}
	s.mu.Unlock()
	if found == nil {
		return -1, nil, false
	}
	fd, err := unix.FcntlInt(uintptr(found.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil || !orphan {
		found.decRef()
		return fd, nil, err == nil
	}
	return fd, found, true
}

// adoptOrphan hands what the orphan o keeps alive (an unlinked or silly
// renamed file a sentry had open) to the new handle id of the same file,
// which a successor sentry reopened, and drops the orphan. It takes o's
// reference.
func (s *Server) adoptOrphan(id uint64, o *handle) {
	defer o.decRef()
	if h, err := s.lookup(id); err == nil {
		if o.sentryOpen.Load() {
			s.markOpen(h, nil)
		}
		h.decRef()
	}
	s.drop([]*handle{o})
}

// openByHandle decodes fh with open_by_handle_at on the root's filesystem.
func (s *Server) openByHandle(fh []byte) (int, error) {
	typ := int32(binary.LittleEndian.Uint32(fh[:4]))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return -1, errorf(unix.EBADF, "server closed")
	}
	// open_by_handle_at's mount fd may not be an O_PATH fd.
	mfd, err := unix.Open(procFDPath(s.rootFD), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	s.mu.Unlock()
	if err != nil {
		return -1, wrap(err, "reopen: open root")
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(typ, fh[4:]), unix.O_PATH|unix.O_CLOEXEC)
	switch err {
	case nil:
		return fd, nil
	case unix.EPERM:
		return -1, wrap(err, "reopen: open_by_handle_at needs CAP_DAC_READ_SEARCH")
	case unix.EINVAL, unix.ENOENT:
		// A handle the filesystem does not recognise.
		return -1, errorf(unix.ESTALE, "reopen: open_by_handle_at: %v", err)
	}
	return -1, wrap(err, "reopen: open_by_handle_at")
}

// checkBeneathRoot checks that the O_PATH fd fd is the root or lies beneath
// it (see Reopen).
func (s *Server) checkBeneathRoot(fd int) error {
	var st, rst unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return wrap(err, "reopen: fstat")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errorf(unix.EBADF, "server closed")
	}
	rootFD, err := unix.FcntlInt(uintptr(s.rootFD), unix.F_DUPFD_CLOEXEC, 0)
	s.mu.Unlock()
	if err != nil {
		return wrap(err, "reopen: dup root fd")
	}
	defer unix.Close(rootFD)
	if err := unix.Fstat(rootFD, &rst); err != nil {
		return wrap(err, "reopen: fstat root")
	}
	if st.Dev != rst.Dev {
		return errorf(unix.ESTALE, "reopen: file on another device")
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return walkUpToRoot(fd, &rst)
	}
	return findBeneath(rootFD, fd, &st)
}

// findBeneath checks that the non-directory file fd (whose stat is st) has a
// name beneath the directory rootFD, by identity: the kernel's idea of its
// path (/proc/self/fd) is only a hint of where to look; the hint is walked
// down from the root one component at a time, never following a symlink
// or leaving the root, and the entry found there must be the same inode on
// the same device. A name that merely looks right (a sibling of the root
// called "<root> (deleted)") or a file with no name left is refused.
func findBeneath(rootFD, fd int, st *unix.Stat_t) error {
	rootPath, err := os.Readlink(procFDPath(rootFD))
	if err != nil {
		return wrap(err, "reopen: root path")
	}
	p, err := os.Readlink(procFDPath(fd))
	if err != nil {
		return wrap(err, "reopen: file path")
	}
	rel, ok := strings.CutPrefix(p, strings.TrimSuffix(rootPath, "/")+"/")
	if !ok || rel == "" {
		return errorf(unix.ESTALE, "reopen: file has no path beneath the root")
	}
	parts := strings.Split(rel, "/")
	dir, err := unix.FcntlInt(uintptr(rootFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return wrap(err, "reopen: dup")
	}
	defer func() { unix.Close(dir) }()
	for _, name := range parts[:len(parts)-1] {
		if checkName(name) != nil {
			return errorf(unix.ESTALE, "reopen: file has no path beneath the root")
		}
		next, err := openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return errorf(unix.ESTALE, "reopen: file has no path beneath the root: %v", err)
		}
		unix.Close(dir)
		dir = next
	}
	last := parts[len(parts)-1]
	var found unix.Stat_t
	if checkName(last) != nil || unix.Fstatat(dir, last, &found, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		found.Dev != st.Dev || found.Ino != st.Ino {
		return errorf(unix.ESTALE, "reopen: file is not beneath the root")
	}
	return nil
}

// walkUpToRoot follows ".." from the directory fd until it meets root.
func walkUpToRoot(fd int, root *unix.Stat_t) error {
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return wrap(err, "reopen: dup")
	}
	defer func() { unix.Close(cur) }()
	for i := 0; i < maxDepth; i++ {
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			return wrap(err, "reopen: fstat")
		}
		if st.Dev == root.Dev && st.Ino == root.Ino {
			return nil
		}
		if st.Dev != root.Dev {
			return errorf(unix.ESTALE, "reopen: directory is not beneath the root")
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return wrap(err, "reopen: open ..")
		}
		var ust unix.Stat_t
		if err := unix.Fstat(up, &ust); err != nil {
			unix.Close(up)
			return wrap(err, "reopen: fstat ..")
		}
		unix.Close(cur)
		cur = up
		if ust.Dev == st.Dev && ust.Ino == st.Ino {
			// ".." of the filesystem's root is itself: root not met.
			return errorf(unix.ESTALE, "reopen: directory is not beneath the root")
		}
	}
	return errorf(unix.ESTALE, "reopen: directory deeper than %d levels", maxDepth)
}

// errCreationGone is reacquire's error when the file a cached creation
// made has no name beneath the root any more and no handle keeps it: a
// later call (an rmdir, unlink or rename the same sentry sent, whose reply
// may have been lost with it) removed it. It carries ESTALE.
var errCreationGone = fmt.Errorf("the file it made is gone (a later call removed it): %w", unix.ESTALE)

// reacquire returns a new handle of the file a cached creation made, for a
// re-sent creation: from a live handle, else by looking name up in dir
// again (accepted if its file handle is fh, or fh is empty), else by
// open_by_handle_at; errCreationGone if none finds it.
func (s *Server) reacquire(fh []byte, dirID uint64, name string) (*goferpb.Handle, *goferpb.Stat, *handle, error) {
	fd := -1
	if len(fh) > 4 {
		if d, o, ok := s.dupKnown(fh); ok {
			fd = d
			if o != nil {
				o.decRef() // a re-sent creation leaves the orphan be
			}
		}
	}
	if fd < 0 {
		if dir, err := s.lookupDirName(dirID, name); err == nil {
			if d, err := openPath(dir.fd, name); err == nil {
				if len(fh) <= 4 || bytes.Equal(fileHandleOf(d), fh) {
					fd = d
				} else {
					unix.Close(d)
				}
			}
			dir.decRef()
		}
	}
	if fd < 0 && len(fh) > 4 && len(fh) <= 4+maxHandleBytes {
		if d, err := s.openByHandle(fh); err == nil {
			if s.checkBeneathRoot(d) == nil {
				fd = d
			} else {
				unix.Close(d)
			}
		}
	}
	if fd < 0 {
		return nil, nil, nil, fmt.Errorf("re-sent creation of %q: %w", name, errCreationGone)
	}
	h, st, err := s.newHandle(fd)
	if err != nil {
		return nil, nil, nil, err
	}
	h.incRef() // the caller's reference
	id, err := s.insert(h)
	if err != nil {
		h.decRef()
		h.decRef()
		return nil, nil, nil, err
	}
	return &goferpb.Handle{Id: id, FileHandle: h.fileHandle}, st, h, nil
}

// once runs a mutation at most once per origin: a duplicate gets a copy of
// the first execution's reply. run returns the reply and, for a creation,
// the new file's file handle; rehit, if not nil, adapts a cached reply for
// the duplicate (a fresh handle).
func once[R proto.Message](s *Server, o *goferpb.Origin, op string, run func() (R, []byte), rehit func(R, []byte) R) R {
	e, owner := s.cache.begin(o)
	if owner {
		r, fh := run()
		s.cache.finish(e, r, fh)
		if x, ok := any(r).(interface{ GetErrno() int32 }); ok && x.GetErrno() == int32(unix.EBADF) {
			// An unknown handle: nothing was done. Not kept, so that the
			// mutation re-sent with a re-resolved handle (a sentry
			// healing its handles after a gofer restart) runs.
			s.cache.forget(e)
		}
		if x, ok := any(r).(interface{ GetSizeDiffers() bool }); ok && x.GetSizeDiffers() {
			// A conditional fallocate found another size: nothing was
			// done. Not kept, so that the call sent again with the size
			// read again runs.
			s.cache.forget(e)
		}
		if x, ok := any(r).(interface{ GetDiffers() bool }); ok && x.GetDiffers() {
			// So for a conditional truncation or exchange (conditional.go).
			s.cache.forget(e)
		}
		if x, ok := any(r).(*goferpb.WriteReply); ok && x.GetErrno() != 0 && x.GetWritten() == 0 {
			// A write that failed having written nothing (ENOSPC,
			// EDQUOT, EFBIG, EIO at its first byte) changed nothing:
			// not kept, so that the same write sent again runs (a
			// sentry's Rewrite of a retained write after the room
			// came back; before, the cached ENOSPC answered it for as
			// long as the entry lived, and the write stayed failed).
			s.cache.forget(e)
		}
		if openFailed(r) {
			// An O_TRUNC open that failed truncated nothing: sent again
			// (a walk-open that found another inode, for the new one),
			// it runs.
			s.cache.forget(e)
		}
		return r
	}
	s.cache.wait(e)
	r, ok := proto.Clone(e.reply).(R)
	if !ok {
		// Origins are qualified by method at the door (admit), so this
		// is a bug; it must not become a panic a peer can trigger.
		s.log.Error("reply cache hit of another type", "op", op, "cached", fmt.Sprintf("%T", e.reply))
		var zero R
		return setErrno(zero.ProtoReflect().Type().New(), unix.EINVAL).(R)
	}
	s.log.Debug("duplicate mutation answered from the reply cache", "op", op, "client", o.GetClientId(), "seq", o.GetSeq(), "part", o.GetPart())
	if rehit != nil {
		r = rehit(r, e.fileHandle)
	}
	return r
}
