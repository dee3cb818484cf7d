package gofer

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestSillyRenameLeavesDirectory: a file unlinked while open leaves its
// directory at once (Linux: the name vanishes, the directory can be
// removed), reports no link, and its silly name in SillyDirName goes with
// the last handle.
func TestSillyRenameLeavesDirectory(t *testing.T) {
	e := newEnv(t)
	d := e.mkdir(e.rootH, "d")
	h := e.create(d, "f", unix.O_RDWR, 0o644)
	e.write(h, 0, "kept", 0)
	if got := e.stat(h).GetNlink(); got != 1 {
		t.Fatalf("nlink before unlink: %d", got)
	}
	e.unlinkOpen(d, "f")
	if ents, err := os.ReadDir(e.host("d")); err != nil || len(ents) != 0 {
		t.Fatalf("directory after unlinking an open file: %v, %v", ents, err)
	}
	if n := sillyNames(t, e.host(SillyDirName)); len(n) != 1 {
		t.Fatalf("silly names in %s: %v", SillyDirName, n)
	}
	if got := e.stat(h).GetNlink(); got != 0 {
		t.Errorf("nlink of an unlinked open file: %d, want 0", got)
	}
	must(t, "rmdir", must2(e.unlink(e.rootH, "d", unix.AT_REMOVEDIR)))
	if got := e.read(h, 0, 10); got != "kept" {
		t.Errorf("read after unlink and rmdir: %q", got)
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Errorf("silly names after the last release: %v", n)
	}
}

// TestSillyDirHidden: the sentry can neither list nor name SillyDirName in
// the root; elsewhere the name is an ordinary one.
func TestSillyDirHidden(t *testing.T) {
	e := newEnv(t)
	h := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.unlinkOpen(e.rootH, "f") // makes SillyDirName
	if _, err := os.Stat(e.host(SillyDirName)); err != nil {
		t.Fatal(err)
	}
	e.create(e.rootH, "g", unix.O_RDWR, 0o644)
	sub := e.mkdir(e.rootH, "sub")

	gr := must(t, "getdents root", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100})))
	var names []string
	for _, d := range gr.GetEntries() {
		names = append(names, string(d.GetName()))
	}
	if len(names) != 2 {
		t.Errorf("root lists %q, want g and sub", names)
	}
	// Continued after each entry on a handle with no snapshot (read
	// from the host's position), the listing hides the name too.
	for i, d := range gr.GetEntries() {
		fresh := must(t, "attach", must2(e.c.Attach(e.ctx, &goferpb.AttachRequest{}))).GetRoot().GetId()
		rest := must(t, "getdents after "+string(d.GetName()), must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: fresh, Offset: d.GetOffset(), Count: 100})))
		var got []string
		for _, r := range rest.GetEntries() {
			got = append(got, string(r.GetName()))
		}
		if want := names[i+1:]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after %q (cookie %d): %q, want %q", d.GetName(), d.GetOffset(), got, want)
		}
	}

	for _, tc := range []struct {
		name string
		call func() (interface{ GetErrno() int32 }, error)
	}{
		{"walk", func() (interface{ GetErrno() int32 }, error) { return e.walk(e.rootH, SillyDirName) }},
		{"walk through", func() (interface{ GetErrno() int32 }, error) { return e.walk(e.rootH, SillyDirName, "x") }},
		{"rmdir", func() (interface{ GetErrno() int32 }, error) {
			return e.unlink(e.rootH, SillyDirName, unix.AT_REMOVEDIR)
		}},
		{"mkdir", func() (interface{ GetErrno() int32 }, error) {
			return e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte(SillyDirName), Mode: 0o755})
		}},
		{"create", func() (interface{ GetErrno() int32 }, error) {
			return e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte(SillyDirName), Flags: unix.O_RDWR, Mode: 0o644})
		}},
		{"symlink", func() (interface{ GetErrno() int32 }, error) {
			return e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte(SillyDirName), Target: []byte("g")})
		}},
		{"rename from", func() (interface{ GetErrno() int32 }, error) {
			return e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte(SillyDirName), NewDir: sub, NewName: []byte("x")})
		}},
		{"rename onto", func() (interface{ GetErrno() int32 }, error) {
			return e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: sub, OldName: []byte("x"), NewDir: e.rootH, NewName: []byte(SillyDirName), Flags: unix.RENAME_EXCHANGE})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if got := unix.Errno(r.GetErrno()); got != unix.ENOENT {
				t.Errorf("errno %v, want ENOENT", got)
			}
		})
	}
	if got := e.read(h, 0, 1); got != "" {
		t.Errorf("read of the unlinked empty file: %q", got)
	}
	// Below the root the name is nobody's.
	e.mkdir(sub, SillyDirName)
	e.walkOne(sub, SillyDirName)
}

// TestSillyRenameInPlaceFallback: when SillyDirName cannot be used the
// file is renamed within its own directory, as before.
func TestSillyRenameInPlaceFallback(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host(SillyDirName), "not a directory")
	d := e.mkdir(e.rootH, "d")
	h := e.create(d, "f", unix.O_RDWR, 0o644)
	e.unlinkOpen(d, "f")
	if n := sillyNames(t, e.host("d")); len(n) != 1 {
		t.Fatalf("silly names in the file's directory: %v", n)
	}
	if got := e.stat(h).GetNlink(); got != 0 {
		t.Errorf("nlink of an unlinked open file: %d, want 0", got)
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.host("d")); len(n) != 0 {
		t.Errorf("silly names after the last release: %v", n)
	}
}

// TestSillyRenameOnInnerMount: a file on a mount inside the root goes to
// that mount's own SillyDirName (rename cannot cross mounts), hidden there
// too.
func TestSillyRenameOnInnerMount(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.host("m"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", e.host("m"), "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(e.host("m"), unix.MNT_DETACH) })
	m := e.walkOne(e.rootH, "m")
	d := e.mkdir(m, "d")
	h := e.create(d, "f", unix.O_RDWR, 0o644)
	e.unlinkOpen(d, "f")
	if n := sillyNames(t, e.host("m")); len(n) != 1 {
		t.Fatalf("silly names at the top of the inner mount: %v", n)
	}
	if n := sillyNames(t, e.host("m/d")); len(n) != 0 {
		t.Fatalf("silly names in the file's directory: %v", n)
	}
	gr := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: m, Count: 100})))
	if len(gr.GetEntries()) != 1 || string(gr.GetEntries()[0].GetName()) != "d" {
		t.Errorf("inner mount lists %v, want only d", gr.GetEntries())
	}
	wantErrno(t, "walk", must2(e.walk(m, SillyDirName)), unix.ENOENT)
	must(t, "rmdir", must2(e.unlink(m, "d", unix.AT_REMOVEDIR)))
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.host("m")); len(n) != 0 {
		t.Errorf("silly names after the last release: %v", n)
	}
}
