package socket

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// Stack is a sandbox's network stack: gVisor's netstack (pkg/tcpip)
// with one loopback interface holding 127.0.0.1/8 and ::1
// (--network=none), and with --network=sandbox one NIC per interface of
// the client's network (sandboxnet.go).
type Stack struct {
	s *stack.Stack
	// links are the sandbox network's NICs by index (nil with none).
	// Set by NewSandboxStack, then immutable.
	links map[int32]*frameLink
}

const loopbackNIC = 1

// NewLoopbackStack builds a loopback-only stack.
func NewLoopbackStack() (*Stack, error) {
	return newStack([]stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol})
}

// newStack builds a stack of the network protocols with its loopback
// interface.
func newStack(netProtos []stack.NetworkProtocolFactory) (*Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   netProtos,
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		HandleLocal:        true,
	})
	if err := s.CreateNIC(loopbackNIC, loopback.New()); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("loopback NIC: %v: %w", err, kobj.TCPIPErr(err))
	}
	v4 := tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
	v6 := tcpip.AddrFrom16([16]byte{15: 1})
	for _, pa := range []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: v4, PrefixLen: 8}},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: v6.WithPrefix()},
	} {
		if err := s.AddProtocolAddress(loopbackNIC, pa, stack.AddressProperties{}); err != nil {
			s.Destroy()
			return nil, fmt.Errorf("loopback address %v: %v: %w", pa.AddressWithPrefix, err, kobj.TCPIPErr(err))
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: tcpip.AddressWithPrefix{Address: v4, PrefixLen: 8}.Subnet(), NIC: loopbackNIC},
		{Destination: v6.WithPrefix().Subnet(), NIC: loopbackNIC},
	})
	// Linux's loopback: SACK on, as gVisor's runsc enables it.
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	return &Stack{s: s}, nil
}

// Destroy stops the stack, its endpoints and its sandbox NICs' links.
func (st *Stack) Destroy() {
	st.s.Destroy()
	for _, l := range st.links {
		l.close()
	}
}

// SetIPv4Forwarding sets IPv4 forwarding on every NIC of the stack
// (net.ipv4.ip_forward).
func (st *Stack) SetIPv4Forwarding(on bool) error {
	if err := st.s.SetForwardingDefaultAndAllNICs(ipv4.ProtocolNumber, on); err != nil {
		return fmt.Errorf("ip_forward: %v: %w", err, kobj.TCPIPErr(err))
	}
	return nil
}

// Inet is an AF_INET or AF_INET6 socket: a pkg/tcpip endpoint.
type Inet struct {
	EP     tcpip.Endpoint
	WQ     *waiter.Queue
	Watch  *kobj.Watch
	Family int
	// Stream is TCP (else UDP).
	Stream bool
}

// NewInet makes a TCP (stream) or UDP (dgram) socket of family.
func (st *Stack) NewInet(family int, stream bool) (*Inet, error) {
	netProto := ipv4.ProtocolNumber
	if family == unix.AF_INET6 {
		netProto = ipv6.ProtocolNumber
	}
	proto := udp.ProtocolNumber
	if stream {
		proto = tcp.ProtocolNumber
	}
	wq := &waiter.Queue{}
	ep, err := st.s.NewEndpoint(proto, netProto, wq)
	if err != nil {
		return nil, kobj.TCPIPErr(err)
	}
	return wrapInet(ep, wq, family, stream), nil
}

func wrapInet(ep tcpip.Endpoint, wq *waiter.Queue, family int, stream bool) *Inet {
	if stream {
		// Nagle's algorithm is on by default on Linux (TCP_NODELAY 0).
		ep.SocketOptions().SetDelayOption(true)
	}
	return &Inet{EP: ep, WQ: wq, Watch: kobj.NewQueueWatch(wq), Family: family, Stream: stream}
}

// Release closes the endpoint.
func (s *Inet) Release() {
	s.Watch.Stop()
	s.EP.Close()
}

// Readiness returns the poll events ready now.
func (s *Inet) Readiness() uint32 { return uint32(s.EP.Readiness(waiter.AllEvents)) }

// ParseInetAddr parses a sockaddr_in or sockaddr_in6 for a socket of
// family. An IPv4 address given to an AF_INET6 socket (bind and connect
// accept AF_INET there) is mapped. The unspecified address is empty, as
// pkg/tcpip expects.
func ParseInetAddr(family int, b []byte) (tcpip.FullAddress, error) {
	if len(b) < 2 {
		return tcpip.FullAddress{}, unix.EINVAL
	}
	af := int(binary.LittleEndian.Uint16(b))
	var a tcpip.FullAddress
	switch af {
	case unix.AF_INET:
		if len(b) < 16 {
			return a, unix.EINVAL
		}
		a.Port = binary.BigEndian.Uint16(b[2:])
		var ip [4]byte
		copy(ip[:], b[4:8])
		if ip != [4]byte{} {
			a.Addr = tcpip.AddrFrom4(ip)
			if family == unix.AF_INET6 {
				var m [16]byte
				m[10], m[11] = 0xff, 0xff
				copy(m[12:], ip[:])
				a.Addr = tcpip.AddrFrom16(m)
			}
		} else if family == unix.AF_INET6 {
			a.Addr = tcpip.AddrFrom16([16]byte{10: 0xff, 11: 0xff})
		}
	case unix.AF_INET6:
		if family != unix.AF_INET6 {
			return a, unix.EAFNOSUPPORT
		}
		if len(b) < 24 {
			return a, unix.EINVAL
		}
		a.Port = binary.BigEndian.Uint16(b[2:])
		var ip [16]byte
		copy(ip[:], b[8:24])
		if ip != [16]byte{} {
			a.Addr = tcpip.AddrFrom16(ip)
		}
	default:
		return a, unix.EAFNOSUPPORT
	}
	return a, nil
}

// EncodeInetAddr is the sockaddr of a, for a socket of family.
func EncodeInetAddr(family int, a tcpip.FullAddress) []byte {
	if family == unix.AF_INET {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.Port)
		if a.Addr.Len() == 4 {
			ip := a.Addr.As4()
			copy(b[4:], ip[:])
		}
		return b
	}
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.Port)
	switch a.Addr.Len() {
	case 16:
		ip := a.Addr.As16()
		copy(b[8:], ip[:])
	case 4:
		ip := a.Addr.As4()
		b[18], b[19] = 0xff, 0xff
		copy(b[20:], ip[:])
	}
	return b
}

// PeerOutside reports whether a connection's peer, as its replay record
// has it (local and peer: sockaddrs of a socket of family), is outside
// the sandbox: neither a loopback address nor the connection's own
// local address (a connection the sandbox made to itself). An address
// that does not parse (an older record without the peer) is inside.
func PeerOutside(family int, local, peer []byte) bool {
	pa, err := ParseInetAddr(family, peer)
	if err != nil || pa.Addr.Len() == 0 {
		return false
	}
	if la, err := ParseInetAddr(family, local); err == nil && la.Addr == pa.Addr {
		return false
	}
	return !isLoopback(pa.Addr)
}

// isLoopback reports whether a is 127.0.0.0/8, ::1 or 127.0.0.0/8
// mapped into IPv6.
func isLoopback(a tcpip.Address) bool {
	switch a.Len() {
	case 4:
		return a.As4()[0] == 127
	case 16:
		ip := a.As16()
		if ip == [16]byte{15: 1} {
			return true
		}
		return [12]byte(ip[:12]) == [12]byte{10: 0xff, 11: 0xff} && ip[12] == 127
	}
	return false
}

// seqPayload is a tcpip.Payloader over an IOSequence (the application's
// buffers, through kobj.IO).
type seqPayload struct {
	rw usermem.IOSequenceReadWriter
	n  int
}

func (p *seqPayload) Read(b []byte) (int, error) {
	n, err := p.rw.Read(b)
	p.n -= n
	return n, err
}

func (p *seqPayload) Len() int { return p.n }

// Send makes one non-blocking write of src (to: a UDP target, or nil;
// more: MSG_MORE).
func (s *Inet) Send(src usermem.IOSequence, to *tcpip.FullAddress, more bool) (int64, error) {
	p := &seqPayload{n: int(src.NumBytes())}
	p.rw.Init(kobj.Ctx(), src)
	n, err := s.EP.Write(p, tcpip.WriteOptions{To: to, More: more})
	if err != nil {
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			return n, unix.EAGAIN
		}
		return n, kobj.TCPIPErr(err)
	}
	return n, nil
}

// seqWriter is an io.Writer over an IOSequence (the application's
// buffers, through kobj.IO); Recv bounds it with a tcpip.LimitedWriter so
// that netstack never writes past the buffers.
type seqWriter struct {
	seq usermem.IOSequence
}

func (w *seqWriter) Write(b []byte) (int, error) {
	n, err := w.seq.CopyOut(kobj.Ctx(), b)
	w.seq = w.seq.DropFirst(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return n, err
}

// Recv makes one non-blocking read into dst. It returns the bytes read,
// the datagram's full length (UDP; TCP: the bytes read) and its source.
func (s *Inet) Recv(dst usermem.IOSequence, peek bool) (int64, int64, tcpip.FullAddress, error) {
	w := &tcpip.LimitedWriter{W: &seqWriter{seq: dst}, N: dst.NumBytes()}
	res, err := s.EP.Read(w, tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: true})
	if err != nil {
		switch err.(type) {
		case *tcpip.ErrWouldBlock:
			return 0, 0, tcpip.FullAddress{}, unix.EAGAIN
		case *tcpip.ErrClosedForReceive:
			return 0, 0, tcpip.FullAddress{}, nil
		}
		return 0, 0, tcpip.FullAddress{}, kobj.TCPIPErr(err)
	}
	return int64(res.Count), int64(res.Total), res.RemoteAddr, nil
}

// Connect starts (or, called again, completes) a connection: EINPROGRESS
// while a TCP handshake is under way.
func (s *Inet) Connect(a tcpip.FullAddress) error {
	err := s.EP.Connect(a)
	switch err.(type) {
	case nil:
		return nil
	case *tcpip.ErrConnectStarted, *tcpip.ErrAlreadyConnecting:
		return unix.EINPROGRESS
	case *tcpip.ErrNoPortAvailable:
		if s.Stream {
			return unix.EADDRNOTAVAIL
		}
	}
	return kobj.TCPIPErr(err)
}

// Bind binds to a (EADDRINUSE when the port is taken).
func (s *Inet) Bind(a tcpip.FullAddress) error {
	err := s.EP.Bind(a)
	if _, ok := err.(*tcpip.ErrNoPortAvailable); ok {
		return unix.EADDRINUSE
	}
	return kobj.TCPIPErr(err)
}

// Accept returns a connection from the backlog (EAGAIN if none).
func (s *Inet) Accept() (*Inet, tcpip.FullAddress, error) {
	var peer tcpip.FullAddress
	ep, wq, err := s.EP.Accept(&peer)
	if err != nil {
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			return nil, peer, unix.EAGAIN
		}
		return nil, peer, kobj.TCPIPErr(err)
	}
	return wrapInet(ep, wq, s.Family, s.Stream), peer, nil
}

// SetKeepalive sets TCP_KEEPIDLE (idle) or TCP_KEEPINTVL.
func (s *Inet) SetKeepalive(idle bool, d time.Duration) error {
	if idle {
		o := tcpip.KeepaliveIdleOption(d)
		return kobj.TCPIPErr(s.EP.SetSockOpt(&o))
	}
	o := tcpip.KeepaliveIntervalOption(d)
	return kobj.TCPIPErr(s.EP.SetSockOpt(&o))
}

// Listening reports a TCP socket in the LISTEN state.
func (s *Inet) Listening() bool {
	return s.Stream && tcp.EndpointState(s.EP.State()) == tcp.StateListen
}
