package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Posted mkdir (docs/COMPATIBILITY.md, "Pipelined calls").
//
// A mkdir or mkdirat of a name (its path's trailing slashes dropped:
// dirPathKey) whose absence the path cache holds,
// creatable (an unlink's ENOENT under the server's lease, or a copy of
// the complete names of the directory this client made:
// completenames.go), is decided: the name is missing (no EEXIST), the
// mount is writable and the caller may write and search the directory
// (no EROFS, EACCES), and no mode makes a mkdir fail. It is answered 0
// and posted, under the same conditions as a posted creating open
// (postcreate.go: a process whose fd table and fs context are its own,
// of several threads while every other thread's call in flight is
// neutral, nothing posted that may change a directory), and
// sent with the next call. What it cannot know is what a posted creation cannot: a
// full disk or quota, the directory's link limit (EMLINK), a failing
// gofer, a change the server did not make within the lease's last
// second; such a failure is logged (the application was told it
// succeeded). A copy that says the caller may search the directory but
// not write it fails the mkdir with EACCES here, as Linux after its
// lookup found no such name (the copy's owner bits are the caller's);
// the server's creatable false may mean other things, and waits.
//
// Until its reply: the parent directory counts as changing
// (pathCache.dirsChanging: no answer leasing its attributes or missing
// names is given), and the stat of the parent and a mkdir of the same
// path wait for the reply (pathCache.renewing), which brings the
// parent's new stat answer (Reply.parent_stat) and the new directory's
// complete names (Reply.complete_names: the copy, which then answers
// that mkdir EEXIST and the unlinks and creations in it). Nothing of the
// new directory itself (its inode, attributes) is answered before the
// reply: a stat of it goes to the server, after the mkdir on its ordered
// queue. The process may post chown, chmod and utimensat of the new
// name, as after a waited mkdir (metapipe.go).
//
// Recovery: the mkdir is in the session's calls in flight from its
// posting (before the application sees 0) until its reply, so a
// recovery re-sends it with its seq; the gofer's reply cache answers a
// mkdir made before the server died.

// mkdirShapes are the mkdir calls that may be posted.
var mkdirShapes = existsShapes

// postMkdir answers t's mkdir or mkdirat 0 and posts it, if the cache
// decides it succeeds (see above), and reports whether it did; or fails
// it with EACCES, by a copy of the complete names of the directory the
// caller made that says the name is missing and the caller may search
// the directory but not write it (errno EACCES, ok true).
func (t *task) postMkdir(sysno uintptr, args [6]uint64) (errno unix.Errno, ok bool) {
	shape, ok := mkdirShapes[sysno]
	pc := t.c.pcache
	if !ok || pc == nil || t.c.cfg.NoPostedOpens || t.c.cfg.NoPostedCreates {
		return 0, false
	}
	// As for a creation: with several threads, while every other
	// thread's call in flight is neutral (threadorder.go).
	p, ok := t.lockOpenOrder()
	if !ok {
		return 0, false
	}
	defer p.unlockOrder()
	k, ok := t.creationKey(shape, args, true)
	if !ok {
		return 0, false
	}
	// The reply's answers: the parent's stat, the new directory's
	// existence (the copy of its names, with the caller's umask).
	parentKey, parentWanted := t.parentStatKey(sysno, args)
	existsKey := k
	existsKey.sysno = existsCall
	umask, umaskKnown := t.knownUmask()
	var renews []pathKey
	if parentWanted {
		renews = append(parentKeys(parentKey), existsKey)
	}
	pc.awaitCopy(k)
	// As for a posted open: on the stream before the acknowledgment of
	// a revocation of the answer it relied on.
	t.c.opens.revoking.RLock()
	defer t.c.opens.revoking.RUnlock()
	t.keepCopyAbsence(k)
	if t.copyForbids(k) {
		return unix.EACCES, true
	}
	dir, ok := pc.beginCreate(k, renews)
	if !ok {
		return 0, false
	}
	names := t.namesBefore(sysno, args)
	mc := t.c.meta.before(t, sysno, args)
	stamp := pc.stamp()
	path := k.path
	ownerMode := mkdirMode(sysno, args) &^ umask & 0o700
	done := func(r *pb.Reply) {
		if parentWanted && r != nil && r.Errno == 0 && r.PathLease != nil {
			// Kept before the waiting calls wake (endCreate).
			pc.keepParent(parentKey, r, stamp)
			if umaskKnown {
				pc.keepNamesCopy(existsKey, ownerMode, r, stamp)
			}
		}
		// Before the waiting calls wake too: the stat of the parent
		// waits for the directory's inode as well as for its answer.
		pc.madeDirReplied(t.c.rcache, mc.dir, madeDirIno(r))
		pc.endCreate(dir, renews)
		if r != nil && r.Errno != 0 {
			t.c.log.Warn("a posted mkdir failed; the application was told it succeeded",
				"path", path, "errno", unix.Errno(r.Errno).Error())
		}
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	call := &pb.Call{Tid: t.tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: int32(sysno), Args: args[:], Inputs: toPBRegions(inputs), Posted: true,
		PathLeaseWanted: parentWanted,
	}}}
	if !t.c.conn.Post(call, done) {
		// Recovering: the mkdir waits as usual.
		done(nil)
		t.c.meta.after(t, mc, sysno, args, 0, unix.EAGAIN)
		return 0, false
	}
	// The new name is the process's, as after a waited mkdir.
	t.c.meta.after(t, mc, sysno, args, 0, 0)
	// Sent with the next call (as a creation: postcreate.go): cp -r
	// lstats each directory it makes right after (a waited call, which
	// takes it along); the stat of the parent and a mkdir of the same
	// path wait for its reply, and send it (waitCreations).
	t.c.conn.sendWithNext()
	pc.namesAfter(names, nil)
	t.posted = true
	t.c.opens.mkdirs.Add(1)
	return 0, true
}

// copyForbids says whether the absence kept under missing-name key k is
// a copy's (completenames.go) that says the caller may not make the name:
// it may search the directory (the copy answers only then) but not
// write it, so Linux's mkdir fails EACCES (after its lookup found no
// such name, on a writable mount: the caller made the directory there).
func (t *task) copyForbids(k pathKey) bool {
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	a := pc.answerLocked(k)
	if a == nil || a.copy == nil || !a.copy.live() || a.ret != 0 || a.errno != unix.ENOENT {
		return false
	}
	_, name := splitName(k.path)
	_, exists := a.copy.names[name]
	if exists {
		return false
	}
	t.answeredLocked(pc)
	return true
}
