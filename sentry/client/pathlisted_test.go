package client

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// listedTask returns a task of pid 7 whose path cache knows its
// credentials, and the lease a listing's reply names them by.
func listedTask() (*task, *pb.PathLease) {
	creds := &pb.ProcessState{Euid: 1000}
	pc := newPathCache(nil)
	pc.creds[7] = credsKey(creds)
	return &task{c: &client{pcache: pc}, proc: &process{pid: 7}}, &pb.PathLease{TtlMs: 1000, Creds: creds}
}

// listedReply is the reply of a getdents64 of n entries whose answers
// the leases common (the walk to the directory) and two more per entry
// (from next) hold.
func listedReply(l *pb.PathLease, common []uint64, n int, next uint64) *pb.Reply {
	r := &pb.Reply{PathLease: &pb.PathLease{Id: common[0], Ids: common, TtlMs: l.TtlMs, Creds: l.Creds}}
	for i := 0; i < n; i++ {
		r.Listed = append(r.Listed, &pb.ListedStat{Name: []byte(fmt.Sprintf("file%d.h", i)), Stat: make([]byte, 144),
			Statx: make([]byte, 256), Ids: []uint64{next + 2*uint64(i), next + 2*uint64(i) + 1}})
	}
	return r
}

// TestPathCacheListedCost counts what the path cache spends per entry a
// listing brings (find's getdents64 of /usr/include's 800 directories:
// 8,000 entries, each stat'ed once): allocations, bytes, keys, and
// entries in the index of leases. Keeping an answer under each of its
// leases by key (80 bytes per lease per key, 8 keys per entry) made find
// twice as costly on the client as before per-inode leases; three
// answers, three keys and four allocations more per entry (the statx
// answer's, the existence's and two lease index slices) cost busybox
// find ~15 % of the client's CPU: now one allocation for the answers,
// one for the path, two keys.
func TestPathCacheListedCost(t *testing.T) {
	const (
		dirs    = 40
		entries = 200
	)
	tk, l := listedTask()
	common := []uint64{1, 2, 3, 4, 5} // /, usr, include, a subdirectory, its search
	replies := make([]*pb.Reply, dirs)
	for i := range replies {
		replies[i] = listedReply(l, common, entries, 1000+uint64(i)*2*entries)
	}
	paths := make([]string, dirs)
	for i := range paths {
		paths[i] = fmt.Sprintf("/usr/include/d%d", i)
	}
	keepAll := func() {
		at := tk.c.pcache.stamp()
		for i := range replies {
			tk.keepListed(listing{wanted: true, path: paths[i], desc: uint64(100 + i)}, replies[i], at)
		}
	}
	tk.keepListed(listing{wanted: true, path: paths[0], desc: 100}, replies[0], tk.c.pcache.stamp())
	keys, refs := len(tk.c.pcache.answers), tk.c.pcache.byLeaseLen
	if keys == 0 {
		t.Fatal("nothing kept")
	}
	// The steady state: the maps grown once, by a find before.
	keepAll()
	again := func() {
		tk.c.pcache.dropAll()
		keepAll()
	}
	n := float64(dirs * entries)
	allocs := testing.AllocsPerRun(3, again) / n
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	again()
	runtime.ReadMemStats(&after)
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("per listed entry: %.2f allocations, %.0f bytes, %.2f keys, %.2f lease index entries",
		allocs, bytes, float64(keys)/entries, float64(refs)/entries)
	for _, c := range []struct {
		what     string
		got, max float64
	}{
		{"allocations", allocs, 1.1},
		{"bytes", bytes, 560},
		{"keys", float64(keys) / entries, 2},
		{"lease index entries", float64(refs) / entries, 3.1},
	} {
		if c.got > c.max {
			t.Errorf("%s per listed entry: %.2f, want at most %v", c.what, c.got, c.max)
		}
	}
	// A listed entry's statx answer is found under its lstat's key.
	k := pathKey{sysno: unix.SYS_STATX, creds: tk.c.pcache.creds[7], start: "/", path: paths[0] + "/file0.h", args: lstatArgs}
	if a := tk.c.pcache.answerLocked(k); a == nil || len(a.out) != 256 {
		t.Errorf("statx answer of a listed entry: %v", a)
	}
}

// TestPathCacheListedRevoke checks which of a listing's answers a
// revocation drops: a lease of the walk to the directory all of them, an
// entry's first lease (its name) all of the entry's, its second (its
// attributes) its stat answers but not its existence, and no other
// entry's.
func TestPathCacheListedRevoke(t *testing.T) {
	const dir = "/usr/include"
	lstat := func(name string) pathKey {
		return pathKey{sysno: unix.SYS_NEWFSTATAT, start: "/", path: dir + "/" + name, args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	atFD := func(name string) pathKey {
		return pathKey{sysno: unix.SYS_NEWFSTATAT, start: "fd 100", path: name, args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	statx := func(name string) pathKey {
		return pathKey{sysno: unix.SYS_STATX, start: "/", path: dir + "/" + name, args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	statxFD := func(name string) pathKey {
		return pathKey{sysno: unix.SYS_STATX, start: "fd 100", path: name, args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	exists := func(name string) pathKey { return pathKey{sysno: existsCall, start: "/", path: dir + "/" + name} }
	all := func(name string) []pathKey {
		return []pathKey{lstat(name), atFD(name), statx(name), statxFD(name), exists(name)}
	}
	// Entry file0.h holds leases 10 and 11, file1.h 12 and 13.
	tests := []struct {
		name       string
		revoke     []uint64
		gone, kept []pathKey
	}{
		{name: "none", kept: append(all("file0.h"), all("file1.h")...)},
		{name: "a lease of the walk", revoke: []uint64{2}, gone: append(all("file0.h"), all("file1.h")...)},
		{name: "an entry's name", revoke: []uint64{10}, gone: all("file0.h"), kept: all("file1.h")},
		{name: "an entry's attributes", revoke: []uint64{11},
			gone: []pathKey{lstat("file0.h"), atFD("file0.h"), statx("file0.h"), statxFD("file0.h")},
			kept: append([]pathKey{exists("file0.h")}, all("file1.h")...)},
		{name: "another lease", revoke: []uint64{99}, kept: append(all("file0.h"), all("file1.h")...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			pc.openPaths[100] = dir // as noteOpen keeps it
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, listedReply(l, []uint64{1, 2, 3}, 2, 10), leaseStamp{sent: time.Now()})
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			creds := pc.creds[7]
			for _, k := range tc.gone {
				k.creds = creds
				if pc.keptLocked(k, 7) != nil {
					t.Errorf("%+v kept", k)
				}
			}
			for _, k := range tc.kept {
				k.creds = creds
				if pc.keptLocked(k, 7) == nil {
					t.Errorf("%+v not kept", k)
				}
			}
		})
	}
}

// TestStatKeyOf checks that the calls that get the same answer share
// one key: stat and lstat with newfstatat's, flags with and without
// AT_NO_AUTOMOUNT, statx with any valid mask.
func TestStatKeyOf(t *testing.T) {
	nofollow := uint64(unix.AT_SYMLINK_NOFOLLOW)
	tests := []struct {
		name      string
		sysno     uintptr
		args      [3]uint64
		wantSysno uintptr
		wantArgs  [3]uint64
	}{
		{"stat", unix.SYS_STAT, [3]uint64{}, unix.SYS_NEWFSTATAT, [3]uint64{}},
		{"lstat", unix.SYS_LSTAT, [3]uint64{}, unix.SYS_NEWFSTATAT, [3]uint64{nofollow}},
		{"newfstatat with AT_NO_AUTOMOUNT", unix.SYS_NEWFSTATAT, [3]uint64{nofollow | unix.AT_NO_AUTOMOUNT}, unix.SYS_NEWFSTATAT, [3]uint64{nofollow}},
		{"newfstatat with AT_EMPTY_PATH", unix.SYS_NEWFSTATAT, [3]uint64{unix.AT_EMPTY_PATH}, unix.SYS_NEWFSTATAT, [3]uint64{unix.AT_EMPTY_PATH}},
		{"statx with a mask", unix.SYS_STATX, [3]uint64{nofollow | unix.AT_NO_AUTOMOUNT, unix.STATX_BASIC_STATS}, unix.SYS_STATX, [3]uint64{nofollow}},
		{"statx with the reserved mask bit", unix.SYS_STATX, [3]uint64{0, statxReserved}, unix.SYS_STATX, [3]uint64{0, statxReserved}},
		{"access", unix.SYS_ACCESS, [3]uint64{unix.R_OK}, unix.SYS_ACCESS, [3]uint64{unix.R_OK}},
		{"readlink", unix.SYS_READLINK, [3]uint64{64}, unix.SYS_READLINK, [3]uint64{64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sysno, args := statKeyOf(tc.sysno, tc.args)
			if sysno != tc.wantSysno || args != tc.wantArgs {
				t.Errorf("statKeyOf(%d, %v) = %d, %v, want %d, %v", tc.sysno, tc.args, sysno, args, tc.wantSysno, tc.wantArgs)
			}
		})
	}
}

// TestPathCacheEvict checks what a full cache forgets to make room: the
// answers that expired or lost a lease, and their holds, while that
// frees a quarter; else every answer.
func TestPathCacheEvict(t *testing.T) {
	tests := []struct {
		name string
		// dead says whether answer i is dead, and how: "expired" or
		// "revoked".
		dead     func(i int) bool
		how      string
		wantKept int
	}{
		{name: "half expired", dead: func(i int) bool { return i%2 == 0 }, how: "expired", wantKept: maxPathAnswers / 2},
		{name: "half revoked", dead: func(i int) bool { return i%2 == 1 }, how: "revoked", wantKept: maxPathAnswers / 2},
		{name: "one in eight revoked", dead: func(i int) bool { return i%8 == 0 }, how: "revoked", wantKept: 0},
		{name: "all live", dead: func(int) bool { return false }, wantKept: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			now := time.Now()
			var revoked []uint64
			pc.mu.Lock()
			for i := 0; i < maxPathAnswers; i++ {
				a := &pathAnswer{expires: now.Add(time.Minute)}
				if tc.dead(i) && tc.how == "expired" {
					a.expires = now.Add(-time.Second)
				}
				id := uint64(i + 1)
				if tc.dead(i) && tc.how == "revoked" {
					revoked = append(revoked, id)
				}
				pc.keepOwnLocked(pathKey{sysno: unix.SYS_NEWFSTATAT, path: fmt.Sprint(i)}, a, []uint64{id})
			}
			pc.mu.Unlock()
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: revoked})
			pc.hitsSinceDrop = 1 // a drop is not counted as wasted
			pc.mu.Lock()
			pc.roomLocked(1, 1)
			pc.mu.Unlock()
			if len(pc.answers) != tc.wantKept || pc.byLeaseLen != tc.wantKept || len(pc.byLease) != tc.wantKept {
				t.Errorf("kept %d answers, %d holds under %d leases, want %d", len(pc.answers), pc.byLeaseLen, len(pc.byLease), tc.wantKept)
			}
			for k, a := range pc.answers {
				if a.revoked() || !now.Before(a.expires) {
					t.Errorf("%v kept, gone", k)
					break
				}
			}
		})
	}
}

// TestPathCacheListedAtFD checks which listing answers a stat relative
// to a directory's fd (fts's fstatat(dirfd, name)): that fd's own listing
// by path, kept under the path's key, and no other answer of the path
// (another description's listing, which may be of the directory that
// now has the path).
func TestPathCacheListedAtFD(t *testing.T) {
	const dir = "/usr/include"
	atFD := func(desc uint64) pathKey {
		return pathKey{sysno: unix.SYS_NEWFSTATAT, start: fmt.Sprintf("fd %d", desc), path: "file0.h", args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	tests := []struct {
		name string
		// listed are the descriptions listed by dir, in order;
		// opened those noteOpen knows the path of.
		listed, opened []uint64
		ask            uint64
		want           bool
	}{
		{name: "its own listing", listed: []uint64{100}, opened: []uint64{100}, ask: 100, want: true},
		{name: "another description's listing of the path", listed: []uint64{200}, opened: []uint64{100, 200}, ask: 100},
		{name: "a later listing by another description", listed: []uint64{100, 200}, opened: []uint64{100, 200}, ask: 100},
		{name: "the later one's own", listed: []uint64{100, 200}, opened: []uint64{100, 200}, ask: 200, want: true},
		{name: "a description whose path is not known", listed: []uint64{100}, ask: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			for _, d := range tc.opened {
				pc.openPaths[d] = dir
			}
			for i, d := range tc.listed {
				tk.keepListed(listing{wanted: true, path: dir, desc: d}, listedReply(l, []uint64{1, 2, 3}, 2, 10+uint64(10*i)), leaseStamp{sent: time.Now()})
			}
			k := atFD(tc.ask)
			k.creds = pc.creds[7]
			if got := pc.keptLocked(k, 7) != nil; got != tc.want {
				t.Errorf("answered %v, want %v", got, tc.want)
			}
		})
	}
}
