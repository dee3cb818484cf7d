package gofer

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestXattr: the user. attributes of regular files and directories are
// the host file's, with Linux's errnos (ENODATA, EEXIST, ERANGE, E2BIG,
// EPERM on other file types, EOPNOTSUPP outside user., trusted. and
// security.); the sandbox's trusted. and security. ones are kept as host
// user. attributes under sandboxNSPrefix, apart from the host's own; the
// gofer's own attribute (the set-id seal) is hidden from get, list, set
// and remove.
func TestXattr(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	d := e.mkdir(e.rootH, "d")
	sl := must(t, "symlink", must2(e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte("l"), Target: []byte("f")}))).GetHandle().GetId()
	fifo := must(t, "mknod", must2(e.c.Mknod(e.ctx, &goferpb.MknodRequest{Dir: e.rootH, Name: []byte("p"), Mode: unix.S_IFIFO | 0o600}))).GetHandle().GetId()
	// The gofer's seal of f, as a chmod u+s of the sandbox leaves it.
	if err := unix.Setxattr(e.host("f"), setIDXattr, []byte("seal"), 0); err != nil {
		t.Fatalf("host setxattr: %v", err)
	}
	if err := unix.Setxattr(e.host("f"), "trusted.host", []byte("x"), 0); err != nil {
		t.Fatalf("host setxattr trusted: %v", err)
	}
	// ext4 keeps a file's attributes in one block: a value of 64 KiB
	// fits tmpfs only.
	big := strings.Repeat("v", 1024)

	set := func(h uint64, name, value string, flags uint32) unix.Errno {
		r, err := e.c.SetXattr(e.ctx, &goferpb.SetXattrRequest{Handle: h, Name: []byte(name), Value: []byte(value), Flags: flags})
		if err != nil {
			t.Fatalf("setxattr: %v", err)
		}
		if r.GetErrno() == 0 && r.GetStat() == nil {
			t.Errorf("setxattr %q: no stat in the reply", name)
		}
		return unix.Errno(r.GetErrno())
	}
	for _, tc := range []struct {
		name  string
		h     uint64
		attr  string
		value string
		flags uint32
		want  unix.Errno
	}{
		{"create", f, "user.a", "one", xattrCreate, 0},
		{"create existing", f, "user.a", "two", xattrCreate, unix.EEXIST},
		{"replace", f, "user.a", "three", xattrReplace, 0},
		{"replace missing", f, "user.b", "x", xattrReplace, unix.ENODATA},
		{"either", f, "user.b", "", 0, 0},
		{"directory", d, "user.d", "dir", 0, 0},
		{"non-UTF-8 name", d, "user.\xff", "b", 0, 0},
		{"large value", f, "user.big", big, 0, 0},
		{"value too large", f, "user.big", strings.Repeat("v", xattrSizeMax+1), 0, unix.E2BIG},
		{"bad flags", f, "user.a", "x", 4, unix.EINVAL},
		{"empty name", f, "", "x", 0, unix.ERANGE},
		{"long name", f, "user." + strings.Repeat("n", 251), "x", 0, unix.ERANGE},
		{"user. alone", f, "user.", "x", 0, unix.EINVAL},
		{"trusted", f, "trusted.a", "x", 0, 0},
		{"security", f, "security.a", "s", 0, 0},
		{"trusted. alone", f, "trusted.", "x", 0, unix.EINVAL},
		{"trusted, its host name too long", f, "trusted." + strings.Repeat("n", 230), "x", 0, unix.ERANGE},
		{"trusted on a symlink", sl, "trusted.a", "x", 0, unix.EPERM},
		{"system", f, "system.posix_acl_access", "x", 0, unix.EOPNOTSUPP},
		{"unknown namespace", f, "foo.a", "x", 0, unix.EOPNOTSUPP},
		{"symlink", sl, "user.a", "x", 0, unix.EPERM},
		{"fifo", fifo, "user.a", "x", 0, unix.EPERM},
		{"the set-id seal", f, setIDXattr, "forged", 0, unix.EPERM},
		{"the gofer's prefix", d, hiddenXattrPrefix + "other", "x", 0, unix.EPERM},
		{"bad handle", 1 << 60, "user.a", "x", 0, unix.EBADF},
	} {
		t.Run("set/"+tc.name, func(t *testing.T) {
			if got := set(tc.h, tc.attr, tc.value, tc.flags); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
		})
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(e.host("f"), setIDXattr, buf); err != nil || string(buf[:n]) != "seal" {
		t.Errorf("the host's seal reads %q, %v: the sandbox changed it", buf[:n], err)
	}
	if n, err := unix.Getxattr(e.host("f"), sandboxNSPrefix+"trusted.a", buf); err != nil || string(buf[:n]) != "x" {
		t.Errorf("the sandbox's trusted.a on the host reads %q, %v; want %q under %q", buf[:n], err, "x", sandboxNSPrefix)
	}

	for _, tc := range []struct {
		name  string
		h     uint64
		attr  string
		size  uint32
		want  unix.Errno
		value string
		n     uint32
	}{
		{"value", f, "user.a", 64, 0, "three", 5},
		{"exact size", f, "user.a", 5, 0, "three", 5},
		{"size only", f, "user.a", 0, 0, "", 5},
		{"buffer too small", f, "user.a", 4, unix.ERANGE, "", 0},
		{"empty value", f, "user.b", 8, 0, "", 0},
		{"large value", f, "user.big", 1024, 0, big, 1024},
		{"size past the largest value", f, "user.big", 1 << 20, 0, big, 1024},
		{"directory", d, "user.d", 8, 0, "dir", 3},
		{"missing", f, "user.none", 8, unix.ENODATA, "", 0},
		{"symlink", sl, "user.a", 8, unix.ENODATA, "", 0},
		{"the set-id seal", f, setIDXattr, 64, unix.ENODATA, "", 0},
		{"trusted", f, "trusted.a", 64, 0, "x", 1},
		{"security", f, "security.a", 64, 0, "s", 1},
		{"the host's trusted", f, "trusted.host", 64, unix.ENODATA, "", 0},
		{"empty name", f, "", 8, unix.ERANGE, "", 0},
	} {
		t.Run("get/"+tc.name, func(t *testing.T) {
			r, err := e.c.GetXattr(e.ctx, &goferpb.GetXattrRequest{Handle: tc.h, Name: []byte(tc.attr), Size: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			if got := unix.Errno(r.GetErrno()); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
			if string(r.GetValue()) != tc.value || r.GetSize() != tc.n {
				t.Errorf("value of %d bytes, size %d; want %d bytes, size %d", len(r.GetValue()), r.GetSize(), len(tc.value), tc.n)
			}
		})
	}

	for _, tc := range []struct {
		name string
		h    uint64
		want []string
	}{
		{"file", f, []string{"security.a", "trusted.a", "user.a", "user.b", "user.big"}},
		{"directory", d, []string{"user.d", "user.\xff"}},
		{"symlink", sl, nil},
		{"fifo", fifo, nil},
	} {
		t.Run("list/"+tc.name, func(t *testing.T) {
			r := must(t, "listxattr", must2(e.c.ListXattr(e.ctx, &goferpb.ListXattrRequest{Handle: tc.h})))
			var got []string
			for _, n := range r.GetNames() {
				got = append(got, string(n))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("names %q, want %q", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		h    uint64
		attr string
		want unix.Errno
	}{
		{"present", f, "user.b", 0},
		{"again", f, "user.b", unix.ENODATA},
		{"directory", d, "user.d", 0},
		{"symlink", sl, "user.a", unix.EPERM},
		{"the set-id seal", f, setIDXattr, unix.EPERM},
		{"the host's trusted", f, "trusted.host", unix.ENODATA},
		{"trusted", f, "trusted.a", 0},
		{"long name", f, strings.Repeat("n", 256), unix.ERANGE},
	} {
		t.Run("remove/"+tc.name, func(t *testing.T) {
			r, err := e.c.RemoveXattr(e.ctx, &goferpb.RemoveXattrRequest{Handle: tc.h, Name: []byte(tc.attr)})
			if err != nil {
				t.Fatal(err)
			}
			if got := unix.Errno(r.GetErrno()); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := unix.Getxattr(e.host("f"), setIDXattr, buf); err != nil {
		t.Errorf("the host's seal: %v (the sandbox removed it)", err)
	}
	if n, err := unix.Getxattr(e.host("f"), "trusted.host", buf); err != nil || string(buf[:n]) != "x" {
		t.Errorf("the host's own trusted.host reads %q, %v: the sandbox changed it", buf[:n], err)
	}
	if _, err := unix.Getxattr(e.host("f"), "user.b", buf); err != unix.ENODATA {
		t.Errorf("user.b on the host: %v, want ENODATA (removed)", err)
	}
}

// TestXattrResent: a SetXattr with XATTR_CREATE or a RemoveXattr re-sent
// with the same Origin (a sentry restarted before it got the reply) is
// answered from the reply cache, not run again: the creation is not
// EEXIST, the removal not ENODATA, and a change made in between stands.
func TestXattrResent(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	create := &goferpb.SetXattrRequest{Handle: f, Name: []byte("user.x"), Value: []byte("1"), Flags: xattrCreate, Origin: &goferpb.Origin{ClientId: "c1", Seq: 3}}
	remove := &goferpb.RemoveXattrRequest{Handle: f, Name: []byte("user.x"), Origin: &goferpb.Origin{ClientId: "c1", Seq: 4}}
	for _, step := range []struct {
		name string
		call func() (interface{ GetErrno() int32 }, error)
		want unix.Errno
	}{
		{"create", func() (interface{ GetErrno() int32 }, error) { return e.c.SetXattr(e.ctx, create) }, 0},
		{"create re-sent", func() (interface{ GetErrno() int32 }, error) { return e.c.SetXattr(e.ctx, create) }, 0},
		{"create with a new origin", func() (interface{ GetErrno() int32 }, error) {
			return e.c.SetXattr(e.ctx, &goferpb.SetXattrRequest{Handle: f, Name: []byte("user.x"), Value: []byte("1"), Flags: xattrCreate, Origin: &goferpb.Origin{ClientId: "c1", Seq: 5}})
		}, unix.EEXIST},
		{"remove", func() (interface{ GetErrno() int32 }, error) { return e.c.RemoveXattr(e.ctx, remove) }, 0},
		{"set in between", func() (interface{ GetErrno() int32 }, error) {
			return e.c.SetXattr(e.ctx, &goferpb.SetXattrRequest{Handle: f, Name: []byte("user.x"), Value: []byte("2"), Origin: &goferpb.Origin{ClientId: "c1", Seq: 6}})
		}, 0},
		{"create re-sent late", func() (interface{ GetErrno() int32 }, error) { return e.c.SetXattr(e.ctx, create) }, 0},
		{"remove re-sent", func() (interface{ GetErrno() int32 }, error) { return e.c.RemoveXattr(e.ctx, remove) }, 0},
	} {
		r, err := step.call()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := unix.Errno(r.GetErrno()); got != step.want {
			t.Fatalf("%s: errno %v, want %v", step.name, got, step.want)
		}
	}
	buf := make([]byte, 8)
	if n, err := unix.Getxattr(e.host("f"), "user.x", buf); err != nil || string(buf[:n]) != "2" {
		t.Errorf("user.x on the host is %q, %v; want the value set in between, \"2\" (a re-sent call ran again)", buf[:n], err)
	}
}

// TestXattrOverCalls: the xattr methods are carried by the Calls stream
// (the framed wire's messages) as by their unary gRPC calls, the set's
// Origin keying the reply cache there too.
func TestXattrOverCalls(t *testing.T) {
	e := newEnv(t)
	st, cancel, _ := openCalls(t, e)
	defer cancel()
	id := uint32(0)
	call := func(method string, req, rep proto.Message) {
		t.Helper()
		id++
		if err := st.Send(&goferpb.GoferCall{Id: id, Method: method, Request: marshal(t, req)}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil || r.GetId() != id || r.GetCode() != 0 {
			t.Fatalf("%s: result %v, %v", method, r, err)
		}
		if err := proto.Unmarshal(r.GetReply(), rep); err != nil {
			t.Fatal(err)
		}
	}
	at := new(goferpb.AttachReply)
	call("Attach", &goferpb.AttachRequest{}, at)
	cr := new(goferpb.CreateReply)
	call("Create", &goferpb.CreateRequest{Dir: at.GetRoot().GetId(), Name: []byte("f"), Flags: unix.O_RDWR, Mode: 0o644}, cr)
	h := cr.GetHandle().GetId()
	set := &goferpb.SetXattrRequest{Handle: h, Name: []byte("user.s"), Value: []byte("v"), Flags: xattrCreate, Origin: &goferpb.Origin{ClientId: "c", Seq: 1}}
	for _, step := range []struct {
		method string
		req    proto.Message
		rep    interface {
			proto.Message
			GetErrno() int32
		}
		want unix.Errno
	}{
		{"SetXattr", set, new(goferpb.SetXattrReply), 0},
		{"SetXattr", set, new(goferpb.SetXattrReply), 0}, // re-sent: the reply cache
		{"GetXattr", &goferpb.GetXattrRequest{Handle: h, Name: []byte("user.s"), Size: 8}, new(goferpb.GetXattrReply), 0},
		{"ListXattr", &goferpb.ListXattrRequest{Handle: h}, new(goferpb.ListXattrReply), 0},
		{"RemoveXattr", &goferpb.RemoveXattrRequest{Handle: h, Name: []byte("user.s")}, new(goferpb.RemoveXattrReply), 0},
		{"GetXattr", &goferpb.GetXattrRequest{Handle: h, Name: []byte("user.s"), Size: 8}, new(goferpb.GetXattrReply), unix.ENODATA},
	} {
		call(step.method, step.req, step.rep)
		if got := unix.Errno(step.rep.GetErrno()); got != step.want {
			t.Fatalf("%s: errno %v, want %v", step.method, got, step.want)
		}
		switch r := step.rep.(type) {
		case *goferpb.GetXattrReply:
			if step.want == 0 && string(r.GetValue()) != "v" {
				t.Errorf("GetXattr: value %q, want \"v\"", r.GetValue())
			}
		case *goferpb.ListXattrReply:
			if len(r.GetNames()) != 1 || string(r.GetNames()[0]) != "user.s" {
				t.Errorf("ListXattr: names %q, want [user.s]", r.GetNames())
			}
		}
	}
}
