package gofer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestWalkClone: a clone of a handle names the same inode after its name
// is gone, and can be opened on its own.
func TestWalkClone(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(root, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := s.Attach(ctx, &goferpb.AttachRequest{})
	w, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte("f")}})
	if w.Errno != 0 || len(w.Files) != 1 {
		t.Fatalf("walk: %v", unix.Errno(w.Errno))
	}
	h := w.Files[0].Handle.Id
	if o, _ := s.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDONLY}); o.Errno != 0 {
		t.Fatalf("open: %v", unix.Errno(o.Errno))
	}
	if u, _ := s.Unlink(ctx, &goferpb.UnlinkRequest{Dir: a.Root.Id, Name: []byte("f")}); u.Errno != 0 {
		t.Fatalf("unlink: %v", unix.Errno(u.Errno))
	}
	c, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: h, Clone: true})
	if c.Errno != 0 || len(c.Files) != 1 || c.Files[0].Handle.Id == h || c.Files[0].Stat.Ino != w.Files[0].Stat.Ino {
		t.Fatalf("clone: %v %v", unix.Errno(c.Errno), c.Files)
	}
	ch := c.Files[0].Handle.Id
	if o, _ := s.Open(ctx, &goferpb.OpenRequest{Handle: ch, Flags: unix.O_RDWR}); o.Errno != 0 {
		t.Fatalf("open clone: %v", unix.Errno(o.Errno))
	}
	r, _ := s.Read(ctx, &goferpb.ReadRequest{Handle: ch, Offset: 0, Length: 16})
	if r.Errno != 0 || string(r.Data) != "hello" {
		t.Errorf("read clone: %q %v", r.Data, unix.Errno(r.Errno))
	}
	// Without clone, no names walk nowhere; a clone of an unknown handle is EBADF.
	if n, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: h}); n.Errno != 0 || len(n.Files) != 0 {
		t.Errorf("walk without names: %v %v", unix.Errno(n.Errno), n.Files)
	}
	if b, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: 1 << 40, Clone: true}); b.Errno != int32(unix.EBADF) {
		t.Errorf("clone of an unknown handle: %v", unix.Errno(b.Errno))
	}
}

// TestCloneSharesPathFD: a clone shares its original's O_PATH fd (a
// creation's path handle costs no dup and no close), which stays open
// until the last handle sharing it is released, in any order.
func TestCloneSharesPathFD(t *testing.T) {
	for _, tc := range []struct {
		name string
		// release lists the handles released, in order: 0 the created
		// one, 1 its clone, 2 a clone of the clone.
		release []int
	}{
		{"original first", []int{0, 1, 2}},
		{"clones first", []int{2, 1, 0}},
		{"the clone of the clone last", []int{1, 0, 2}},
	} {
		e := newEnv(t)
		ids := []uint64{e.create(e.rootH, "f", unix.O_RDWR, 0o644)}
		for i := 0; i < 2; i++ {
			c := must(t, "clone", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: ids[i], Clone: true})))
			ids = append(ids, c.GetFiles()[0].GetHandle().GetId())
		}
		fd := pathFDOf(t, e.srv, ids[0])
		var want unix.Stat_t
		if err := unix.Fstat(fd, &want); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids[1:] {
			if got := pathFDOf(t, e.srv, id); got != fd {
				t.Errorf("%s: clone %d has O_PATH fd %d, want the original's %d", tc.name, i+1, got, fd)
			}
		}
		for n, i := range tc.release {
			if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{ids[i]}}); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			open := unix.Fstat(fd, &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev
			if last := n == len(tc.release)-1; open == last {
				t.Errorf("%s: after releasing handle %d (%d of %d): fd %d open %v", tc.name, i, n+1, len(ids), fd, open)
			}
			if n < len(tc.release)-1 {
				// The handles left still reach the file.
				left := ids[tc.release[n+1]]
				if got := e.stat(left).GetIno(); got != want.Ino {
					t.Errorf("%s: stat of a handle left: inode %d, want %d", tc.name, got, want.Ino)
				}
			}
		}
	}
}

// pathFDOf returns the O_PATH fd of handle id.
func pathFDOf(t testing.TB, s *Server, id uint64) int {
	t.Helper()
	h, err := s.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.decRef()
	return h.fd
}
