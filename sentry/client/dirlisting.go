package client

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Listings of cold lookups (docs/ARCHITECTURE.md, "The client's path
// cache"; server: sentry/server/dirlisting.go).
//
// A stat or readlink the path cache could not answer asks for the
// listing of the directory its last name is in
// (Syscall.dir_listing_wanted) unless the client holds one
// (pathCache.listedDirs); the reply may carry it (Reply.dir_listing,
// Reply.listed), kept as a listing by path of that directory is
// (keepListedLocked): each entry's lstat answer, which then answers
// lstat, stat (lstatAsStatLocked), readlink (readlinkOfLstatLocked),
// access, and a posted open of a directory entry (postopen.go
// statOpenAnswer; a regular file's open still waits: its reply brings
// the file's data, and an open answer that posts its later opens with
// the file's read lease, as gcc opens each header once per compile).
// gcc's readlink of each header it finds, Python's stat of each
// package's __init__.py after the failed lookups of its extension
// names.

// dirListingCalls are the path calls that ask for a listing: those whose
// walk uses the fs ids, as lstat's does (the access calls walk with the
// real ones). Not the opens: a regular file's open still waits for its
// data (listedDir.lookup), and Python's opens of the .pyc files of each
// __pycache__ it never stats would bring listings nothing uses (with read
// and path leases counted apart on the server, opens asking too gained
// nothing in make -j2: docs/BENCHMARKS.md).
var dirListingCalls = map[uintptr]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
}

// maxListedDirs bounds pathCache.listedDirs; beyond it, all are
// forgotten.
const maxListedDirs = 4096

// listedDirKey returns the key (pathCache.listedDirs) of the directory
// dir (a path, "." for the start directory) for calls of key k's
// credentials and start.
func listedDirKey(k pathKey, dir string) string {
	return k.creds + "\x00" + k.start + "\x00" + dir
}

// lastNameDir returns the directory path k's last name is in, as the
// server's listing names it (Reply.dir_listing_prefix: "." for the
// start directory, "/" for the root), if k's path is absolute or
// relative to the cwd.
func lastNameDir(k pathKey) (string, bool) {
	if strings.HasPrefix(k.start, "fd ") || k.path == "" {
		return "", false
	}
	switch i := strings.LastIndexByte(k.path, '/'); {
	case i < 0:
		return ".", true
	case i == 0:
		return "/", true
	default:
		return k.path[:i], true
	}
}

// dirListingWanted says whether a forwarded call of key k should ask for
// the listing of the directory its last name is in: the client holds
// none it was given (or listed) in the last lease's life.
func (pc *pathCache) dirListingWanted(k pathKey) bool {
	dir, ok := lastNameDir(k)
	if pc == nil || !ok {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	until, held := pc.listedDirs[listedDirKey(k, dir)]
	return !held || !time.Now().Before(until)
}

// noteListedDirLocked notes that the client holds the listing of
// directory dir for calls of k's credentials and start until expires.
// Precondition: pc.mu.
func (pc *pathCache) noteListedDirLocked(k pathKey, dir string, expires time.Time) {
	if pc.listedDirs == nil || len(pc.listedDirs) >= maxListedDirs {
		pc.listedDirs = make(map[string]time.Time)
	}
	pc.listedDirs[listedDirKey(k, dir)] = expires
}

// keepDirListing keeps the listing of the directory of the last name of
// key k that the reply of a call sent at at carried (Reply.dir_listing:
// its path is k's up to dir_listing_prefix bytes).
func (pc *pathCache) keepDirListing(k pathKey, reply *pb.Reply, at leaseStamp) {
	l := reply.GetDirListing()
	if pc == nil || l == nil || l.Id == 0 || l.TtlMs == 0 || len(reply.Listed) == 0 || strings.HasPrefix(k.start, "fd ") {
		return
	}
	p := int(reply.DirListingPrefix)
	if p > len(k.path) || !grantedAs(k, l) {
		return
	}
	dir := k.path[:p]
	if dir == "" {
		dir = "."
	}
	expires := at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.fsIDsChanged || at.gen != pc.gen || l.Epoch < pc.lastEpoch {
		return
	}
	pc.keepListedLocked(listedView{creds: k.creds, start: k.start, prefix: listedPrefix(dir), lookup: true}, l, reply.Listed, expires)
	pc.noteListedDirLocked(k, dir, expires)
}

// readlinkOfLstatLocked returns, for a readlink or readlinkat key k
// whose buffer size is positive, the answer that the kept lstat answer
// of the same path, start and credentials gives it: the walks are the
// same (neither follows a last symbolic link), so ENOENT if it found
// no name, EINVAL if it found a file that is no symbolic link (under
// the lstat answer's leases); nil otherwise. Precondition: pc.mu.
func (pc *pathCache) readlinkOfLstatLocked(k pathKey, pid int32) *pathAnswer {
	if k.sysno != unix.SYS_READLINK && k.sysno != unix.SYS_READLINKAT || int32(k.args[0]) <= 0 {
		return nil
	}
	k.sysno, k.args = unix.SYS_NEWFSTATAT, lstatArgs
	a := pc.keptLocked(k, pid)
	if a == nil || a.errno == unix.ENOENT {
		return a
	}
	var st linux.Stat
	if a.errno != 0 || len(a.out) < st.SizeBytes() {
		return nil
	}
	st.UnmarshalBytes(a.out)
	if st.Mode&linux.S_IFMT == linux.S_IFLNK {
		return nil
	}
	r := *a
	r.ret, r.errno, r.out, r.statx = 0, unix.EINVAL, nil, nil
	return &r
}
