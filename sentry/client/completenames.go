package client

import (
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Complete names (docs/ARCHITECTURE.md, "Missing names and posted
// creations").
//
// A client that asks (Hello.complete_names) gets with the reply of each
// mkdir or mkdirat that carries parent_stat a lease on the complete
// names of the directory it made (Reply.complete_names): empty at birth,
// revoked by any other client's change of the directory or its names,
// kept through this client's own. The client keeps a copy (namesCopy)
// under the mkdir's path key (path, start, credentials), held by that
// lease and the search leases of parent_stat (the walk to the
// directory), and applies its own calls to it (namesBefore): a creation
// of dir/name adds name; an unlink or rmdir of dir/name removes it after
// its success; a chmod of dir updates the owner's permission bits. A
// call it does not model drops copies: a rename, an rmdir or a creation
// by any other path (a symlink or ".." could alias the directory; an
// rmdir by a path whose existence answer a listing kept drops only the
// copies of the directory that answer names: namedDirLocked), a
// mode or owner change by fd or of a name that may be a symlink, a
// chown giving the directory another owner.
//
// A chdir or fchdir to the directory (Reply.cwd_ino names the new working
// directory's inode, and its path is the copy's) keeps the copy for the
// names in the new working directory too (keepCwdCopy: path "", start
// the new cwd), so a shell's `cd dir; echo > name` is as `echo >
// dir/name`.
//
// While the copy holds, an unlink or unlinkat (flags 0) of dir/name by
// the same start and credentials, name not in it, fails with ENOENT
// here, after the checks Linux makes before it: the mount is writable
// (the mkdir wrote it; a mount record drops every copy) and the caller
// may search dir (owner bits: the caller made it, or CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH). The absence is kept like the server's answer of
// a negative unlink (missingCall), creatable when the caller may write
// and search dir, so that the following open(O_CREAT) is posted
// (postcreate.go); unlike the server's lease on a directory's missing
// names, the complete-names lease is not revoked by this client's own
// creations there, so a creation in flight in dir does not hold the
// answer back. The stat family and readlink of such a name fail with
// ENOENT here too (copyMissingLocked: cp -a stats each name it is about
// to create).

// namesCopy is the client's copy of the complete names of a directory
// it made. Its fields are changed under pathCache.mu.
type namesCopy struct {
	// hold is marked by a revocation of the complete-names lease or a
	// search lease of the walk to the directory; dirs names the
	// directory's inode (beginCreate's).
	hold pathHold
	// names are the names the directory may have (a superset: a
	// failed creation leaves its name); symlink says the name may be a
	// symbolic link (a call following it may reach another file).
	names map[string]bool
	// ownerMode is the directory's owner permission bits (0o700), its
	// owner the caller that made it (the key's credentials).
	ownerMode uint32
	expires   time.Time
	// renewal is the path cache's (leaserenew.go). Immutable.
	renewal *leaseRenewal
	// listed says the copy is of a directory a listing ahead brought
	// (listedcopy.go): its ownerMode is not known (0), and it answers
	// no creation. Immutable.
	listed bool
	// desc is the description whose getdents64 a listed copy's listing
	// answered (0: none yet; provisional or the server's).
	desc uint64
}

// live says whether c still answers. Precondition: pathCache.mu.
func (c *namesCopy) live() bool {
	return c != nil && !c.hold.revoked && c.renewal.live(c.expires, time.Now())
}

// copyPath returns p without its "." components but the last, if the
// rest names its file lexically: no empty or ".." component, no "." or
// slash at the end (another spelling could alias a directory the client
// holds a copy of). A "." before another component changes nothing of
// the walk ("./d/x" is "d/x"; "a/./b" needs a to be a searchable
// directory, as "a/b" does), and tar archives made with `tar -C dir .`
// spell every member so.
func copyPath(p string) (string, bool) {
	rest, abs := strings.CutPrefix(p, "/")
	if rest == "" || strings.HasSuffix(rest, "/") {
		return "", false
	}
	if !strings.Contains(rest, ".") && !strings.Contains(rest, "//") {
		return p, true // the common case: nothing to drop
	}
	comps := strings.Split(rest, "/")
	kept := comps[:0]
	for i, c := range comps {
		switch {
		case c == "" || c == "..", c == "." && i == len(comps)-1:
			return "", false
		case c != ".":
			kept = append(kept, c)
		}
	}
	q := strings.Join(kept, "/")
	if abs {
		q = "/" + q
	}
	return q, true
}

// splitName splits path p (copyPath's) into its directory's path and its last
// name ("" for a name in the start directory).
func splitName(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// copyKey is the key a copy of the directory of path k is kept under.
func copyKey(k pathKey, dir string) pathKey {
	return pathKey{creds: k.creds, start: k.start, path: dir}
}

// keepNamesCopy keeps the copy reply's complete-names lease grants for
// the directory a mkdir (key k, sent at at) made with owner permission
// bits ownerMode (its mode and the caller's umask).
func (pc *pathCache) keepNamesCopy(k pathKey, ownerMode uint32, reply *pb.Reply, at leaseStamp) {
	cn, l := reply.GetCompleteNames(), reply.GetPathLease()
	if pc == nil || cn == nil || l == nil || reply.Errno != 0 || cn.TtlMs == 0 || len(cn.Ids) == 0 || len(cn.Inos) != 1 ||
		!grantedAs(k, l) {
		return
	}
	dir, ok := copyPath(k.path)
	if !ok {
		return
	}
	ttl := min(cn.TtlMs, l.TtlMs)
	c := &namesCopy{names: make(map[string]bool), ownerMode: ownerMode,
		expires: at.sent.Add(time.Duration(ttl) * time.Millisecond), renewal: pc.renewal}
	c.hold.dirs = []uint64{cn.Inos[0]}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if at.gen != pc.gen || cn.Epoch < pc.lastEpoch || l.Epoch < pc.lastEpoch {
		return
	}
	pc.roomLocked(1, len(cn.Ids)+len(l.SearchIds))
	pc.holdLocked(&c.hold, cn.Ids)
	pc.holdLocked(&c.hold, l.SearchIds)
	if pc.copies == nil {
		pc.copies = make(map[pathKey]*namesCopy)
	}
	pc.copies[copyKey(k, dir)] = c
}

// keepMadeDir keeps the copy of the names of the directory t's mkdir or
// mkdirat made, if its reply granted one (Reply.complete_names).
func (t *task) keepMadeDir(sysno uintptr, args [6]uint64, reply *pb.Reply, at leaseStamp) {
	shape, ok := existsShapes[sysno]
	if !ok || reply.GetCompleteNames() == nil {
		return
	}
	k, ok := t.pathKeyShaped(existsCall, shape, args)
	if ok {
		k.path, ok = dirPathKey(k.path)
	}
	if !ok {
		return
	}
	umask, ok := t.knownUmask()
	if !ok {
		return
	}
	t.c.pcache.keepNamesCopy(k, mkdirMode(sysno, args)&^umask&0o700, reply, at)
}

// dirPathKey returns the path of a mkdir without its trailing slashes,
// which name the directory Linux makes as the path without them does
// (Go's os.MkdirAll spells the go command's work directories so), if
// any is left but for "/".
func dirPathKey(path string) (string, bool) {
	p := strings.TrimRight(path, "/")
	return p, p != ""
}

// mkdirMode is the mode argument of mkdir or mkdirat call sysno.
func mkdirMode(sysno uintptr, args [6]uint64) uint32 {
	if sysno == unix.SYS_MKDIRAT {
		return uint32(args[2])
	}
	return uint32(args[1])
}

// knownUmask returns the umask of t's fs context, if the client knows
// it.
func (t *task) knownUmask() (uint32, bool) {
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.procs[t.proc.pid]
	if !ok || pp.fs == 0 {
		return 0, false
	}
	umask, ok := ps.umask[pp.fs]
	return umask, ok
}

// copyLocked returns the live copy under key k, forgetting a dead one.
// Precondition: pc.mu.
func (pc *pathCache) copyLocked(k pathKey) *namesCopy {
	c := pc.copies[k]
	if c != nil && !c.live() {
		delete(pc.copies, k)
		return nil
	}
	return c
}

// unlinkShapes are the unlinks a copy answers.
var unlinkShapes = map[uintptr]pathCallShape{
	unix.SYS_UNLINK:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_UNLINKAT: {dirfd: 0, path: 1, buf: -1, size: -1},
}

// completeNamesUnlink says whether t's unlink fails with ENOENT by a
// copy (see above), keeping the absence for a posted creation; not while
// a posted call that may change a directory's mode is unanswered, unless
// the caller may search any directory.
func (t *task) completeNamesUnlink(sysno uintptr, args [6]uint64) bool {
	shape, ok := unlinkShapes[sysno]
	if !ok || (sysno == unix.SYS_UNLINKAT && args[2] != 0) || t.c.pcache == nil {
		return false
	}
	k, ok := t.pathKeyShaped(missingCall, shape, args)
	if !ok {
		return false
	}
	p, ok := copyPath(k.path)
	if !ok {
		return false
	}
	_, dirs := t.pathAnswerScope()
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	// A posted mode or owner change of a directory may take the search
	// permission of one above the copy's away (the copy models its own
	// directory's mode alone), as for cachedExists.
	if !pc.walksSettledLocked(dirs, t.proc.pid) || !pc.copyAbsenceLocked(k, p, t.proc.pid) {
		return false
	}
	t.answeredLocked(pc)
	return true
}

// copyAbsenceLocked keeps, under missing-name key k (its path p as
// copyPath spells it), the absence of its name a copy of its directory
// says, if the caller pid may search the directory (creatable if it may
// write it too), and reports whether it did. Precondition: pc.mu.
func (pc *pathCache) copyAbsenceLocked(k pathKey, p string, pid int32) bool {
	dir, name := splitName(p)
	c := pc.copyLocked(copyKey(k, dir))
	if c == nil || c.listed {
		// A listed copy keeps no absence: its ENOENT with
		// creatable 0 would answer a creation EACCES.
		return false
	}
	if _, exists := c.names[name]; exists {
		return false
	}
	search := c.ownerMode&0o100 != 0 || pc.searchAll[pid]
	if !search {
		return false // the server says EACCES
	}
	var creatable uint64
	if pc.writeAll[pid] || c.ownerMode&0o300 == 0o300 {
		creatable = 1
	}
	a := &pathAnswer{ret: creatable, errno: unix.ENOENT, expires: c.expires, copy: c}
	a.holds[0] = &c.hold
	pc.answers[k] = a
	return true
}

// copyMissingLocked returns an ENOENT answer of key k, a call that walks
// with the fs ids (stat, lstat, newfstatat, statx, readlink, a read-only
// open or an exec: walkIDs), when a copy of the directory of k's path
// lacks its name and the caller pid may search that directory (cp -a
// stats each destination name before it creates it). Nothing is kept:
// the copy answers each time. The callers check pathAnswerScope's dirs.
// Precondition: pc.mu.
func (pc *pathCache) copyMissingLocked(k pathKey, pid int32) *pathAnswer {
	if len(pc.copies) == 0 {
		return nil
	}
	if real, walks := walkIDs(k); !walks || real || !pc.walksSettledLocked(true, pid) {
		return nil
	}
	p, ok := copyPath(k.path)
	if !ok {
		return nil
	}
	dir, name := splitName(p)
	c := pc.copyLocked(copyKey(k, dir))
	if c == nil {
		return nil
	}
	if _, exists := c.names[name]; exists || c.ownerMode&0o100 == 0 && !pc.searchAll[pid] {
		return nil
	}
	a := &pathAnswer{errno: unix.ENOENT, expires: c.expires}
	a.holds[0] = &c.hold
	return a
}

// keepCopyAbsence keeps the absence of the name t's creation (missing-name
// key k) would make, from a copy of its directory, unless the server's
// answer is kept under k: the creation is then posted (postcreate.go,
// postmkdir.go) without an unlink before it (a shell's redirection to a
// new file in a directory it made). A copy's absence kept before is made
// again: the caller's chmod of the directory since changed whether it
// may create the name (or search the directory).
func (t *task) keepCopyAbsence(k pathKey) {
	pc := t.c.pcache
	p, ok := copyPath(k.path)
	if !ok {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	a := pc.answerLocked(k)
	if len(pc.copies) == 0 && a == nil || a != nil && a.copy == nil {
		return
	}
	if !pc.copyAbsenceLocked(k, p, t.proc.pid) && a != nil {
		delete(pc.answers, k)
	}
}

// awaitCopy waits, while a posted mkdir of the directory of the name of
// missing-name key k is without a reply, for that reply, which brings
// the directory's copy (postmkdir.go): a creation there would otherwise
// wait for a reply of its own, and drop every copy (namesBefore: a
// creation in a directory no copy is of, which its reply then names).
func (pc *pathCache) awaitCopy(k pathKey) {
	p, ok := copyPath(k.path)
	if !ok {
		return
	}
	dir, _ := splitName(p)
	pc.mu.Lock()
	waiting := func() bool {
		return pc.copyLocked(copyKey(k, dir)) == nil && pc.renewing[copyKey(k, dir)] > 0 && pc.answerLocked(k) == nil
	}
	wait := waiting()
	pc.mu.Unlock()
	if wait {
		pc.waitCreationsWhile(waiting)
	}
}

// namesChange is what namesBefore leaves for after the call's reply:
// the name to remove from a copy once it is gone, or that every copy
// goes if the call succeeded (it made or removed a name in a directory
// that may be a copy's by another spelling).
type namesChange struct {
	copy          *namesCopy
	name          string
	dropOnSuccess bool
	// removedDir, for an rmdir of no copy's directory by a path whose
	// existence answer holds, is the inode that answer names: on
	// success only the copies of that directory go.
	removedDir uint64
	// rmdir says the call is an rmdir: when dropOnSuccess, a reply that
	// names the directory removed (Reply.removed_ino) takes only that
	// directory's copies.
	rmdir bool
}

// nameCreations are the calls that make a name, with the index of the
// new name's dirfd (-1: none) and path.
var nameCreations = map[uintptr]pathCallShape{
	unix.SYS_OPEN:      {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_OPENAT:    {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_CREAT:     {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_MKDIR:     {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_MKDIRAT:   {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_MKNOD:     {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_MKNODAT:   {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_SYMLINK:   {dirfd: -1, path: 1, buf: -1, size: -1},
	unix.SYS_SYMLINKAT: {dirfd: 1, path: 2, buf: -1, size: -1},
	unix.SYS_LINK:      {dirfd: -1, path: 1, buf: -1, size: -1},
	unix.SYS_LINKAT:    {dirfd: 2, path: 3, buf: -1, size: -1},
}

// nameRemovals are the calls that remove a name (rmdir's a directory).
var nameRemovals = map[uintptr]pathCallShape{
	unix.SYS_UNLINK:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_UNLINKAT: {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_RMDIR:    {dirfd: -1, path: 0, buf: -1, size: -1},
}

// modeChanges are the calls that change a file's mode or owner by path;
// following says whether they follow a final symbolic link.
var modeChanges = map[uintptr]pathCallShape{
	unix.SYS_CHMOD:    {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_FCHMODAT: {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_CHOWN:    {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_LCHOWN:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_FCHOWNAT: {dirfd: 0, path: 1, buf: -1, size: -1},
}

// namesDroppers are the calls that change names or a directory's mode in
// a way a copy does not model: every copy goes.
var namesDroppers = map[uintptr]bool{
	unix.SYS_RENAME: true, unix.SYS_RENAMEAT: true, unix.SYS_RENAMEAT2: true,
	unix.SYS_FCHMOD: true, unix.SYS_FCHOWN: true, unix.SYS_OPENAT2: true,
	// A Unix socket's bind makes a name (its path is in the sockaddr).
	unix.SYS_BIND: true,
}

// namesBefore applies t's call, about to be forwarded or posted, to the
// copies (see above); the change it returns is for namesAfter.
func (t *task) namesBefore(sysno uintptr, args [6]uint64) namesChange {
	pc := t.c.pcache
	if pc == nil {
		return namesChange{}
	}
	pc.mu.Lock()
	none := len(pc.copies) == 0
	pc.mu.Unlock()
	if none {
		return namesChange{}
	}
	if namesDroppers[sysno] {
		pc.dropCopies()
		return namesChange{}
	}
	shape, creation := nameCreations[sysno]
	if creation && (sysno == unix.SYS_OPEN && args[1]&unix.O_CREAT == 0 || sysno == unix.SYS_OPENAT && args[2]&unix.O_CREAT == 0) {
		return namesChange{} // an open that makes no name
	}
	removal := false
	if !creation {
		if shape, removal = nameRemovals[sysno]; !removal {
			var ok bool
			if shape, ok = modeChanges[sysno]; !ok {
				return namesChange{}
			}
		}
	}
	if pc.rooted(t.proc.pid) {
		// A chrooted process's path may name any copy's directory
		// whatever it spells, and the server leaves this client's
		// copies to it (readlease.PathComplete): every copy goes.
		pc.dropCopies()
		return namesChange{}
	}
	rmdir := sysno == unix.SYS_RMDIR || sysno == unix.SYS_UNLINKAT && args[2]&unix.AT_REMOVEDIR != 0
	// Another spelling of a copy's directory (another start, a
	// symbolic link, "..") may name it or its parent: a creation or
	// rmdir not modeled drops every copy if it succeeds (a failed one
	// changed nothing), an unlink removes no directory, a mode or
	// owner change drops them at once (it may be posted).
	unknown := namesChange{dropOnSuccess: creation || rmdir, rmdir: rmdir}
	k, ok := t.pathKeyShaped(missingCall, shape, args)
	path := strings.TrimRight(k.path, "/")
	if ok {
		path, ok = copyPath(path)
	}
	if !ok || (strings.HasSuffix(k.path, "/") && !creation && !rmdir) {
		if !creation && !removal {
			pc.dropCopies()
		}
		return unknown
	}
	k.path = path
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if strings.HasPrefix(k.start, "fd ") && len(pc.copies) > 0 {
		// Relative to a directory's fd: the copy of its path's
		// (listedcopy.go), or the path a listing of the fd's
		// description by path kept the name's existence under
		// (fdAnswerKeyLocked): rm -r's rmdir of each subdirectory of
		// the directory it opened by path and listed itself, whose
		// names it has no copy of.
		if byPath, ok := pc.fdCopyKeyLocked(k, t.proc.pid); ok {
			k = byPath
		} else if e, ek := pc.fdAnswerKeyLocked(existsKeyOf(k), t.proc.pid); e != nil {
			k.start, k.path = ek.start, ek.path
		}
	}
	dir, name := splitName(k.path)
	if self := pc.copyLocked(copyKey(k, k.path)); self != nil {
		// The call is of the directory itself: a creation fails
		// (EEXIST, EISDIR) while the copy holds.
		switch {
		case creation:
			return namesChange{}
		case removal, !t.modeChangeKept(sysno, args, self):
			pc.deleteCopyLocked(self)
			if rmdir {
				// Any other spelling's copy of it goes too (by its
				// inode): what is left may stay.
				pc.deleteCopiesOfLocked(self.hold.dirs[0])
				unknown.dropOnSuccess = false
			}
		default:
			return namesChange{} // the name is the directory, not a link
		}
	} else if rmdir {
		if ino := pc.namedDirLocked(k); ino != 0 {
			unknown = namesChange{removedDir: ino, rmdir: true}
		}
	}
	c := pc.copyLocked(copyKey(k, dir))
	if c == nil {
		if !creation && !removal {
			pc.dropCopiesLocked()
		}
		return unknown
	}
	symlink, exists := c.names[name]
	switch {
	case creation:
		if symlink {
			// It may create a name elsewhere.
			pc.dropCopiesLocked()
			return namesChange{}
		}
		if !exists {
			c.names[name] = sysno == unix.SYS_SYMLINK || sysno == unix.SYS_SYMLINKAT || sysno == unix.SYS_LINK || sysno == unix.SYS_LINKAT
		}
	case removal:
		return namesChange{copy: c, name: name, dropOnSuccess: rmdir && symlink && unknown.removedDir == 0, removedDir: unknown.removedDir, rmdir: rmdir}
	default:
		if symlink && modeFollows(sysno, args) {
			pc.dropCopiesLocked()
		}
	}
	return namesChange{}
}

// namedDirLocked returns the inode the kept existence answer of the path
// of missing-name key k names (a listing's: the walk and the name's
// leases hold it), 0 if none is kept or it may be changing. An rmdir of
// that path removes that inode or fails. Precondition: pc.mu.
func (pc *pathCache) namedDirLocked(k pathKey) uint64 {
	e := pc.answerLocked(existsKeyOf(k))
	if e == nil || e.errno != 0 || e.holds[1] == nil || pc.blockedLocked(e) {
		return 0
	}
	return e.holds[1].ino
}

// modeFollows says whether mode or owner change sysno follows a final
// symbolic link.
func modeFollows(sysno uintptr, args [6]uint64) bool {
	switch sysno {
	case unix.SYS_CHMOD, unix.SYS_CHOWN:
		return true
	case unix.SYS_FCHMODAT:
		return args[3]&unix.AT_SYMLINK_NOFOLLOW == 0
	case unix.SYS_FCHOWNAT:
		return args[4]&unix.AT_SYMLINK_NOFOLLOW == 0
	}
	return false
}

// modeChangeKept applies t's chmod or chown of copy c's directory to c,
// and says whether c still holds. Precondition: pc.mu.
func (t *task) modeChangeKept(sysno uintptr, args [6]uint64, c *namesCopy) bool {
	if c.listed {
		return false // its owner bits are not modeled
	}
	switch sysno {
	case unix.SYS_CHMOD:
		c.ownerMode = uint32(args[1]) & 0o700
		return true
	case unix.SYS_FCHMODAT:
		c.ownerMode = uint32(args[2]) & 0o700
		return true
	}
	// A chown keeps the owner's bits of a directory; another owner
	// is not the caller.
	uidArg := args[1]
	if sysno == unix.SYS_FCHOWNAT {
		uidArg = args[2]
	}
	if uint32(uidArg) == ^uint32(0) {
		return true
	}
	ids, ok := t.ownIDs()
	return ok && uint32(uidArg) == ids.euid
}

// namesAfter applies the result of a call namesBefore saw (errno): a
// removed name is gone (or never was), a change not modeled drops every
// copy.
func (pc *pathCache) namesAfter(ch namesChange, reply *pb.Reply) {
	if pc == nil {
		return
	}
	var errno unix.Errno
	if reply != nil {
		errno = unix.Errno(reply.Errno)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case !ch.dropOnSuccess || errno != 0:
	case ch.rmdir && reply.GetRemovedIno() != 0:
		// The server named the directory removed: its copies go. A
		// copy of its parent by a spelling not modeled keeps the name,
		// as after an unlink not modeled: a name kept answers no
		// absence, creation or emptiness, so the calls it concerns are
		// sent (rm -r's rmdir through an fd whose listing waited, which
		// dropped every copy and made the rest of the walk wait).
		pc.deleteCopiesOfLocked(reply.GetRemovedIno())
	case !ch.rmdir:
		// A creation whose reply names the directory it made its name
		// in (parent_stat): that directory's copies, by whatever
		// spelling, lack the name and go; the others stay. A loop
		// making d/rN and a file in each lost the copy of d at the
		// first creation that waited (d/rN's copy came with its
		// mkdir's reply meanwhile), and every later mkdir waited.
		if ino, ok := parentIno(reply); ok {
			pc.deleteCopiesOfLocked(ino)
		} else {
			pc.dropCopiesLocked()
		}
	case !pc.noCopyOfLocked(reply):
		pc.dropCopiesLocked()
	}
	if ch.removedDir != 0 && errno == 0 {
		pc.deleteCopiesOfLocked(ch.removedDir)
	}
	if ch.copy != nil && (errno == 0 || errno == unix.ENOENT) {
		delete(ch.copy.names, ch.name)
	}
}

// noCopyOfLocked says whether reply's parent_stat names a directory no
// copy is of (the stat of the directory a creation made its name in, or
// an rmdir removed one from). Precondition: pc.mu.
func (pc *pathCache) noCopyOfLocked(reply *pb.Reply) bool {
	ino, ok := parentIno(reply)
	if !ok {
		return false
	}
	for _, c := range pc.copies {
		if c.hold.dirs[0] == ino {
			return false
		}
	}
	return true
}

// parentIno returns the inode number reply's parent_stat names, if it
// has one.
func parentIno(reply *pb.Reply) (uint64, bool) {
	var st linux.Stat
	if reply == nil || len(reply.ParentStat) < st.SizeBytes() {
		return 0, false
	}
	st.UnmarshalBytes(reply.ParentStat)
	return st.Ino, true
}

// keepCwdCopy keeps the copy of the directory t's chdir or fchdir made
// its working directory (reply.cwd_ino: a copy of the same credentials
// whose directory has that inode) for the names in it: under the key of
// a name without a directory part (path "", start the new cwd, whose
// record came with the reply). A shell's `cd w` then makes its
// `echo > f` in w as `echo > w/f` before it. The two keys share the
// copy, so the calls spelled either way keep it up to date, and the
// removal or a mode change of the directory drops both
// (deleteCopyLocked).
func (t *task) keepCwdCopy(sysno uintptr, reply *pb.Reply) {
	pc := t.c.pcache
	ino := reply.GetCwdIno()
	if pc == nil || ino == 0 || reply.Errno != 0 || (sysno != unix.SYS_CHDIR && sysno != unix.SYS_FCHDIR) {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	creds, ok := pc.creds[t.proc.pid]
	cwd, known := pc.cwds[pc.fs[t.proc.pid]]
	if !ok || !known || pc.fsIDsChanged || len(pc.copies) == 0 {
		return
	}
	cwdKey := pathKey{creds: creds, start: cwd}
	at, ok := copyDirPath(cwdKey)
	if !ok {
		return
	}
	for k, c := range pc.copies {
		// The inode and the path: host inode numbers repeat across
		// file systems.
		if p, ok := copyDirPath(k); ok && p == at && k.creds == creds && c.live() && c.hold.dirs[0] == ino {
			pc.copies[cwdKey] = c
			return
		}
	}
}

// copyDirPath returns the absolute path of the directory of copy key k:
// its path, from its start ("/", or a cwd as cwdKey spells it).
func copyDirPath(k pathKey) (string, bool) {
	if k.start == "/" {
		return k.path, strings.HasPrefix(k.path, "/")
	}
	rest, ok := strings.CutPrefix(k.start, "cwd ")
	if !ok {
		return "", false
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", false
	}
	cwd, err := strconv.Unquote(q)
	if err != nil || !strings.HasPrefix(cwd, "/") {
		return "", false
	}
	return path.Join(cwd, k.path), true
}

// deleteCopyLocked forgets copy c under every key it is kept under.
// Precondition: pc.mu.
func (pc *pathCache) deleteCopyLocked(c *namesCopy) {
	for k, o := range pc.copies {
		if o == c {
			delete(pc.copies, k)
		}
	}
}

// deleteCopiesOfLocked forgets the copies of directory inode ino (of
// any device). Precondition: pc.mu.
func (pc *pathCache) deleteCopiesOfLocked(ino uint64) {
	for k, c := range pc.copies {
		if c.hold.dirs[0] == ino {
			delete(pc.copies, k)
		}
	}
}

// dropCopies drops every copy.
func (pc *pathCache) dropCopies() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.dropCopiesLocked()
}

// dropCopiesLocked drops every copy. Precondition: pc.mu.
func (pc *pathCache) dropCopiesLocked() {
	clear(pc.copies)
}

// nameCreatedLocked notes that a posted creation by the copy's absence
// answer a (under key k) makes its name. Precondition: pc.mu.
func (pc *pathCache) nameCreatedLocked(k pathKey, a *pathAnswer) bool {
	_, name := splitName(k.path)
	if !a.copy.live() {
		return false
	}
	if _, exists := a.copy.names[name]; exists {
		return false
	}
	a.copy.names[name] = false
	return true
}
