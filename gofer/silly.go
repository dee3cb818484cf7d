package gofer

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// SillyPrefix starts the name an unlinked-but-open file is renamed to.
//
// Unlinking the last name of a file an application has open would leave
// the file reachable only through this gofer process's fds: a gofer
// restart would lose it, and the writes the application made to it since.
// Like an NFS client's silly rename, when the sentry says the file is open
// (UnlinkRequest.open: only the sentry knows whether its open file
// descriptions are the application's or its own, kept until a write is
// durable), the gofer renames it to ".rd-unlinked-<inode>-<random>" in
// the same directory and removes that name once no handle a sentry opened
// on the file is left. The name is visible in listings (as .nfsXXXX files
// are), and the directory holding it cannot be removed until then.
const SillyPrefix = ".rd-unlinked-"

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
func (s *Server) markOpen(h *handle) {
	if h.ftype != unix.S_IFREG || h.sentryOpen.Swap(true) {
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return
	}
	id := statID(&st)
	s.mu.Lock()
	h.fid = id
	s.opens[id]++
	_, known := s.silly[id]
	s.mu.Unlock()
	if !known && st.Nlink == 1 {
		s.adoptSilly(h, id)
	}
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
	dir, _, err := newHandle(dfd)
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
// has open, instead of unlinking it.
func (s *Server) sillyRename(dir *handle, name string, id fileID) error {
	var r [4]byte
	for range 8 {
		if _, err := rand.Read(r[:]); err != nil {
			return wrap(err, "unlink %q: silly name", name)
		}
		silly := fmt.Sprintf("%s%x-%08x", SillyPrefix, id.ino, binary.LittleEndian.Uint32(r[:]))
		err := unix.Renameat2(dir.fd, name, dir.fd, silly, unix.RENAME_NOREPLACE)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return wrap(err, "unlink %q: rename to %q", name, silly)
		}
		dir.incRef()
		s.registerSilly(id, dir, silly)
		s.log.Debug("unlinked an open file: silly rename", "name", name, "silly", silly)
		return nil
	}
	return errorf(unix.EEXIST, "unlink %q: no free silly name", name)
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
