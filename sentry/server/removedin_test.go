package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestOthersRemovalsPerDirectory checks that another client's removal of
// a name leaves this client's cached names of other directories trusted
// (a stat walks nothing) and has those of the removal's directory
// walked to again; a rename counts in both its directories, and a
// removal whose directory the attribute cache cannot tell counts in
// every directory. With one count for all directories, every cached name
// of every other client was walked to again after any removal.
func TestOthersRemovalsPerDirectory(t *testing.T) {
	e, rc := countingEnv(t)
	m := e.mem
	e2 := secondClient(t, e, nil)
	tests := []struct {
		name string
		// change is made by the other client (or the server, without
		// a client: unknown) in directory c (/tmp/<case>), whose x and
		// y this client cached: x/a, x/b, x/sub (a directory), y/a,
		// y/b.
		change func(t *testing.T, c string)
		// gone are the names the change removed; walked, the other
		// names this client must walk to again; the rest must cost no
		// Walk.
		gone, walked []string
		// sameAs: a name replaced, and the name whose file it holds.
		sameAs map[string]string
	}{
		{name: "unlink in x", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_UNLINKAT, atFDCWD64, e2.mem.str(c+"/x/a"), 0)
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub"}},
		{name: "rmdir in x", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_UNLINKAT, atFDCWD64, e2.mem.str(c+"/x/sub"), unix.AT_REMOVEDIR)
		}, gone: []string{"x/sub"}, walked: []string{"x/a", "x/b"}},
		{name: "rename within x", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_RENAMEAT, atFDCWD64, e2.mem.str(c+"/x/a"), atFDCWD64, e2.mem.str(c+"/x/c"))
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub"}},
		{name: "rename over within x", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_RENAMEAT, atFDCWD64, e2.mem.str(c+"/x/a"), atFDCWD64, e2.mem.str(c+"/x/b"))
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub"}, sameAs: map[string]string{"x/b": "x/a"}},
		{name: "rename away from x to y", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_RENAMEAT, atFDCWD64, e2.mem.str(c+"/x/a"), atFDCWD64, e2.mem.str(c+"/y/c"))
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub", "y/a", "y/b"}},
		{name: "rename over from x to y", change: func(t *testing.T, c string) {
			e2.ok(1, unix.SYS_RENAMEAT, atFDCWD64, e2.mem.str(c+"/x/a"), atFDCWD64, e2.mem.str(c+"/y/b"))
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub", "y/a", "y/b"}, sameAs: map[string]string{"y/b": "x/a"}},
		{name: "this client's own unlink in x", change: func(t *testing.T, c string) {
			e.ok(1, unix.SYS_UNLINKAT, atFDCWD64, m.str(c+"/x/a"), 0)
		}, gone: []string{"x/a"}},
		{name: "unlink in a directory the cache cannot tell", change: func(t *testing.T, c string) {
			unlinkUnknownDir(t, e, c+"/x", "a")
		}, gone: []string{"x/a"}, walked: []string{"x/b", "x/sub", "y/a", "y/b"}},
	}
	all := []string{"x/a", "x/b", "x/sub", "y/a", "y/b"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := "/tmp/" + filepath.Base(t.Name())
			for _, d := range []string{"x/sub", "y"} {
				if err := os.MkdirAll(filepath.Join(e.root, c, d), 0755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{"x/a", "x/b", "y/a", "y/b"} {
				if err := os.WriteFile(filepath.Join(e.root, c, f), nil, 0644); err != nil {
					t.Fatal(err)
				}
			}
			inos := map[string]uint64{}
			for _, p := range all {
				ino, errno := statIno(e, c+"/"+p)
				if errno != 0 {
					t.Fatalf("stat %s: %v", p, errno)
				}
				inos[p] = ino
			}
			tc.change(t, c)
			want := map[string]string{}
			for _, p := range tc.gone {
				want[p] = "gone"
			}
			for _, p := range tc.walked {
				want[p] = "walked"
			}
			for _, p := range all {
				rc.take()
				ino, errno := statIno(e, c+"/"+p)
				walks := rc.take()["Walk"]
				if was, ok := tc.sameAs[p]; ok && ino != inos[was] {
					t.Errorf("stat %s after the %s: inode %d, want %s's %d", p, tc.name, ino, was, inos[was])
				}
				switch want[p] {
				case "gone":
					if errno != unix.ENOENT {
						t.Errorf("stat %s after the %s: %v, want ENOENT", p, tc.name, errno)
					}
				case "walked":
					if errno != 0 || walks == 0 {
						t.Errorf("stat %s after the %s: %v, %d Walks; want a Walk", p, tc.name, errno, walks)
					}
				default:
					if errno != 0 || walks != 0 {
						t.Errorf("stat %s after the %s: %v, %d Walks; want none", p, tc.name, errno, walks)
					}
				}
			}
		})
	}
}

// unlinkUnknownDir unlinks name from directory dir (a path from e's
// root) through e's server's attribute cache, by a handle of dir the
// cache never saw (walked past it) and with no client's removal counter:
// a removal whose directory the cache cannot tell.
func unlinkUnknownDir(t *testing.T, e *env, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := e.srv.attrs.GoferClient
	ar, err := raw.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || ar.GetErrno() != 0 {
		t.Fatalf("attach: %v, errno %d", err, ar.GetErrno())
	}
	var names [][]byte
	for _, n := range strings.Split(strings.Trim(dir, "/"), "/") {
		names = append(names, []byte(n))
	}
	wr, err := raw.Walk(ctx, &goferpb.WalkRequest{Dir: ar.GetRoot().GetId(), Names: names})
	if err != nil || wr.GetErrno() != 0 || len(wr.GetFiles()) != len(names) {
		t.Fatalf("walk to %s: %v, errno %d, %d files", dir, err, wr.GetErrno(), len(wr.GetFiles()))
	}
	handles := []uint64{ar.GetRoot().GetId()}
	for _, f := range wr.GetFiles() {
		handles = append(handles, f.GetHandle().GetId())
	}
	defer raw.Release(ctx, &goferpb.ReleaseRequest{Handles: handles})
	ur, err := e.srv.attrs.Unlink(ctx, &goferpb.UnlinkRequest{Dir: handles[len(handles)-1], Name: []byte(name)})
	if err != nil || ur.GetErrno() != 0 {
		t.Fatalf("unlink %s/%s: %v, errno %d", dir, name, err, ur.GetErrno())
	}
}
