package client

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Names under a missing name (docs/ARCHITECTURE.md, "The client's path
// cache").
//
// gcc looks for each header in each directory of its include path, and
// several of those do not exist (/usr/local/include/bits,
// /usr/local/include/sys, ...): after one walk found such a directory
// missing, every path under it fails ENOENT at the same component
// (52 of the 1,640 waited calls of a make -j2 of 9 files). A walk that
// failed ENOENT searched the same directories, with the same
// credentials, from the same start, as the walk of any longer path that
// begins with the same components would before it reaches the missing
// one (a last component is looked up as an inner one is, and a dangling
// symbolic link that ended the first walk is followed by the second
// too); the answer's leases cover the directories searched and their
// names. So while the ENOENT answer of a path P (stat, lstat,
// newfstatat, statx, readlink, readlinkat, or a read-only open: calls
// that walk with the caller's fs ids) holds, the same calls of P/Q, same
// start and credentials, fail ENOENT on the client (access walks with the
// real ids: not among them). pathCache.missing indexes those answers by
// path, start and credentials.

// missingFrom are the key numbers (pathKey.sysno) of the answers whose
// ENOENT says a path's walk found a name missing, and of the calls
// answered from a missing prefix: those that walk with the fs ids.
var missingFrom = map[uintptr]bool{
	unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true, unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
	postedOpenKey: true,
}

// missingKey is what a walk's failure depends on: the path, its start
// and the caller's credentials.
type missingKey struct {
	creds, start, path string
}

// missingRef is a kept ENOENT answer (and its key) that says its path is
// missing.
type missingRef struct {
	key    pathKey
	answer *pathAnswer
}

// noteMissingLocked indexes answer a, kept under k, if it says k's path
// is missing. Precondition: pc.mu.
func (pc *pathCache) noteMissingLocked(k pathKey, a *pathAnswer) {
	if a.errno != unix.ENOENT || a.copy != nil || !missingFrom[k.sysno] {
		return
	}
	if pc.missing == nil || len(pc.missing) >= maxPathAnswers/4 {
		pc.missing = make(map[missingKey]missingRef)
	}
	pc.missing[missingKey{creds: k.creds, start: k.start, path: strings.TrimRight(k.path, "/")}] = missingRef{key: k, answer: a}
}

// missingPrefixLocked returns a live ENOENT answer of a proper prefix of
// k's path (ending before a slash), same start and credentials, if k is
// a call it answers (see above). Precondition: pc.mu.
func (pc *pathCache) missingPrefixLocked(k pathKey) *pathAnswer {
	if len(pc.missing) == 0 || !missingFrom[k.sysno] {
		return nil
	}
	for i := 1; i < len(k.path); i++ {
		if k.path[i] != '/' || k.path[i-1] == '/' {
			continue
		}
		ref, ok := pc.missing[missingKey{creds: k.creds, start: k.start, path: k.path[:i]}]
		if !ok {
			continue
		}
		// Still the answer kept under its key (so its holds hear
		// revocations), neither revoked nor expired.
		if pc.answerLocked(ref.key) != ref.answer || pc.blockedLocked(ref.answer) {
			continue
		}
		return ref.answer
	}
	return nil
}
