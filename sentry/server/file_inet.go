package server

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// inetSockFile is an AF_INET or AF_INET6 socket on the client's loopback
// netstack (socket.Inet over a pkg/tcpip endpoint).
type inetSockFile struct {
	anon.Base
	s *socket.Inet
	// timeo are SO_RCVTIMEO and SO_SNDTIMEO (own lock).
	timeo socket.Timeouts

	// lost is set by a restore for a connection lost with a server (own
	// lock).
	lost lostConn
	// bufs is the socket's charge to the client's memory cap (own
	// synchronization).
	bufs memacct.SocketBuffers

	// mu protects backlog, listen's backlog (for recovery).
	mu      sync.Mutex
	backlog int
}

// lostConn is an inet connection lost with a server: the next I/O fails
// with ECONNRESET; after it, reads see end of file and writes EPIPE, as
// on a connection the peer reset.
type lostConn struct {
	// mu protects reset and dead. It is a leaf lock.
	mu          sync.Mutex
	reset, dead bool
}

// setReset makes the next I/O fail with ECONNRESET.
func (l *lostConn) setReset() {
	l.mu.Lock()
	l.reset = true
	l.mu.Unlock()
}

func newInetSockFile(s *socket.Inet, flags uint32) *file {
	return newFile(&inetSockFile{Base: anon.NewBase(unix.S_IFSOCK | 0777), s: s}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

func (s *inetSockFile) Read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := s.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (s *inetSockFile) Write(c fdesc.Call, f *file, b []byte, _ int64) (int, error) {
	n, err := s.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

func (s *inetSockFile) ReadSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	n, _, _, err := inetRecv(c, f, s, dst, 0)
	return n, err
}

func (s *inetSockFile) WriteSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error) {
	return inetSend(c, f, s, src, nil, 0)
}

func (s *inetSockFile) Readiness(*file) (uint32, <-chan struct{}) {
	ch := s.s.Watch.Changed()
	return s.s.Readiness(), ch
}

// setRcvbuf sets SO_RCVBUF, whose size the client's memory cap must
// hold (ENOBUFS, the size unchanged, when it does not).
func (s *inetSockFile) setRcvbuf(n int64) error {
	opts := s.s.EP.SocketOptions()
	old := opts.GetReceiveBufferSize()
	opts.SetReceiveBufferSize(n, true)
	if err := s.bufs.Resize(opts.GetReceiveBufferSize()); err != nil {
		opts.SetReceiveBufferSize(old, true)
		return err
	}
	return nil
}

func (s *inetSockFile) Release() {
	s.s.Release()
	s.bufs.Unreserve()
}

func (s *inetSockFile) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

// take reports (once) that the connection was lost with a server, and
// then that it is dead.
func (l *lostConn) take() (reset, dead bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reset, dead = l.reset, l.dead
	if reset {
		l.reset, l.dead = false, true
		dead = false
	}
	return reset, dead
}

// inetSend sends src (to: a UDP target). A TCP send blocks until all is
// sent unless non-blocking.
func inetSend(c fdesc.Call, f *file, s *inetSockFile, src usermem.IOSequence, to *tcpip.FullAddress, flags int) (int64, error) {
	if flags&unix.MSG_OOB != 0 {
		// UDP has no urgent data (as on Linux), and TCP's is not
		// supported here.
		return 0, unix.EOPNOTSUPP
	}
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
		n, err := s.s.Send(src, to, flags&unix.MSG_MORE != 0)
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

// inetRecvFlags checks a receive's flags on the loopback netstack: no
// error queue is kept (IP_RECVERR is not supported: EAGAIN, as with an
// empty one) and no urgent data (a TCP MSG_OOB finds none: EINVAL).
func inetRecvFlags(stream bool, flags int) error {
	if flags&unix.MSG_ERRQUEUE != 0 {
		return unix.EAGAIN
	}
	if stream && flags&unix.MSG_OOB != 0 {
		return unix.EINVAL
	}
	return nil
}

// inetRecv receives into dst; it returns the bytes read, the datagram's
// length and its source.
func inetRecv(c fdesc.Call, f *file, s *inetSockFile, dst usermem.IOSequence, flags int) (int64, int64, tcpip.FullAddress, error) {
	if err := inetRecvFlags(s.s.Stream, flags); err != nil {
		return 0, 0, tcpip.FullAddress{}, err
	}
	if reset, dead := s.lost.take(); reset {
		return 0, 0, tcpip.FullAddress{}, unix.ECONNRESET
	} else if dead {
		return 0, 0, tcpip.FullAddress{}, nil
	}
	peek := flags&unix.MSG_PEEK != 0
	waitAll := flags&unix.MSG_WAITALL != 0 && s.s.Stream && !peek
	var total, msgLen int64
	var from tcpip.FullAddress
	n, err := anon.BlockOnUntil(c, f, s.s.Watch, flags&unix.MSG_DONTWAIT != 0, s.timeo.Deadline(false), func() (int64, error) {
		n, l, a, err := s.s.Recv(dst, peek)
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

// inetSock returns the inet socket at fd, if it is one.
func (c *syscallCtx) inetSock(fd int32) (*file, *inetSockFile, bool) {
	f, s, err := fileAs[*inetSockFile](c, fd, unix.ENOTSOCK)
	return f, s, err == nil
}

// inetSockType checks socket's type and protocol for an inet socket
// made by a caller with (privileged) or without CAP_NET_RAW, and says
// whether it is a stream (TCP; else UDP).
func inetSockType(stype, proto int, privileged bool) (bool, error) {
	switch stype {
	case unix.SOCK_RAW:
		// Linux's order: no protocol, then the capability. Raw
		// sockets are not supported on either network.
		if proto == 0 {
			return false, unix.EPROTONOSUPPORT
		}
		if !privileged {
			return false, unix.EPERM
		}
		return false, unix.ESOCKTNOSUPPORT
	case unix.SOCK_STREAM:
		if proto != 0 && proto != unix.IPPROTO_TCP {
			return false, unix.EPROTONOSUPPORT
		}
		return true, nil
	case unix.SOCK_DGRAM:
		if proto != 0 && proto != unix.IPPROTO_UDP {
			return false, unix.EPROTONOSUPPORT
		}
		return false, nil
	}
	return false, unix.ESOCKTNOSUPPORT
}

// checkInetBind refuses, as Linux does, a port below 1024 to a caller
// without CAP_NET_BIND_SERVICE (here: euid 0), on either network.
func (c *syscallCtx) checkInetBind(family int, raw []byte) error {
	a, err := socket.ParseInetAddr(family, raw)
	if err != nil {
		return err
	}
	if a.Port != 0 && a.Port < 1024 && c.creds().EUID != 0 {
		return unix.EACCES
	}
	return nil
}

func newInetSocket(c *syscallCtx, family int, stype int, proto int, flags uint32) (*file, error) {
	stream, err := inetSockType(stype, proto, c.creds().EUID == 0)
	if err != nil {
		return nil, err
	}
	st, err := c.k.netStack()
	if err != nil {
		return nil, err
	}
	s, err := st.NewInet(family, stream)
	if err != nil {
		return nil, err
	}
	return newInetSockFile(s, flags), nil
}

func inetBind(c *syscallCtx, f *file, s *inetSockFile) (int64, error) {
	raw, err := c.sockaddrArg(1)
	if err != nil {
		return 0, err
	}
	if err := c.checkInetBind(s.s.Family, raw); err != nil {
		return 0, err
	}
	a, err := socket.ParseInetAddr(s.s.Family, raw)
	if err != nil {
		return 0, err
	}
	if err := s.s.Bind(a); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}

func inetListen(c *syscallCtx, f *file, s *inetSockFile) (int64, error) {
	if !s.s.Stream {
		return 0, unix.EOPNOTSUPP
	}
	backlog := int(int32(c.args[1]))
	backlog = max(0, min(backlog, unix.SOMAXCONN))
	if err := kobj.TCPIPErr(s.s.EP.Listen(backlog)); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.backlog = max(backlog, 1)
	s.mu.Unlock()
	f.Changed()
	return 0, nil
}

func inetAccept(c *syscallCtx, f *file, s *inetSockFile, flags uint32) (int64, error) {
	if !s.s.Stream {
		return 0, unix.EOPNOTSUPP
	}
	var ns *socket.Inet
	var peer tcpip.FullAddress
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
	nf := newInetSockFile(ns, fflags)
	if err := c.k.chargeSocket(nf, false); err != nil {
		nf.DecRef() // the connection is lost, as when Linux cannot allocate it
		return 0, err
	}
	tab, err := c.fdTable()
	if err != nil {
		nf.DecRef()
		return 0, err
	}
	fd, err := tab.install(nf, 0, flags&unix.SOCK_CLOEXEC != 0)
	if err != nil {
		return 0, err
	}
	if err := c.putSockaddr(c.args[1], c.args[2], socket.EncodeInetAddr(s.s.Family, peer)); err != nil {
		return 0, err
	}
	return int64(fd), nil
}

func inetConnect(c *syscallCtx, f *file, s *inetSockFile) (int64, error) {
	raw, err := c.sockaddrArg(1)
	if err != nil {
		return 0, err
	}
	if len(raw) >= 2 && binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC {
		return 0, kobj.TCPIPErr(s.s.EP.Disconnect())
	}
	a, err := socket.ParseInetAddr(s.s.Family, raw)
	if err != nil {
		return 0, err
	}
	// A connection (or its attempt) is replay state: report it.
	defer f.Changed()
	ch := s.s.Watch.Changed()
	err = s.s.Connect(a)
	if err != unix.EINPROGRESS || f.Nonblock() {
		return 0, err
	}
	for {
		if err := c.block(ch, nil); err != nil {
			return 0, err
		}
		ch = s.s.Watch.Changed()
		if err := s.s.Connect(a); err != unix.EINPROGRESS {
			return 0, err
		}
	}
}

func inetGetname(c *syscallCtx, s *inetSockFile, peer bool) (int64, error) {
	var a tcpip.FullAddress
	if peer {
		r, err := s.s.EP.GetRemoteAddress()
		if err != nil {
			return 0, kobj.TCPIPErr(err)
		}
		a = r
	} else {
		a, _ = s.s.EP.GetLocalAddress()
	}
	if c.args[1] == 0 || c.args[2] == 0 {
		return 0, unix.EFAULT
	}
	return 0, c.putSockaddr(c.args[1], c.args[2], socket.EncodeInetAddr(s.s.Family, a))
}

// inetTarget parses sendto's or sendmsg's address (nil: none).
func inetTarget(s *inetSockFile, raw []byte) (*tcpip.FullAddress, error) {
	if len(raw) == 0 || s.s.Stream {
		return nil, nil // TCP ignores it, as Linux does once connected
	}
	a, err := socket.ParseInetAddr(s.s.Family, raw)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func inetSendto(c *syscallCtx, f *file, s *inetSockFile, src usermem.IOSequence, raw []byte, flags int) (int64, error) {
	to, err := inetTarget(s, raw)
	if err != nil {
		return 0, err
	}
	return inetSend(c, f, s, src, to, flags)
}

// inetSockopt handles getsockopt (get) and setsockopt of an inet socket.
func inetSockopt(c *syscallCtx, s *inetSockFile, get bool, level, name int, v []byte) ([]byte, error) {
	opts := s.s.EP.SocketOptions()
	iv := int32(0)
	if !get {
		if name == unix.SO_RCVTIMEO || name == unix.SO_SNDTIMEO || name == unix.SO_LINGER {
			if len(v) < 8 {
				return nil, unix.EINVAL
			}
		} else if len(v) < 4 {
			return nil, unix.EINVAL
		} else {
			iv = int32(binary.LittleEndian.Uint32(v))
		}
	}
	boolOpt := func(getf func() bool, setf func(bool)) ([]byte, error) {
		if get {
			return putInt(boolInt(getf())), nil
		}
		setf(iv != 0)
		return nil, nil
	}
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_TYPE:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if s.s.Stream {
				return putInt(unix.SOCK_STREAM), nil
			}
			return putInt(unix.SOCK_DGRAM), nil
		case unix.SO_DOMAIN:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			return putInt(int32(s.s.Family)), nil
		case unix.SO_PROTOCOL:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if s.s.Stream {
				return putInt(unix.IPPROTO_TCP), nil
			}
			return putInt(unix.IPPROTO_UDP), nil
		case unix.SO_ERROR:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if e := kobj.TCPIPErr(s.s.EP.LastError()); e != nil {
				if errno, ok := e.(unix.Errno); ok {
					return putInt(int32(errno)), nil
				}
			}
			return putInt(0), nil
		case unix.SO_ACCEPTCONN:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			return putInt(boolInt(s.s.Listening())), nil
		case unix.SO_REUSEADDR:
			return boolOpt(opts.GetReuseAddress, opts.SetReuseAddress)
		case unix.SO_REUSEPORT:
			return boolOpt(opts.GetReusePort, opts.SetReusePort)
		case unix.SO_KEEPALIVE:
			return boolOpt(opts.GetKeepAlive, opts.SetKeepAlive)
		case unix.SO_BROADCAST:
			return boolOpt(opts.GetBroadcast, opts.SetBroadcast)
		case unix.SO_OOBINLINE:
			// Always on: urgent data is not supported, so none is
			// ever out of band (gVisor's own choice).
			return boolOpt(opts.GetOutOfBandInline, opts.SetOutOfBandInline)
		case unix.SO_SNDBUF:
			if get {
				return putInt(int32(opts.GetSendBufferSize())), nil
			}
			opts.SetSendBufferSize(2*int64(max(iv, 0)), true)
			return nil, nil
		case unix.SO_RCVBUF:
			if get {
				return putInt(int32(opts.GetReceiveBufferSize())), nil
			}
			return nil, s.setRcvbuf(2 * int64(max(iv, 0)))
		case unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE:
			// SO_SNDBUF and SO_RCVBUF past the limits, for
			// CAP_NET_ADMIN (euid 0 here); netstack keeps its own
			// bounds. The value is a signed int (CVE-2016-9793).
			if get {
				return nil, unix.ENOPROTOOPT
			}
			if c.creds().EUID != 0 {
				return nil, unix.EPERM
			}
			if name == unix.SO_SNDBUFFORCE {
				opts.SetSendBufferSize(2*int64(max(iv, 0)), true)
				return nil, nil
			}
			return nil, s.setRcvbuf(2 * int64(max(iv, 0)))
		case unix.SO_LINGER:
			if get {
				return make([]byte, 8), nil
			}
			return nil, nil
		case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
			if get {
				return s.timeo.Get(name), nil
			}
			return nil, s.timeo.Set(name, v)
		}
	case unix.IPPROTO_TCP:
		if !s.s.Stream {
			return nil, unknownLevel(s.s.Family, get)
		}
		switch name {
		case unix.TCP_NODELAY:
			return boolOpt(func() bool { return !opts.GetDelayOption() }, func(b bool) { opts.SetDelayOption(!b) })
		case unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL:
			if get {
				return nil, unix.ENOPROTOOPT
			}
			if iv < 1 {
				return nil, unix.EINVAL
			}
			return nil, s.s.SetKeepalive(name == unix.TCP_KEEPIDLE, time.Duration(iv)*time.Second)
		case unix.TCP_KEEPCNT:
			if get {
				n, err := s.s.EP.GetSockOptInt(tcpip.KeepaliveCountOption)
				return putInt(int32(n)), kobj.TCPIPErr(err)
			}
			if iv < 1 {
				return nil, unix.EINVAL
			}
			return nil, kobj.TCPIPErr(s.s.EP.SetSockOptInt(tcpip.KeepaliveCountOption, int(iv)))
		}
	case unix.IPPROTO_IPV6:
		if s.s.Family != unix.AF_INET6 {
			return nil, unknownLevel(s.s.Family, get)
		}
		if name == unix.IPV6_V6ONLY {
			return boolOpt(opts.GetV6Only, opts.SetV6Only)
		}
	case unix.IPPROTO_UDP:
		if s.s.Stream {
			return nil, unknownLevel(s.s.Family, get)
		}
	case unix.IPPROTO_IP:
	default:
		return nil, unknownLevel(s.s.Family, get)
	}
	return nil, unix.ENOPROTOOPT
}

// unknownLevel is Linux's errno for an inet socket option at a level
// the socket has no handler for: IPv4's getsockopt says EOPNOTSUPP, its
// setsockopt and IPv6's ENOPROTOOPT.
func unknownLevel(family int, get bool) error {
	if get && family == unix.AF_INET {
		return unix.EOPNOTSUPP
	}
	return unix.ENOPROTOOPT
}

func inetSendmsg(c *syscallCtx, f *file, s *inetSockFile) (int64, error) {
	flags := int(c.args[2])
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
	return inetSendto(c, f, s, src, raw, flags)
}

func inetRecvmsg(c *syscallCtx, f *file, s *inetSockFile) (int64, error) {
	flags := int(c.args[2])
	h, iov, err := c.readMsghdr(c.args[1])
	if err != nil {
		return 0, err
	}
	dst, err := kobj.Sequence(c.mem, iov)
	if err != nil {
		return 0, err
	}
	n, msgLen, from, err := inetRecv(c, f, s, dst, flags)
	if err != nil {
		return 0, err
	}
	var msgFlags uint32
	if !s.s.Stream && msgLen > n {
		msgFlags |= unix.MSG_TRUNC
	}
	namelen := uint32(0)
	if h.name != 0 && !s.s.Stream {
		sa := socket.EncodeInetAddr(s.s.Family, from)
		if err := c.mem.CopyOut(h.name, sa[:min(len(sa), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(sa))
	}
	if err := c.putMsgResult(c.args[1], namelen, msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 && !s.s.Stream {
		return msgLen, nil
	}
	return n, nil
}

// putMsgResult writes what recvmsg returns in the msghdr at addr besides
// the data: msg_namelen, msg_controllen (no control messages: 0) and
// msg_flags.
func (c *syscallCtx) putMsgResult(addr uint64, namelen, msgFlags uint32) error {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], namelen)
	if err := c.mem.CopyOut(addr+8, b[:4]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[:], 0)
	if err := c.mem.CopyOut(addr+40, b[:]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], msgFlags)
	return c.mem.CopyOut(addr+48, b[:4])
}

// checkInetControl checks the control messages of an inet sendmsg (on a
// stream socket if stream). As on Linux, SCM_RIGHTS and SCM_CREDENTIALS
// (AF_UNIX's) are ignored, and so is every level but SOL_SOCKET on TCP;
// the others (UDP's IP_PKTINFO, IP_TOS..., SO_MARK, SCM_TXTIME...) are
// not supported: EINVAL.
func (c *syscallCtx) checkInetControl(h msghdr, stream bool) error {
	if h.controllen == 0 {
		return nil
	}
	if h.controllen > sysabi.MaxControl {
		return unix.ENOBUFS
	}
	b, err := c.mem.CopyIn(h.control, int(h.controllen))
	if err != nil {
		return err
	}
	for len(b) >= sizeofCmsghdr {
		l := binary.LittleEndian.Uint64(b)
		level, typ := int32(binary.LittleEndian.Uint32(b[8:])), int32(binary.LittleEndian.Uint32(b[12:]))
		if l < sizeofCmsghdr || l > uint64(len(b)) {
			return unix.EINVAL
		}
		ignored := level == unix.SOL_SOCKET && (typ == unix.SCM_RIGHTS || typ == unix.SCM_CREDENTIALS) ||
			level != unix.SOL_SOCKET && stream
		if !ignored {
			return unix.EINVAL
		}
		adv := cmsgAlign(int(l))
		if adv >= len(b) {
			break
		}
		b = b[adv:]
	}
	return nil
}
