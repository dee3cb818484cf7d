package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// The socket calls on a netlink socket (package fsimpl/netlink): its
// answers come from the kernel's netlink.Router for its protocol.

// newNetlinkSocket is socket(AF_NETLINK, type, proto): the route and
// sock_diag protocols, datagram or raw, as Linux's netlink_create checks.
func newNetlinkSocket(c *kernel.Task, stype, proto int, flags uint32) (*fdesc.File, error) {
	if stype != unix.SOCK_RAW && stype != unix.SOCK_DGRAM {
		return nil, unix.ESOCKTNOSUPPORT
	}
	r, ok := c.Kernel.NetlinkRouter(proto)
	if !ok {
		if _, logged := c.Kernel.Unsupported.LoadOrStore("netlink protocol", struct{}{}); !logged {
			c.Kernel.Log.Info("netlink protocol not supported", "protocol", proto)
		}
		return nil, unix.EPROTONOSUPPORT
	}
	return netlink.New(r, proto, flags), nil
}

// netlinkSock returns fd's file if it is a netlink socket (referenced).
func netlinkSock(c *kernel.Task, fd int32) (*fdesc.File, *netlink.File, bool) {
	f, n, err := FileAs[*netlink.File](c, fd, unix.ENOTSOCK)
	return f, n, err == nil
}

// netlinkCall runs a socket system call on a netlink socket.
func netlinkCall(c *kernel.Task, f *fdesc.File, n *netlink.File) (int64, error) {
	switch c.Sysno {
	case unix.SYS_BIND, unix.SYS_CONNECT:
		raw, err := sockaddrArg(c, 1)
		if err != nil {
			return 0, err
		}
		if len(raw) < netlink.SockaddrSize || binary.LittleEndian.Uint16(raw) != unix.AF_NETLINK {
			return 0, unix.EINVAL
		}
		if c.Sysno == unix.SYS_BIND {
			n.Bind(c, int32(binary.LittleEndian.Uint32(raw[4:])))
		}
		return 0, nil
	case unix.SYS_GETSOCKNAME:
		return 0, putSockaddr(c, c.Args[1], c.Args[2], n.Sockaddr())
	case unix.SYS_GETPEERNAME:
		return 0, putSockaddr(c, c.Args[1], c.Args[2], netlink.KernelSockaddr())
	case unix.SYS_SENDTO:
		b, err := c.Mem.CopyIn(c.Args[1], int(min(c.Args[2], maxRW)))
		if err != nil {
			return 0, err
		}
		return n.Send(c, f, b)
	case unix.SYS_SENDMSG:
		_, iov, err := readMsghdr(c, c.Args[1])
		if err != nil {
			return 0, err
		}
		var b []byte
		for _, v := range iov {
			d, err := c.Mem.CopyIn(v.Base, int(v.Len))
			if err != nil {
				return 0, err
			}
			b = append(b, d...)
		}
		return n.Send(c, f, b)
	case unix.SYS_RECVFROM:
		flags := int(c.Args[3])
		dst, err := kobj.BufferSequence(c.Mem, c.Args[1], uint64(min(int64(c.Args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		got, size, err := n.Recv(c, f, dst, flags)
		if err != nil {
			return 0, err
		}
		if err := putSockaddr(c, c.Args[4], c.Args[5], netlink.KernelSockaddr()); err != nil {
			return 0, err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return size, nil
		}
		return got, nil
	case unix.SYS_RECVMSG:
		return netlinkRecvmsg(c, f, n)
	case unix.SYS_SETSOCKOPT:
		// Buffer sizes and the netlink options (NETLINK_EXT_ACK,
		// membership of groups that never send) change nothing here.
		return 0, nil
	case unix.SYS_GETSOCKOPT:
		var v int32
		switch {
		case c.Args[1] == unix.SOL_SOCKET && (c.Args[2] == unix.SO_RCVBUF || c.Args[2] == unix.SO_SNDBUF):
			v = netlink.RcvBuf
		case c.Args[1] == unix.SOL_SOCKET && c.Args[2] == unix.SO_TYPE:
			v = unix.SOCK_RAW
		case c.Args[1] == unix.SOL_SOCKET && c.Args[2] == unix.SO_DOMAIN:
			v = unix.AF_NETLINK
		case c.Args[1] == unix.SOL_SOCKET && c.Args[2] == unix.SO_PROTOCOL:
			v = int32(n.Protocol())
		default:
			return 0, unix.ENOPROTOOPT
		}
		return 0, putSockaddr(c, c.Args[3], c.Args[4], putInt(v))
	case unix.SYS_SHUTDOWN:
		return 0, nil
	}
	return 0, unix.EOPNOTSUPP
}

// netlinkRecvmsg is recvmsg on a netlink socket: no control messages.
func netlinkRecvmsg(c *kernel.Task, f *fdesc.File, n *netlink.File) (int64, error) {
	flags := int(c.Args[2])
	h, dst, err := recvmsgBuffers(c)
	if err != nil {
		return 0, err
	}
	got, size, err := n.Recv(c, f, dst, flags)
	if err != nil {
		return 0, err
	}
	var msgFlags uint32
	if size > got {
		msgFlags |= unix.MSG_TRUNC
	}
	var namelen uint32
	if h.name != 0 {
		sa := netlink.KernelSockaddr()
		if err := c.Mem.CopyOut(h.name, sa[:min(len(sa), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(sa))
	}
	if err := putMsgResult(c, c.Args[1], namelen, 0, msgFlags); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return size, nil
	}
	return got, nil
}
