package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// framedGoferConn returns a GoferConn to an in-process gofer of root as
// the daemon reaches its own: over the framed wire, the gofer donating
// fds (its default), closed at the test's end.
func framedGoferConn(tb testing.TB, root string) *goferclient.GoferConn {
	tb.Helper()
	p := startGoferProc(tb, root)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := goferclient.NewGoferConn(p.Dial(tb), testLog(), goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	tb.Cleanup(gc.Close)
	return gc
}

// startedOverGoferConn starts a server whose files are gc's (a
// GoferConn to a gofer of root), connects a client to it and starts busy
// box sh as PID 1; it returns the env and the server's socket.
func startedOverGoferConn(t testing.TB, root string, gc *goferclient.GoferConn) (*env, string) {
	t.Helper()
	return startedOverGoferConnHello(t, root, gc, &sentrypb.Hello{ClientId: t.Name()})
}

// startedOverGoferConnHello is startedOverGoferConn whose client says
// hello.
func startedOverGoferConnHello(t testing.TB, root string, gc *goferclient.GoferConn, hello *sentrypb.Hello) (*env, string) {
	t.Helper()
	return startedOverGoferConnCfg(t, root, gc, hello, Config{})
}

// startedOverGoferConnCfg is startedOverGoferConnHello with the server's
// Config cfg (its Gofer set here, its Log if it has none).
func startedOverGoferConnCfg(t testing.TB, root string, gc *goferclient.GoferConn, hello *sentrypb.Hello, cfg Config, dial ...func(*transport.Options)) (*env, string) {
	t.Helper()
	cfg.Gofer = gc.Client()
	if cfg.Log == nil {
		cfg.Log = testLog()
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock, g := serveSentry(t, srv)
	e := &env{t: t, root: root, srv: srv, mem: newAppMem(), pushCh: make(chan *sentrypb.Push, 1024), sock: sock}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := transport.Options{Hello: hello, OnPush: e.onPush, HeartbeatInterval: time.Second}
	for _, d := range dial {
		d(&opts)
	}
	conn, err := transport.Dial(ctx, "unix:"+sock, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		srv.Close()
	})
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	return e, sock
}

// restartableEnv is a started env (busybox sh as PID 1) whose server
// reaches a restartable gofer through a goferclient.GoferConn.
func restartableEnv(t *testing.T) (*env, *goferProc, *goferclient.GoferConn) {
	t.Helper()
	root := newRoot(t)
	p := startGoferProc(t, root)
	gc := goferclient.NewGoferConn(p.Dial(t), testLog())
	t.Cleanup(gc.Close)
	e, _ := startedOverGoferConn(t, root, gc)
	return e, p, gc
}

func (e *env) open(path string, flags uint64) uint64 {
	e.t.Helper()
	return uint64(e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str(path), flags, 0644))
}

func (e *env) writeStr(fd uint64, s string) {
	e.t.Helper()
	if n := e.ok(1, unix.SYS_WRITE, fd, e.mem.alloc([]byte(s)), uint64(len(s))); n != int64(len(s)) {
		e.t.Fatalf("write %q: %d", s, n)
	}
}

func (e *env) preadStr(fd uint64, n int, off int64) string {
	e.t.Helper()
	buf := e.mem.zeros(n)
	got := e.ok(1, unix.SYS_PREAD64, fd, buf, uint64(n), uint64(off))
	return string(e.mem.bytes(buf, int(got)))
}

func (e *env) hostFile(p string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// TestGoferRestart: what a server holds across a gofer kill and restart
// keeps working.
func TestGoferRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	tests := []struct {
		name string
		// before runs before the restart and returns state for after.
		before func(e *env) uint64
		after  func(e *env, fd uint64)
	}{
		{
			name: "write continues at the offset",
			before: func(e *env) uint64 {
				fd := e.open("/tmp/f", unix.O_CREAT|unix.O_RDWR)
				e.writeStr(fd, "hello ")
				return fd
			},
			after: func(e *env, fd uint64) {
				e.writeStr(fd, "world")
				if got := e.preadStr(fd, 64, 0); got != "hello world" {
					e.t.Errorf("read back %q", got)
				}
				if got := e.hostFile("tmp/f"); got != "hello world" {
					e.t.Errorf("host file %q", got)
				}
				e.ok(1, unix.SYS_FSYNC, fd)
			},
		},
		{
			name: "read-only and write-only descriptions",
			before: func(e *env) uint64 {
				os.WriteFile(filepath.Join(e.root, "tmp/ro"), []byte("0123456789"), 0644)
				r := e.open("/tmp/ro", unix.O_RDONLY)
				w := e.open("/tmp/ro", unix.O_WRONLY|unix.O_APPEND)
				return r<<32 | w
			},
			after: func(e *env, fds uint64) {
				r, w := fds>>32, fds&0xffffffff
				e.writeStr(w, "ab")
				if got := e.preadStr(r, 64, 8); got != "89ab" {
					e.t.Errorf("read %q", got)
				}
				e.fails(unix.EBADF, 1, unix.SYS_WRITE, r, e.mem.alloc([]byte("x")), 1)
			},
		},
		{
			name: "walk new paths, mkdir, create",
			before: func(e *env) uint64 {
				e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), e.mem.str("/tmp/d"), 0755)
				return 0
			},
			after: func(e *env, _ uint64) {
				e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), e.mem.str("/tmp/d/e"), 0755)
				fd := e.open("/tmp/d/e/new", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY)
				e.writeStr(fd, "new file")
				if got := e.hostFile("tmp/d/e/new"); got != "new file" {
					e.t.Errorf("host file %q", got)
				}
				sx := e.mem.zeros(256)
				e.ok(1, unix.SYS_STATX, uint64(atFDCWD64), e.mem.str("/bin/busybox"), 0, 0x7ff, sx)
				e.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e.mem.str("/tmp/d/e/new"), uint64(atFDCWD64), e.mem.str("/tmp/d/moved"))
				e.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e.mem.str("/tmp/d/moved"), 0)
			},
		},
		{
			name: "cwd",
			before: func(e *env) uint64 {
				e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), e.mem.str("/tmp/work"), 0755)
				e.ok(1, unix.SYS_CHDIR, e.mem.str("/tmp/work"))
				return 0
			},
			after: func(e *env, _ uint64) {
				fd := e.open("rel.txt", unix.O_CREAT|unix.O_WRONLY)
				e.writeStr(fd, "relative")
				if got := e.hostFile("tmp/work/rel.txt"); got != "relative" {
					e.t.Errorf("host file %q", got)
				}
				buf := e.mem.zeros(256)
				n := e.ok(1, unix.SYS_GETCWD, buf, 256)
				if got := string(e.mem.bytes(buf, int(n)-1)); got != "/tmp/work" {
					e.t.Errorf("getcwd %q", got)
				}
			},
		},
		{
			name: "directory listing",
			before: func(e *env) uint64 {
				return e.open("/bin", unix.O_RDONLY|unix.O_DIRECTORY)
			},
			after: func(e *env, fd uint64) {
				buf := e.mem.zeros(4096)
				n := e.ok(1, unix.SYS_GETDENTS64, fd, buf, 4096)
				if !bytes.Contains(e.mem.bytes(buf, int(n)), []byte("busybox")) {
					e.t.Errorf("getdents64 of /bin lacks busybox")
				}
			},
		},
		{
			// rm -r: the names listed before the restart are removed;
			// the listing continues with exactly the others.
			name: "listing removing what it listed",
			before: func(e *env) uint64 {
				if err := os.Mkdir(filepath.Join(e.root, "tmp/o"), 0o755); err != nil {
					e.t.Fatal(err)
				}
				for i := range 300 {
					os.WriteFile(filepath.Join(e.root, "tmp/o", fmt.Sprint(i)), nil, 0o644)
				}
				fd := e.open("/tmp/o", unix.O_RDONLY|unix.O_DIRECTORY)
				first := e.mem.zeros(4096) // "." and ".." and about 170 names
				n := e.ok(1, unix.SYS_GETDENTS64, fd, first, 4096)
				for _, r := range direntRecords(e.mem.bytes(first, int(n))) {
					if r.name != "." && r.name != ".." {
						e.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e.mem.str("/tmp/o/"+r.name), 0)
					}
				}
				return fd
			},
			after: func(e *env, fd uint64) {
				var rest []string
				for _, r := range getdentsRecords(e, fd) {
					rest = append(rest, r.name)
				}
				left, _ := os.ReadDir(filepath.Join(e.root, "tmp/o"))
				if len(rest) != len(left) || len(left) == 0 {
					e.t.Errorf("after the restart the listing gave %d names, %d are left: %q", len(rest), len(left), rest)
				}
			},
		},
		{
			// The gofer silly-renamed the file, so a restarted gofer
			// still reaches it.
			name: "unlinked while open survives",
			before: func(e *env) uint64 {
				fd := e.open("/tmp/gone", unix.O_CREAT|unix.O_RDWR)
				e.writeStr(fd, "x")
				e.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e.mem.str("/tmp/gone"), 0)
				return fd
			},
			after: func(e *env, fd uint64) {
				e.writeStr(fd, "y")
				e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
				buf := e.mem.zeros(8)
				if n := e.ok(1, unix.SYS_READ, fd, buf, 8); n != 2 || string(e.mem.bytes(buf, 2)) != "xy" {
					e.t.Fatalf("read the unlinked file after the gofer restart: %d %q", n, e.mem.bytes(buf, 2))
				}
				e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), e.mem.str("/tmp/gone"), e.mem.zeros(144), 0)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, p, _ := restartableEnv(t)
			st := tc.before(e)
			p.Restart()
			tc.after(e, st)
		})
	}
}

// TestUnlinkFirstAfterGoferRestart: an unlink that is the first call to
// reach a restarted gofer waits until the open files' handles are
// re-resolved there, so the gofer knows the file is open and keeps it
// (silly rename) for the next restart.
func TestUnlinkFirstAfterGoferRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e, p, _ := restartableEnv(t)
			fds := make([]uint64, 8)
			for j := range fds {
				fds[j] = e.open(fmt.Sprintf("/tmp/held%d", j), unix.O_CREAT|unix.O_RDWR)
				e.writeStr(fds[j], "x")
			}
			p.Restart()
			for j := range fds {
				e.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e.mem.str(fmt.Sprintf("/tmp/held%d", j)), 0)
			}
			p.Restart()
			for j, fd := range fds {
				e.writeStr(fd, "y")
				e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
				buf := e.mem.zeros(8)
				if n := e.ok(1, unix.SYS_READ, fd, buf, 8); n != 2 || string(e.mem.bytes(buf, 2)) != "xy" {
					t.Fatalf("held%d after two gofer restarts reads %d %q", j, n, e.mem.bytes(buf, 2))
				}
			}
		})
	}
}

// TestGoferRestartStaleIDs: a handle id of a dead gofer never names
// another file of its successor, even when the successor hands out its
// handles in the same order.
func TestGoferRestartStaleIDs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	root := t.TempDir()
	for _, f := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(strings.Repeat(f, 4)), 0644); err != nil {
			t.Fatal(err)
		}
	}
	p := startGoferProc(t, root)
	ctx := context.Background()
	gc := goferclient.NewGoferConn(p.Dial(t), testLog())
	defer gc.Close()
	c := goferpb.NewGoferClient(gc)
	// The same sequence of calls on each gofer: in the old scheme (ids
	// counted from 1 per process) the second gofer's "b" would get the id
	// the first gave "a".
	handOut := func(c goferpb.GoferClient, name string) (root, file uint64) {
		t.Helper()
		a, err := c.Attach(ctx, &goferpb.AttachRequest{})
		if err != nil || a.Errno != 0 {
			t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
		}
		w, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte(name)}})
		if err != nil || w.Errno != 0 {
			t.Fatalf("Walk: %v %v", err, unix.Errno(w.GetErrno()))
		}
		if o, err := c.Open(ctx, &goferpb.OpenRequest{Handle: w.Files[0].Handle.Id, Flags: unix.O_RDONLY}); err != nil || o.Errno != 0 {
			t.Fatalf("Open: %v %v", err, unix.Errno(o.GetErrno()))
		}
		return a.Root.Id, w.Files[0].Handle.Id
	}
	_, va := handOut(c, "a")
	oldReal := gc.RealHandle(va)

	p.Restart()
	raw := goferpb.NewGoferClient(p.Dial(t))
	_, newB := handOut(raw, "b")
	if newB == oldReal {
		t.Fatalf("the restarted gofer reused id %#x", newB)
	}
	// The old real id is unknown to the new gofer.
	if r, err := raw.Read(ctx, &goferpb.ReadRequest{Handle: oldReal, Length: 16}); err != nil || unix.Errno(r.Errno) != unix.EBADF {
		t.Errorf("Read of a dead gofer's id: %v errno %v data %q, want EBADF", err, unix.Errno(r.GetErrno()), r.GetData())
	}
	// Through the goferclient.GoferConn the virtual id still names "a".
	r, err := c.Read(ctx, &goferpb.ReadRequest{Handle: va, Length: 16})
	if err != nil || r.Errno != 0 || string(r.Data) != "aaaa" {
		t.Errorf("Read through the goferclient.GoferConn: %v errno %v data %q, want aaaa", err, unix.Errno(r.GetErrno()), r.GetData())
	}
	// A released or never issued virtual id is EBADF.
	c.Release(ctx, &goferpb.ReleaseRequest{Handles: []uint64{va}})
	for _, id := range []uint64{va, 12345} {
		if r, err := c.Read(ctx, &goferpb.ReadRequest{Handle: id, Length: 16}); err != nil || unix.Errno(r.Errno) != unix.EBADF {
			t.Errorf("Read of virtual id %d: %v errno %v data %q, want EBADF", id, err, unix.Errno(r.GetErrno()), r.GetData())
		}
	}
}

// TestGoferKillDuringWrites: the gofer is killed and restarted again and
// again while a description is written; every write succeeds and nothing
// is lost.
func TestGoferKillDuringWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	e, p, _ := restartableEnv(t)
	fd := e.open("/tmp/stream", unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND)
	fd2 := e.open("/tmp/stream2", unix.O_CREAT|unix.O_RDWR)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		kills := 0
		defer func() { done <- kills }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			p.Restart()
			kills++
		}
	}()
	var want, want2 strings.Builder
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 2000 && (i < 100 || time.Now().Before(deadline)); i++ {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i%50))
		e.writeStr(fd, line)
		want.WriteString(line)
		if i%3 == 0 {
			e.writeStr(fd2, line)
			want2.WriteString(line)
		}
	}
	close(stop)
	kills := <-done
	if kills == 0 {
		t.Fatal("the gofer was never restarted")
	}
	t.Logf("%d gofer restarts", kills)
	e.ok(1, unix.SYS_FSYNC, fd)
	if got := e.hostFile("tmp/stream"); got != want.String() {
		t.Errorf("stream: %d bytes, want %d", len(got), want.Len())
	}
	if got := e.hostFile("tmp/stream2"); got != want2.String() {
		t.Errorf("stream2: %d bytes, want %d", len(got), want2.Len())
	}
	if got := e.preadStr(fd2, want2.Len()+10, 0); got != want2.String() {
		t.Errorf("stream2 read back: %d bytes, want %d", len(got), want2.Len())
	}
}

// lossyConn loses the reply of the first call to method: it makes the
// call, then restarts the gofer and reports codes.Unavailable, as when
// the gofer dies right after executing a call.
type lossyConn struct {
	grpc.ClientConnInterface
	p      *goferProc
	method string
	once   sync.Once
	// restarted is set once the gofer was restarted (read after the call).
	restarted bool
	// between, if set, runs after the call the gofer ran and before the
	// gofer is restarted: another party's change the re-sent call must
	// not undo.
	between func()
	// only, if set, picks the calls of method whose reply is lost (the
	// first it says true of).
	only func(req any) bool
}

func (l *lossyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	err := l.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
	lost := false
	if strings.HasSuffix(method, "/"+l.method) && (l.only == nil || l.only(args)) {
		l.once.Do(func() { lost = true })
	}
	if lost && err == nil {
		if l.between != nil {
			l.between()
		}
		l.p.Restart()
		l.restarted = true
		return status.Error(codes.Unavailable, "connection lost (test)")
	}
	return err
}

// TestGoferRestartResentMutation: a mutation whose reply the gofer's death
// swallowed is re-sent to the new gofer, which has no reply cache: its own
// effect (EEXIST, ENOENT) is taken as success if it carried an Origin.
func TestGoferRestartResentMutation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	origin := &goferpb.Origin{ClientId: "c", Seq: 7}
	tests := []struct {
		name      string
		method    string
		call      func(c goferpb.GoferClient, root uint64) (unix.Errno, uint64)
		wantErrno unix.Errno
		check     func(t *testing.T, root string)
	}{
		{
			name: "create", method: "Create",
			call: func(c goferpb.GoferClient, dir uint64) (unix.Errno, uint64) {
				r, err := c.Create(context.Background(), &goferpb.CreateRequest{Dir: dir, Name: []byte("new"), Flags: unix.O_RDWR, Mode: 0644, Origin: origin})
				if err != nil {
					t.Fatal(err)
				}
				return unix.Errno(r.Errno), r.GetHandle().GetId()
			},
		},
		{
			name: "create without origin", method: "Create", wantErrno: unix.EEXIST,
			call: func(c goferpb.GoferClient, dir uint64) (unix.Errno, uint64) {
				r, err := c.Create(context.Background(), &goferpb.CreateRequest{Dir: dir, Name: []byte("new"), Flags: unix.O_RDWR, Mode: 0644})
				if err != nil {
					t.Fatal(err)
				}
				return unix.Errno(r.Errno), r.GetHandle().GetId()
			},
		},
		{
			name: "mkdir", method: "Mkdir",
			call: func(c goferpb.GoferClient, dir uint64) (unix.Errno, uint64) {
				r, err := c.Mkdir(context.Background(), &goferpb.MkdirRequest{Dir: dir, Name: []byte("sub"), Mode: 0755, Origin: origin})
				if err != nil {
					t.Fatal(err)
				}
				return unix.Errno(r.Errno), r.GetHandle().GetId()
			},
			check: func(t *testing.T, root string) {
				if st, err := os.Stat(filepath.Join(root, "sub")); err != nil || !st.IsDir() {
					t.Errorf("sub: %v", err)
				}
			},
		},
		{
			name: "unlink", method: "Unlink",
			call: func(c goferpb.GoferClient, dir uint64) (unix.Errno, uint64) {
				r, err := c.Unlink(context.Background(), &goferpb.UnlinkRequest{Dir: dir, Name: []byte("old"), Origin: origin})
				if err != nil {
					t.Fatal(err)
				}
				return unix.Errno(r.Errno), 0
			},
			check: func(t *testing.T, root string) {
				if _, err := os.Stat(filepath.Join(root, "old")); !os.IsNotExist(err) {
					t.Errorf("old still exists: %v", err)
				}
			},
		},
		{
			name: "rename", method: "Rename",
			call: func(c goferpb.GoferClient, dir uint64) (unix.Errno, uint64) {
				r, err := c.Rename(context.Background(), &goferpb.RenameRequest{OldDir: dir, OldName: []byte("old"), NewDir: dir, NewName: []byte("renamed"), Origin: origin})
				if err != nil {
					t.Fatal(err)
				}
				return unix.Errno(r.Errno), 0
			},
			check: func(t *testing.T, root string) {
				if _, err := os.Stat(filepath.Join(root, "renamed")); err != nil {
					t.Errorf("renamed: %v", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.WriteFile(filepath.Join(root, "old"), []byte("old"), 0644)
			p := startGoferProc(t, root)
			cc := p.Dial(t)
			gc := goferclient.NewGoferConn(cc, testLog(), goferclient.WithWrap(func(c grpc.ClientConnInterface) grpc.ClientConnInterface {
				return &lossyConn{ClientConnInterface: c, p: p, method: tc.method}
			}))
			defer gc.Close()
			c := goferpb.NewGoferClient(gc)
			a, err := c.Attach(context.Background(), &goferpb.AttachRequest{})
			if err != nil || a.Errno != 0 {
				t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
			}
			errno, h := tc.call(c, a.Root.Id)
			if errno != tc.wantErrno {
				t.Fatalf("errno %v, want %v", errno, tc.wantErrno)
			}
			if tc.method == "Create" && errno == 0 {
				// The handle is the created file, open for writing.
				w, err := c.Write(context.Background(), &goferpb.WriteRequest{Handle: h, Data: []byte("data")})
				if err != nil || w.Errno != 0 {
					t.Fatalf("Write: %v %v", err, unix.Errno(w.GetErrno()))
				}
				if b, _ := os.ReadFile(filepath.Join(root, "new")); string(b) != "data" {
					t.Errorf("new holds %q", b)
				}
			}
			if tc.check != nil {
				tc.check(t, root)
			}
		})
	}
}
