package server

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// TestCallPanicIsEIO: a panic of a call outside the system call handlers
// (Start, Restore, PageRead, Fault...) fails that call with EIO; the
// server carries on.
func TestCallPanicIsEIO(t *testing.T) {
	defer func(old bool) { panicOnBug = old }(panicOnBug)
	panicOnBug = false
	s, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := fuzzClient(t, s)
	r := func() (r *sentrypb.Reply) {
		defer c.recoverCall(7, &r)
		var p *kernel.Process
		_ = p.PID // a nil dereference
		return &sentrypb.Reply{Seq: 7}
	}()
	if r.GetSeq() != 7 || r.GetErrno() != int32(unix.EIO) {
		t.Fatalf("panicking call replied %v, want seq 7 EIO", r)
	}
	var err2 error
	func() {
		defer s.recoverHandler("Debug", &err2)
		panic("handler bug")
	}()
	if status.Code(err2) != codes.Internal {
		t.Fatalf("panicking handler: %v, want Internal", err2)
	}
}

// TestClientsPerPeer: a peer that is not an operator may hold at most
// MaxClientsPerPeer clients; other peers and operators are not affected.
func TestClientsPerPeer(t *testing.T) {
	s, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog(), MaxClientsPerPeer: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice := grant{principal: "uid:1000", uid: 1000, gid: 1000}
	bob := grant{principal: "uid:1001", uid: 1001, gid: 1001}
	root := grant{principal: "uid:0", operator: true}
	for i, tc := range []struct {
		g  grant
		ok bool
	}{{alice, true}, {alice, true}, {alice, false}, {bob, true}, {root, true}, {root, true}, {root, true}} {
		_, err := s.newClient(&sentrypb.Hello{ClientId: "c"}, tc.g)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errTooManyClients)) {
			t.Fatalf("client %d of %s: %v, want ok=%v", i, tc.g.principal, err, tc.ok)
		}
	}
}
