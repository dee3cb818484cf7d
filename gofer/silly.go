package gofer

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// SillyPrefix starts the name an unlinked-but-open file is renamed to.
//
// Unlinking the last name of a file an application has open would leave
// the file reachable only through this gofer process's fds: a gofer
// restart would lose it, and the writes the application made to it since.
// Like an NFS client's silly rename, when the sentry says the file is open
// (UnlinkRequest.open: only the sentry knows whether its open file
// descriptions are the application's or its own, kept until a write is
// durable), the gofer renames it to ".rd-unlinked-<inode>-<random>" in the
// SillyDirName directory at the top of the file's mount (the root, or a
// mount point inside it: rename cannot cross mounts), and removes that
// name once no handle a sentry opened on the file is left. Unlike NFS's
// .nfsXXXX files the name is not in the file's directory, so the directory
// lists as Linux's would and can be removed at once. Where SillyDirName
// cannot be made (a read-only mount: then the unlink fails anyway) or the
// kernel reports no mount ids (before Linux 5.8: only the root's mount gets
// one, and a rename from another mount gives EXDEV), the file is renamed
// within its own directory instead, where the name stays visible.
const SillyPrefix = ".rd-unlinked-"

// SillyDirName is the directory at the top of a mount that holds its silly
// names. The sentry can neither see nor use it: the listing of a mount's top
// leaves it out, and any operation naming it there gives ENOENT (hidden).
// A restarted gofer still reaches its files by file handle (Reopen).
const SillyDirName = ".rd-unlinked"

// fileID names an inode.
type fileID struct{ dev, ino uint64 }

func statID(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: st.Ino} }

// sillyName is where an unlinked-but-open file was renamed to.
type sillyName struct {
	dir  *handle // holds a reference
	name string
}

// markOpen records that the sentry opened h (Open, Create): while such a
// handle of the inode is in the table, unlinking the inode's last name is a
// silly rename. A silly-renamed file that a restarted gofer reaches again
// is recognized by its name and adopted, so that its name goes away with
// its last handle here too.
//
// The call that just reached h may say what it knows (a nil known asks the
// host): the file's stat, and the name it was reached by. A file whose only
// name is one the call walked to or created, not a silly one, needs no
// readlink of its fd to rule a silly name out (two of a walk-open's
// system calls, the readlink through /proc the dearer one).
func (s *Server) markOpen(h *handle, known *openedBy) {
	if h.ftype != unix.S_IFREG || h.sentryOpen.Swap(true) {
		return
	}
	var id fileID
	var nlink uint64
	if st := known.stat(); st != nil {
		id, nlink = fileID{dev: st.GetDev(), ino: st.GetIno()}, uint64(st.GetNlink())
	} else {
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err != nil {
			return
		}
		id, nlink = statID(&st), uint64(st.Nlink)
	}
	s.mu.Lock()
	h.fid = id
	s.opens[id]++
	_, isSilly := s.silly[id]
	s.mu.Unlock()
	if !isSilly && nlink == 1 && !known.nameNotSilly() {
		s.adoptSilly(h, id)
	}
}

// openedBy is what the call that opened a handle knows of its file, for
// markOpen.
type openedBy struct {
	// st is the file's stat, taken by this call.
	st *goferpb.Stat
	// name is the name this call reached the file by (walked to or
	// created), "" if none.
	name string
}

func (o *openedBy) stat() *goferpb.Stat {
	if o == nil {
		return nil
	}
	return o.st
}

// nameNotSilly says the file was reached by a name that is not a silly
// one.
func (o *openedBy) nameNotSilly() bool {
	return o != nil && o.name != "" && !strings.HasPrefix(o.name, SillyPrefix)
}

// adoptSilly registers h's file as silly-renamed if its only name says so.
func (s *Server) adoptSilly(h *handle, id fileID) {
	p, err := os.Readlink(h.procPath())
	if err != nil || !strings.HasPrefix(filepath.Base(p), SillyPrefix) || !strings.HasPrefix(p, s.root) {
		return
	}
	dfd, err := unix.Open(filepath.Dir(p), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	dir, _, err := s.newHandle(dfd)
	if err != nil {
		return
	}
	s.registerSilly(id, dir, filepath.Base(p))
}

// registerSilly records that inode id is now named name in dir (whose
// reference it takes).
func (s *Server) registerSilly(id fileID, dir *handle, name string) {
	s.mu.Lock()
	old, had := s.silly[id]
	s.silly[id] = sillyName{dir: dir, name: name}
	s.mu.Unlock()
	if had {
		old.dir.decRef()
	}
}

// sillyRename renames dir/name, the last name of inode id, which a sentry
// has open, instead of unlinking it: into its mount's SillyDirName if it
// can, else within dir.
func (s *Server) sillyRename(dir *handle, name string, id fileID) error {
	target, err := s.sillyDirFor(dir)
	if err != nil {
		s.log.Debug("no silly directory: renaming in place", "name", name, "err", err)
		dir.incRef()
		target = dir
	}
	var r [4]byte
	for range 8 {
		if _, err := rand.Read(r[:]); err != nil {
			target.decRef()
			return wrap(err, "unlink %q: silly name", name)
		}
		silly := fmt.Sprintf("%s%x-%08x", SillyPrefix, id.ino, binary.LittleEndian.Uint32(r[:]))
		err := unix.Renameat2(dir.fd, name, target.fd, silly, unix.RENAME_NOREPLACE)
		if err == unix.EXDEV && target != dir {
			// No mount ids: dir is on another mount than the root.
			target.decRef()
			dir.incRef()
			target = dir
			err = unix.Renameat2(dir.fd, name, target.fd, silly, unix.RENAME_NOREPLACE)
		}
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			target.decRef()
			return wrap(err, "unlink %q: rename to %q", name, silly)
		}
		s.registerSilly(id, target, silly) // takes target's reference
		s.log.Debug("unlinked an open file: silly rename", "name", name, "silly", silly, "in_place", target == dir)
		return nil
	}
	target.decRef()
	return errorf(unix.EEXIST, "unlink %q: no free silly name", name)
}

// mountID returns the id of the mount fd is on, or ok false if the kernel
// does not say (before Linux 5.8).
func mountID(fd int) (id uint64, ok bool) {
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx) != nil ||
		stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, false
	}
	return stx.Mnt_id, true
}

// isMountTop reports whether the directory fd is the root or the top of a
// mount (its ".." is on another mount).
func (s *Server) isMountTop(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	if statID(&st) == s.rootID {
		return true
	}
	mnt, ok := mountID(fd)
	if !ok {
		return false
	}
	up, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(up)
	upMnt, ok := mountID(up)
	return ok && upMnt != mnt
}

// sillyDirFor returns, with a reference, the handle of the SillyDirName
// of the mount the directory dir is on, making the directory (mode 0700)
// on first use.
func (s *Server) sillyDirFor(dir *handle) (*handle, error) {
	mnt, ok := mountID(dir.fd)
	s.sillyDirMu.Lock()
	defer s.sillyDirMu.Unlock()
	if h := s.sillyDirs[mnt]; h != nil && ok {
		h.incRef()
		return h, nil
	}
	if s.sillyDirs == nil {
		return nil, errorf(unix.EBADF, "server closed")
	}
	top, err := s.mountTop(dir.fd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(top)
	if err := unix.Mkdirat(top, SillyDirName, 0o700); err != nil && err != unix.EEXIST {
		return nil, wrap(err, "mkdir %q", SillyDirName)
	}
	fd, err := openat(top, SillyDirName, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, wrap(err, "open %q", SillyDirName)
	}
	h, _, err := s.newHandle(fd)
	if err != nil {
		return nil, wrap(err, "open %q", SillyDirName)
	}
	if !ok {
		mnt, _ = mountID(h.fd) // the root's: no mount ids, so 0
	}
	if old := s.sillyDirs[mnt]; old != nil {
		old.decRef()
	}
	s.sillyDirs[mnt] = h // the Server's reference, dropped by Close
	h.incRef()
	return h, nil
}

// mountTop returns an O_PATH fd of the top of the mount the directory fd
// is on, walking up with ".." no further than the root; without mount ids,
// the root's.
func (s *Server) mountTop(fd int) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return -1, errorf(unix.EBADF, "server closed")
	}
	rootFD, err := unix.FcntlInt(uintptr(s.rootFD), unix.F_DUPFD_CLOEXEC, 0)
	s.mu.Unlock()
	if err != nil {
		return -1, wrap(err, "silly directory: dup root fd")
	}
	if _, ok := mountID(fd); !ok {
		return rootFD, nil
	}
	unix.Close(rootFD)
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, wrap(err, "silly directory: dup")
	}
	for range maxDepth {
		if s.isMountTop(cur) {
			return cur, nil
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			return -1, wrap(err, "silly directory: open ..")
		}
		cur = up
	}
	unix.Close(cur)
	return -1, errorf(unix.ELOOP, "silly directory: deeper than %d levels", maxDepth)
}

// hidden reports whether name in dir is a SillyDirName (at a mount's top).
func (s *Server) hidden(dir *handle, name string) bool {
	return name == SillyDirName && dir.ftype == unix.S_IFDIR && s.isMountTop(dir.fd)
}

// hideSillyDir leaves SillyDirName out of ents, the listing of dir, and
// renumbers the entries after it.
func (s *Server) hideSillyDir(dir *handle, ents []*goferpb.Dirent) []*goferpb.Dirent {
	for i, e := range ents {
		if !s.hidden(dir, string(e.GetName())) {
			continue
		}
		// The entry before it keeps its cookie: a listing continued
		// there reads the hidden name first, and hides it again.
		ents = append(ents[:i], ents[i+1:]...)
		break
	}
	return ents
}

// statFile returns the stat of the file fd; a silly-renamed file's silly
// name does not count as a link (the application unlinked it: Linux says
// st_nlink 0).
func (s *Server) statFile(fd int) (*goferpb.Stat, error) {
	return s.statFileSetID(fd, false, 0)
}

// statFileNoSetID is statFile of a file whose set-id attribute the gofer
// removed at the set-id cache's generation gen (clearSetID): the
// attribute is not read again unless the gofer changed one since.
func (s *Server) statFileNoSetID(fd int, gen uint64) (*goferpb.Stat, error) {
	return s.statFileSetID(fd, true, gen)
}

func (s *Server) statFileSetID(fd int, none bool, gen uint64) (*goferpb.Stat, error) {
	st, err := statFD(fd)
	if err == nil && !(none && s.setIDs.putNone(st, gen)) {
		s.addSetID(fd, st)
	}
	if err != nil || st.GetMode()&unix.S_IFMT != unix.S_IFREG || st.GetNlink() == 0 {
		return st, err
	}
	s.mu.Lock()
	_, silly := s.silly[fileID{dev: st.GetDev(), ino: st.GetIno()}]
	s.mu.Unlock()
	if silly {
		st.Nlink--
	}
	return st, nil
}

// openLeftLocked is called as handle h, which a sentry opened, leaves the
// table: when it was the inode's last, the silly name (if any) is
// returned for the caller to remove after unlocking. Precondition: s.mu.
func (s *Server) openLeftLocked(h *handle) *sillyName {
	if !h.sentryOpen.Load() || h.fid == (fileID{}) {
		return nil
	}
	s.opens[h.fid]--
	if s.opens[h.fid] > 0 {
		return nil
	}
	delete(s.opens, h.fid)
	sn, ok := s.silly[h.fid]
	if !ok {
		return nil
	}
	delete(s.silly, h.fid)
	return &sn
}

// removeSilly unlinks a silly name if it still names inode id.
func (s *Server) removeSilly(sn *sillyName, id fileID) {
	if sn == nil {
		return
	}
	defer sn.dir.decRef()
	var st unix.Stat_t
	if unix.Fstatat(sn.dir.fd, sn.name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || statID(&st) != id {
		return
	}
	if err := unix.Unlinkat(sn.dir.fd, sn.name, 0); err != nil {
		s.log.Warn("removing the name of an unlinked file failed", "name", sn.name, "err", err)
	}
}

// isLastName reports whether name in dir is the last name of a regular
// file, and the file's id.
func (s *Server) isLastName(dir *handle, name string) (fileID, bool) {
	var st unix.Stat_t
	if unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		return fileID{}, false
	}
	return statID(&st), true
}

// isSilly reports whether h, a handle a sentry opened, is of a file
// renamed by an unlink.
func (s *Server) isSilly(h *handle) bool {
	if !h.sentryOpen.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.silly[h.fid]
	return ok
}
