package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestPathCacheKeep checks which replies the path cache keeps: only those
// with a lease no revocation or recovery overtook, whose outputs are the
// call's buffer alone; and that a revocation of the lease, a recovery and
// a mount record drop what it kept.
func TestPathCacheKeep(t *testing.T) {
	const buf = 0x1000
	statArgs := [6]uint64{0x2000, buf}
	lease := func(id, epoch uint64) *pb.PathLease {
		return &pb.PathLease{Id: id, Epoch: epoch, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}}
	}
	// leases is a lease holding ids (from the second on; the first is
	// not among them, as a lease of an older server's would be).
	leases := func(epoch uint64, ids ...uint64) *pb.PathLease {
		l := lease(ids[0], epoch)
		l.Ids = ids[1:]
		return l
	}
	statReply := func(l *pb.PathLease, outs ...*pb.Region) *pb.Reply {
		return &pb.Reply{PathLease: l, Outputs: outs}
	}
	stat := &pb.Region{Addr: buf, Data: make([]byte, 144)}
	tests := []struct {
		name string
		// before runs on the cache between the call's stamp and its
		// reply; after, once the reply was kept.
		before, after func(pc *pathCache)
		sysno         uintptr
		reply         *pb.Reply
		want          bool
	}{
		{name: "stat", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true},
		{name: "ENOENT", sysno: unix.SYS_STAT, reply: &pb.Reply{Errno: int32(unix.ENOENT), PathLease: lease(1, 0)}, want: true},
		{name: "no lease", sysno: unix.SYS_STAT, reply: statReply(nil, stat)},
		{name: "a lease that names no credentials", sysno: unix.SYS_STAT, reply: statReply(&pb.PathLease{Id: 1, TtlMs: 1000}, stat)},
		{name: "answered with other credentials", sysno: unix.SYS_STAT,
			reply: statReply(&pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1001}}, stat)},
		{name: "answered relative to a cwd", sysno: unix.SYS_STAT,
			reply: statReply(&pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}, Cwd: &pb.FsState{Cwd: []byte("/")}}, stat)},
		{name: "output elsewhere", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), &pb.Region{Addr: buf + 8, Data: stat.Data})},
		{name: "two outputs", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat, stat)},
		{name: "readlink whose output is not its result", sysno: unix.SYS_READLINK,
			reply: &pb.Reply{Ret: 3, PathLease: lease(1, 0), Outputs: []*pb.Region{{Addr: buf, Data: []byte("ab")}}}},
		{name: "a revocation overtook the grant", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat),
			before: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{7}}) }},
		{name: "a recovery came between", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat),
			before: func(pc *pathCache) { pc.dropAll() }},
		{name: "revoked after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat),
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}}) }},
		{name: "another lease revoked after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true,
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{2}}) }},
		{name: "a mount after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat),
			after: func(pc *pathCache) {
				pc.observe([]*pb.StateRecord{{Key: statekey.Mount(3).String()}})
			}},
		{name: "a mount forwarded after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat),
			after: func(pc *pathCache) { pc.beforeForward(unix.SYS_MOUNT, [6]uint64{}) }},
		{name: "a setxattr forwarded after (the server revokes what it changes)", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true,
			after: func(pc *pathCache) { pc.beforeForward(unix.SYS_SETXATTR, [6]uint64{}) }},
		{name: "a rename forwarded after (the server revokes what it changes)", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true,
			after: func(pc *pathCache) { pc.beforeForward(unix.SYS_RENAME, [6]uint64{}) }},
		{name: "an open that creates, after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true,
			after: func(pc *pathCache) { pc.beforeForward(unix.SYS_OPENAT, [6]uint64{2: unix.O_CREAT}) }},
		{name: "one of its leases revoked after", sysno: unix.SYS_STAT, reply: statReply(leases(0, 1, 5, 6), stat),
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{6}}) }},
		{name: "none of its leases revoked after", sysno: unix.SYS_STAT, reply: statReply(leases(0, 1, 5, 6), stat), want: true,
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1, 7}}) }},
		{name: "an open for reading after", sysno: unix.SYS_STAT, reply: statReply(lease(1, 0), stat), want: true,
			after: func(pc *pathCache) { pc.beforeForward(unix.SYS_OPENAT, [6]uint64{2: unix.O_RDONLY}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			k := pathKey{sysno: tc.sysno, creds: credsKey(&pb.ProcessState{Euid: 1000}), start: "/", path: "/x"}
			at := pc.stamp()
			if tc.before != nil {
				tc.before(pc)
			}
			pc.keep(k, tc.sysno, statArgs, tc.reply, at)
			if tc.after != nil {
				tc.after(pc)
			}
			if got := pc.answerLocked(k) != nil; got != tc.want {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPathCacheQuiet checks that answers dropped unused again and again
// (tar's: each name asked once, then created) make the client want no
// lease for a while, longer each time, and that answers that were used
// do not.
func TestPathCacheQuiet(t *testing.T) {
	// The answer's lease is on inode 7's search key (a file found).
	reply := &pb.Reply{Errno: int32(unix.ENOENT), PathLease: &pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{},
		Ids: []uint64{1}, Kinds: []uint32{pathSearchKind}, Inos: []uint64{7}}}
	k := pathKey{sysno: unix.SYS_STAT, creds: credsKey(&pb.ProcessState{}), start: "/", path: "/x"}
	cycle := func(pc *pathCache, used, changing bool) {
		pc.keep(k, unix.SYS_STAT, [6]uint64{}, reply, pc.stamp())
		if used {
			pc.hitsSinceDrop++ // as cachedPath's hit
		}
		if changing {
			// A posted unlink of inode 7 without a reply (postunlink.go),
			// whose revocation this is.
			pc.inosChanging = map[uint64]int{7: 1}
		}
		pc.revoke(&pb.LeaseRevoke{Ids: []uint64{1}})
		pc.inosChanging = nil
	}
	tests := []struct {
		name      string
		used      bool
		changing  bool
		drops     int
		wantQuiet time.Duration
	}{
		{name: "used answers", used: true, drops: 3 * pathWastedLimit},
		// rm -r: the revocations that follow a directory's posted
		// unlinks, each of an answer one of them used.
		{name: "revoked by the client's own posted changes", changing: true, drops: 3 * pathWastedLimit},
		{name: "fewer unused drops than the limit", drops: pathWastedLimit - 1},
		{name: "unused drops up to the limit", drops: pathWastedLimit, wantQuiet: pathQuiet},
		{name: "twice", drops: 2 * pathWastedLimit, wantQuiet: 2 * pathQuiet},
		{name: "many times", drops: 20 * pathWastedLimit, wantQuiet: pathQuietMax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			for i := 0; i < tc.drops; i++ {
				cycle(pc, tc.used, tc.changing)
			}
			if pc.quietFor != tc.wantQuiet {
				t.Errorf("quiet for %v, want %v", pc.quietFor, tc.wantQuiet)
			}
			if quiet := time.Now().Before(pc.quietUntil); quiet != (tc.wantQuiet > 0) {
				t.Errorf("quiet now: %v", quiet)
			}
		})
	}
}

// TestLstatAsStat checks which kept answers of a call that does not
// follow a last symbolic link answer the same call that does: one that
// found no symbolic link (its file is the one the following walk finds)
// or no name at all; not a symbolic link's, nor a statx answer that does
// not say the file's type.
func TestLstatAsStat(t *testing.T) {
	tests := []struct {
		name  string
		sysno uintptr
		// kept is the answer kept for the call with AT_SYMLINK_NOFOLLOW;
		// flags the following call's.
		kept  *pathAnswer
		flags uint64
		want  bool
	}{
		{name: "a regular file", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: statOfMode(linux.S_IFREG | 0o644)}, want: true},
		{name: "a directory", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: statOfMode(linux.S_IFDIR | 0o755)}, want: true},
		{name: "a symbolic link", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: statOfMode(linux.S_IFLNK | 0o777)}},
		{name: "no such name", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{errno: unix.ENOENT}, want: true},
		{name: "another error", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{errno: unix.EACCES}},
		{name: "a short answer", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: []byte{1}}},
		{name: "nothing kept", sysno: unix.SYS_NEWFSTATAT},
		{name: "the call does not follow", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: statOfMode(linux.S_IFREG)}, flags: unix.AT_SYMLINK_NOFOLLOW},
		{name: "statx of a regular file", sysno: unix.SYS_STATX, kept: &pathAnswer{out: statxOfMode(linux.STATX_BASIC_STATS, linux.S_IFREG|0o644)}, want: true},
		{name: "statx of a symbolic link", sysno: unix.SYS_STATX, kept: &pathAnswer{out: statxOfMode(linux.STATX_BASIC_STATS, linux.S_IFLNK|0o777)}},
		{name: "statx without the type", sysno: unix.SYS_STATX, kept: &pathAnswer{out: statxOfMode(linux.STATX_SIZE, linux.S_IFREG)}},
		{name: "readlink", sysno: unix.SYS_READLINK, kept: &pathAnswer{out: []byte("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			base := pathKey{sysno: tc.sysno, creds: credsKey(&pb.ProcessState{Euid: 1000}), start: "/", path: "/x"}
			nofollow := base
			nofollow.args[0] = unix.AT_SYMLINK_NOFOLLOW
			if tc.kept != nil {
				tc.kept.expires = time.Now().Add(time.Hour)
				pc.answers[nofollow] = tc.kept
			}
			follow := base
			follow.args[0] = tc.flags
			pc.mu.Lock()
			got := pc.lstatAsStatLocked(follow, 1)
			pc.mu.Unlock()
			if (got != nil) != tc.want || got != nil && got != tc.kept {
				t.Errorf("answered %v, want %v", got != nil, tc.want)
			}
		})
	}
}
