package gofer

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

func TestWalkOpen(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.host("f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", e.host("link")); err != nil {
		t.Fatal(err)
	}
	ino := e.stat(e.walkOne(e.rootH, "f")).Ino
	for _, tc := range []struct {
		name          string
		names         []string
		flags         uint32
		expectIno     uint64
		wantErrno     unix.Errno
		wantOpenErrno unix.Errno
		wantRead      string // "" if the handle must not be readable
	}{
		{name: "read", names: []string{"f"}, flags: unix.O_RDONLY, expectIno: ino, wantRead: "content"},
		{name: "any inode", names: []string{"f"}, flags: unix.O_RDONLY, wantRead: "content"},
		{name: "another inode", names: []string{"f"}, flags: unix.O_RDONLY, expectIno: ino + 1, wantOpenErrno: unix.ESTALE},
		{name: "missing", names: []string{"nope"}, flags: unix.O_RDONLY, wantErrno: unix.ENOENT, wantOpenErrno: unix.ENOENT},
		{name: "symlink", names: []string{"link"}, flags: unix.O_RDONLY, wantOpenErrno: unix.ELOOP},
		{name: "bad flags", names: []string{"f"}, flags: unix.O_ACCMODE, wantOpenErrno: unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: byteNames(tc.names), Open: true, OpenFlags: tc.flags, ExpectIno: tc.expectIno})
			if err != nil {
				t.Fatal(err)
			}
			if unix.Errno(r.Errno) != tc.wantErrno || unix.Errno(r.OpenErrno) != tc.wantOpenErrno {
				t.Fatalf("errno %v open_errno %v, want %v and %v", unix.Errno(r.Errno), unix.Errno(r.OpenErrno), tc.wantErrno, tc.wantOpenErrno)
			}
			for _, f := range r.Files {
				defer e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{f.Handle.Id}})
			}
			if tc.wantErrno != 0 {
				return
			}
			h := r.Files[len(r.Files)-1].Handle.Id
			rr, err := e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: h, Length: 100})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantRead == "" {
				if rr.Errno == 0 && len(rr.Data) > 0 {
					t.Errorf("read through an unopened handle: %q", rr.Data)
				}
				return
			}
			if rr.Errno != 0 || string(rr.Data) != tc.wantRead {
				t.Errorf("read: errno %v data %q, want %q", unix.Errno(rr.Errno), rr.Data, tc.wantRead)
			}
		})
	}
	// O_TRUNC truncates, and only the expected inode.
	r := must(t, "walk-open", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_WRONLY | unix.O_TRUNC, ExpectIno: ino + 1})))
	if b, _ := os.ReadFile(e.host("f")); string(b) != "content" {
		t.Errorf("a walk-open refused for its inode truncated the file: %q", b)
	}
	e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{r.Files[0].Handle.Id}})
	r = must(t, "walk-open", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_WRONLY | unix.O_TRUNC, ExpectIno: ino})))
	if r.OpenErrno != 0 {
		t.Fatalf("open_errno %v", unix.Errno(r.OpenErrno))
	}
	if b, _ := os.ReadFile(e.host("f")); len(b) != 0 {
		t.Errorf("after a walk-open with O_TRUNC: %q", b)
	}
}

func TestCreatePathHandle(t *testing.T) {
	e := newEnv(t)
	r := must(t, "create", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_WRONLY, Mode: 0o644, PathHandle: true,
		Origin: &goferpb.Origin{ClientId: "c", Seq: 7}})))
	if r.GetPath().GetId() == 0 || r.Path.Id == r.Handle.Id {
		t.Fatalf("create with path_handle: handle %v path %v", r.Handle, r.Path)
	}
	if st := e.stat(r.Path.Id); st.Ino != r.Stat.Ino {
		t.Errorf("path handle names inode %d, want %d", st.Ino, r.Stat.Ino)
	}
	// Unopened: not readable nor writable.
	if w, _ := e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: r.Path.Id, Data: []byte("x")}); w.GetErrno() != int32(unix.EBADF) {
		t.Errorf("write through the path handle: errno %v, want EBADF", unix.Errno(w.GetErrno()))
	}
	// A re-sent creation gets a fresh opened handle and no path handle.
	again := must(t, "create again", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_WRONLY, Mode: 0o644, PathHandle: true,
		Origin: &goferpb.Origin{ClientId: "c", Seq: 7}})))
	if again.Path != nil || again.Handle.GetId() == r.Handle.Id {
		t.Errorf("re-sent create: handle %v path %v", again.Handle, again.Path)
	}
}

func TestFsyncMany(t *testing.T) {
	e := newEnv(t)
	var hs []uint64
	for i, name := range []string{"a", "b", "c"} {
		h := e.create(e.rootH, name, unix.O_WRONLY, 0o644)
		e.write(h, 0, "data", uint64(10*(i+1)))
		hs = append(hs, h)
	}
	r := must(t, "fsync", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: hs[1:]})))
	got := append([]uint64{r.DurableWatermark}, r.Watermarks...)
	want := []uint64{10, 20, 30}
	if len(got) != len(want) {
		t.Fatalf("watermarks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("watermarks %v, want %v", got, want)
			break
		}
	}
	// One unknown handle fails the call.
	wantErrno(t, "fsync with a bad handle", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: []uint64{1 << 50}})), unix.EBADF)
	// A symlink cannot be synced.
	if err := os.Symlink("a", e.host("l")); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "fsync of a symlink", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: []uint64{e.walkOne(e.rootH, "l")}})), unix.EINVAL)
	// Too many handles.
	many := make([]uint64, maxSyncHandles)
	for i := range many {
		many[i] = hs[0]
	}
	wantErrno(t, "fsync of too many", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: many})), unix.EINVAL)
}

func TestGetdentsPlus(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("f"), "12345")
	if err := os.Symlink("../outside", e.host("l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.host("d"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100, Plus: true})))
	if len(r.Stats) != len(r.Entries) {
		t.Fatalf("%d stats for %d entries", len(r.Stats), len(r.Entries))
	}
	want := map[string]uint32{"f": unix.S_IFREG | 0o644, "l": unix.S_IFLNK | 0o777, "d": unix.S_IFDIR | 0o700}
	for i, ent := range r.Entries {
		st := r.Stats[i]
		if st.Ino != ent.Ino {
			t.Errorf("%s: stat ino %d, entry ino %d", ent.Name, st.Ino, ent.Ino)
		}
		if m, ok := want[string(ent.Name)]; ok && st.Mode != m {
			t.Errorf("%s: mode %o, want %o", ent.Name, st.Mode, m)
		}
		if string(ent.Name) == "f" && st.Size != 5 {
			t.Errorf("f: size %d", st.Size)
		}
	}
	if !r.Eof {
		t.Error("a reply holding every entry says eof false")
	}
	if r := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 1}))); r.Eof || len(r.Entries) != 1 {
		t.Errorf("one of three entries: %d entries, eof %v", len(r.Entries), r.Eof)
	}
	// Without plus, no stats.
	r = must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100})))
	if len(r.Stats) != 0 {
		t.Errorf("%d stats without plus", len(r.Stats))
	}
}
