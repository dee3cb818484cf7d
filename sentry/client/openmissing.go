package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Opens of missing files (docs/ARCHITECTURE.md, "The client's path
// cache").
//
// gcc looks for each header in every directory of its include path and
// for its locale files in several places, and each of the compilers,
// assemblers and linkers a make runs does it again: 539 waited opens
// failing ENOENT of 89 paths in a make -j2 of 9 files. The server
// grants a path lease for a read-only open that fails ENOENT as for a
// stat that does (the directories searched and the name missing in the
// last: the walk's leases), so the client keeps that answer of such an
// open (openToKeep) under the same key as a successful
// open's (openKeyOf: path, start, credentials, flags but O_CLOEXEC) and
// fails the same open with ENOENT while the leases hold and the walk's
// answers may be given (pathAnswerScope's dirs: a walk that failed
// ENOENT searched directories only, which posted changes of regular
// files do not change). A creation of the name, by this sandbox or
// another, revokes the missing name's lease before its reply.

// keepMissingOpen keeps the answer of a waited read-only open of key k
// (made for the first time: openToKeep), sent at at, that failed ENOENT
// under a path lease.
func (t *task) keepMissingOpen(k pathKey, first bool, reply *pb.Reply, at leaseStamp) {
	l := reply.PathLease
	if unix.Errno(reply.Errno) != unix.ENOENT || l == nil || l.Id == 0 || l.TtlMs == 0 {
		return
	}
	a := pathAnswer{errno: unix.ENOENT}
	a.own.unasked = first
	t.c.pcache.keepAnswer(k, l, at, a, false)
}

// cachedMissingOpen reports whether t's read-only open fails ENOENT by a
// kept answer of the same open.
func (t *task) cachedMissingOpen(sysno uintptr, args [6]uint64) bool {
	k, _, ok := t.openKeyOf(sysno, args)
	if !ok {
		return false
	}
	if _, dirs := t.pathAnswerScope(); !dirs {
		return false
	}
	// The fd comes first: a full table fails EMFILE.
	if limit, ok := t.c.pipe.fdLimit(t.proc.pid); !ok || !t.c.ids.hasFreeFD(t.proc.pid, limit) {
		return false
	}
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	a := pc.keptLocked(k, t.proc.pid)
	if a == nil {
		a = pc.missingPrefixLocked(k, t.proc.pid)
	}
	if a == nil || a.errno != unix.ENOENT || pc.blockedLocked(a) {
		return false
	}
	t.answeredLocked(pc)
	return true
}

// cachedMissingExec reports whether t's execve fails ENOENT by a kept
// answer that its path is under a missing name, or that the name it
// looks up in a directory whose names the answer brought is not among
// them (missingprefix.go): the remote sentry's execve reads its path
// (pathKeyOf read it too: readable, shorter than PATH_MAX) and then
// walks it with the fs ids, following symbolic links, as a read-only
// open does, before it reads argv and envp (as Linux since 6.8), and
// fails at that name: make's and gcc's execvp of each program in each
// PATH directory before the one that has it.
func (t *task) cachedMissingExec(args [6]uint64) bool {
	pc := t.c.pcache
	if pc == nil {
		return false
	}
	if _, dirs := t.pathAnswerScope(); !dirs {
		return false
	}
	k, ok := t.pathKeyOf(postedOpenKey, [6]uint64{atFDCWD, args[0], unix.O_RDONLY})
	if !ok {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.missingPrefixLocked(k, t.proc.pid) == nil {
		return false
	}
	t.answeredLocked(pc)
	return true
}
