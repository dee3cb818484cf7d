package server

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// netlinkFile is an AF_NETLINK NETLINK_ROUTE socket: each request sent
// is answered at once (socket.NetlinkRoute) and the answers wait in a
// queue of datagrams for recv.
type netlinkFile struct {
	anon.Base
	k *clientState
	// mu protects the fields below. A leaf.
	mu sync.Mutex
	// portID is the bound port (nl_pid; 0 until bound or first send).
	portID int32
	// queue holds the answers not yet received, queued bytes in all
	// (at most netlinkRcvbuf); overrun says answers were dropped since
	// the last recv, which then fails once with ENOBUFS as on Linux.
	queue   [][]byte
	queued  int
	overrun bool
	// changed is notified when queue grows.
	changed wake.Notifier
}

// netlinkRcvbuf bounds a netlink socket's unread answers (Linux's
// default SO_RCVBUF), so that requests never read cannot grow the
// server's memory.
const netlinkRcvbuf = 212992

// sizeofSockaddrNl is sizeof(struct sockaddr_nl).
const sizeofSockaddrNl = 12

func newNetlinkFile(k *clientState, flags uint32) *file {
	return newFile(&netlinkFile{Base: anon.NewBase(unix.S_IFSOCK | 0777), k: k}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// newNetlinkSocket is socket(AF_NETLINK, type, proto): only the route
// protocol, datagram or raw, as Linux's netlink_create checks.
func newNetlinkSocket(c *syscallCtx, stype, proto int, flags uint32) (*file, error) {
	if stype != unix.SOCK_RAW && stype != unix.SOCK_DGRAM {
		return nil, unix.ESOCKTNOSUPPORT
	}
	if proto != unix.NETLINK_ROUTE {
		if _, logged := c.k.s.enosys.LoadOrStore("netlink protocol", struct{}{}); !logged {
			c.k.log.Info("netlink protocol not supported", "protocol", proto)
		}
		return nil, unix.EPROTONOSUPPORT
	}
	return newNetlinkFile(c.k, flags), nil
}

// bindLocked gives the socket its port: the caller's process id when
// unasked, as Linux's netlink_autobind first tries. Precondition: n.mu.
func (n *netlinkFile) bindLocked(c fdesc.Call, want int32) {
	if n.portID != 0 {
		return
	}
	if want == 0 {
		want = c.PID()
	}
	n.portID = want
}

func (n *netlinkFile) sockaddr() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	sa := make([]byte, sizeofSockaddrNl)
	binary.LittleEndian.PutUint16(sa, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(sa[4:], uint32(n.portID))
	return sa
}

// kernelSockaddr is the source of every answer: the kernel, port 0.
func kernelSockaddr() []byte {
	sa := make([]byte, sizeofSockaddrNl)
	binary.LittleEndian.PutUint16(sa, unix.AF_NETLINK)
	return sa
}

// send answers the request b.
func (n *netlinkFile) send(c fdesc.Call, b []byte) (int64, error) {
	n.mu.Lock()
	n.bindLocked(c, 0)
	port := n.portID
	n.mu.Unlock()
	var answers [][]byte
	if n.k.hostNetwork() {
		var err error
		if answers, err = socket.HostNetlinkRoute(port, b); err != nil {
			n.k.log.Warn("host netlink request failed", "err", err)
			return 0, unix.EIO
		}
	} else {
		st, err := n.k.netStack()
		if err != nil {
			return 0, err
		}
		answers = socket.NetlinkRoute(st.Interfaces(), st.Routes(), port, b)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range answers {
		if n.queued+len(a) > netlinkRcvbuf {
			n.overrun = true
			continue
		}
		n.queue = append(n.queue, a)
		n.queued += len(a)
	}
	if len(answers) > 0 {
		n.changed.Notify()
	}
	return int64(len(b)), nil
}

// recv takes (or with MSG_PEEK reads) the next answer into dst, waiting
// for one unless non-blocking. It returns the bytes copied and the
// datagram's length.
func (n *netlinkFile) recv(c fdesc.Call, f *file, dst usermem.IOSequence, flags int) (int64, int64, error) {
	for {
		n.mu.Lock()
		if n.overrun && flags&unix.MSG_PEEK == 0 {
			n.overrun = false
			n.mu.Unlock()
			return 0, 0, unix.ENOBUFS
		}
		if len(n.queue) > 0 {
			d := n.queue[0]
			if flags&unix.MSG_PEEK == 0 {
				n.queue = n.queue[1:]
				n.queued -= len(d)
			}
			n.mu.Unlock()
			m, err := dst.CopyOut(kobj.Ctx(), d)
			if err != nil && m == 0 {
				return 0, 0, unix.EFAULT
			}
			return int64(m), int64(len(d)), nil
		}
		ch := n.changed.Wait()
		n.mu.Unlock()
		if flags&unix.MSG_DONTWAIT != 0 || f.Nonblock() {
			return 0, 0, unix.EAGAIN
		}
		if err := c.Block(ch, nil); err != nil {
			return 0, 0, err
		}
	}
}

func (n *netlinkFile) ReadSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	got, _, err := n.recv(c, f, dst, 0)
	return got, err
}

func (n *netlinkFile) WriteSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error) {
	b := make([]byte, src.NumBytes())
	if _, err := src.CopyIn(kobj.Ctx(), b); err != nil {
		return 0, unix.EFAULT
	}
	return n.send(c, b)
}

func (n *netlinkFile) Readiness(*file) (uint32, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := uint32(pollOut | pollWrNorm)
	if len(n.queue) > 0 || n.overrun {
		ev |= pollIn | pollRdNorm
	}
	return ev, n.changed.Wait()
}

// kobjState records the socket for recovery: it comes back bound to
// the same port, its unread answers lost.
func (n *netlinkFile) kobjState(*clientState) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	return sentrypb.FileState_SOCKET, &sentrypb.KernelObjectState{SocketFamily: unix.AF_NETLINK,
		SocketType: unix.SOCK_RAW, SocketBound: n.sockaddr()}
}

func (k *clientState) restoreNetlinkSocket(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) *file {
	f := newNetlinkFile(k, 0)
	f.Flags.Store(fs.Flags)
	if len(st.SocketBound) >= sizeofSockaddrNl {
		f.Impl.(*netlinkFile).portID = int32(binary.LittleEndian.Uint32(st.SocketBound[4:]))
	}
	return f
}

// netlinkSock returns fd's file if it is a netlink socket (referenced).
func (c *syscallCtx) netlinkSock(fd int32) (*file, *netlinkFile, bool) {
	f, n, err := fileAs[*netlinkFile](c, fd, unix.ENOTSOCK)
	return f, n, err == nil
}

// netlinkCall runs a socket system call on a netlink socket.
func netlinkCall(c *syscallCtx, f *file, n *netlinkFile) (int64, error) {
	switch c.sysno {
	case unix.SYS_BIND, unix.SYS_CONNECT:
		raw, err := c.sockaddrArg(1)
		if err != nil {
			return 0, err
		}
		if len(raw) < sizeofSockaddrNl || binary.LittleEndian.Uint16(raw) != unix.AF_NETLINK {
			return 0, unix.EINVAL
		}
		if c.sysno == unix.SYS_BIND {
			n.mu.Lock()
			n.bindLocked(c, int32(binary.LittleEndian.Uint32(raw[4:])))
			n.mu.Unlock()
		}
		return 0, nil
	case unix.SYS_GETSOCKNAME:
		return 0, c.putSockaddr(c.args[1], c.args[2], n.sockaddr())
	case unix.SYS_GETPEERNAME:
		return 0, c.putSockaddr(c.args[1], c.args[2], kernelSockaddr())
	case unix.SYS_SENDTO:
		b, err := c.mem.CopyIn(c.args[1], int(min(c.args[2], maxRW)))
		if err != nil {
			return 0, err
		}
		return n.send(c, b)
	case unix.SYS_SENDMSG:
		_, iov, err := c.readMsghdr(c.args[1])
		if err != nil {
			return 0, err
		}
		var b []byte
		for _, v := range iov {
			d, err := c.mem.CopyIn(v.Base, int(v.Len))
			if err != nil {
				return 0, err
			}
			b = append(b, d...)
		}
		return n.send(c, b)
	case unix.SYS_RECVFROM:
		flags := int(c.args[3])
		dst, err := kobj.BufferSequence(c.mem, c.args[1], uint64(min(int64(c.args[2]), maxRW)))
		if err != nil {
			return 0, err
		}
		got, size, err := n.recv(c, f, dst, flags)
		if err != nil {
			return 0, err
		}
		if err := c.putSockaddr(c.args[4], c.args[5], kernelSockaddr()); err != nil {
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
		case c.args[1] == unix.SOL_SOCKET && (c.args[2] == unix.SO_RCVBUF || c.args[2] == unix.SO_SNDBUF):
			v = 212992
		case c.args[1] == unix.SOL_SOCKET && c.args[2] == unix.SO_TYPE:
			v = unix.SOCK_RAW
		case c.args[1] == unix.SOL_SOCKET && c.args[2] == unix.SO_DOMAIN:
			v = unix.AF_NETLINK
		case c.args[1] == unix.SOL_SOCKET && c.args[2] == unix.SO_PROTOCOL:
			v = unix.NETLINK_ROUTE
		default:
			return 0, unix.ENOPROTOOPT
		}
		return 0, c.putSockaddr(c.args[3], c.args[4], putInt(v))
	case unix.SYS_SHUTDOWN:
		return 0, nil
	}
	return 0, unix.EOPNOTSUPP
}

// netlinkRecvmsg is recvmsg on a netlink socket: no control messages.
func netlinkRecvmsg(c *syscallCtx, f *file, n *netlinkFile) (int64, error) {
	flags := int(c.args[2])
	h, iov, err := c.readMsghdr(c.args[1])
	if err != nil {
		return 0, err
	}
	dst, err := kobj.Sequence(c.mem, iov)
	if err != nil {
		return 0, err
	}
	got, size, err := n.recv(c, f, dst, flags)
	if err != nil {
		return 0, err
	}
	var msgFlags uint32
	if size > got {
		msgFlags |= unix.MSG_TRUNC
	}
	var namelen uint32
	if h.name != 0 {
		sa := kernelSockaddr()
		if err := c.mem.CopyOut(h.name, sa[:min(len(sa), int(h.namelen))]); err != nil {
			return 0, err
		}
		namelen = uint32(len(sa))
	}
	var b4 [4]byte
	binary.LittleEndian.PutUint32(b4[:], namelen)
	if err := c.mem.CopyOut(c.args[1]+8, b4[:]); err != nil {
		return 0, err
	}
	var b8 [8]byte
	if err := c.mem.CopyOut(c.args[1]+40, b8[:]); err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint32(b4[:], msgFlags)
	if err := c.mem.CopyOut(c.args[1]+48, b4[:]); err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return size, nil
	}
	return got, nil
}
