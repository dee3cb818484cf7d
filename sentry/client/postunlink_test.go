package client

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// statBytes returns the struct stat of a file of mode and inode ino
// owned by uid 0.
func statBytes(mode uint32, ino uint64) []byte {
	st := linux.Stat{Mode: mode, Ino: ino}
	b := make([]byte, st.SizeBytes())
	st.MarshalBytes(b)
	return b
}

// TestPathCacheRemoval checks what a posted unlink of a listed entry may
// be and what it holds back until its reply: every answer with a lease
// on the removed file or on the directory's attributes, and no other
// entry's.
func TestPathCacheRemoval(t *testing.T) {
	tk, l := listedTask()
	pc := tk.c.pcache
	const dir, f, g, sub = 10, 40, 41, 42
	listedIn := func(path string, removable bool) {
		r := &pb.Reply{PathLease: &pb.PathLease{Id: 1, Ids: []uint64{1, 2}, Kinds: []uint32{pathSearchKind, pathSearchKind},
			Inos: []uint64{2, dir}, TtlMs: l.TtlMs, Creds: l.Creds, DirIno: dir, Writable: true, Removable: removable}}
		for i, e := range []struct {
			name string
			mode uint32
			ino  uint64
		}{{"f", linux.S_IFREG | 0o644, f}, {"g", linux.S_IFREG | 0o644, g}, {"sub", linux.S_IFDIR | 0o755, sub}} {
			r.Listed = append(r.Listed, &pb.ListedStat{Name: []byte(e.name), Stat: statBytes(e.mode, e.ino), Ino: e.ino,
				Ids: []uint64{100 + 2*uint64(i), 100 + 2*uint64(i)}})
		}
		tk.keepListed(listing{wanted: true, path: path}, r, pc.stamp())
	}
	listedIn("/d", true)
	listedIn("/e", false)
	key := func(path string) pathKey {
		return pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: "/", path: path, args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	}
	// Answers of other calls: the directory's stat (its attributes),
	// and a stat through another name that ends at f (a hard link).
	at := pc.stamp()
	lease := func(id uint64, kinds []uint32, inos []uint64) *pb.PathLease {
		ids := make([]uint64, len(kinds))
		for i := range ids {
			ids[i] = id + uint64(i)
		}
		return &pb.PathLease{Id: id, Ids: ids, Kinds: kinds, Inos: inos, TtlMs: 1000, Creds: l.Creds}
	}
	dirStat := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: "/", path: "/d"}
	link := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: "/", path: "/h"}
	pc.keepAnswer(dirStat, lease(200, []uint32{pathSearchKind, pathSearchKind, 1}, []uint64{2, dir, dir}), at, pathAnswer{}, false)
	pc.keepAnswer(link, lease(210, []uint32{pathSearchKind, pathSearchKind}, []uint64{2, f}), at, pathAnswer{}, false)

	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/d/sub", false}, // a directory: EISDIR
		{"/e/f", false},   // a listing that did not say removable
		{"/d/x", false},   // no answer
	} {
		if _, ok := pc.beginRemoval(key(tc.path), 7, math.MaxUint64, false); ok != tc.ok {
			t.Errorf("removal of %s may be posted: %v, want %v", tc.path, ok, tc.ok)
		}
	}
	rm, ok := pc.beginRemoval(key("/d/f"), 7, math.MaxUint64, false)
	if !ok || rm.dir != dir {
		t.Fatalf("removal of a listed file: %+v, %v; want directory %d", rm, ok, dir)
	}
	blocked := func(k pathKey) bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		a := pc.answers[k]
		if a == nil {
			t.Fatalf("%+v: no answer kept", k)
		}
		return pc.blockedLocked(a)
	}
	for _, tc := range []struct {
		what    string
		k       pathKey
		blocked bool
	}{
		{"lstat of the removed name", key("/d/f"), true},
		{"its existence", pathKey{sysno: existsCall, creds: pc.creds[7], start: "/", path: "/d/f"}, true},
		{"stat of another link to it", link, true},
		{"stat of the directory", dirStat, true},
		{"lstat of another entry", key("/d/g"), false},
		{"lstat of a subdirectory", key("/d/sub"), false},
		{"lstat of an entry of another directory", key("/e/g"), false},
	} {
		if got := blocked(tc.k); got != tc.blocked {
			t.Errorf("%s while the removal is in flight: blocked %v, want %v", tc.what, got, tc.blocked)
		}
	}
	// A second removal in the same directory while the first is in
	// flight: the listing's answers of other entries hold.
	rm2, ok := pc.beginRemoval(key("/d/g"), 7, math.MaxUint64, false)
	if !ok {
		t.Fatal("a second removal in the directory may not be posted")
	}
	checkWakes(t, pc, "the removal's", func() { pc.endRemoval(rm, false) })
	if !blocked(dirStat) || blocked(link) {
		t.Error("after the first removal's reply: the directory's stat should still wait for the second, the link's not")
	}
	pc.endRemoval(rm2, false)
	if blocked(dirStat) || len(pc.inosChanging) != 0 || len(pc.dirsChanging) != 0 {
		t.Errorf("after both replies: blocked %v, %d inodes and %d directories changing", blocked(dirStat), len(pc.inosChanging), len(pc.dirsChanging))
	}
}

// TestPermitsAccess checks access(2)'s permission check on the client:
// the real ids, and the capabilities only a real uid 0 has (and only
// when they are the effective ones, with which the listing's walk
// searched).
func TestPermitsAccess(t *testing.T) {
	const all = ^uint64(0)
	file := linux.Stat{Mode: linux.S_IFREG | 0o644, UID: 0, GID: 0}
	tests := []struct {
		name               string
		uid, gid           uint32
		effective, permits uint64
		mode               uint32
		want, ok           bool
	}{
		{"root writes with CAP_DAC_OVERRIDE", 0, 0, all, all, unix.W_OK, true, true},
		{"root executes no x bit", 0, 0, all, all, unix.X_OK, false, true},
		{"the owner's bits", 0, 0, 0, 0, unix.R_OK | unix.W_OK, true, true},
		{"another user reads", 1000, 1000, 0, 0, unix.R_OK, true, true},
		{"another user writes", 1000, 1000, 0, 0, unix.W_OK, false, true},
		{"root whose effective set is not the permitted one", 0, 0, 0, all, unix.W_OK, false, false},
		{"a user with effective capabilities (a walk with them)", 1000, 1000, all, all, unix.W_OK, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := &pipelineState{procs: map[int32]pipeProc{7: {capsKnown: true, capsEffective: tc.effective, capsPermitted: tc.permits}}}
			got, ok := ps.permitsAccess(7, tc.uid, tc.gid, file, tc.mode)
			if got != tc.want || ok != tc.ok {
				t.Errorf("permitsAccess = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
