package client

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// dirfdListing is the reply of a getdents64 of /usr/include by path:
// directory "sub" (leases 10, 11) and regular file "file" (12, 13), the
// walk to the directory held by leases 1 to 3.
func dirfdListing(l *pb.PathLease) *pb.Reply {
	stat := func(mode uint32) []byte {
		st := linux.Stat{Mode: mode}
		b := make([]byte, st.SizeBytes())
		st.MarshalBytes(b)
		return b
	}
	r := &pb.Reply{PathLease: &pb.PathLease{Id: 1, Ids: []uint64{1, 2, 3}, TtlMs: l.TtlMs, Creds: l.Creds}}
	r.Listed = []*pb.ListedStat{
		{Name: []byte("sub"), Stat: stat(linux.S_IFDIR | 0o755), Ids: []uint64{10, 11}, Ino: 100},
		{Name: []byte("file"), Stat: stat(linux.S_IFREG | 0o644), Ids: []uint64{12, 13}, Ino: 101},
	}
	return r
}

// dirOpenKey is the path cache's key of an O_DIRECTORY open of name
// relative to description desc.
func dirOpenKey(desc uint64, name string) pathKey {
	return pathKey{sysno: postedOpenKey, start: fmt.Sprintf("fd %d", desc), path: name, args: [3]uint64{unix.O_DIRECTORY}}
}

// TestDirfdPaths checks the paths the client derives for directories
// opened relative to a dirfd (dirfdpaths.go): a directory entry of a
// description listed by path gets the description's path and its name,
// while the lstat answer that showed it holds; ".." of such a
// description gets the path above; nothing when the answer is not a
// directory's, is gone, or the dirfd's path is not known or not proven.
func TestDirfdPaths(t *testing.T) {
	const dir = "/usr/include"
	tests := []struct {
		name   string
		revoke []uint64
		// derive: derive sub's path (as description 101) first.
		derive bool
		key    pathKey
		want   string
		held   bool // whether description 101's path is held after
	}{
		{name: "a subdirectory", key: dirOpenKey(100, "sub"), want: dir + "/sub"},
		{name: "a regular file", key: dirOpenKey(100, "file")},
		{name: "a name not listed", key: dirOpenKey(100, "gone")},
		{name: "the walk to the directory revoked", revoke: []uint64{2}, key: dirOpenKey(100, "sub")},
		{name: "the entry's name revoked", revoke: []uint64{10}, key: dirOpenKey(100, "sub")},
		{name: "a dirfd whose path is not known", key: dirOpenKey(300, "sub")},
		{name: "a path of more than one name", key: dirOpenKey(100, "sub/x")},
		{name: "dot", key: dirOpenKey(100, ".")},
		{name: ".. of a description opened by path", key: dirOpenKey(100, "..")},
		{name: ".. of a derived description", derive: true, key: dirOpenKey(101, ".."), want: dir, held: true},
		{name: "a name a derived description has not listed", derive: true, key: dirOpenKey(101, "sub"), held: true},
		{name: ".. of a derived description, its proof revoked", derive: true, revoke: []uint64{10}, key: dirOpenKey(101, "..")},
		// A change inside the directory: its path still names it, and
		// .. the path above (the proof is the name's existence, kept
		// when its lstat answer said a directory).
		{name: "the attributes of a derived description's directory revoked", derive: true, revoke: []uint64{11}, key: dirOpenKey(101, ".."), want: dir, held: true},
		{name: ".. of a derived description, the walk revoked", derive: true, revoke: []uint64{3}, key: dirOpenKey(101, "..")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			pc.openPaths[100] = dir // as noteOpen keeps it
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, dirfdListing(l), leaseStamp{sent: time.Now()})
			creds := pc.creds[7]
			pc.mu.Lock()
			defer pc.mu.Unlock()
			if tc.derive {
				k := dirOpenKey(100, "sub")
				k.creds = creds
				p, proof, ok := pc.dirfdPathLocked(k, 7)
				if !ok {
					t.Fatal("sub's path not derived")
				}
				pc.noteDirfdPathLocked(101, p, proof)
				if !pc.pathHeldLocked(101) {
					t.Error("a derived path not held right after")
				}
			}
			pc.mu.Unlock()
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			pc.mu.Lock()
			k := tc.key
			k.creds = creds
			got, _, ok := pc.dirfdPathLocked(k, 7)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("derived %q (%v), want %q", got, ok, tc.want)
			}
			if tc.derive && pc.pathHeldLocked(101) != tc.held {
				t.Errorf("derived path held: %v, want %v", !tc.held, tc.held)
			}
		})
	}
}

// TestListedBySettledDesc: a listing's reply that comes after the reply
// of the posted open that made its description keeps its answers for the
// server's description, not the provisional one the call was made with:
// fts's stat of each entry relative to the new fd is answered from it.
func TestListedBySettledDesc(t *testing.T) {
	const dir = "/usr/include"
	const prov, real = provisionalDesc | 5, 200
	tk, l := listedTask()
	pc := tk.c.pcache
	pc.openPaths[prov] = dir
	pc.settleOpen(prov, real)
	tk.keepListed(listing{wanted: true, path: dir, desc: prov}, dirfdListing(l), leaseStamp{sent: time.Now()})
	k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: fmt.Sprintf("fd %d", real), path: "file", args: lstatArgs}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.keptLocked(k, 7) == nil {
		t.Error("the entry's answer relative to the server's description is not kept")
	}
}

// TestAheadEntriesHold checks what a listing ahead's entries' answers
// and its records (the getdents64 answer) depend on: a change of the
// directory's names or attributes revokes, and a posted removal there
// holds back, the records alone; a change of the walk revokes both.
func TestAheadEntriesHold(t *testing.T) {
	const dir, sub, subIno = "/usr/include", "/usr/include/sub", 50
	// The walk's search (1, 2: /usr, /usr/include), the directory's
	// search (3), attributes (4) and names (5).
	lease := func(l *pb.PathLease) *pb.PathLease {
		return &pb.PathLease{Id: 1, Ids: []uint64{1, 2, 3, 4, 5}, Kinds: []uint32{0, 0, 0, 1, 2},
			Inos: []uint64{10, 20, subIno, subIno, subIno}, DirIno: subIno, TtlMs: l.TtlMs, Creds: l.Creds}
	}
	tests := []struct {
		name            string
		revoke          []uint64
		changing        bool // a posted removal in the directory
		entries, listed bool // kept and not held back
	}{
		{name: "nothing", entries: true, listed: true},
		{name: "the directory's names", revoke: []uint64{5}, entries: true},
		{name: "the directory's attributes", revoke: []uint64{4}, entries: true},
		{name: "a posted removal in the directory", changing: true, entries: true},
		{name: "the directory's search", revoke: []uint64{3}},
		{name: "the walk", revoke: []uint64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			creds := pc.creds[7]
			r := &pb.Reply{Ahead: []*pb.AheadListing{{Name: []byte("sub"), Dirents: make([]byte, 48), Cookie: 9,
				Lease: lease(l), Listed: dirfdListing(l).Listed}}}
			pc.keepAhead(creds, "/", dir, r, listedSelf{}, leaseStamp{sent: time.Now()})
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			if tc.changing {
				pc.dirsChanging = map[uint64]int{subIno: 1}
			}
			usable := func(k pathKey) bool {
				a := pc.answerLocked(k)
				return a != nil && !pc.blockedLocked(a)
			}
			entry := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: sub + "/file", args: lstatArgs}
			if got := usable(entry); got != tc.entries {
				t.Errorf("an entry's answer usable: %v, want %v", got, tc.entries)
			}
			records := pathKey{sysno: aheadKey, creds: creds, start: "/", path: sub}
			if got := usable(records); got != tc.listed {
				t.Errorf("the listing's records usable: %v, want %v", got, tc.listed)
			}
		})
	}
}

// TestListingEntriesHold checks which revocations end the answers of a
// getdents64's listing by path: as for a listing ahead's
// (TestAheadEntriesHold), not those of the listed directory's names or
// attributes, which a creation or removal of another name there changes
// (rm -r's rmdir of each subdirectory of the directory it was given),
// but the directory's search and the walk's.
func TestListingEntriesHold(t *testing.T) {
	const dir, dirIno = "/usr/include", 50
	// The walk's search (1, 2), the directory's search (3), attributes
	// (4) and names (5).
	tests := []struct {
		name   string
		revoke []uint64
		kept   bool
	}{
		{name: "nothing", kept: true},
		{name: "the directory's names", revoke: []uint64{5}, kept: true},
		{name: "the directory's attributes", revoke: []uint64{4}, kept: true},
		{name: "the directory's search", revoke: []uint64{3}},
		{name: "the walk", revoke: []uint64{2}},
		{name: "the entry's name", revoke: []uint64{12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			r := dirfdListing(l)
			r.PathLease = &pb.PathLease{Id: 1, Ids: []uint64{1, 2, 3, 4, 5}, Kinds: []uint32{0, 0, 0, 1, 2},
				Inos: []uint64{10, 20, dirIno, dirIno, dirIno}, DirIno: dirIno, TtlMs: l.TtlMs, Creds: l.Creds}
			pc.openPaths[100] = dir
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, r, leaseStamp{sent: time.Now()})
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: "/", path: dir + "/file", args: lstatArgs}
			if got := pc.answerLocked(k) != nil; got != tc.kept {
				t.Errorf("an entry's answer kept: %v, want %v", got, tc.kept)
			}
		})
	}
}

// TestParentPathOutlivesChild checks the proof ".." of a derived
// description gives the description it opens: the parent path's own
// (the existence of its name, kept when an lstat answer of it said a
// directory), which rm -r's removal of the child it climbed out of
// leaves; the child's only when the parent has none.
func TestParentPathOutlivesChild(t *testing.T) {
	const dir = "/usr/include"
	tests := []struct {
		name string
		// parentLstat: an lstat of dir was answered (with its
		// existence, search lease 30) before.
		parentLstat bool
		// before is revoked before the climb (31: the parent's
		// attributes, which any change inside it moves), revoke after.
		before, revoke []uint64
		held           bool // the parent description's path after
	}{
		{name: "the parent's own proof, the child removed", parentLstat: true, revoke: []uint64{10}, held: true},
		{name: "the parent's existence, its lstat answer gone before", parentLstat: true, before: []uint64{31}, revoke: []uint64{10}, held: true},
		{name: "the parent's own proof revoked", parentLstat: true, revoke: []uint64{30}},
		{name: "no own proof: the child's, removed", revoke: []uint64{10}},
		{name: "no own proof: the child's, kept", held: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			creds := pc.creds[7]
			if tc.parentLstat {
				k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: dir, args: lstatArgs}
				st := linux.Stat{Mode: linux.S_IFDIR | 0o755}
				out := make([]byte, st.SizeBytes())
				st.MarshalBytes(out)
				pc.keepAnswer(k, &pb.PathLease{Id: 30, Ids: []uint64{30, 31}, SearchIds: []uint64{30}, TtlMs: l.TtlMs, Creds: l.Creds},
					leaseStamp{sent: time.Now()}, pathAnswer{out: out}, true)
			}
			pc.openPaths[100] = dir
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, dirfdListing(l), leaseStamp{sent: time.Now()})
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.before})
			pc.mu.Lock()
			open := func(desc uint64, name string) pathKey {
				return pathKey{sysno: postedOpenKey, creds: creds, start: fmt.Sprintf("fd %d", desc), path: name, args: [3]uint64{unix.O_DIRECTORY}}
			}
			p, proof, ok := pc.dirfdPathLocked(open(100, "sub"), 7)
			if !ok {
				t.Fatal("sub's path not derived")
			}
			pc.noteDirfdPathLocked(101, p, proof)
			p, proof, ok = pc.dirfdPathLocked(open(101, ".."), 7)
			if !ok || p != dir {
				t.Fatalf(".. derived %q (%v), want %q", p, ok, dir)
			}
			pc.noteDirfdPathLocked(102, p, proof)
			pc.mu.Unlock()
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			if got := pc.pathHeldLocked(102); got != tc.held {
				t.Errorf("the parent description's path held: %v, want %v", got, tc.held)
			}
		})
	}
}

// TestParentOpenAnswer checks the posted open of ".." relative to the fd
// of a description whose path was derived (fts's climb out of a
// directory): answered from the mode and owner of the path above when
// the caller (uid 1000, no capabilities) may read that directory and
// search the one it climbs out of, each told by its lstat answer or,
// that gone, kept with its existence answer; else forwarded.
func TestParentOpenAnswer(t *testing.T) {
	const dir = "/usr/include"
	tests := []struct {
		name       string
		parentMode uint32 // 0: no lstat answer of dir kept
		subMode    uint32
		revoke     []uint64
		want       bool
	}{
		{name: "readable parent, searchable child", parentMode: 0o755, subMode: 0o755, want: true},
		{name: "the parent not readable", parentMode: 0o711, subMode: 0o755},
		{name: "the child not searchable", parentMode: 0o755, subMode: 0o754},
		{name: "no answer of the parent", subMode: 0o755},
		// A change inside either directory (rm -r's removals) revokes
		// its lstat answer, not its existence (the search lease): the
		// mode and owner kept with the existence answer still answer.
		{name: "the parent's attributes revoked", parentMode: 0o755, subMode: 0o755, revoke: []uint64{31}, want: true},
		{name: "the child's attributes revoked", parentMode: 0o755, subMode: 0o755, revoke: []uint64{11}, want: true},
		{name: "the parent's attributes revoked, not readable", parentMode: 0o711, subMode: 0o755, revoke: []uint64{31}},
		{name: "the child's attributes revoked, not searchable", parentMode: 0o755, subMode: 0o754, revoke: []uint64{11}},
		{name: "the parent's search revoked", parentMode: 0o755, subMode: 0o755, revoke: []uint64{30}},
		{name: "the child's name revoked", parentMode: 0o755, subMode: 0o755, revoke: []uint64{10}},
	}
	stat := func(mode uint32) []byte {
		st := linux.Stat{Mode: linux.S_IFDIR | mode}
		b := make([]byte, st.SizeBytes())
		st.MarshalBytes(b)
		return b
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			proc := []*pb.StateRecord{{Key: statekey.Proc(7).String(), Value: &pb.StateRecord_Process{Process: &pb.ProcessState{
				Pid: 7, Ruid: 1000, Euid: 1000, Suid: 1000, Rgid: 1000, Egid: 1000, Sgid: 1000, Caps: &pb.CapSets{}}}}}
			tk.c.ids.observe(proc)
			tk.c.pipe.observe(proc)
			creds := pc.creds[7]
			if tc.parentMode != 0 {
				k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: dir, args: lstatArgs}
				pc.keepAnswer(k, &pb.PathLease{Id: 30, Ids: []uint64{30, 31}, SearchIds: []uint64{30}, TtlMs: l.TtlMs, Creds: l.Creds},
					leaseStamp{sent: time.Now()}, pathAnswer{out: stat(tc.parentMode)}, true)
			}
			pc.openPaths[100] = dir
			r := &pb.Reply{PathLease: &pb.PathLease{Id: 1, Ids: []uint64{1, 2, 3}, TtlMs: l.TtlMs, Creds: l.Creds},
				Listed: []*pb.ListedStat{{Name: []byte("sub"), Stat: stat(tc.subMode), Ids: []uint64{10, 11}, Ino: 100}}}
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, r, leaseStamp{sent: time.Now()})
			open := func(desc uint64, name string) pathKey {
				return pathKey{sysno: postedOpenKey, creds: creds, start: fmt.Sprintf("fd %d", desc), path: name, args: [3]uint64{unix.O_DIRECTORY}}
			}
			pc.mu.Lock()
			p, proof, ok := pc.dirfdPathLocked(open(100, "sub"), 7)
			if !ok {
				pc.mu.Unlock()
				t.Fatal("sub's path not derived")
			}
			pc.noteDirfdPathLocked(101, p, proof)
			pc.mu.Unlock()
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			kind, _, got := tk.statOpenAnswer(open(101, ".."))
			if got != tc.want || got && kind != openedDir {
				t.Errorf("statOpenAnswer(..) = %v (kind %d), want %v", got, kind, tc.want)
			}
		})
	}
}

// TestDirModeCarriedOver: a directory's mode and owner, kept with its
// existence answer in dirNames, go over to the existence answer of a
// later call that says nothing of them (a statx's) while the first still
// held, and answer after the first's leases are revoked; a statx
// answer's bytes are not read as a struct stat.
func TestDirModeCarriedOver(t *testing.T) {
	const dir = "/usr/include"
	for _, carried := range []bool{true, false} {
		t.Run(fmt.Sprintf("statx while the listing's held: %v", carried), func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			creds := pc.creds[7]
			lk := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: dir + "/sub", args: lstatArgs}
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, dirfdListing(l), leaseStamp{sent: time.Now()})
			if !carried {
				// The listing's leases go first: the statx's
				// existence answer replaces no live one.
				pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{10, 11}})
			}
			sx := pathKey{sysno: unix.SYS_STATX, creds: creds, start: "/", path: dir + "/sub", args: lstatArgs}
			// A struct statx whose stx_gid falls where a struct
			// stat's st_mode is, and reads as a directory's 0700.
			out := make([]byte, 256)
			binary.LittleEndian.PutUint32(out[24:], linux.S_IFDIR|0o700)
			pc.keepAnswer(sx, &pb.PathLease{Id: 40, Ids: []uint64{40, 41}, SearchIds: []uint64{40}, TtlMs: l.TtlMs, Creds: l.Creds},
				leaseStamp{sent: time.Now()}, pathAnswer{out: out}, true)
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{10, 11}})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			st, ok := pc.dirModeLocked(lk, 7, ^uint64(0))
			if ok != carried || ok && st.Mode != linux.S_IFDIR|0o755 {
				t.Errorf("dirModeLocked = %#o (%v), want %v", st.Mode, ok, carried)
			}
		})
	}
}

// TestCandidateDirfdPath: a directory opened by name relative to a
// dirfd whose path is known gets the derived path while the lstat
// answer of the name holds, and a candidate path once it lapsed (a
// walk longer than its leases' life): the same path, not held (no
// listing ahead answers the description, its ".." derives none), for a
// listing by it that the server checks; ".." gets the path above. Nothing
// for a file's open, a name that is no entry's, or a dirfd whose path is
// not known.
func TestCandidateDirfdPath(t *testing.T) {
	const dir = "/usr/include"
	tests := []struct {
		name   string
		revoke []uint64
		key    pathKey
		notDir bool
		want   string
		held   bool
	}{
		{name: "derived", key: dirOpenKey(100, "sub"), want: dir + "/sub", held: true},
		{name: "the answer lapsed", revoke: []uint64{10}, key: dirOpenKey(100, "sub"), want: dir + "/sub"},
		{name: "the walk revoked", revoke: []uint64{2}, key: dirOpenKey(100, "sub"), want: dir + "/sub"},
		{name: "a name not listed", key: dirOpenKey(100, "new"), want: dir + "/new"},
		{name: "a file's open", revoke: []uint64{10}, key: dirOpenKey(100, "sub"), notDir: true},
		{name: "dot dot", key: dirOpenKey(100, ".."), want: "/usr"},
		{name: "a path of more than one name", key: dirOpenKey(100, "sub/x")},
		{name: "a dirfd whose path is not known", key: dirOpenKey(300, "sub")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			pc.openPaths[100] = dir
			tk.keepListed(listing{wanted: true, path: dir, desc: 100}, dirfdListing(l), leaseStamp{sent: time.Now()})
			pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: tc.revoke})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			k := tc.key
			k.creds = pc.creds[7]
			pc.noteDirfdOpenLocked(101, k, 7, !tc.notDir)
			if got := pc.openPaths[101]; got != tc.want {
				t.Errorf("path %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				return
			}
			if held := pc.pathHeldLocked(101); held != tc.held {
				t.Errorf("held %v, want %v", held, tc.held)
			}
			if _, ok := pc.aheadKeyLocked(7, 101); ok != tc.held {
				t.Errorf("a listing ahead may answer it: %v, want %v", ok, tc.held)
			}
			up := dirOpenKey(101, "..")
			up.creds = k.creds
			if p, _, ok := pc.dirfdPathLocked(up, 7); ok != tc.held {
				t.Errorf("its .. derived %q (%v), want %v", p, ok, tc.held)
			}
		})
	}
}
