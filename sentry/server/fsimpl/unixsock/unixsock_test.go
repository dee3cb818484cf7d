package unixsock

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

type namespace struct{ unbound int }

func (n *namespace) Unbound(transport.BoundEndpoint) { n.unbound++ }

func pair(t *testing.T, stype linux.SockType, ns Namespace) (*fdesc.File, *fdesc.File, *Conn) {
	t.Helper()
	ua, ub := socket.NewUnixPair(stype, socket.Creds{Pid: 1})
	a, b := New(ns, ua, unix.O_NONBLOCK), New(ns, ub, unix.O_NONBLOCK)
	cn := NewConn(0, stype == linux.SOCK_STREAM)
	cn.PairFiles(a, b)
	return a, b, cn
}

// TestPairMirror: what one end sends is in the mirror of the other's
// queue until read, for streams (bytes) and datagrams (messages).
func TestPairMirror(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stype linux.SockType
		sends []string
		read  int
		// wantRead is what the read returns; wantLeft what the mirror
		// still holds for b.
		wantRead string
		wantLeft []string
	}{
		{name: "stream", stype: linux.SOCK_STREAM, sends: []string{"abc", "def"}, read: 4, wantRead: "abcd", wantLeft: []string{"ef"}},
		{name: "datagram", stype: linux.SOCK_DGRAM, sends: []string{"abc", "def"}, read: 16, wantRead: "abc", wantLeft: []string{"def"}},
		{name: "seqpacket truncated", stype: linux.SOCK_SEQPACKET, sends: []string{"abcdef"}, read: 2, wantRead: "ab", wantLeft: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, cn := pair(t, tc.stype, &namespace{})
			defer a.DecRef()
			defer b.DecRef()
			c := &fdesctest.Call{}
			for _, m := range tc.sends {
				if n, err := a.Impl.Write(c, a, []byte(m), 0); n != len(m) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", m, n, err)
				}
			}
			if n, err := b.Impl.(*File).Queued(); err != nil || n == 0 {
				t.Errorf("Queued() = %d, %v", n, err)
			}
			got, err := b.Impl.Read(c, b, tc.read, 0)
			if err != nil || string(got) != tc.wantRead {
				t.Errorf("Read = %q, %v; want %q", got, err, tc.wantRead)
			}
			cn.Mu.Lock()
			var left []string
			for _, q := range cn.QueuedLocked(1) {
				left = append(left, string(q))
			}
			charge := cn.In[1].charge
			cn.Mu.Unlock()
			if len(left) != len(tc.wantLeft) || (len(left) > 0 && left[0] != tc.wantLeft[0]) {
				t.Errorf("mirror holds %q, want %q", left, tc.wantLeft)
			}
			if tc.stype != linux.SOCK_STREAM {
				var want int64
				for _, m := range tc.wantLeft {
					want += DgramCharge(len(m))
				}
				if charge != want {
					t.Errorf("charge %d, want %d", charge, want)
				}
			}
			if _, err := b.Impl.Read(c, b, 16, 0); tc.wantLeft == nil && err != unix.EAGAIN {
				t.Errorf("Read of an empty socket = %v, want EAGAIN", err)
			}
		})
	}
}

// TestReset: a socket restored reset fails its next I/O with
// ECONNRESET, once.
func TestReset(t *testing.T) {
	a, b, _ := pair(t, linux.SOCK_STREAM, &namespace{})
	defer a.DecRef()
	defer b.DecRef()
	s := a.Impl.(*File)
	s.Mu.Lock()
	s.Reset = true
	s.Mu.Unlock()
	c := &fdesctest.Call{}
	if _, err := a.Impl.Write(c, a, []byte("x"), 0); err != unix.ECONNRESET {
		t.Errorf("Write after reset = %v, want ECONNRESET", err)
	}
	if _, err := a.Impl.Write(c, a, []byte("x"), 0); err != nil {
		t.Errorf("then Write = %v, want it to go", err)
	}
}

// TestEPIPE: a stream write whose peer is gone is EPIPE with SIGPIPE,
// unless MSG_NOSIGNAL.
func TestEPIPE(t *testing.T) {
	a, b, _ := pair(t, linux.SOCK_STREAM, &namespace{})
	defer a.DecRef()
	b.DecRef()
	s := a.Impl.(*File)
	c := &fdesctest.Call{}
	if _, err := s.Send(c, a, usermem.BytesIOSequence([]byte("x")), transport.ControlMessages{}, nil, unix.MSG_NOSIGNAL); err != unix.EPIPE || c.SIGPIPE {
		t.Errorf("Send(MSG_NOSIGNAL) = %v, SIGPIPE %v; want EPIPE without", err, c.SIGPIPE)
	}
	if _, err := s.Send(c, a, usermem.BytesIOSequence([]byte("x")), transport.ControlMessages{}, nil, 0); err != unix.EPIPE || !c.SIGPIPE {
		t.Errorf("Send = %v, SIGPIPE %v; want EPIPE with", err, c.SIGPIPE)
	}
}

// TestReleaseUnbinds: only a named socket's release tells the name
// space.
func TestReleaseUnbinds(t *testing.T) {
	for _, named := range []bool{false, true} {
		ns := &namespace{}
		f := New(ns, socket.NewUnix(linux.SOCK_STREAM, socket.Creds{}), 0)
		s := f.Impl.(*File)
		s.Mu.Lock()
		s.Named = named
		s.Mu.Unlock()
		f.DecRef()
		if want := map[bool]int{false: 0, true: 1}[named]; ns.unbound != want {
			t.Errorf("named %v: %d unbinds, want %d", named, ns.unbound, want)
		}
	}
}

func TestCreds(t *testing.T) {
	c := &fdesctest.Call{Pid: 12}
	c.Caller.EUID, c.Caller.EGID = 1000, 100
	if got := Creds(c); got != (socket.Creds{Pid: 12, Uid: 1000, Gid: 100}) {
		t.Errorf("Creds = %+v", got)
	}
}
