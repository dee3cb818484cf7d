package unixsock

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Namespace is the client's AF_UNIX name space, as a socket's release
// sees it.
type Namespace interface {
	// Unbound forgets the names of bound endpoint be, whose socket is
	// released.
	Unbound(be transport.BoundEndpoint)
}

// File is an AF_UNIX socket (socket.Unix over gVisor's transport).
type File struct {
	anon.Base
	// U is the endpoint. Immutable.
	U *socket.Unix
	// names is the client's name space, told when a named socket is
	// released. Immutable.
	names Namespace
	// Bufs is the socket's charge to the client's memory cap (own
	// synchronization).
	Bufs memacct.SocketBuffers
	// Timeo are SO_RCVTIMEO and SO_SNDTIMEO (own lock).
	Timeo socket.Timeouts

	// Mu protects the fields below (the server's calls change them).
	Mu sync.Mutex
	// Named says the socket has names in the client's name space;
	// BoundName is the transport name it was bound to (a path made
	// absolute), kept for recovery.
	Named     bool
	BoundName string
	// Backlog is listen's backlog (0: not listening).
	Backlog int
	// Reset makes the next read or write fail with ECONNRESET: a
	// connected socket restored after a server failure.
	Reset bool

	// End is the connection this socket is an end of (a socketpair, or
	// connect/accept), or nil; set once, when the socket connects.
	End atomic.Pointer[ConnEnd]

	// ConnMu serializes a listener's connects with its accepts, so that
	// Pending (the connections in the backlog, oldest first) follows
	// the transport's accept queue.
	ConnMu  sync.Mutex
	Pending []*Conn
}

// ConnEnd is one end of a Conn.
type ConnEnd struct {
	Conn *Conn
	Side int
}

// New returns a description of socket u of the client whose name space
// is names, with flags' O_NONBLOCK.
func New(names Namespace, u *socket.Unix, flags uint32) *fdesc.File {
	return fdesc.NewFile(&File{Base: anon.NewBase(unix.S_IFSOCK | 0777), U: u, names: names}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Stream is true: no offset.
func (s *File) Stream() bool { return true }

// Read serves callers that have bytes rather than application buffers.
func (s *File) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := s.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

// Write serves callers that have bytes rather than application buffers.
func (s *File) Write(c fdesc.Call, f *fdesc.File, b []byte, _ int64) (int, error) {
	n, err := s.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

// TakeReset reports (once) that the socket's connection was lost with
// a server.
func (s *File) TakeReset() bool {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.Reset
	s.Reset = false
	return r
}

// ReadSeq is read(2): Recv with no flags.
func (s *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	n, res, err := s.Recv(c, f, dst, 0)
	res.Control.Release(kobj.Ctx())
	return n, err
}

// WriteSeq is write(2): Send with no flags.
func (s *File) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	return s.Send(c, f, src, transport.ControlMessages{}, nil, 0)
}

// Readiness is the endpoint's, a socketpair's datagram end not
// writable while its unread datagrams charge its send buffer.
func (s *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ch := s.U.Watch.Changed()
	r := uint32(s.U.EP.Readiness(waiter.AllEvents))
	if e := s.End.Load(); e != nil && r&uint32(waiter.WritableEvents) != 0 &&
		!e.Conn.DgramWritable(e.Side, s.U.EP.SocketOptions().GetSendBufferSize()) {
		r &^= uint32(waiter.WritableEvents)
	}
	return r, ch
}

// Release unbinds a named socket, closes the endpoint and returns its
// charge.
func (s *File) Release() {
	s.Mu.Lock()
	named := s.Named
	s.Mu.Unlock()
	if named {
		s.names.Unbound(s.U.Bound())
	}
	s.U.Release()
	s.Bufs.Unreserve()
}

// Stat is the anonymous inode's.
func (s *File) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

// IsStream says the socket is SOCK_STREAM.
func (s *File) IsStream() bool { return s.U.Type == linux.SOCK_STREAM }

// Queued is FIONREAD: a stream's queued bytes (EINVAL unconnected), a
// datagram socket's next message's length.
func (s *File) Queued() (int, error) {
	if s.U.Type == linux.SOCK_STREAM && !s.U.Connected() {
		return 0, unix.EINVAL
	}
	if s.U.Type != linux.SOCK_STREAM {
		// The next message's length, as on Linux.
		_, res, err := s.U.Recv(usermem.BytesIOSequence(nil), transport.RecvArgs{Peek: true})
		res.Control.Release(kobj.Ctx())
		if err != nil {
			return 0, nil
		}
		return int(res.MsgLen), nil
	}
	n, err := s.U.EP.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return 0, nil // unconnected datagram socket: nothing queued
	}
	return n, nil
}

// Send sends src with control messages ctl to to (datagrams; nil:
// the peer). A stream send blocks until all is sent, unless
// non-blocking; the rights in ctl go with the first bytes sent and are
// released here if nothing was.
func (s *File) Send(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, ctl transport.ControlMessages, to transport.BoundEndpoint, flags int) (int64, error) {
	if s.TakeReset() {
		ctl.Release(kobj.Ctx())
		return 0, unix.ECONNRESET
	}
	if ctl.Credentials == nil {
		passcred := s.U.EP.ConnectedPasscred() || s.U.EP.Passcred()
		if to != nil {
			passcred = to.Passcred() || s.U.EP.Passcred()
		}
		if passcred {
			ctl.Credentials = Creds(c)
		}
	}
	rightsSent := false
	defer func() {
		if !rightsSent && ctl.Rights != nil {
			ctl.Rights.Release(kobj.Ctx())
		}
	}()
	return anon.SendAll(c, f, s.U.Watch, s.IsStream(), s.Timeo.Deadline(true), src, flags, func(src usermem.IOSequence) (int64, error) {
		var cn *Conn
		side := 0
		var skipped int64
		var units uint64
		if e := s.End.Load(); e != nil {
			cn, side = e.Conn, e.Side
			cn.Mu.Lock()
			// Units the peer read from the server that died are
			// dropped (Conn).
			if skipped, units = cn.SkipLocked(side, src.NumBytes()); units > 0 {
				if src = src.DropFirst64(skipped); src.NumBytes() == 0 || !cn.Stream {
					cn.recordLocked(c, side, true, units)
					cn.Mu.Unlock()
					cn.Changed()
					return skipped, nil
				}
			}
			if cn.DgramFullLocked(side, s.U.EP.SocketOptions().GetSendBufferSize()) {
				cn.Mu.Unlock()
				return 0, unix.EAGAIN
			}
		}
		rights := ctl.Rights != nil
		n, err := s.U.Send(src, ctl, to)
		if cn != nil {
			if n > 0 || err == nil {
				cn.SentLocked(side, src, n, rights)
				units += sentUnits(cn.Stream, n)
				n += skipped
			} else if skipped > 0 {
				n, err = skipped, nil
			}
			cn.recordLocked(c, side, true, units)
			cn.Mu.Unlock()
			cn.Changed()
		}
		if n > 0 || err == nil {
			rightsSent = true
			ctl.Rights = nil
		}
		return n, err
	})
}

// sentUnits is how many units a send of n bytes added to a connection:
// n of a stream, a datagram's one message.
func sentUnits(stream bool, n int64) uint64 {
	if stream {
		return uint64(n)
	}
	return 1
}

// Recv receives into dst. The caller owns res.Control.
func (s *File) Recv(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence, flags int) (int64, socket.RecvResult, error) {
	if s.TakeReset() {
		return 0, socket.RecvResult{}, unix.ECONNRESET
	}
	if s.U.Type == linux.SOCK_STREAM && !s.U.Connected() {
		// Linux's unix_stream_read_generic: a stream socket that was
		// never connected (or listens) reads EINVAL, not ENOTCONN.
		return 0, socket.RecvResult{}, unix.EINVAL
	}
	args := transport.RecvArgs{Creds: s.U.EP.Passcred(), NumRights: 253, Peek: flags&unix.MSG_PEEK != 0}
	waitAll := flags&unix.MSG_WAITALL != 0 && s.IsStream() && !args.Peek
	var total int64
	var res socket.RecvResult
	n, err := anon.BlockOnUntil(c, f, s.U.Watch, flags&unix.MSG_DONTWAIT != 0, s.Timeo.Deadline(false), func() (int64, error) {
		var cn *Conn
		side := 0
		if e := s.End.Load(); e != nil {
			cn, side = e.Conn, e.Side
			cn.Mu.Lock()
		}
		n, r, err := s.U.Recv(dst, args)
		if cn != nil {
			if err == nil && !args.Peek && (n > 0 || !cn.Stream) {
				cn.recordLocked(c, side, false, cn.ReceivedLocked(side, max(n, r.MsgLen)))
			}
			cn.Mu.Unlock()
			if err == nil && !args.Peek {
				cn.Changed()
			}
		}
		if err != nil {
			return total, err
		}
		if total == 0 {
			res = r
		} else {
			r.Control.Release(kobj.Ctx())
		}
		total += n
		dst = dst.DropFirst64(n)
		if waitAll && n > 0 && dst.NumBytes() > 0 {
			return total, unix.EAGAIN
		}
		return total, nil
	})
	if n > 0 && err != nil {
		return n, res, nil
	}
	return n, res, err
}

// Creds are the caller's credentials for SCM_CREDENTIALS and
// SO_PEERCRED.
func Creds(c fdesc.Call) socket.Creds {
	cr := c.Creds()
	return socket.Creds{Pid: c.PID(), Uid: cr.EUID, Gid: cr.EGID}
}
