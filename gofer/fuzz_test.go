package gofer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// FuzzWalk throws arbitrary names at Walk, Create, Mkdir, Symlink, Rename
// and Unlink (calling the Server directly, without gRPC) and checks that nothing appears outside the root, every handle
// names a file inside the root, and nothing panics.
func FuzzWalk(f *testing.F) {
	for _, seed := range [][2]string{
		{"..", "x"},
		{".", ""},
		{"", ".."},
		{"a/b", "c"},
		{"../outside", "x"},
		{"/", "etc"},
		{"/etc/passwd", ""},
		{"x\x00y", "z"},
		{"esc", "passwd"},
		{"up", "outside"},
		{"abs", "pwned"},
		{"d", "f"},
		{"d", ".."},
		{"proc", "self"},
		{strings.Repeat("n", 256), "x"},
		{"\xff\xfe", "\x80"},
		{"new", "../../outside/new"},
	} {
		f.Add(seed[0], seed[1])
	}

	base := f.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	// resetRoot empties the root and recreates its fixtures: a directory
	// and symlinks that point out of it.
	resetRoot := func(tb testing.TB) {
		ents, _ := os.ReadDir(root)
		for _, d := range ents {
			if err := os.RemoveAll(filepath.Join(root, d.Name())); err != nil {
				tb.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
			tb.Fatal(err)
		}
		for link, target := range map[string]string{
			"esc": "../../etc",
			"up":  "..",
			"abs": outside,
		} {
			if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	s, err := NewServer(root, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, a, b string) {
		resetRoot(t)
		rootH := s.mustAttach(t)
		var handles []uint64
		keep := func(h *goferpb.Handle) {
			if h.GetId() != 0 {
				handles = append(handles, h.GetId())
			}
		}
		walkAll := func(dir uint64, names ...string) uint64 {
			r, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: dir, Names: byteNames(names)})
			last := dir
			for _, wf := range r.GetFiles() {
				keep(wf.GetHandle())
				last = wf.GetHandle().GetId()
			}
			return last
		}
		walkAll(rootH, a, b)
		walkAll(rootH, a)
		walkAll(rootH, "d", a, b)
		c, _ := s.Create(ctx, &goferpb.CreateRequest{Dir: rootH, Name: []byte(a), Flags: unix.O_RDWR, Mode: 0o644})
		keep(c.GetHandle())
		if c.GetErrno() == 0 {
			s.Write(ctx, &goferpb.WriteRequest{Handle: c.GetHandle().GetId(), Data: []byte(b)})
		}
		m, _ := s.Mkdir(ctx, &goferpb.MkdirRequest{Dir: rootH, Name: []byte(b), Mode: 0o755})
		keep(m.GetHandle())
		sl, _ := s.Symlink(ctx, &goferpb.SymlinkRequest{Dir: rootH, Name: []byte(b + "l"), Target: []byte(a)})
		keep(sl.GetHandle())
		// Whatever a walks to (a directory, a symlink, a file), use it as
		// a directory.
		dir := walkAll(rootH, a)
		c2, _ := s.Create(ctx, &goferpb.CreateRequest{Dir: dir, Name: []byte(b), Flags: unix.O_WRONLY, Mode: 0o600})
		keep(c2.GetHandle())
		s.Rename(ctx, &goferpb.RenameRequest{OldDir: rootH, OldName: []byte(a), NewDir: dir, NewName: []byte(b)})
		s.Rename(ctx, &goferpb.RenameRequest{OldDir: dir, OldName: []byte(b), NewDir: rootH, NewName: []byte(a)})
		s.Getdents(ctx, &goferpb.GetdentsRequest{Dir: dir, Count: 16})
		s.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte(b)})
		s.Unlink(ctx, &goferpb.UnlinkRequest{Dir: rootH, Name: []byte(a)})
		s.Unlink(ctx, &goferpb.UnlinkRequest{Dir: rootH, Name: []byte(b), Flags: unix.AT_REMOVEDIR})

		for _, id := range handles {
			checkHandleConfined(t, s, root, id)
		}
		s.Release(ctx, &goferpb.ReleaseRequest{Handles: append(handles, rootH)})

		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("names %q, %q: entries appeared outside the root: %v", a, b, ents)
		}
		ents, _ := os.ReadDir(base)
		for _, d := range ents {
			if d.Name() != "root" && d.Name() != "outside" {
				t.Fatalf("names %q, %q: %q appeared next to the root", a, b, d.Name())
			}
		}
	})
}

func (s *Server) mustAttach(t *testing.T) uint64 {
	t.Helper()
	r, _ := s.Attach(context.Background(), &goferpb.AttachRequest{})
	if r.GetErrno() != 0 {
		t.Fatalf("attach: %v", unix.Errno(r.GetErrno()))
	}
	return r.GetRoot().GetId()
}

// checkHandleConfined fails if handle id (if still valid) names a file
// outside root.
func checkHandleConfined(t *testing.T, s *Server, root string, id uint64) {
	t.Helper()
	h, err := s.lookup(id)
	if err != nil {
		return
	}
	defer h.decRef()
	p, err := os.Readlink(h.procPath())
	if err != nil {
		t.Fatalf("handle %d: %v", id, err)
	}
	p = strings.TrimSuffix(p, " (deleted)")
	if p != root && !strings.HasPrefix(p, root+"/") {
		t.Fatalf("handle %d names %q, outside the root %q", id, p, root)
	}
}
