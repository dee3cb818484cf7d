package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The socket calls on an AF_INET or AF_INET6 socket of the client's
// netstack (package fsimpl/inet's File).

// inetSock returns the inet socket at fd, if it is one.
func inetSock(c *kernel.Task, fd int32) (*fdesc.File, *inet.File, bool) {
	f, s, err := FileAs[*inet.File](c, fd, unix.ENOTSOCK)
	return f, s, err == nil
}

// checkInetBind refuses, as Linux does, a port below 1024 to a caller
// without CAP_NET_BIND_SERVICE (here: euid 0), on either network.
func checkInetBind(c *kernel.Task, family int, raw []byte) error {
	a, err := socket.ParseInetAddr(family, raw)
	if err != nil {
		return err
	}
	if a.Port != 0 && a.Port < 1024 && c.ProcessCreds().EUID != 0 {
		return unix.EACCES
	}
	return nil
}

func newInetSocket(c *kernel.Task, family int, stype int, proto int, flags uint32) (*fdesc.File, error) {
	stream, err := inet.SockType(stype, proto, c.ProcessCreds().EUID == 0)
	if err != nil {
		return nil, err
	}
	st, err := c.Kernel.NetStack()
	if err != nil {
		return nil, err
	}
	s, err := st.NewInet(family, stream)
	if err != nil {
		return nil, err
	}
	return inet.New(s, flags), nil
}

func inetBind(c *kernel.Task, f *fdesc.File, s *inet.File) (int64, error) {
	raw, err := sockaddrArg(c, 1)
	if err != nil {
		return 0, err
	}
	if err := checkInetBind(c, s.S.Family, raw); err != nil {
		return 0, err
	}
	a, err := socket.ParseInetAddr(s.S.Family, raw)
	if err != nil {
		return 0, err
	}
	if err := s.S.Bind(a); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}

func inetListen(c *kernel.Task, f *fdesc.File, s *inet.File) (int64, error) {
	if !s.S.Stream {
		return 0, unix.EOPNOTSUPP
	}
	backlog := int(int32(c.Args[1]))
	backlog = max(0, min(backlog, unix.SOMAXCONN))
	if err := kobj.TCPIPErr(s.S.EP.Listen(backlog)); err != nil {
		return 0, err
	}
	s.SetBacklog(backlog)
	f.Changed()
	return 0, nil
}

func inetAccept(c *kernel.Task, f *fdesc.File, s *inet.File, flags uint32) (int64, error) {
	ns, peer, err := s.Accept(c, f)
	if err != nil {
		return 0, err
	}
	var fflags uint32
	if flags&unix.SOCK_NONBLOCK != 0 {
		fflags = unix.O_NONBLOCK
	}
	nf := inet.New(ns, fflags)
	if err := c.Kernel.ChargeSocket(nf, false); err != nil {
		nf.DecRef() // the connection is lost, as when Linux cannot allocate it
		return 0, err
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
	if err := putSockaddr(c, c.Args[1], c.Args[2], socket.EncodeInetAddr(s.S.Family, peer)); err != nil {
		return 0, err
	}
	return int64(fd), nil
}

func inetConnect(c *kernel.Task, f *fdesc.File, s *inet.File) (int64, error) {
	raw, err := sockaddrArg(c, 1)
	if err != nil {
		return 0, err
	}
	if len(raw) >= 2 && binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC {
		if err := kobj.TCPIPErr(s.S.EP.Disconnect()); err != nil {
			return 0, err
		}
		s.SetConnectPeer(nil)
		return 0, nil
	}
	a, err := socket.ParseInetAddr(s.S.Family, raw)
	if err != nil {
		return 0, err
	}
	// A connection (or its attempt) is replay state: report it.
	defer f.Changed()
	ch := s.S.Watch.Changed()
	err = s.S.Connect(a)
	if s.S.Stream && (err == nil || err == unix.EINPROGRESS) {
		// The record says connected from here on, even before the
		// handshake completes (inetState): nothing reports the socket
		// again when it does.
		s.SetConnectPeer(socket.EncodeInetAddr(s.S.Family, a))
	}
	if err != unix.EINPROGRESS || f.Nonblock() {
		if err == nil {
			noteSendRoom(c, s)
		}
		return 0, err
	}
	for {
		if err := c.Block(ch, nil); err != nil {
			return 0, err
		}
		ch = s.S.Watch.Changed()
		if err := s.S.Connect(a); err != unix.EINPROGRESS {
			if err == nil {
				// The connection's first write may go behind.
				noteSendRoom(c, s)
			}
			return 0, err
		}
	}
}

func inetGetname(c *kernel.Task, s *inet.File, peer bool) (int64, error) {
	var a tcpip.FullAddress
	if peer {
		r, err := s.S.EP.GetRemoteAddress()
		if err != nil {
			return 0, kobj.TCPIPErr(err)
		}
		a = r
	} else {
		a, _ = s.S.EP.GetLocalAddress()
	}
	if c.Args[1] == 0 || c.Args[2] == 0 {
		return 0, unix.EFAULT
	}
	return 0, putSockaddr(c, c.Args[1], c.Args[2], socket.EncodeInetAddr(s.S.Family, a))
}

func inetSendto(c *kernel.Task, f *fdesc.File, s *inet.File, src usermem.IOSequence, raw []byte, flags int) (int64, error) {
	to, err := s.Target(raw)
	if err != nil {
		return 0, err
	}
	if c.Sysno != unix.SYS_SENDTO {
		return s.Send(c, f, src, to, flags)
	}
	// send(2) sends behind as write(2) does (file_kobj.go's seqIO).
	var n int64
	if c.Posted && len(raw) == 0 {
		n, err = s.WritePosted(c, f, src, flags)
	} else {
		n, err = s.Send(c, f, src, to, flags)
	}
	noteSendRoom(c, s)
	return n, err
}

// noteSendRoom puts s's room for writes behind in c's reply.
func noteSendRoom(c *kernel.Task, s *inet.File) {
	if c.Reply != nil {
		c.Reply.SendRoom = s.SendRoom()
	}
}

func inetSendmsg(c *kernel.Task, f *fdesc.File, s *inet.File) (int64, error) {
	flags := int(c.Args[2])
	h, iov, err := readMsghdr(c, c.Args[1])
	if err != nil {
		return 0, err
	}
	if err := checkInetControl(c, h, s.S.Stream); err != nil {
		return 0, err
	}
	raw, err := msgName(c, h)
	if err != nil {
		return 0, err
	}
	src, err := kobj.Sequence(c.Mem, iov)
	if err != nil {
		return 0, err
	}
	return inetSendto(c, f, s, src, raw, flags)
}

func inetRecvmsg(c *kernel.Task, f *fdesc.File, s *inet.File) (int64, error) {
	flags := int(c.Args[2])
	h, dst, err := recvmsgBuffers(c)
	if err != nil {
		return 0, err
	}
	n, msgLen, from, err := s.Recv(c, f, dst, flags)
	if err != nil {
		return 0, err
	}
	var msgFlags uint32
	if !s.S.Stream && msgLen > n {
		msgFlags |= unix.MSG_TRUNC
	}
	namelen := uint32(0)
	if h.name != 0 && !s.S.Stream {
		sa := socket.EncodeInetAddr(s.S.Family, from)
		if err := c.Mem.CopyOut(h.name, sa[:min(len(sa), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(sa))
	}
	if err := putMsgResult(c, c.Args[1], namelen, 0, msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 && !s.S.Stream {
		return msgLen, nil
	}
	return n, nil
}

// checkInetControl checks the control messages of an inet sendmsg (on a
// stream socket if stream). As on Linux, SCM_RIGHTS and SCM_CREDENTIALS
// (AF_UNIX's) are ignored, and so is every level but SOL_SOCKET on TCP;
// the others (UDP's IP_PKTINFO, IP_TOS..., SO_MARK, SCM_TXTIME...) are
// not supported: EINVAL.
func checkInetControl(c *kernel.Task, h msghdr, stream bool) error {
	if h.controllen == 0 {
		return nil
	}
	if h.controllen > sysabi.MaxControl {
		return unix.ENOBUFS
	}
	b, err := c.Mem.CopyIn(h.control, int(h.controllen))
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
