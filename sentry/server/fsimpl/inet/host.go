package inet

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// HostFile is an AF_INET or AF_INET6 socket of the server's host
// (--network=host). The host does the work; the server blocks on the
// socket's readiness and keeps what recovery and SIGPIPE need.
type HostFile struct {
	Common
	// S is the host socket. Immutable.
	S *socket.HostInet
	// reuseAddr is the SO_REUSEADDR the application set on a TCP socket
	// (the host socket always has it: socket.NewHostInet). Protected by
	// Common.mu.
	reuseAddr bool
}

// NewHost returns a description of host socket s with flags'
// O_NONBLOCK.
func NewHost(s *socket.HostInet, flags uint32) *fdesc.File {
	return fdesc.NewFile(&HostFile{Common: newCommon(), S: s}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// ReuseAddr returns the application's SO_REUSEADDR.
func (s *HostFile) ReuseAddr() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuseAddr
}

// SetReuseAddr records the application's SO_REUSEADDR.
func (s *HostFile) SetReuseAddr(v bool) {
	s.mu.Lock()
	s.reuseAddr = v
	s.mu.Unlock()
}

// Read serves callers that have bytes rather than application buffers.
func (s *HostFile) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := s.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

// Write serves callers that have bytes rather than application buffers.
func (s *HostFile) Write(c fdesc.Call, f *fdesc.File, b []byte, _ int64) (int, error) {
	n, err := s.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

// ReadSeq is read(2): Recv with no flags.
func (s *HostFile) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	n, _, _, err := s.Recv(c, f, dst, 0)
	return n, err
}

// WriteSeq is write(2): Send with no flags.
func (s *HostFile) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	return s.Send(c, f, src, nil, 0)
}

// Readiness returns the events ready now and a channel closed when they
// may have changed.
func (s *HostFile) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	return s.readiness(s.S.Watch, s.S.Readiness)
}

// Release closes the host socket.
func (s *HostFile) Release() { s.S.Release() }

// Stat is the anonymous inode's.
func (s *HostFile) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

// Queued is FIONREAD (EINVAL on a listener).
func (s *HostFile) Queued() (int, error) {
	if s.S.Listening() {
		return 0, unix.EINVAL
	}
	return s.S.Queued()
}

// Send sends src (to: a target address, or nil). A stream send blocks
// until all is sent unless non-blocking.
func (s *HostFile) Send(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, to []byte, flags int) (int64, error) {
	return s.send(c, f, s.S.Watch, s.S.Stream, src, flags, func(src usermem.IOSequence) (int64, error) {
		return s.S.Send(src, to, flags)
	})
}

// Recv receives into dst; it returns the bytes read, the datagram's
// length and its source.
func (s *HostFile) Recv(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence, flags int) (int64, int64, []byte, error) {
	if err := recvFlags(s.S.Stream, false, flags); err != nil {
		return 0, 0, nil, err
	}
	return recv(&s.Common, c, f, s.S.Watch, s.S.Stream, dst, flags, func(dst usermem.IOSequence) (int64, int64, []byte, error) {
		return s.S.Recv(dst, flags)
	})
}

// Accept waits (unless non-blocking) for a connection and returns it
// with its peer's address.
func (s *HostFile) Accept(c fdesc.Call, f *fdesc.File) (*socket.HostInet, []byte, error) {
	return accept(c, f, s.S.Watch, s.S.Accept)
}

// hostOptions are the options a host socket takes to its host as they
// are, by level. Others fail with ENOPROTOOPT: those that produce
// control messages (IP_PKTINFO, IP_RECVERR, ...) would need the
// messages carried, and those that reach past the socket (SO_MARK,
// SO_BINDTODEVICE, IP_TRANSPARENT, ...) are the operator's, not the
// application's.
var hostOptions = map[int]map[int]bool{
	unix.SOL_SOCKET: {
		unix.SO_TYPE: true, unix.SO_DOMAIN: true, unix.SO_PROTOCOL: true, unix.SO_ERROR: true,
		unix.SO_ACCEPTCONN: true, unix.SO_REUSEADDR: true, unix.SO_REUSEPORT: true,
		unix.SO_KEEPALIVE: true, unix.SO_BROADCAST: true, unix.SO_SNDBUF: true, unix.SO_RCVBUF: true,
		unix.SO_LINGER: true, unix.SO_OOBINLINE: true, unix.SO_RCVLOWAT: true, unix.SO_SNDLOWAT: true,
	},
	unix.IPPROTO_TCP: {
		unix.TCP_NODELAY: true, unix.TCP_MAXSEG: true, unix.TCP_CORK: true, unix.TCP_KEEPIDLE: true,
		unix.TCP_KEEPINTVL: true, unix.TCP_KEEPCNT: true, unix.TCP_SYNCNT: true, unix.TCP_LINGER2: true,
		unix.TCP_DEFER_ACCEPT: true, unix.TCP_QUICKACK: true, unix.TCP_USER_TIMEOUT: true,
		unix.TCP_INFO: true, unix.TCP_CONGESTION: true, unix.TCP_NOTSENT_LOWAT: true,
	},
	unix.IPPROTO_IP: {
		unix.IP_TOS: true, unix.IP_TTL: true, unix.IP_MULTICAST_TTL: true, unix.IP_MULTICAST_LOOP: true,
		unix.IP_MTU_DISCOVER: true, unix.IP_MULTICAST_IF: true, unix.IP_ADD_MEMBERSHIP: true, unix.IP_DROP_MEMBERSHIP: true,
		unix.MCAST_JOIN_GROUP: true, unix.MCAST_LEAVE_GROUP: true,
	},
	unix.IPPROTO_UDP: {},
	unix.IPPROTO_IPV6: {
		unix.IPV6_V6ONLY: true, unix.IPV6_UNICAST_HOPS: true, unix.IPV6_TCLASS: true,
		unix.IPV6_MULTICAST_HOPS: true, unix.IPV6_MULTICAST_LOOP: true,
	},
}

// HostOption says whether option name of level goes to the host as it
// is: nil, or the errno (an unknown level's, ENOPROTOOPT). The options
// the server keeps (the timeouts, SO_REUSEADDR of a TCP socket,
// SO_*BUFFORCE) are the caller's to take first.
func (s *HostFile) HostOption(get bool, level, name int) error {
	names, ok := hostOptions[level]
	if !ok || !levelApplies(level, s.S.Stream, s.S.Family) {
		return UnknownLevel(s.S.Family, get)
	}
	if !names[name] {
		return unix.ENOPROTOOPT
	}
	return nil
}

// ForcedOption is the option SO_SNDBUFFORCE or SO_RCVBUFFORCE (name)
// sets on the host for a caller with CAP_NET_ADMIN (privileged; EPERM
// otherwise): the server does not hold the capability, so it is
// SO_SNDBUF or SO_RCVBUF, within the host's wmem_max and rmem_max. 0 for
// another name.
func ForcedOption(name int, privileged bool) (int, error) {
	plain := forced(name)
	if plain != 0 && !privileged {
		return 0, unix.EPERM
	}
	return plain, nil
}
