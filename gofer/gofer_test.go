package gofer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// testLogger logs at Debug (so the logging code runs) into the void.
func testLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: io.Discard})
}

// env is a gofer served over a Unix socket, with its root in base/root and
// an empty sibling directory base/outside that nothing may ever touch.
type env struct {
	t       testing.TB
	ctx     context.Context
	base    string
	root    string
	outside string
	srv     *Server
	c       goferpb.GoferClient
	conn    *grpc.ClientConn
	rootH   uint64
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{
		t:       t,
		ctx:     context.Background(),
		base:    base,
		root:    filepath.Join(base, "root"),
		outside: filepath.Join(base, "outside"),
	}
	for _, d := range []string{e.root, e.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewServer(e.root, testLogger(), opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	e.srv = srv
	sock := filepath.Join(base, "gofer.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go g.Serve(lis)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		e.checkOutsideUntouched()
	})
	e.c, e.conn = goferpb.NewGoferClient(conn), conn
	r, err := e.c.Attach(e.ctx, &goferpb.AttachRequest{})
	if err != nil || r.GetErrno() != 0 {
		t.Fatalf("Attach: %v errno %d", err, r.GetErrno())
	}
	if r.GetStat().GetMode()&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("Attach: root mode %#o", r.GetStat().GetMode())
	}
	e.rootH = r.GetRoot().GetId()
	return e
}

// checkOutsideUntouched fails if anything appeared next to the root or in
// the outside directory.
func (e *env) checkOutsideUntouched() {
	e.t.Helper()
	if ents, _ := os.ReadDir(e.outside); len(ents) != 0 {
		e.t.Errorf("outside directory has entries: %v", ents)
	}
	ents, _ := os.ReadDir(e.base)
	for _, d := range ents {
		switch d.Name() {
		case "root", "outside", "gofer.sock":
		default:
			e.t.Errorf("unexpected entry %q next to the root", d.Name())
		}
	}
}

func (e *env) host(rel string) string { return filepath.Join(e.root, rel) }

// result is a reply and its gRPC error, so that a call can be passed
// straight to must or wantErrno: must(t, "what", must2(c.Call(...))).
type result[R any] struct {
	r   R
	err error
}

func must2[R any](r R, err error) result[R] { return result[R]{r, err} }

// must fails the test on a gRPC error or a non-zero errno.
func must[R interface{ GetErrno() int32 }](t testing.TB, what string, res result[R]) R {
	t.Helper()
	r, err := res.r, res.err
	if err != nil {
		t.Fatalf("%s: gRPC error %v", what, err)
	}
	if r.GetErrno() != 0 {
		t.Fatalf("%s: errno %v", what, unix.Errno(r.GetErrno()))
	}
	return r
}

// wantErrno fails the test unless the call failed with errno want.
func wantErrno[R interface{ GetErrno() int32 }](t testing.TB, what string, res result[R], want unix.Errno) {
	t.Helper()
	r, err := res.r, res.err
	if err != nil {
		t.Fatalf("%s: gRPC error %v (want errno %v)", what, err, want)
	}
	if got := unix.Errno(r.GetErrno()); got != want {
		t.Fatalf("%s: errno %v, want %v", what, got, want)
	}
}

func (e *env) walk(dir uint64, names ...string) (*goferpb.WalkReply, error) {
	return e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: dir, Names: byteNames(names)})
}

// walkOne walks to a single file that must exist and returns its handle.
func (e *env) walkOne(dir uint64, names ...string) uint64 {
	e.t.Helper()
	r := must(e.t, fmt.Sprintf("walk %q", names), must2(e.walk(dir, names...)))
	if len(r.GetFiles()) != len(names) {
		e.t.Fatalf("walk %q: walked %d files", names, len(r.GetFiles()))
	}
	return r.GetFiles()[len(names)-1].GetHandle().GetId()
}

func (e *env) create(dir uint64, name string, flags, mode uint32) uint64 {
	e.t.Helper()
	r := must(e.t, "create "+name, must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: dir, Name: []byte(name), Flags: flags, Mode: mode})))
	return r.GetHandle().GetId()
}

func (e *env) write(h, off uint64, data string, seq uint64) *goferpb.WriteReply {
	e.t.Helper()
	r := must(e.t, "write", must2(e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: h, Offset: off, Data: []byte(data), Seq: seq})))
	if int(r.GetWritten()) != len(data) {
		e.t.Fatalf("write: wrote %d of %d", r.GetWritten(), len(data))
	}
	return r
}

func (e *env) read(h, off uint64, n uint32) string {
	e.t.Helper()
	r := must(e.t, "read", must2(e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: h, Offset: off, Length: n})))
	return string(r.GetData())
}

func (e *env) open(h uint64, flags uint32) {
	e.t.Helper()
	must(e.t, "open", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h, Flags: flags})))
}

func (e *env) stat(h uint64) *goferpb.Stat {
	e.t.Helper()
	return must(e.t, "stat", must2(e.c.Stat(e.ctx, &goferpb.StatRequest{Handle: h}))).GetStat()
}

func writeHostFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(e.host("a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeHostFile(t, e.host("a/b/file"), "x")
	writeHostFile(t, e.host("file"), "x")
	writeHostFile(t, filepath.Join(e.base, "secret"), "outside the root")
	defer os.Remove(filepath.Join(e.base, "secret"))
	for link, target := range map[string]string{
		"a/toroot": "/",
		"esc":      "../../etc",
		"up":       "..",
		"sibling":  "../secret",
		"abs":      filepath.Join(e.base, "secret"),
	} {
		if err := os.Symlink(target, e.host(link)); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name      string
		dir       uint64 // 0: the root handle
		names     []string
		wantFiles int
		wantErrno unix.Errno
		wantLast  uint32 // file type of the last walked file, if any
	}{
		{name: "nested", names: []string{"a", "b", "file"}, wantFiles: 3, wantLast: unix.S_IFREG},
		{name: "empty", names: nil},
		{name: "missing", names: []string{"a", "missing"}, wantFiles: 1, wantErrno: unix.ENOENT, wantLast: unix.S_IFDIR},
		{name: "through file", names: []string{"file", "x"}, wantFiles: 1, wantErrno: unix.ENOTDIR, wantLast: unix.S_IFREG},
		{name: "dotdot", names: []string{".."}, wantErrno: unix.EINVAL},
		{name: "dotdot after dir", names: []string{"a", ".."}, wantFiles: 1, wantErrno: unix.EINVAL, wantLast: unix.S_IFDIR},
		{name: "dot", names: []string{"."}, wantErrno: unix.EINVAL},
		{name: "empty name", names: []string{""}, wantErrno: unix.EINVAL},
		{name: "slash", names: []string{"a/b"}, wantErrno: unix.EINVAL},
		{name: "leading slash", names: []string{"/etc"}, wantErrno: unix.EINVAL},
		{name: "dotdot slash", names: []string{"../outside"}, wantErrno: unix.EINVAL},
		{name: "nul", names: []string{"a\x00"}, wantErrno: unix.EINVAL},
		{name: "too long", names: []string{strings.Repeat("n", 256)}, wantErrno: unix.ENAMETOOLONG},
		{name: "symlink to / as non-final", names: []string{"a", "toroot", "etc", "passwd"}, wantFiles: 2, wantLast: unix.S_IFLNK},
		{name: "symlink ../../etc as non-final", names: []string{"esc", "passwd"}, wantFiles: 1, wantLast: unix.S_IFLNK},
		{name: "symlink .. as non-final", names: []string{"up", "outside"}, wantFiles: 1, wantLast: unix.S_IFLNK},
		{name: "symlink to sibling file final", names: []string{"sibling"}, wantFiles: 1, wantLast: unix.S_IFLNK},
		{name: "absolute symlink final", names: []string{"abs"}, wantFiles: 1, wantLast: unix.S_IFLNK},
		{name: "bad dir handle", dir: 1 << 40, names: []string{"a"}, wantErrno: unix.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == 0 {
				dir = e.rootH
			}
			r, err := e.walk(dir, tc.names...)
			if err != nil {
				t.Fatalf("gRPC error: %v", err)
			}
			if got := unix.Errno(r.GetErrno()); got != tc.wantErrno {
				t.Errorf("errno %v, want %v", got, tc.wantErrno)
			}
			if len(r.GetFiles()) != tc.wantFiles {
				t.Fatalf("walked %d files, want %d", len(r.GetFiles()), tc.wantFiles)
			}
			if tc.wantFiles > 0 {
				last := r.GetFiles()[tc.wantFiles-1]
				if got := last.GetStat().GetMode() & unix.S_IFMT; got != tc.wantLast {
					t.Errorf("last file type %#o, want %#o", got, tc.wantLast)
				}
			}
			// Every handle must name a file inside the root.
			for _, f := range r.GetFiles() {
				e.checkConfined(f.GetHandle().GetId())
			}
		})
	}

	// A walked symlink is returned, never followed: its Readlink is the
	// target, and opening it fails.
	h := e.walkOne(e.rootH, "esc")
	if got := must(t, "readlink", must2(e.c.Readlink(e.ctx, &goferpb.ReadlinkRequest{Handle: h}))).GetTarget(); string(got) != "../../etc" {
		t.Errorf("readlink: %q", got)
	}
	wantErrno(t, "open symlink", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h})), unix.ELOOP)
	// Walking from a symlink handle is not a directory walk.
	r, err := e.walk(h, "passwd")
	wantErrno(t, "walk from symlink", must2(r, err), unix.ENOTDIR)
}

// checkConfined checks that handle id's fd names a file under the root.
func (e *env) checkConfined(id uint64) {
	e.t.Helper()
	h, err := e.srv.lookup(id)
	if err != nil {
		e.t.Fatalf("handle %d: %v", id, err)
	}
	defer h.decRef()
	p, err := os.Readlink(h.procPath())
	if err != nil {
		e.t.Fatalf("handle %d: %v", id, err)
	}
	p = strings.TrimSuffix(p, " (deleted)")
	if p != e.root && !strings.HasPrefix(p, e.root+"/") {
		e.t.Errorf("handle %d names %q, outside the root %q", id, p, e.root)
	}
}

func TestCreateWriteRead(t *testing.T) {
	e := newEnv(t)
	old := unix.Umask(0o077) // The gofer's umask must not matter.
	defer unix.Umask(old)

	h := e.create(e.rootH, "f", unix.O_RDWR, 0o664)
	if got := e.stat(h).GetMode(); got != unix.S_IFREG|0o664 {
		t.Errorf("mode %#o, want %#o", got, unix.S_IFREG|0o664)
	}
	e.write(h, 0, "hello", 0)
	st := e.write(h, 10, "world", 0).GetStat()
	if st.GetSize() != 15 {
		t.Errorf("size after write %d, want 15", st.GetSize())
	}
	for _, tc := range []struct {
		off  uint64
		n    uint32
		want string
	}{
		{0, 5, "hello"},
		{0, 100, "hello\x00\x00\x00\x00\x00world"},
		{10, 5, "world"},
		{15, 5, ""},
		{1 << 40, 5, ""},
	} {
		if got := e.read(h, tc.off, tc.n); got != tc.want {
			t.Errorf("read(%d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
	if b, err := os.ReadFile(e.host("f")); err != nil || string(b) != "hello\x00\x00\x00\x00\x00world" {
		t.Errorf("host file %q, %v", b, err)
	}

	// Create is exclusive.
	wantErrno(t, "create existing", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Mode: 0o644})), unix.EEXIST)

	// Access modes are enforced per handle.
	ro := e.create(e.rootH, "ro", unix.O_RDONLY, 0o644)
	wantErrno(t, "write read-only", must2(e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: ro, Data: []byte("x")})), unix.EBADF)
	wo := e.create(e.rootH, "wo", unix.O_WRONLY, 0o644)
	wantErrno(t, "read write-only", must2(e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: wo, Length: 1})), unix.EBADF)
	// Upgrading the write-only handle to read-write keeps it writable.
	e.open(wo, unix.O_RDONLY)
	e.write(wo, 0, "abc", 0)
	if got := e.read(wo, 0, 3); got != "abc" {
		t.Errorf("read after upgrade: %q", got)
	}

	// A walked handle is not open until Open.
	w := e.walkOne(e.rootH, "f")
	wantErrno(t, "read unopened", must2(e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: w, Length: 1})), unix.EBADF)
	e.open(w, unix.O_RDONLY)
	if got := e.read(w, 0, 5); got != "hello" {
		t.Errorf("read via walked handle: %q", got)
	}
	// O_TRUNC truncates.
	e.open(w, unix.O_WRONLY|unix.O_TRUNC)
	if got := e.stat(h).GetSize(); got != 0 {
		t.Errorf("size after O_TRUNC %d", got)
	}
	wantErrno(t, "bad access mode", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: w, Flags: unix.O_ACCMODE})), unix.EINVAL)

	// Reads are capped, and the largest reply fits in gRPC's default limit.
	big := e.create(e.rootH, "big", unix.O_RDWR, 0o644)
	if err := unix.Ftruncate(mustFD(t, e.srv, big), 6<<20); err != nil {
		t.Fatal(err)
	}
	if got := len(e.read(big, 0, 8<<20)); got != MaxReadLength {
		t.Errorf("read of 8 MiB returned %d bytes, want %d", got, MaxReadLength)
	}

	// Directories open read-only only.
	d := must(t, "mkdir", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o755}))).GetHandle().GetId()
	wantErrno(t, "open dir for writing", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: d, Flags: unix.O_RDWR})), unix.EISDIR)
	e.open(d, unix.O_RDONLY)
	wantErrno(t, "read dir", must2(e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: d, Length: 1})), unix.EISDIR)
	wantErrno(t, "create in file", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: h, Name: []byte("x"), Mode: 0o644})), unix.ENOTDIR)
	wantErrno(t, "create dir type", must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("x"), Mode: unix.S_IFDIR | 0o644})), unix.EINVAL)
}

// mustFD returns the write fd of handle id, for tests that poke at it.
func mustFD(t testing.TB, s *Server, id uint64) int {
	t.Helper()
	h, err := s.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.decRef()
	return h.wfd
}

func TestGetdentsContinuation(t *testing.T) {
	e := newEnv(t)
	const n = 300
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("file-%03d", i)
		writeHostFile(t, e.host(name), "")
		want[name] = true
	}
	if err := os.Mkdir(e.host("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	want["sub"] = true

	for _, tc := range []struct {
		name   string
		count  uint32
		mutate bool // create and remove entries between calls
	}{
		{name: "count 1", count: 1},
		{name: "count 7", count: 7},
		{name: "count 128 with concurrent changes", count: 128, mutate: true},
		{name: "count larger than dir", count: 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh handle of the root, so each listing starts without
			// a snapshot.
			a := must(t, "attach", must2(e.c.Attach(e.ctx, &goferpb.AttachRequest{}))).GetRoot().GetId()
			seen := map[string]bool{}
			var off uint64
			for calls := 0; ; calls++ {
				if calls > 2*n+10 {
					t.Fatal("listing does not terminate")
				}
				gr := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: a, Offset: off, Count: tc.count})))
				if len(gr.GetEntries()) > int(tc.count) {
					t.Fatalf("got %d entries for count %d", len(gr.GetEntries()), tc.count)
				}
				if len(gr.GetEntries()) == 0 {
					break
				}
				for _, d := range gr.GetEntries() {
					if string(d.GetName()) == "." || string(d.GetName()) == ".." {
						t.Errorf("got %q", d.GetName())
					}
					if seen[string(d.GetName())] {
						t.Errorf("entry %q repeated", d.GetName())
					}
					seen[string(d.GetName())] = true
					if d.GetOffset() == 0 {
						t.Errorf("entry %q has cookie 0 (the start)", d.GetName())
					}
					off = d.GetOffset()
					wantType := uint32(unix.DT_REG)
					if string(d.GetName()) == "sub" {
						wantType = unix.DT_DIR
					}
					if want[string(d.GetName())] && d.GetType() != wantType {
						t.Errorf("entry %q type %d, want %d", d.GetName(), d.GetType(), wantType)
					}
				}
				if tc.mutate {
					name := fmt.Sprintf("new-%d", calls)
					writeHostFile(t, e.host(name), "")
					defer os.Remove(e.host(name))
					os.Remove(e.host(fmt.Sprintf("new-%d", calls-1)))
				}
			}
			for name := range want {
				if !seen[name] {
					t.Errorf("entry %q missing", name)
				}
			}
			if !tc.mutate && len(seen) != len(want) {
				t.Errorf("listed %d entries, want %d", len(seen), len(want))
			}
		})
	}
	wantErrno(t, "getdents of a file", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.walkOne(e.rootH, "file-000"), Count: 1})), unix.ENOTDIR)
	wantErrno(t, "getdents count 0", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH})), unix.EINVAL)
}

// TestGetdentsCookiesSurviveRemovals is rm -r across a restart: a
// listing of 1,500 entries, cut after its first part, whose entries are
// then removed, continues from its last cookie on a handle with no
// snapshot (a restarted gofer's, or one re-resolved) with exactly the
// entries not yet listed; and on its own handle from its snapshot, also
// when it seeks back to an earlier entry.
func TestGetdentsCookiesSurviveRemovals(t *testing.T) {
	const n, first = 1500, 1363
	for _, tc := range []struct {
		name string
		// fresh continues on a new handle of the directory.
		fresh bool
		// overlay makes o an overlayfs merge of a lower directory with
		// the even names and an upper one given the odd names through
		// the mount (do's overlay): overlayfs numbers such a
		// directory's entries by index in a list a removal shifts.
		overlay bool
	}{
		{name: "new handle", fresh: true},
		{name: "same handle"},
		{name: "overlay new handle", fresh: true, overlay: true},
		{name: "overlay same handle", overlay: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, d := range []string{"o", "lower", "upper", "work"} {
				if err := os.Mkdir(e.host(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.overlay {
				for i := 0; i < n; i += 2 {
					writeHostFile(t, e.host(fmt.Sprintf("lower/%d", i)), "")
				}
				opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", e.host("lower"), e.host("upper"), e.host("work"))
				if err := unix.Mount("overlay", e.host("o"), "overlay", 0, opts); err != nil {
					t.Skipf("cannot mount an overlayfs (needs CAP_SYS_ADMIN): %v", err)
				}
				t.Cleanup(func() { unix.Unmount(e.host("o"), unix.MNT_DETACH) })
			}
			for i := range n {
				if !tc.overlay || i%2 == 1 {
					writeHostFile(t, e.host(fmt.Sprintf("o/%d", i)), "")
				}
			}
			list := func(h, off uint64, max int) []*goferpb.Dirent {
				var out []*goferpb.Dirent
				for len(out) < max {
					gr := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: h, Offset: off, Count: uint32(min(256, max-len(out)))})))
					out = append(out, gr.GetEntries()...)
					if len(gr.GetEntries()) == 0 || gr.GetEof() {
						break
					}
					off = gr.GetEntries()[len(gr.GetEntries())-1].GetOffset()
				}
				return out
			}
			h := e.walkOne(e.rootH, "o")
			head := list(h, 0, first)
			if len(head) != first {
				t.Fatalf("first part: %d entries, want %d", len(head), first)
			}
			seen := map[string]bool{}
			for _, d := range head {
				seen[string(d.GetName())] = true
				if err := os.Remove(e.host("o/" + string(d.GetName()))); err != nil {
					t.Fatal(err)
				}
			}
			at := h
			if tc.fresh {
				at = e.walkOne(e.rootH, "o")
			}
			rest := list(at, head[len(head)-1].GetOffset(), 2*n)
			for _, d := range rest {
				if seen[string(d.GetName())] {
					t.Errorf("entry %q listed twice", d.GetName())
				}
				seen[string(d.GetName())] = true
			}
			if len(rest) != n-first || len(seen) != n {
				t.Errorf("continued with %d entries (%d in all), want %d (%d)", len(rest), len(seen), n-first, n)
			}
			// A seekdir back to the tenth entry of the rest: the same
			// entries after it again.
			if len(rest) > 10 {
				again := list(at, rest[9].GetOffset(), 2*n)
				if len(again) != len(rest)-10 || (len(again) > 0 && !bytes.Equal(again[0].GetName(), rest[10].GetName())) {
					t.Errorf("after a seek back: %d entries from %q, want %d from %q", len(again), nameOf(again), len(rest)-10, rest[10].GetName())
				}
			}
		})
	}
}

func nameOf(ents []*goferpb.Dirent) string {
	if len(ents) == 0 {
		return ""
	}
	return string(ents[0].GetName())
}

// TestCreateDirStat: a creation's reply carries the directory's
// attributes after it (their new mtime), unless the sentry said it does
// not need them (no_dir_stat: the gofer then makes no statx of it).
func TestCreateDirStat(t *testing.T) {
	e := newEnv(t)
	for i, tc := range []struct {
		noDirStat bool
	}{{false}, {true}} {
		name := fmt.Sprintf("f%d", i)
		r := must(t, "create "+name, must2(e.c.Create(e.ctx, &goferpb.CreateRequest{Dir: e.rootH, Name: []byte(name), Flags: unix.O_WRONLY, Mode: 0o644, NoDirStat: tc.noDirStat})))
		var host unix.Stat_t
		if err := unix.Stat(e.root, &host); err != nil {
			t.Fatal(err)
		}
		switch ds := r.GetDirStat(); {
		case tc.noDirStat && ds != nil:
			t.Errorf("no_dir_stat: the reply carries the directory's attributes %v", ds)
		case !tc.noDirStat && (ds == nil || ds.GetIno() != host.Ino || ds.GetMtimeNs() != host.Mtim.Nano()):
			t.Errorf("directory attributes %v, want inode %d mtime %d", ds, host.Ino, host.Mtim.Nano())
		}
	}
}

// byteNames returns names as the protocol's bytes fields hold them.
func byteNames(names []string) [][]byte {
	b := make([][]byte, len(names))
	for i, n := range names {
		b[i] = []byte(n)
	}
	return b
}
