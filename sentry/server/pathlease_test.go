package server

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// secondClient connects another client to e's server, with busybox
// started as its PID 1, and returns its env (same root, memory of its
// own).
func secondClient(t *testing.T, e *env, hello *sentrypb.Hello) *env {
	t.Helper()
	e2 := &env{t: t, root: e.root, srv: e.srv, mem: newAppMem(), pushCh: make(chan *sentrypb.Push, 1024), sock: e.sock}
	if hello == nil {
		hello = &sentrypb.Hello{}
	}
	hello.ClientId = t.Name() + "-2"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, "unix:"+e.sock, transport.Options{Hello: hello, OnPush: e2.onPush, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e2.conn = conn
	if r := e2.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start of the second client: errno %v", unix.Errno(r.Errno))
	}
	return e2
}

// statIno stats path as e's PID 1 and returns its inode number, or the
// errno.
func statIno(e *env, path string) (uint64, unix.Errno) {
	e.t.Helper()
	sb := e.mem.zeros(144)
	r := e.sys(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), e.mem.str(path), sb, 0)
	if r.Errno != 0 {
		return 0, unix.Errno(r.Errno)
	}
	return binary.LittleEndian.Uint64(e.mem.bytes(sb+8, 8)), 0
}

// wantStat is what a stat of path must give: errno, or the inode number
// path sameAs had before ("" for any).
type wantStat struct {
	path   string
	errno  unix.Errno
	sameAs string
}

// TestOtherClientsRemovalsSeen checks that a name another client of the
// same server removed or replaced is found so by this client's next
// lookup, although its dentry tree had cached the name: the dentries
// are per client, and only the client that made the change updated its
// own.
func TestOtherClientsRemovalsSeen(t *testing.T) {
	tests := []struct {
		name string
		// change is made by the other client after this one cached
		// the names it stats before.
		change func(e2 *env)
		before []string
		// after are paths and what a stat of each must give: an
		// errno, or the inode number the path had before (a path,
		// "" for any).
		after []wantStat
	}{
		{
			name:   "unlink",
			before: []string{"/tmp/a"},
			change: func(e2 *env) { e2.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e2.mem.str("/tmp/a"), 0) },
			after:  []wantStat{{path: "/tmp/a", errno: unix.ENOENT}},
		},
		{
			name:   "rename over",
			before: []string{"/tmp/a", "/tmp/b"},
			change: func(e2 *env) {
				e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/b"), uint64(atFDCWD64), e2.mem.str("/tmp/a"))
			},
			after: []wantStat{{path: "/tmp/a", sameAs: "/tmp/b"}, {path: "/tmp/b", errno: unix.ENOENT}},
		},
		{
			name:   "rename of a directory",
			before: []string{"/tmp/d/x"},
			change: func(e2 *env) {
				e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/d"), uint64(atFDCWD64), e2.mem.str("/tmp/e"))
			},
			after: []wantStat{{path: "/tmp/d/x", errno: unix.ENOENT}, {path: "/tmp/e/x", sameAs: "/tmp/d/x"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			for _, f := range []string{"/tmp/a", "/tmp/b"} {
				fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(f), unix.O_CREAT|unix.O_WRONLY, 0o644)
				e.ok(1, unix.SYS_CLOSE, uint64(fd))
			}
			e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/d"), 0o755)
			fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/d/x"), unix.O_CREAT|unix.O_WRONLY, 0o644)
			e.ok(1, unix.SYS_CLOSE, uint64(fd))
			inos := map[string]uint64{}
			for _, p := range tc.before {
				ino, errno := statIno(e, p)
				if errno != 0 {
					t.Fatalf("stat %s: %v", p, errno)
				}
				inos[p] = ino
			}
			e2 := secondClient(t, e, nil)
			tc.change(e2)
			for _, a := range tc.after {
				ino, errno := statIno(e, a.path)
				switch {
				case errno != a.errno:
					t.Errorf("stat %s after the other client's %s: errno %v, want %v", a.path, tc.name, errno, a.errno)
				case a.sameAs != "" && ino != inos[a.sameAs]:
					t.Errorf("stat %s after the other client's %s: inode %d, want %s's %d", a.path, tc.name, ino, a.sameAs, inos[a.sameAs])
				}
			}
		})
	}
}
