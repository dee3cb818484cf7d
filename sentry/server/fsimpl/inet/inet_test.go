package inet

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

func newStack(t *testing.T) *socket.Stack {
	t.Helper()
	st, err := socket.NewLoopbackStack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Destroy)
	return st
}

func newSock(t *testing.T, st *socket.Stack, stream bool, flags uint32) (*fdesc.File, *File) {
	t.Helper()
	s, err := st.NewInet(unix.AF_INET, stream)
	if err != nil {
		t.Fatal(err)
	}
	f := New(s, flags)
	t.Cleanup(f.DecRef)
	return f, f.Impl.(*File)
}

// TestTCP: a loopback connection carries bytes both ways through the
// shared send, receive and accept loops, and a lost one fails as a
// reset connection does.
func TestTCP(t *testing.T) {
	st := newStack(t)
	_, l := newSock(t, st, true, 0)
	l.SetBacklog(0)
	if l.Backlog() != 1 {
		t.Errorf("Backlog() = %d, want 1 (at least one)", l.Backlog())
	}
	cf, cl, af, a := tcpPair(t, st)
	defer cf.DecRef()
	c := &fdesctest.Call{}

	if n, err := cl.Write(c, cf, []byte("hello"), 0); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	b, err := a.Read(c, af, 16, 0)
	if err != nil || string(b) != "hello" {
		t.Errorf("Read = %q, %v", b, err)
	}
	// MSG_WAITALL waits for the whole buffer across two sends.
	cl.Write(c, cf, []byte("ab"), 0)
	go func() {
		time.Sleep(20 * time.Millisecond)
		cl.Write(&fdesctest.Call{}, cf, []byte("cd"), 0)
	}()
	buf := make([]byte, 4)
	n, _, _, err := a.Recv(c, af, usermem.BytesIOSequence(buf), unix.MSG_WAITALL)
	if n != 4 || err != nil || string(buf) != "abcd" {
		t.Errorf("Recv(MSG_WAITALL) = %d %q, %v", n, buf, err)
	}
	if _, _, _, err := a.Recv(c, af, usermem.BytesIOSequence(buf), unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Errorf("Recv(MSG_DONTWAIT) on nothing = %v, want EAGAIN", err)
	}
	if _, err := cl.Send(c, cf, usermem.BytesIOSequence([]byte("x")), nil, unix.MSG_OOB); err != unix.EOPNOTSUPP {
		t.Errorf("Send(MSG_OOB) = %v, want EOPNOTSUPP", err)
	}
	if _, _, _, err := a.Recv(c, af, usermem.BytesIOSequence(buf), unix.MSG_OOB); err != unix.EINVAL {
		t.Errorf("Recv(MSG_OOB) on TCP = %v, want EINVAL", err)
	}

	// A connection lost with a server: ECONNRESET once, then end of
	// file for reads and EPIPE (with SIGPIPE) for writes.
	a.SetLost(unix.AF_INET, nil, nil)
	if _, err := a.Read(c, af, 4, 0); err != unix.ECONNRESET {
		t.Errorf("first read after the loss = %v, want ECONNRESET", err)
	}
	if b, err := a.Read(c, af, 4, 0); len(b) != 0 || err != nil {
		t.Errorf("then Read = %q, %v; want end of file", b, err)
	}
	if _, err := a.Write(c, af, []byte("x"), 0); err != unix.EPIPE || !c.SIGPIPE {
		t.Errorf("then Write = %v (SIGPIPE %v), want EPIPE with SIGPIPE", err, c.SIGPIPE)
	}
	c2 := &fdesctest.Call{}
	if _, err := a.Send(c2, af, usermem.BytesIOSequence([]byte("x")), nil, unix.MSG_NOSIGNAL); err != unix.EPIPE || c2.SIGPIPE {
		t.Errorf("Send(MSG_NOSIGNAL) = %v (SIGPIPE %v), want EPIPE without", err, c2.SIGPIPE)
	}
}

// TestLostResentSend: on a connection lost with a server, a send the
// client re-sent after the Restore succeeds whole when the peer is
// outside the sandbox (its bytes may have reached it), before or after
// the reset was taken, and leaves the reset to the next call; with a
// peer of the sandbox's own (loopback, the connection's own address, or
// unknown) it fails as any send does.
func TestLostResentSend(t *testing.T) {
	v4 := func(a, b, c, d byte, port uint16) []byte {
		return socket.EncodeInetAddr(unix.AF_INET, tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{a, b, c, d}), Port: port})
	}
	st := newStack(t)
	for _, tc := range []struct {
		name        string
		local, peer []byte
		done        bool
	}{
		{"outside", v4(10, 0, 0, 2, 40000), v4(10, 0, 0, 1, 80), true},
		{"loopback", v4(127, 0, 0, 1, 40000), v4(127, 0, 0, 1, 80), false},
		{"own address", v4(10, 0, 0, 2, 40000), v4(10, 0, 0, 2, 80), false},
		{"unknown peer", v4(10, 0, 0, 2, 40000), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s := newSock(t, st, true, 0)
			if _, _, lost := s.Lost(); lost {
				t.Errorf("Lost before SetLost")
			}
			s.SetLost(unix.AF_INET, tc.local, tc.peer)
			resent := &fdesctest.Call{Again: true}
			n, err := s.Write(resent, f, []byte("xyz"), 0)
			if tc.done && (n != 3 || err != nil) {
				t.Errorf("re-sent Write = %d, %v; want 3, nil", n, err)
			} else if !tc.done && err != unix.ECONNRESET {
				t.Errorf("re-sent Write = %d, %v; want ECONNRESET", n, err)
			}
			if tc.done {
				if _, err := s.Read(&fdesctest.Call{}, f, 4, 0); err != unix.ECONNRESET {
					t.Errorf("read after the re-sent write = %v, want ECONNRESET", err)
				}
				if n, err := s.Send(resent, f, usermem.BytesIOSequence([]byte("xy")), nil, 0); n != 2 || err != nil || resent.SIGPIPE {
					t.Errorf("re-sent Send after the reset was taken = %d, %v (SIGPIPE %v); want 2, nil", n, err, resent.SIGPIPE)
				}
			}
			if n, err := s.Write(&fdesctest.Call{}, f, []byte("x"), 0); err != unix.EPIPE {
				t.Errorf("a new Write = %d, %v; want EPIPE", n, err)
			}
			local, peer, lost := s.Lost()
			if !lost || !bytes.Equal(local, tc.local) || !bytes.Equal(peer, tc.peer) {
				t.Errorf("Lost() = %x, %x, %v; want %x, %x, true", local, peer, lost, tc.local, tc.peer)
			}
		})
	}
}

func TestUDPAccept(t *testing.T) {
	f, s := newSock(t, newStack(t), false, 0)
	if _, _, err := s.Accept(&fdesctest.Call{}, f); err != unix.EOPNOTSUPP {
		t.Errorf("Accept on UDP = %v, want EOPNOTSUPP", err)
	}
	if to, err := s.Target(nil); to != nil || err != nil {
		t.Errorf("Target(nil) = %v, %v", to, err)
	}
}

func TestSockopt(t *testing.T) {
	st := newStack(t)
	_, tcp := newSock(t, st, true, 0)
	_, udp := newSock(t, st, false, 0)
	one := []byte{1, 0, 0, 0}
	tv := make([]byte, 16)
	tv[0] = 2 // 2 s
	for _, tc := range []struct {
		name       string
		s          *File
		get        bool
		level, opt int
		v          []byte
		privileged bool
		want       []byte
		wantErr    error
	}{
		{name: "SO_TYPE", s: tcp, get: true, level: unix.SOL_SOCKET, opt: unix.SO_TYPE, want: putInt(unix.SOCK_STREAM)},
		{name: "set SO_TYPE", s: tcp, level: unix.SOL_SOCKET, opt: unix.SO_TYPE, v: one, wantErr: unix.ENOPROTOOPT},
		{name: "short value", s: tcp, level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, v: one[:2], wantErr: unix.EINVAL},
		{name: "set SO_KEEPALIVE", s: tcp, level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, v: one},
		{name: "get SO_KEEPALIVE", s: tcp, get: true, level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, want: putInt(1)},
		{name: "SO_RCVBUFFORCE unprivileged", s: tcp, level: unix.SOL_SOCKET, opt: unix.SO_RCVBUFFORCE, v: one, wantErr: unix.EPERM},
		{name: "set SO_RCVTIMEO", s: tcp, level: unix.SOL_SOCKET, opt: unix.SO_RCVTIMEO, v: tv},
		{name: "get SO_RCVTIMEO", s: tcp, get: true, level: unix.SOL_SOCKET, opt: unix.SO_RCVTIMEO, want: tv},
		{name: "TCP level on UDP, get", s: udp, get: true, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, wantErr: unix.EOPNOTSUPP},
		{name: "TCP level on UDP, set", s: udp, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, v: one, wantErr: unix.ENOPROTOOPT},
		{name: "UDP level on TCP", s: tcp, get: true, level: unix.IPPROTO_UDP, opt: 1, wantErr: unix.EOPNOTSUPP},
		{name: "IPv6 level on IPv4", s: tcp, get: true, level: unix.IPPROTO_IPV6, opt: unix.IPV6_V6ONLY, wantErr: unix.EOPNOTSUPP},
		{name: "unknown level", s: tcp, get: true, level: 999, opt: 1, wantErr: unix.EOPNOTSUPP},
		{name: "TCP_NODELAY", s: tcp, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, v: one},
		{name: "get TCP_NODELAY", s: tcp, get: true, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, want: putInt(1)},
		{name: "TCP_KEEPIDLE 0", s: tcp, level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPIDLE, v: make([]byte, 4), wantErr: unix.EINVAL},
		{name: "IP level, unknown name", s: udp, get: true, level: unix.IPPROTO_IP, opt: unix.IP_TTL, wantErr: unix.ENOPROTOOPT},
	} {
		got, err := tc.s.Sockopt(tc.get, tc.level, tc.opt, tc.v, tc.privileged)
		if err != tc.wantErr || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: Sockopt = %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestHostOptions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		stream        bool
		family        int
		get           bool
		level, opt    int
		wantErr       error
		forcedPlain   int
		forcedPrivErr error
	}{
		{name: "TCP_NODELAY", stream: true, family: unix.AF_INET, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY},
		{name: "TCP on UDP", family: unix.AF_INET, get: true, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, wantErr: unix.EOPNOTSUPP},
		{name: "IPv6 on IPv4, set", stream: true, family: unix.AF_INET, level: unix.IPPROTO_IPV6, opt: unix.IPV6_V6ONLY, wantErr: unix.ENOPROTOOPT},
		{name: "IPv6 on IPv6", stream: true, family: unix.AF_INET6, level: unix.IPPROTO_IPV6, opt: unix.IPV6_V6ONLY},
		{name: "SO_MARK is the operator's", stream: true, family: unix.AF_INET, level: unix.SOL_SOCKET, opt: unix.SO_MARK, wantErr: unix.ENOPROTOOPT},
		{name: "IP_PKTINFO", family: unix.AF_INET, level: unix.IPPROTO_IP, opt: unix.IP_PKTINFO, wantErr: unix.ENOPROTOOPT},
	} {
		h := &HostFile{S: &socket.HostInet{Family: tc.family, Stream: tc.stream}}
		if err := h.HostOption(tc.get, tc.level, tc.opt); err != tc.wantErr {
			t.Errorf("%s: HostOption = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		name       string
		opt        int
		privileged bool
		want       int
		wantErr    error
	}{
		{name: "SO_RCVBUFFORCE", opt: unix.SO_RCVBUFFORCE, privileged: true, want: unix.SO_RCVBUF},
		{name: "SO_SNDBUFFORCE", opt: unix.SO_SNDBUFFORCE, privileged: true, want: unix.SO_SNDBUF},
		{name: "unprivileged", opt: unix.SO_SNDBUFFORCE, wantErr: unix.EPERM},
		{name: "another option", opt: unix.SO_SNDBUF},
	} {
		if got, err := ForcedOption(tc.opt, tc.privileged); got != tc.want || err != tc.wantErr {
			t.Errorf("%s: ForcedOption = %d, %v; want %d, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSockType(t *testing.T) {
	for _, tc := range []struct {
		stype, proto int
		privileged   bool
		stream       bool
		wantErr      error
	}{
		{unix.SOCK_STREAM, 0, false, true, nil},
		{unix.SOCK_STREAM, unix.IPPROTO_UDP, false, false, unix.EPROTONOSUPPORT},
		{unix.SOCK_DGRAM, unix.IPPROTO_UDP, false, false, nil},
		{unix.SOCK_RAW, 0, true, false, unix.EPROTONOSUPPORT},
		{unix.SOCK_RAW, unix.IPPROTO_ICMP, false, false, unix.EPERM},
		{unix.SOCK_RAW, unix.IPPROTO_ICMP, true, false, unix.ESOCKTNOSUPPORT},
		{unix.SOCK_SEQPACKET, 0, false, false, unix.ESOCKTNOSUPPORT},
	} {
		if stream, err := SockType(tc.stype, tc.proto, tc.privileged); stream != tc.stream || err != tc.wantErr {
			t.Errorf("SockType(%d, %d, %v) = %v, %v; want %v, %v", tc.stype, tc.proto, tc.privileged, stream, err, tc.stream, tc.wantErr)
		}
	}
}

// TestLostErrors: a connection lost with a server reports what Linux
// reports for a reset connection (tcp_poll, sock_error): readable,
// writable, hung up and in error until the reset is taken, by SO_ERROR
// (ECONNRESET once, then 0) or by the next I/O; then the same without
// POLLERR, reads at end of file and writes EPIPE.
func TestLostErrors(t *testing.T) {
	const hup = linux.POLLIN | linux.POLLRDNORM | linux.POLLOUT | linux.POLLWRNORM | linux.POLLHUP | linux.POLLRDHUP
	st := newStack(t)
	soError := func(s *File) int32 {
		t.Helper()
		v, err := s.Sockopt(true, unix.SOL_SOCKET, unix.SO_ERROR, nil, false)
		if err != nil || len(v) != 4 {
			t.Fatalf("SO_ERROR = %v, %v", v, err)
		}
		return int32(v[0]) | int32(v[1])<<8
	}
	for _, tc := range []struct {
		name string
		// take takes the reset and says what it got.
		take    func(c *fdesctest.Call, f *fdesc.File, s *File) error
		wantErr error
	}{
		{"SO_ERROR", func(_ *fdesctest.Call, _ *fdesc.File, s *File) error {
			if e := soError(s); e != 0 {
				return unix.Errno(e)
			}
			return nil
		}, unix.ECONNRESET},
		{"read", func(c *fdesctest.Call, f *fdesc.File, s *File) error {
			_, err := s.Read(c, f, 4, 0)
			return err
		}, unix.ECONNRESET},
		{"write", func(c *fdesctest.Call, f *fdesc.File, s *File) error {
			_, err := s.Write(c, f, []byte("x"), 0)
			return err
		}, unix.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s := newSock(t, st, true, 0)
			if ev, _ := s.Readiness(f); ev&linux.POLLERR != 0 {
				t.Fatalf("a fresh socket's readiness %#x has POLLERR", ev)
			}
			if e := soError(s); e != 0 {
				t.Fatalf("a fresh socket's SO_ERROR = %d", e)
			}
			s.SetLost(unix.AF_INET, nil, nil)
			if ev, _ := s.Readiness(f); ev != hup|linux.POLLERR {
				t.Errorf("readiness once lost = %#x, want %#x", ev, hup|linux.POLLERR)
			}
			c := &fdesctest.Call{}
			if err := tc.take(c, f, s); err != tc.wantErr {
				t.Errorf("%s = %v, want %v", tc.name, err, tc.wantErr)
			}
			if ev, _ := s.Readiness(f); ev != hup {
				t.Errorf("readiness after the reset was taken = %#x, want %#x", ev, hup)
			}
			if e := soError(s); e != 0 {
				t.Errorf("SO_ERROR after the reset was taken = %d, want 0", e)
			}
			if b, err := s.Read(c, f, 4, 0); len(b) != 0 || err != nil {
				t.Errorf("then Read = %q, %v; want end of file", b, err)
			}
			if _, err := s.Send(c, f, usermem.BytesIOSequence([]byte("x")), nil, unix.MSG_NOSIGNAL); err != unix.EPIPE {
				t.Errorf("then Send = %v, want EPIPE", err)
			}
			if _, _, lost := s.Lost(); !lost {
				t.Errorf("Lost() = false after the reset was taken")
			}
		})
	}
}
