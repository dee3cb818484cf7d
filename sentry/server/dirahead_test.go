package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// dirCalls returns client l's opens of directories (thread 1, failing the
// test on an error) and its getdents64 of an fd with the fields of sc,
// into buf (64 KiB of l's memory); the reply's listings ahead are those
// of subdirectories (the one of the directory itself that a whole
// listing brings, selfListing, is taken out: withoutSelf).
func dirCalls(t *testing.T, l *env) (open func(path string) uint64, listing func(fd uint64, sc *sentrypb.Syscall) *sentrypb.Reply, buf uint64) {
	const bufSize = 64 << 10
	buf = l.mem.zeros(bufSize)
	open = func(path string) uint64 {
		t.Helper()
		r := l.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), l.mem.str(path), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if r.Errno != 0 {
			t.Fatalf("open %s: %v", path, unix.Errno(r.Errno))
		}
		return uint64(r.Ret)
	}
	listing = func(fd uint64, sc *sentrypb.Syscall) *sentrypb.Reply {
		t.Helper()
		sc.Sysno, sc.Args = unix.SYS_GETDENTS64, []uint64{fd, buf, bufSize, 0, 0, 0}
		r := l.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: sc}})
		l.mem.apply(r.Outputs)
		withoutSelf(r)
		return r
	}
	return open, listing, buf
}

// withoutSelf takes out of r.Ahead the listing of the directory listed
// itself (an empty name: selfListing) and returns it (nil: none).
func withoutSelf(r *sentrypb.Reply) *sentrypb.AheadListing {
	var self *sentrypb.AheadListing
	r.Ahead = slices.DeleteFunc(r.Ahead, func(a *sentrypb.AheadListing) bool {
		if len(a.Name) == 0 && !a.Sibling {
			self = a
			return true
		}
		return false
	})
	return self
}

// TestListingAhead checks the listings a getdents64 by path brings ahead
// (dirahead.go): of the first maxAheadDirs subdirectories it lists, not
// of a file nor of a directory over maxMissingInNames entries; each
// listing's records and cookie are what a getdents64 of that
// subdirectory returns, its entries' answers each hold two leases; a
// posted getdents64 with the cookie (ahead_cookie) moves a description
// not listed before to its listing's end and lists nothing, one already
// listed fails EINVAL; the siblings asked for come as such; the room
// left goes to the listed subdirectories' own ("s/g"), which may be asked
// for by name too, and a rename of s revokes them; another client's
// creation in a subdirectory revokes its listing ahead.
func TestListingAhead(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	dir := filepath.Join(e.root, "tmp", "la")
	const subs = maxAheadDirs + 4
	for i := 0; i < subs; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("s%02d", i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		n := i % 3
		if i == 1 {
			n = maxMissingInNames + 1 // too big to send ahead
		}
		for j := 0; j < n; j++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprint("f", j)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	open, listing, buf := dirCalls(t, l)
	fd := open("/tmp/la")
	r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/la"), ListingAhead: maxAheadDirs})
	l.sys(1, unix.SYS_CLOSE, fd)
	if r.Errno != 0 || r.PathLease == nil {
		t.Fatalf("listing: %v, lease %v", unix.Errno(r.Errno), r.PathLease)
	}
	var names []string
	for _, a := range r.Ahead {
		names = append(names, string(a.Name))
	}
	t.Logf("sent ahead: %v", names)
	if len(r.Ahead) != maxAheadDirs || slices.Contains(names, "s01") || slices.Contains(names, "file") {
		t.Fatalf("sent ahead %v, want %d subdirectories, not s01 (too big) nor file", names, maxAheadDirs)
	}
	t.Run("asked by name", func(t *testing.T) {
		fd := open("/tmp/la")
		defer l.sys(1, unix.SYS_CLOSE, fd)
		r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/la"), ListingAhead: maxAheadDirs,
			AheadNames: [][]byte{[]byte("s01"), []byte("file"), []byte("s07"), []byte("nothere"), []byte("s14")}})
		var got []string
		for _, a := range r.Ahead {
			got = append(got, string(a.Name))
		}
		if !slices.Equal(got, []string{"s07", "s14"}) {
			t.Errorf("sent ahead %v, want s07 and s14 (s01 is too big)", got)
		}
	})
	for _, a := range r.Ahead {
		t.Run(string(a.Name), func(t *testing.T) {
			if a.Lease == nil || len(a.Lease.Ids) == 0 || a.Lease.DirIno == 0 || a.Sibling {
				t.Errorf("lease %v, sibling %v", a.Lease, a.Sibling)
			}
			for _, ls := range a.Listed {
				if len(ls.Ids) != 2 || ls.Ino == 0 {
					t.Errorf("entry %q: ids %v ino %d", ls.Name, ls.Ids, ls.Ino)
				}
			}
			fd := open("/tmp/la/" + string(a.Name))
			defer l.sys(1, unix.SYS_CLOSE, fd)
			got := listing(fd, &sentrypb.Syscall{})
			if got.Errno != 0 || !bytes.Equal(l.mem.bytes(buf, int(got.Ret)), a.Dirents) || !got.ListingEof {
				t.Errorf("getdents64 returned %d bytes (%v), eof %v; want the %d sent ahead", got.Ret, unix.Errno(got.Errno), got.ListingEof, len(a.Dirents))
			}
		})
	}
	t.Run("answered from it", func(t *testing.T) {
		i := slices.IndexFunc(r.Ahead, func(a *sentrypb.AheadListing) bool { return a.Cookie != 0 })
		if i < 0 {
			t.Fatal("no listing ahead with entries")
		}
		a := r.Ahead[i]
		fd := open("/tmp/la/" + string(a.Name))
		defer l.sys(1, unix.SYS_CLOSE, fd)
		cookie := a.Cookie
		p := listing(fd, &sentrypb.Syscall{Posted: true, AheadCookie: &cookie})
		if p.Errno != 0 || p.Ret != 0 || !p.ListingEof || len(p.Outputs) != 0 {
			t.Fatalf("posted: ret %d %v eof %v outputs %d; want 0, at the end, nothing listed", p.Ret, unix.Errno(p.Errno), p.ListingEof, len(p.Outputs))
		}
		if next := listing(fd, &sentrypb.Syscall{}); next.Errno != 0 || next.Ret != 0 {
			t.Errorf("the next getdents64: %d %v, want 0", next.Ret, unix.Errno(next.Errno))
		}
		again := listing(fd, &sentrypb.Syscall{Posted: true, AheadCookie: new(uint64)})
		if unix.Errno(again.Errno) != unix.EINVAL {
			t.Errorf("a cursor moved elsewhere: %v, want EINVAL", unix.Errno(again.Errno))
		}
	})
	t.Run("siblings", func(t *testing.T) {
		fd := open("/tmp/la/s00")
		defer l.sys(1, unix.SYS_CLOSE, fd)
		cookie := r.Ahead[0].Cookie
		p := listing(fd, &sentrypb.Syscall{Posted: true, AheadCookie: &cookie, PathLeaseWanted: true, ListingPath: []byte("/tmp/la/s00"),
			ListingAhead: maxAheadDirs, AheadSiblings: [][]byte{[]byte("s18"), []byte("s19"), []byte("file")}})
		var sibs []string
		for _, a := range p.Ahead {
			if a.Sibling {
				sibs = append(sibs, string(a.Name))
			}
		}
		if !slices.Equal(sibs, []string{"s18", "s19"}) {
			t.Errorf("siblings sent ahead %v, want s18 and s19", sibs)
		}
	})
	t.Run("second level", func(t *testing.T) {
		// /tmp/la2: a (with subdirectories x and y), b; listed, the
		// room left after a and b goes to a/x and a/y; asked by
		// name, "a/x" is listed and names that are no entry's are not.
		top := filepath.Join(e.root, "tmp", "la2")
		for _, d := range []string{"a/x", "a/y", "b"} {
			if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(top, "a", "x", "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		names := func(r *sentrypb.Reply) (got []string) {
			for _, a := range r.Ahead {
				got = append(got, string(a.Name))
			}
			slices.Sort(got)
			return got
		}
		fd := open("/tmp/la2")
		r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/la2"), ListingAhead: maxAheadDirs})
		l.sys(1, unix.SYS_CLOSE, fd)
		if got := names(r); !slices.Equal(got, []string{"a", "a/x", "a/y", "b"}) {
			t.Fatalf("sent ahead %v, want a, a/x, a/y, b", got)
		}
		for _, a := range r.Ahead {
			if string(a.Name) != "a/x" {
				continue
			}
			fd := open("/tmp/la2/a/x")
			got := listing(fd, &sentrypb.Syscall{})
			l.sys(1, unix.SYS_CLOSE, fd)
			if got.Errno != 0 || !bytes.Equal(l.mem.bytes(buf, int(got.Ret)), a.Dirents) {
				t.Errorf("getdents64 of a/x returned %d bytes (%v), want the %d sent ahead", got.Ret, unix.Errno(got.Errno), len(a.Dirents))
			}
		}
		fd = open("/tmp/la2")
		r = listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/la2"), ListingAhead: 1,
			AheadNames: [][]byte{[]byte("a/x/"), []byte("../la2"), []byte("a/.."), []byte("a/./x"), []byte("a/x/f"), []byte("b/nothere"), []byte("a/y")}})
		l.sys(1, unix.SYS_CLOSE, fd)
		if got := names(r); !slices.Equal(got, []string{"a/y"}) {
			t.Errorf("asked by name, sent ahead %v, want a/y alone", got)
		}
		// Renaming a away (another client) revokes a/y's listing: its
		// walk crossed a.
		ids := r.Ahead[0].Lease.Ids
		done := make(chan *sentrypb.Reply, 1)
		go func() {
			done <- e.sys(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e.mem.str("/tmp/la2/a"), uint64(atFDCWD64), e.mem.str("/tmp/la2/c"))
		}()
		p := l.waitRevokeOf(ids)
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Errorf("the other client's rename: %v", unix.Errno(r.Errno))
		}
	})
	t.Run("revoked by another client's creation", func(t *testing.T) {
		fd := open("/tmp/la")
		r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/la"), ListingAhead: 1})
		l.sys(1, unix.SYS_CLOSE, fd)
		if len(r.Ahead) != 1 {
			t.Fatalf("%d sent ahead, want 1", len(r.Ahead))
		}
		ids := r.Ahead[0].Lease.Ids
		done := make(chan *sentrypb.Reply, 1)
		path := "/tmp/la/" + string(r.Ahead[0].Name) + "/new"
		go func() {
			done <- e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str(path), unix.O_CREAT|unix.O_WRONLY, 0o644)
		}()
		p := l.waitRevokeOf(ids)
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Errorf("the other client's creation: %v", unix.Errno(r.Errno))
		}
	})
}

// TestListedDirOpenNoWalk: a listing ahead of a subdirectory brings a
// handle of it (GetdentsRequest.want_handle), kept on its dentry, through
// which its own subdirectories are listed ahead ("a/x") and which the
// process's open of the subdirectory takes: no gofer Walk, and the
// description lists what the listing ahead held. A rename through the
// server changes the directories it renames in: the open of one of them
// walks, that of another takes its kept handle still.
func TestListedDirOpenNoWalk(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc, _ := countingEnvSock(t)
	freezeClock(e) // no kept handle ages out during the test
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	for _, d := range []string{"a", "b", "c", "a/x"} {
		if err := os.MkdirAll(filepath.Join(e.root, "tmp", "lw", d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, "tmp", "lw", d, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open, listing, buf := dirCalls(t, l)
	fd := open("/tmp/lw")
	rc.take()
	r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/lw"), ListingAhead: maxAheadDirs})
	if got := rc.take(); got["Walk"] != 0 {
		t.Errorf("the listing of /tmp/lw with a, b, c and a/x ahead made gofer calls %s, want no Walk", fmtCounts(got))
	}
	l.sys(1, unix.SYS_CLOSE, fd)
	ahead := map[string][]byte{}
	for _, a := range r.Ahead {
		ahead[string(a.Name)] = a.Dirents
	}
	if len(ahead) != 4 || ahead["a/x"] == nil {
		t.Fatalf("sent ahead %d listings, want a, b, c and a/x", len(r.Ahead))
	}
	keptReused := func() (n uint64) {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		for c := range e.srv.clients {
			n += c.k.VFS.KeptReused()
		}
		return n
	}
	rc.take()
	reused := keptReused()
	fd = open("/tmp/lw/a")
	if keptReused() != reused+1 {
		t.Errorf("the open of a directory listed ahead took no kept handle")
	}
	if got := rc.take(); got["Walk"] != 0 {
		t.Errorf("the open of a directory listed ahead made gofer calls %s, want no Walk", fmtCounts(got))
	}
	got := listing(fd, &sentrypb.Syscall{})
	l.sys(1, unix.SYS_CLOSE, fd)
	if got.Errno != 0 || !bytes.Equal(l.mem.bytes(buf, int(got.Ret)), ahead["a"]) {
		t.Errorf("getdents64 through the kept handle returned %d bytes (%v), want the %d listed ahead", got.Ret, unix.Errno(got.Errno), len(ahead["a"]))
	}
	if r := e.sys(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e.mem.str("/tmp/lw/c/f"), uint64(atFDCWD64), e.mem.str("/tmp/lw/c/g")); r.Errno != 0 {
		t.Fatalf("rename: %v", unix.Errno(r.Errno))
	}
	reused = keptReused()
	fd = open("/tmp/lw/b")
	l.sys(1, unix.SYS_CLOSE, fd)
	if keptReused() != reused+1 {
		t.Errorf("the open of a directory listed ahead after a rename in another took no kept handle")
	}
	reused = keptReused()
	fd = open("/tmp/lw/c")
	l.sys(1, unix.SYS_CLOSE, fd)
	if keptReused() != reused {
		t.Errorf("the open of a directory listed ahead after a rename in it took the kept handle")
	}
}

// TestListingAheadGoferCalls: the listings ahead of one directory's
// subdirectories cost one gofer Getdents (GetdentsRequest.names), not
// one each: /tmp/lg's six subdirectories in one call, the second level's
// d0/x, d0/y in one through d0's handle and d1/x, d1/y in one through
// d1's (4 calls with the listing of /tmp/lg itself; 11 with one call a
// listing), each listing what a getdents64 of it returns, each bringing
// its handle (the open of d3 walks nothing).
func TestListingAheadGoferCalls(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc, _ := countingEnvSock(t)
	freezeClock(e) // no kept handle ages out during the test
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	for _, d := range []string{"d0/x", "d0/y", "d1/x", "d1/y", "d2", "d3", "d4", "d5"} {
		if err := os.MkdirAll(filepath.Join(e.root, "tmp", "lg", d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, "tmp", "lg", d, "f"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open, listing, buf := dirCalls(t, l)
	fd := open("/tmp/lg")
	rc.take()
	r := listing(fd, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/lg"), ListingAhead: maxAheadDirs})
	got := rc.take()
	l.sys(1, unix.SYS_CLOSE, fd)
	var names []string
	for _, a := range r.Ahead {
		names = append(names, string(a.Name))
	}
	slices.Sort(names)
	want := []string{"d0", "d0/x", "d0/y", "d1", "d1/x", "d1/y", "d2", "d3", "d4", "d5"}
	if !slices.Equal(names, want) {
		t.Fatalf("sent ahead %v, want %v", names, want)
	}
	if got["Getdents"] != 4 || got["Walk"] != 0 {
		t.Errorf("the listing of /tmp/lg with 10 listings ahead made gofer calls %s, want 4 Getdents (its own, one for its subdirectories, one for each of d0's and d1's) and no Walk", fmtCounts(got))
	}
	fd = open("/tmp/lg/d3")
	l.sys(1, unix.SYS_CLOSE, fd)
	if got := rc.take(); got["Walk"] != 0 {
		t.Errorf("the open of d3, listed ahead, made gofer calls %s, want no Walk (its listing's handle)", fmtCounts(got))
	}
	for _, a := range r.Ahead {
		fd := open("/tmp/lg/" + string(a.Name))
		got := listing(fd, &sentrypb.Syscall{})
		l.sys(1, unix.SYS_CLOSE, fd)
		if got.Errno != 0 || !bytes.Equal(l.mem.bytes(buf, int(got.Ret)), a.Dirents) || len(a.Listed) == 0 {
			t.Errorf("%s: getdents64 returned %d bytes (%v), want the %d sent ahead (%d entries' answers)", a.Name, got.Ret, unix.Errno(got.Errno), len(a.Dirents), len(a.Listed))
		}
	}
}

// TestListingAheadSelf: a getdents64 by path that lists the directory
// whole (from its description's start to its end, in one call) brings
// the directory's own listing ahead (selfListing: an empty name, no
// records nor entries of its own, the cursor's end as its cookie), which
// answers a posted getdents64 of another description of it; its lease
// is revoked by another client's creation in the directory. A listing cut
// short by its buffer, one of a description already listed, or one of
// more entries than a listing ahead takes brings none.
func TestListingAheadSelf(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	dir := filepath.Join(e.root, "tmp", "lself")
	if err := os.MkdirAll(filepath.Join(dir, "s"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open, _, buf := dirCalls(t, l)
	raw := func(fd uint64, size uint64, sc *sentrypb.Syscall) (*sentrypb.Reply, *sentrypb.AheadListing) {
		t.Helper()
		sc.Sysno, sc.Args = unix.SYS_GETDENTS64, []uint64{fd, buf, size, 0, 0, 0}
		r := l.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: sc}})
		l.mem.apply(r.Outputs)
		return r, withoutSelf(r)
	}
	byPath := func() *sentrypb.Syscall {
		return &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/lself"), ListingAhead: maxAheadDirs}
	}

	fd := open("/tmp/lself")
	r, self := raw(fd, 64<<10, byPath())
	l.sys(1, unix.SYS_CLOSE, fd)
	if r.Errno != 0 || !r.ListingEof || self == nil {
		t.Fatalf("whole listing: %v, eof %v, self %v; want its own listing ahead", unix.Errno(r.Errno), r.ListingEof, self)
	}
	if len(self.Dirents) != 0 || len(self.Listed) != 0 || self.Cookie == 0 || self.Lease.GetDirIno() == 0 {
		t.Errorf("self: %d bytes of records, %d entries, cookie %d, lease %v; want none of its own, the cursor's end, a lease of the directory",
			len(self.Dirents), len(self.Listed), self.Cookie, self.Lease)
	}
	t.Run("answers another description", func(t *testing.T) {
		fd := open("/tmp/lself")
		defer l.sys(1, unix.SYS_CLOSE, fd)
		cookie := self.Cookie
		p, _ := raw(fd, 64<<10, &sentrypb.Syscall{Posted: true, AheadCookie: &cookie})
		if p.Errno != 0 || !p.ListingEof {
			t.Fatalf("posted with the cookie: %v, eof %v", unix.Errno(p.Errno), p.ListingEof)
		}
		if next, _ := raw(fd, 64<<10, &sentrypb.Syscall{}); next.Errno != 0 || next.Ret != 0 {
			t.Errorf("the next getdents64: %d %v, want 0 (at the end)", next.Ret, unix.Errno(next.Errno))
		}
	})
	t.Run("not whole", func(t *testing.T) {
		fd := open("/tmp/lself")
		defer l.sys(1, unix.SYS_CLOSE, fd)
		// Room for ".", ".." and one entry.
		if r, self := raw(fd, 80, byPath()); r.Errno != 0 || r.ListingEof || self != nil {
			t.Errorf("a listing cut short: %v, eof %v, self %v; want none", unix.Errno(r.Errno), r.ListingEof, self)
		}
		if r, self := raw(fd, 64<<10, byPath()); r.Errno != 0 || !r.ListingEof || self != nil {
			t.Errorf("the rest of the listing: %v, eof %v, self %v; want none", unix.Errno(r.Errno), r.ListingEof, self)
		}
	})
	t.Run("too big", func(t *testing.T) {
		big := filepath.Join(e.root, "tmp", "lbig")
		if err := os.MkdirAll(big, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range maxMissingInNames + 1 {
			if err := os.WriteFile(filepath.Join(big, fmt.Sprint("f", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fd := open("/tmp/lbig")
		defer l.sys(1, unix.SYS_CLOSE, fd)
		sc := &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/lbig"), ListingAhead: maxAheadDirs}
		if r, self := raw(fd, 64<<10, sc); r.Errno != 0 || !r.ListingEof || self != nil {
			t.Errorf("a whole listing of %d entries: %v, eof %v, self %v; want none (more than a listing ahead takes)",
				maxMissingInNames+1, unix.Errno(r.Errno), r.ListingEof, self)
		}
	})
	t.Run("revoked by another client's creation", func(t *testing.T) {
		ids := self.Lease.Ids
		done := make(chan *sentrypb.Reply, 1)
		go func() {
			done <- e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str("/tmp/lself/new"), unix.O_CREAT|unix.O_WRONLY, 0o644)
		}()
		p := l.waitRevokeOf(ids)
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Errorf("the other client's creation: %v", unix.Errno(r.Errno))
		}
	})
}
