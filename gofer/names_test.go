package gofer

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestNonUTF8Names: a file name is any bytes but '/' and NUL, and the
// protocol's name fields are bytes: names and symlink targets that are not
// UTF-8 (Latin-1, a fuzzer's) go through gRPC both ways, in requests
// (Walk, Create, Mkdir, Symlink, Link, Rename, Unlink, a listing by name)
// and replies (listings, Readlink).
func TestNonUTF8Names(t *testing.T) {
	for _, tc := range []struct {
		what         string
		dir, name    string
		link, target string
		renamed      string
	}{
		{"byte 0xff", "d\xff", "f\xff", "l\xff", "t\xff", "g\xff"},
		{"Latin-1", "caf\xe9", "na\xefve", "\xe0 la", "\xfcber/\xe9t\xe9", "r\xe9sum\xe9"},
		{"lone continuation bytes", "\x80", "\x80\x81", "\xbf", "\x80/\xc0\xc1", "\xfe\xfe"},
		{"UTF-8 for comparison", "d\u00e9", "f\u00ff", "l\u00e9", "t\u00e9", "g\u00e9"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e := newEnv(t)
			d := e.mkdir(e.rootH, tc.dir)
			h := e.create(d, tc.name, unix.O_RDWR, 0o644)
			e.write(h, 0, "data", 0)
			if b, err := os.ReadFile(e.host(tc.dir + "/" + tc.name)); err != nil || string(b) != "data" {
				t.Fatalf("host file %q: %q, %v", tc.dir+"/"+tc.name, b, err)
			}
			if got := e.walkOne(e.rootH, tc.dir, tc.name); got == 0 {
				t.Fatal("walk gave no handle")
			}

			// A name made on the host is listed as it is, by handle and by
			// name (GetdentsRequest.name).
			writeHostFile(t, e.host(tc.dir+"/host"+tc.name), "")
			want := []string{tc.name, "host" + tc.name}
			for _, req := range []*goferpb.GetdentsRequest{
				{Dir: d, Count: 100, Plus: true},
				{Dir: e.rootH, Name: []byte(tc.dir), Count: 100},
			} {
				r := must(t, "getdents", must2(e.c.Getdents(e.ctx, req)))
				var got []string
				for _, ent := range r.GetEntries() {
					got = append(got, string(ent.GetName()))
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("getdents (name %q): %q, want %q", req.GetName(), got, want)
				}
			}

			sr := must(t, "symlink", must2(e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: d, Name: []byte(tc.link), Target: []byte(tc.target)})))
			rl := must(t, "readlink", must2(e.c.Readlink(e.ctx, &goferpb.ReadlinkRequest{Handle: sr.GetHandle().GetId()})))
			if string(rl.GetTarget()) != tc.target {
				t.Errorf("readlink: %q, want %q", rl.GetTarget(), tc.target)
			}
			if got, err := os.Readlink(e.host(tc.dir + "/" + tc.link)); err != nil || got != tc.target {
				t.Errorf("host readlink: %q, %v, want %q", got, err, tc.target)
			}

			must(t, "link", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("hard" + tc.name), Target: h})))
			must(t, "rename", must2(e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: d, OldName: []byte(tc.name), NewDir: d, NewName: []byte(tc.renamed)})))
			if _, err := os.Lstat(e.host(tc.dir + "/" + tc.renamed)); err != nil {
				t.Errorf("after rename: %v", err)
			}
			wantErrno(t, "walk old name", must2(e.walk(d, tc.name)), unix.ENOENT)

			for _, u := range []struct {
				dir   uint64
				name  string
				flags uint32
			}{
				{d, tc.renamed, 0}, {d, "host" + tc.name, 0}, {d, tc.link, 0}, {e.rootH, "hard" + tc.name, 0}, {e.rootH, tc.dir, unix.AT_REMOVEDIR},
			} {
				must(t, "unlink "+u.name, must2(e.unlink(u.dir, u.name, u.flags)))
			}
			if ents, err := os.ReadDir(e.root); err != nil || len(ents) != 0 {
				t.Errorf("root after unlinks: %v, %v", ents, err)
			}
		})
	}
}

// TestNonUTF8NamesUnlinkMany: UnlinkMany's names are bytes too.
func TestNonUTF8NamesUnlinkMany(t *testing.T) {
	e := newEnv(t)
	names := []string{"a\xff", "b\x80", "c\xe9"}
	var dirs []uint64
	for _, n := range names {
		e.create(e.rootH, n, unix.O_RDWR, 0o644)
		dirs = append(dirs, e.rootH)
	}
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{Dirs: dirs, Names: byteNames(names)})))
	for i, u := range r.GetUnlinks() {
		if u.GetErrno() != 0 {
			t.Errorf("unlink %q: %v", names[i], unix.Errno(u.GetErrno()))
		}
	}
	if ents, err := os.ReadDir(e.root); err != nil || len(ents) != 0 {
		t.Errorf("root after unlinks: %v, %v", ents, err)
	}
}
