package client

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// answeredMissing says whether a path cache that kept the answer errno of
// key kept under lease l, after after (nil: nothing), answers k from a
// missing prefix or a missing directory's names.
func answeredMissing(kept pathKey, l *pb.PathLease, errno unix.Errno, after func(*pathCache), k pathKey) bool {
	pc := newPathCache(nil)
	pc.keepAnswer(kept, l, pc.stamp(), pathAnswer{errno: errno}, false)
	if after != nil {
		after(pc)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.missingUnderLocked(k) != nil
}

// TestMissingPrefix checks which calls a kept ENOENT answer of a path
// answers for the paths under it: the calls that walk with the fs ids,
// for the same start and credentials, under a proper prefix ending at a
// slash, while the answer holds.
func TestMissingPrefix(t *testing.T) {
	creds := credsKey(&pb.ProcessState{Euid: 1000})
	missing := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: "/usr/local/include/bits"}
	under := func(sysno uintptr, path string) pathKey {
		return pathKey{sysno: sysno, creds: creds, start: "/", path: path}
	}
	tests := []struct {
		name string
		// kept is the answer kept (errno) under keptKey (zero: the
		// stat of missing), after runs once it is.
		keptKey pathKey
		kept    unix.Errno
		after   func(pc *pathCache)
		k       pathKey
		want    bool
	}{
		{name: "stat under it", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/types.h"), want: true},
		{name: "deeper", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/types/x.h"), want: true},
		{name: "a trailing slash", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/"), want: true},
		{name: "readlink under it", kept: unix.ENOENT, k: under(unix.SYS_READLINK, "/usr/local/include/bits/x"), want: true},
		{name: "an open under it", kept: unix.ENOENT, k: under(postedOpenKey, "/usr/local/include/bits/x"), want: true},
		{name: "access walks with the real ids", kept: unix.ENOENT, k: under(unix.SYS_ACCESS, "/usr/local/include/bits/x")},
		{name: "access from access", keptKey: under(unix.SYS_ACCESS, "/usr/local/include/bits"), kept: unix.ENOENT,
			k: under(unix.SYS_FACCESSAT, "/usr/local/include/bits/x"), want: true},
		{name: "faccessat2 with AT_EACCESS walks with the fs ids", keptKey: under(unix.SYS_ACCESS, "/usr/local/include/bits"), kept: unix.ENOENT,
			k: pathKey{sysno: unix.SYS_FACCESSAT2, creds: creds, start: "/", path: "/usr/local/include/bits/x", args: [3]uint64{0, unix.AT_EACCESS}}},
		{name: "stat from access", keptKey: under(unix.SYS_ACCESS, "/usr/local/include/bits"), kept: unix.ENOENT,
			k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/x")},
		{name: "the path itself (its own answer)", kept: unix.ENOENT, k: under(unix.SYS_READLINK, "/usr/local/include/bits")},
		{name: "a longer name, not under it", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bitsy/x")},
		{name: "another start", kept: unix.ENOENT, k: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "cwd \"/\" ", path: "/usr/local/include/bits/x"}},
		{name: "other credentials", kept: unix.ENOENT, k: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: credsKey(&pb.ProcessState{}), start: "/", path: "/usr/local/include/bits/x"}},
		{name: "an EACCES", kept: unix.EACCES, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/x")},
		{name: "revoked", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/x"),
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}}) }},
		{name: "replaced by a success", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/x"),
			after: func(pc *pathCache) {
				pc.keepAnswer(missing, &pb.PathLease{Id: 2, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}}, pc.stamp(),
					pathAnswer{out: make([]byte, 144)}, false)
			}},
		{name: "all dropped", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/x"),
			after: func(pc *pathCache) { pc.dropAll() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}}
			kept := tc.keptKey
			if kept.path == "" {
				kept = missing
			}
			if got := answeredMissing(kept, l, tc.kept, tc.after, tc.k); got != tc.want {
				t.Errorf("answered from the missing prefix: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMissingIn checks which calls a kept ENOENT answer whose lease names
// the directory the name was missing in and its complete names
// (PathLease.missing_in) answers: those of the same prefix followed by
// another name not among them, same start and credentials, while the
// answer holds.
func TestMissingIn(t *testing.T) {
	creds := credsKey(&pb.ProcessState{Euid: 1000})
	key := func(sysno uintptr, path string) pathKey {
		return pathKey{sysno: sysno, creds: creds, start: "/", path: path}
	}
	tests := []struct {
		name string
		// kept is the key of the answer kept, mi its missing_in (nil:
		// the include directory's, names "stdio.h" and "sys"), after
		// runs once it is kept.
		kept  pathKey
		mi    *pb.MissingIn
		after func(pc *pathCache)
		k     pathKey
		want  bool
	}{
		{name: "another missing name", k: key(unix.SYS_NEWFSTATAT, "/usr/include/string.h"), want: true},
		{name: "under another missing name", k: key(unix.SYS_NEWFSTATAT, "/usr/include/bits/types.h"), want: true},
		{name: "readlink", k: key(unix.SYS_READLINK, "/usr/include/x"), want: true},
		{name: "an open", k: key(postedOpenKey, "/usr/include/x"), want: true},
		{name: "a name it has", k: key(unix.SYS_NEWFSTATAT, "/usr/include/stdio.h")},
		{name: "under a name it has", k: key(unix.SYS_NEWFSTATAT, "/usr/include/sys/types.h")},
		{name: "dot", k: key(unix.SYS_NEWFSTATAT, "/usr/include/./x")},
		{name: "dot dot", k: key(unix.SYS_NEWFSTATAT, "/usr/include/../x")},
		{name: "an empty name", k: key(unix.SYS_NEWFSTATAT, "/usr/include//x")},
		{name: "a name too long", k: key(unix.SYS_NEWFSTATAT, "/usr/include/"+strings.Repeat("n", 256))},
		{name: "a path too long", k: key(unix.SYS_NEWFSTATAT, "/usr/include/x/"+strings.Repeat("n/", 2050))},
		{name: "another directory", k: key(unix.SYS_NEWFSTATAT, "/usr/includes/x")},
		{name: "access walks with the real ids", k: key(unix.SYS_ACCESS, "/usr/include/x")},
		{name: "another start", k: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "cwd \"/\" ", path: "/usr/include/x"}},
		{name: "other credentials", k: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: credsKey(&pb.ProcessState{}), start: "/", path: "/usr/include/x"}},
		{name: "a prefix not before a slash", mi: &pb.MissingIn{Prefix: 5}, k: key(unix.SYS_NEWFSTATAT, "/usr/include/x")},
		{name: "the start directory of an absolute path", mi: &pb.MissingIn{Prefix: 0}, k: key(unix.SYS_NEWFSTATAT, "x")},
		{name: "the start directory", kept: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "fd 7", path: "nosuch"},
			mi: &pb.MissingIn{Prefix: 0, Names: [][]byte{[]byte("a")}},
			k:  pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "fd 7", path: "b/c"}, want: true},
		{name: "a name of the start directory", kept: pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "fd 7", path: "nosuch"},
			mi: &pb.MissingIn{Prefix: 0, Names: [][]byte{[]byte("a")}},
			k:  pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "fd 7", path: "a"}},
		{name: "the root", kept: key(unix.SYS_NEWFSTATAT, "/nosuch/bin/as"), mi: &pb.MissingIn{Prefix: 1, Names: [][]byte{[]byte("usr")}},
			k: key(unix.SYS_NEWFSTATAT, "/x86_64-linux-gnu/lib"), want: true},
		{name: "a name of the root", kept: key(unix.SYS_NEWFSTATAT, "/nosuch/bin/as"), mi: &pb.MissingIn{Prefix: 1, Names: [][]byte{[]byte("usr")}},
			k: key(unix.SYS_NEWFSTATAT, "/usr/lib")},
		{name: "dot dot in the prefix", kept: key(unix.SYS_NEWFSTATAT, "/usr/lib/gcc/../../nosuch/bin/as"),
			mi: &pb.MissingIn{Prefix: uint32(len("/usr/lib/gcc/../..")), Names: [][]byte{[]byte("usr")}},
			k:  key(unix.SYS_NEWFSTATAT, "/usr/lib/gcc/../../x86_64-linux-gnu/lib"), want: true},
		{name: "another spelling of the prefix", kept: key(unix.SYS_NEWFSTATAT, "/usr/lib/gcc/../../nosuch/bin/as"),
			mi: &pb.MissingIn{Prefix: uint32(len("/usr/lib/gcc/../..")), Names: [][]byte{[]byte("usr")}},
			k:  key(unix.SYS_NEWFSTATAT, "/usr/lib/../x86_64-linux-gnu/lib")},
		{name: "revoked", k: key(unix.SYS_NEWFSTATAT, "/usr/include/x"),
			after: func(pc *pathCache) { pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}}) }},
		{name: "replaced by an answer without names", k: key(unix.SYS_NEWFSTATAT, "/usr/include/x"),
			after: func(pc *pathCache) {
				pc.keepAnswer(key(unix.SYS_NEWFSTATAT, "/usr/include/missing.h"), &pb.PathLease{Id: 2, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}},
					pc.stamp(), pathAnswer{errno: unix.ENOENT}, false)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kept, mi := tc.kept, tc.mi
			if kept.path == "" {
				kept = key(unix.SYS_NEWFSTATAT, "/usr/include/missing.h")
			}
			if mi == nil {
				mi = &pb.MissingIn{Prefix: uint32(len("/usr/include")), Names: [][]byte{[]byte("stdio.h"), []byte("sys")}}
			}
			l := &pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}, MissingIn: mi}
			if kept.start == "fd 7" {
				l.DirFile = 7
			}
			if got := answeredMissing(kept, l, unix.ENOENT, tc.after, tc.k); got != tc.want {
				t.Errorf("answered from the missing directory's names: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWalkFirst checks which path calls a failed walk answers: those
// whose flags, mask and size Linux accepts before it walks.
func TestWalkFirst(t *testing.T) {
	tests := []struct {
		name  string
		sysno uintptr
		args  [6]uint64
		want  bool
	}{
		{"stat", unix.SYS_STAT, [6]uint64{}, true},
		{"newfstatat", unix.SYS_NEWFSTATAT, [6]uint64{3: unix.AT_SYMLINK_NOFOLLOW}, true},
		{"newfstatat, a bad flag", unix.SYS_NEWFSTATAT, [6]uint64{3: 0x10000}, false},
		{"statx", unix.SYS_STATX, [6]uint64{2: unix.AT_STATX_DONT_SYNC, 3: unix.STATX_BASIC_STATS}, true},
		{"statx, both syncs", unix.SYS_STATX, [6]uint64{2: linux.AT_STATX_SYNC_TYPE}, false},
		{"statx, a reserved mask bit", unix.SYS_STATX, [6]uint64{3: linux.STATX__RESERVED}, false},
		{"readlink", unix.SYS_READLINK, [6]uint64{2: 16}, true},
		{"readlink, size 0", unix.SYS_READLINK, [6]uint64{2: 0}, false},
		{"readlinkat, a negative size", unix.SYS_READLINKAT, [6]uint64{3: 0xffffffff}, false},
		{"access", unix.SYS_ACCESS, [6]uint64{1: unix.R_OK | unix.X_OK}, true},
		{"access, a bad mode", unix.SYS_ACCESS, [6]uint64{1: 8}, false},
		{"faccessat2, a bad flag", unix.SYS_FACCESSAT2, [6]uint64{3: unix.AT_RECURSIVE}, false},
		{"getcwd", unix.SYS_GETCWD, [6]uint64{}, false},
	}
	for _, tc := range tests {
		if got := walkFirst(tc.sysno, tc.args); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMissingInBounded checks that the names the kept answers hold stay
// within maxMissingInNames: past it, the answers forget theirs (and
// answer their own key alone), and the newest answers from its names.
func TestMissingInBounded(t *testing.T) {
	creds := credsKey(&pb.ProcessState{Euid: 1000})
	names := make([]string, 256)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i)
	}
	pc := newPathCache(nil)
	const dirs = maxMissingInNames/256 + 10
	for i := 0; i < dirs; i++ {
		k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: fmt.Sprintf("/d%d/missing", i)}
		pc.keepAnswer(k, &pb.PathLease{Id: uint64(i + 1), TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000},
			MissingIn: &pb.MissingIn{Prefix: uint32(len(fmt.Sprintf("/d%d", i))), Names: pb.BytesList(names)}}, pc.stamp(),
			pathAnswer{errno: unix.ENOENT}, false)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	held := 0
	for _, a := range pc.answers {
		if a.missingIn != nil {
			held += len(a.missingIn.names)
		}
	}
	if held > maxMissingInNames || pc.missingInNames != held {
		t.Errorf("the answers hold %d names (counted %d), want at most %d", held, pc.missingInNames, maxMissingInNames)
	}
	last := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: fmt.Sprintf("/d%d/x", dirs-1)}
	if pc.missingUnderLocked(last) == nil {
		t.Errorf("the newest answer's names answer nothing")
	}
}

// TestMissingRealAsFS checks that the ENOENT answers of access calls
// (real ids) and of the other path calls (fs ids) answer each other when
// the caller's real ids walk as its fs ids do (realWalksAsFS: root with
// its permitted capabilities effective, as make and gcc run), under a
// missing prefix and from a missing directory's names, and not when its
// ids or capabilities differ.
func TestMissingRealAsFS(t *testing.T) {
	const all = 1<<41 - 1
	root := &pb.ProcessState{Caps: &pb.CapSets{Effective: all, Permitted: all}}
	tests := []struct {
		name      string
		creds     *pb.ProcessState
		kept, ask uintptr
		// in: the kept answer names its directory's names (missing_in)
		// and ask is of another name there; else of a path under it.
		in   bool
		want bool
	}{
		{name: "access from stat, root", creds: root, kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS, want: true},
		{name: "stat from access, root", creds: root, kept: unix.SYS_ACCESS, ask: unix.SYS_NEWFSTATAT, want: true},
		{name: "faccessat from readlink, root", creds: root, kept: unix.SYS_READLINK, ask: unix.SYS_FACCESSAT, want: true},
		{name: "access from an open's names, root", creds: root, kept: postedOpenKey, ask: unix.SYS_ACCESS, in: true, want: true},
		{name: "an open from access's names, root", creds: root, kept: unix.SYS_ACCESS, ask: postedOpenKey, in: true, want: true},
		{name: "a user", creds: &pb.ProcessState{Ruid: 1000, Euid: 1000, Rgid: 1000, Egid: 1000, Caps: &pb.CapSets{Permitted: all}},
			kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS, in: true, want: true},
		{name: "a user with effective capabilities", creds: &pb.ProcessState{Ruid: 1000, Euid: 1000, Caps: &pb.CapSets{Effective: 2, Permitted: 2}},
			kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS, in: true},
		{name: "root without its permitted capabilities effective", creds: &pb.ProcessState{Caps: &pb.CapSets{Permitted: all}},
			kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS},
		{name: "a set-uid program", creds: &pb.ProcessState{Ruid: 1000, Caps: &pb.CapSets{Effective: all, Permitted: all}},
			kept: unix.SYS_ACCESS, ask: unix.SYS_NEWFSTATAT, in: true},
		{name: "a set-gid program", creds: &pb.ProcessState{Rgid: 1000, Caps: &pb.CapSets{Effective: all, Permitted: all}},
			kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS},
		{name: "capabilities not known", creds: &pb.ProcessState{}, kept: unix.SYS_NEWFSTATAT, ask: unix.SYS_ACCESS, in: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := credsKey(tc.creds)
			kept := pathKey{sysno: tc.kept, creds: creds, start: "/", path: "/usr/local/bin/gcc"}
			ask := pathKey{sysno: tc.ask, creds: creds, start: "/", path: "/usr/local/bin/gcc/x"}
			l := &pb.PathLease{Id: 1, TtlMs: 1000, Creds: tc.creds}
			if tc.in {
				ask.path = "/usr/local/bin/cc"
				l.MissingIn = &pb.MissingIn{Prefix: uint32(len("/usr/local/bin")), Names: [][]byte{[]byte("make")}}
			}
			if got := answeredMissing(kept, l, unix.ENOENT, nil, ask); got != tc.want {
				t.Errorf("answered: %v, want %v", got, tc.want)
			}
		})
	}
}
