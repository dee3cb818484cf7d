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
	w, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: []string{"f"}})
	if w.Errno != 0 || len(w.Files) != 1 {
		t.Fatalf("walk: %v", unix.Errno(w.Errno))
	}
	h := w.Files[0].Handle.Id
	if o, _ := s.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDONLY}); o.Errno != 0 {
		t.Fatalf("open: %v", unix.Errno(o.Errno))
	}
	if u, _ := s.Unlink(ctx, &goferpb.UnlinkRequest{Dir: a.Root.Id, Name: "f"}); u.Errno != 0 {
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
