package client

import (
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

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
		// kept is the answer kept (errno), after runs once it is.
		kept  unix.Errno
		after func(pc *pathCache)
		k     pathKey
		want  bool
	}{
		{name: "stat under it", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/types.h"), want: true},
		{name: "deeper", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/types/x.h"), want: true},
		{name: "a trailing slash", kept: unix.ENOENT, k: under(unix.SYS_NEWFSTATAT, "/usr/local/include/bits/"), want: true},
		{name: "readlink under it", kept: unix.ENOENT, k: under(unix.SYS_READLINK, "/usr/local/include/bits/x"), want: true},
		{name: "an open under it", kept: unix.ENOENT, k: under(postedOpenKey, "/usr/local/include/bits/x"), want: true},
		{name: "access walks with the real ids", kept: unix.ENOENT, k: under(unix.SYS_ACCESS, "/usr/local/include/bits/x")},
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
			pc := newPathCache(nil)
			pc.keepAnswer(missing, &pb.PathLease{Id: 1, TtlMs: 1000, Creds: &pb.ProcessState{Euid: 1000}}, pc.stamp(),
				pathAnswer{errno: tc.kept}, false)
			if tc.after != nil {
				tc.after(pc)
			}
			pc.mu.Lock()
			got := pc.missingPrefixLocked(tc.k) != nil
			pc.mu.Unlock()
			if got != tc.want {
				t.Errorf("answered from the missing prefix: %v, want %v", got, tc.want)
			}
		})
	}
}
