package client

import (
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Posted attribute changes of the directories this client made
// (docs/ARCHITECTURE.md, "The client's path cache", Posted mkdir).
//
// tar makes each directory (a posted or waited mkdir), then posts its
// chown, chmod and utimensat (metapipe.go). Counted as changes of a file
// not known (readCache.attrsPostedAny), they held every answer of the
// path cache back until their replies, and tar's stat of the parent
// directory, whose answer the mkdir's reply had brought (parent_stat),
// went to the server: a waited call per directory made.
//
// The mkdir's reply names the new directory's inode (the lease on its
// complete names is on it: Reply.complete_names.inos). From then on the
// directory's posted attribute changes are counted by that inode, in
// pathCache.inosChanging as posted removals are: until their replies,
// no answer holding a lease on it is given (its stat, a walk through it,
// its entry in a listing: blockedLocked), and the others are, as a mode,
// owner or times change of one inode changes no answer that touched no
// lease of it (a walk that searched it holds its search lease). A change
// posted before the mkdir's reply is counted as any file's until that
// reply, and moved to the inode then (madeDirReplied): a stat waiting for
// the reply to renew its answer (the parent's) is answered after it
// (cachedPath). A mkdir whose reply names no inode (complete names not
// granted, a failure, a recovery before it) leaves its directory's
// changes counted as any file's.
//
// The copies of complete names (completenames.go) model the holder's
// mode changes of their own directory, not of those above it, and a
// copy's answer holds no lease on them: while a change counted by inode
// is unanswered, a copy answers only a caller that may search any
// directory (walksSettledLocked), as while one counted as any file's is.

// madeDir is a directory a process made (the createdFile of its mkdir,
// metapipe.go): the inode its mkdir's reply named, and the posted
// attribute changes of it counted as any file's until then. Its fields
// are protected by pathCache.mu.
type madeDir struct {
	// replied says the mkdir's reply came (or never will: a failed
	// post); ino is the inode it named (0: none).
	replied bool
	ino     uint64
	// pending counts the posted changes of it counted as any file's
	// (readCache.attrsPostedAny) while the reply had not come.
	pending int
}

// dirAttrsPosting is one posted attribute change of a made directory,
// for dirAttrsEnd.
type dirAttrsPosting struct {
	dir *madeDir
	// byIno says it was counted by inode when posted; else any is its
	// count as any file's, and pending says it was among
	// madeDir.pending.
	byIno   bool
	any     posting
	pending bool
}

// madeDirIno returns the inode of the directory a mkdir's reply r says
// it made (0: none named).
func madeDirIno(r *pb.Reply) uint64 {
	if r == nil || r.Errno != 0 {
		return 0
	}
	if inos := r.GetCompleteNames().GetInos(); len(inos) == 1 {
		return inos[0]
	}
	return 0
}

// madeDirReplied notes the reply of md's mkdir, which named inode ino (0:
// none): the changes of md counted as any file's in rc until now are
// counted by ino. Once only (a second call changes nothing).
func (pc *pathCache) madeDirReplied(rc *readCache, md *madeDir, ino uint64) {
	if pc == nil || md == nil {
		return
	}
	pc.mu.Lock()
	if md.replied {
		pc.mu.Unlock()
		return
	}
	md.replied, md.ino = true, ino
	n := md.pending
	md.pending = 0
	pc.dirAttrsPending -= n
	if ino != 0 && n > 0 {
		pc.changingInoLocked(ino, n)
		pc.dirAttrsByIno += n
	}
	pc.mu.Unlock()
	if ino != 0 && n > 0 {
		// Counted by inode first: the change is held back all along.
		rc.attrsAnyMoved(n)
	}
}

// dirAttrsBegin counts a posted attribute change of made directory md,
// about to be posted (see above); the caller calls dirAttrsEnd with what
// it returns after its reply, or if it was not posted.
func (pc *pathCache) dirAttrsBegin(rc *readCache, md *madeDir) dirAttrsPosting {
	// As any file's first: counted so all along, whatever the mkdir's
	// reply does meanwhile.
	d := dirAttrsPosting{dir: md, any: rc.postBegin(attrsChange, "", 0, 0)}
	pc.mu.Lock()
	switch {
	case md.replied && md.ino != 0:
		pc.changingInoLocked(md.ino, 1)
		pc.dirAttrsByIno++
		d.byIno = true
	case !md.replied:
		md.pending++
		pc.dirAttrsPending++
		d.pending = true
	}
	pc.mu.Unlock()
	if d.byIno {
		rc.postEnd(d.any)
		d.any = posting{}
	}
	return d
}

// dirAttrsEnd ends what dirAttrsBegin began.
func (pc *pathCache) dirAttrsEnd(rc *readCache, d dirAttrsPosting) {
	pc.mu.Lock()
	// A change counted as any file's while pending was moved to the
	// inode if the mkdir's reply named one.
	moved := d.pending && d.dir.replied && d.dir.ino != 0
	switch {
	case d.byIno || moved:
		pc.changingInoLocked(d.dir.ino, -1)
		pc.dirAttrsByIno--
	case d.pending && !d.dir.replied:
		d.dir.pending--
		pc.dirAttrsPending--
	}
	pc.mu.Unlock()
	if !d.byIno && !moved {
		rc.postEnd(d.any)
	}
}

// changingInoLocked adds n to the changes of inode ino in flight
// (inosChanging), forgetting it at 0. Precondition: pc.mu.
func (pc *pathCache) changingInoLocked(ino uint64, n int) {
	if pc.inosChanging == nil {
		pc.inosChanging = make(map[uint64]int)
	}
	if pc.inosChanging[ino] += n; pc.inosChanging[ino] <= 0 {
		delete(pc.inosChanging, ino)
	}
}

// walksSettledLocked says whether no posted change without a reply may
// have taken the permission to search a directory away from process
// pid's walks, for the answers that hold no lease on the directories
// above their own (a copy of complete names): dirs (pathAnswerScope's:
// none of a file not known) and none of a made directory counted by
// inode, or pid may search any directory. Precondition: pc.mu.
func (pc *pathCache) walksSettledLocked(dirs bool, pid int32) bool {
	return dirs && pc.dirAttrsByIno == 0 || pc.searchAll[pid]
}

// postDirAttrs posts call, an attribute change of made directory md
// (pipelineMeta), with done for its reply; false: not posted.
func (t *task) postDirAttrs(call *postedCall, done func(*pb.Reply), md *madeDir) bool {
	pc, rc := t.c.pcache, t.c.rcache
	d := pc.dirAttrsBegin(rc, md)
	ended := func(r *pb.Reply) {
		pc.dirAttrsEnd(rc, d)
		done(r)
	}
	if !t.postChange(call, ended, "", 0, noChange, 0) {
		pc.dirAttrsEnd(rc, d)
		return false
	}
	return true
}

// attrsAnyMoved takes n posted attribute changes counted as any file's
// (attrsChange) out of the counts: they are counted by inode now
// (madeDirReplied).
func (rc *readCache) attrsAnyMoved(n int) {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attrsPosted -= n
	rc.attrsPostedAny -= n
}
