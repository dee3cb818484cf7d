package client

import (
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// fstat of an fd opened by a path whose stat the path cache holds
// (docs/ARCHITECTURE.md, "The client's path cache").
//
// find opens each directory it lists, right after its lstat was
// answered from the listing of the directory above, and fstats the fd
// (busybox find: 834 waited fstats over /usr/include); a program stats a
// file and then opens it. The read cache answers fstat only of regular
// files it holds a read lease of. When a read-only open (waited or
// posted) names a path whose successful stat or lstat answer (not of a
// symbolic link) the cache holds for the same start and credentials,
// that answer is the opened file's: its leases cover the walk and the
// file's attributes, and while none of them is revoked the path names
// the file the open opened (a change made through the server revokes
// them before any later message, the open's reply included) and the
// file's attributes are those of the answer. fts's open of ".." relative
// to a directory it climbs out of opens the directory at the parent path
// the client derived (dirfdpaths.go), whose lstat answer is its stat
// (GNU find fstats it to check it is the directory it left: 84 waited
// calls over /usr/include). The description keeps a
// pointer to that answer (pathCache.openedStats), and an fstat of it is
// answered from it while the answer is still the one kept under its key
// (so its holds still hear revocations), not revoked, expired or held
// back (blockedLocked), and pathAnswerScope allows it (any answer with
// nothing posted in flight; a directory's while only regular files'
// writes and attributes are). An fstat of a regular file that may be
// leased (it has blocks) is sent all the
// same: its reply brings the read lease that answers the reads after it
// (the read would take it otherwise: no round trip is saved, and a
// sendfile from the file would not be posted).

// openedStat is the kept stat answer a description's open found.
type openedStat struct {
	key    pathKey
	answer *pathAnswer
}

// noteOpenedStatLocked remembers for description desc the kept answer
// under keys (openedStatKeys: the lstat, then the stat of the path of a
// read-only open by process pid), if the cache holds one (relative to a
// dirfd, also one a listing of the dirfd by path kept under the path's
// key: fdAnswerKeyLocked). Precondition: pc.mu.
func (pc *pathCache) noteOpenedStatLocked(desc uint64, keys [2]pathKey, pid int32) {
	delete(pc.openedStats, desc)
	for i, k := range keys {
		a := pc.answerLocked(k)
		if a == nil && strings.HasPrefix(k.start, "fd ") {
			a, k = pc.fdAnswerKeyLocked(k, pid)
		}
		if a == nil || a.errno != 0 || a.copy != nil {
			continue
		}
		var st linux.Stat
		if len(a.out) < st.SizeBytes() {
			continue
		}
		st.UnmarshalBytes(a.out)
		if i == 0 && st.Mode&linux.S_IFMT == linux.S_IFLNK {
			continue // the open follows it
		}
		if pc.openedStats == nil || len(pc.openedStats) >= maxOpenPaths {
			pc.openedStats = make(map[uint64]openedStat)
		}
		pc.openedStats[desc] = openedStat{key: k, answer: a}
		return
	}
}

// openedStatKeys returns the keys of the lstat and stat answers of the
// path of t's open (args as openat's: dirfd, path, flags), if it is a
// read-only open the cache may answer the fstat of.
func (t *task) openedStatKeys(dirfd, path uint64, flags uint32) ([2]pathKey, bool) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&^uint32(postedOpenFlags) != 0 {
		return [2]pathKey{}, false
	}
	shape := pathCallShape{dirfd: 0, path: 1, buf: -1, size: -1, others: []int{2}}
	lk, ok := t.pathKeyShaped(unix.SYS_NEWFSTATAT, shape, [6]uint64{dirfd, path, unix.AT_SYMLINK_NOFOLLOW})
	if !ok {
		return [2]pathKey{}, false
	}
	return lstatAndStatKeys(lk), true
}

// lstatAndStatKeys returns lstat key lk and the stat key of the same
// path, start and credentials.
func lstatAndStatKeys(lk pathKey) [2]pathKey {
	sk := lk
	sk.args = [3]uint64{}
	return [2]pathKey{lk, sk}
}

// openedStatKeysOf returns openedStatKeys of the read-only open whose
// key (openKeyOf's) is k: the same path, start and credentials.
func openedStatKeysOf(k pathKey) [2]pathKey {
	lk := k
	lk.sysno, lk.args = unix.SYS_NEWFSTATAT, [3]uint64{unix.AT_SYMLINK_NOFOLLOW}
	return lstatAndStatKeys(lk)
}

// openedFstat answers an fstat of fd (buffer at addr) from the stat
// answer its description's open found (see above), if it may.
func (t *task) openedFstat(fd int32, addr uint64) bool {
	pc := t.c.pcache
	if pc == nil {
		return false
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return false
	}
	if rc := t.c.rcache; rc != nil {
		rc.mu.Lock()
		desc, ok = rc.currentLocked(desc)
		rc.mu.Unlock()
		if !ok {
			return false
		}
	}
	scope := t.answerScope()
	pc.mu.Lock()
	os, ok := pc.openedStats[desc]
	if !ok || pc.answerLocked(os.key) != os.answer || pc.blockedLocked(os.answer) || !scope.allows(unix.SYS_NEWFSTATAT, os.answer) {
		pc.mu.Unlock()
		return false
	}
	out := os.answer.out // immutable
	pc.mu.Unlock()
	var st linux.Stat
	st.UnmarshalBytes(out)
	if st.Mode&linux.S_IFMT == linux.S_IFREG && st.Blocks != 0 && t.wantsLease(unix.SYS_FSTAT) {
		// The forwarded fstat brings the file's read lease, which
		// answers the reads that follow.
		return false
	}
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), out, usermem.IOOpts{}); err != nil {
		return false // a fault: the server says what it makes of it
	}
	pc.mu.Lock()
	t.answeredLocked(pc)
	pc.mu.Unlock()
	return true
}

// keepOpenedStat keeps the struct stat a waited open's reply carried
// (Reply.opened_stat) as the answer of stat of the open's path, start and
// credentials (k is the open's key, openKeyOf's; first: openToKeep's),
// sent at at, under its
// path lease: the lease's keys are a stat's (the walk, the file's
// attributes), and a successful open followed a last symbolic link as
// stat does (O_NOFOLLOW would have failed on one).
func (t *task) keepOpenedStat(k pathKey, first bool, reply *pb.Reply, at leaseStamp) {
	l := reply.PathLease
	var st linux.Stat
	if reply.Errno != 0 || l == nil || l.Id == 0 || l.TtlMs == 0 || len(reply.OpenedStat) != st.SizeBytes() {
		return
	}
	k.sysno, k.args = unix.SYS_NEWFSTATAT, [3]uint64{}
	a := pathAnswer{out: reply.OpenedStat}
	a.own.unasked = first
	t.c.pcache.keepAnswer(k, l, at, a, true)
}
