package gofer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestHandleIDsTiedToSession: a handle id works only in the session (or,
// for calls without one, the principal) it was given to.
func TestHandleIDsTiedToSession(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("f"), "secret")
	ctxA, _, endA := e.openSession()
	defer endA()
	ctxB, _, endB := e.openSession()
	defer endB()
	unowned, unownedRoot := e.enterSession(ctxA)
	idA := e.walkOne(e.rootH, "f")
	for _, tc := range []struct {
		name string
		call func() (int32, error)
		want unix.Errno
	}{
		{"stat in its session", func() (int32, error) {
			r, err := e.c.Stat(ctxA, &goferpb.StatRequest{Handle: idA})
			return r.GetErrno(), err
		}, 0},
		{"stat in another session", func() (int32, error) {
			r, err := e.c.Stat(ctxB, &goferpb.StatRequest{Handle: idA})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"stat without a session", func() (int32, error) {
			r, err := e.c.Stat(unowned, &goferpb.StatRequest{Handle: idA})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"open in another session", func() (int32, error) {
			r, err := e.c.Open(ctxB, &goferpb.OpenRequest{Handle: idA, Flags: unix.O_RDONLY})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"walk from another session's root", func() (int32, error) {
			r, err := e.c.Walk(ctxA, &goferpb.WalkRequest{Dir: unownedRoot, Names: [][]byte{[]byte("f")}})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"rename into another's dir", func() (int32, error) {
			r, err := e.c.Rename(ctxA, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("f"), NewDir: unownedRoot, NewName: []byte("g")})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"fsync naming its own handles", func() (int32, error) {
			r, err := e.c.Fsync(ctxA, &goferpb.FsyncRequest{Handle: idA, Handles: []uint64{idA}})
			return r.GetErrno(), err
		}, 0},
		{"fsync naming another session's handle in its list", func() (int32, error) {
			r, err := e.c.Fsync(ctxA, &goferpb.FsyncRequest{Handle: idA, Handles: []uint64{idA, unownedRoot}})
			return r.GetErrno(), err
		}, unix.EBADF},
		{"release in another session is ignored", func() (int32, error) {
			if _, err := e.c.Release(ctxB, &goferpb.ReleaseRequest{Handles: []uint64{idA}}); err != nil {
				return 0, err
			}
			r, err := e.c.Stat(ctxA, &goferpb.StatRequest{Handle: idA})
			return r.GetErrno(), err
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if unix.Errno(got) != tc.want {
				t.Fatalf("errno %v, want %v", unix.Errno(got), tc.want)
			}
		})
	}
	if _, err := os.Stat(e.host("f")); err != nil {
		t.Fatalf("a refused rename moved the file: %v", err)
	}
}

// TestOriginQualifiedByMethod: two different mutations with one Origin
// both run (the cache key includes the operation); before, the second got
// the first's reply and the gofer panicked on its type.
func TestOriginQualifiedByMethod(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("victim"), "x")
	o := &goferpb.Origin{ClientId: "c", Seq: 7}
	must(t, "mkdir", must2(e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte("d"), Mode: 0o755, Origin: o})))
	must(t, "unlink", must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("victim"), Origin: o})))
	if _, err := os.Stat(e.host("victim")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unlink with a reused origin did not run: %v", err)
	}
	// The same mutation re-sent is still answered from the cache.
	r := must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("victim"), Origin: o}))
	if r.err != nil || r.r.GetErrno() != 0 {
		t.Fatalf("re-sent unlink: %v errno %d, want the first reply", r.err, r.r.GetErrno())
	}
}

// TestReplyCacheTypeMismatch: a cache hit of another reply type (which the
// door prevents) is an errno, not a panic.
func TestReplyCacheTypeMismatch(t *testing.T) {
	e := newEnv(t)
	o := &goferpb.Origin{ClientId: "c", Seq: 9}
	once(e.srv, o, "mkdir", func() (*goferpb.MkdirReply, []byte) { return &goferpb.MkdirReply{}, nil }, nil)
	r := once(e.srv, o, "unlink", func() (*goferpb.UnlinkReply, []byte) {
		t.Fatal("duplicate ran")
		return nil, nil
	}, nil)
	if unix.Errno(r.GetErrno()) != unix.EINVAL {
		t.Fatalf("mismatched hit: errno %v, want EINVAL", unix.Errno(r.GetErrno()))
	}
}

// TestRecoverCall: a handler's panic becomes an Internal error of that call.
func TestRecoverCall(t *testing.T) {
	e := newEnv(t)
	call := func() (err error) {
		defer e.srv.recoverCall("Stat", &err)
		panic("a handler bug")
	}
	if err := call(); status.Code(err) != codes.Internal {
		t.Fatalf("panicking call: %v, want Internal", err)
	}
	// The gofer still serves.
	e.stat(e.rootH)
}

// TestReopenRefusesUnsealed: over gRPC, a file handle without this gofer's
// MAC is refused (ESTALE), even one that names a real file beneath the
// root; a sealed one is accepted by a successor with the same key file.
func TestReopenRefusesUnsealed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_by_handle_at needs CAP_DAC_READ_SEARCH")
	}
	key := filepath.Join(t.TempDir(), "gofer.key")
	e := newEnv(t, WithHandleKeyFile(key))
	writeHostFile(t, e.host("f"), "data")
	r := must(t, "walk", must2(e.walk(e.rootH, "f")))
	sealed := r.GetFiles()[0].GetHandle().GetFileHandle()
	if len(sealed) == 0 {
		t.Skip("no file handles on this filesystem")
	}
	raw, err := e.srv.keys.open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name string
		fh   []byte
		want unix.Errno
	}{
		{"sealed", sealed, 0},
		{"raw", append(append([]byte(nil), raw...), make([]byte, handleMACLen)...), unix.ESTALE},
		{"tampered MAC", tampered, unix.ESTALE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unix.Errno(e.reopen(tc.fh).GetErrno()); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
		})
	}
	// A successor with the same key file trusts the same handles.
	k2, err := newHandleKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.open(sealed); err != nil || string(got) != string(raw) {
		t.Fatalf("successor's key refuses its predecessor's handle: %v", err)
	}
}

// TestHandleKeyFileMode: a key file others may read is refused.
func TestHandleKeyFileMode(t *testing.T) {
	key := filepath.Join(t.TempDir(), "gofer.key")
	if _, err := newHandleKeys(key); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v, %v", fi.Mode(), err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newHandleKeys(key); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}

// TestFindBeneathByIdentity: a file outside the root whose path merely
// looks like it lies beneath it (a sibling called "<root> (deleted)", the
// form the kernel gives a deleted directory) is refused; one beneath the
// root is accepted, and a deleted one is refused.
func TestFindBeneathByIdentity(t *testing.T) {
	e := newEnv(t)
	sibling := e.root + " (deleted)"
	writeHostFile(t, sibling, "outside")
	defer os.Remove(sibling)
	writeHostFile(t, e.host("in"), "inside")
	writeHostFile(t, e.host("gone"), "gone")
	gone, err := unix.Open(e.host("gone"), unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(gone)
	os.Remove(e.host("gone"))
	for _, tc := range []struct {
		name string
		path string
		fd   int
		ok   bool
	}{
		{"beneath", e.host("in"), -1, true},
		{"sibling named like the deleted root", sibling, -1, false},
		{"outside", filepath.Join(e.outside), -1, false},
		{"deleted", "", gone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := tc.fd
			if fd < 0 {
				if fd, err = unix.Open(tc.path, unix.O_PATH, 0); err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
			}
			err := e.srv.checkBeneathRoot(fd)
			if (err == nil) != tc.ok {
				t.Fatalf("checkBeneathRoot: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestEveryRequestHandleFieldIsGuarded: every uint64 field of a request is
// either a handle id the door checks or known not to be one, so that a
// new request field cannot slip past the ownership check.
func TestEveryRequestHandleFieldIsGuarded(t *testing.T) {
	sd := goferpb.File_gofer_proto.Services().ByName("Gofer")
	for i := 0; i < sd.Methods().Len(); i++ {
		in := sd.Methods().Get(i).Input()
		for j := 0; j < in.Fields().Len(); j++ {
			fd := in.Fields().Get(j)
			if fd.Kind() != protoreflect.Uint64Kind {
				continue
			}
			if !handleIDFields[fd.Name()] && !notHandleIDFields[fd.Name()] {
				t.Errorf("%s.%s: uint64 field neither a handle id nor known not to be one (gofer/guard.go)", in.Name(), fd.Name())
			}
		}
	}
}
