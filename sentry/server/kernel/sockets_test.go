package kernel

import (
	"errors"
	"testing"

	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

func TestSocketsNamesOnce(t *testing.T) {
	var s Sockets
	if n := s.Names(); n == nil || s.Names() != n {
		t.Fatal("Names() is not one name space made once")
	}
}

// boundEndpoint is a bound endpoint as a key: none of its methods is
// called.
type boundEndpoint struct{ transport.BoundEndpoint }

func TestSocketsBound(t *testing.T) {
	var s Sockets
	a, b := &boundEndpoint{}, &boundEndpoint{}
	fa := &unixsock.File{}
	for _, tc := range []struct {
		name string
		op   func()
		want *unixsock.File
	}{
		{"unknown endpoint", func() {}, nil},
		{"bound", func() { s.SetBound(a, fa) }, fa},
		{"forgotten", func() { s.SetBound(a, nil) }, nil},
	} {
		tc.op()
		if got := s.BoundFile(a); got != tc.want {
			t.Errorf("%s: BoundFile = %p, want %p", tc.name, got, tc.want)
		}
		if got := s.BoundFile(b); got != nil {
			t.Errorf("%s: the other endpoint's BoundFile = %p, want none", tc.name, got)
		}
	}
}

func TestSocketsStack(t *testing.T) {
	var s Sockets
	if s.MadeStack() != nil {
		t.Fatal("a stack before the first Stack")
	}
	if err := s.WithStack(func(st *socket.Stack) error {
		if st != nil {
			t.Error("WithStack saw a stack before it was made")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	made := 0
	newStack := func() (*socket.Stack, error) {
		made++
		return socket.NewLoopbackStack()
	}
	st, err := s.Stack(newStack)
	if err != nil || st == nil {
		t.Fatalf("Stack: %v, %v", st, err)
	}
	if again, _ := s.Stack(newStack); again != st || made != 1 {
		t.Fatalf("second Stack made another (%d made)", made)
	}
	if s.MadeStack() != st {
		t.Fatal("MadeStack is not the stack made")
	}
	s.Release()
	if s.MadeStack() != nil {
		t.Fatal("a stack after Release")
	}

	// A stack that failed keeps its error.
	var f Sockets
	bad := errors.New("no stack")
	fails := func() (*socket.Stack, error) { made++; return nil, bad }
	for i := 0; i < 2; i++ {
		if _, err := f.Stack(fails); !errors.Is(err, bad) {
			t.Fatalf("Stack of a failed stack: %v, want %v", err, bad)
		}
	}
	if made != 2 {
		t.Fatalf("a failed stack was made again (%d made)", made)
	}
}
