package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// The socket calls on a host socket (Config.Network "host": package
// fsimpl/inet's HostFile).

// hostSock returns the host socket at fd, if it is one.
func hostSock(c *kernel.Task, fd int32) (*fdesc.File, *inet.HostFile, bool) {
	f, s, err := FileAs[*inet.HostFile](c, fd, unix.ENOTSOCK)
	return f, s, err == nil
}

func newHostInetSocket(c *kernel.Task, family, stype, proto int, flags uint32) (*fdesc.File, error) {
	stream, err := inet.SockType(stype, proto, c.ProcessCreds().EUID == 0)
	if err != nil {
		return nil, err
	}
	s, err := socket.NewHostInet(family, stream)
	if err != nil {
		return nil, err
	}
	return inet.NewHost(s, flags), nil
}

// hostSockCall runs a socket system call on a host socket.
func hostSockCall(c *kernel.Task, f *fdesc.File, s *inet.HostFile) (int64, error) {
	switch c.Sysno {
	case unix.SYS_BIND:
		raw, err := sockaddrArg(c, 1)
		if err != nil {
			return 0, err
		}
		if err := checkInetBind(c, s.S.Family, raw); err != nil {
			return 0, err
		}
		if err := s.S.Bind(raw); err != nil {
			return 0, err
		}
		f.Changed()
		return 0, nil
	case unix.SYS_LISTEN:
		backlog := max(0, min(int(int32(c.Args[1])), unix.SOMAXCONN))
		if err := s.S.Listen(backlog); err != nil {
			return 0, err
		}
		s.SetBacklog(backlog)
		f.Changed()
		return 0, nil
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		return hostAccept(c, f, s)
	case unix.SYS_CONNECT:
		return hostConnect(c, f, s)
	case unix.SYS_SHUTDOWN:
		return 0, s.S.Shutdown(int(c.Args[1]))
	case unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME:
		sa, err := s.S.Name(c.Sysno == unix.SYS_GETPEERNAME)
		if err != nil {
			return 0, err
		}
		if c.Args[1] == 0 || c.Args[2] == 0 {
			return 0, unix.EFAULT
		}
		return 0, putSockaddr(c, c.Args[1], c.Args[2], sa)
	case unix.SYS_SENDTO:
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
		return s.Send(c, f, src, raw, int(c.Args[3]))
	case unix.SYS_RECVFROM:
		flags := int(c.Args[3])
		dst, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(min(int64(c.Args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		n, msgLen, from, err := s.Recv(c, f, dst, flags)
		if err != nil {
			return 0, err
		}
		if c.Args[4] != 0 {
			// A stream's source has length 0, as on Linux.
			if err := putSockaddr(c, c.Args[4], c.Args[5], from); err != nil {
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

func hostAccept(c *kernel.Task, f *fdesc.File, s *inet.HostFile) (int64, error) {
	var flags uint32
	if c.Sysno == unix.SYS_ACCEPT4 {
		flags = uint32(c.Args[3])
		if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
			return 0, unix.EINVAL
		}
	}
	ns, peer, err := s.Accept(c, f)
	if err != nil {
		return 0, err
	}
	var fflags uint32
	if flags&unix.SOCK_NONBLOCK != 0 {
		fflags = unix.O_NONBLOCK
	}
	nf := inet.NewHost(ns, fflags)
	// An accepted socket inherits the listener's options, as on Linux.
	nf.Impl.(*inet.HostFile).SetReuseAddr(s.ReuseAddr())
	tab, err := c.FDTable()
	if err != nil {
		nf.DecRef()
		return 0, err
	}
	fd, err := tab.Install(nf, 0, flags&unix.SOCK_CLOEXEC != 0, c.CallSeq)
	if err != nil {
		return 0, err
	}
	if err := putSockaddr(c, c.Args[1], c.Args[2], peer); err != nil {
		return 0, err
	}
	return int64(fd), nil
}

// hostConnect connects; a blocking connect waits for the handshake (up
// to SO_SNDTIMEO, as on Linux) and returns its outcome.
func hostConnect(c *kernel.Task, f *fdesc.File, s *inet.HostFile) (int64, error) {
	raw, err := sockaddrArg(c, 1)
	if err != nil {
		return 0, err
	}
	// A connection (or its attempt) is replay state: report it.
	defer f.Changed()
	err = s.S.Connect(raw)
	if s.S.Stream && (err == nil || err == unix.EINPROGRESS) {
		// Connected in the record from here on (hostInetState); an
		// AF_UNSPEC connect disconnects.
		peer := raw
		if len(raw) >= 2 && binary.LittleEndian.Uint16(raw) == unix.AF_UNSPEC {
			peer = nil
		}
		s.SetConnectPeer(peer)
	}
	if err != unix.EINPROGRESS || f.Nonblock() {
		return 0, err
	}
	_, err = anon.BlockOnUntil(c, f, s.S.Watch, false, s.Timeo.Deadline(true), func() (int64, error) {
		if s.S.Readiness()&(linux.POLLOUT|linux.POLLERR|linux.POLLHUP) == 0 {
			return 0, unix.EAGAIN
		}
		return 0, s.S.SockError()
	})
	if err == unix.EAGAIN {
		return 0, unix.EINPROGRESS
	}
	return 0, err
}

func hostSendmsg(c *kernel.Task, f *fdesc.File, s *inet.HostFile) (int64, error) {
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
	return s.Send(c, f, src, raw, int(c.Args[2]))
}

func hostRecvmsg(c *kernel.Task, f *fdesc.File, s *inet.HostFile) (int64, error) {
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
	if h.name != 0 && !s.S.Stream && len(from) > 0 {
		if err := c.Mem.CopyOut(h.name, from[:min(len(from), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(from))
	}
	if err := putMsgResult(c, c.Args[1], namelen, 0, msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return msgLen, nil
	}
	return n, nil
}

// hostSockopt runs getsockopt or setsockopt on a host socket.
func hostSockopt(c *kernel.Task, s *inet.HostFile) (int64, error) {
	level, name := int(int32(c.Args[1])), int(int32(c.Args[2]))
	get := c.Sysno == unix.SYS_GETSOCKOPT
	if get && level == unix.SOL_SOCKET && name == unix.SO_ERROR {
		// A lost connection's socket is a fresh one on the host: its
		// reset is the file's.
		if errno, lost := s.LostSockError(); lost {
			return putSockopt(c, putInt(errno))
		}
	}
	if level == unix.SOL_SOCKET && (name == unix.SO_RCVTIMEO || name == unix.SO_SNDTIMEO) {
		// The server waits, not the host: the timeouts are the
		// server's.
		if get {
			v, _ := s.TimeoutOption(true, name, nil)
			return putSockopt(c, v)
		}
		n := int(int32(c.Args[4]))
		if n < 0 {
			return 0, unix.EINVAL
		}
		v, err := c.Mem.CopyIn(c.Args[3], min(n, 128))
		if err != nil {
			return 0, err
		}
		_, err = s.TimeoutOption(false, name, v)
		return 0, err
	}
	if level == unix.SOL_SOCKET && name == unix.SO_REUSEADDR && s.S.Stream {
		// The host socket always has it (socket.NewHostInet); the
		// application's value is the file's.
		if get {
			return putSockopt(c, putInt(boolInt(s.ReuseAddr())))
		}
		v, err := c.Mem.CopyIn(c.Args[3], min(max(int(int32(c.Args[4])), 0), 4))
		if err != nil {
			return 0, err
		}
		if len(v) < 4 {
			return 0, unix.EINVAL
		}
		s.SetReuseAddr(binary.LittleEndian.Uint32(v) != 0)
		return 0, nil
	}
	if level == unix.SOL_SOCKET && (name == unix.SO_SNDBUFFORCE || name == unix.SO_RCVBUFFORCE) && !get {
		// CAP_NET_ADMIN's way past the host's limits: the server does
		// not hold it, so a root application gets SO_SNDBUF or
		// SO_RCVBUF, within the host's wmem_max and rmem_max.
		plain, err := inet.ForcedOption(name, c.ProcessCreds().EUID == 0)
		if err != nil {
			return 0, err
		}
		v, err := c.Mem.CopyIn(c.Args[3], min(max(int(int32(c.Args[4])), 0), 4))
		if err != nil {
			return 0, err
		}
		if len(v) < 4 {
			return 0, unix.EINVAL
		}
		return 0, s.S.SetSockopt(level, plain, v)
	}
	if err := s.HostOption(get, level, name); err != nil {
		return 0, err
	}
	if get {
		if c.Args[4] == 0 {
			return 0, unix.EFAULT
		}
		lb, err := c.Mem.CopyIn(c.Args[4], 4)
		if err != nil {
			return 0, err
		}
		size := int(int32(binary.LittleEndian.Uint32(lb)))
		if size < 0 {
			return 0, unix.EINVAL
		}
		v, err := s.S.GetSockopt(level, name, min(size, 512))
		if err != nil {
			return 0, err
		}
		return putSockopt(c, v)
	}
	n := int(int32(c.Args[4]))
	if n < 0 {
		return 0, unix.EINVAL
	}
	v, err := c.Mem.CopyIn(c.Args[3], min(n, 512))
	if err != nil {
		return 0, err
	}
	return 0, s.S.SetSockopt(level, name, v)
}

// putSockopt writes getsockopt's result v to (args[3], args[4]),
// truncated to the caller's buffer.
func putSockopt(c *kernel.Task, v []byte) (int64, error) {
	if c.Args[4] == 0 {
		return 0, unix.EFAULT
	}
	lb, err := c.Mem.CopyIn(c.Args[4], 4)
	if err != nil {
		return 0, err
	}
	size := int32(binary.LittleEndian.Uint32(lb))
	if size < 0 {
		return 0, unix.EINVAL
	}
	l := min(int(size), len(v))
	if err := c.Mem.CopyOut(c.Args[3], v[:l]); err != nil {
		return 0, err
	}
	return 0, c.Mem.CopyOut(c.Args[4], putInt(int32(l)))
}
