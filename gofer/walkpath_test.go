package gofer

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestWalkOpenPathHandle checks WalkRequest.path_handle: a walk-open
// that opened the file returns a second, unopened handle of it; one
// that did not open it (a symlink, a missing name) returns none.
func TestWalkOpenPathHandle(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.host("f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", e.host("l")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		wantPath bool
	}{
		{name: "f", wantPath: true},
		{name: "l"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := must(t, "walk-open", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte(tc.name)},
				Open: true, OpenFlags: unix.O_RDONLY, PathHandle: true})))
			if got := r.GetPath().GetId() != 0; got != tc.wantPath {
				t.Fatalf("path handle %v, want one: %v (open_errno %v)", r.GetPath(), tc.wantPath, unix.Errno(r.OpenErrno))
			}
			if !tc.wantPath {
				return
			}
			opened := r.Files[0].Handle.Id
			if r.Path.Id == opened {
				t.Fatalf("path handle %d is the opened one", r.Path.Id)
			}
			if st := e.stat(r.Path.Id); st.Ino != r.Files[0].Stat.Ino {
				t.Errorf("path handle names inode %d, want %d", st.Ino, r.Files[0].Stat.Ino)
			}
			// Unopened: not readable; the opened one is.
			if rd, _ := e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: r.Path.Id, Length: 4}); rd.GetErrno() != int32(unix.EBADF) {
				t.Errorf("read through the path handle: errno %v, want EBADF", unix.Errno(rd.GetErrno()))
			}
			if rd, _ := e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: opened, Length: 4}); rd.GetErrno() != 0 || string(rd.GetData()) != "data" {
				t.Errorf("read through the opened handle: %v", rd)
			}
		})
	}
}
