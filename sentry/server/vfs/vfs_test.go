package vfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// fakeKernel synthesizes /dev/null and /proc/self (a link to /dir), and
// records the lookups and the set-id clearings it was asked for.
type fakeKernel struct {
	lookups  []string
	killPriv []uint64 // handles
}

func (k *fakeKernel) KillPriv(_ fdesc.Call, _ *Dentry, h uint64, _ auth.FileAttrs) {
	k.killPriv = append(k.killPriv, h)
}

func (*fakeKernel) DurabilityHolds(*fdesc.File) bool { return false }
func (*fakeKernel) InotifyClosed(*fdesc.File)        {}
func (*fakeKernel) DropDescriptionLocks(*fdesc.File) {}
func (*fakeKernel) DropLease(*fdesc.File)            {}

func (k *fakeKernel) SynthLookup(_ Caller, dir *Dentry, name string) (*Dentry, error) {
	k.lookups = append(k.lookups, dir.v.NameOf(dir)+"/"+name)
	switch {
	case dir.Kind == KindDevDir && name == "null":
		d := NewSynthDentry(dir, name, KindDev, unix.S_IFCHR|0666, SynthIno(3, 3))
		d.Dev = DevNull
		return d, nil
	case dir.Kind == KindProcDir && name == "self":
		return NewSynthDentry(dir, name, KindProcSelf, unix.S_IFLNK|0777, SynthIno(5, 4)), nil
	}
	return nil, unix.ENOENT
}

func (*fakeKernel) SynthReadlink(_ Caller, d *Dentry) (string, error) {
	if d.Kind == KindProcSelf {
		return "/dir", nil
	}
	return "", unix.EINVAL
}

func (*fakeKernel) MagicTarget(Caller, *Dentry) (*Dentry, bool, error) { return nil, false, nil }

func (*fakeKernel) SynthStat(d *Dentry) *goferpb.Stat {
	return &goferpb.Stat{Mode: d.Mode, Ino: d.ino, Dev: SynthDev, Nlink: 1}
}

func (*fakeKernel) ProcOwner(int32) (uint32, uint32, bool) { return 0, 0, false }

// testCall is a Caller that pins like a system call (until done) and
// refuses to search directories named "locked".
type testCall struct {
	fdesctest.Call
	v      *VFS
	pinned []*Dentry
}

func (c *testCall) HandleOf(d *Dentry) (uint64, error) {
	h, err := c.v.PinHandle(d)
	if err == nil {
		c.pinned = append(c.pinned, d)
	}
	return h, err
}

func (c *testCall) MaySearch(d *Dentry) error {
	if c.v.NameOf(d) == "locked" {
		return unix.EACCES
	}
	return nil
}

func (c *testCall) done() {
	for _, d := range c.pinned {
		c.v.Unpin(d)
	}
	c.pinned = nil
}

type fixture struct {
	root  string
	v     *VFS
	k     *fakeKernel
	attrs *goferclient.AttrCache
}

// newFixture serves a fresh directory with the real gofer and makes a
// VFS over it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWrapped(t, func(g goferpb.GoferClient) goferpb.GoferClient { return g })
}

// newFixtureWrapped is newFixture whose VFS reaches the gofer through
// wrap's client.
func newFixtureWrapped(t *testing.T, wrap func(goferpb.GoferClient) goferpb.GoferClient) *fixture {
	t.Helper()
	root := t.TempDir()
	g := wrap(gofertest.Start(t, root).Client(t))
	attrs := goferclient.NewAttrCache(g)
	log := hclog.NewNullLogger()
	releases := goferclient.NewReleaseQueue(attrs, log, time.Millisecond)
	k := &fakeKernel{}
	v, key, err := New(Config{Ctx: context.Background(), Gofer: attrs, Releases: releases, Attrs: attrs,
		ClientID: t.Name(), Log: log, Kernel: k})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(key) == 0 {
		t.Errorf("New returned no binding key")
	}
	t.Cleanup(func() {
		v.RemoveShm()
		v.ReleaseAll()
	})
	return &fixture{root: root, v: v, k: k, attrs: attrs}
}

func (f *fixture) call() *testCall { return &testCall{v: f.v} }

func (f *fixture) write(t *testing.T, p, data string) {
	t.Helper()
	p = filepath.Join(f.root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(f.root, p)); err != nil {
		t.Fatal(err)
	}
}

// TestResolve: the walk's answers for paths through directories,
// symlinks, "..", and the synthesized /dev and /proc, each the path the
// namespace names it by or Linux's errno.
func TestResolve(t *testing.T) {
	f := newFixture(t)
	f.write(t, "dir/sub/file", "x")
	f.write(t, "locked/inside", "x")
	f.symlink(t, "sub/file", "dir/rel")
	f.symlink(t, "/dir/sub", "dir/abs")
	f.symlink(t, "loop", "loop")
	f.symlink(t, "missing", "dangling")
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		path   string
		follow bool
		want   string // the resolved path, or "" with errno
		errno  unix.Errno
	}{
		{path: "/", want: "/"},
		{path: "/dir/sub/file", want: "/dir/sub/file"},
		{path: "dir/./sub/../sub//file", want: "/dir/sub/file"},
		{path: "/..", want: "/"},
		{path: "/dir/rel", follow: true, want: "/dir/sub/file"},
		{path: "/dir/rel", follow: false, want: "/dir/rel"},
		{path: "/dir/abs/file", want: "/dir/sub/file"},
		{path: "/dir/abs/", follow: false, want: "/dir/sub"},
		{path: "/dir/sub/file/", errno: unix.ENOTDIR},
		{path: "/dir/sub/file/x", errno: unix.ENOTDIR},
		{path: "/dir/nothing", errno: unix.ENOENT},
		{path: "/dangling", follow: true, errno: unix.ENOENT},
		{path: "/dangling/", errno: unix.ENOENT},
		{path: "/loop", follow: true, errno: unix.ELOOP},
		{path: "/loop", follow: false, want: "/loop"},
		{path: "", errno: unix.ENOENT},
		{path: "/" + long, errno: unix.ENAMETOOLONG},
		{path: strings.Repeat("/d", 2048), errno: unix.ENAMETOOLONG},
		{path: "/locked/inside", errno: unix.EACCES},
		{path: "/dev/null", want: "/dev/null"},
		{path: "/dev/nothing", errno: unix.ENOENT},
		{path: "/proc/self/sub", want: "/dir/sub"},
	} {
		t.Run(fmt.Sprintf("%q follow=%v", tc.path, tc.follow), func(t *testing.T) {
			c := f.call()
			defer c.done()
			d, err := f.v.Resolve(c, f.v.Root, tc.path, tc.follow)
			if tc.errno != 0 {
				if got := syserr.ErrnoOf(err); got != tc.errno {
					t.Fatalf("Resolve = %v, want %v", err, tc.errno)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if p, ok := f.v.PathOf(d); p != tc.want || !ok {
				t.Fatalf("resolved to %q (reachable %v), want %q", p, ok, tc.want)
			}
		})
	}
	if len(f.k.lookups) == 0 || f.k.lookups[0] != "dev/null" {
		t.Errorf("the kernel was asked for %q, want dev/null first", f.k.lookups)
	}
}

// TestResolveParent: the parent and last name of a path, as the calls
// that create and remove names see them.
func TestResolveParent(t *testing.T) {
	f := newFixture(t)
	f.write(t, "dir/file", "x")
	for _, tc := range []struct {
		path, dir, name string
		trailing        bool
		errno           unix.Errno
	}{
		{path: "/dir/new", dir: "/dir", name: "new"},
		{path: "/dir/new/", dir: "/dir", name: "new", trailing: true},
		{path: "new", dir: "/", name: "new"},
		{path: "/", dir: "/", name: ".", trailing: true},
		{path: "/dir/..", dir: "/dir", name: ".."},
		{path: "/dir/file/new", errno: unix.ENOTDIR},
		{path: "/none/new", errno: unix.ENOENT},
		{path: "/dir/" + strings.Repeat("n", 256), errno: unix.ENAMETOOLONG},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := f.call()
			defer c.done()
			dir, name, trailing, err := f.v.ResolveParent(c, f.v.Root, tc.path)
			if tc.errno != 0 {
				if got := syserr.ErrnoOf(err); got != tc.errno {
					t.Fatalf("ResolveParent = %v, want %v", err, tc.errno)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveParent: %v", err)
			}
			if p, _ := f.v.PathOf(dir); p != tc.dir || name != tc.name || trailing != tc.trailing {
				t.Fatalf("got (%q, %q, %v), want (%q, %q, %v)", p, name, trailing, tc.dir, tc.name, tc.trailing)
			}
		})
	}
}

// TestCacheUpdates: a rename, an exchange and a removal made through
// the server update the cached tree without asking the gofer.
func TestCacheUpdates(t *testing.T) {
	f := newFixture(t)
	f.write(t, "a/x", "1")
	f.write(t, "b/y", "2")
	c := f.call()
	defer c.done()
	look := func(p string) *Dentry {
		t.Helper()
		d, err := f.v.Resolve(c, f.v.Root, p, false)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return d
	}
	a, b, x, y := look("/a"), look("/b"), look("/a/x"), look("/b/y")
	f.v.Moved(a, "x", b, "z", false)
	if p, ok := f.v.PathOf(x); p != "/b/z" || !ok {
		t.Errorf("after the rename x is at %q (%v)", p, ok)
	}
	if f.v.CachedChild(a, "x") != nil || f.v.CachedChild(b, "z") != x {
		t.Errorf("the cache still has a/x or lacks b/z")
	}
	f.v.Moved(b, "z", b, "y", true)
	if p, _ := f.v.PathOf(x); p != "/b/y" {
		t.Errorf("after the exchange x is at %q", p)
	}
	if p, _ := f.v.PathOf(y); p != "/b/z" {
		t.Errorf("after the exchange y is at %q", p)
	}
	f.v.Forget(b, "z")
	if _, ok := f.v.PathOf(y); ok || !f.v.IsDeleted(y) {
		t.Errorf("a forgotten dentry is still reachable")
	}
}

// TestNegativeDentry: a missing name stays missing without a Walk until a
// call through the attribute cache may have made a name, or NegativeTTL
// passes.
func TestNegativeDentry(t *testing.T) {
	f := newFixture(t)
	f.write(t, "dir/keep", "x")
	now := time.Now()
	f.attrs.SetClock(func() time.Time { return now })
	c := f.call()
	defer c.done()
	if _, err := f.v.Resolve(c, f.v.Root, "/dir/late", false); syserr.ErrnoOf(err) != unix.ENOENT {
		t.Fatalf("first lookup: %v", err)
	}
	f.write(t, "dir/late", "made on the host")
	if _, err := f.v.Resolve(c, f.v.Root, "/dir/late", false); syserr.ErrnoOf(err) != unix.ENOENT {
		t.Fatalf("within NegativeTTL a name found missing is missing: %v", err)
	}
	now = now.Add(NegativeTTL)
	if _, err := f.v.Resolve(c, f.v.Root, "/dir/late", false); err != nil {
		t.Fatalf("after NegativeTTL the name is looked up again: %v", err)
	}

	if _, err := f.v.Resolve(c, f.v.Root, "/dir/other", false); syserr.ErrnoOf(err) != unix.ENOENT {
		t.Fatalf("lookup of other: %v", err)
	}
	f.write(t, "dir/other", "x")
	// A name made through the cache (any client's) ends every negative
	// entry's belief.
	dir, err := f.v.Resolve(c, f.v.Root, "/dir", false)
	if err != nil {
		t.Fatal(err)
	}
	dh, err := c.HandleOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.attrs.Mkdir(context.Background(), &goferpb.MkdirRequest{Dir: dh, Name: []byte("made"), Mode: 0o755})
	if err := syserr.FromGofer("mkdir", r.GetErrno(), err); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Resolve(c, f.v.Root, "/dir/other", false); err != nil {
		t.Fatalf("after a name was made the name is looked up again: %v", err)
	}
}

// TestHandlesBounded: the cache keeps at most MaxDentryHandles handles
// (plus a batch), never evicts a pinned dentry, and an evicted dentry
// walks to a new handle from its parent.
func TestHandlesBounded(t *testing.T) {
	f := newFixture(t)
	n := MaxDentryHandles + 2*EvictBatch
	for i := range n {
		f.write(t, fmt.Sprintf("many/f%d", i), "")
	}
	pin := f.call()
	defer pin.done()
	first, err := f.v.Resolve(pin, f.v.Root, "/many/f0", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pin.HandleOf(first); err != nil {
		t.Fatal(err)
	}
	ds := make([]*Dentry, n)
	for i := range n {
		c := f.call()
		if ds[i], err = f.v.Resolve(c, f.v.Root, fmt.Sprintf("/many/f%d", i), false); err != nil {
			t.Fatal(err)
		}
		c.done()
	}
	f.v.mu.Lock()
	cached, firstHandle, secondHandle := f.v.cachedHandles, first.handle, ds[1].handle
	f.v.mu.Unlock()
	if cached > MaxDentryHandles+EvictBatch {
		t.Errorf("%d handles cached, want at most %d", cached, MaxDentryHandles+EvictBatch)
	}
	if firstHandle == 0 {
		t.Errorf("the pinned dentry's handle was evicted")
	}
	if secondHandle != 0 {
		t.Errorf("the least recently used unpinned dentry kept its handle")
	}
	c := f.call()
	defer c.done()
	h, err := c.HandleOf(ds[1])
	if err != nil || h == 0 {
		t.Fatalf("an evicted dentry's handle: %d, %v", h, err)
	}
	st, err := f.v.StatDentry(c, ds[1])
	if err != nil || st.Ino != ds[1].Ino() {
		t.Fatalf("stat of an evicted dentry: %v, %v", st, err)
	}
}

// TestGraftTmpfs: a tmpfs mount covers its mount point with a per-client
// gofer directory, ".." leads back out, and its removal takes the
// directory with it.
func TestGraftTmpfs(t *testing.T) {
	f := newFixture(t)
	f.write(t, "mnt/under", "covered")
	if err := os.Mkdir(filepath.Join(f.root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	c := f.call()
	defer c.done()
	point, err := f.v.Resolve(c, f.v.Root, "/mnt", true)
	if err != nil {
		t.Fatal(err)
	}
	f.v.MntMu.Lock()
	m, err := f.v.Mounts.Add(mount.Mount{FSType: "tmpfs", Source: "tmpfs", Target: "/mnt", Backed: true,
		Tmpfs: mount.TmpfsOptions{Mode: 0o1777}})
	var g *Graft
	if err == nil {
		g, err = f.v.GraftTmpfs(point, m, true)
	}
	f.v.MntMu.Unlock()
	if err != nil {
		t.Fatalf("graft: %v", err)
	}
	if _, err := f.v.Resolve(c, f.v.Root, "/mnt/under", false); syserr.ErrnoOf(err) != unix.ENOENT {
		t.Errorf("a file under the mount point is visible through the mount: %v", err)
	}
	root, err := f.v.Resolve(c, f.v.Root, "/mnt", true)
	if err != nil || f.v.MountRoot(root) != g || f.v.MountOf(0, root) != m.ID {
		t.Fatalf("/mnt is not the mount's root: %v", err)
	}
	if up, err := f.v.Resolve(c, f.v.Root, "/mnt/..", true); err != nil || up != f.v.Root {
		t.Errorf("/mnt/.. is not the root: %v", err)
	}
	// The fixture's root has no /dev/shm: the directories are in /tmp.
	backing := filepath.Join(f.root, "tmp", tmpfsDirName(t.Name(), m.ID))
	if fi, err := os.Stat(backing); err != nil || !fi.IsDir() {
		t.Fatalf("the mount's directory %s: %v", backing, err)
	}
	f.v.MntMu.Lock()
	f.v.Ungraft(g, false)
	f.v.MntMu.Unlock()
	if _, err := os.Stat(backing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mount's directory is still there after the unmount: %v", err)
	}
	if d, err := f.v.Resolve(c, f.v.Root, "/mnt/under", false); err != nil || f.v.MountOf(0, d) != mount.RootID {
		t.Errorf("the covered file is not back: %v", err)
	}
}

// TestTooBig checks what a directory noted too big to list holds
// (NoteTooBig, TooBig): believed for its life, less each name removed
// from it through the namespace, not touched by another directory's
// removals or by an exchange.
func TestTooBig(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.attrs.SetClock(func() time.Time { return now })
	f.write(t, "big/a", "")
	f.write(t, "other/a", "")
	c := f.call()
	defer c.done()
	dir := func(p string) *Dentry {
		d, err := f.v.Resolve(c, f.v.Root, p, true)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return d
	}
	big, other := dir("/big"), dir("/other")
	const life = time.Minute
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"never noted", func() {}, false},
		{"noted 2 over", func() { f.v.NoteTooBig(big, 2, life) }, true},
		{"a name removed from another directory", func() { f.v.Forget(other, "a") }, true},
		{"an exchange out of it", func() { f.v.Moved(big, "x", other, "y", true) }, true},
		{"a name removed", func() { f.v.Forget(big, "a") }, true},
		{"a name renamed out", func() { f.v.Moved(big, "b", other, "b", false) }, false},
		{"noted again", func() { f.v.NoteTooBig(big, 1, life) }, true},
		{"just before its life ends", func() { now = now.Add(life - time.Nanosecond) }, true},
		{"its life ended", func() { now = now.Add(time.Nanosecond) }, false},
		{"noted 0 over", func() { f.v.NoteTooBig(big, 0, life) }, false},
	}
	for _, s := range steps {
		s.do()
		if got := f.v.TooBig(big); got != s.want {
			t.Errorf("%s: TooBig %v, want %v", s.name, got, s.want)
		}
		if f.v.TooBig(other) {
			t.Errorf("%s: the other directory is too big", s.name)
		}
	}
}

// TestPathOfAllocs: PathOf names a dentry of up to pathDepthOnStack
// levels in one allocation (the path itself), deeper ones correctly.
func TestPathOfAllocs(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		depth int
		// allocs is the most PathOf may make; 0: not counted.
		allocs float64
	}{
		{depth: 1, allocs: 1},
		{depth: 6, allocs: 1},
		{depth: pathDepthOnStack, allocs: 1},
		{depth: pathDepthOnStack + 5},
	} {
		t.Run(fmt.Sprintf("depth %d", tc.depth), func(t *testing.T) {
			d, want := f.v.Root, ""
			for i := range tc.depth {
				name := fmt.Sprintf("dir%d", i)
				d = &Dentry{name: name, parent: d}
				want += "/" + name
			}
			if p, ok := f.v.PathOf(d); p != want || !ok {
				t.Fatalf("PathOf = %q (%v), want %q", p, ok, want)
			}
			if tc.allocs == 0 {
				return
			}
			if n := testing.AllocsPerRun(100, func() { f.v.PathOf(d) }); n > tc.allocs {
				t.Errorf("PathOf of a path %d deep: %v allocations, want at most %v", tc.depth, n, tc.allocs)
			}
		})
	}
}
