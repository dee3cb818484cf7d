package server

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// socketState is a client's socket state. Its zero value is ready.
type socketState struct {
	once sync.Once
	// names is the client's AF_UNIX name space (set once).
	names *socket.Names

	// boundMu protects bound: the socket file of each bound endpoint
	// (connect finds the listener's file through it).
	boundMu sync.Mutex
	bound   map[transport.BoundEndpoint]*unixSockFile

	// restoring holds the socketpairs a Restore is rebuilding (used only
	// by the restore, which runs before any call).
	restoring map[uint64]*restoredPair

	// netMu protects net and netErr: the client's network stack, made at
	// its first AF_INET or AF_INET6 socket (loopback only), or at its
	// start with a sandbox network.
	netMu  sync.Mutex
	net    *socket.Stack
	netErr error
}

// netStack returns the client's loopback network stack.
func (k *clientState) netStack() (*socket.Stack, error) {
	ss := &k.socks
	ss.netMu.Lock()
	defer ss.netMu.Unlock()
	if ss.net == nil && ss.netErr == nil {
		if k.sandboxNet != nil {
			ss.net, ss.netErr = socket.NewSandboxStack(k.sandboxNet, k.sendFrames)
		} else {
			ss.net, ss.netErr = socket.NewLoopbackStack()
		}
		if ss.netErr == nil && k.sysctl.ipForwardNow() == 1 {
			ss.netErr = ss.net.SetIPv4Forwarding(true)
		}
	}
	return ss.net, ss.netErr
}

// setBound records (s non-nil) or forgets the file of bound endpoint be.
func (ss *socketState) setBound(be transport.BoundEndpoint, s *unixSockFile) {
	ss.boundMu.Lock()
	defer ss.boundMu.Unlock()
	if s == nil {
		delete(ss.bound, be)
		return
	}
	if ss.bound == nil {
		ss.bound = make(map[transport.BoundEndpoint]*unixSockFile)
	}
	ss.bound[be] = s
}

func (ss *socketState) boundFile(be transport.BoundEndpoint) *unixSockFile {
	ss.boundMu.Lock()
	defer ss.boundMu.Unlock()
	return ss.bound[be]
}

// release stops the network stack when the client is freed.
func (ss *socketState) release() {
	ss.netMu.Lock()
	defer ss.netMu.Unlock()
	if ss.net != nil {
		ss.net.Destroy()
		ss.net = nil
	}
}

// unixNames returns the client's AF_UNIX name space.
func (k *clientState) unixNames() *socket.Names {
	k.socks.once.Do(func() { k.socks.names = socket.NewNames() })
	return k.socks.names
}

var unixConnIDs atomic.Uint64

// unixConn mirrors what is queued in each direction of a socketpair, so
// that recovery can rebuild the pair with its data: gVisor's transport
// cannot read a queue without consuming it. Sends and receives on the
// pair hold mu around the transport call and the mirror's update, so
// that both see the same order.
type unixConn struct {
	id     uint64
	stream bool

	// mu protects the fields below. It nests inside clientState.mu
	// (records) and outside the transport's locks.
	mu sync.Mutex
	// files are the two ends' descriptions (not referenced): side 0 is
	// a socketpair's first end or the connecting socket, side 1 the
	// other end or the accepted socket (nil until accepted).
	files [2]*file
	// queued[i] is what side i has yet to read: chunks of the byte
	// stream, or one message each.
	queued [2][][]byte
	// broken is set once something the mirror does not hold (SCM_RIGHTS)
	// was sent: the pair is then not rebuilt.
	broken bool
	// charge[i] is, for datagrams, what the messages side i has yet to
	// read cost their sender's send buffer, as Linux counts it
	// (dgramCharge); meaningful while the mirror is not broken.
	charge [2]int64
}

// Datagram buffer charge. Linux charges a unix datagram to its sender's
// SO_SNDBUF until it is read, at the size of its sk_buff: the payload in
// a kmalloc'd buffer (64-byte aligned, plus the 320-byte shared info,
// rounded up to the allocation's size class) plus 256 for the sk_buff
// itself; a send is refused (EAGAIN, or it blocks) while the charge is
// at or above SO_SNDBUF. So a default socketpair holds 278 one-byte
// datagrams, where gVisor's transport, which counts payload bytes
// against the receive buffer, holds 212,992. The server applies Linux's
// rule to socketpairs (whose sender is known), on top of the transport's.
const (
	skbOverhead    = 256
	skbSharedInfo  = 320
	skbDataAlign   = 64
	skbMaxKmalloc  = 8 << 10
	skbPageCharged = 4 << 10
)

// dgramCharge is what a datagram of n bytes costs its sender's buffer.
func dgramCharge(n int) int64 {
	data := (int64(n)+skbDataAlign-1)&^(skbDataAlign-1) + skbSharedInfo
	if data <= skbMaxKmalloc {
		size := int64(skbDataAlign)
		for size < data {
			size *= 2
		}
		data = size
	} else {
		data = (data + skbPageCharged - 1) &^ (skbPageCharged - 1)
	}
	return data + skbOverhead
}

// dgramFullLocked says side may not send now: its unread datagrams
// charge its send buffer sndbuf or more. Precondition: cn.mu is held.
func (cn *unixConn) dgramFullLocked(side int, sndbuf int64) bool {
	return !cn.stream && !cn.broken && cn.charge[1-side] >= sndbuf
}

// dgramWritable says side's send buffer is writable as Linux's poll
// says (its charge at most a quarter of it).
func (cn *unixConn) dgramWritable(side int, sndbuf int64) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.stream || cn.broken || 4*cn.charge[1-side] <= sndbuf
}

func newUnixConn(id uint64, stream bool) *unixConn {
	if id == 0 {
		id = unixConnIDs.Add(1)
	} else {
		// A restored pair keeps its id; new ones must not reuse it.
		for cur := unixConnIDs.Load(); id > cur && !unixConnIDs.CompareAndSwap(cur, id); cur = unixConnIDs.Load() {
		}
	}
	return &unixConn{id: id, stream: stream}
}

// pairFiles makes a and b the two ends of socketpair cn.
func (cn *unixConn) pairFiles(a, b *file) {
	cn.files = [2]*file{a, b}
	a.Impl.(*unixSockFile).end.Store(&connEnd{cn, 0})
	b.Impl.(*unixSockFile).end.Store(&connEnd{cn, 1})
}

// sent records n bytes of src sent by side (with rights: broken).
func (cn *unixConn) sentLocked(side int, src usermem.IOSequence, n int64, rights bool) {
	if rights {
		cn.broken = true
	}
	if cn.broken || (n == 0 && cn.stream) {
		return
	}
	b := make([]byte, n)
	if _, err := src.CopyIn(kobj.Ctx(), b); err != nil {
		cn.broken = true
		return
	}
	cn.queued[1-side] = append(cn.queued[1-side], b)
	if !cn.stream {
		cn.charge[1-side] += dgramCharge(int(n))
	}
}

// received records that side read n bytes (a message, if not stream).
func (cn *unixConn) receivedLocked(side int, n int64) {
	q := cn.queued[side]
	if !cn.stream {
		if len(q) > 0 {
			cn.charge[side] -= dgramCharge(len(q[0]))
			q[0] = nil
			cn.queued[side] = q[1:]
		}
		return
	}
	for n > 0 && len(q) > 0 {
		if int64(len(q[0])) > n {
			q[0] = q[0][n:]
			break
		}
		n -= int64(len(q[0]))
		q[0] = nil
		q = q[1:]
	}
	cn.queued[side] = q
}

// changed reports both ends' replay state (their queues changed).
func (cn *unixConn) changed() {
	cn.mu.Lock()
	files := cn.files
	cn.mu.Unlock()
	for _, f := range files {
		if f != nil && !f.Released() {
			f.Changed()
		}
	}
}

// fileRef lets SCM_RIGHTS hold an open file description.
type fileRef struct{ f *file }

func (r fileRef) IncRef() { r.f.IncRef() }
func (r fileRef) DecRef() { r.f.DecRef() }

// unixSockFile is an AF_UNIX socket (socket.Unix over gVisor's
// transport).
type unixSockFile struct {
	anon.Base
	u *socket.Unix
	k *clientState
	// bufs is the socket's charge to the client's memory cap (own
	// synchronization).
	bufs memacct.SocketBuffers
	// timeo are SO_RCVTIMEO and SO_SNDTIMEO (own lock).
	timeo socket.Timeouts

	// mu protects the fields below.
	mu sync.Mutex
	// named says the socket has names in the client's name space;
	// boundName is the transport name it was bound to (a path made
	// absolute), kept for recovery.
	named     bool
	boundName string
	// backlog is listen's backlog (0: not listening).
	backlog int
	// reset makes the next read or write fail with ECONNRESET: a
	// connected socket restored after a server failure.
	reset bool

	// end is the connection this socket is an end of (a socketpair, or
	// connect/accept), or nil; set once, when the socket connects.
	end atomic.Pointer[connEnd]

	// connMu serializes a listener's connects with its accepts, so that
	// pending (the connections in the backlog, oldest first) follows
	// the transport's accept queue.
	connMu  sync.Mutex
	pending []*unixConn
}

// connEnd is one end of a unixConn.
type connEnd struct {
	conn *unixConn
	side int
}

// chargeSocket reserves socket file f's receive buffer in the client's
// memory cap (memacct.SocketBuffers), whatever the cap when force (a
// Restore); on failure (ENOBUFS) the caller drops f.
func (k *clientState) chargeSocket(f *file, force bool) error {
	switch s := f.Impl.(type) {
	case *unixSockFile:
		return s.bufs.Reserve(k.mem, s.u.EP.SocketOptions().GetReceiveBufferSize(), force)
	case *inet.File:
		return s.Bufs.Reserve(k.mem, s.S.EP.SocketOptions().GetReceiveBufferSize(), force)
	}
	return nil
}

func newUnixSockFile(k *clientState, u *socket.Unix, flags uint32) *file {
	return newFile(&unixSockFile{Base: anon.NewBase(unix.S_IFSOCK | 0777), u: u, k: k}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

func (s *unixSockFile) Stream() bool { return true }

func (s *unixSockFile) Read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := s.ReadSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (s *unixSockFile) Write(c fdesc.Call, f *file, b []byte, _ int64) (int, error) {
	n, err := s.WriteSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

// takeReset reports (once) that the socket's connection was lost with
// a server.
func (s *unixSockFile) takeReset() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reset
	s.reset = false
	return r
}

func (s *unixSockFile) ReadSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	n, res, err := unixRecv(c, f, s, dst, 0)
	res.Control.Release(kobj.Ctx())
	return n, err
}

func (s *unixSockFile) WriteSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error) {
	return unixSend(c, f, s, src, transport.ControlMessages{}, nil, 0)
}

func (s *unixSockFile) Readiness(*file) (uint32, <-chan struct{}) {
	ch := s.u.Watch.Changed()
	r := uint32(s.u.EP.Readiness(waiter.AllEvents))
	if e := s.end.Load(); e != nil && r&uint32(waiter.WritableEvents) != 0 &&
		!e.conn.dgramWritable(e.side, s.u.EP.SocketOptions().GetSendBufferSize()) {
		r &^= uint32(waiter.WritableEvents)
	}
	return r, ch
}

func (s *unixSockFile) Release() {
	s.mu.Lock()
	named := s.named
	s.mu.Unlock()
	if named {
		s.k.unixNames().Unbind(s.u.Bound())
		s.k.socks.setBound(s.u.Bound(), nil)
	}
	s.u.Release()
	s.bufs.Unreserve()
}

func (s *unixSockFile) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

func (s *unixSockFile) isStream() bool { return s.u.Type == linux.SOCK_STREAM }

// unixSend sends src with control messages ctl to to (datagrams; nil:
// the peer). A stream send blocks until all is sent, unless
// non-blocking; the rights in ctl go with the first bytes sent and are
// released here if nothing was.
func unixSend(c fdesc.Call, f *file, s *unixSockFile, src usermem.IOSequence, ctl transport.ControlMessages, to transport.BoundEndpoint, flags int) (int64, error) {
	if s.takeReset() {
		ctl.Release(kobj.Ctx())
		return 0, unix.ECONNRESET
	}
	if ctl.Credentials == nil {
		passcred := s.u.EP.ConnectedPasscred() || s.u.EP.Passcred()
		if to != nil {
			passcred = to.Passcred() || s.u.EP.Passcred()
		}
		if passcred {
			ctl.Credentials = sockCreds(c)
		}
	}
	var total int64
	rightsSent := false
	defer func() {
		if !rightsSent && ctl.Rights != nil {
			ctl.Rights.Release(kobj.Ctx())
		}
	}()
	first := true
	n, err := anon.BlockOnUntil(c, f, s.u.Watch, flags&unix.MSG_DONTWAIT != 0, s.timeo.Deadline(true), func() (int64, error) {
		if !first && src.NumBytes() == 0 {
			return total, nil
		}
		first = false
		var cn *unixConn
		side := 0
		if e := s.end.Load(); e != nil {
			cn, side = e.conn, e.side
			cn.mu.Lock()
			if cn.dgramFullLocked(side, s.u.EP.SocketOptions().GetSendBufferSize()) {
				cn.mu.Unlock()
				return total, unix.EAGAIN
			}
		}
		rights := ctl.Rights != nil
		n, err := s.u.Send(src, ctl, to)
		if cn != nil {
			if n > 0 || err == nil {
				cn.sentLocked(side, src, n, rights)
			}
			cn.mu.Unlock()
			cn.changed()
		}
		if n > 0 || err == nil {
			rightsSent = true
			ctl.Rights = nil
		}
		total += n
		src = src.DropFirst64(n)
		if err == nil && s.isStream() && src.NumBytes() > 0 {
			return total, unix.EAGAIN
		}
		return total, err
	})
	if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
		c.RaiseSIGPIPE()
	}
	if n > 0 && err != nil && err != unix.EPIPE {
		// Part was sent before the send would block, was interrupted
		// or timed out: report what was sent.
		return n, nil
	}
	return n, err
}

// unixRecv receives into dst. The caller owns res.Control.
func unixRecv(c fdesc.Call, f *file, s *unixSockFile, dst usermem.IOSequence, flags int) (int64, socket.RecvResult, error) {
	if s.takeReset() {
		return 0, socket.RecvResult{}, unix.ECONNRESET
	}
	if s.u.Type == linux.SOCK_STREAM && !s.u.Connected() {
		// Linux's unix_stream_read_generic: a stream socket that was
		// never connected (or listens) reads EINVAL, not ENOTCONN.
		return 0, socket.RecvResult{}, unix.EINVAL
	}
	args := transport.RecvArgs{Creds: s.u.EP.Passcred(), NumRights: 253, Peek: flags&unix.MSG_PEEK != 0}
	waitAll := flags&unix.MSG_WAITALL != 0 && s.isStream() && !args.Peek
	var total int64
	var res socket.RecvResult
	n, err := anon.BlockOnUntil(c, f, s.u.Watch, flags&unix.MSG_DONTWAIT != 0, s.timeo.Deadline(false), func() (int64, error) {
		var cn *unixConn
		side := 0
		if e := s.end.Load(); e != nil {
			cn, side = e.conn, e.side
			cn.mu.Lock()
		}
		n, r, err := s.u.Recv(dst, args)
		if cn != nil {
			if err == nil && !args.Peek && (n > 0 || !cn.stream) {
				cn.receivedLocked(side, max(n, r.MsgLen))
			}
			cn.mu.Unlock()
			if err == nil && !args.Peek {
				cn.changed()
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

// sockCreds are the caller's credentials for SCM_CREDENTIALS and
// SO_PEERCRED.
func sockCreds(c fdesc.Call) socket.Creds {
	cr := c.Creds()
	return socket.Creds{Pid: c.PID(), Uid: cr.EUID, Gid: cr.EGID}
}

// unixEndpointAt finds the socket bound at addr, for a socket of type
// stype to connect or send to: an abstract name, or a path naming a
// socket node, which the caller must be allowed to write and whose
// socket must be of stype (EPROTOTYPE), as on Linux.
func (c *syscallCtx) unixEndpointAt(a socket.UnixAddr, stype linux.SockType) (transport.BoundEndpoint, error) {
	names := c.k.unixNames()
	if a.Abstract {
		return names.LookupAbstract(a.Name)
	}
	start, err := c.startDir(atFDCWD, a.Name)
	if err != nil {
		return nil, err
	}
	d, err := c.k.vfs.resolve(c, start, a.Name, true)
	if err != nil {
		return nil, err
	}
	if d.kind != dkGofer || d.mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, unix.ECONNREFUSED
	}
	if err := c.mayAccessDentry(d, auth.MayWrite); err != nil {
		return nil, err
	}
	be, err := names.LookupNode(d.ino)
	if err != nil {
		return nil, err
	}
	if bf := c.k.socks.boundFile(be); bf != nil && bf.u.Type != stype {
		return nil, unix.EPROTOTYPE
	}
	return be, nil
}

// bindUnix names s at a: an abstract name, or a new socket node made
// through the gofer at a path.
func (c *syscallCtx) bindUnix(s *unixSockFile, a socket.UnixAddr) error {
	be := s.u.Bound()
	if be == nil {
		return unix.EINVAL
	}
	if err := kobj.SysErr(s.u.EP.Bind(transport.Address{Addr: a.TransportName()})); err != nil {
		return err
	}
	names := c.k.unixNames()
	if a.Abstract {
		if err := names.BindAbstract(a.Name, be); err != nil {
			return err
		}
	} else {
		ino, abs, err := c.mknodSocket(a.Name)
		if err != nil {
			return err
		}
		names.BindNode(ino, be)
		a = socket.UnixAddr{Name: abs}
	}
	s.mu.Lock()
	s.named = true
	s.boundName = a.TransportName()
	s.mu.Unlock()
	c.k.socks.setBound(be, s)
	return nil
}

// mknodSocket makes the S_IFSOCK node of a bind and returns its inode
// and absolute path.
func (c *syscallCtx) mknodSocket(path string) (uint64, string, error) {
	dir, name, _, err := c.createAt(atFDCWD, path)
	if err != nil {
		if err == unix.EEXIST {
			return 0, "", unix.EADDRINUSE
		}
		return 0, "", err
	}
	dh, err := c.handleOf(dir)
	if err != nil {
		return 0, "", err
	}
	cr := c.creds()
	v := c.k.vfs
	ctx, cancel := v.rpcCtx()
	defer cancel()
	r, err := c.k.gofer.Mknod(ctx, &goferpb.MknodRequest{Dir: dh, Name: name, Mode: unix.S_IFSOCK | 0777&^c.umask(),
		Uid: cr.FSUID, Gid: cr.FSGID, Origin: c.origin(0)})
	if err := syserr.FromGofer("mknod socket "+name, r.GetErrno(), err); err != nil {
		if syserr.ErrnoOf(err) == unix.EEXIST {
			return 0, "", unix.EADDRINUSE
		}
		return 0, "", err
	}
	if r.Stat == nil {
		return 0, "", fmt.Errorf("mknod socket %q: reply without attributes: %w", name, unix.EIO)
	}
	// A re-sent bind whose socket file a later call already removed gets
	// no handle (the gofer's reply cache): the bind stands, unnamed.
	if r.Handle != nil {
		v.insertChild(dir, name, r.Handle.Id, r.Handle.FileHandle, r.Stat)
	}
	abs, _ := v.pathOf(dir)
	if abs == "/" {
		abs = ""
	}
	return r.Stat.Ino, abs + "/" + name, nil
}

// autobindName picks an unused abstract name for an autobind, as Linux
// does (five hex digits).
func (k *clientState) autobindName(be transport.BoundEndpoint) (socket.UnixAddr, error) {
	names := k.unixNames()
	for i := 0; i < 1<<20; i++ {
		a := socket.UnixAddr{Name: fmt.Sprintf("%05x", (autobindNext.Add(1))&0xfffff), Abstract: true}
		if err := names.BindAbstract(a.Name, be); err == nil {
			return a, nil
		}
	}
	return socket.UnixAddr{}, unix.EADDRINUSE
}

// putSockaddr writes a socket address to (addr, lenAddr) as accept,
// recvfrom, getsockname and getpeername do: truncated to the buffer, the
// full length in *lenAddr.
func (c *syscallCtx) putSockaddr(addr, lenAddr uint64, sa []byte) error {
	if addr == 0 || lenAddr == 0 {
		return nil
	}
	lb, err := c.mem.CopyIn(lenAddr, 4)
	if err != nil {
		return err
	}
	l := int32(binary.LittleEndian.Uint32(lb))
	if l < 0 {
		return unix.EINVAL
	}
	if int(l) > len(sa) {
		l = int32(len(sa))
	}
	if err := c.mem.CopyOut(addr, sa[:l]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(lb, uint32(len(sa)))
	return c.mem.CopyOut(lenAddr, lb)
}

// queuedFile is a socket that reports how much it has to read
// (FIONREAD).
type queuedFile interface {
	Queued() (int, error)
}

func (s *unixSockFile) Queued() (int, error) {
	if s.u.Type == linux.SOCK_STREAM && !s.u.Connected() {
		return 0, unix.EINVAL
	}
	if s.u.Type != linux.SOCK_STREAM {
		// The next message's length, as on Linux.
		_, res, err := s.u.Recv(usermem.BytesIOSequence(nil), transport.RecvArgs{Peek: true})
		res.Control.Release(kobj.Ctx())
		if err != nil {
			return 0, nil
		}
		return int(res.MsgLen), nil
	}
	n, err := s.u.EP.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return 0, nil // unconnected datagram socket: nothing queued
	}
	return n, nil
}
