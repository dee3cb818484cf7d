package server

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// TestDirListingOfLookups checks which replies of path calls that asked
// for it (Syscall.dir_listing_wanted) carry the listing of the directory
// the last name was looked up in (Reply.dir_listing): a stat's success or
// ENOENT, readlink's EINVAL, a read-only open's success, each of plain
// names in a small gofer directory; not the access calls (they walk with
// the real ids), a walk through a symbolic link, a big directory, or a
// call that did not ask. Each entry's lstat answer names its inode and
// holds two leases; another client's chmod of an entry revokes its own.
func TestDirListingOfLookups(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	dir := filepath.Join(e.root, "tmp", "dl")
	big := filepath.Join(e.root, "tmp", "dlbig")
	for _, d := range []string{filepath.Join(dir, "sub"), big} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/tmp/dl", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= maxMissingInNames; i++ {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sb := l.mem.zeros(144)
	buf := l.mem.zeros(256)
	tests := []struct {
		name    string
		sysno   uintptr
		args    func(path uint64) []uint64
		path    string
		noAsk   bool
		errno   unix.Errno
		listing bool
	}{
		{"stat", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/a", false, 0, true},
		{"stat of a missing name", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/x", false, unix.ENOENT, true},
		{"readlink of a file", unix.SYS_READLINK, func(p uint64) []uint64 { return []uint64{p, buf, 256} }, "/tmp/dl/b", false, unix.EINVAL, true},
		{"open", unix.SYS_OPENAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, unix.O_RDONLY, 0} }, "/tmp/dl/a", false, 0, true},
		{"a directory", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/sub", false, 0, true},
		{"access", unix.SYS_ACCESS, func(p uint64) []uint64 { return []uint64{p, unix.R_OK} }, "/tmp/dl/a", false, 0, false},
		{"after a symlink", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/self/a", false, 0, false},
		{"stat following a last symlink", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/self", false, 0, false},
		{"in a big directory", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dlbig/1", false, 0, false},
		{"not asked", unix.SYS_NEWFSTATAT, func(p uint64) []uint64 { return []uint64{uint64(atFDCWD64), p, sb, 0} }, "/tmp/dl/a", true, 0, false},
	}
	want := map[string]uint64{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, en.Name()), &st); err != nil {
			t.Fatal(err)
		}
		want[en.Name()] = st.Ino
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := pathSysListing(l, !tc.noAsk, tc.sysno, tc.args(l.mem.str(tc.path))...)
			if unix.Errno(r.Errno) != tc.errno || r.PathLease == nil {
				t.Fatalf("errno %v, lease %v; want %v and a lease", unix.Errno(r.Errno), r.PathLease, tc.errno)
			}
			if tc.sysno == unix.SYS_OPENAT && r.Errno == 0 {
				l.sys(1, unix.SYS_CLOSE, uint64(r.Ret))
			}
			dl := r.DirListing
			if !tc.listing {
				if dl != nil || len(r.Listed) != 0 {
					t.Fatalf("a listing (%d entries), want none", len(r.Listed))
				}
				return
			}
			if dl == nil || int(r.DirListingPrefix) != len("/tmp/dl") || len(dl.Ids) == 0 || dl.Id != dl.Ids[0] || dl.DirIno == 0 {
				t.Fatalf("listing %v prefix %d, want one of /tmp/dl", dl, r.DirListingPrefix)
			}
			got := map[string]uint64{}
			for _, ls := range r.Listed {
				if len(ls.Ids) != 2 || len(ls.Stat) < 16 || len(ls.Statx) == 0 {
					t.Errorf("entry %q: ids %v, %d stat bytes", ls.Name, ls.Ids, len(ls.Stat))
				}
				if ino := binary.LittleEndian.Uint64(ls.Stat[8:]); ino != ls.Ino {
					t.Errorf("entry %q: stat ino %d, lease ino %d", ls.Name, ino, ls.Ino)
				}
				got[string(ls.Name)] = ls.Ino
			}
			if !maps.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})
	}
	t.Run("an entry revoked by another client's chmod", func(t *testing.T) {
		r := pathSysListing(l, true, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str("/tmp/dl/sub"), sb, 0)
		i := slices.IndexFunc(r.Listed, func(ls *sentrypb.ListedStat) bool { return string(ls.Name) == "b" })
		if r.DirListing == nil || i < 0 {
			t.Fatalf("no listed b: %v", r.Listed)
		}
		ids := r.Listed[i].Ids
		done := make(chan *sentrypb.Reply, 1)
		go func() { done <- e.sys(1, unix.SYS_CHMOD, e.mem.str("/tmp/dl/b"), 0o600) }()
		p := l.waitRevokeOf(ids)
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Errorf("the other client's chmod: %v", unix.Errno(r.Errno))
		}
	})
}

// TestDirListingRoom checks that lookups' listings count against the
// client's path budget alone (readlease's budgets): with its read budget
// full, a lookup still brings its directory's listing; with less than
// listingRoom left in the path budget after it, the lookup's answer is
// still leased but comes without a listing, fetched from the gofer
// (listingMayFit), and a listing granted leaves at least listingRoom.
func TestDirListingRoom(t *testing.T) {
	e, rc, sock := countingEnvSock(t)
	e.sock = sock
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	reg := e.srv.leases
	frozen := time.Now()
	reg.SetClock(func() time.Time { return frozen }) // no lease expires
	h := leaseHolderOf(t, e, t.Name()+"-2")
	const dirs, files = 3, 250
	for d := range dirs {
		dir := filepath.Join(e.root, "tmp", "room", fmt.Sprint(d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Read leases on inodes no file has, until the read budget is full.
	const fakeIno = 1 << 60
	read := 0
	for ; read < 1<<20; read++ {
		k := readlease.Key{Dev: fakeIno, Ino: fakeIno + uint64(read)}
		if _, _, _, ok := reg.Grant(h, reg.Begin(k), readlease.Version{}); !ok {
			break
		}
	}
	if read == 0 || read == 1<<20 {
		t.Fatalf("%d read leases granted before the read budget was full", read)
	}
	sb := l.mem.zeros(144)
	stat := func(d int) *sentrypb.Reply {
		t.Helper()
		r := pathSysListing(l, true, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str(fmt.Sprintf("/tmp/room/%d/0", d)), sb, 0)
		if r.Errno != 0 || r.PathLease == nil {
			t.Fatalf("dir %d: errno %v, lease %v", d, unix.Errno(r.Errno), r.PathLease)
		}
		if r.DirListing != nil && h.PathRoom() < listingRoom {
			t.Errorf("dir %d listed, leaving %d path leases of room, less than %d", d, h.PathRoom(), listingRoom)
		}
		return r
	}
	if r := stat(0); r.DirListing == nil || len(r.Listed) != files {
		t.Fatalf("with a full read budget: a listing of %d entries, want %d", len(r.Listed), files)
	}
	// Path leases on inodes no file has, until a listing's more would
	// leave less than listingRoom: room for the next listing (~255 new
	// leases, ~505 keys), not for the one after.
	for ino := uint64(fakeIno); h.PathRoom() > listingRoom+600; {
		keys := make([]readlease.Key, min(1024, h.PathRoom()-listingRoom-600))
		for i := range keys {
			keys[i] = readlease.PathKey(readlease.PathSearch, ino)
			ino++
		}
		if _, _, _, ok := reg.GrantPath(h, reg.BeginPath(), keys); !ok {
			t.Fatalf("path grant refused with %d of room", h.PathRoom())
		}
	}
	if r := stat(1); r.DirListing == nil {
		t.Errorf("no listing with %d path leases of room before it", listingRoom+600)
	}
	rc.take()
	if r := stat(2); r.DirListing != nil {
		t.Errorf("a listing of %d entries leaving %d path leases of room", len(r.Listed), h.PathRoom())
	}
	if n := rc.take()["Getdents"]; n != 0 {
		t.Errorf("a listing refused for lack of room fetched: %d gofer Getdents", n)
	}
}

// leaseHolderOf returns the lease holder of e's server's client id.
func leaseHolderOf(t *testing.T, e *env, id string) *readlease.Holder {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	for c := range e.srv.clients {
		if c.k.ID == id && c.k.LeaseHolder != nil {
			return c.k.LeaseHolder
		}
	}
	t.Fatalf("no client %q with a lease holder", id)
	return nil
}

// TestBigDirNotListedAgain checks that a directory a cold lookup found
// too big to list (over maxMissingInNames entries) costs no gofer
// Getdents on the next lookups in it, found or missing, until the names
// its client removes bring it to the bound (then it is listed) or
// tooBigLife passed (then it is tried again).
func TestBigDirNotListedAgain(t *testing.T) {
	e, rc, sock := countingEnvSock(t)
	e.sock = sock
	advance := freezeClock(e)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	const files = maxMissingInNames + 4
	for _, d := range []string{"big", "big2"} {
		if err := os.MkdirAll(filepath.Join(e.root, "tmp", d), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			if err := os.WriteFile(filepath.Join(e.root, "tmp", d, fmt.Sprint(i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	sb := l.mem.zeros(144)
	stat := func(p string) *sentrypb.Reply {
		return pathSysListing(l, true, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str(p), sb, 0)
	}
	unlinkTo := func(d string, left int) *sentrypb.Reply {
		var r *sentrypb.Reply
		for i := left; i < files; i++ {
			if r = l.sys(1, unix.SYS_UNLINK, l.mem.str(fmt.Sprintf("/tmp/%s/%d", d, i))); r.Errno != 0 {
				return r
			}
		}
		return r
	}
	rc.take()
	steps := []struct {
		name     string
		do       func() *sentrypb.Reply
		errno    unix.Errno
		getdents bool // the step lists the directory: Getdents > 0
		listed   int  // entries of the reply's listing
	}{
		{"the first cold lookup", func() *sentrypb.Reply { return stat("/tmp/big/0") }, 0, true, 0},
		{"the second", func() *sentrypb.Reply { return stat("/tmp/big/1") }, 0, false, 0},
		{"a missing name", func() *sentrypb.Reply { return stat("/tmp/big/none") }, unix.ENOENT, false, 0},
		{"not asking", func() *sentrypb.Reply {
			return pathSysListing(l, false, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), l.mem.str("/tmp/big/2"), sb, 0)
		}, 0, false, 0},
		{"its names removed to the bound", func() *sentrypb.Reply { return unlinkTo("big", maxMissingInNames) }, 0, false, 0},
		{"a lookup after", func() *sentrypb.Reply { return stat("/tmp/big/3") }, 0, true, maxMissingInNames},
		{"another big directory", func() *sentrypb.Reply { return stat("/tmp/big2/0") }, 0, true, 0},
		{"its second lookup", func() *sentrypb.Reply { return stat("/tmp/big2/1") }, 0, false, 0},
		{"its life passed", func() *sentrypb.Reply { advance(tooBigLife); return stat("/tmp/big2/2") }, 0, true, 0},
		{"a lookup after that", func() *sentrypb.Reply { return stat("/tmp/big2/3") }, 0, false, 0},
	}
	for _, s := range steps {
		r := s.do()
		n := rc.take()["Getdents"]
		if unix.Errno(r.Errno) != s.errno {
			t.Fatalf("%s: errno %v, want %v", s.name, unix.Errno(r.Errno), s.errno)
		}
		if (n > 0) != s.getdents {
			t.Errorf("%s: %d gofer Getdents, want them %v", s.name, n, s.getdents)
		}
		if len(r.Listed) != s.listed || (r.DirListing != nil) != (s.listed > 0) {
			t.Errorf("%s: a listing of %d entries (%v), want %d", s.name, len(r.Listed), r.DirListing != nil, s.listed)
		}
	}
}
