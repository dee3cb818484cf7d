package client

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// testDirent is a linux_dirent64 record of name, of type typ.
func testDirent(name string, typ uint8) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.LittleEndian.PutUint64(b, 1)
	binary.LittleEndian.PutUint16(b[16:], uint16(reclen))
	b[18] = typ
	copy(b[19:], name)
	return b
}

// TestPostedRmdir checks when an rmdir of a listed directory is posted
// (listedcopy.go): only once the copy of its names, which a listing ahead
// with a lease on its complete names brought, has none left, while that
// lease and the listing of the directory above (which said its entries
// removable) hold; the copy answers calls relative to the fd whose
// listing it answered, and to that fd's settled description.
func TestPostedRmdir(t *testing.T) {
	const root, dir, sub = 2, 10, 42
	const completeID = 303
	for _, tc := range []struct {
		name string
		// complete says the listing ahead leased the complete names
		// (not: a mount point); removed are the names this client
		// removed; revoke the leases revoked since.
		complete bool
		removed  []string
		revoke   []uint64
		want     bool
	}{
		{name: "emptied", complete: true, removed: []string{"x", "link"}, want: true},
		{name: "a name left", complete: true, removed: []string{"x"}},
		{name: "no complete names lease", removed: []string{"x", "link"}},
		{name: "complete names revoked", complete: true, removed: []string{"x", "link"}, revoke: []uint64{completeID}},
		{name: "walk revoked", complete: true, removed: []string{"x", "link"}, revoke: []uint64{300}},
		{name: "its name revoked", complete: true, removed: []string{"x", "link"}, revoke: []uint64{104}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc := tk.c.pcache
			creds := pc.creds[7]
			// The listing of /d: its entry sub, a directory.
			r := &pb.Reply{PathLease: &pb.PathLease{Id: 1, Ids: []uint64{1, 2}, Kinds: []uint32{pathSearchKind, pathSearchKind},
				Inos: []uint64{root, dir}, TtlMs: l.TtlMs, Creds: l.Creds, DirIno: dir, Writable: true, Removable: true}}
			r.Listed = append(r.Listed, &pb.ListedStat{Name: []byte("sub"), Stat: statBytes(linux.S_IFDIR|0o755, sub), Ino: sub,
				Ids: []uint64{104, 105}})
			tk.keepListed(listing{wanted: true, path: "/d"}, r, pc.stamp())
			// The listing ahead of /d/sub: x, and a symbolic link.
			ahead := &pb.PathLease{Id: 300, Ids: []uint64{300, 301, 302}, Kinds: []uint32{pathSearchKind, pathSearchKind, 1},
				Inos: []uint64{dir, sub, sub}, TtlMs: l.TtlMs, Creds: l.Creds, DirIno: sub, Writable: true, Removable: true}
			if tc.complete {
				ahead.Ids = append(ahead.Ids, completeID)
				ahead.Kinds = append(ahead.Kinds, pathCompleteKind)
				ahead.Inos = append(ahead.Inos, sub)
			}
			dirents := slices.Concat(testDirent(".", unix.DT_DIR), testDirent("..", unix.DT_DIR), testDirent("x", unix.DT_REG),
				testDirent("link", unix.DT_LNK))
			pc.keepAhead(creds, "/", "/d", &pb.Reply{Ahead: []*pb.AheadListing{{Name: []byte("sub"), Dirents: dirents, Lease: ahead}}}, listedSelf{}, pc.stamp())
			copyKey := pathKey{creds: creds, start: "/", path: "/d/sub"}
			pc.mu.Lock()
			c := pc.copyLocked(copyKey)
			pc.mu.Unlock()
			if (c != nil) != tc.complete {
				t.Fatalf("copy kept: %v, want %v", c != nil, tc.complete)
			}
			if c != nil {
				if want := map[string]bool{"x": false, "link": true}; !maps2Equal(c.names, want) {
					t.Fatalf("copy's names %v, want %v", c.names, want)
				}
				for _, n := range tc.removed {
					pc.namesAfter(namesChange{copy: c, name: n}, nil)
				}
			}
			pc.revoke(&pb.LeaseRevoke{Ids: tc.revoke})
			k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: creds, start: "/", path: "/d/sub", args: lstatArgs}
			rm, ok := pc.beginRemoval(k, 7, math.MaxUint64, true)
			if ok != tc.want {
				t.Fatalf("rmdir posted: %v, want %v", ok, tc.want)
			}
			if ok {
				if rm.dir != dir || !slices.Equal(rm.inos, []uint64{sub}) {
					t.Errorf("removal %+v, want dir %d, inodes [%d]", rm, dir, sub)
				}
				pc.endRemoval(rm, false)
			}
			// Never as an unlink: a directory.
			if _, ok := pc.beginRemoval(k, 7, math.MaxUint64, false); ok {
				t.Error("an unlink of a directory posted")
			}
		})
	}
}

// maps2Equal says whether two name sets are equal.
func maps2Equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestListedCopyByFD checks which descriptions a listed copy answers
// for: the one whose getdents64 its listing answered (or that one's
// server description once its open's reply came), not another opened by
// the same path.
func TestListedCopyByFD(t *testing.T) {
	const sub = 42
	const prov, real, other = provisionalDesc | 5, 200, 201
	tk, l := listedTask()
	pc := tk.c.pcache
	creds := pc.creds[7]
	ahead := &pb.PathLease{Id: 300, Ids: []uint64{300, 303}, Kinds: []uint32{pathSearchKind, pathCompleteKind},
		Inos: []uint64{10, sub}, TtlMs: l.TtlMs, Creds: l.Creds, DirIno: sub}
	dirents := testDirent("x", unix.DT_REG)
	pc.keepAhead(creds, "/", "/d", &pb.Reply{Ahead: []*pb.AheadListing{{Name: []byte("sub"), Dirents: dirents, Lease: ahead}}}, listedSelf{}, pc.stamp())
	pc.openPaths[prov] = "/d/sub"
	pc.openPaths[other] = "/d/sub"
	pc.mu.Lock()
	pc.adoptListedCopyLocked(pathKey{creds: creds, start: "/", path: "/d/sub"}, prov, sub)
	pc.mu.Unlock()
	pc.settleOpen(prov, real)
	pc.openPaths[real] = "/d/sub"
	for _, tc := range []struct {
		desc uint64
		want bool
	}{{prov, false}, {real, true}, {other, false}} {
		pc.mu.Lock()
		k, ok := pc.fdCopyKeyLocked(pathKey{creds: creds, start: fdStart(tc.desc), path: "x"}, 7)
		pc.mu.Unlock()
		if ok != tc.want || ok && k.path != "/d/sub/x" {
			t.Errorf("description %d: by path %q (%v), want %v", tc.desc, k.path, ok, tc.want)
		}
	}
	// A listed copy keeps no absence of a name in it: kept with
	// creatable 0, it answered busybox mkdir of a new name in /tmp,
	// whose listing ls had brought ahead, EACCES.
	pc.writeAll[7], pc.searchAll[7] = true, true
	missing := pathKey{sysno: missingCall, creds: creds, start: "/", path: "/d/sub/new"}
	pc.mu.Lock()
	kept := pc.copyAbsenceLocked(missing, missing.path, 7)
	pc.mu.Unlock()
	if kept {
		t.Error("a listed copy kept the absence of a name")
	}
}

// TestDirentNames: a listing's names but "." and "..", those that may
// be symbolic links marked; malformed records are refused.
func TestDirentNames(t *testing.T) {
	good := slices.Concat(testDirent(".", unix.DT_DIR), testDirent("a", unix.DT_REG), testDirent("l", unix.DT_LNK),
		testDirent("u", unix.DT_UNKNOWN))
	names, ok := direntNames(good)
	if want := map[string]bool{"a": false, "l": true, "u": true}; !ok || !maps2Equal(names, want) {
		t.Errorf("names %v (%v), want %v", names, ok, want)
	}
	bad := slices.Clone(good)
	binary.LittleEndian.PutUint16(bad[16:], 3)
	for _, b := range [][]byte{bad, good[:10], good[:len(good)-1]} {
		if _, ok := direntNames(b); ok {
			t.Errorf("malformed records %x accepted", b)
		}
	}
}

// TestNamedDir: an rmdir of a path no copy is of names the directory it
// removes by the existence answer a listing kept of the path, so that
// only that directory's copies go with it (namesChange.removedDir), not
// every copy (rm -r's removal of a directory whose listing was not a
// listing ahead would otherwise cost every directory above it its
// copy); nothing once the name's lease is revoked.
func TestNamedDir(t *testing.T) {
	const root, dir, sub = 2, 10, 42
	for _, tc := range []struct {
		revoke []uint64
		want   uint64
	}{{nil, sub}, {[]uint64{104}, 0}, {[]uint64{1}, 0}} {
		tk, l := listedTask()
		pc := tk.c.pcache
		r := &pb.Reply{PathLease: &pb.PathLease{Id: 1, Ids: []uint64{1, 2}, Kinds: []uint32{pathSearchKind, pathSearchKind},
			Inos: []uint64{root, dir}, TtlMs: l.TtlMs, Creds: l.Creds, DirIno: dir, Writable: true, Removable: true}}
		r.Listed = append(r.Listed, &pb.ListedStat{Name: []byte("sub"), Stat: statBytes(linux.S_IFDIR|0o755, sub), Ino: sub,
			Ids: []uint64{104, 105}})
		tk.keepListed(listing{wanted: true, path: "/d"}, r, pc.stamp())
		pc.revoke(&pb.LeaseRevoke{Ids: tc.revoke})
		pc.mu.Lock()
		got := pc.namedDirLocked(pathKey{sysno: missingCall, creds: pc.creds[7], start: "/", path: "/d/sub"})
		pc.mu.Unlock()
		if got != tc.want {
			t.Errorf("revoked %v: named directory %d, want %d", tc.revoke, got, tc.want)
		}
	}
}
