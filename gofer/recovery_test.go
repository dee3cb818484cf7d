package gofer

import (
	"context"
	"encoding/binary"
	"google.golang.org/protobuf/proto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// hostFileHandle returns the wire file handle of a host path.
func hostFileHandle(t testing.TB, path string) []byte {
	t.Helper()
	fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		t.Skipf("name_to_handle_at: %v", err)
	}
	return encodeFileHandle(fh.Type(), fh.Bytes())
}

func (e *env) reopen(fh []byte) *goferpb.ReopenReply {
	e.t.Helper()
	r, err := e.c.Reopen(e.ctx, &goferpb.ReopenRequest{FileHandle: fh})
	if err != nil {
		e.t.Fatalf("Reopen: gRPC error %v", err)
	}
	return r
}

// restartGofer serves e.root with a second, fresh gofer process (server)
// and returns a client of it.
func restartGofer(t *testing.T, root string) *Server {
	t.Helper()
	s, err := NewServer(root, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopen(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_by_handle_at needs CAP_DAC_READ_SEARCH")
	}
	type tc struct {
		name string
		// setup returns the file handle to reopen and what reading the
		// reopened file must give ("" for a directory or an error).
		setup     func(e *env) ([]byte, string)
		restart   bool // reopen on a fresh gofer process
		wantErrno unix.Errno
		wantDir   bool
	}
	created := func(e *env, name, data string) (uint64, []byte) {
		r := must(e.t, "create", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte(name), Flags: unix.O_RDWR, Mode: 0o644})))
		e.write(r.Handle.Id, 0, data, 0)
		if len(r.Handle.FileHandle) == 0 {
			e.t.Skip("filesystem has no file handles")
		}
		return r.Handle.Id, r.Handle.FileHandle
	}
	cases := []tc{
		{name: "renamed", setup: func(e *env) ([]byte, string) {
			_, fh := created(e, "a", "renamed data")
			must(e.t, "rename", must2(e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("a"), NewDir: e.rootH, NewName: []byte("b")})))
			return fh, "renamed data"
		}},
		{name: "renamed/fresh gofer", restart: true, setup: func(e *env) ([]byte, string) {
			_, fh := created(e, "a", "renamed data")
			if err := os.Mkdir(e.host("sub"), 0o755); err != nil {
				e.t.Fatal(err)
			}
			if err := os.Rename(e.host("a"), e.host("sub/c")); err != nil {
				e.t.Fatal(err)
			}
			return fh, "renamed data"
		}},
		{name: "unlinked but open", setup: func(e *env) ([]byte, string) {
			_, fh := created(e, "u", "unlinked data")
			e.unlinkOpen(e.rootH, "u")
			return fh, "unlinked data"
		}},
		{name: "unlinked/fresh gofer", restart: true, setup: func(e *env) ([]byte, string) {
			// Silly-renamed, so it outlives the gofer process.
			_, fh := created(e, "u", "unlinked data")
			e.unlinkOpen(e.rootH, "u")
			return fh, "unlinked data"
		}},
		{name: "moved directory", restart: true, wantDir: true, setup: func(e *env) ([]byte, string) {
			if err := os.MkdirAll(e.host("d1/d2"), 0o755); err != nil {
				e.t.Fatal(err)
			}
			fh := hostFileHandle(e.t, e.host("d1/d2"))
			if err := os.Rename(e.host("d1/d2"), e.host("d3")); err != nil {
				e.t.Fatal(err)
			}
			return fh, ""
		}},
		{name: "root", restart: true, wantDir: true, setup: func(e *env) ([]byte, string) {
			return hostFileHandle(e.t, e.root), ""
		}},
		{name: "file outside the root", restart: true, wantErrno: unix.ESTALE, setup: func(e *env) ([]byte, string) {
			p := filepath.Join(e.base, "secret")
			writeHostFile(e.t, p, "secret")
			e.t.Cleanup(func() { os.Remove(p) })
			return hostFileHandle(e.t, p), ""
		}},
		{name: "directory outside the root", restart: true, wantErrno: unix.ESTALE, setup: func(e *env) ([]byte, string) {
			return hostFileHandle(e.t, e.outside), ""
		}},
		{name: "parent of the root", restart: true, wantErrno: unix.ESTALE, setup: func(e *env) ([]byte, string) {
			return hostFileHandle(e.t, e.base), ""
		}},
		{name: "empty", wantErrno: unix.EINVAL, setup: func(e *env) ([]byte, string) { return nil, "" }},
		{name: "type only", wantErrno: unix.EINVAL, setup: func(e *env) ([]byte, string) { return []byte{1, 0, 0, 0}, "" }},
		{name: "too long", wantErrno: unix.EINVAL, setup: func(e *env) ([]byte, string) { return make([]byte, 4+maxHandleBytes+handleMACLen+1), "" }},
		{name: "garbage", wantErrno: unix.ESTALE, setup: func(e *env) ([]byte, string) {
			b := []byte{1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
			return append(b, make([]byte, handleMACLen)...), ""
		}},
		{name: "forged inode", wantErrno: unix.ESTALE, setup: func(e *env) ([]byte, string) {
			_, fh := created(e, "f", "x")
			b := append([]byte(nil), fh...)
			// Point the handle at another inode number (ext4 handles start
			// with the 32-bit inode number).
			binary.LittleEndian.PutUint32(b[4:], binary.LittleEndian.Uint32(b[4:])+100000)
			return b, ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			fh, want := c.setup(e)
			var r *goferpb.ReopenReply
			srv := e.srv
			if c.restart {
				// The first gofer process is gone (with its handles).
				e.srv.Close()
				srv = restartGofer(t, e.root)
				r, _ = srv.Reopen(e.ctx, &goferpb.ReopenRequest{FileHandle: fh})
			} else {
				r = e.reopen(fh)
			}
			if got := unix.Errno(r.GetErrno()); got != c.wantErrno {
				t.Fatalf("Reopen errno %v, want %v", got, c.wantErrno)
			}
			if c.wantErrno != 0 {
				if r.Handle != nil {
					t.Fatalf("failed Reopen returned a handle")
				}
				return
			}
			checkHandleConfined(t, srv, e.root, r.Handle.Id)
			if isDir := r.Stat.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != c.wantDir {
				t.Fatalf("reopened mode %#o", r.Stat.Mode)
			}
			if c.wantDir {
				return
			}
			if _, err := srv.Open(e.ctx, &goferpb.OpenRequest{Handle: r.Handle.Id, Flags: unix.O_RDONLY}); err != nil {
				t.Fatal(err)
			}
			rr, _ := srv.Read(e.ctx, &goferpb.ReadRequest{Handle: r.Handle.Id, Length: 100})
			if rr.GetErrno() != 0 || string(rr.Data) != want {
				t.Fatalf("read reopened: %q errno %v, want %q", rr.Data, unix.Errno(rr.GetErrno()), want)
			}
		})
	}
}

func TestReplyCache(t *testing.T) {
	org := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c1", Seq: seq} }
	cases := []struct {
		name string
		run  func(e *env)
	}{
		{"rename twice", func(e *env) {
			writeHostFile(e.t, e.host("a"), "x")
			req := &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("a"), NewDir: e.rootH, NewName: []byte("b"), Origin: org(7)}
			must(e.t, "rename", must2(e.c.Rename(e.ctx, req)))
			must(e.t, "rename again", must2(e.c.Rename(e.ctx, req)))
			// Without the origin it runs again and fails.
			req.Origin = nil
			wantErrno(e.t, "rename without origin", must2(e.c.Rename(e.ctx, req)), unix.ENOENT)
			// Another client's call with the same seq runs.
			req.Origin = &goferpb.Origin{ClientId: "c2", Seq: 7}
			wantErrno(e.t, "other client", must2(e.c.Rename(e.ctx, req)), unix.ENOENT)
		}},
		{"mkdir twice", func(e *env) {
			req := &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o755, Origin: org(8)}
			r1 := must(e.t, "mkdir", must2(e.c.Mkdir(e.ctx, req)))
			r2 := must(e.t, "mkdir again", must2(e.c.Mkdir(e.ctx, req)))
			if r1.Handle.Id == r2.Handle.Id {
				e.t.Errorf("re-sent mkdir returned the same handle id %d", r1.Handle.Id)
			}
			if r2.Stat.Ino != r1.Stat.Ino {
				e.t.Errorf("re-sent mkdir: ino %d, first %d", r2.Stat.Ino, r1.Stat.Ino)
			}
			// The fresh handle works.
			must(e.t, "create in d", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: r2.Handle.Id, Name: []byte("f"), Flags: unix.O_RDWR, Mode: 0o644})))
			wantErrno(e.t, "mkdir next seq", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o755, Origin: org(9)})), unix.EEXIST)
		}},
		{"creations re-sent after the file was removed and released", func(e *env) {
			// A later call removed each file and its handle was released
			// (the sentry that sent them died, ending its session): the
			// re-sent creation's success stands, without a handle.
			rm := func(name string, flags uint32, seq uint64) {
				must(e.t, "remove "+name, must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte(name), Flags: flags, Origin: org(seq)})))
			}
			md := &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("gone-d"), Mode: 0o755, Origin: org(20)}
			r1 := must(e.t, "mkdir", must2(e.c.Mkdir(e.ctx, md)))
			rm("gone-d", unix.AT_REMOVEDIR, 21)
			sl := &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte("gone-l"), Target: []byte("t"), Origin: org(22)}
			s1 := must(e.t, "symlink", must2(e.c.Symlink(e.ctx, sl)))
			rm("gone-l", 0, 23)
			mn := &goferpb.MknodRequest{Dir: e.rootH, Name: []byte("gone-p"), Mode: unix.S_IFIFO | 0o600, Origin: org(24)}
			n1 := must(e.t, "mknod", must2(e.c.Mknod(e.ctx, mn)))
			rm("gone-p", 0, 25)
			if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{r1.Handle.Id, s1.Handle.Id, n1.Handle.Id}}); err != nil {
				e.t.Fatal(err)
			}
			r2 := must(e.t, "mkdir again", must2(e.c.Mkdir(e.ctx, md)))
			s2 := must(e.t, "symlink again", must2(e.c.Symlink(e.ctx, sl)))
			n2 := must(e.t, "mknod again", must2(e.c.Mknod(e.ctx, mn)))
			for _, c := range []struct {
				name      string
				h         *goferpb.Handle
				st, first *goferpb.Stat
			}{{"mkdir", r2.Handle, r2.Stat, r1.Stat}, {"symlink", s2.Handle, s2.Stat, s1.Stat}, {"mknod", n2.Handle, n2.Stat, n1.Stat}} {
				if c.h != nil {
					e.t.Errorf("re-sent %s of a removed file: handle %v, want none", c.name, c.h)
				}
				if c.st.GetIno() != c.first.GetIno() {
					e.t.Errorf("re-sent %s: ino %d, want the first execution's %d", c.name, c.st.GetIno(), c.first.GetIno())
				}
			}
			for _, n := range []string{"gone-d", "gone-l", "gone-p"} {
				if _, err := os.Lstat(e.host(n)); !os.IsNotExist(err) {
					e.t.Errorf("%s: %v, want it gone (a re-sent creation ran again)", n, err)
				}
			}
		}},
		{"create twice", func(e *env) {
			req := &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_WRONLY, Mode: 0o644, Origin: org(10)}
			must(e.t, "create", must2(e.c.Create(e.ctx, req)))
			r2 := must(e.t, "create again", must2(e.c.Create(e.ctx, req)))
			e.write(r2.Handle.Id, 0, "via second", 0)
			if b, _ := os.ReadFile(e.host("f")); string(b) != "via second" {
				e.t.Errorf("file %q", b)
			}
		}},
		{"append write twice", func(e *env) {
			h := e.create(e.rootH, "log", unix.O_RDWR, 0o644)
			e.write(h, 0, "line1\n", 0)
			// An O_APPEND write is sent at the size; the re-sent one, at the
			// new size, must not append again.
			w := &goferpb.WriteRequest{Handle: h, Offset: 6, Data: []byte("line2\n"), Seq: 11, Origin: org(11)}
			r1 := must(e.t, "write", must2(e.c.Write(e.ctx, w)))
			w.Offset = 12
			r2 := must(e.t, "write again", must2(e.c.Write(e.ctx, w)))
			if r1.Written != 6 || r2.Written != 6 {
				e.t.Errorf("written %d, %d", r1.Written, r2.Written)
			}
			// The duplicate's attributes are the file's now (the sentry
			// caches them), not the first reply's.
			must(e.t, "grow", must2(e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: h, Offset: 12, Data: []byte("grown\n")})))
			if r3 := must(e.t, "write a third time", must2(e.c.Write(e.ctx, w))); r3.Stat.GetSize() != 18 {
				e.t.Errorf("re-sent write's reply: size %d, want the file's 18", r3.Stat.GetSize())
			}
			os.Truncate(e.host("log"), 12)
			// A second part of the same call is another mutation.
			must(e.t, "part 1", must2(e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: h, Offset: 12, Data: []byte("line3\n"), Seq: 11,
				Origin: &goferpb.Origin{ClientId: "c1", Seq: 11, Part: 1}})))
			if b, _ := os.ReadFile(e.host("log")); string(b) != "line1\nline2\nline3\n" {
				e.t.Errorf("file %q", b)
			}
		}},
		{"unlink twice", func(e *env) {
			writeHostFile(e.t, e.host("u"), "x")
			req := &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("u"), Origin: org(12)}
			must(e.t, "unlink", must2(e.c.Unlink(e.ctx, req)))
			must(e.t, "unlink again", must2(e.c.Unlink(e.ctx, req)))
		}},
		{"failure is cached too", func(e *env) {
			req := &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("missing"), Origin: org(13)}
			wantErrno(e.t, "unlink", must2(e.c.Unlink(e.ctx, req)), unix.ENOENT)
			writeHostFile(e.t, e.host("missing"), "x")
			wantErrno(e.t, "unlink again", must2(e.c.Unlink(e.ctx, req)), unix.ENOENT)
			if _, err := os.Stat(e.host("missing")); err != nil {
				e.t.Errorf("re-sent unlink ran: %v", err)
			}
		}},
		{"a write that wrote nothing is not kept", func(e *env) {
			// Its failure changed nothing: the same write sent again
			// runs (a sentry's Rewrite once ENOSPC passed; here it fits
			// where it is sent again). One that wrote is kept.
			h := e.create(e.rootH, "w", unix.O_RDWR, 0o644)
			w := &goferpb.WriteRequest{Handle: h, Offset: 1 << 63, Data: []byte("late"), Seq: 17, Origin: org(17)}
			wantErrno(e.t, "write past the largest offset", must2(e.c.Write(e.ctx, w)), unix.EFBIG)
			w.Offset = 0
			if r := must(e.t, "write again", must2(e.c.Write(e.ctx, w))); r.Written != 4 || r.Cached {
				e.t.Errorf("write again: wrote %d, cached %v; want 4, run", r.Written, r.Cached)
			}
			w.Offset = 10
			// Answered from the cache, and saying so.
			if r := must(e.t, "write a third time", must2(e.c.Write(e.ctx, w))); r.Written != 4 || !r.Cached {
				e.t.Errorf("write a third time: wrote %d, cached %v; want 4 from the cache", r.Written, r.Cached)
			}
			if b, _ := os.ReadFile(e.host("w")); string(b) != "late" {
				e.t.Errorf("file %q, want \"late\" (written once, by the second)", b)
			}
		}},
		{"setstat and symlink and link", func(e *env) {
			writeHostFile(e.t, e.host("s"), "x")
			h := e.walkOne(e.rootH, "s")
			must(e.t, "setstat", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600, Origin: org(14)})))
			os.Chmod(e.host("s"), 0o644)
			must(e.t, "setstat again", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600, Origin: org(14)})))
			if fi, _ := os.Stat(e.host("s")); fi.Mode().Perm() != 0o644 {
				e.t.Errorf("re-sent setstat ran: %v", fi.Mode())
			}
			if r := must(e.t, "setstat a third time", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600, Origin: org(14)}))); r.Stat.GetMode()&0o777 != 0o644 {
				e.t.Errorf("re-sent setstat's reply: mode %o, want the file's 644", r.Stat.GetMode())
			}
			sl := &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte("l"), Target: []byte("s"), Origin: org(15)}
			must(e.t, "symlink", must2(e.c.Symlink(e.ctx, sl)))
			must(e.t, "symlink again", must2(e.c.Symlink(e.ctx, sl)))
			ln := &goferpb.LinkRequest{Dir: e.rootH, Name: []byte("hard"), Target: h, Origin: org(16)}
			must(e.t, "link", must2(e.c.Link(e.ctx, ln)))
			must(e.t, "link again", must2(e.c.Link(e.ctx, ln)))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(newEnv(t)) })
	}
}

func TestReplyCacheBounded(t *testing.T) {
	big := &goferpb.WriteReply{Stat: &goferpb.Stat{Ino: 1, Size: 1 << 40, MtimeNs: 1 << 40}}
	tests := []struct {
		name          string
		max, maxBytes int
		reply         proto.Message
		wantLen       int
	}{
		{name: "entries", max: 4, maxBytes: 1 << 20, reply: &goferpb.UnlinkReply{Errno: 1}, wantLen: 4},
		// Each entry costs cacheEntryOverhead + its key + its reply.
		{name: "bytes", max: 1 << 10, maxBytes: 3 * (cacheEntryOverhead + 1 + proto.Size(big)), reply: big, wantLen: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newReplyCache(tc.max, tc.maxBytes)
			for i := uint64(1); i <= 10; i++ {
				e, owner := c.begin(&goferpb.Origin{ClientId: "c", Seq: i})
				if !owner {
					t.Fatalf("seq %d: not owner", i)
				}
				c.finish(e, tc.reply, nil)
			}
			if n, b := c.len(); n != tc.wantLen || b > tc.maxBytes {
				t.Fatalf("cache holds %d entries of %d bytes, want %d entries, at most %d bytes", n, b, tc.wantLen, tc.maxBytes)
			}
			if _, owner := c.begin(&goferpb.Origin{ClientId: "c", Seq: 10}); owner {
				t.Errorf("most recent entry evicted")
			}
			if _, owner := c.begin(&goferpb.Origin{ClientId: "c", Seq: 1}); !owner {
				t.Errorf("oldest entry kept")
			}
			// Zero seq is never cached.
			if e, owner := c.begin(&goferpb.Origin{ClientId: "c"}); e != nil || !owner {
				t.Errorf("zero seq cached")
			}
		})
	}
}

// TestReplyCacheForgetClient: a client's entries go when it is forgotten;
// another client's, and a running entry, stay.
func TestReplyCacheForgetClient(t *testing.T) {
	c := newReplyCache(1<<10, 1<<20)
	for i := uint64(1); i <= 5; i++ {
		for _, client := range []string{"a", "b"} {
			e, _ := c.begin(&goferpb.Origin{ClientId: client, Seq: i})
			c.finish(e, &goferpb.UnlinkReply{}, nil)
		}
	}
	running, _ := c.begin(&goferpb.Origin{ClientId: "a", Seq: 6})
	if n := c.forgetClient("a"); n != 5 {
		t.Errorf("forgot %d entries, want 5", n)
	}
	if _, owner := c.begin(&goferpb.Origin{ClientId: "a", Seq: 1}); !owner {
		t.Errorf("a forgotten entry answered")
	}
	if e, owner := c.begin(&goferpb.Origin{ClientId: "a", Seq: 6}); owner || e != running {
		t.Errorf("the running entry was dropped")
	}
	if _, owner := c.begin(&goferpb.Origin{ClientId: "b", Seq: 1}); owner {
		t.Errorf("another client's entry was dropped")
	}
	c.finish(running, &goferpb.UnlinkReply{}, nil)
	c.forgetClient("a", "b")
	// The two entries begun above without finish are still running.
	if n, _ := c.len(); n != 1 {
		t.Errorf("%d entries left, want 1 (a's seq 1, still running)", n)
	}
}

// TestReopenWithoutCapabilityFallsBack checks that a known file is reopened
// from the handle table, needing no privilege.
func TestReopenFromHandleTable(t *testing.T) {
	e := newEnv(t)
	r := must(t, "create", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_RDWR, Mode: 0o644})))
	if len(r.Handle.FileHandle) == 0 {
		t.Skip("no file handles")
	}
	raw, err := e.srv.keys.open(r.Handle.FileHandle)
	if err != nil {
		t.Fatal(err)
	}
	fd, o, ok := e.srv.dupKnown(raw)
	if !ok || o != nil {
		t.Fatalf("live handle not found by its file handle (found %v, orphan %v)", ok, o)
	}
	unix.Close(fd)
	if _, _, ok := e.srv.dupKnown(append([]byte{9}, r.Handle.FileHandle[1:]...)); ok {
		t.Fatal("another file handle matched")
	}
}

func FuzzReopen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add(append([]byte{1, 0, 0, 0}, make([]byte, 128)...))
	base := f.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d", "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(base, "outside"), []byte("secret"), 0o644)
	if fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(root, "d", "f"), 0); err == nil {
		f.Add(encodeFileHandle(fh.Type(), fh.Bytes()))
	}
	if fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(base, "outside"), 0); err == nil {
		f.Add(encodeFileHandle(fh.Type(), fh.Bytes()))
	}
	s, err := NewServer(root, testLogger())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, fh []byte) {
		r, err := s.Reopen(context.Background(), &goferpb.ReopenRequest{FileHandle: fh})
		if err != nil {
			t.Fatalf("gRPC error %v", err)
		}
		if r.GetErrno() != 0 {
			if r.Handle != nil {
				t.Fatal("error with a handle")
			}
			return
		}
		checkHandleConfined(t, s, root, r.Handle.Id)
		if h, err := s.lookup(r.Handle.Id); err == nil {
			p, _ := os.Readlink(h.procPath())
			h.decRef()
			if strings.Contains(p, "outside") {
				t.Fatalf("reopened %q", p)
			}
		}
		s.Release(context.Background(), &goferpb.ReleaseRequest{Handles: []uint64{r.Handle.Id}})
	})
}

// TestSillyNameAdoptedAfterRestart: a gofer restarted after silly-renaming
// an open file serves it to a sentry that reopens it, and removes the
// silly name when that sentry releases it.
func TestSillyNameAdoptedAfterRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_by_handle_at needs CAP_DAC_READ_SEARCH")
	}
	e := newEnv(t)
	r := must(t, "create", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("u"), Flags: unix.O_RDWR, Mode: 0o644})))
	e.write(r.Handle.Id, 0, "kept", 0)
	e.unlinkOpen(e.rootH, "u")
	e.srv.Close()
	if n := sillyNames(t, e.root); len(n) != 1 {
		t.Fatalf("silly names after the gofer died: %v", n)
	}
	srv := restartGofer(t, e.root)
	rr, _ := srv.Reopen(e.ctx, &goferpb.ReopenRequest{FileHandle: r.Handle.FileHandle})
	if rr.GetErrno() != 0 {
		t.Fatalf("Reopen: errno %v", unix.Errno(rr.GetErrno()))
	}
	if _, err := srv.Open(e.ctx, &goferpb.OpenRequest{Handle: rr.Handle.Id, Flags: unix.O_RDWR}); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.Read(e.ctx, &goferpb.ReadRequest{Handle: rr.Handle.Id, Length: 10}); string(got.GetData()) != "kept" {
		t.Fatalf("read %q", got.GetData())
	}
	srv.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{rr.Handle.Id}})
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names after the release: %v", n)
	}
}

// TestReopenKnownDoesNotLeak: reopening a file several handles hold takes
// and drops one reference; after every handle is released the fds are
// closed.
func TestReopenKnownDoesNotLeak(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("f"), "f")
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	var ids []uint64
	var fh []byte
	for range 3 {
		r := must(t, "walk", must2(e.walk(e.rootH, "f")))
		ids = append(ids, r.GetFiles()[0].GetHandle().GetId())
		fh = r.GetFiles()[0].GetHandle().GetFileHandle()
	}
	if len(fh) == 0 {
		t.Skip("no file handles")
	}
	for range 3 {
		rr := e.reopen(fh)
		if rr.GetErrno() != 0 {
			t.Fatalf("reopen: errno %v", unix.Errno(rr.GetErrno()))
		}
		ids = append(ids, rr.GetHandle().GetId())
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: ids}); err != nil {
		t.Fatal(err)
	}
	if got := fds(); got != before {
		t.Fatalf("%d fds open after releasing every handle, %d before", got, before)
	}
}

// TestForgetClient: after ForgetClient a re-sent mutation of that client
// runs again (EEXIST) instead of being answered from the reply cache;
// another client's cached reply still answers.
func TestForgetClient(t *testing.T) {
	e := newEnv(t)
	mkdir := func(client, name string) unix.Errno {
		r, err := e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte(name), Mode: 0o755, Origin: &goferpb.Origin{ClientId: client, Seq: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return unix.Errno(r.Errno)
	}
	for _, c := range []string{"a", "b"} {
		if errno := mkdir(c, c); errno != 0 {
			t.Fatalf("mkdir %s: %v", c, errno)
		}
	}
	if _, err := e.c.ForgetClient(e.ctx, &goferpb.ForgetClientRequest{ClientId: "a"}); err != nil {
		t.Fatal(err)
	}
	if errno := mkdir("a", "a"); errno != unix.EEXIST {
		t.Errorf("forgotten client's re-sent mkdir: %v, want EEXIST", errno)
	}
	if errno := mkdir("b", "b"); errno != 0 {
		t.Errorf("other client's re-sent mkdir: %v, want the cached success", errno)
	}
}
