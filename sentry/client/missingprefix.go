package client

import (
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
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
// start and credentials, fail ENOENT on the client; so do access calls
// (access, faccessat, faccessat2 without AT_EACCESS: they walk with the
// real ids) from an access's ENOENT, and from theirs alone (walkIDs),
// unless the caller's real ids walk as its fs ids do (realWalksAsFS:
// make and gcc run as root, whose access of each program in each PATH
// directory is then answered from the stats' and execs' names).
// pathCache.missing indexes those answers by path, start, credentials
// and ids.
//
// An ENOENT answer may also name the directory D its walk found the name
// missing in, by the prefix of its path that walked to D, and D's
// complete names (PathLease.missing_in: the walk found each name before
// the missing one without following a symbolic link; the lease holds the
// names of D and the search of each directory on the way): while it
// holds, the same calls of that
// prefix followed by a name not among them, same start and credentials,
// fail ENOENT here, as their walk reaches D as the first did and then
// looks that name up (gcc's lookups of each header in
// /usr/local/include, make's and gcc's of each program in each PATH
// directory). pathCache.missingIn indexes those answers by D's path.

// missingFrom are the key numbers (pathKey.sysno) of the answers whose
// ENOENT says a path's walk found a name missing, and of the calls
// answered from a missing prefix: those that walk with the fs ids.
var missingFrom = map[uintptr]bool{
	unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true, unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
	postedOpenKey: true,
}

// missingKey is what a walk's failure depends on: the path, its start
// and the caller's credentials, and which of its ids it searches with
// (real: access's).
type missingKey struct {
	creds, start, path string
	real               bool
}

// walkIDs says which ids the walk of key k's call searches with: the fs
// ids (missingFrom) or the real ones (access, faccessat, and faccessat2
// without AT_EACCESS: their answers answer each other only, unless
// k's credentials walk with the real ids as with the fs ones:
// realWalksAsFS); ok false: no kept ENOENT of its says a walk failed.
func walkIDs(k pathKey) (real, ok bool) {
	if missingFrom[k.sysno] {
		return false, true
	}
	switch k.sysno {
	case unix.SYS_ACCESS, unix.SYS_FACCESSAT:
		return !strings.HasSuffix(k.creds, realAsFSMark), true
	case unix.SYS_FACCESSAT2:
		return !strings.HasSuffix(k.creds, realAsFSMark), k.args[1]&unix.AT_EACCESS == 0
	}
	return false, false
}

// realAsFSMark ends the credentials' key part (credsKey) of a process
// whose real ids walk as its fs ids do (realWalksAsFS).
const realAsFSMark = " real=fs"

// realWalksAsFS says whether a walk with st's real ids searches as one
// with its fs ids: the server's access walks with the real uid and gid
// and the capabilities of the real uid (none unless it is 0, then the
// permitted set: Linux's access_override_creds), the other path calls
// with the fs ids, which are the effective ones (a client one of whose
// processes called setfsuid or setfsgid keys no path answer:
// pathCache.fsIDsChanged), and the effective set. Equal ids and equal
// capabilities search alike; the groups are the same in both.
func realWalksAsFS(st *pb.ProcessState) bool {
	c := st.GetCaps()
	if c == nil || st.Ruid != st.Euid || st.Rgid != st.Egid {
		return false
	}
	if st.Ruid == 0 {
		return c.Effective == c.Permitted
	}
	return c.Effective == 0
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
	real, walks := walkIDs(k)
	if a.errno != unix.ENOENT || a.copy != nil || !walks {
		return
	}
	if pc.missing == nil || len(pc.missing) >= maxPathAnswers/4 {
		pc.missing = make(map[missingKey]missingRef)
	}
	pc.missing[missingKey{creds: k.creds, start: k.start, path: strings.TrimRight(k.path, "/"), real: real}] = missingRef{key: k, answer: a}
	if a.missingIn == nil {
		return
	}
	if pc.missingIn == nil || len(pc.missingIn) >= maxPathAnswers/4 || pc.missingInNames+len(a.missingIn.names) > maxMissingInNames {
		// Forget them all: the kept answers hold no names after.
		for _, ref := range pc.missingIn {
			ref.answer.missingIn = nil
		}
		pc.missingIn = make(map[missingKey]missingRef)
		pc.missingInNames = 0
	}
	mk := missingKey{creds: k.creds, start: k.start, path: a.missingIn.dir, real: real}
	if old, ok := pc.missingIn[mk]; ok && old.answer != a {
		old.answer.missingIn = nil // replaced: no longer indexed
	}
	pc.missingIn[mk] = missingRef{key: k, answer: a}
	pc.missingInNames += len(a.missingIn.names)
}

// maxMissingInNames bounds the names the answers in pathCache.missingIn
// hold (each directory's at most 256: PathLease.missing_in).
const maxMissingInNames = 1 << 18

// missingDir is what PathLease.missing_in says of an answer's path.
type missingDir struct {
	// dir is the prefix of the path naming the directory the name was
	// missing from ("": the start directory), names its names.
	dir   string
	names map[string]bool
}

// missingDirOf returns what missing_in mi says of the answer (errno) of
// key k, if it names a prefix of k's path followed by a name (nil:
// nothing).
func missingDirOf(k pathKey, errno unix.Errno, mi *pb.MissingIn) *missingDir {
	if _, walks := walkIDs(k); mi == nil || errno != unix.ENOENT || !walks {
		return nil
	}
	p := int(mi.Prefix)
	switch {
	case p == 0 && strings.HasPrefix(k.path, "/"):
		return nil // a relative path's start directory only
	case p == 1 && k.path[0] == '/':
		// The root, spelled "/".
	case p > 0 && (p >= len(k.path) || k.path[p] != '/'):
		return nil
	}
	d := &missingDir{dir: k.path[:p], names: make(map[string]bool, len(mi.Names))}
	for _, n := range mi.Names {
		d.names[string(n)] = true
	}
	return d
}

// nameAfter returns the name that follows prefix dir in path (dir "":
// path's first name; ok false: none, or one whose lookup could fail
// otherwise than ENOENT or not be a lookup).
func nameAfter(path, dir string) (name string, ok bool) {
	rest := path
	switch {
	case dir == "/":
		if !strings.HasPrefix(path, "/") {
			return "", false
		}
		rest = path[1:]
	case dir != "":
		if !strings.HasPrefix(path, dir+"/") {
			return "", false
		}
		rest = path[len(dir)+1:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" || rest == "." || rest == ".." || len(rest) > linux.NAME_MAX {
		return "", false
	}
	return rest, true
}

// missingInLocked returns a live ENOENT answer whose missing_in says the
// name k's path looks up after one of its prefixes is missing (see
// above), if k is a call it answers. Precondition: pc.mu.
func (pc *pathCache) missingInLocked(k pathKey) *pathAnswer {
	real, walks := walkIDs(k)
	if len(pc.missingIn) == 0 || !walks || len(k.path) >= sysabi.PathMax {
		return nil
	}
	try := func(dir string) *pathAnswer {
		ref, ok := pc.missingIn[missingKey{creds: k.creds, start: k.start, path: dir, real: real}]
		if !ok {
			return nil
		}
		name, ok := nameAfter(k.path, dir)
		if !ok || ref.answer.missingIn.names[name] || pc.answerLocked(ref.key) != ref.answer || pc.blockedLocked(ref.answer) {
			return nil
		}
		return ref.answer
	}
	start := "" // the start directory, or the root
	if strings.HasPrefix(k.path, "/") {
		start = "/"
	}
	if a := try(start); a != nil {
		return a
	}
	for i := 1; i < len(k.path); i++ {
		if k.path[i] != '/' {
			continue
		}
		if a := try(k.path[:i]); a != nil {
			return a
		}
	}
	return nil
}

// missingPrefixLocked returns a live ENOENT answer of a proper prefix of
// k's path (ending before a slash), or one whose directory's names lack
// the name k's path has after it (missingInLocked), same start and
// credentials, if k is a call it answers (see above); else one from this
// client's copy of the names of the directory the name is looked up in
// (copyMissingLocked), if caller pid may search it. Precondition: pc.mu.
func (pc *pathCache) missingPrefixLocked(k pathKey, pid int32) *pathAnswer {
	if a := pc.missingUnderLocked(k); a != nil {
		return a
	}
	return pc.copyMissingLocked(k, pid)
}

// missingUnderLocked is missingPrefixLocked from the server's answers.
// Precondition: pc.mu.
func (pc *pathCache) missingUnderLocked(k pathKey) *pathAnswer {
	real, walks := walkIDs(k)
	if len(pc.missing) == 0 || !walks {
		return pc.missingInLocked(k)
	}
	for i := 1; i < len(k.path); i++ {
		if k.path[i] != '/' || k.path[i-1] == '/' {
			continue
		}
		ref, ok := pc.missing[missingKey{creds: k.creds, start: k.start, path: k.path[:i], real: real}]
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
	return pc.missingInLocked(k)
}

// walkFirst says whether path call sysno with args fails nothing Linux
// checks before the walk (flags, statx's mask, readlink's size), so that
// a walk known to fail ENOENT answers it (otherwise the server answers).
func walkFirst(sysno uintptr, args [6]uint64) bool {
	const statFlags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | unix.AT_EMPTY_PATH
	switch sysno {
	case unix.SYS_STAT, unix.SYS_LSTAT:
		return true
	case unix.SYS_NEWFSTATAT:
		return args[3]&^statFlags == 0
	case unix.SYS_STATX:
		flags, mask := args[2], args[3]
		return flags&^(statFlags|linux.AT_STATX_SYNC_TYPE) == 0 && flags&linux.AT_STATX_SYNC_TYPE != linux.AT_STATX_SYNC_TYPE &&
			mask&linux.STATX__RESERVED == 0
	case unix.SYS_READLINK:
		return int32(args[2]) > 0
	case unix.SYS_READLINKAT:
		return int32(args[3]) > 0
	case unix.SYS_ACCESS:
		return args[1]&^7 == 0
	case unix.SYS_FACCESSAT:
		return args[2]&^7 == 0
	case unix.SYS_FACCESSAT2:
		return args[2]&^7 == 0 && args[3]&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) == 0
	}
	return false
}
