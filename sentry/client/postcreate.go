package client

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Posted creating opens and the negative unlink (docs/COMPATIBILITY.md,
// "Pipelined calls").
//
// The negative unlink: an unlink or unlinkat (flags 0) that failed with
// ENOENT wants a path lease, which the server grants as for a stat's
// failure (the directories searched, the names missing in the name's
// directory). While it holds, the same unlink (path, start, credentials)
// fails with ENOENT here: the server's answer was Linux's order (EROFS
// before ENOENT), and a name made in the directory, or a change of a
// directory the walk searched, by any client, revokes it. The answer is
// also kept as the absence of the name (missingCall), with whether the
// caller may make names in its directory (PathLease.creatable: write
// and search permission, a writable mount).
//
// A posted creating open: open or openat with O_CREAT (flags among
// postedCreateFlags) of a name whose absence the cache holds, creatable,
// by a process whose fd table and fs context (the cwd a relative path
// starts at) are its own (of several threads: while every other
// thread's call in flight is neutral, threadorder.go), while nothing
// posted may change a directory (pathAnswerScope's dirs), is answered at
// once with the lowest free fd below RLIMIT_NOFILE and posted with
// Syscall.install_fd, as a posted read-only open (postopen.go): the
// server creates the file and installs its description at that fd. Its
// result is known: the name is missing (so neither O_EXCL's EEXIST nor
// an existing file's EISDIR, ELOOP, ETXTBSY or O_TRUNC apply) and the
// caller may create it. What it cannot know: a full disk or quota
// (ENOSPC, EDQUOT), a failing gofer, a change the server did not make
// (the host, another server sharing the gofer) within the lease's last
// second. Such a failure is logged; the client forgets the fd, and the
// application's next call on it gets EBADF, as for an fd closed behind
// its back (a write behind to it fails on the server, logged).
//
// The calls that follow need no reply:
//   - The new file's attributes are not answered here (its inode
//     number is the server's): fstat and the path calls that end at
//     the file go to the server, after the creation on its ordered
//     queue.
//   - Writes behind (and leased copies into it): the provisional
//     description is a regular gofer file open with the open's access
//     mode, under a handle of its own (createdHandleOf) until the reply
//     names the file's, to which the writes still without a reply are
//     then counted (readCache.aliasHandle), so that no read of the file
//     is answered from a lease before them.
//   - chown, chmod and utimensat of the name (metapipe.go): the file is
//     one the process created, as a waited O_CREAT|O_EXCL open's.
//   - The path cache: the creation changes its directory's attributes
//     and missing names. Each kept answer knows what its leases are of
//     (PathLease.kinds, inos); until the creation's reply, before which
//     the server revokes those leases, no answer holding one on that
//     directory is given (pathCache.dirsChanging). Its reply brings the
//     directory's new stat answer (Reply.parent_stat) for an O_EXCL
//     creation, as a waited one's.
//
// The creation is in the session's calls in flight until its reply: a
// recovery re-sends it with its fd and seq, and the gofer's reply cache
// answers a creation made before the failure. Its reply's records go to
// the replay log like a waited open's.

// missingCall is the path cache's key number of the absence of a name (an
// unlink's ENOENT): a number no system call has.
const missingCall = 1<<16 | unix.SYS_UNLINKAT

// postedCreateFlags are the flags of a creating open that may be posted:
// none of them changes whether the open of a missing name succeeds.
const postedCreateFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_CLOEXEC | unix.O_LARGEFILE |
	unix.O_NOCTTY | unix.O_NOFOLLOW | unix.O_APPEND | unix.O_NONBLOCK

// pathSearchKind is the kind (PathLease.kinds) of a lease on a walk's
// search of a directory or its finding of a file; the others are on a
// directory's attributes or missing names.
const pathSearchKind = 0

// createdHandlePrefix starts the handle a posted creation's file is known
// by before its reply; no gofer handle starts with a NUL.
const createdHandlePrefix = "\x00created "

// createdHandleOf is the handle of the file of posted creation prov.
func createdHandleOf(prov uint64) string {
	return createdHandlePrefix + strconv.FormatUint(prov, 16)
}

// dirsOf returns the directories (inode numbers) whose attributes or
// missing names the leases ids of l are on, the inodes they are on (any
// kind), and whether the kind of one is not known (a server that does
// not say, PathLease.kinds).
func dirsOf(l *pb.PathLease, ids []uint64) (dirs, inos []uint64, unknown bool) {
	if len(l.Kinds) != len(l.Ids) || len(l.Inos) != len(l.Ids) {
		return nil, nil, true
	}
	for _, id := range ids {
		i := slices.Index(l.Ids, id)
		if i < 0 {
			unknown = true
			continue
		}
		if l.Kinds[i] != pathSearchKind && !slices.Contains(dirs, l.Inos[i]) {
			dirs = append(dirs, l.Inos[i])
		}
		if !slices.Contains(inos, l.Inos[i]) {
			inos = append(inos, l.Inos[i])
		}
	}
	return dirs, inos, unknown
}

// keepLeasedLocked keeps a under k, held by the leases ids of l (after
// roomLocked), noting the directories and inodes they are on.
// Precondition: pc.mu.
func (pc *pathCache) keepLeasedLocked(k pathKey, a *pathAnswer, l *pb.PathLease, ids []uint64) {
	a.own.dirs, a.own.inos, a.own.kindsUnknown = dirsOf(l, ids)
	pc.keepOwnLocked(k, a, ids)
}

// blockedLocked says whether answer a may have been changed by a posted
// creation or removal without a reply: a lease of it is on the
// attributes or missing names of a directory one is in, on the file a
// removal removes (postunlink.go), or of a kind not known.
// Precondition: pc.mu.
func (pc *pathCache) blockedLocked(a *pathAnswer) bool {
	if !pc.changingAnyLocked() {
		return false
	}
	for _, h := range a.holds {
		if h != nil && pc.changingLocked(h) {
			return true
		}
	}
	return false
}

// changingAnyLocked says whether a posted creation, mkdir, unlink or
// attribute change of a made directory is without a reply.
// Precondition: pc.mu.
func (pc *pathCache) changingAnyLocked() bool {
	return len(pc.dirsChanging) > 0 || len(pc.inosChanging) > 0
}

// changingLocked says whether such a posted change may revoke a lease
// of hold h (its kinds unknown: any may). Precondition: pc.mu.
func (pc *pathCache) changingLocked(h *pathHold) bool {
	if h.kindsUnknown || (h.dir != 0 && pc.dirsChanging[h.dir] > 0) {
		return true
	}
	for _, d := range h.dirs {
		if pc.dirsChanging[d] > 0 {
			return true
		}
	}
	if len(pc.inosChanging) == 0 {
		return false
	}
	if h.ino != 0 && pc.inosChanging[h.ino] > 0 {
		return true
	}
	for _, ino := range h.inos {
		if pc.inosChanging[ino] > 0 {
			return true
		}
	}
	return false
}

// keepMissing keeps the absence of the name an unlink failed to find with
// ENOENT, under key k (the unlink's) and lease l, sent at at: its ret says
// whether the caller may create it (PathLease.creatable).
func (pc *pathCache) keepMissing(k pathKey, l *pb.PathLease, at leaseStamp) {
	m := k
	m.sysno, m.args = missingCall, [3]uint64{}
	var creatable uint64
	if l.Creatable {
		creatable = 1
	}
	pc.keepAnswer(m, l, at, pathAnswer{ret: creatable, errno: unix.ENOENT}, false)
}

// beginCreate returns the inode number of the directory the name of key
// k (missingCall) is missing from, if the cache holds that absence, the
// caller may create the name, and no posted creation in flight may have
// changed that; the directory then counts as changing, and the answers
// under renews as renewed by the reply, until endCreate.
func (pc *pathCache) beginCreate(k pathKey, renews []pathKey) (uint64, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	a := pc.answerLocked(k)
	if a == nil || a.ret != 1 || a.errno != unix.ENOENT {
		return 0, false
	}
	// A copy's absence is not held back by creations in flight in
	// its directory (completenames.go), but by its names.
	if a.copy != nil && !pc.nameCreatedLocked(k, a) || a.copy == nil && pc.blockedLocked(a) {
		return 0, false
	}
	// The server's lease of an unlink's creatable ENOENT is on the
	// names missing in one directory (and searches).
	h := a.holds[0]
	if h == nil || a.holds[1] != nil || h.kindsUnknown || len(h.dirs) != 1 {
		return 0, false
	}
	dir := h.dirs[0]
	// The name will exist: its absence is not answered again (the
	// server revokes the lease, too, before the creation's reply).
	delete(pc.answers, k)
	if pc.dirsChanging == nil {
		pc.dirsChanging = make(map[uint64]int)
	}
	pc.dirsChanging[dir]++
	if pc.renewing == nil && len(renews) > 0 {
		pc.renewing = make(map[pathKey]int)
	}
	for _, r := range renews {
		pc.renewing[r]++
	}
	pc.usedLocked()
	return dir, true
}

// endCreate ends what beginCreate began for directory dir (and the
// answers under renews), and wakes the calls waiting for a creation's
// reply (waitCreations).
func (pc *pathCache) endCreate(dir uint64, renews []pathKey) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dirsChanging[dir]--; pc.dirsChanging[dir] <= 0 {
		delete(pc.dirsChanging, dir)
	}
	for _, r := range renews {
		if pc.renewing[r]--; pc.renewing[r] <= 0 {
			delete(pc.renewing, r)
		}
	}
	if pc.creationDone != nil {
		close(pc.creationDone)
		pc.creationDone = nil
	}
}

// maxCreationWait bounds how long a path call waits for the reply of a
// posted creation that holds its answer back (the thread takes no
// signal meanwhile); then it asks the server.
const maxCreationWait = 100 * time.Millisecond

// waitCreations waits until the reply of a posted creation in flight
// came (at most maxCreationWait): a call whose answer one holds back
// (blockedLocked) and renews (pathCache.renewing: the stat of the
// directory, Reply.parent_stat) is answered from the cache after it
// instead of making a round trip of its own, which the server would
// answer only after the creation. The creation was sent with the next
// call, or is sent now: its reply is at most a round trip away.
func (pc *pathCache) waitCreations() {
	pc.waitCreationsWhile(nil)
}

// waitCreationsWhile is waitCreations until still (called under pc.mu;
// nil: once any creation's reply came) says false: every creation's
// reply wakes the waiters, and one whose own reply has not come yet
// waits on (a loop making d/rN and a file in each: the file's creation
// waits for the mkdir of d/rN, and was woken by the reply of the
// previous round's creation, and went on to wait for a reply of its
// own, and drop every copy).
func (pc *pathCache) waitCreationsWhile(still func() bool) {
	var timer *time.Timer
	for {
		pc.mu.Lock()
		if len(pc.dirsChanging) == 0 || timer != nil && still != nil && !still() {
			pc.mu.Unlock()
			return
		}
		if pc.creationDone == nil {
			pc.creationDone = make(chan struct{})
		}
		done := pc.creationDone
		pc.mu.Unlock()
		if timer == nil {
			if pc.sendHeld != nil {
				// The creation may still be queued (sendWithNext).
				pc.sendHeld()
			}
			pc.creationWaits.Add(1)
			timer = time.NewTimer(maxCreationWait)
			defer timer.Stop()
		}
		select {
		case <-done:
			if still == nil {
				return
			}
		case <-timer.C:
			pc.creationWaitsLate.Add(1)
			return
		}
	}
}

// creationWaitCounts returns the calls that waited for a posted
// creation's reply and those whose wait ran out (none without a cache).
func (pc *pathCache) creationWaitCounts() (waits, late uint64) {
	if pc == nil {
		return 0, 0
	}
	return pc.creationWaits.Load(), pc.creationWaitsLate.Load()
}

// postedCreate is one posted creating open: the posted open's state, the
// directory it changes, the key of its directory's stat answer (wanted:
// its reply may carry it, sent at pathStamp), and its path for the log.
type postedCreate struct {
	open         postedOpen
	dir          uint64
	parentKey    pathKey
	parentWanted bool
	pathStamp    leaseStamp
	path         string
}

// fsShared says whether another process shares pid's fs context (its
// working directory, which a relative path starts at), or pid's is not
// known.
func (ps *pipelineState) fsShared(pid int32) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.procs[pid]
	if !ok || pp.fs == 0 {
		return true
	}
	for other, o := range ps.procs {
		if other != pid && o.fs == pp.fs {
			return true
		}
	}
	return false
}

// creationKey returns the missing-name key of the path of t's creation
// call of shape shape, if the creation may be posted: a path without a
// trailing slash (a mkdir's, dir set, may have them: the key is the path
// without them), nothing posted in flight that may change a directory
// (pathAnswerScope's dirs), and an fs context (the cwd a relative path
// starts at) no other process shares.
func (t *task) creationKey(shape pathCallShape, args [6]uint64, dir bool) (pathKey, bool) {
	k, ok := t.pathKeyShaped(missingCall, shape, args)
	if ok && dir {
		k.path, ok = dirPathKey(k.path)
	}
	if !ok || strings.HasSuffix(k.path, "/") {
		return pathKey{}, false
	}
	if _, dirs := t.pathAnswerScope(); !dirs || t.c.pipe.fsShared(t.proc.pid) {
		return pathKey{}, false
	}
	// A copy's absence (beginCreate) holds no lease on the directories
	// above the copy's.
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.walksSettledLocked(true, t.proc.pid) {
		return pathKey{}, false
	}
	return k, true
}

// postCreate posts an open that creates a name known to be missing, if it
// may (see above), and returns its fd.
func (t *task) postCreate(sysno uintptr, args [6]uint64) (uint64, bool) {
	pc := t.c.pcache
	if pc == nil || t.c.cfg.NoPostedOpens || t.c.cfg.NoPostedCreates {
		return 0, false
	}
	var shape pathCallShape
	var flags uint32
	switch sysno {
	case unix.SYS_OPEN:
		shape, flags = pathCallShape{dirfd: -1, path: 0, buf: -1, size: -1}, uint32(args[1])
	case unix.SYS_OPENAT:
		shape, flags = pathCallShape{dirfd: 0, path: 1, buf: -1, size: -1}, uint32(args[2])
	default:
		return 0, false
	}
	if flags&unix.O_CREAT == 0 || flags&^uint32(postedCreateFlags) != 0 || flags&unix.O_ACCMODE == unix.O_ACCMODE {
		return 0, false
	}
	// As for a read-only open: with several threads, while every other
	// thread's call in flight is neutral (threadorder.go); the post is
	// then marked after_posted.
	p, ok := t.lockOpenOrder()
	if !ok {
		return 0, false
	}
	defer p.unlockOrder()
	k, ok := t.creationKey(shape, args, false)
	if !ok {
		return 0, false
	}
	limit, ok := t.c.pipe.fdLimit(t.proc.pid)
	if !ok {
		return 0, false
	}
	parentKey, parentWanted := t.parentStatKey(sysno, args)
	var renews []pathKey
	if parentWanted {
		renews = parentKeys(parentKey)
	}
	pc.awaitCopy(k)
	// As for a posted open: a creation posted on an answer whose
	// revocation announces a change (another sandbox's chmod of the
	// directory) is on the stream before that revocation's
	// acknowledgment, so the server makes it before the change.
	t.c.opens.revoking.RLock()
	defer t.c.opens.revoking.RUnlock()
	t.keepCopyAbsence(k)
	dir, ok := pc.beginCreate(k, renews)
	if !ok {
		return 0, false
	}
	prov := provisionalDesc | t.c.opens.next.Add(1)
	table, fd, ok := t.c.ids.reserveOpen(t.proc.pid, prov, limit, flags&unix.O_CLOEXEC != 0)
	if !ok {
		pc.endCreate(dir, renews)
		return 0, false
	}
	born := t.c.rcache.creationSent()
	ps := &t.c.pipe
	ps.mu.Lock()
	if ps.files == nil {
		ps.files = make(map[uint64]pipeFile)
	}
	ps.files[prov] = pipeFile{gofer: true, regular: true, flags: sysabi.OpenFlags(flags) & sysabi.KeptOpenFlags, handle: createdHandleOf(prov)}
	if ps.createdAt == nil {
		ps.createdAt = make(map[string]creationMark)
	}
	ps.createdAt[createdHandleOf(prov)] = creationMark{mappedSeq: ps.mappedSeq, born: born}
	ps.noteBornLocked(prov, born)
	ps.mu.Unlock()
	t.c.rcache.addProvisional(prov)
	t.noteOpen(sysno, args, uint64(fd))
	pcr := postedCreate{
		open: postedOpen{table: table, fd: fd, desc: prov, stamp: t.c.rcache.stamp()},
		dir:  dir, parentKey: parentKey, parentWanted: parentWanted, pathStamp: pc.stamp(), path: k.path,
	}
	// The file is new and empty: its copy starts now (ownedfile.go),
	// so that the description's writes behind go into it from the
	// first; the reply brings the owned lease, which holds if nothing
	// was written meanwhile (the lease's size is the creation's), else
	// the first lseek or read asks for it again.
	owned := t.ownedOpenWanted(sysno, args)
	if owned {
		t.c.rcache.startCopy(prov, nil, leaseStamp{})
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	call := &pb.Call{Tid: t.tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: int32(sysno), Args: args[:], Inputs: toPBRegions(inputs), Posted: true,
		InstallFd: &fd, PathLeaseWanted: parentWanted, OwnedWanted: owned,
	}}}
	if !t.c.conn.Post(call, func(r *pb.Reply) { t.c.createDone(pcr, r) }) {
		// Recovering: the open waits as usual.
		t.c.createDone(pcr, nil)
		return 0, false
	}
	// Sent with the next call, not in a frame of its own: cp fstats
	// each copy it creates (a waited call, which takes it along, and
	// whose reply brings the creation's), tar writes to each member (a
	// posted call, which sends the queue at once); a call that waits for
	// its reply sends it (waitCreations).
	t.c.conn.sendWithNext()
	t.posted = true
	t.c.opens.created.Add(1)
	t.c.meta.learnCreated(t, sysno, args, prov, born)
	return uint64(fd), true
}

// createDone settles posted creation pcr with its reply (nil: it was
// never sent), on the receiving goroutine after the reply's records were
// folded (the new description's among them).
func (c *client) createDone(pcr postedCreate, r *pb.Reply) {
	po := pcr.open
	opened := r != nil && r.Errno == 0
	if real := r.GetOpenedFile(); opened && real != 0 {
		created := createdHandleOf(po.desc)
		c.pipe.mu.Lock()
		f, known := c.pipe.files[real]
		if known && f.handle == "" {
			// A file without a gofer handle: it stays known by the
			// creation's (pipelineState.createdHandles).
			if c.pipe.createdHandles == nil {
				c.pipe.createdHandles = make(map[uint64]string)
			}
			c.pipe.createdHandles[real] = created
			f.handle = created
			c.pipe.files[real] = f
		}
		c.pipe.noteBornLocked(real, c.pipe.born[po.desc])
		h := f.handle
		if h != created {
			delete(c.pipe.createdAt, created)
		}
		c.pipe.mu.Unlock()
		if h != created {
			c.rcache.aliasHandle(created, h)
		}
		// The new file is its own (postopen.go's tokens).
		c.opens.setToken(po.desc, 0, real)
	}
	if !opened {
		c.pipe.mu.Lock()
		delete(c.pipe.createdAt, createdHandleOf(po.desc))
		c.pipe.mu.Unlock()
	}
	c.openDone(po, r)
	var renews []pathKey
	if pcr.parentWanted {
		renews = parentKeys(pcr.parentKey)
		if opened && r.PathLease != nil {
			// Kept before the waiting calls wake (endCreate).
			c.pcache.keepParent(pcr.parentKey, r, pcr.pathStamp)
		}
	}
	c.pcache.endCreate(pcr.dir, renews)
	if r != nil && r.Errno != 0 {
		c.log.Warn("a posted creating open failed; the application's calls on its fd get EBADF",
			"path", pcr.path, "fd", po.fd, "errno", unix.Errno(r.Errno).Error())
	}
}

// settled returns the server's description of a posted open's or
// creation's provisional desc once its reply named it, else desc.
func (rc *readCache) settled(desc uint64) uint64 {
	if rc == nil || desc&provisionalDesc == 0 {
		return desc
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if real := rc.provisional[desc]; real != 0 {
		return real
	}
	return desc
}

// aliasedHandle is where the writes behind posted under a posted
// creation's handle are counted now (readCache.aliases), and how many
// are left.
type aliasedHandle struct {
	to   string
	left int
}

// maxAliases bounds readCache.aliases; beyond it, those with no write
// left are forgotten.
const maxAliases = 1024

// aliasHandle counts the writes behind without a reply posted under
// handle from (a posted creation's) under to, the file's gofer handle,
// from now on, and those posted under from later too.
func (rc *readCache) aliasHandle(from, to string) {
	if rc == nil || to == "" {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := rc.dataPosted[from]
	delete(rc.dataPosted, from)
	if n > 0 {
		rc.dataPosted[to] += n
	}
	if rc.aliases == nil || len(rc.aliases) >= maxAliases {
		for h, a := range rc.aliases {
			if a.left <= 0 {
				delete(rc.aliases, h)
			}
		}
		if rc.aliases == nil {
			rc.aliases = make(map[string]aliasedHandle)
		}
	}
	rc.aliases[from] = aliasedHandle{to: to, left: n}
}

// aliasLocked returns the handle a posting to the file of handle h is
// counted under (h, or the gofer handle of a posted creation's file
// whose reply came). Precondition: rc.mu.
func (rc *readCache) aliasLocked(h string) string {
	if a, ok := rc.aliases[h]; ok {
		return a.to
	}
	return h
}

// aliasEndLocked returns the handle the posting under h that ended was
// counted under (postEnd), counting it done. Precondition: rc.mu.
func (rc *readCache) aliasEndLocked(h string) string {
	a, ok := rc.aliases[h]
	if !ok {
		return h
	}
	// Kept with no write left (a posting under h after the alias is
	// counted under a.to): aliasHandle forgets it.
	a.left--
	rc.aliases[h] = a
	return a.to
}

// learnCreated notes that t's posted open of a name (sysno, args)
// created description desc's file: its chown, chmod and utimensat are
// posted as after a waited O_CREAT|O_EXCL open's (before, after). born
// is the creation's number (readCache.creationSent).
func (mp *metaPipeline) learnCreated(t *task, sysno uintptr, args [6]uint64, desc, born uint64) {
	ids, ok := t.ownIDs()
	if !ok {
		return
	}
	var name string
	if sysno == unix.SYS_OPEN {
		name, ok = t.pathAt(args[0])
	} else {
		name, ok = t.pathAtDir(int32(args[0]), args[1])
	}
	if !ok {
		name = ""
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.unsafeInFlight > 0 || mp.noFSID[t.proc] {
		return
	}
	mp.noteCreatedLocked(t.proc, name, desc, createdFile{owner: ids.euid, regular: true, born: born})
}

// sendWithNext makes the queue of posted calls go with the next call:
// sent with the next call posted, or taken along by the next waited one
// (or, if none comes, by the queue's timer).
func (s *remoteSession) sendWithNext() { s.sendAtNextPost.Store(true) }

// sendHeld sends the posted calls queued on the connection now if a
// call among them waits for the next (sendWithNext); else, they wait for
// company as usual (tar's calls after the write that sent its creation,
// while its stat of the directory waits for the creation's reply).
func (s *remoteSession) sendHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendHeldLocked()
}

// sendHeldLocked is sendHeld with s.mu held. Precondition: s.mu.
func (s *remoteSession) sendHeldLocked() {
	if s.sendAtNextPost.Swap(false) && !s.recovering && s.fatal == nil {
		s.conn.SendPosted()
	}
}

// sendPosted sends the posted calls queued on the connection now
// (transport's SendPosted); a failed send is the recovery's, as Post's.
func (s *remoteSession) sendPosted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering || s.fatal != nil {
		return
	}
	s.conn.SendPosted()
}
