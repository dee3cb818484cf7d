package gofer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

func (e *env) mkdir(dir uint64, name string) uint64 {
	e.t.Helper()
	return must(e.t, "mkdir "+name, must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: dir, Name: []byte(name), Mode: 0o755}))).GetHandle().GetId()
}

func (e *env) unlink(dir uint64, name string, flags uint32) (*goferpb.UnlinkReply, error) {
	return e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte(name), Flags: flags})
}

// unlinkOpen unlinks a file the application still has open.
func (e *env) unlinkOpen(dir uint64, name string) {
	e.t.Helper()
	must(e.t, "unlink "+name, must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte(name), Open: true})))
}

func TestRenameKeepsHandle(t *testing.T) {
	e := newEnv(t)
	d1 := e.mkdir(e.rootH, "d1")
	d2 := e.mkdir(e.rootH, "d2")
	h := e.create(d1, "f", unix.O_RDWR, 0o644)
	e.write(h, 0, "before", 0)

	for _, tc := range []struct {
		name      string
		oldDir    uint64
		oldName   string
		newDir    uint64
		newName   string
		flags     uint32
		wantErrno unix.Errno
	}{
		{name: "across directories", oldDir: d1, oldName: "f", newDir: d2, newName: "g"},
		{name: "back again", oldDir: d2, oldName: "g", newDir: d1, newName: "f2"},
		{name: "noreplace onto existing", oldDir: d1, oldName: "f2", newDir: e.rootH, newName: "d2", flags: unix.RENAME_NOREPLACE, wantErrno: unix.EEXIST},
		{name: "new name dotdot", oldDir: d1, oldName: "f2", newDir: d1, newName: "..", wantErrno: unix.EINVAL},
		{name: "new name with slash", oldDir: d1, oldName: "f2", newDir: d1, newName: "../../outside/x", wantErrno: unix.EINVAL},
		{name: "old name dotdot", oldDir: d1, oldName: "..", newDir: d1, newName: "x", wantErrno: unix.EINVAL},
		{name: "bad flags", oldDir: d1, oldName: "f2", newDir: d1, newName: "x", flags: unix.RENAME_WHITEOUT, wantErrno: unix.EINVAL},
		{name: "dir into itself", oldDir: e.rootH, oldName: "d1", newDir: d1, newName: "x", wantErrno: unix.EINVAL},
		{name: "bad new dir", oldDir: d1, oldName: "f2", newDir: 1 << 50, newName: "x", wantErrno: unix.EBADF},
		{name: "new dir is a file", oldDir: d1, oldName: "f2", newDir: h, newName: "x", wantErrno: unix.ENOTDIR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: tc.oldDir, OldName: []byte(tc.oldName), NewDir: tc.newDir, NewName: []byte(tc.newName), Flags: tc.flags})
			wantErrno(t, "rename", must2(r, err), tc.wantErrno)
		})
	}
	// The old handle still reaches the file, now at d1/f2.
	if got := e.read(h, 0, 100); got != "before" {
		t.Errorf("read through old handle after rename: %q", got)
	}
	e.write(h, 0, "AFTER!", 0)
	if b, err := os.ReadFile(e.host("d1/f2")); err != nil || string(b) != "AFTER!" {
		t.Errorf("host file after write through old handle: %q, %v", b, err)
	}
	// A handle of a renamed directory keeps working too.
	r, err := e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("d1"), NewDir: d2, NewName: []byte("moved")})
	must(t, "rename dir", must2(r, err))
	if got := e.walkOne(d1, "f2"); got == 0 {
		t.Error("walk in renamed dir")
	}
	if _, err := os.Stat(e.host("d2/moved/f2")); err != nil {
		t.Error(err)
	}
}

func TestUnlinkedFileStillReadable(t *testing.T) {
	e := newEnv(t)
	h := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.write(h, 0, "still here", 0)
	// A second, walked handle, opened only after the unlink.
	w := e.walkOne(e.rootH, "f")
	e.unlinkOpen(e.rootH, "f")
	if _, err := os.Lstat(e.host("f")); !os.IsNotExist(err) {
		t.Fatalf("file still on disk: %v", err)
	}
	if got := e.read(h, 0, 100); got != "still here" {
		t.Errorf("read after unlink: %q", got)
	}
	e.open(w, unix.O_RDONLY)
	if got := e.read(w, 6, 100); got != "here" {
		t.Errorf("read via handle opened after unlink: %q", got)
	}
	r, err := e.walk(e.rootH, "f")
	wantErrno(t, "walk unlinked", must2(r, err), unix.ENOENT)
	// The open file was silly-renamed (silly.go); its name goes with the
	// last handle a sentry opened.
	if n := sillyNames(t, e.root); len(n) != 1 {
		t.Fatalf("silly names after unlink: %v", n)
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.root); len(n) != 1 {
		t.Fatalf("silly name gone while a handle is still open: %v", n)
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{w}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names after the last release: %v", n)
	}
}

// sillyNames lists the silly-renamed files in dir and, if dir is a root,
// in its SillyDirName.
func sillyNames(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, d := range []string{dir, filepath.Join(dir, SillyDirName)} {
		ents, err := os.ReadDir(d)
		if os.IsNotExist(err) && d != dir {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), SillyPrefix) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

func TestMkdirUnlinkRmdir(t *testing.T) {
	e := newEnv(t)
	d := e.mkdir(e.rootH, "d")
	if st := e.stat(d); st.GetMode() != unix.S_IFDIR|0o755 {
		t.Errorf("mkdir mode %#o", st.GetMode())
	}
	// Released, so that unlinking it is not a silly rename.
	f := e.create(d, "f", unix.O_WRONLY, 0o644)
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{f}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		dir       uint64
		entry     string
		flags     uint32
		wantErrno unix.Errno
	}{
		{name: "mkdir existing", wantErrno: unix.EEXIST}, // special-cased below
		{name: "unlink dir without AT_REMOVEDIR", dir: e.rootH, entry: "d", wantErrno: unix.EISDIR},
		{name: "rmdir non-empty", dir: e.rootH, entry: "d", flags: unix.AT_REMOVEDIR, wantErrno: unix.ENOTEMPTY},
		{name: "rmdir file", dir: d, entry: "f", flags: unix.AT_REMOVEDIR, wantErrno: unix.ENOTDIR},
		{name: "bad flags", dir: d, entry: "f", flags: 1, wantErrno: unix.EINVAL},
		{name: "dotdot", dir: d, entry: "..", flags: unix.AT_REMOVEDIR, wantErrno: unix.EINVAL},
		{name: "dot", dir: d, entry: ".", flags: unix.AT_REMOVEDIR, wantErrno: unix.EINVAL},
		{name: "escape", dir: d, entry: "../../outside", flags: unix.AT_REMOVEDIR, wantErrno: unix.EINVAL},
		{name: "missing", dir: d, entry: "nope", wantErrno: unix.ENOENT},
		{name: "unlink file", dir: d, entry: "f"},
		{name: "rmdir empty", dir: e.rootH, entry: "d", flags: unix.AT_REMOVEDIR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.entry == "" {
				r, err := e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o755})
				wantErrno(t, "mkdir", must2(r, err), tc.wantErrno)
				return
			}
			r, err := e.unlink(tc.dir, tc.entry, tc.flags)
			wantErrno(t, "unlink", must2(r, err), tc.wantErrno)
		})
	}
	if _, err := os.Lstat(e.host("d")); !os.IsNotExist(err) {
		t.Errorf("d still exists: %v", err)
	}
	for _, name := range []string{"..", ".", "", "a/b", "/x"} {
		r, err := e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte(name), Mode: 0o755})
		wantErrno(t, "mkdir "+name, must2(r, err), unix.EINVAL)
	}
}

func TestSymlinkNotFollowed(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.outside, "target")
	for _, tc := range []struct {
		name   string
		target string
	}{
		{"abs", out},
		{"rel", "../outside/target"},
		{"root", "/"},
		{"dotdot", ".."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := must(t, "symlink", must2(e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte(tc.name), Target: []byte(tc.target)})))
			if sr.GetStat().GetMode() != unix.S_IFLNK|0o777 {
				t.Errorf("symlink mode %#o", sr.GetStat().GetMode())
			}
			h := sr.GetHandle().GetId()
			if got := must(t, "readlink", must2(e.c.Readlink(e.ctx, &goferpb.ReadlinkRequest{Handle: h}))).GetTarget(); string(got) != tc.target {
				t.Errorf("readlink %q, want %q", got, tc.target)
			}
			wantErrno(t, "open", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDWR})), unix.ELOOP)
			wantErrno(t, "create over symlink", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte(tc.name), Flags: unix.O_RDWR, Mode: 0o644})), unix.EEXIST)
			wantErrno(t, "mkdir over symlink", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte(tc.name), Mode: 0o755})), unix.EEXIST)
			wantErrno(t, "chmod symlink", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600})), unix.EOPNOTSUPP)
			wantErrno(t, "truncate symlink", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_SIZE})), unix.EINVAL)
			wantErrno(t, "create in symlink", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: h, Name: []byte("x"), Mode: 0o644})), unix.ENOTDIR)
			wantErrno(t, "getdents of symlink", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: h, Count: 10})), unix.ENOTDIR)
			wantErrno(t, "fsync symlink", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: h})), unix.EINVAL)
			r, err := e.walk(e.rootH, tc.name, "target")
			must(t, "walk through symlink", must2(r, err))
			if len(r.GetFiles()) != 1 {
				t.Errorf("walk through symlink walked %d files", len(r.GetFiles()))
			}
			// Times can be set on the symlink itself.
			must(t, "utimes symlink", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MTIME, MtimeNs: 1e9})))
			if st := e.stat(h); st.GetMtimeNs() != 1e9 {
				t.Errorf("symlink mtime %d", st.GetMtimeNs())
			}
		})
	}
	if _, err := os.Lstat(out); !os.IsNotExist(err) {
		t.Errorf("symlink target outside the root was created: %v", err)
	}
	for _, tc := range []struct {
		name, target string
		want         unix.Errno
	}{
		{"empty", "", unix.ENOENT},
		{"nul", "a\x00b", unix.EINVAL},
		{"a/b", "x", unix.EINVAL},
		{"..", "x", unix.EINVAL},
	} {
		wantErrno(t, "symlink "+tc.name, must2(e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte(tc.name), Target: []byte(tc.target)})), tc.want)
	}
}

// TestProcMagicLinks mounts a procfs inside the root and checks that its
// magic links (/proc/N/root, /proc/N/cwd, /proc/self/fd/N) are never followed.
func TestProcMagicLinks(t *testing.T) {
	e := newEnv(t)
	proc := e.host("proc")
	if err := os.Mkdir(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Skipf("cannot mount proc (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(proc, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	if err := os.Symlink("/proc/self/root", e.host("selfroot")); err != nil {
		t.Fatal(err)
	}
	pid := "1"
	for _, tc := range []struct {
		name      string
		names     []string
		wantFiles int
	}{
		{"proc self", []string{"proc", "self", "root", "etc"}, 2},
		{"pid root", []string{"proc", pid, "root", "etc", "passwd"}, 3},
		{"pid cwd", []string{"proc", pid, "cwd", "x"}, 3},
		{"pid exe", []string{"proc", pid, "exe"}, 3},
		{"thread-self", []string{"proc", "thread-self", "root"}, 2},
		{"symlink to proc self root", []string{"selfroot", "etc"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.walk(e.rootH, tc.names...)
			must(t, "walk", must2(r, err))
			if len(r.GetFiles()) != tc.wantFiles {
				t.Fatalf("walked %d files, want %d", len(r.GetFiles()), tc.wantFiles)
			}
			last := r.GetFiles()[tc.wantFiles-1]
			if last.GetStat().GetMode()&unix.S_IFMT != unix.S_IFLNK {
				t.Fatalf("last file mode %#o, want a symlink", last.GetStat().GetMode())
			}
			h := last.GetHandle().GetId()
			wantErrno(t, "open magic link", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h})), unix.ELOOP)
			wantErrno(t, "create via magic link", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: h, Name: []byte("pwned"), Mode: 0o644})), unix.ENOTDIR)
			wantErrno(t, "mkdir via magic link", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: h, Name: []byte("pwned"), Mode: 0o755})), unix.ENOTDIR)
		})
	}
	// The gofer's own fds under /proc/self/fd: a walk must stop there too.
	r, err := e.walk(e.rootH, "proc", "self", "fd")
	must(t, "walk", must2(r, err))
	if len(r.GetFiles()) != 2 {
		t.Errorf("walk through /proc/self walked %d files", len(r.GetFiles()))
	}
	if _, err := os.Stat("/pwned"); err == nil {
		t.Error("/pwned exists")
	}
}

func TestBadHandles(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	released := e.walkOne(e.rootH, "f")
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{released, released, 1 << 60}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []uint64{0, 1 << 62, released} {
		for _, tc := range []struct {
			name string
			call func() (interface{ GetErrno() int32 }, error)
		}{
			{"walk", func() (interface{ GetErrno() int32 }, error) { return e.walk(bad, "f") }},
			{"stat", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Stat(e.ctx, &goferpb.StatRequest{Handle: bad})
			}},
			{"setstat", func() (interface{ GetErrno() int32 }, error) {
				return e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: bad, Mask: unix.STATX_MODE})
			}},
			{"open", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: bad})
			}},
			{"create", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: bad, Name: []byte("x")})
			}},
			{"read", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: bad, Length: 1})
			}},
			{"write", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: bad, Data: []byte("x")})
			}},
			{"mkdir", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: bad, Name: []byte("x")})
			}},
			{"symlink", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: bad, Name: []byte("x"), Target: []byte("y")})
			}},
			{"link dir", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: bad, Name: []byte("x"), Target: f})
			}},
			{"link target", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("x"), Target: bad})
			}},
			{"mknod", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Mknod(e.ctx, &goferpb.MknodRequest{Dir: bad, Name: []byte("x"), Mode: unix.S_IFIFO})
			}},
			{"readlink", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Readlink(e.ctx, &goferpb.ReadlinkRequest{Handle: bad})
			}},
			{"unlink", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: bad, Name: []byte("f")})
			}},
			{"rename", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: bad, OldName: []byte("f"), NewDir: e.rootH, NewName: []byte("g")})
			}},
			{"getdents", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: bad, Count: 1})
			}},
			{"fsync", func() (interface{ GetErrno() int32 }, error) {
				return e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: bad})
			}},
			{"statfs", func() (interface{ GetErrno() int32 }, error) {
				return e.c.StatFS(e.ctx, &goferpb.StatFSRequest{Handle: bad})
			}},
		} {
			r, err := tc.call()
			wantErrno(t, tc.name, must2(r, err), unix.EBADF)
		}
	}
	// The file itself was not harmed, and the created handle still works.
	if _, err := os.Stat(e.host("f")); err != nil {
		t.Error(err)
	}
	e.write(f, 0, "ok", 0)
}

func TestFsyncWatermark(t *testing.T) {
	e := newEnv(t)
	a := e.create(e.rootH, "a", unix.O_RDWR, 0o644)
	b := e.create(e.rootH, "b", unix.O_WRONLY, 0o644)
	fsync := func(h uint64) uint64 {
		t.Helper()
		return must(t, "fsync", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: h}))).GetDurableWatermark()
	}
	if got := fsync(a); got != 0 {
		t.Errorf("watermark before writes %d", got)
	}
	e.write(a, 0, "1", 1)
	e.write(a, 1, "2", 2)
	e.write(a, 2, "5", 5)
	e.write(b, 0, "9", 9)
	e.write(a, 3, "untracked", 0)
	if got := fsync(a); got != 5 {
		t.Errorf("watermark of a: %d, want 5", got)
	}
	if got := fsync(b); got != 9 {
		t.Errorf("watermark of b: %d, want 9", got)
	}
	// data_only and a handle with no open fd (opened for the sync).
	w := e.walkOne(e.rootH, "a")
	if got := must(t, "fdatasync", must2(e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: w, DataOnly: true}))).GetDurableWatermark(); got != 0 {
		t.Errorf("watermark of fresh handle %d", got)
	}
	// Directories can be synced.
	fsync(e.rootH)

	// A write still in flight holds the watermark below it.
	h, err := e.srv.lookup(a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.decRef()
	h.beginWrite(7)
	h.beginWrite(8)
	h.endWrite(8)
	if got := h.watermark(); got != 6 {
		t.Errorf("watermark with 7 in flight and 8 done: %d, want 6", got)
	}
	h.endWrite(7)
	if got := h.watermark(); got != 8 {
		t.Errorf("watermark after 7 done: %d, want 8", got)
	}
	if got := fsync(a); got != 8 {
		t.Errorf("fsync watermark: %d, want 8", got)
	}

	// O_SYNC handles sync each write (exercised, not observable here).
	s := e.create(e.rootH, "sync", unix.O_WRONLY|unix.O_SYNC, 0o644)
	e.write(s, 0, "durable", 3)
	if got := fsync(s); got != 3 {
		t.Errorf("watermark of O_SYNC handle %d", got)
	}
}

func TestMknodLinkSetStatStatFS(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		mode uint32
		want unix.Errno
	}{
		{"fifo", unix.S_IFIFO | 0o640, 0},
		{"sock", unix.S_IFSOCK | 0o600, 0},
		{"reg", 0o644, 0},
		{"chr", unix.S_IFCHR | 0o666, unix.EPERM},
		{"blk", unix.S_IFBLK | 0o666, unix.EPERM},
		{"dir", unix.S_IFDIR | 0o755, unix.EINVAL},
		{"lnk", unix.S_IFLNK | 0o777, unix.EINVAL},
	} {
		t.Run("mknod "+tc.name, func(t *testing.T) {
			r, err := e.c.Mknod(e.ctx, &goferpb.MknodRequest{Dir: e.rootH, Name: []byte(tc.name), Mode: tc.mode, Rdev: unix.Mkdev(1, 3)})
			wantErrno(t, "mknod", must2(r, err), tc.want)
			if tc.want != 0 {
				if _, err := os.Lstat(e.host(tc.name)); !os.IsNotExist(err) {
					t.Errorf("failed mknod left a file: %v", err)
				}
				return
			}
			wantMode := tc.mode
			if wantMode&unix.S_IFMT == 0 {
				wantMode |= unix.S_IFREG
			}
			if r.GetStat().GetMode() != wantMode {
				t.Errorf("mode %#o, want %#o", r.GetStat().GetMode(), wantMode)
			}
			if tc.mode&unix.S_IFMT == unix.S_IFIFO {
				// The gofer does not serve special files' contents.
				wantErrno(t, "open fifo", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: r.GetHandle().GetId()})), unix.EPERM)
			}
		})
	}

	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.write(f, 0, "0123456789", 0)
	st := must(t, "link", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("hard"), Target: f}))).GetStat()
	if st.GetNlink() != 2 {
		t.Errorf("nlink after link %d", st.GetNlink())
	}
	if b, err := os.ReadFile(e.host("hard")); err != nil || string(b) != "0123456789" {
		t.Errorf("hard link content %q, %v", b, err)
	}
	d := e.mkdir(e.rootH, "d")
	wantErrno(t, "link dir", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("dl"), Target: d})), unix.EPERM)
	wantErrno(t, "link escape", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("../outside/x"), Target: f})), unix.EINVAL)
	wantErrno(t, "link existing", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("hard"), Target: f})), unix.EEXIST)

	for _, tc := range []struct {
		name  string
		h     uint64
		req   *goferpb.SetStatRequest
		want  unix.Errno
		check func(*goferpb.Stat) bool
	}{
		// The reply is the sandbox's view; the host file's mode has no
		// set-id bit (setid_test.go).
		{"chmod setuid", f, &goferpb.SetStatRequest{Mask: unix.STATX_MODE, Mode: 0o4711}, 0,
			func(s *goferpb.Stat) bool { return s.GetMode() == unix.S_IFREG|0o4711 }},
		{"chown", f, &goferpb.SetStatRequest{Mask: unix.STATX_UID | unix.STATX_GID, Uid: 1234, Gid: 5678}, 0,
			func(s *goferpb.Stat) bool { return s.GetUid() == 1234 && s.GetGid() == 5678 }},
		{"chown gid only", f, &goferpb.SetStatRequest{Mask: unix.STATX_GID, Gid: 42}, 0,
			func(s *goferpb.Stat) bool { return s.GetUid() == 1234 && s.GetGid() == 42 }},
		{"truncate", f, &goferpb.SetStatRequest{Mask: unix.STATX_SIZE, Size: 4}, 0,
			func(s *goferpb.Stat) bool { return s.GetSize() == 4 }},
		{"truncate and times", f, &goferpb.SetStatRequest{Mask: unix.STATX_SIZE | unix.STATX_ATIME | unix.STATX_MTIME, Size: 2, AtimeNs: 1_500_000_000, MtimeNs: 2_000_000_123}, 0,
			func(s *goferpb.Stat) bool {
				return s.GetSize() == 2 && s.GetAtimeNs() == 1_500_000_000 && s.GetMtimeNs() == 2_000_000_123
			}},
		{"mtime now", f, &goferpb.SetStatRequest{Mask: unix.STATX_MTIME, MtimeNow: true}, 0,
			func(s *goferpb.Stat) bool { return s.GetMtimeNs() > 2_000_000_123 && s.GetAtimeNs() == 1_500_000_000 }},
		{"truncate dir", d, &goferpb.SetStatRequest{Mask: unix.STATX_SIZE}, unix.EISDIR, nil},
		{"chmod dir", d, &goferpb.SetStatRequest{Mask: unix.STATX_MODE, Mode: 0o700}, 0,
			func(s *goferpb.Stat) bool { return s.GetMode() == unix.S_IFDIR|0o700 }},
		{"unsupported mask", f, &goferpb.SetStatRequest{Mask: unix.STATX_CTIME}, unix.EINVAL, nil},
		{"huge size", f, &goferpb.SetStatRequest{Mask: unix.STATX_SIZE, Size: 1 << 63}, unix.EINVAL, nil},
	} {
		t.Run("setstat "+tc.name, func(t *testing.T) {
			tc.req.Handle = tc.h
			r, err := e.c.SetStat(e.ctx, tc.req)
			wantErrno(t, "setstat", must2(r, err), tc.want)
			if tc.check != nil && !tc.check(r.GetStat()) {
				t.Errorf("stat after setstat: %v", r.GetStat())
			}
		})
	}

	sf := must(t, "statfs", must2(e.c.StatFS(e.ctx, &goferpb.StatFSRequest{Handle: f})))
	var want unix.Statfs_t
	if err := unix.Statfs(e.root, &want); err != nil {
		t.Fatal(err)
	}
	if sf.GetType() != uint64(want.Type) || sf.GetBlockSize() == 0 || sf.GetNameLength() != 255 {
		t.Errorf("statfs %v, want type %#x", sf, want.Type)
	}
}

func TestStatAndFileHandle(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("f"), "abc")
	r := must(t, "walk", must2(e.walk(e.rootH, "f")))
	wf := r.GetFiles()[0]
	var want unix.Stat_t
	if err := unix.Lstat(e.host("f"), &want); err != nil {
		t.Fatal(err)
	}
	st := wf.GetStat()
	if st.GetIno() != want.Ino || st.GetDev() != want.Dev || st.GetSize() != 3 || st.GetNlink() != 1 ||
		st.GetMtimeNs() != want.Mtim.Nano() {
		t.Errorf("stat %v, want %+v", st, want)
	}
	// When the filesystem supports file handles, the gofer's file_handle
	// opens the same file.
	fh := wf.GetHandle().GetFileHandle()
	if _, _, err := unix.NameToHandleAt(unix.AT_FDCWD, e.host("f"), 0); err != nil {
		if len(fh) != 0 {
			t.Errorf("file handle %x on a filesystem without them", fh)
		}
		t.Skipf("filesystem has no file handles: %v", err)
	}
	if len(fh) <= 4 {
		t.Fatalf("file handle %x", fh)
	}
	mfd, err := unix.Open(e.root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mfd)
	typ := int32(uint32(fh[0]) | uint32(fh[1])<<8 | uint32(fh[2])<<16 | uint32(fh[3])<<24)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(typ, fh[4:]), unix.O_RDONLY)
	if err != nil {
		t.Fatalf("open_by_handle_at: %v", err)
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil || got.Ino != want.Ino {
		t.Errorf("file handle opened ino %d (%v), want %d", got.Ino, err, want.Ino)
	}
	// The same file handle after a rename.
	if err := os.Rename(e.host("f"), e.host("g")); err != nil {
		t.Fatal(err)
	}
	r2 := must(t, "walk", must2(e.walk(e.rootH, "g")))
	if string(r2.GetFiles()[0].GetHandle().GetFileHandle()) != string(fh) {
		t.Error("file handle changed across rename")
	}
}

func TestCloseAndRelease(t *testing.T) {
	base := t.TempDir()
	s, err := NewServer(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	a, _ := s.Attach(ctx, &goferpb.AttachRequest{})
	c, _ := s.Create(ctx, &goferpb.CreateRequest{Dir: a.GetRoot().GetId(), Name: []byte("f"), Flags: unix.O_RDWR, Mode: 0o644})
	if c.GetErrno() != 0 {
		t.Fatalf("create: %v", unix.Errno(c.GetErrno()))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r, _ := s.Attach(ctx, &goferpb.AttachRequest{}); unix.Errno(r.GetErrno()) != unix.ESHUTDOWN {
		t.Errorf("attach after close: %v", unix.Errno(r.GetErrno()))
	}
	if r, _ := s.Read(ctx, &goferpb.ReadRequest{Handle: c.GetHandle().GetId(), Length: 1}); unix.Errno(r.GetErrno()) != unix.EBADF {
		t.Errorf("read after close: %v", unix.Errno(r.GetErrno()))
	}
	s.Release(ctx, &goferpb.ReleaseRequest{Handles: []uint64{1, 2, 3}})
	if _, err := NewServer(filepath.Join(base, "missing"), nil); err == nil {
		t.Error("NewServer of a missing root succeeded")
	}
}

// Nil requests (possible for direct callers) must not panic.
func TestNilRequests(t *testing.T) {
	s, err := NewServer(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	s.Attach(ctx, nil)
	s.Walk(ctx, nil)
	s.Stat(ctx, nil)
	s.SetStat(ctx, nil)
	s.Open(ctx, nil)
	s.Create(ctx, nil)
	s.Read(ctx, nil)
	s.Write(ctx, nil)
	s.Fallocate(ctx, nil)
	s.GetXattr(ctx, nil)
	s.SetXattr(ctx, nil)
	s.ListXattr(ctx, nil)
	s.RemoveXattr(ctx, nil)
	s.Mkdir(ctx, nil)
	s.Symlink(ctx, nil)
	s.Link(ctx, nil)
	s.Mknod(ctx, nil)
	s.Readlink(ctx, nil)
	s.Unlink(ctx, nil)
	s.Rename(ctx, nil)
	s.Getdents(ctx, nil)
	s.Fsync(ctx, nil)
	s.StatFS(ctx, nil)
	s.Release(ctx, nil)
}

// TestUnlinkNotOpenIsNotSilly: a file the sentry opened (its own handle,
// kept until a write is durable) but the application closed is unlinked
// for real when the sentry says it is not open.
func TestUnlinkNotOpenIsNotSilly(t *testing.T) {
	e := newEnv(t)
	h := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.write(h, 0, "data", 1)
	must(t, "unlink", must2(e.unlink(e.rootH, "f", 0)))
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names: %v", n)
	}
	if got := e.read(h, 0, 10); got != "data" {
		t.Fatalf("read through the open handle: %q", got)
	}
	// Linked twice: not the last name, so no silly rename even if open.
	h2 := e.create(e.rootH, "g", unix.O_RDWR, 0o644)
	must(t, "link", must2(e.c.Link(e.ctx, &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("g2"), Target: h2})))
	e.unlinkOpen(e.rootH, "g")
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names after unlinking one of two links: %v", n)
	}
}

// TestCreateOwner: a created file (and directory) has the owner and
// group asked for and the exact mode, whether they are the ones the
// file was made with (no chown then), another owner, or a group other
// than the one a set-group-ID directory gives.
func TestCreateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another owner needs root")
	}
	e := newEnv(t)
	sgid := e.mkdir(e.rootH, "sgid")
	if err := os.Chown(e.host("sgid"), 0, 42); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.host("sgid"), 0o2777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		dir      uint64
		uid, gid uint32
		mode     uint32
	}{
		{"as made", e.rootH, 0, 0, 0o644},
		{"as made, a mode the umask cuts", e.rootH, 0, 0, 0o666},
		{"another owner", e.rootH, 1234, 5678, 0o640},
		{"the set-group-ID directory's group", sgid, 0, 42, 0o600},
		{"not the set-group-ID directory's group", sgid, 0, 0, 0o644},
		{"another owner, a mode the umask cuts", e.rootH, 1234, 5678, 0o664},
		{"a umask changed since the gofer read it", e.rootH, 0, 0, 0o640},
		{"another owner, a umask changed since", e.rootH, 1234, 5678, 0o750},
	} {
		if strings.Contains(tc.name, "umask changed") {
			// The gofer predicts the bits its umask cuts from the
			// umask it started with; the file's statx shows the rest.
			old := unix.Umask(0o077)
			defer unix.Umask(old)
		}
		for _, kind := range []string{"file", "dir"} {
			name := fmt.Sprintf("%s-%d-%d-%o", kind, tc.uid, tc.gid, tc.mode)
			var st *goferpb.Stat
			if kind == "file" {
				st = must(t, tc.name, must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: tc.dir, Name: []byte(name), Flags: unix.O_WRONLY, Mode: tc.mode, Uid: tc.uid, Gid: tc.gid}))).GetStat()
			} else {
				st = must(t, tc.name, must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: tc.dir, Name: []byte(name), Mode: tc.mode, Uid: tc.uid, Gid: tc.gid}))).GetStat()
			}
			var host unix.Stat_t
			p := e.host(name)
			if tc.dir == sgid {
				p = e.host(filepath.Join("sgid", name))
			}
			if err := unix.Lstat(p, &host); err != nil {
				t.Fatal(err)
			}
			for _, got := range []struct {
				what           string
				uid, gid, mode uint32
			}{{"reply", st.GetUid(), st.GetGid(), st.GetMode() & 0o777}, {"host", host.Uid, host.Gid, host.Mode & 0o777}} {
				if got.uid != tc.uid || got.gid != tc.gid || got.mode != tc.mode {
					t.Errorf("%s, %s: %s owner %d:%d mode %#o, want %d:%d %#o", tc.name, kind, got.what, got.uid, got.gid, got.mode, tc.uid, tc.gid, tc.mode)
				}
			}
		}
	}
}

// TestClearUmask checks that a gofer whose umask ClearUmask cleared makes
// files and directories with the bits asked for, and knows its umask is 0
// (no chmod is predicted).
func TestClearUmask(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	e := newEnv(t)
	e.srv.ClearUmask()
	if e.srv.umask != 0 || processUmask() != 0 {
		t.Fatalf("umask %#o, the process's %#o; want 0", e.srv.umask, processUmask())
	}
	f := must(t, "create", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_WRONLY, Mode: 0o664}))).GetStat()
	d := must(t, "mkdir", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o775}))).GetStat()
	for _, got := range []struct {
		what       string
		mode, want uint32
	}{{"file", f.GetMode(), unix.S_IFREG | 0o664}, {"directory", d.GetMode(), unix.S_IFDIR | 0o775}} {
		if got.mode != got.want {
			t.Errorf("%s: mode %#o, want %#o", got.what, got.mode, got.want)
		}
	}
}
