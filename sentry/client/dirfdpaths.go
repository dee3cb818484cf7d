package client

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Paths of directories opened relative to a dirfd (docs/ARCHITECTURE.md,
// "The client's path cache", "fts walks").
//
// GNU find, rm -r, du and chmod -R walk a tree with fts: each
// subdirectory is opened relative to its parent's fd
// (openat(fd, name, O_DIRECTORY|O_NOFOLLOW)), never by path. Such a
// description had no path a listing could name (Syscall.listing_path),
// so its getdents64 was never answered from a listing ahead, and its
// open, whose provisional description's listing would have been kept
// under an id no later call names, always waited.
//
// A directory opened by name relative to the fd of a description D the
// client knows by path P (openPaths) is P/name when the lstat answer of
// name relative to D came from a listing of D by path (fdAnswerLocked:
// the server checked, when it listed, that P named D's directory, and
// the listing's leases hold since; any rename on the walk to P/name
// revokes them before its reply). The existence answer that listing kept
// beside it, held by the walk and the name alone (a change inside the
// directory leaves it), is the new description's proof
// (pathCache.pathProofs): while it holds, P/name names the directory the
// open found, so a listing ahead of P/name lists it (aheadKeyLocked
// checks the proof before answering), a name under P/name answers for
// the new fd (listedForLocked), and such a directory's open may be
// posted from that answer as one by path is (statOpenAnswer). A ".."
// gets the path above a proven one whose last name is known to be a
// directory (parentPathLocked). A getdents64 by that path needs no
// proof: the server checks the path itself.
//
// A description whose getdents64 was answered from a listing ahead
// (dirahead.go answerAhead) answers the lstat of its entries relative to
// its fd from that listing (pathCache.aheadListed): its directory was the
// listing's when answered, and the listing's leases hold since.

// maxPathProofs bounds pathCache.pathProofs and pathCache.aheadListed;
// beyond it, all are forgotten.
const maxPathProofs = 4096

// pathProof is the kept answer (under key: the existence answer of the
// path, or its lstat answer) that showed a directory opened relative to
// a dirfd was at the path openPaths names.
type pathProof struct {
	key pathKey
	a   *pathAnswer
}

// liveLocked says whether the proof's answer still holds: still kept
// under its key, none of its leases revoked or expired. Precondition:
// pc.mu.
func (p pathProof) liveLocked(pc *pathCache) bool {
	return p.a != nil && pc.answerLocked(p.key) == p.a
}

// dirfdPathLocked returns the path (as openPaths keeps it) of the
// directory an open of key k (openKeyOf's: relative to the fd of
// description D, "fd D", of process pid) opens, and its proof: D's
// path and k's name, if the lstat answer of that name relative to D is
// a directory's, kept by a listing of D by path (fdAnswerLocked).
// Precondition: pc.mu.
func (pc *pathCache) dirfdPathLocked(k pathKey, pid int32) (string, pathProof, bool) {
	if !strings.HasPrefix(k.start, "fd ") || k.path == "" || k.path == "." || strings.ContainsRune(k.path, '/') {
		return "", pathProof{}, false
	}
	if k.path == ".." {
		return pc.parentPathLocked(k)
	}
	sk := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: k.creds, start: k.start, path: k.path, args: lstatArgs}
	a, key := pc.fdAnswerKeyLocked(sk, pid)
	if dir, known := isDirAnswer(a); !known || !dir {
		return "", pathProof{}, false
	}
	// fdAnswerLocked found it under dir's path: key.path is dir/name.
	return key.path, pc.proofOfLocked(key, a), true
}

// isDirAnswer says whether a, a successful stat answer, is a directory's
// (known false: no answer, a failure, or too short).
func isDirAnswer(a *pathAnswer) (dir, known bool) {
	var st linux.Stat
	if a == nil || a.errno != 0 || len(a.out) < st.SizeBytes() {
		return false, false
	}
	st.UnmarshalBytes(a.out)
	return st.Mode&linux.S_IFMT == linux.S_IFDIR, true
}

// existsKeyOf returns the key of the existence of the path of key k.
func existsKeyOf(k pathKey) pathKey {
	k.sysno, k.args = existsCall, [3]uint64{}
	return k
}

// proofOfLocked returns the proof that the path of key (an lstat's)
// names the directory whose answer a is: the existence answer the same
// listing kept beside it (remembered in dirNames), which holds while the
// name does (the walk, the entry's name) and not its attributes, so that
// a change inside the directory (rm -r's unlink of each of its files and
// rmdir of each subdirectory moves its mtime and link count) leaves it;
// else a itself. Precondition: pc.mu.
func (pc *pathCache) proofOfLocked(key pathKey, a *pathAnswer) pathProof {
	ek := existsKeyOf(key)
	if e := pc.answerLocked(ek); e != nil && e.holds[0] != nil && e.holds[0] == a.holds[0] {
		pc.noteDirNameLocked(ek, e, a)
		return pathProof{key: ek, a: e}
	}
	return pathProof{key: key, a: a}
}

// dirNameLiveLocked says whether the existence answer kept under key k
// is one known to be a directory's (pathCache.dirNames) and holds: an
// existence answer that replaces it now is that directory's too (both
// hold at once, so the name names the same inode). Precondition: pc.mu.
func (pc *pathCache) dirNameLiveLocked(k pathKey) bool {
	d := pc.dirNames[k]
	return d.e != nil && pc.answerLocked(k) == d.e
}

// dirName is a directory's existence answer in pathCache.dirNames, with
// the directory's mode and owner as its lstat answer said (modeKnown).
// The existence answer holds the lease on the directory's search
// (readlease.PathSearch: a listing's entry's first lease, a walk's search
// leases), which every change of the inode revokes but a name made or
// removed in it: while e holds, so do the mode and owner, though the
// lstat answer went with the first change inside the directory.
type dirName struct {
	e         *pathAnswer
	modeKnown bool
	mode      uint32
	uid, gid  uint32
}

// noteDirNameLocked remembers existence answer e, under key ek, as one
// of a name an lstat answer said was a directory (pathCache.dirNames):
// a, kept with it, is such an answer, or e replaces the entry's
// existence answer while that held (dirNameLiveLocked before e was
// kept: both held at once, so the name names the same inode, unchanged).
// The directory's mode and owner are a's, else the entry's. Precondition:
// pc.mu.
func (pc *pathCache) noteDirNameLocked(ek pathKey, e, a *pathAnswer) {
	d := dirName{e: e}
	var st linux.Stat
	if dir, _ := isDirAnswer(a); dir {
		st.UnmarshalBytes(a.out)
		d.modeKnown, d.mode, d.uid, d.gid = true, st.Mode, st.UID, st.GID
	} else if old := pc.dirNames[ek]; old.modeKnown {
		d.modeKnown, d.mode, d.uid, d.gid = true, old.mode, old.uid, old.gid
	}
	if pc.dirNames == nil || len(pc.dirNames) >= maxPathProofs {
		pc.dirNames = make(map[pathKey]dirName)
	}
	pc.dirNames[ek] = d
}

// dirModeLocked returns the mode and owner of the directory lstat key
// lk's path names, from its kept lstat answer (keptStatLocked's, for
// process pid under modesFrom from) or, that answer gone, from its
// existence answer in dirNames while that holds (see dirName): rm -r's
// removals inside a directory revoke the first, not the second.
// Precondition: pc.mu.
func (pc *pathCache) dirModeLocked(lk pathKey, pid int32, from uint64) (linux.Stat, bool) {
	if _, st, _, ok := pc.keptStatLocked(lk, pid, from); ok {
		return st, st.Mode&linux.S_IFMT == linux.S_IFDIR
	}
	ek := existsKeyOf(lk)
	d := pc.dirNames[ek]
	if !d.modeKnown || !pc.dirNameLiveLocked(ek) || pc.blockedLocked(d.e) || !d.e.olderThan(from) {
		return linux.Stat{}, false
	}
	return linux.Stat{Mode: d.mode, UID: d.uid, GID: d.gid}, d.mode&linux.S_IFMT == linux.S_IFDIR
}

// parentPathLocked returns the path and proof of the directory an open
// of ".." relative to the fd of description D (k's start) opens, if D's
// path Q was derived and its proof holds (Q names D's directory), and
// Q's last name is known to be a directory (dirProofLocked): no symbolic
// link, so the directory above D's is the one Q's parent path names, and
// the leases on the walk to Q's parent and Q's name keep it so: they are
// the new description's proof, unless the parent path's own proof holds
// (dirProofLocked), which outlives Q's removal. fts opens ".." when it
// climbs out of a directory whose parent's fd it closed. Precondition:
// pc.mu.
func (pc *pathCache) parentPathLocked(k pathKey) (string, pathProof, bool) {
	desc, err := strconv.ParseUint(strings.TrimPrefix(k.start, "fd "), 10, 64)
	p, derived := pc.pathProofs[desc]
	q := pc.openPaths[desc]
	parent, hasParent := sysabi.ParentPath(q) // none for "", ".", "/"
	if err != nil || !derived || !hasParent || !p.liveLocked(pc) {
		return "", pathProof{}, false
	}
	lk := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: k.creds, start: p.key.start, path: q, args: lstatArgs}
	proof, ok := pc.dirProofLocked(lk)
	if !ok {
		return "", pathProof{}, false
	}
	// The parent path names the directory opened now; its own proof
	// (its walk and name) keeps it so after Q's name goes: rm -r
	// removes Q right after, then opens ".." of the parent, and with
	// Q's proof as the parent's, the rest of the walk lost its paths.
	pk := lk
	pk.path = parent
	if pp, ok := pc.dirProofLocked(pk); ok {
		return parent, pp, true
	}
	return parent, proof, true
}

// parentStatKeysLocked returns, for an open of ".." relative to the fd
// of description D (key k: "fd D", ".."), the lstat keys of the path of
// the directory it opens (parentPathLocked's) and of D's own path Q,
// with the start of process pid's paths: the open is answered from
// their kept answers as an open by path is (statOpenAnswer), the
// first's mode and owner saying whether the caller may read the parent,
// the second's whether it may search D (the lookup of ".." does).
// Precondition: pc.mu.
func (pc *pathCache) parentStatKeysLocked(k pathKey, pid int32) (parent, self pathKey, ok bool) {
	if k.path != ".." || !strings.HasPrefix(k.start, "fd ") {
		return pathKey{}, pathKey{}, false
	}
	parentPath, _, ok := pc.parentPathLocked(k)
	if !ok {
		return pathKey{}, pathKey{}, false
	}
	desc, _, start, ok := pc.fdDirLocked(k, pid)
	if !ok {
		return pathKey{}, pathKey{}, false
	}
	self = pathKey{sysno: unix.SYS_NEWFSTATAT, creds: k.creds, start: start, path: pc.openPaths[desc], args: lstatArgs}
	parent = self
	parent.path = parentPath
	return parent, self, true
}

// dirProofLocked returns the proof that the path of lstat key lk names a
// directory (no symbolic link): its lstat answer if it holds and says
// so, else the existence answer kept when such an lstat answer was
// (pathCache.dirNames), while the name names the same inode (a
// directory's lstat answer goes with any change inside it: rm -r's
// climb out of each directory it emptied). Precondition: pc.mu.
func (pc *pathCache) dirProofLocked(lk pathKey) (pathProof, bool) {
	a := pc.answerLocked(lk)
	if dir, known := isDirAnswer(a); known {
		if !dir {
			return pathProof{}, false
		}
		return pc.proofOfLocked(lk, a), true
	}
	ek := existsKeyOf(lk)
	if pc.dirNameLiveLocked(ek) {
		return pathProof{key: ek, a: pc.dirNames[ek].e}, true
	}
	return pathProof{}, false
}

// noteDirfdPathLocked remembers that description desc was opened by key
// k (relative to a dirfd) at path, by proof p. Precondition: pc.mu.
func (pc *pathCache) noteDirfdPathLocked(desc uint64, path string, p pathProof) {
	if len(pc.openPaths) >= maxOpenPaths {
		clear(pc.openPaths)
	}
	if pc.pathProofs == nil || len(pc.pathProofs) >= maxPathProofs {
		pc.pathProofs = make(map[uint64]pathProof)
	}
	pc.openPaths[desc] = path
	pc.pathProofs[desc] = p
	pc.noteFreshDirLocked(desc)
}

// noteDirfdOpenLocked remembers the path of description desc, opened by
// key k relative to a dirfd by process pid (with O_DIRECTORY: dir): the
// path derived with its proof (dirfdPathLocked), else, for a directory
// opened by a name or "..", a candidate without one: the dirfd's path
// and the name, or the path above it. A walk that outlived its leases' life (10 s: GNU rm -r of
// /usr/include under load) lost the answers its derivations need, and
// with them every path below: each directory after waited for both of
// rm's listings and had none ahead (710 of 1,857 waited calls). A
// listing by the candidate asks the server, which checks that it names
// the directory listed (a listing by path needs no proof) and leases
// its answers anew, from which the paths below are derived again; its
// unproven path answers nothing else (pathHeldLocked, listedForLocked).
// Precondition: pc.mu.
func (pc *pathCache) noteDirfdOpenLocked(desc uint64, k pathKey, pid int32, dir bool) {
	if p, proof, ok := pc.dirfdPathLocked(k, pid); ok {
		pc.noteDirfdPathLocked(desc, p, proof)
		return
	}
	if !dir || !strings.HasPrefix(k.start, "fd ") || !(entryName(k.path) || k.path == "..") {
		return
	}
	from, err := strconv.ParseUint(strings.TrimPrefix(k.start, "fd "), 10, 64)
	if err != nil {
		return
	}
	q := pc.openPaths[from]
	if q == "" {
		return
	}
	if k.path != ".." {
		pc.noteDirfdPathLocked(desc, listedPrefix(q)+k.path, pathProof{})
	} else if parent, ok := sysabi.ParentPath(q); ok {
		// fts climbs out of each directory by "..", and goes on
		// from it.
		pc.noteDirfdPathLocked(desc, parent, pathProof{})
	}
}

// entryName says whether name is one name of a directory's entry (not
// "", ".", ".." nor a path).
func entryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}

// pathHeldLocked says whether desc's path (openPaths) surely names its
// directory now, as a listing ahead's answer needs: a description opened
// by path (the open walked it, under the listing's leases), or one
// opened relative to a dirfd whose proof holds. Precondition: pc.mu.
func (pc *pathCache) pathHeldLocked(desc uint64) bool {
	p, derived := pc.pathProofs[desc]
	return !derived || p.liveLocked(pc)
}

// noteAheadListedLocked remembers that desc's getdents64 was answered
// from the listing ahead whose entries' answers share hold h.
// Precondition: pc.mu.
func (pc *pathCache) noteAheadListedLocked(desc uint64, h *pathHold) {
	if h == nil {
		return
	}
	if pc.aheadListed == nil || len(pc.aheadListed) >= maxPathProofs {
		pc.aheadListed = make(map[uint64]*pathHold)
	}
	pc.aheadListed[desc] = h
}

// listedForLocked says whether answer a, kept under a path in the
// directory desc's path (openPaths) names, answers for desc's directory
// too: a came from desc's own listing by path, or from the listing ahead
// its getdents64 was answered from, or desc's path was derived and its
// proof holds (the path names desc's directory now, so the answer
// kept for a name under it is that directory's). Precondition: pc.mu.
func (pc *pathCache) listedForLocked(a *pathAnswer, desc uint64) bool {
	if a.listedDesc == desc {
		return true
	}
	if h := pc.aheadListed[desc]; h != nil && a.holds[0] == h {
		return true
	}
	p, derived := pc.pathProofs[desc]
	return derived && p.liveLocked(pc)
}

// settledDescLocked returns the description desc is now: the server's
// for a provisional one whose open's reply named it (0: the open
// failed). Precondition: pc.mu.
func (pc *pathCache) settledDescLocked(desc uint64) uint64 {
	if real, ok := pc.settled[desc]; ok {
		return real
	}
	return desc
}

// noteSettledLocked remembers that provisional description prov is real
// now (0: its open failed). Precondition: pc.mu.
func (pc *pathCache) noteSettledLocked(prov, real uint64) {
	if pc.settled == nil || len(pc.settled) >= maxPathProofs {
		pc.settled = make(map[uint64]uint64)
	}
	pc.settled[prov] = real
}
