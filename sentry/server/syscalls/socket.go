package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The socket system calls. Each hands a netlink, host or inet socket to
// its kind's calls (socket_netlink.go, socket_host.go, socket_inet.go);
// AF_UNIX sockets are socket.Unix (gVisor's transport endpoints, their
// names in socket_unix.go): the handlers decode the calls' memory
// (socket_msg.go) and block (interruptibly) on the endpoints' waiter
// queues.

const (
	sockTypeMask = 0xf
	// scmMaxFD is SCM_MAX_FD: the most fds one SCM_RIGHTS carries.
	scmMaxFD = 253
	// sizeofCmsghdr is struct cmsghdr on amd64.
	sizeofCmsghdr = 16
	sizeofUcred   = 12
	// msgCmsgCompat is MSG_CMSG_COMPAT, the flag of a 32-bit caller's
	// sendmsg and recvmsg.
	msgCmsgCompat = 0x80000000
)

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// unixSock returns the AF_UNIX socket at fd (ENOTSOCK if fd is another
// kind of file, EBADF if an O_PATH one). The caller drops the file's
// reference.
func unixSock(c *kernel.Task, fd int32) (*fdesc.File, *unixsock.File, error) {
	return FileAs[*unixsock.File](c, fd, unix.ENOTSOCK)
}

// The socket kinds whose calls are their own (kindCall).
const (
	netlinkKind = 1 << iota
	hostKind
)

// kindCall runs the call on the socket at fd argument 0 when it is of
// one of kinds, whose calls are their own (done): a netlink socket's
// (netlinkCall) or a host socket's (hostSockCall).
func kindCall(c *kernel.Task, kinds int) (done bool, n int64, err error) {
	if kinds&netlinkKind != 0 {
		if f, nl, ok := netlinkSock(c, ArgInt(c, 0)); ok {
			defer f.DecRef()
			n, err = netlinkCall(c, f, nl)
			return true, n, err
		}
	}
	if kinds&hostKind != 0 {
		if f, hs, ok := hostSock(c, ArgInt(c, 0)); ok {
			defer f.DecRef()
			n, err = hostSockCall(c, f, hs)
			return true, n, err
		}
	}
	return false, 0, nil
}

// sockTypeFlags splits socket's type argument.
func sockTypeFlags(arg uint64) (linux.SockType, uint32, bool, error) {
	t := uint32(arg)
	if t&^(sockTypeMask|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
		return 0, 0, false, unix.EINVAL
	}
	var flags uint32
	if t&unix.SOCK_NONBLOCK != 0 {
		flags |= unix.O_NONBLOCK
	}
	return linux.SockType(t & sockTypeMask), flags, t&unix.SOCK_CLOEXEC != 0, nil
}

// Socket implements socket(2): AF_UNIX, AF_INET and AF_INET6 (the
// client's netstack, or with Config.Network "host" the server machine's)
// and route netlink.
func Socket(c *kernel.Task) (int64, error) {
	domain, proto := int(c.Args[0]), int(c.Args[2])
	stype, flags, cloexec, err := sockTypeFlags(c.Args[1])
	if err != nil {
		return 0, err
	}
	var f *fdesc.File
	switch domain {
	case unix.AF_UNIX:
		if !socket.ValidType(stype) {
			return 0, unix.ESOCKTNOSUPPORT
		}
		if proto != 0 && proto != unix.AF_UNIX {
			return 0, unix.EPROTONOSUPPORT
		}
		f = unixsock.New(c.Kernel, socket.NewUnix(stype, unixsock.Creds(c)), flags)
	case unix.AF_INET, unix.AF_INET6:
		if c.Kernel.HostNet {
			f, err = newHostInetSocket(c, domain, int(stype), proto, flags)
		} else {
			f, err = newInetSocket(c, domain, int(stype), proto, flags)
		}
		if err != nil {
			return 0, err
		}
	case unix.AF_NETLINK:
		if f, err = newNetlinkSocket(c, int(stype), proto, flags); err != nil {
			return 0, err
		}
	default:
		return 0, unix.EAFNOSUPPORT
	}
	if err := c.Kernel.ChargeSocket(f, false); err != nil {
		f.DecRef()
		return 0, err
	}
	tab, err := c.FDTable()
	if err != nil {
		f.DecRef()
		return 0, err
	}
	fd, err := tab.Install(f, 0, cloexec, c.CallSeq)
	return int64(fd), err
}

// Socketpair implements socketpair(2), of AF_UNIX sockets only.
func Socketpair(c *kernel.Task) (int64, error) {
	domain, proto := int(c.Args[0]), int(c.Args[2])
	stype, flags, cloexec, err := sockTypeFlags(c.Args[1])
	if err != nil {
		return 0, err
	}
	if domain != unix.AF_UNIX {
		if domain == unix.AF_INET || domain == unix.AF_INET6 {
			// Linux makes the socket (its type and protocol
			// checked) before it finds that inet has no pairs.
			if _, err := inet.SockType(int(stype), proto, c.ProcessCreds().EUID == 0); err != nil {
				return 0, err
			}
			return 0, unix.EOPNOTSUPP
		}
		return 0, unix.EAFNOSUPPORT
	}
	if !socket.ValidType(stype) {
		return 0, unix.ESOCKTNOSUPPORT
	}
	if proto != 0 && proto != unix.AF_UNIX {
		return 0, unix.EPROTONOSUPPORT
	}
	if c.Args[3] == 0 {
		return 0, unix.EFAULT
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	if fa, fb, ok := pairMadeBefore(c, tab); ok {
		return 0, copyOutFDPair(c, tab, c.Args[3], fa, fb, false)
	}
	ua, ub := socket.NewUnixPair(stype, unixsock.Creds(c))
	a, b := unixsock.New(c.Kernel, ua, flags), unixsock.New(c.Kernel, ub, flags)
	unixsock.NewConn(0, stype == linux.SOCK_STREAM).PairFiles(a, b)
	for _, f := range []*fdesc.File{a, b} {
		if err := c.Kernel.ChargeSocket(f, false); err != nil {
			a.DecRef()
			b.DecRef()
			return 0, err
		}
	}
	fa, fb, err := tab.InstallPair(a, b, cloexec, c.CallSeq)
	if err != nil {
		return 0, err
	}
	return 0, copyOutFDPair(c, tab, c.Args[3], fa, fb, true)
}

// Bind implements bind(2).
func Bind(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		return inetBind(c, f, is)
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	raw, err := sockaddrArg(c, 1)
	if err != nil {
		return 0, err
	}
	a, named, err := socket.ParseUnixAddr(raw)
	if err != nil {
		return 0, err
	}
	if !named {
		// Autobind to a fresh abstract name; a bound socket stays as
		// it is (Linux succeeds).
		be := s.U.Bound()
		if be == nil {
			return 0, unix.EINVAL
		}
		if la, _ := s.U.EP.GetLocalAddress(); la.Addr != "" {
			return 0, nil
		}
		a, err = autobindName(c.Kernel, be)
		if err != nil {
			return 0, err
		}
		if err := kobj.SysErr(s.U.EP.Bind(transport.Address{Addr: a.TransportName()})); err != nil {
			c.Kernel.Socks.Names().Unbind(be)
			return 0, err
		}
		s.Mu.Lock()
		s.Named = true
		s.BoundName = a.TransportName()
		s.Mu.Unlock()
		c.Kernel.Socks.SetBound(be, s)
		f.Changed()
		return 0, nil
	}
	if la, _ := s.U.EP.GetLocalAddress(); la.Addr != "" {
		return 0, unix.EINVAL
	}
	if err := bindUnix(c, s, a); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}

// Listen implements listen(2).
func Listen(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		return inetListen(c, f, is)
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if s.U.Type == linux.SOCK_DGRAM {
		return 0, unix.EOPNOTSUPP
	}
	backlog := int(int32(c.Args[1]))
	if backlog <= 0 {
		backlog = 1
	}
	backlog = min(backlog, unix.SOMAXCONN)
	if err := kobj.SysErr(s.U.EP.Listen(kobj.Ctx(), backlog)); err != nil {
		return 0, err
	}
	s.U.EP.SetPeerCreds(unixsock.Creds(c))
	s.Mu.Lock()
	s.Backlog = backlog
	s.Mu.Unlock()
	f.Changed()
	return 0, nil
}

// Accept implements accept(2) and accept4(2).
func Accept(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	var flags uint32
	if c.Sysno == unix.SYS_ACCEPT4 {
		flags = uint32(c.Args[3])
		if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
			return 0, unix.EINVAL
		}
	}
	if fd, ok := acceptedBefore(c); ok {
		return fd, nil
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		return inetAccept(c, f, is, flags)
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if s.U.Type == linux.SOCK_DGRAM {
		return 0, unix.EOPNOTSUPP
	}
	var ne transport.Endpoint
	var peer transport.Address
	var cn *unixsock.Conn
	_, err = anon.BlockOn(c, f, s.U.Watch, false, func() (int64, error) {
		s.ConnMu.Lock()
		defer s.ConnMu.Unlock()
		ep, err := s.U.EP.Accept(kobj.Ctx(), &peer)
		if err != nil {
			return 0, kobj.SysErr(err)
		}
		ne = ep
		if len(s.Pending) > 0 {
			cn = s.Pending[0]
			s.Pending[0] = nil
			s.Pending = s.Pending[1:]
		}
		return 0, nil
	})
	if err != nil {
		if err == unix.EINVAL || err == unix.EOPNOTSUPP {
			return 0, unix.EINVAL // not listening
		}
		return 0, err
	}
	var fflags uint32
	if flags&unix.SOCK_NONBLOCK != 0 {
		fflags = unix.O_NONBLOCK
	}
	nf := unixsock.New(c.Kernel, socket.Accepted(ne), fflags)
	if err := c.Kernel.ChargeSocket(nf, false); err != nil {
		nf.DecRef() // the connection is lost, as when Linux cannot allocate it
		return 0, err
	}
	if cn != nil {
		// The connection's mirror started at connect; this is its
		// other end.
		cn.Mu.Lock()
		cn.Files[1] = nf
		cn.Mu.Unlock()
		nf.Impl.(*unixsock.File).End.Store(&unixsock.ConnEnd{Conn: cn, Side: 1})
		cn.Changed()
	}
	tab, err := c.FDTable()
	if err != nil {
		nf.DecRef()
		return 0, err
	}
	fd, err := tab.Install(nf, 0, flags&unix.SOCK_CLOEXEC != 0, c.CallSeq)
	if err != nil {
		return 0, err
	}
	if err := putSockaddr(c, c.Args[1], c.Args[2], socket.FromTransportName(peer.Addr).Encode()); err != nil {
		return 0, err
	}
	return int64(fd), nil
}

// Connect implements connect(2).
func Connect(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		return inetConnect(c, f, is)
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	raw, err := sockaddrArg(c, 1)
	if err != nil {
		return 0, err
	}
	a, named, err := socket.ParseUnixAddr(raw)
	if err != nil {
		return 0, err
	}
	if !named {
		return 0, unix.EINVAL
	}
	be, err := unixEndpointAt(c, a, s.U.Type)
	if err != nil {
		return 0, err
	}
	s.U.EP.SetPeerCreds(unixsock.Creds(c))
	lf := c.Kernel.Socks.BoundFile(be)
	if s.U.Type == linux.SOCK_DGRAM {
		lf = nil
	}
	for {
		if lf != nil {
			lf.ConnMu.Lock()
		}
		err := s.U.EP.Connect(kobj.Ctx(), be)
		if err == nil && lf != nil {
			// Mirror the connection's queues from now on (recovery),
			// and let the listener's accept find this end.
			cn := unixsock.NewConn(0, s.U.Type == linux.SOCK_STREAM)
			cn.Files[0] = f
			s.End.Store(&unixsock.ConnEnd{Conn: cn, Side: 0})
			lf.Pending = append(lf.Pending, cn)
		}
		if lf != nil {
			lf.ConnMu.Unlock()
		}
		if err == nil {
			f.Changed()
			return 0, nil
		}
		e := kobj.SysErr(err)
		if e == unix.EPROTOTYPE && a.Abstract {
			return 0, unix.ECONNREFUSED
		}
		if e != unix.EAGAIN || f.Nonblock() {
			return 0, e
		}
		// The listener's backlog is full: wait for an accept (Linux
		// blocks too), checking again every few milliseconds.
		tm := time.NewTimer(5 * time.Millisecond)
		err2 := c.Block(nil, tm.C)
		tm.Stop()
		if err2 != unix.ETIMEDOUT {
			return 0, err2
		}
	}
}

// Shutdown implements shutdown(2).
func Shutdown(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		how, err := socket.ShutdownFlags(int(c.Args[1]))
		if err != nil {
			return 0, err
		}
		return 0, kobj.TCPIPErr(is.S.EP.Shutdown(how))
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, s.U.Shutdown(int(c.Args[1]))
}

// Getsockname implements getsockname(2) and getpeername(2).
func Getsockname(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	return sockName(c, ArgInt(c, 0), c.Sysno == unix.SYS_GETPEERNAME)
}

// sockName writes the local name of socket fd, or its peer's, to the
// sockaddr and length at the call's second and third arguments (where
// getsockname, getpeername and accept take them).
func sockName(c *kernel.Task, fd int32, peer bool) (int64, error) {
	if f, is, ok := inetSock(c, fd); ok {
		defer f.DecRef()
		return inetGetname(c, is, peer)
	}
	f, s, err := unixSock(c, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var addr transport.Address
	if peer {
		a, terr := s.U.EP.GetRemoteAddress()
		if terr != nil {
			return 0, kobj.TCPIPErr(terr)
		}
		addr = a
	} else {
		addr, _ = s.U.EP.GetLocalAddress()
	}
	if c.Args[1] == 0 || c.Args[2] == 0 {
		return 0, unix.EFAULT
	}
	return 0, putSockaddr(c, c.Args[1], c.Args[2], socket.FromTransportName(addr.Addr).Encode())
}

// sendTarget finds the target of a sendto/sendmsg with an address.
func sendTarget(c *kernel.Task, s *unixsock.File, raw []byte) (transport.BoundEndpoint, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	switch s.U.Type {
	case linux.SOCK_SEQPACKET:
		return nil, nil // ignored, as on Linux
	case linux.SOCK_STREAM:
		if s.U.Connected() {
			return nil, unix.EISCONN
		}
		return nil, unix.EOPNOTSUPP
	}
	a, named, err := socket.ParseUnixAddr(raw)
	if err != nil {
		return nil, err
	}
	if !named {
		return nil, unix.EINVAL
	}
	return unixEndpointAt(c, a, s.U.Type)
}

// Sendto implements sendto(2).
func Sendto(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		var raw []byte
		if c.Args[4] != 0 {
			r, err := sockaddrArg(c, 4)
			if err != nil {
				return 0, err
			}
			raw = r
		}
		src, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(min(int64(c.Args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		return inetSendto(c, f, is, src, raw, int(c.Args[3]))
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	flags := int(c.Args[3])
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	n := min(int64(c.Args[2]), maxRW)
	if n < 0 {
		return 0, unix.EINVAL
	}
	var raw []byte
	if c.Args[4] != 0 {
		if raw, err = sockaddrArg(c, 4); err != nil {
			return 0, err
		}
	}
	to, err := sendTarget(c, s, raw)
	if err != nil {
		return 0, err
	}
	src, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(n))
	if err != nil {
		return 0, err
	}
	return s.Send(c, f, src, transport.ControlMessages{}, to, flags)
}

// Recvfrom implements recvfrom(2).
func Recvfrom(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		flags := int(c.Args[3])
		dst, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(min(int64(c.Args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		n, msgLen, from, err := is.Recv(c, f, dst, flags)
		noteSendRoom(c, is)
		if err != nil {
			return 0, err
		}
		if c.Args[4] != 0 {
			// A stream's source has length 0, as on Linux.
			var sa []byte
			if !is.S.Stream {
				sa = socket.EncodeInetAddr(is.S.Family, from)
			}
			if err := putSockaddr(c, c.Args[4], c.Args[5], sa); err != nil {
				return 0, err
			}
		}
		if flags&unix.MSG_TRUNC != 0 && !is.S.Stream {
			return msgLen, nil
		}
		return n, nil
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	flags := int(c.Args[3])
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	n := min(int64(c.Args[2]), maxRW)
	if n < 0 {
		return 0, unix.EINVAL
	}
	dst, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(n))
	if err != nil {
		return 0, err
	}
	got, res, err := s.Recv(c, f, dst, flags)
	res.Control.Release(kobj.Ctx())
	if err != nil {
		return 0, err
	}
	if c.Args[4] != 0 {
		if err := putSockaddr(c, c.Args[4], c.Args[5], fromAddr(s, res.From)); err != nil {
			return 0, err
		}
	}
	if flags&unix.MSG_TRUNC != 0 && s.U.Type != linux.SOCK_STREAM {
		return res.MsgLen, nil
	}
	return got, nil
}

// parseControl reads sendmsg's control messages: SCM_RIGHTS (files of
// the caller's fd table, referenced) and SCM_CREDENTIALS.
func parseControl(c *kernel.Task, b []byte) (transport.ControlMessages, error) {
	var ctl transport.ControlMessages
	var rights []socket.Ref
	fail := func(err error) (transport.ControlMessages, error) {
		for _, r := range rights {
			r.DecRef()
		}
		return transport.ControlMessages{}, err
	}
	for len(b) >= sizeofCmsghdr {
		l := binary.LittleEndian.Uint64(b)
		level, typ := int32(binary.LittleEndian.Uint32(b[8:])), int32(binary.LittleEndian.Uint32(b[12:]))
		if l < sizeofCmsghdr || l > uint64(len(b)) {
			return fail(unix.EINVAL)
		}
		data := b[sizeofCmsghdr:l]
		if level != unix.SOL_SOCKET {
			return fail(unix.EINVAL)
		}
		switch typ {
		case unix.SCM_RIGHTS:
			n := len(data) / 4
			if len(rights)+n > scmMaxFD {
				return fail(unix.EINVAL)
			}
			for i := 0; i < n; i++ {
				f, err := c.GetFile(int32(binary.LittleEndian.Uint32(data[4*i:])))
				if err != nil {
					return fail(err)
				}
				rights = append(rights, fileRef{f})
			}
		case unix.SCM_CREDENTIALS:
			if len(data) < sizeofUcred {
				return fail(unix.EINVAL)
			}
			cr := socket.Creds{Pid: int32(binary.LittleEndian.Uint32(data)), Uid: binary.LittleEndian.Uint32(data[4:]), Gid: binary.LittleEndian.Uint32(data[8:])}
			me := c.ProcessCreds()
			if me.EUID != 0 && (cr.Pid != c.PID() || (cr.Uid != me.RUID && cr.Uid != me.EUID && cr.Uid != me.SUID) ||
				(cr.Gid != me.RGID && cr.Gid != me.EGID && cr.Gid != me.SGID)) {
				return fail(unix.EPERM)
			}
			ctl.Credentials = cr
		default:
			return fail(unix.EINVAL)
		}
		adv := cmsgAlign(int(l))
		if adv >= len(b) {
			break
		}
		b = b[adv:]
	}
	if len(rights) > 0 {
		ctl.Rights = &socket.Rights{Files: rights}
	}
	return ctl, nil
}

// msgCall starts sendmsg and recvmsg alike: a netlink or host socket's
// call goes to its kind, a 32-bit caller's flag is EINVAL, an inet
// socket's goes to inet; an AF_UNIX socket's is returned (done false,
// f's reference the caller's), with MSG_OOB refused (EOPNOTSUPP).
func msgCall(c *kernel.Task, inetCall func(*kernel.Task, *fdesc.File, *inet.File) (int64, error)) (f *fdesc.File, s *unixsock.File, done bool, n int64, err error) {
	if done, n, err := kindCall(c, netlinkKind); done {
		return nil, nil, true, n, err
	}
	if c.Args[2]&msgCmsgCompat != 0 {
		// A 32-bit caller's flag, refused from a 64-bit one.
		return nil, nil, true, 0, unix.EINVAL
	}
	if done, n, err := kindCall(c, hostKind); done {
		return nil, nil, true, n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		n, err := inetCall(c, f, is)
		return nil, nil, true, n, err
	}
	f, s, err = unixSock(c, ArgInt(c, 0))
	if err != nil {
		return nil, nil, true, 0, err
	}
	if int(c.Args[2])&unix.MSG_OOB != 0 {
		f.DecRef()
		return nil, nil, true, 0, unix.EOPNOTSUPP
	}
	return f, s, false, 0, nil
}

// Sendmsg implements sendmsg(2).
func Sendmsg(c *kernel.Task) (int64, error) {
	f, s, done, n, err := msgCall(c, inetSendmsg)
	if done {
		return n, err
	}
	defer f.DecRef()
	flags := int(c.Args[2])
	h, iov, err := readMsghdr(c, c.Args[1])
	if err != nil {
		return 0, err
	}
	raw, err := msgName(c, h)
	if err != nil {
		return 0, err
	}
	to, err := sendTarget(c, s, raw)
	if err != nil {
		return 0, err
	}
	var ctl transport.ControlMessages
	if h.controllen > 0 {
		if h.controllen > sysabi.MaxControl {
			return 0, unix.ENOBUFS
		}
		b, err := c.Mem.CopyIn(h.control, int(h.controllen))
		if err != nil {
			return 0, err
		}
		if ctl, err = parseControl(c, b); err != nil {
			return 0, err
		}
	}
	src, err := kobj.Sequence(c.Mem, iov)
	if err != nil {
		ctl.Release(kobj.Ctx())
		return 0, err
	}
	return s.Send(c, f, src, ctl, to, flags)
}

// Recvmsg implements recvmsg(2).
func Recvmsg(c *kernel.Task) (int64, error) {
	f, s, done, n, err := msgCall(c, inetRecvmsg)
	if done {
		return n, err
	}
	defer f.DecRef()
	flags := int(c.Args[2])
	h, dst, err := recvmsgBuffers(c)
	if err != nil {
		return 0, err
	}
	got, res, err := s.Recv(c, f, dst, flags)
	defer res.Control.Release(kobj.Ctx())
	if err != nil {
		return 0, err
	}
	// Linux reports MSG_CMSG_CLOEXEC back in msg_flags.
	msgFlags := uint32(flags & unix.MSG_CMSG_CLOEXEC)
	if s.U.Type != linux.SOCK_STREAM && res.MsgLen > got {
		msgFlags |= unix.MSG_TRUNC
	}
	// Name.
	namelen := uint32(0)
	if h.name != 0 {
		sa := fromAddr(s, res.From)
		if len(sa) > 0 {
			if err := c.Mem.CopyOut(h.name, sa[:min(len(sa), int(h.namelen))]); err != nil {
				return 0, err
			}
		}
		namelen = uint32(len(sa))
	}
	// Control messages.
	var cmsgs []byte
	space := int(min(h.controllen, sysabi.MaxControl))
	if h.control == 0 {
		space = 0
	}
	if s.U.EP.Passcred() {
		cr, _ := res.Control.Credentials.(socket.Creds)
		if res.Control.Credentials == nil {
			cr = socket.NobodyCreds
		}
		if space-len(cmsgs) >= cmsgAlign(sizeofCmsghdr+sizeofUcred) {
			d := make([]byte, sizeofUcred)
			binary.LittleEndian.PutUint32(d, uint32(cr.Pid))
			binary.LittleEndian.PutUint32(d[4:], cr.Uid)
			binary.LittleEndian.PutUint32(d[8:], cr.Gid)
			cmsgs = appendCmsg(cmsgs, unix.SCM_CREDENTIALS, d)
		} else {
			msgFlags |= unix.MSG_CTRUNC
		}
	}
	if r, ok := res.Control.Rights.(*socket.Rights); ok && len(r.Files) > 0 {
		room := (space - len(cmsgs) - sizeofCmsghdr) / 4
		if room < len(r.Files) {
			msgFlags |= unix.MSG_CTRUNC
		}
		if room > 0 {
			tab, err := c.FDTable()
			if err != nil {
				return 0, err
			}
			n := min(room, len(r.Files))
			d := make([]byte, 0, 4*n)
			for _, ref := range r.Files[:n] {
				fr := ref.(fileRef)
				fr.f.IncRef()
				fd, err := tab.Install(fr.f, 0, flags&unix.MSG_CMSG_CLOEXEC != 0, c.CallSeq)
				if err != nil {
					msgFlags |= unix.MSG_CTRUNC
					break
				}
				d = binary.LittleEndian.AppendUint32(d, uint32(fd))
			}
			if len(d) > 0 {
				cmsgs = appendCmsg(cmsgs, unix.SCM_RIGHTS, d)
			}
		}
	}
	if res.ControlTrunc {
		msgFlags |= unix.MSG_CTRUNC
	}
	if len(cmsgs) > 0 {
		if err := c.Mem.CopyOut(h.control, cmsgs); err != nil {
			return 0, err
		}
	}
	if err := putMsgResult(c, c.Args[1], namelen, uint64(len(cmsgs)), msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 && s.U.Type != linux.SOCK_STREAM {
		return res.MsgLen, nil
	}
	return got, nil
}

// fromAddr is the source address recvfrom and recvmsg report: none on a
// stream socket or from an unbound sender.
func fromAddr(s *unixsock.File, from transport.Address) []byte {
	if s.U.Type == linux.SOCK_STREAM || from.Addr == "" {
		return nil
	}
	return socket.FromTransportName(from.Addr).Encode()
}

// appendCmsg appends one SOL_SOCKET control message, padded.
func appendCmsg(b []byte, typ int32, data []byte) []byte {
	l := sizeofCmsghdr + len(data)
	b = binary.LittleEndian.AppendUint64(b, uint64(l))
	b = binary.LittleEndian.AppendUint32(b, unix.SOL_SOCKET)
	b = binary.LittleEndian.AppendUint32(b, uint32(typ))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// Getsockopt implements getsockopt(2).
func Getsockopt(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	level, name := int(int32(c.Args[1])), int(int32(c.Args[2]))
	if c.Args[4] == 0 {
		return 0, unix.EFAULT
	}
	lb, err := c.Mem.CopyIn(c.Args[4], 4)
	if err != nil {
		return 0, err
	}
	if int32(binary.LittleEndian.Uint32(lb)) < 0 {
		return 0, unix.EINVAL
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		v, err := is.Sockopt(true, level, name, nil, c.ProcessCreds().EUID == 0)
		if err != nil {
			return 0, err
		}
		l := min(int(binary.LittleEndian.Uint32(lb)), len(v))
		if err := c.Mem.CopyOut(c.Args[3], v[:l]); err != nil {
			return 0, err
		}
		return 0, c.Mem.CopyOut(c.Args[4], putInt(int32(l)))
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if level != unix.SOL_SOCKET {
		return 0, unix.EOPNOTSUPP
	}
	opts := s.U.EP.SocketOptions()
	var v []byte
	switch name {
	case unix.SO_TYPE:
		v = putInt(int32(s.U.Type))
	case unix.SO_DOMAIN:
		v = putInt(unix.AF_UNIX)
	case unix.SO_PROTOCOL:
		v = putInt(0)
	case unix.SO_ERROR:
		v = putInt(0)
		if e := kobj.TCPIPErr(s.U.EP.LastError()); e != nil {
			v = putInt(int32(e.(unix.Errno)))
		}
	case unix.SO_ACCEPTCONN:
		l, _ := s.U.EP.(interface{ Listening() bool })
		v = putInt(0)
		if l != nil && l.Listening() {
			v = putInt(1)
		}
	case unix.SO_PEERCRED:
		cr, ok := s.U.EP.PeerCreds().(socket.Creds)
		if !ok || s.U.Type == linux.SOCK_DGRAM || !s.U.Connected() {
			cr = socket.Creds{Pid: 0, Uid: ^uint32(0), Gid: ^uint32(0)}
		}
		v = binary.LittleEndian.AppendUint32(v, uint32(cr.Pid))
		v = binary.LittleEndian.AppendUint32(v, cr.Uid)
		v = binary.LittleEndian.AppendUint32(v, cr.Gid)
	case unix.SO_SNDBUF:
		v = putInt(int32(opts.GetSendBufferSize()))
	case unix.SO_RCVBUF:
		v = putInt(int32(opts.GetReceiveBufferSize()))
	case unix.SO_PASSCRED:
		v = putInt(boolInt(opts.GetPassCred()))
	case unix.SO_REUSEADDR:
		v = putInt(boolInt(opts.GetReuseAddress()))
	case unix.SO_KEEPALIVE:
		v = putInt(boolInt(opts.GetKeepAlive()))
	case unix.SO_BROADCAST:
		v = putInt(boolInt(opts.GetBroadcast()))
	case unix.SO_LINGER:
		v = make([]byte, 8)
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		v = s.Timeo.Get(name)
	default:
		return 0, unix.ENOPROTOOPT
	}
	l := min(int(binary.LittleEndian.Uint32(lb)), len(v))
	if err := c.Mem.CopyOut(c.Args[3], v[:l]); err != nil {
		return 0, err
	}
	return 0, c.Mem.CopyOut(c.Args[4], putInt(int32(l)))
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// Setsockopt implements setsockopt(2).
func Setsockopt(c *kernel.Task) (int64, error) {
	if done, n, err := kindCall(c, netlinkKind|hostKind); done {
		return n, err
	}
	if f, is, ok := inetSock(c, ArgInt(c, 0)); ok {
		defer f.DecRef()
		n := int(int32(c.Args[4]))
		if n < 0 {
			return 0, unix.EINVAL
		}
		v, err := c.Mem.CopyIn(c.Args[3], min(n, 128))
		if err != nil {
			return 0, err
		}
		_, err = is.Sockopt(false, int(int32(c.Args[1])), int(int32(c.Args[2])), v, c.ProcessCreds().EUID == 0)
		return 0, err
	}
	f, s, err := unixSock(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name := int(int32(c.Args[1])), int(int32(c.Args[2]))
	n := int(int32(c.Args[4]))
	if n < 0 {
		return 0, unix.EINVAL
	}
	if level != unix.SOL_SOCKET {
		return 0, unix.EOPNOTSUPP
	}
	v, err := c.Mem.CopyIn(c.Args[3], min(n, 128))
	if err != nil {
		return 0, err
	}
	opts := s.U.EP.SocketOptions()
	switch name {
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		return 0, s.Timeo.Set(name, v)
	case unix.SO_LINGER:
		if len(v) < 8 {
			return 0, unix.EINVAL
		}
		return 0, nil
	}
	if len(v) < 4 {
		return 0, unix.EINVAL
	}
	iv := int32(binary.LittleEndian.Uint32(v))
	switch name {
	case unix.SO_PASSCRED:
		opts.SetPassCred(iv != 0)
	case unix.SO_REUSEADDR:
		opts.SetReuseAddress(iv != 0)
	case unix.SO_KEEPALIVE:
		opts.SetKeepAlive(iv != 0)
	case unix.SO_BROADCAST:
		opts.SetBroadcast(iv != 0)
	case unix.SO_SNDBUF:
		opts.SetSendBufferSize(2*int64(max(iv, 0)), true)
	case unix.SO_RCVBUF:
		old := opts.GetReceiveBufferSize()
		opts.SetReceiveBufferSize(2*int64(max(iv, 0)), true)
		if err := s.Bufs.Resize(opts.GetReceiveBufferSize()); err != nil {
			opts.SetReceiveBufferSize(old, true)
			return 0, err
		}
	default:
		return 0, unix.ENOPROTOOPT
	}
	return 0, nil
}
