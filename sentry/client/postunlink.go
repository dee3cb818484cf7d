package client

import (
	"math"
	"slices"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Posted removals and access answered from a listing (docs/ARCHITECTURE.md,
// "The client's path cache").
//
// A listing's reply (getdents64 with Syscall.listing_path) brings the
// lstat answer of each entry under the leases of the walk to the
// directory and of the entry, and says of the directory what the same
// leases cover (PathLease.writable, removable): its mount is writable,
// and the caller may remove its entries (write and search permission,
// no sticky bit in the way). rm -r lists a directory, then for each
// entry calls lstat, access(W_OK) and unlink of dir/name; the first is
// the listing's answer, and the other two follow from it:
//
//   - access or faccessat (flags 0) of a path whose lstat answer holds
//     and is no symbolic link (access follows the last name, which
//     then names the same file) is answered from that answer's mode and
//     owner with the caller's real ids and their capabilities
//     (sysabi.Permits, as the server's accessAt): F_OK succeeds; a
//     W_OK of a file that is no device, FIFO or socket on a read-only
//     mount is EROFS, and is answered only when a listing said whether
//     the mount is writable. Only when the real ids and capabilities
//     are the effective ones: the lstat's walk searched with those.
//     Without such an lstat answer (or of a symbolic link), the kept
//     answer of stat (newfstatat, flags 0) of the same path answers
//     it alike: its walk followed the last name as access's does
//     (make's stat, then access(X_OK), of each program it runs).
//   - unlink or unlinkat (flags 0) of a path whose lstat answer is a
//     listing's that said removable, and is no directory (EISDIR), is
//     answered 0 at once and posted (same process conditions as a
//     posted creation: one thread, its own fd table and fs context).
//     Until its reply, before which the server revokes the leases the
//     removal changes, no answer holding a lease on the file
//     (pathHold.inos: its existence, its attributes, a walk through
//     it) or on the directory's attributes or names is given
//     (pathCache.inosChanging, dirsChanging), and no fstat is answered
//     from a read lease (the file's link count and ctime move:
//     readCache.removalsPosted). A copy of the directory's complete
//     names forgets the name at once (completenames.go).
//
// What the client cannot know is what the server did not decide: a
// change outside it (the host, another server sharing the gofer) in
// the lease's last second, an immutable file. Such a failure is logged,
// and every copy of complete names is dropped (the name still exists).
// The unlink is in the session's calls in flight until its reply, so a
// recovery re-sends it, and the server's re-sent unlink asks the
// gofer's reply cache when the name is already gone.

// removal is a posted unlink's hold on the path cache: the directory
// whose attributes and names it changes and the inodes it removes a
// name of.
type removal struct {
	dir  uint64
	inos []uint64
}

// listedStatKey returns the key of lstat (newfstatat with
// AT_SYMLINK_NOFOLLOW) of the path of t's path call of the given shape.
func (t *task) listedStatKey(shape pathCallShape, args [6]uint64) (pathKey, bool) {
	k, ok := t.pathKeyShaped(unix.SYS_NEWFSTATAT, shape, args)
	k.args = [3]uint64{unix.AT_SYMLINK_NOFOLLOW}
	return k, ok
}

// keptStatLocked returns the kept stat answer of key k (lstat's or
// stat's) of a call of process pid, its struct stat and the listing
// facts its leases carry (nil: not a listing's), if it holds and is
// older than the files whose type, mode or owner posted calls in flight
// may change (modesFrom's from): its caller uses the answer's type,
// mode and owner, not its size or times. Precondition: pc.mu.
func (pc *pathCache) keptStatLocked(k pathKey, pid int32, modesFrom uint64) (*pathAnswer, linux.Stat, *listedDir, bool) {
	var st linux.Stat
	a := pc.keptLocked(k, pid)
	if a == nil || a.errno != 0 || len(a.out) < st.SizeBytes() || pc.blockedLocked(a) || !a.olderThan(modesFrom) {
		return nil, st, nil, false
	}
	st.UnmarshalBytes(a.out)
	var lst *listedDir
	if a.holds[0] != nil {
		lst = a.holds[0].listing
	}
	return a, st, lst, true
}

// modesFrom returns the lowest creation number (readCache.creationSent)
// of the files whose type, mode or owner a posted call without a reply
// may change: a chmod, chown or utimensat (writes behind and leased
// copies change data, size and times; posted creations and unlinks hold
// back the answers they change themselves, blockedLocked). MaxUint64:
// none is in flight; 0: one's file is not known by its creation. What
// an open, access or unlink answered from an lstat answer older than
// those files (pathAnswer.olderThan) depends on is then what the
// answer's leases cover: cp -a's open of each source file while the
// previous copy's chown and chmod are in flight.
func (t *task) modesFrom() uint64 {
	rc := t.c.rcache
	if rc == nil {
		return math.MaxUint64
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attrsFromLocked()
}

// accessShapes are the access calls answered from a kept stat answer,
// with the index of their mode argument.
var accessShapes = map[uintptr]struct {
	shape pathCallShape
	mode  int
}{
	unix.SYS_ACCESS:    {pathCallShape{dirfd: -1, path: 0, buf: -1, size: -1}, 1},
	unix.SYS_FACCESSAT: {pathCallShape{dirfd: 0, path: 1, buf: -1, size: -1}, 2},
}

// statAccess answers t's access or faccessat from the kept lstat (or
// stat) answer of its path (see above), if it may.
func (t *task) statAccess(sysno uintptr, args [6]uint64) (unix.Errno, bool) {
	as, ok := accessShapes[sysno]
	mode := uint32(args[as.mode])
	if !ok || t.c.pcache == nil || mode&^7 != 0 {
		return 0, false // EINVAL: the server says so
	}
	ids, ok := t.ownIDs()
	if !ok || ids.ruid != ids.euid || ids.rgid != ids.egid {
		return 0, false
	}
	k, ok := t.listedStatKey(as.shape, args)
	if !ok {
		return 0, false
	}
	from := t.modesFrom()
	pc := t.c.pcache
	pc.mu.Lock()
	_, st, lst, ok := pc.keptStatLocked(k, t.proc.pid, from)
	if !ok || st.Mode&linux.S_IFMT == linux.S_IFLNK {
		// stat's answer: its walk followed the last name.
		k.args = [3]uint64{0}
		_, st, lst, ok = pc.keptStatLocked(k, t.proc.pid, from)
	}
	pc.mu.Unlock()
	if !ok || st.Mode&linux.S_IFMT == linux.S_IFLNK {
		return 0, false
	}
	var errno unix.Errno
	if mode != 0 {
		permits, ok := t.c.pipe.permitsAccess(t.proc.pid, ids.ruid, ids.rgid, st, mode)
		switch {
		case !ok:
			return 0, false
		case !permits:
			errno = unix.EACCES
		case mode&unix.W_OK != 0 && !special(st.Mode):
			if lst == nil {
				return 0, false
			}
			if !lst.writable {
				errno = unix.EROFS
			}
		}
	}
	pc.mu.Lock()
	t.answeredLocked(pc)
	pc.mu.Unlock()
	return errno, true
}

// special says whether mode is a device's, a FIFO's or a socket's:
// access(W_OK) of one on a read-only mount succeeds.
func special(mode uint32) bool {
	switch mode & linux.S_IFMT {
	case linux.S_IFCHR, linux.S_IFBLK, linux.S_IFIFO, linux.S_IFSOCK:
		return true
	}
	return false
}

// permitsAccess says whether access(2) by process pid, of real ids uid
// and gid, of a file of attributes st for mode passes the permission
// check (the capabilities of access's creds: the permitted set for uid
// 0, else none); ok is false unless the process's record told its
// groups and capabilities and those are its effective ones (the walk
// that found st searched with them).
func (ps *pipelineState) permitsAccess(pid int32, uid, gid uint32, st linux.Stat, mode uint32) (permits, ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, known := ps.procs[pid]
	if !known || !pp.capsKnown {
		return false, false
	}
	var caps uint64
	if uid == 0 {
		caps = pp.capsPermitted
	}
	if caps != pp.capsEffective {
		return false, false
	}
	return sysabi.Permits(sysabi.FileAttrs{Mode: st.Mode, UID: st.UID, GID: st.GID},
		sysabi.Creds{FSUID: uid, InGroup: gid == st.GID || pp.groups[st.GID], Caps: caps}, mode), true
}

// beginRemoval returns the removal of the name whose lstat answer k
// holds, if a listing's leases say the caller pid may remove it and it
// is no directory, or, for an rmdir, a directory a copy of whose names
// says it is empty (listedcopy.go; see above; modesFrom is the caller's
// modesFrom); its directory and inodes then count as changing until
// endRemoval.
func (pc *pathCache) beginRemoval(k pathKey, pid int32, modesFrom uint64, rmdir bool) (removal, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var rm removal
	if rmdir {
		var ok bool
		if rm, ok = pc.emptiedDirLocked(existsKeyOf(k), pid, modesFrom); !ok {
			return removal{}, false
		}
	} else {
		a, st, lst, ok := pc.keptStatLocked(k, pid, modesFrom)
		if !ok || lst == nil || !lst.removable || st.Mode&linux.S_IFMT == linux.S_IFDIR || a.holds[1] == nil {
			return removal{}, false
		}
		rm.dir = lst.ino
		for _, ino := range append([]uint64{st.Ino, a.holds[1].ino}, a.holds[1].inos...) {
			if ino != 0 && !slices.Contains(rm.inos, ino) {
				rm.inos = append(rm.inos, ino)
			}
		}
	}
	if pc.dirsChanging == nil {
		pc.dirsChanging = make(map[uint64]int)
	}
	if pc.inosChanging == nil {
		pc.inosChanging = make(map[uint64]int)
	}
	pc.dirsChanging[rm.dir]++
	for _, ino := range rm.inos {
		pc.inosChanging[ino]++
	}
	pc.usedLocked()
	return rm, true
}

// endRemoval ends what beginRemoval began, and wakes the calls waiting
// for a posted change's reply (waitCreations); failed drops every copy
// of complete names (the name is still there).
func (pc *pathCache) endRemoval(rm removal, failed bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dirsChanging[rm.dir]--; pc.dirsChanging[rm.dir] <= 0 {
		delete(pc.dirsChanging, rm.dir)
	}
	for _, ino := range rm.inos {
		if pc.inosChanging[ino]--; pc.inosChanging[ino] <= 0 {
			delete(pc.inosChanging, ino)
		}
	}
	if failed {
		pc.dropCopiesLocked()
	}
	if pc.creationDone != nil {
		close(pc.creationDone)
		pc.creationDone = nil
	}
}

// removalPosted counts a posted removal in the read cache (d +1 or -1).
func (rc *readCache) removalPosted(d int) {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.removalsPosted += d
}

// postUnlink answers t's unlink, unlinkat or rmdir of a name it knows
// it may remove and posts it (see above), and reports whether it did.
func (t *task) postUnlink(sysno uintptr, args [6]uint64) bool {
	shape, ok := nameRemovals[sysno]
	pc := t.c.pcache
	rmdir := sysno == unix.SYS_RMDIR || sysno == unix.SYS_UNLINKAT && args[2] == unix.AT_REMOVEDIR
	if !ok || pc == nil || (sysno == unix.SYS_UNLINKAT && args[2] != 0 && !rmdir) || t.c.cfg.NoPostedOpens || t.c.cfg.NoPostedCreates ||
		!t.singleThreaded() || t.c.pipe.fsShared(t.proc.pid) {
		return false
	}
	k, ok := t.listedStatKey(shape, args)
	if !ok {
		return false
	}
	if _, ok := copyPath(k.path); rmdir && !ok {
		// "." (EINVAL), ".." (ENOTEMPTY), a trailing slash: the
		// server decides.
		return false
	}
	from := t.modesFrom()
	// As for a posted open: on the stream before the acknowledgment of
	// a revocation of the answer it relied on.
	t.c.opens.revoking.RLock()
	defer t.c.opens.revoking.RUnlock()
	rm, ok := pc.beginRemoval(k, t.proc.pid, from, rmdir)
	if !ok {
		return false
	}
	names := t.namesBefore(sysno, args)
	mc := t.c.meta.before(t, sysno, args)
	defer t.c.meta.after(t, mc, sysno, args, 0, 0)
	t.c.rcache.removalPosted(1)
	path := k.path
	done := func(r *pb.Reply) {
		failed := r != nil && r.Errno != 0
		pc.endRemoval(rm, failed)
		t.c.rcache.removalPosted(-1)
		if failed {
			t.c.log.Warn("a posted unlink or rmdir failed; the application was told it succeeded",
				"path", path, "errno", unix.Errno(r.Errno).Error())
		}
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	call := &pb.Call{Tid: t.tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: int32(sysno), Args: args[:], Inputs: toPBRegions(inputs), Posted: true,
	}}}
	if !t.c.conn.Post(call, done) {
		// Recovering: the unlink waits as usual.
		done(nil)
		return false
	}
	pc.namesAfter(names, nil)
	t.posted = true
	t.c.opens.removed.Add(1)
	return true
}
