package gofer

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestGetdentsOfSub checks a Getdents that names a subdirectory
// (GetdentsRequest.name): its entries with their attributes, the same
// as a listing of a handle of it, eof only when count holds them all;
// ESTALE when the name holds another inode than ino; a symbolic link is
// not followed, a name with a slash, a file, an offset or the hidden
// silly directory are refused.
func TestGetdentsOfSub(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"sub", "sub/inner"} {
		if err := os.Mkdir(e.host(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeHostFile(t, e.host("sub/a"), "x")
	writeHostFile(t, e.host("sub/b"), "yy")
	writeHostFile(t, e.host("file"), "")
	if err := os.Symlink("sub", e.host("link")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(e.host("sub"), &st); err != nil {
		t.Fatal(err)
	}
	w := must(t, "walk", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("sub")}})))
	byHandle := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: w.GetFiles()[0].GetHandle().GetId(), Count: 100, Plus: true})))
	names := func(r *goferpb.GetdentsReply) []string {
		var ns []string
		for _, d := range r.GetEntries() {
			ns = append(ns, string(d.GetName()))
		}
		return ns
	}
	tests := []struct {
		name    string
		req     *goferpb.GetdentsRequest
		errno   unix.Errno
		entries []string
		eof     bool
	}{
		{name: "all", req: &goferpb.GetdentsRequest{Name: []byte("sub"), Ino: st.Ino, Count: 100, Plus: true}, entries: names(byHandle), eof: true},
		{name: "no inode named", req: &goferpb.GetdentsRequest{Name: []byte("sub"), Count: 100}, entries: names(byHandle), eof: true},
		{name: "count short", req: &goferpb.GetdentsRequest{Name: []byte("sub"), Count: 2}, entries: names(byHandle)[:2]},
		{name: "another inode", req: &goferpb.GetdentsRequest{Name: []byte("sub"), Ino: st.Ino + 1, Count: 100}, errno: unix.ESTALE},
		{name: "a symlink", req: &goferpb.GetdentsRequest{Name: []byte("link"), Count: 100}, errno: unix.ENOTDIR},
		{name: "a file", req: &goferpb.GetdentsRequest{Name: []byte("file"), Count: 100}, errno: unix.ENOTDIR},
		{name: "a path", req: &goferpb.GetdentsRequest{Name: []byte("sub/inner"), Count: 100}, errno: unix.EINVAL},
		{name: "an offset", req: &goferpb.GetdentsRequest{Name: []byte("sub"), Offset: 5, Count: 100}, errno: unix.EINVAL},
		{name: "missing", req: &goferpb.GetdentsRequest{Name: []byte("nothere"), Count: 100}, errno: unix.ENOENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Dir = e.rootH
			r, err := e.c.Getdents(e.ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := unix.Errno(r.GetErrno()); got != tc.errno {
				t.Fatalf("errno %v, want %v", got, tc.errno)
			}
			if tc.errno != 0 {
				return
			}
			if !slices.Equal(names(r), tc.entries) || r.GetEof() != tc.eof {
				t.Errorf("entries %v eof %v, want %v eof %v", names(r), r.GetEof(), tc.entries, tc.eof)
			}
			if tc.req.Plus {
				for i, s := range r.GetStats() {
					if s.GetIno() != byHandle.GetStats()[i].GetIno() || s.GetSize() != byHandle.GetStats()[i].GetSize() {
						t.Errorf("entry %d: stat %v, want %v", i, s, byHandle.GetStats()[i])
					}
				}
			}
		})
	}
}

// TestGetdentsOfSubs checks a Getdents naming several subdirectories
// (GetdentsRequest.names): each one's reply, in order, is what a
// Getdents naming it alone returns (entries, eof, attributes, errno,
// whether it is a mount point, the handle asked for, which lists the
// same names for the caller); an unknown dir handle fails the call
// whole (EBADF); name beside names, inos not one a name, and more than
// maxSubsPerCall names are EINVAL.
func TestGetdentsOfSubs(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"a", "b", "b/inner", "c"} {
		if err := os.Mkdir(e.host(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeHostFile(t, e.host("a/f1"), "x")
	writeHostFile(t, e.host("b/f2"), "yy")
	writeHostFile(t, e.host("file"), "")
	if err := os.Symlink("a", e.host("link")); err != nil {
		t.Fatal(err)
	}
	var sta, stc unix.Stat_t
	if err := unix.Stat(e.host("a"), &sta); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(e.host("c"), &stc); err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "b", "missing", "file", "link", "c", "a"}
	inos := []uint64{sta.Ino, 0, 0, 0, 0, stc.Ino + 1, 0}
	req := &goferpb.GetdentsRequest{Dir: e.rootH, Inos: inos, Count: 100, Plus: true, WantHandle: true}
	for _, n := range names {
		req.Names = append(req.Names, []byte(n))
	}
	r := must(t, "getdents of subdirectories", must2(e.c.Getdents(e.ctx, req)))
	if len(r.GetSubs()) != len(names) || len(r.GetEntries()) != 0 {
		t.Fatalf("%d replies (and %d entries of its own), want %d", len(r.GetSubs()), len(r.GetEntries()), len(names))
	}
	entryNames := func(r *goferpb.GetdentsReply) []string {
		var ns []string
		for _, d := range r.GetEntries() {
			ns = append(ns, string(d.GetName()))
		}
		return ns
	}
	for i, name := range names {
		got := r.GetSubs()[i]
		want, err := e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte(name), Ino: inos[i], Count: 100, Plus: true, WantHandle: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetErrno() != want.GetErrno() || !slices.Equal(entryNames(got), entryNames(want)) || got.GetEof() != want.GetEof() ||
			len(got.GetStats()) != len(want.GetStats()) || got.GetSubNoMount() != want.GetSubNoMount() || (got.GetSub() == nil) != (want.GetSub() == nil) {
			t.Errorf("%d (%s): errno %d, entries %v, eof %v, %d stats, no mount %v, handle %v; alone: %d, %v, %v, %d, %v, %v", i, name,
				got.GetErrno(), entryNames(got), got.GetEof(), len(got.GetStats()), got.GetSubNoMount(), got.GetSub() != nil,
				want.GetErrno(), entryNames(want), want.GetEof(), len(want.GetStats()), want.GetSubNoMount(), want.GetSub() != nil)
			continue
		}
		for j, st := range got.GetStats() {
			if st.GetIno() != want.GetStats()[j].GetIno() || st.GetSize() != want.GetStats()[j].GetSize() {
				t.Errorf("%d (%s): entry %d: stat %v, alone %v", i, name, j, st, want.GetStats()[j])
			}
		}
		if h := got.GetSub().GetHandle().GetId(); h != 0 {
			byHandle := must(t, "getdents by the handle", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: h, Count: 100})))
			if !slices.Equal(entryNames(byHandle), entryNames(got)) || got.GetSub().GetStat().GetIno() == 0 {
				t.Errorf("%d (%s): its handle lists %v, want %v (stat %v)", i, name, entryNames(byHandle), entryNames(got), got.GetSub().GetStat())
			}
		}
	}
	if e := unix.Errno(r.GetSubs()[0].GetErrno()); e != 0 || len(r.GetSubs()[0].GetEntries()) != 1 {
		t.Errorf("a: errno %v, %d entries; want its one file", e, len(r.GetSubs()[0].GetEntries()))
	}
	if e := unix.Errno(r.GetSubs()[5].GetErrno()); e != unix.ESTALE {
		t.Errorf("c asked as another inode: %v, want ESTALE", e)
	}
	many := make([][]byte, maxSubsPerCall+1)
	for i := range many {
		many[i] = []byte("a")
	}
	for _, tc := range []struct {
		name  string
		req   *goferpb.GetdentsRequest
		errno unix.Errno
	}{
		{"unknown dir", &goferpb.GetdentsRequest{Dir: e.rootH + 1000, Names: [][]byte{[]byte("a")}, Count: 10}, unix.EBADF},
		{"name and names", &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("a"), Names: [][]byte{[]byte("b")}, Count: 10}, unix.EINVAL},
		{"inos short", &goferpb.GetdentsRequest{Dir: e.rootH, Names: [][]byte{[]byte("a"), []byte("b")}, Inos: []uint64{sta.Ino}, Count: 10}, unix.EINVAL},
		{"too many", &goferpb.GetdentsRequest{Dir: e.rootH, Names: many, Count: 10}, unix.EINVAL},
	} {
		r, err := e.c.Getdents(e.ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := unix.Errno(r.GetErrno()); got != tc.errno || len(r.GetSubs()) != 0 {
			t.Errorf("%s: errno %v, %d replies; want %v, none", tc.name, got, len(r.GetSubs()), tc.errno)
		}
	}
}

// TestGetdentsOfSubHostCalls counts the gofer's host calls per listing
// of a subdirectory by name with its handle (strace of the test process,
// whose gofer serves the call in-process): one statx of the directory
// tells its inode and whether it is a mount point, the descriptor just
// opened needs no seek, and the handle's inode is checked against that
// statx: no fstat and no lseek (were 2 fstat, an lseek and one statx
// more a listing: 3 files, 12 host calls a listing before, 9 after).
func TestGetdentsOfSubHostCalls(t *testing.T) {
	tu.RequireRoot(t) // strace attaches to the test process
	e := newEnv(t)
	const dirs, files = 40, 3
	req := &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100, Plus: true, WantHandle: true}
	for i := range dirs {
		d := fmt.Sprintf("d%02d", i)
		if err := os.Mkdir(e.host(d), 0o755); err != nil {
			t.Fatal(err)
		}
		for j := range files {
			writeHostFile(t, e.host(fmt.Sprintf("%s/f%d", d, j)), "x")
		}
		req.Names = append(req.Names, []byte(d))
	}
	var r *goferpb.GetdentsReply
	var err error
	c := tu.SyscallCounts(t, os.Getpid(), func() { r, err = e.srv.Getdents(e.ctx, req) })
	if err != nil || r.GetErrno() != 0 || len(r.GetSubs()) != dirs {
		t.Fatalf("getdents: %v, errno %d, %d listings", err, r.GetErrno(), len(r.GetSubs()))
	}
	for i, sr := range r.GetSubs() {
		if sr.GetErrno() != 0 || len(sr.GetEntries()) != files || len(sr.GetStats()) != files || sr.GetSub() == nil || !sr.GetSubNoMount() {
			t.Fatalf("listing %d: errno %d, %d entries, %d stats, handle %v, no mount %v", i, sr.GetErrno(), len(sr.GetEntries()), len(sr.GetStats()), sr.GetSub(), sr.GetSubNoMount())
		}
	}
	per := func(name string) float64 { return float64(c[name]) / dirs }
	t.Logf("a listing: openat %.2f, statx %.2f, fstat %.2f, lseek %.2f, fstatfs %.2f, getdents64 %.2f, name_to_handle_at %.2f, close %.2f",
		per("openat"), per("statx"), per("fstat"), per("lseek"), per("fstatfs"), per("getdents64"), per("name_to_handle_at"), per("close"))
	if per("fstat") > 0.1 || per("lseek") > 0.1 || per("statx") > files+2.1 {
		t.Errorf("a listing made %.2f fstat, %.2f lseek, %.2f statx; want none, none, %d (the directory's, each entry's, the handle's)",
			per("fstat"), per("lseek"), per("statx"), files+2)
	}
}

// TestListingAllocs: a listing's entries, their names and their
// attributes are made together, a few allocations a listing
// (parseDirents, statEntriesAt), not two (a Dirent and its name), two (a
// Stat made twice), one for the statx's path and one for the name's
// check an entry: a listing of 40 files by name with their attributes
// made 6.6 allocations an entry, now 0.65 (26 a listing, the call's
// own among them).
func TestListingAllocs(t *testing.T) {
	e := newEnv(t)
	const files = 40
	if err := os.Mkdir(e.host("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		writeHostFile(t, e.host(fmt.Sprintf("d/file-%02d.h", i)), "x")
	}
	req := &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("d"), Count: 257, Plus: true}
	var bad error
	allocs := testing.AllocsPerRun(50, func() {
		r, err := e.srv.Getdents(e.ctx, req)
		if err != nil || r.GetErrno() != 0 || len(r.GetEntries()) != files || len(r.GetStats()) != files {
			bad = fmt.Errorf("getdents: %v, errno %d, %d entries, %d stats", err, r.GetErrno(), len(r.GetEntries()), len(r.GetStats()))
		}
	})
	if bad != nil {
		t.Fatal(bad)
	}
	t.Logf("%.1f allocations a listing of %d files, %.2f an entry", allocs, files, allocs/files)
	if allocs/files > 1 {
		t.Errorf("%.2f allocations an entry, want at most 1", allocs/files)
	}
}

// TestNameOK: nameOK accepts exactly the names checkName does.
func TestNameOK(t *testing.T) {
	for _, name := range []string{"a", "file.h", "", ".", "..", "...", "a/b", "/", "a\x00b", strings.Repeat("n", maxNameLen), strings.Repeat("n", maxNameLen+1)} {
		if got, want := nameOK([]byte(name)), checkName(name) == nil; got != want {
			t.Errorf("%q: nameOK %v, checkName accepts %v", name, got, want)
		}
	}
}

// TestListingsShareNoBuffer lists two directories of different names from
// two goroutines at once, again and again: each listing must hold its
// own directory's names, whatever the other read meanwhile into the
// buffers listings share (direntBufs).
func TestListingsShareNoBuffer(t *testing.T) {
	e := newEnv(t)
	want := map[string][]string{}
	for _, d := range []string{"p", "q"} {
		if err := os.Mkdir(e.host(d), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			name := fmt.Sprintf("%s-entry-%02d", strings.Repeat(d, 10), i)
			writeHostFile(t, e.host(d+"/"+name), "")
			want[d] = append(want[d], name)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for d := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				r, err := e.srv.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte(d), Count: 100})
				if err != nil || r.GetErrno() != 0 {
					errs <- fmt.Errorf("listing %s: %v, errno %d", d, err, r.GetErrno())
					return
				}
				var got []string
				for _, ent := range r.GetEntries() {
					got = append(got, string(ent.GetName()))
				}
				slices.Sort(got)
				if !slices.Equal(got, want[d]) {
					errs <- fmt.Errorf("listing %s: %v, want %v", d, got, want[d])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkGetdentsOfSub times the gofer's side of a listing ahead of a
// small subdirectory (ten files, with their attributes), without the
// call's transport: most directories a find lists are that small.
func BenchmarkGetdentsOfSub(b *testing.B) {
	e := newEnv(b)
	if err := os.MkdirAll(e.host("d/s"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		if err := os.WriteFile(e.host(fmt.Sprintf("d/s/f%d.h", i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	req := &goferpb.GetdentsRequest{Dir: e.walkOne(e.rootH, "d"), Name: []byte("s"), Count: 257, Plus: true}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.srv.Getdents(e.ctx, req)
		if err != nil || r.GetErrno() != 0 || len(r.GetEntries()) != 10 {
			b.Fatalf("getdents: %v, errno %d, %d entries", err, r.GetErrno(), len(r.GetEntries()))
		}
	}
}

// TestGetdentsOfSubHandle: a listing by name that asks for a handle
// (want_handle) brings one of the subdirectory, with its attributes,
// that lists what the listing did and is released as any other; none
// comes unasked, nor with a failed listing.
func TestGetdentsOfSubHandle(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(e.host("sub/inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeHostFile(t, e.host("sub/a"), "x")
	writeHostFile(t, e.host("file"), "")
	var st unix.Stat_t
	if err := unix.Stat(e.host("sub"), &st); err != nil {
		t.Fatal(err)
	}
	r := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("sub"), Ino: st.Ino, Count: 100, WantHandle: true})))
	sub := r.GetSub()
	if sub.GetHandle().GetId() == 0 || sub.GetStat().GetIno() != st.Ino || sub.GetStat().GetMode()&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("sub %v, want a handle of directory inode %d", sub, st.Ino)
	}
	byHandle := must(t, "getdents by the handle", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: sub.GetHandle().GetId(), Count: 100})))
	var listed, walked []string
	for _, d := range r.GetEntries() {
		listed = append(listed, string(d.GetName()))
	}
	for _, d := range byHandle.GetEntries() {
		walked = append(walked, string(d.GetName()))
	}
	if !slices.Equal(listed, walked) {
		t.Errorf("the handle lists %v, the listing by name %v", walked, listed)
	}
	must2(e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{sub.GetHandle().GetId()}}))
	if r, err := e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: sub.GetHandle().GetId(), Count: 100}); err == nil && r.GetErrno() == 0 {
		t.Errorf("the handle lists after its release")
	}
	for _, req := range []*goferpb.GetdentsRequest{
		{Dir: e.rootH, Name: []byte("sub"), Count: 100},
		{Dir: e.rootH, Name: []byte("file"), Count: 100, WantHandle: true},
		{Dir: e.rootH, Name: []byte("sub"), Ino: st.Ino + 1, Count: 100, WantHandle: true},
	} {
		r, err := e.c.Getdents(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetSub() != nil {
			t.Errorf("%v: a handle came: %v", req, r.GetSub())
		}
	}
}

// TestNoMountPoint: a listing of a subdirectory says whether it is a
// mount point (GetdentsReply.sub_no_mount): the root of the file system
// is one, a directory made in a test's directory is not.
func TestNoMountPoint(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{{"/", false}, {t.TempDir(), true}} {
		fd, err := unix.Open(tc.path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		ino, got, err := dirIdentity(fd)
		if err != nil || ino != st.Ino || got != tc.want {
			t.Errorf("%s: inode %d, no mount point %v (%v), want %d, %v", tc.path, ino, got, err, st.Ino, tc.want)
		}
		unix.Close(fd)
	}
	e := newEnv(t)
	if err := os.Mkdir(e.host("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("sub"), Count: 10})))
	if !r.GetSubNoMount() {
		t.Error("a listing of a plain subdirectory does not say it is no mount point")
	}
}
