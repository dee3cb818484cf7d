package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestReadlinkOfLstat checks which readlink answers a kept lstat answer
// of the same path gives: EINVAL for a file that is no symbolic link,
// ENOENT for no name, nothing for a symbolic link (its target is not
// known), another error, a revoked answer or a size Linux refuses first.
func TestReadlinkOfLstat(t *testing.T) {
	tests := []struct {
		name    string
		sysno   uintptr
		size    uint64
		kept    *pathAnswer
		revoked bool
		want    unix.Errno // 0: no answer
	}{
		{name: "a regular file", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{out: statOfMode(linux.S_IFREG | 0o644)}, want: unix.EINVAL},
		{name: "a directory", sysno: unix.SYS_READLINKAT, size: 64, kept: &pathAnswer{out: statOfMode(linux.S_IFDIR | 0o755)}, want: unix.EINVAL},
		{name: "a symbolic link", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{out: statOfMode(linux.S_IFLNK | 0o777)}},
		{name: "no such name", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{errno: unix.ENOENT}, want: unix.ENOENT},
		{name: "another error", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{errno: unix.EACCES}},
		{name: "a short answer", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{out: []byte{1}}},
		{name: "revoked", sysno: unix.SYS_READLINK, size: 64, kept: &pathAnswer{out: statOfMode(linux.S_IFREG)}, revoked: true},
		{name: "size 0", sysno: unix.SYS_READLINK, size: 0, kept: &pathAnswer{out: statOfMode(linux.S_IFREG)}},
		{name: "a negative size", sysno: unix.SYS_READLINK, size: uint64(1<<32 - 1), kept: &pathAnswer{out: statOfMode(linux.S_IFREG)}},
		{name: "nothing kept", sysno: unix.SYS_READLINK, size: 64},
		{name: "a stat", sysno: unix.SYS_NEWFSTATAT, kept: &pathAnswer{out: statOfMode(linux.S_IFREG)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			base := pathKey{creds: credsKey(&pb.ProcessState{Euid: 1000}), start: "/", path: "/x"}
			if tc.kept != nil {
				lk := base
				lk.sysno, lk.args = unix.SYS_NEWFSTATAT, lstatArgs
				tc.kept.expires = time.Now().Add(time.Hour)
				tc.kept.holds[0] = &tc.kept.own
				tc.kept.own.revoked = tc.revoked
				pc.answers[lk] = tc.kept
			}
			k := base
			k.sysno, k.args[0] = tc.sysno, tc.size
			pc.mu.Lock()
			got := pc.readlinkOfLstatLocked(k, 1)
			pc.mu.Unlock()
			switch {
			case tc.want == 0 && got != nil:
				t.Errorf("answered %v, want no answer", got.errno)
			case tc.want != 0 && got == nil:
				t.Errorf("no answer, want %v", tc.want)
			case got != nil && (got.errno != tc.want || len(got.out) != 0 || got.ret != 0):
				t.Errorf("answered %d, %v, %d bytes; want 0, %v, none", got.ret, got.errno, len(got.out), tc.want)
			case got != nil:
				tc.kept.own.revoked = true
				if !got.revoked() {
					t.Errorf("the answer does not go with the lstat answer's leases")
				}
			}
		})
	}
}

// TestLastNameDir checks the directory a key's last name is in, as the
// server's listing prefix names it.
func TestLastNameDir(t *testing.T) {
	tests := []struct {
		start, path, want string
		ok                bool
	}{
		{"/", "/usr/include/stdio.h", "/usr/include", true},
		{"/", "/x", "/", true},
		{"cwd \"/w\" ", "f", ".", true},
		{"cwd \"/w\" ", "a/b", "a", true},
		{"fd 5", "a/b", "", false},
	}
	for _, tc := range tests {
		got, ok := lastNameDir(pathKey{start: tc.start, path: tc.path})
		if got != tc.want || ok != tc.ok {
			t.Errorf("lastNameDir(%q, %q) = %q, %v; want %q, %v", tc.start, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

// TestKeepDirListing checks that a lookup's listing is kept under the
// paths of the directory its prefix names, with its start and
// credentials, answers the lstat and readlink of its entries, and stops
// the client from asking for that directory's listing again; that one
// of other credentials, a prefix beyond the path or a revocation that
// overtook it keeps nothing; and that its revocation is no waste (its
// entries were not asked for: pathCache.wasted).
func TestKeepDirListing(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		prefix uint32
		creds  *pb.ProcessState
		epoch  uint64
		// entry is a listed entry's path kept ("": none).
		entry string
	}{
		{name: "kept", path: "/usr/include/stdio.h", prefix: uint32(len("/usr/include")), entry: "/usr/include/file1.h"},
		{name: "the root", path: "/x", prefix: 1, entry: "/file1.h"},
		{name: "other credentials", path: "/usr/include/stdio.h", prefix: 12, creds: &pb.ProcessState{Euid: 1}},
		{name: "a prefix beyond the path", path: "/x", prefix: 9},
		{name: "an older grant", path: "/usr/include/stdio.h", prefix: 12, epoch: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			pc.lastEpoch = 2
			k := pathKey{sysno: unix.SYS_READLINK, creds: pc.creds[7], start: "/", path: tc.path, args: [3]uint64{64}}
			if !pc.dirListingWanted(k) {
				t.Fatal("no listing wanted before one was kept")
			}
			r := listedReply(l, []uint64{1, 2}, 2, 10)
			r.DirListing, r.PathLease = r.PathLease, nil
			r.DirListing.Epoch = 2
			if tc.epoch != 0 {
				r.DirListing.Epoch = tc.epoch
			}
			if tc.creds != nil {
				r.DirListing.Creds = tc.creds
			}
			r.DirListingPrefix = tc.prefix
			for _, ls := range r.Listed {
				ls.Stat = statOfMode(linux.S_IFREG | 0o644)
			}
			pc.keepDirListing(k, r, leaseStamp{sent: time.Now()})
			lk := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: k.creds, start: "/", path: tc.entry, args: lstatArgs}
			rk := pathKey{sysno: unix.SYS_READLINK, creds: k.creds, start: "/", path: tc.entry, args: [3]uint64{64}}
			pc.mu.Lock()
			lstat := pc.keptLocked(lk, 7)
			readlink := pc.readlinkOfLstatLocked(rk, 7)
			pc.mu.Unlock()
			if tc.entry == "" {
				if len(pc.answers) != 0 || !pc.dirListingWanted(k) {
					t.Errorf("%d answers kept, listing wanted %v; want none kept", len(pc.answers), pc.dirListingWanted(k))
				}
				return
			}
			if lstat == nil || readlink == nil || readlink.errno != unix.EINVAL {
				t.Fatalf("lstat answer %v, readlink answer %v; want both", lstat, readlink)
			}
			if pc.dirListingWanted(k) {
				t.Error("a listing still wanted for the directory listed")
			}
			pc.revoke(&pb.LeaseRevoke{Epoch: 3, Ids: []uint64{2}})
			pc.mu.Lock()
			lstat = pc.keptLocked(lk, 7)
			pc.mu.Unlock()
			if lstat != nil {
				t.Error("the entry's answer outlived the revocation of the walk's lease")
			}
			if pc.wasted != 0 {
				t.Errorf("the revocation of a lookup's listing, never asked for, counted as waste (%d)", pc.wasted)
			}
		})
	}
}
