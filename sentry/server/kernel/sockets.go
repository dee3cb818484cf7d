package kernel

import (
	"sync"

	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Sockets is a client's socket state: its AF_UNIX name space, the socket
// file of each bound endpoint, and its network stack (made at its first
// AF_INET or AF_INET6 socket, or at its start with a sandbox network).
// Its zero value is ready.
type Sockets struct {
	// namesOnce makes names at first use.
	namesOnce sync.Once
	names     *socket.Names

	// boundMu protects bound: the socket file of each bound endpoint
	// (connect finds the listener's file through it). A leaf.
	boundMu sync.Mutex
	bound   map[transport.BoundEndpoint]*unixsock.File

	// netMu protects net and netErr, and is held while the stack is made,
	// changed through WithStack, or destroyed. Taken before the Sysctls'
	// lock (a stack is made with the client's ip_forward).
	netMu  sync.Mutex
	net    *socket.Stack
	netErr error
}

// Names returns the client's AF_UNIX name space, made at first use.
func (s *Sockets) Names() *socket.Names {
	s.namesOnce.Do(func() { s.names = socket.NewNames() })
	return s.names
}

// SetBound records (f non-nil) or forgets the file of bound endpoint be.
func (s *Sockets) SetBound(be transport.BoundEndpoint, f *unixsock.File) {
	s.boundMu.Lock()
	defer s.boundMu.Unlock()
	if f == nil {
		delete(s.bound, be)
		return
	}
	if s.bound == nil {
		s.bound = make(map[transport.BoundEndpoint]*unixsock.File)
	}
	s.bound[be] = f
}

// BoundFile returns the file of bound endpoint be, nil if none.
func (s *Sockets) BoundFile(be transport.BoundEndpoint) *unixsock.File {
	s.boundMu.Lock()
	defer s.boundMu.Unlock()
	return s.bound[be]
}

// Stack returns the client's network stack, made by newStack (under the
// stack's lock) at the first call. What newStack returned is kept: a
// stack made with an error is returned with it, and destroyed by
// Release.
func (s *Sockets) Stack(newStack func() (*socket.Stack, error)) (*socket.Stack, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.net == nil && s.netErr == nil {
		s.net, s.netErr = newStack()
	}
	return s.net, s.netErr
}

// MadeStack returns the network stack if it was made, else nil.
func (s *Sockets) MadeStack() *socket.Stack {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	return s.net
}

// WithStack runs fn on the network stack if it was made (nil if not)
// under the stack's lock, so that a stack being made or destroyed waits.
func (s *Sockets) WithStack(fn func(*socket.Stack) error) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	return fn(s.net)
}

// Release destroys the network stack, if it was made.
func (s *Sockets) Release() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.net != nil {
		s.net.Destroy()
		s.net = nil
	}
}

var _ unixsock.Namespace = (*Kernel)(nil)

// Unbound is unixsock.Namespace's: a named socket's endpoint be is
// released.
func (k *Kernel) Unbound(be transport.BoundEndpoint) {
	k.Socks.Names().Unbind(be)
	k.Socks.SetBound(be, nil)
}

// ChargeSocket reserves socket file f's receive buffer in the client's
// memory cap (memacct.SocketBuffers), whatever the cap when force (a
// Restore); on failure (ENOBUFS) the caller drops f.
func (k *Kernel) ChargeSocket(f *fdesc.File, force bool) error {
	switch s := f.Impl.(type) {
	case *unixsock.File:
		return s.Bufs.Reserve(k.Mem, s.U.EP.SocketOptions().GetReceiveBufferSize(), force)
	case *inet.File:
		return s.Bufs.Reserve(k.Mem, s.S.EP.SocketOptions().GetReceiveBufferSize(), force)
	}
	return nil
}

// RestoredPair is a socketpair being rebuilt by a Restore: both ends are
// made when the first is restored; the queued data goes in once both had
// their chance. Only the Restore that made it changes it (under the kernel
// lock).
type RestoredPair struct {
	Conn   *unixsock.Conn
	Ends   [2]*socket.Unix
	Files  [2]*fdesc.File
	Queued [2][][]byte
}

// ConnIO is N units sent (Sent) or read by Side of connection Conn.
type ConnIO struct {
	Conn *unixsock.Conn
	Side int
	Sent bool
	N    uint64
}

var _ unixsock.IORecorder = (*Task)(nil)

// RecordConnIO notes n units sent (sent) or read by side of connection
// cn in call c, committed with its reply (unixsock.IORecorder); a nil c
// notes nothing.
func (c *Task) RecordConnIO(cn *unixsock.Conn, side int, sent bool, n uint64) bool {
	if c == nil {
		return false
	}
	e := c.Effects()
	if l := len(e.ConnIO); l > 0 {
		if last := &e.ConnIO[l-1]; last.Conn == cn && last.Side == side && last.Sent == sent {
			last.N += n
			return true
		}
	}
	e.ConnIO = append(e.ConnIO, ConnIO{Conn: cn, Side: side, Sent: sent, N: n})
	return true
}

// NetlinkChange is datagram D queued on (Queued) or taken from netlink
// socket N, description F.
type NetlinkChange struct {
	N      *netlink.File
	F      *fdesc.File
	D      *netlink.Datagram
	Queued bool
}

var _ netlink.QueueRecorder = (*Task)(nil)

// RecordNetlink notes datagram d queued on (queued) or taken from netlink
// socket n in call c, committed with its reply (netlink.QueueRecorder); a
// nil c notes nothing.
func (c *Task) RecordNetlink(n *netlink.File, f *fdesc.File, d *netlink.Datagram, queued bool) bool {
	if c == nil {
		return false
	}
	c.Effects().Netlink = append(c.Effects().Netlink, NetlinkChange{N: n, F: f, D: d, Queued: queued})
	return true
}

// EventfdChange is V added to (Added) or taken from the counter of
// eventfd E, description F.
type EventfdChange struct {
	E     *eventfd.File
	F     *fdesc.File
	Added bool
	V     uint64
}

var _ eventfd.CountRecorder = (*Task)(nil)

// RecordEventfd notes v added to (added) or taken from eventfd e's
// counter in call c, committed with its reply (eventfd.CountRecorder); a
// nil c notes nothing.
func (c *Task) RecordEventfd(e *eventfd.File, f *fdesc.File, added bool, v uint64) bool {
	if c == nil {
		return false
	}
	c.Effects().Eventfds = append(c.Effects().Eventfds, EventfdChange{E: e, F: f, Added: added, V: v})
	return true
}
