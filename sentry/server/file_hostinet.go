package server

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Network modes (Config.Network): what the application's AF_INET and
// AF_INET6 sockets are.
const (
	// NetworkNone gives each client a loopback-only netstack of its own.
	NetworkNone = "none"
	// NetworkHost makes them the server machine's own sockets. Only the
	// operator chooses it: a client cannot ask for it.
	NetworkHost = "host"
)

// hostNetwork reports whether the client's inet sockets are host sockets.
func (k *clientState) hostNetwork() bool {
	return k.s != nil && k.s.cfg.Network == NetworkHost
}

// hostInetFile is an AF_INET or AF_INET6 socket of the server's host
// (--network=host). The host does the work; the server blocks on the
// socket's readiness and keeps what recovery and SIGPIPE need.
type hostInetFile struct {
	anon.Base
	s *socket.HostInet
	// timeo are SO_RCVTIMEO and SO_SNDTIMEO (own lock): the host socket
	// is non-blocking, the server does the waiting.
	timeo socket.Timeouts
	// lost is set by a restore for a connection lost with a server (own
	// lock).
	lost lostConn

	// mu protects backlog, listen's backlog (for recovery), and
	// reuseAddr, the SO_REUSEADDR the application set on a TCP socket
	// (the host socket always has it: socket.NewHostInet).
	mu        sync.Mutex
	backlog   int
	reuseAddr bool
}

func newHostInetFile(s *socket.HostInet, flags uint32) *file {
	return newFile(&hostInetFile{Base: anon.NewBase(unix.S_IFSOCK | 0777), s: s}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

func (s *hostInetFile) Read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := s.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (s *hostInetFile) Write(c fdesc.Call, f *file, b []byte, _ int64) (int, error) {
	n, err := s.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

func (s *hostInetFile) ReadSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	n, _, _, err := hostRecv(c, f, s, dst, 0)
	return n, err
}

func (s *hostInetFile) WriteSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error) {
	return hostSend(c, f, s, src, nil, 0)
}

func (s *hostInetFile) Readiness(*file) (uint32, <-chan struct{}) {
	ch := s.s.Watch.Changed()
	return s.s.Readiness(), ch
}

func (s *hostInetFile) Release() { s.s.Release() }

func (s *hostInetFile) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

func (s *hostInetFile) Queued() (int, error) {
	if s.s.Listening() {
		return 0, unix.EINVAL
	}
	return s.s.Queued()
}

func (s *hostInetFile) kobjState(*clientState) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	s.mu.Lock()
	backlog, reuse := s.backlog, s.reuseAddr
	s.mu.Unlock()
	st := &sentrypb.KernelObjectState{SocketFamily: int32(s.s.Family), SocketType: unix.SOCK_DGRAM}
	if s.s.Stream {
		st.SocketType = unix.SOCK_STREAM
		st.SocketReuseAddr = reuse
	}
	if la, err := s.s.Name(false); err == nil && len(la) >= 4 && binary.BigEndian.Uint16(la[2:]) != 0 {
		st.SocketBound = la
	}
	if s.s.Listening() {
		st.SocketListening, st.SocketBacklog = true, int32(backlog)
	}
	if ra, err := s.s.Name(true); err == nil {
		if s.s.Stream {
			st.SocketConnected = true
		} else {
			st.SocketPeer = ra
		}
	}
	return sentrypb.FileState_SOCKET, st
}

// restoreHostInetSocket rebuilds a host socket after a server failure:
// its bound address (a TCP socket can take it again although the old
// server's connections linger: socket.NewHostInet), a listener's backlog,
// a UDP socket's default destination. A TCP connection cannot come back
// (its peer saw the old server's socket close): the socket comes back
// reset, as restoreInetSocket's do.
func (k *clientState) restoreHostInetSocket(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) (*file, error) {
	hs, err := socket.NewHostInet(int(st.SocketFamily), st.SocketType == unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	f := newHostInetFile(hs, 0)
	f.Flags.Store(fs.Flags)
	s := f.Impl.(*hostInetFile)
	s.reuseAddr = hs.Stream && st.SocketReuseAddr
	if st.SocketConnected {
		s.lost.setReset()
		return f, nil
	}
	if len(st.SocketBound) > 0 {
		if err := hs.Bind(st.SocketBound); err != nil {
			k.log.Warn("restore: host socket not re-bound", "err", err)
			return f, nil
		}
	}
	if st.SocketListening {
		backlog := int(max(st.SocketBacklog, 1))
		if err := hs.Listen(backlog); err != nil {
			k.log.Warn("restore: host socket not listening again", "err", err)
		} else {
			s.backlog = backlog
		}
	}
	if len(st.SocketPeer) > 0 {
		if err := hs.Connect(st.SocketPeer); err != nil {
			k.log.Warn("restore: UDP destination not set again", "err", err)
		}
	}
	return f, nil
}

// hostSock returns the host socket at fd, if it is one.
func (c *syscallCtx) hostSock(fd int32) (*file, *hostInetFile, bool) {
	f, s, err := fileAs[*hostInetFile](c, fd, unix.ENOTSOCK)
	return f, s, err == nil
}

func newHostInetSocket(c *syscallCtx, family, stype, proto int, flags uint32) (*file, error) {
	stream, err := inetSockType(stype, proto, c.creds().EUID == 0)
	if err != nil {
		return nil, err
	}
	s, err := socket.NewHostInet(family, stream)
	if err != nil {
		return nil, err
	}
	return newHostInetFile(s, flags), nil
}

// hostSend sends src (to: a target address, or nil). A stream send
// blocks until all is sent unless non-blocking.
func hostSend(c fdesc.Call, f *file, s *hostInetFile, src usermem.IOSequence, to []byte, flags int) (int64, error) {
	if reset, dead := s.lost.take(); reset {
		return 0, unix.ECONNRESET
	} else if dead {
		if flags&unix.MSG_NOSIGNAL == 0 {
			c.RaiseSIGPIPE()
		}
		return 0, unix.EPIPE
	}
	var total int64
	first := true
	n, err := anon.BlockOnUntil(c, f, s.s.Watch, flags&unix.MSG_DONTWAIT != 0, s.timeo.Deadline(true), func() (int64, error) {
		if !first && src.NumBytes() == 0 {
			return total, nil
		}
		first = false
		n, err := s.s.Send(src, to, flags)
		total += n
		src = src.DropFirst64(n)
		if err == nil && s.s.Stream && src.NumBytes() > 0 {
			return total, unix.EAGAIN
		}
		return total, err
	})
	if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
		c.RaiseSIGPIPE()
	}
	if n > 0 && err != nil && err != unix.EPIPE {
		return n, nil
	}
	return n, err
}

// hostRecv receives into dst; it returns the bytes read, the datagram's
// length and its source.
func hostRecv(c fdesc.Call, f *file, s *hostInetFile, dst usermem.IOSequence, flags int) (int64, int64, []byte, error) {
	if flags&unix.MSG_ERRQUEUE != 0 {
		// No error queue is kept (IP_RECVERR is refused): as an
		// empty one.
		return 0, 0, nil, unix.EAGAIN
	}
	if reset, dead := s.lost.take(); reset {
		return 0, 0, nil, unix.ECONNRESET
	} else if dead {
		return 0, 0, nil, nil
	}
	peek := flags&unix.MSG_PEEK != 0
	waitAll := flags&unix.MSG_WAITALL != 0 && s.s.Stream && !peek
	var total, msgLen int64
	var from []byte
	n, err := anon.BlockOnUntil(c, f, s.s.Watch, flags&unix.MSG_DONTWAIT != 0, s.timeo.Deadline(false), func() (int64, error) {
		n, l, a, err := s.s.Recv(dst, flags)
		if err != nil {
			return total, err
		}
		if total == 0 {
			msgLen, from = l, a
		}
		total += n
		dst = dst.DropFirst64(n)
		if waitAll && n > 0 && dst.NumBytes() > 0 {
			return total, unix.EAGAIN
		}
		return total, nil
	})
	if n > 0 && err != nil {
		return n, msgLen, from, nil
	}
	return n, msgLen, from, err
}

// hostSockCall runs a socket system call on a host socket.
func hostSockCall(c *syscallCtx, f *file, s *hostInetFile) (int64, error) {
	switch c.sysno {
	case unix.SYS_BIND:
		raw, err := c.sockaddrArg(1)
		if err != nil {
			return 0, err
		}
		if err := c.checkInetBind(s.s.Family, raw); err != nil {
			return 0, err
		}
		if err := s.s.Bind(raw); err != nil {
			return 0, err
		}
		f.Changed()
		return 0, nil
	case unix.SYS_LISTEN:
		backlog := max(0, min(int(int32(c.args[1])), unix.SOMAXCONN))
		if err := s.s.Listen(backlog); err != nil {
			return 0, err
		}
		s.mu.Lock()
		s.backlog = max(backlog, 1)
		s.mu.Unlock()
		f.Changed()
		return 0, nil
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		return hostAccept(c, f, s)
	case unix.SYS_CONNECT:
		return hostConnect(c, f, s)
	case unix.SYS_SHUTDOWN:
		return 0, s.s.Shutdown(int(c.args[1]))
	case unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME:
		sa, err := s.s.Name(c.sysno == unix.SYS_GETPEERNAME)
		if err != nil {
			return 0, err
		}
		if c.args[1] == 0 || c.args[2] == 0 {
			return 0, unix.EFAULT
		}
		return 0, c.putSockaddr(c.args[1], c.args[2], sa)
	case unix.SYS_SENDTO:
		var raw []byte
		if c.args[4] != 0 {
			r, err := c.sockaddrArg(4)
			if err != nil {
				return 0, err
			}
			raw = r
		}
		src, err := kobj.BufferSequence(c.mem, c.args[1], uint64(min(int64(c.args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		return hostSend(c, f, s, src, raw, int(c.args[3]))
	case unix.SYS_RECVFROM:
		flags := int(c.args[3])
		dst, err := kobj.BufferSequence(c.mem, c.args[1], uint64(min(int64(c.args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		n, msgLen, from, err := hostRecv(c, f, s, dst, flags)
		if err != nil {
			return 0, err
		}
		if c.args[4] != 0 {
			// A stream's source has length 0, as on Linux.
			if err := c.putSockaddr(c.args[4], c.args[5], from); err != nil {
				return 0, err
			}
		}
		if flags&unix.MSG_TRUNC != 0 {
			return msgLen, nil
		}
		return n, nil
	case unix.SYS_SENDMSG:
		return hostSendmsg(c, f, s)
	case unix.SYS_RECVMSG:
		return hostRecvmsg(c, f, s)
	case unix.SYS_GETSOCKOPT, unix.SYS_SETSOCKOPT:
		return hostSockopt(c, s)
	}
	return 0, unix.ENOTSOCK
}

func hostAccept(c *syscallCtx, f *file, s *hostInetFile) (int64, error) {
	var flags uint32
	if c.sysno == unix.SYS_ACCEPT4 {
		flags = uint32(c.args[3])
		if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
			return 0, unix.EINVAL
		}
	}
	var ns *socket.HostInet
	var peer []byte
	_, err := anon.BlockOn(c, f, s.s.Watch, false, func() (int64, error) {
		n, p, err := s.s.Accept()
		if err != nil {
			return 0, err
		}
		ns, peer = n, p
		return 0, nil
	})
	if err != nil {
		return 0, err
	}
	var fflags uint32
	if flags&unix.SOCK_NONBLOCK != 0 {
		fflags = unix.O_NONBLOCK
	}
	nf := newHostInetFile(ns, fflags)
	// An accepted socket inherits the listener's options, as on Linux.
	s.mu.Lock()
	nf.Impl.(*hostInetFile).reuseAddr = s.reuseAddr
	s.mu.Unlock()
	tab, err := c.fdTable()
	if err != nil {
		nf.DecRef()
		return 0, err
	}
	fd, err := tab.install(nf, 0, flags&unix.SOCK_CLOEXEC != 0)
	if err != nil {
		return 0, err
	}
	if err := c.putSockaddr(c.args[1], c.args[2], peer); err != nil {
		return 0, err
	}
	return int64(fd), nil
}

// hostConnect connects; a blocking connect waits for the handshake (up
// to SO_SNDTIMEO, as on Linux) and returns its outcome.
func hostConnect(c *syscallCtx, f *file, s *hostInetFile) (int64, error) {
	raw, err := c.sockaddrArg(1)
	if err != nil {
		return 0, err
	}
	// A connection (or its attempt) is replay state: report it.
	defer f.Changed()
	err = s.s.Connect(raw)
	if err != unix.EINPROGRESS || f.Nonblock() {
		return 0, err
	}
	_, err = anon.BlockOnUntil(c, f, s.s.Watch, false, s.timeo.Deadline(true), func() (int64, error) {
		if s.s.Readiness()&(pollOut|pollErr|pollHup) == 0 {
			return 0, unix.EAGAIN
		}
		return 0, s.s.SockError()
	})
	if err == unix.EAGAIN {
		return 0, unix.EINPROGRESS
	}
	return 0, err
}

func hostSendmsg(c *syscallCtx, f *file, s *hostInetFile) (int64, error) {
	h, iov, err := c.readMsghdr(c.args[1])
	if err != nil {
		return 0, err
	}
	if err := c.checkInetControl(h, s.s.Stream); err != nil {
		return 0, err
	}
	var raw []byte
	if h.name != 0 && h.namelen > 0 {
		if h.namelen > 128 {
			return 0, unix.EINVAL
		}
		if raw, err = c.mem.CopyIn(h.name, int(h.namelen)); err != nil {
			return 0, err
		}
	}
	src, err := kobj.Sequence(c.mem, iov)
	if err != nil {
		return 0, err
	}
	return hostSend(c, f, s, src, raw, int(c.args[2]))
}

func hostRecvmsg(c *syscallCtx, f *file, s *hostInetFile) (int64, error) {
	flags := int(c.args[2])
	h, iov, err := c.readMsghdr(c.args[1])
	if err != nil {
		return 0, err
	}
	dst, err := kobj.Sequence(c.mem, iov)
	if err != nil {
		return 0, err
	}
	n, msgLen, from, err := hostRecv(c, f, s, dst, flags)
	if err != nil {
		return 0, err
	}
	var msgFlags uint32
	if !s.s.Stream && msgLen > n {
		msgFlags |= unix.MSG_TRUNC
	}
	namelen := uint32(0)
	if h.name != 0 && !s.s.Stream && len(from) > 0 {
		if err := c.mem.CopyOut(h.name, from[:min(len(from), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(from))
	}
	if err := c.putMsgResult(c.args[1], namelen, msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return msgLen, nil
	}
	return n, nil
}

// hostSockopts are the options a host socket takes to its host as they
// are, by level. Others fail with ENOPROTOOPT: those that produce
// control messages (IP_PKTINFO, IP_RECVERR, ...) would need the
// messages carried, and those that reach past the socket (SO_MARK,
// SO_BINDTODEVICE, IP_TRANSPARENT, ...) are the operator's, not the
// application's.
var hostSockopts = map[int]map[int]bool{
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

// hostSockopt runs getsockopt or setsockopt on a host socket.
func hostSockopt(c *syscallCtx, s *hostInetFile) (int64, error) {
	level, name := int(int32(c.args[1])), int(int32(c.args[2]))
	get := c.sysno == unix.SYS_GETSOCKOPT
	if level == unix.SOL_SOCKET && (name == unix.SO_RCVTIMEO || name == unix.SO_SNDTIMEO) {
		// The server waits, not the host: the timeouts are the
		// server's.
		if get {
			return c.putSockopt(s.timeo.Get(name))
		}
		n := int(int32(c.args[4]))
		if n < 0 {
			return 0, unix.EINVAL
		}
		v, err := c.mem.CopyIn(c.args[3], min(n, 128))
		if err != nil {
			return 0, err
		}
		return 0, s.timeo.Set(name, v)
	}
	if level == unix.SOL_SOCKET && name == unix.SO_REUSEADDR && s.s.Stream {
		// The host socket always has it (socket.NewHostInet); the
		// application's value is the file's.
		if get {
			s.mu.Lock()
			v := boolInt(s.reuseAddr)
			s.mu.Unlock()
			return c.putSockopt(putInt(v))
		}
		v, err := c.mem.CopyIn(c.args[3], min(max(int(int32(c.args[4])), 0), 4))
		if err != nil {
			return 0, err
		}
		if len(v) < 4 {
			return 0, unix.EINVAL
		}
		s.mu.Lock()
		s.reuseAddr = binary.LittleEndian.Uint32(v) != 0
		s.mu.Unlock()
		return 0, nil
	}
	if level == unix.SOL_SOCKET && (name == unix.SO_SNDBUFFORCE || name == unix.SO_RCVBUFFORCE) && !get {
		// CAP_NET_ADMIN's way past the host's limits: the server does
		// not hold it, so a root application gets SO_SNDBUF or
		// SO_RCVBUF, within the host's wmem_max and rmem_max.
		if c.creds().EUID != 0 {
			return 0, unix.EPERM
		}
		v, err := c.mem.CopyIn(c.args[3], min(max(int(int32(c.args[4])), 0), 4))
		if err != nil {
			return 0, err
		}
		if len(v) < 4 {
			return 0, unix.EINVAL
		}
		plain := unix.SO_SNDBUF
		if name == unix.SO_RCVBUFFORCE {
			plain = unix.SO_RCVBUF
		}
		return 0, s.s.SetSockopt(level, plain, v)
	}
	names, ok := hostSockopts[level]
	if !ok || level == unix.IPPROTO_TCP && !s.s.Stream || level == unix.IPPROTO_UDP && s.s.Stream ||
		level == unix.IPPROTO_IPV6 && s.s.Family != unix.AF_INET6 {
		return 0, unknownLevel(s.s.Family, get)
	}
	if !names[name] {
		return 0, unix.ENOPROTOOPT
	}
	if get {
		if c.args[4] == 0 {
			return 0, unix.EFAULT
		}
		lb, err := c.mem.CopyIn(c.args[4], 4)
		if err != nil {
			return 0, err
		}
		size := int(int32(binary.LittleEndian.Uint32(lb)))
		if size < 0 {
			return 0, unix.EINVAL
		}
		v, err := s.s.GetSockopt(level, name, min(size, 512))
		if err != nil {
			return 0, err
		}
		return c.putSockopt(v)
	}
	n := int(int32(c.args[4]))
	if n < 0 {
		return 0, unix.EINVAL
	}
	v, err := c.mem.CopyIn(c.args[3], min(n, 512))
	if err != nil {
		return 0, err
	}
	return 0, s.s.SetSockopt(level, name, v)
}

// putSockopt writes getsockopt's result v to (args[3], args[4]),
// truncated to the caller's buffer.
func (c *syscallCtx) putSockopt(v []byte) (int64, error) {
	if c.args[4] == 0 {
		return 0, unix.EFAULT
	}
	lb, err := c.mem.CopyIn(c.args[4], 4)
	if err != nil {
		return 0, err
	}
	size := int32(binary.LittleEndian.Uint32(lb))
	if size < 0 {
		return 0, unix.EINVAL
	}
	l := min(int(size), len(v))
	if err := c.mem.CopyOut(c.args[3], v[:l]); err != nil {
		return 0, err
	}
	return 0, c.mem.CopyOut(c.args[4], putInt(int32(l)))
}
