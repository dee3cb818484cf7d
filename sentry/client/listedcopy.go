package client

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Copies of listed directories' complete names (docs/ARCHITECTURE.md,
// "Missing names and posted creations"; server: sentry/server/dirahead.go).
//
// rm -r lists a directory, unlinks each of its names (posted:
// postunlink.go), then removes it with unlinkat(parent fd, name,
// AT_REMOVEDIR), which waited for the server: for the directory's
// posted unlinks, each a gofer round trip, and its own. A listing ahead
// of a directory that is no mount point comes with a lease on its
// complete names (readlease.PathComplete, as a mkdir's: revoked by any
// other client's change of the directory or its names, kept through
// this client's own). The client keeps a copy of its names as of the
// listing (listed: it need not have made the directory; it answers no
// creation), and applies its own calls to it as to a made directory's
// (namesBefore). A call spelled relative to a directory's fd applies to
// the copy of that directory's path when the copy was made from the
// listing that answered that description's getdents64 (namesCopy.desc),
// or the path was derived from a dirfd's and its proof holds
// (dirfdpaths.go).
//
// An rmdir (or unlinkat with AT_REMOVEDIR) of a name whose lstat answer
// is a listing's that said its entries removable, a directory, of which
// a live copy says it has no names left, is answered 0 and posted as an
// unlink is (postunlink.go). Linux's rmdir fails only on what the
// client then knows: ENOTEMPTY (the copy), EBUSY (a mount point: no
// lease was granted), EACCES, EPERM and EROFS (the listing's removable).

// pathCompleteKind is readlease.PathComplete's PathLease.kinds value.
const pathCompleteKind = 3

// maxCopies bounds pathCache.copies; beyond it, the dead are forgotten,
// then all.
const maxCopies = 4096

// keepListedCopyLocked keeps the copy of the names of directory path (as
// keepAhead names it, for calls of creds and start) that a listing ahead
// under lease l brought (its records dirents), if l leases its complete
// names. A live copy of the same directory is kept instead (its names
// are as good). Precondition: pc.mu.
func (pc *pathCache) keepListedCopyLocked(creds, start, path string, l *pb.PathLease, dirents []byte, expires time.Time) {
	if l.DirIno == 0 || len(l.Kinds) != len(l.Ids) || len(l.Inos) != len(l.Ids) {
		return
	}
	var ids []uint64
	complete := false
	for i, id := range l.Ids {
		switch {
		case l.Kinds[i] == pathCompleteKind && l.Inos[i] == l.DirIno:
			complete = true
			ids = append(ids, id)
		case l.Kinds[i] == pathSearchKind && l.Inos[i] != l.DirIno:
			// The walk to the directory; not its own search, which a
			// change of its attributes revokes (its names' changes
			// move its times).
			ids = append(ids, id)
		}
	}
	dir, ok := copyPath(path)
	if !complete || !ok {
		return
	}
	names, ok := direntNames(dirents)
	if !ok {
		return
	}
	k := pathKey{creds: creds, start: start, path: dir}
	if old := pc.copyLocked(k); old != nil && old.hold.dirs[0] == l.DirIno {
		return
	}
	pc.copyRoomLocked()
	c := &namesCopy{names: names, listed: true, expires: expires, renewal: pc.renewal}
	c.hold.dirs = []uint64{l.DirIno}
	pc.holdLocked(&c.hold, ids)
	if pc.copies == nil {
		pc.copies = make(map[pathKey]*namesCopy)
	}
	pc.copies[k] = c
}

// copyRoomLocked makes room for a copy in pc.copies. Precondition:
// pc.mu.
func (pc *pathCache) copyRoomLocked() {
	if len(pc.copies) < maxCopies {
		return
	}
	for k, c := range pc.copies {
		if !c.live() {
			delete(pc.copies, k)
		}
	}
	if len(pc.copies) >= maxCopies {
		pc.dropCopiesLocked()
	}
}

// direntNames returns the names of a listing's records (linux_dirent64)
// but "." and "..", each true if it may be a symbolic link (DT_LNK or
// DT_UNKNOWN); false if the records are malformed.
func direntNames(dirents []byte) (map[string]bool, bool) {
	names := make(map[string]bool)
	for b := dirents; len(b) > 0; {
		if len(b) < 20 {
			return nil, false
		}
		reclen := int(binary.LittleEndian.Uint16(b[16:]))
		if reclen < 20 || reclen > len(b) {
			return nil, false
		}
		name := b[19:reclen]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s != "." && s != ".." && s != "" {
			names[s] = b[18] == unix.DT_LNK || b[18] == unix.DT_UNKNOWN
		}
		b = b[reclen:]
	}
	return names, true
}

// adoptListedCopyLocked notes that the getdents64 of description desc
// was answered from the listing ahead of directory k.path (inode dirIno):
// a live copy of that directory's names is then desc's directory's
// (fdCopyKeyLocked). Precondition: pc.mu.
func (pc *pathCache) adoptListedCopyLocked(k pathKey, desc, dirIno uint64) {
	dir, ok := copyPath(k.path)
	if !ok {
		return
	}
	if c := pc.copyLocked(copyKey(k, dir)); c != nil && c.hold.dirs[0] == dirIno {
		c.desc = desc
	}
}

// fdCopyKeyLocked returns missing-name key k, whose path is relative to
// the fd of a description ("fd N"), as the key of the same path from
// the description's path (openPaths), if a copy may be found by it: the
// copy of that path was made from the description's own listing, or the
// path was derived from a dirfd's and its proof holds. Precondition:
// pc.mu.
func (pc *pathCache) fdCopyKeyLocked(k pathKey, pid int32) (pathKey, bool) {
	desc, dir, start, ok := pc.fdDirLocked(k, pid)
	if !ok {
		return pathKey{}, false
	}
	if dir, ok = copyPath(strings.TrimSuffix(dir, "/")); !ok {
		return pathKey{}, false
	}
	byPath := k
	byPath.start = start
	byPath.path = listedPrefix(dir) + k.path
	if p, derived := pc.pathProofs[desc]; derived && p.liveLocked(pc) {
		return byPath, true
	}
	c := pc.copyLocked(copyKey(byPath, dir))
	if c == nil || c.desc == 0 || (c.desc != desc && pc.settled[c.desc] != desc) {
		return pathKey{}, false
	}
	return byPath, true
}

// emptiedDirLocked returns the removal by an rmdir of the path whose
// existence answer key k (of a call of process pid) holds, if a
// listing's leases say the caller may remove the names of the directory
// it is in, and a live listed copy of the names of the directory it
// names (that inode: the existence answer's) says none is left. The
// existence answer, held by the walk and the name alone, outlives the
// changes inside the directory its lstat answer does not (the
// directory's own unlinks move its times and link count); modesFrom
// is the caller's modesFrom. Precondition: pc.mu.
func (pc *pathCache) emptiedDirLocked(k pathKey, pid int32, modesFrom uint64) (removal, bool) {
	var e *pathAnswer
	if strings.HasPrefix(k.start, "fd ") {
		// The listing's answer, kept under the path's key.
		e, k = pc.fdAnswerKeyLocked(k, pid)
	} else {
		e = pc.answerLocked(k)
	}
	if e == nil || e.errno != 0 || pc.blockedLocked(e) || !e.olderThan(modesFrom) || e.holds[0] == nil || e.holds[1] == nil {
		return removal{}, false
	}
	lst, ino := e.holds[0].listing, e.holds[1].ino
	if lst == nil || !lst.removable || ino == 0 {
		return removal{}, false
	}
	dir, ok := copyPath(k.path)
	if !ok {
		return removal{}, false
	}
	c := pc.copyLocked(copyKey(k, dir))
	if c == nil || !c.listed || len(c.names) > 0 || c.hold.dirs[0] != ino {
		return removal{}, false
	}
	return removal{dir: lst.ino, inos: []uint64{ino}}, true
}
