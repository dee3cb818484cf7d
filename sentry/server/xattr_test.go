package server

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestXattrCalls: the xattr calls on gofer files, through a path, a path
// not followed and an fd, with Linux's errnos in Linux's order; the
// gofer's own attribute (the set-id seal a chmod u+s leaves) is never
// seen; as another user, the permission checks are the server's (the
// gofer, root on the host, would allow everything).
func TestXattrCalls(t *testing.T) {
	e := started(t)
	m := e.mem
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(e.root, "tmp/f"), nil, 0o644))
	must(os.Mkdir(filepath.Join(e.root, "tmp/d"), 0o755))
	must(os.Mkdir(filepath.Join(e.root, "tmp/sticky"), 0o755))
	must(os.Chmod(filepath.Join(e.root, "tmp/sticky"), 0o777|os.ModeSticky))
	must(os.Symlink("f", filepath.Join(e.root, "tmp/l")))
	must(unix.Mkfifo(filepath.Join(e.root, "tmp/p"), 0o644))
	f, l, d, p, sticky := m.str("/tmp/f"), m.str("/tmp/l"), m.str("/tmp/d"), m.str("/tmp/p"), m.str("/tmp/sticky")
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, f, unix.O_RDONLY, 0))
	pipe := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, pipe, 0)
	pipeR := uint64(m.u32(pipe))
	name := func(s string) uint64 { return m.str(s) }
	val := func(s string) uint64 { return m.alloc([]byte(s + "\x00")) }
	buf := m.zeros(256)
	big := m.zeros(64<<10 + 1)
	const create, replace = 1, 2

	for _, tc := range []struct {
		what  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"create", unix.SYS_SETXATTR, []uint64{f, name("user.a"), val("one"), 3, create}, 0},
		{"create existing", unix.SYS_SETXATTR, []uint64{f, name("user.a"), val("one"), 3, create}, unix.EEXIST},
		{"replace", unix.SYS_SETXATTR, []uint64{f, name("user.a"), val("two"), 3, replace}, 0},
		{"replace missing", unix.SYS_SETXATTR, []uint64{f, name("user.b"), val("x"), 1, replace}, unix.ENODATA},
		{"through an fd open for reading", unix.SYS_FSETXATTR, []uint64{fd, name("user.b"), val(""), 0, 0}, 0},
		{"through the symlink", unix.SYS_SETXATTR, []uint64{l, name("user.c"), val("via"), 3, 0}, 0},
		{"directory", unix.SYS_SETXATTR, []uint64{d, name("user.d"), val("dir"), 3, 0}, 0},
		{"the symlink itself", unix.SYS_LSETXATTR, []uint64{l, name("user.a"), val("x"), 1, 0}, unix.EPERM},
		{"fifo", unix.SYS_SETXATTR, []uint64{p, name("user.a"), val("x"), 1, 0}, unix.EPERM},
		{"pipe", unix.SYS_FSETXATTR, []uint64{pipeR, name("user.a"), val("x"), 1, 0}, unix.EPERM},
		{"bad flags before the name", unix.SYS_SETXATTR, []uint64{f, name(""), val("x"), 1, 4}, unix.EINVAL},
		{"empty name", unix.SYS_SETXATTR, []uint64{f, name(""), val("x"), 1, 0}, unix.ERANGE},
		{"long name", unix.SYS_SETXATTR, []uint64{f, name("user." + strings.Repeat("n", 251)), val("x"), 1, 0}, unix.ERANGE},
		{"too large before the file", unix.SYS_SETXATTR, []uint64{name("/none"), name("user.a"), big, 64<<10 + 1, 0}, unix.E2BIG},
		{"value unreadable", unix.SYS_SETXATTR, []uint64{f, name("user.a"), 8, 3, 0}, unix.EFAULT},
		{"missing file", unix.SYS_SETXATTR, []uint64{name("/tmp/none"), name("user.a"), val("x"), 1, 0}, unix.ENOENT},
		{"user. alone", unix.SYS_SETXATTR, []uint64{f, name("user."), val("x"), 1, 0}, unix.EINVAL},
		{"unknown namespace", unix.SYS_SETXATTR, []uint64{f, name("foo.a"), val("x"), 1, 0}, unix.EOPNOTSUPP},
		{"system.", unix.SYS_SETXATTR, []uint64{f, name("system.posix_acl_access"), val("x"), 1, 0}, unix.EOPNOTSUPP},
		{"the gofer's seal", unix.SYS_SETXATTR, []uint64{f, name("user.runsc-decoupled.setid"), val("forged"), 6, 0}, unix.EPERM},
		{"the gofer's prefix", unix.SYS_SETXATTR, []uint64{d, name("user.runsc-decoupled.x"), val("x"), 1, 0}, unix.EPERM},
		{"an O_PATH-less bad fd", unix.SYS_FSETXATTR, []uint64{999, name("user.a"), val("x"), 1, 0}, unix.EBADF},
		{"trusted, privileged", unix.SYS_SETXATTR, []uint64{f, name("trusted.t"), val("tt"), 2, create}, 0},
		{"security, privileged", unix.SYS_SETXATTR, []uint64{f, name("security.s"), val("ss"), 2, 0}, 0},
		{"security.capability, privileged", unix.SYS_SETXATTR, []uint64{f, name("security.capability"), val("cap"), 3, 0}, 0},
		{"trusted. alone", unix.SYS_SETXATTR, []uint64{f, name("trusted."), val("x"), 1, 0}, unix.EINVAL},
		{"trusted on the symlink itself", unix.SYS_LSETXATTR, []uint64{l, name("trusted.t"), val("x"), 1, 0}, unix.EPERM},
	} {
		t.Run("set/"+tc.what, func(t *testing.T) {
			if r := e.sys(1, tc.sysno, tc.args...); unix.Errno(r.Errno) != tc.want {
				t.Errorf("ret %d errno %v, want %v", r.Ret, unix.Errno(r.Errno), tc.want)
			}
		})
	}

	// A set-uid bit, which the gofer keeps in its own attribute.
	e.ok(1, unix.SYS_CHMOD, f, 0o4644)

	for _, tc := range []struct {
		what  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
		ret   int64
		value string
	}{
		{"size", unix.SYS_GETXATTR, []uint64{f, name("user.a"), 0, 0}, 0, 3, ""},
		{"value", unix.SYS_GETXATTR, []uint64{f, name("user.a"), buf, 256}, 0, 3, "two"},
		{"buffer too small", unix.SYS_GETXATTR, []uint64{f, name("user.a"), buf, 2}, unix.ERANGE, 0, ""},
		{"empty value", unix.SYS_FGETXATTR, []uint64{fd, name("user.b"), buf, 256}, 0, 0, ""},
		{"through the symlink", unix.SYS_GETXATTR, []uint64{l, name("user.c"), buf, 256}, 0, 3, "via"},
		{"the symlink itself", unix.SYS_LGETXATTR, []uint64{l, name("user.a"), buf, 256}, unix.ENODATA, 0, ""},
		{"directory", unix.SYS_LGETXATTR, []uint64{d, name("user.d"), buf, 256}, 0, 3, "dir"},
		{"missing", unix.SYS_GETXATTR, []uint64{f, name("user.none"), buf, 256}, unix.ENODATA, 0, ""},
		{"fifo", unix.SYS_GETXATTR, []uint64{p, name("user.a"), buf, 256}, unix.ENODATA, 0, ""},
		{"pipe", unix.SYS_FGETXATTR, []uint64{pipeR, name("user.a"), buf, 256}, unix.ENODATA, 0, ""},
		{"the gofer's seal", unix.SYS_GETXATTR, []uint64{f, name("user.runsc-decoupled.setid"), buf, 256}, unix.ENODATA, 0, ""},
		{"unknown namespace", unix.SYS_GETXATTR, []uint64{f, name("foo.a"), buf, 256}, unix.EOPNOTSUPP, 0, ""},
		{"trusted, privileged", unix.SYS_GETXATTR, []uint64{f, name("trusted.t"), buf, 256}, 0, 2, "tt"},
		{"security", unix.SYS_GETXATTR, []uint64{f, name("security.s"), buf, 256}, 0, 2, "ss"},
	} {
		t.Run("get/"+tc.what, func(t *testing.T) {
			copy(m.mem[buf-m.base:], make([]byte, 256))
			r := e.sys(1, tc.sysno, tc.args...)
			if unix.Errno(r.Errno) != tc.want || r.Ret != tc.ret {
				t.Fatalf("ret %d errno %v, want %d %v", r.Ret, unix.Errno(r.Errno), tc.ret, tc.want)
			}
			if got := string(m.bytes(buf, len(tc.value))); tc.value != "" && got != tc.value {
				t.Errorf("value %q, want %q", got, tc.value)
			}
		})
	}
	if _, err := unix.Getxattr(filepath.Join(e.root, "tmp/f"), "user.runsc-decoupled.setid", make([]byte, 64)); err != nil {
		t.Errorf("the host file has no set-id seal (%v): the hidden name was not tested", err)
	}

	listed := func(t *testing.T, sysno uintptr, file uint64) []string {
		t.Helper()
		n := e.ok(1, sysno, file, 0, 0)
		got := e.ok(1, sysno, file, buf, 256)
		if got != n {
			t.Fatalf("listing of %d bytes, sized %d", got, n)
		}
		var names []string
		for _, s := range strings.Split(string(m.bytes(buf, int(got))), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		slices.Sort(names)
		return names
	}
	for _, tc := range []struct {
		what  string
		sysno uintptr
		file  uint64
		want  []string
	}{
		{"file", unix.SYS_LISTXATTR, f, []string{"security.capability", "security.s", "trusted.t", "user.a", "user.b", "user.c"}},
		{"through the symlink", unix.SYS_LISTXATTR, l, []string{"security.capability", "security.s", "trusted.t", "user.a", "user.b", "user.c"}},
		{"the symlink itself", unix.SYS_LLISTXATTR, l, nil},
		{"fd", unix.SYS_FLISTXATTR, fd, []string{"security.capability", "security.s", "trusted.t", "user.a", "user.b", "user.c"}},
		{"directory", unix.SYS_LISTXATTR, d, []string{"user.d"}},
		{"pipe", unix.SYS_FLISTXATTR, pipeR, nil},
	} {
		t.Run("list/"+tc.what, func(t *testing.T) {
			if got := listed(t, tc.sysno, tc.file); !slices.Equal(got, tc.want) {
				t.Errorf("names %q, want %q", got, tc.want)
			}
		})
	}
	e.fails(unix.ERANGE, 1, unix.SYS_LISTXATTR, f, buf, 3)

	for _, tc := range []struct {
		what  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"present", unix.SYS_REMOVEXATTR, []uint64{f, name("user.b")}, 0},
		{"again", unix.SYS_REMOVEXATTR, []uint64{f, name("user.b")}, unix.ENODATA},
		{"through an fd", unix.SYS_FREMOVEXATTR, []uint64{fd, name("user.c")}, 0},
		{"the symlink itself", unix.SYS_LREMOVEXATTR, []uint64{l, name("user.a")}, unix.EPERM},
		{"the gofer's seal", unix.SYS_REMOVEXATTR, []uint64{f, name("user.runsc-decoupled.setid")}, unix.EPERM},
		{"empty name", unix.SYS_REMOVEXATTR, []uint64{f, name("")}, unix.ERANGE},
	} {
		t.Run("remove/"+tc.what, func(t *testing.T) {
			if r := e.sys(1, tc.sysno, tc.args...); unix.Errno(r.Errno) != tc.want {
				t.Errorf("ret %d errno %v, want %v", r.Ret, unix.Errno(r.Errno), tc.want)
			}
		})
	}
	st := m.zeros(144)
	e.ok(1, unix.SYS_STAT, f, st)
	if mode := m.u32(st + 24); mode&0o7777 != 0o4644 {
		t.Errorf("mode %#o after the xattr calls, want the set-uid bit kept (%#o)", mode&0o7777, 0o4644)
	}

	// As another user: Linux's permission rules, the server's to apply.
	mine := m.str("/tmp/sticky/mine")
	e.ok(1, unix.SYS_SETXATTR, sticky, name("user.s"), val("root's"), 6, 0)
	e.ok(1, unix.SYS_SETRESGID, 1000, 1000, 1000)
	e.ok(1, unix.SYS_SETRESUID, 1000, 1000, 1000)
	e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, mine, unix.O_CREAT|unix.O_RDWR, 0o600)))
	for _, tc := range []struct {
		what  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"set without write permission", unix.SYS_SETXATTR, []uint64{f, name("user.x"), val("1"), 1, 0}, unix.EACCES},
		{"set without write permission through an fd", unix.SYS_FSETXATTR, []uint64{fd, name("user.x"), val("1"), 1, 0}, unix.EACCES},
		{"remove without write permission", unix.SYS_REMOVEXATTR, []uint64{f, name("user.a")}, unix.EACCES},
		{"get with read permission", unix.SYS_GETXATTR, []uint64{f, name("user.a"), buf, 256}, 0},
		{"set trusted", unix.SYS_SETXATTR, []uint64{f, name("trusted.x"), val("1"), 1, 0}, unix.EPERM},
		{"get trusted", unix.SYS_GETXATTR, []uint64{f, name("trusted.x"), buf, 256}, unix.ENODATA},
		{"set security", unix.SYS_SETXATTR, []uint64{f, name("security.x"), val("1"), 1, 0}, unix.EPERM},
		{"set on a sticky directory", unix.SYS_SETXATTR, []uint64{sticky, name("user.x"), val("1"), 1, 0}, unix.EPERM},
		{"remove on a sticky directory", unix.SYS_REMOVEXATTR, []uint64{sticky, name("user.s")}, unix.EPERM},
		{"get on a sticky directory", unix.SYS_GETXATTR, []uint64{sticky, name("user.s"), buf, 256}, 0},
		{"set on an own file", unix.SYS_SETXATTR, []uint64{mine, name("user.x"), val("1"), 1, 0}, 0},
		{"set on the symlink before the permission", unix.SYS_LSETXATTR, []uint64{l, name("user.x"), val("1"), 1, 0}, unix.EPERM},
		{"get security", unix.SYS_GETXATTR, []uint64{f, name("security.s"), buf, 256}, 0},
		{"get the root's trusted", unix.SYS_GETXATTR, []uint64{f, name("trusted.t"), buf, 256}, unix.ENODATA},
		{"remove security.capability", unix.SYS_REMOVEXATTR, []uint64{f, name("security.capability")}, unix.EPERM},
	} {
		t.Run("other user/"+tc.what, func(t *testing.T) {
			if r := e.sys(1, tc.sysno, tc.args...); unix.Errno(r.Errno) != tc.want {
				t.Errorf("ret %d errno %v, want %v", r.Ret, unix.Errno(r.Errno), tc.want)
			}
		})
	}
	// Without CAP_SYS_ADMIN a listing has no trusted. names (Linux).
	if got, want := listed(t, unix.SYS_LISTXATTR, f), []string{"security.capability", "security.s", "user.a"}; !slices.Equal(got, want) {
		t.Errorf("another user's listing %q, want %q", got, want)
	}
}

// TestXattrResentOnce: an XATTR_CREATE set and a removal whose replies
// died with the server, re-sent to its successor, are answered from the
// gofer's reply cache: not EEXIST, not ENODATA, and not applied again
// over what came after them. Through the gofer's unary gRPC calls and
// through a GoferConn on the framed wire (its Calls stream).
func TestXattrResentOnce(t *testing.T) {
	for _, framed := range []bool{false, true} {
		t.Run(map[bool]string{false: "grpc", true: "framed"}[framed], func(t *testing.T) {
			xattrResentOnce(t, newReplayerDonating(t, framed))
		})
	}
}

func xattrResentOnce(t *testing.T, r *replayer) {
	r.start()
	f := r.mem.str("/tmp/f")
	r.ok(1, unix.SYS_CLOSE, r.open("/tmp/f", unix.O_RDWR|unix.O_CREAT))
	set := r.syscallCall(1, unix.SYS_SETXATTR, f, r.mem.str("user.x"), r.mem.alloc([]byte("1")), 1, 1)
	if rep := r.call(set, true); rep.Errno != 0 {
		t.Fatalf("setxattr: %v", unix.Errno(rep.Errno))
	}
	r.ok(1, unix.SYS_SETXATTR, f, r.mem.str("user.x"), r.mem.alloc([]byte("2")), 1, 0)
	r.recover(nil)
	if rep := r.call(set, false); rep.Errno != 0 {
		t.Fatalf("setxattr re-sent: %v, want the first execution's success", unix.Errno(rep.Errno))
	}
	host := filepath.Join(r.root, "tmp/f")
	b := make([]byte, 8)
	if n, err := unix.Getxattr(host, "user.x", b); err != nil || string(b[:n]) != "2" {
		t.Errorf("user.x is %q, %v after the re-sent set; want \"2\" (applied once, before the other)", b[:n], err)
	}

	remove := r.syscallCall(1, unix.SYS_REMOVEXATTR, f, r.mem.str("user.x"))
	if rep := r.call(remove, true); rep.Errno != 0 {
		t.Fatalf("removexattr: %v", unix.Errno(rep.Errno))
	}
	r.recover(nil)
	if rep := r.call(remove, false); rep.Errno != 0 {
		t.Fatalf("removexattr re-sent: %v, want the first execution's success", unix.Errno(rep.Errno))
	}
}

// TestGoferRestartResentXattr: an XATTR_CREATE set or a removal whose
// reply the gofer's death swallowed is re-sent to the new gofer, which
// has no reply cache: finding its own effect (the attribute with its
// value, no attribute), it is taken as done, not EEXIST or ENODATA. An
// XATTR_CREATE that finds another value did not run: EEXIST.
func TestGoferRestartResentXattr(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	for _, tc := range []struct {
		name    string
		method  string
		before  string // the attribute's value before the call ("": none)
		between string // another party's value set before the gofer dies
		call    func(c goferpb.GoferClient, h uint64) (interface{ GetErrno() int32 }, error)
		want    unix.Errno
	}{
		{name: "create", method: "SetXattr", call: func(c goferpb.GoferClient, h uint64) (interface{ GetErrno() int32 }, error) {
			return c.SetXattr(context.Background(), &goferpb.SetXattrRequest{Handle: h, Name: []byte("user.x"), Value: []byte("v"), Flags: unix.XATTR_CREATE,
				Origin: &goferpb.Origin{ClientId: "c", Seq: 5}})
		}},
		{name: "create, another value meanwhile", method: "SetXattr", between: "other", want: unix.EEXIST,
			call: func(c goferpb.GoferClient, h uint64) (interface{ GetErrno() int32 }, error) {
				return c.SetXattr(context.Background(), &goferpb.SetXattrRequest{Handle: h, Name: []byte("user.x"), Value: []byte("v"), Flags: unix.XATTR_CREATE,
					Origin: &goferpb.Origin{ClientId: "c", Seq: 5}})
			}},
		{name: "remove", method: "RemoveXattr", before: "v", call: func(c goferpb.GoferClient, h uint64) (interface{ GetErrno() int32 }, error) {
			return c.RemoveXattr(context.Background(), &goferpb.RemoveXattrRequest{Handle: h, Name: []byte("user.x"), Origin: &goferpb.Origin{ClientId: "c", Seq: 6}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			host := filepath.Join(root, "f")
			if err := os.WriteFile(host, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.before != "" {
				if err := unix.Setxattr(host, "user.x", []byte(tc.before), 0); err != nil {
					t.Fatal(err)
				}
			}
			p := startGoferProc(t, root)
			lossy := &lossyConn{p: p, method: tc.method}
			if tc.between != "" {
				lossy.between = func() {
					if err := unix.Setxattr(host, "user.x", []byte(tc.between), 0); err != nil {
						t.Error(err)
					}
				}
			}
			gcl, h := openedThrough(t, p, func(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
				lossy.ClientConnInterface = cc
				return lossy
			})
			r, err := tc.call(gcl, h)
			if err != nil {
				t.Fatal(err)
			}
			if !lossy.restarted {
				t.Fatal("the gofer was not restarted between the call and its reply")
			}
			if got := unix.Errno(r.GetErrno()); got != tc.want {
				t.Errorf("errno %v, want %v", got, tc.want)
			}
		})
	}
}
