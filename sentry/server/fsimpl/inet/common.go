package inet

import (
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Common is what both inet kinds hold besides their endpoint.
type Common struct {
	anon.Base
	// Timeo are SO_RCVTIMEO and SO_SNDTIMEO (own lock): the server does
	// the waiting, on either network.
	Timeo socket.Timeouts
	// lost is set by a restore for a connection lost with a server.
	lost lostConn

	// mu protects backlog, listen's backlog (for recovery),
	// connectPeer and HostFile's reuseAddr. A leaf.
	mu      sync.Mutex
	backlog int
	// connectPeer is the sockaddr a TCP connect went to, set when it
	// started or completed: the replay record's peer while the
	// handshake is under way, when the endpoint has none yet.
	connectPeer []byte
}

func newCommon() Common { return Common{Base: anon.NewBase(unix.S_IFSOCK | 0777)} }

// Backlog returns listen's backlog (0: not listening).
func (s *Common) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlog
}

// SetBacklog records listen's backlog (at least 1).
func (s *Common) SetBacklog(n int) {
	s.mu.Lock()
	s.backlog = max(n, 1)
	s.mu.Unlock()
}

// SetConnectPeer records peer, the sockaddr a TCP connect started or
// completed to (nil: none, after a disconnect).
func (s *Common) SetConnectPeer(peer []byte) {
	s.mu.Lock()
	s.connectPeer = peer
	s.mu.Unlock()
}

// ConnectPeer returns the sockaddr SetConnectPeer recorded (nil: none).
func (s *Common) ConnectPeer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectPeer
}

// SetLost makes the socket a restored connection that was lost with a
// server, whose record had the local and peer addresses (sockaddrs of
// family; either may be nil): its next I/O fails with ECONNRESET. A send
// re-sent after the Restore succeeds instead when the peer is outside
// the sandbox (socket.PeerOutside; see send).
func (s *Common) SetLost(family int, local, peer []byte) {
	s.lost.mu.Lock()
	s.lost.reset = true
	s.lost.local, s.lost.peer = local, peer
	s.lost.outside = socket.PeerOutside(family, local, peer)
	s.lost.mu.Unlock()
}

// Lost reports whether the socket is a connection lost with a server
// (its reset taken or not) and the addresses SetLost was given: its
// replay record keeps them and says connected, so that the next restore
// brings it back lost again.
func (s *Common) Lost() (local, peer []byte, lost bool) {
	s.lost.mu.Lock()
	defer s.lost.mu.Unlock()
	return s.lost.local, s.lost.peer, s.lost.reset || s.lost.dead
}

// lostConn is an inet connection lost with a server: the next I/O fails
// with ECONNRESET; after it, reads see end of file and writes EPIPE, as
// on a connection the peer reset.
type lostConn struct {
	// mu protects the fields below. It is a leaf lock.
	mu          sync.Mutex
	reset, dead bool
	// local and peer are the connection's addresses as its record had
	// them; outside says the peer is not the sandbox's own. Set by
	// SetLost.
	local, peer []byte
	outside     bool
}

// resentSendDone reports whether a send re-sent after the Restore is
// taken as done: on a lost connection to a peer outside the sandbox.
func (l *lostConn) resentSendDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outside && (l.reset || l.dead)
}

// lostEvents is a connection's readiness once it was reset, as Linux's
// tcp_poll gives it: both directions shut down (readable at end of
// file, writable to fail at once, hung up); POLLERR is added while the
// reset is pending (sk_err not yet taken by a call or SO_ERROR).
const lostEvents = uint32(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventRdHUp)

// readiness returns the lost connection's events, and false when the
// connection is not lost.
func (l *lostConn) readiness() (uint32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.reset:
		return lostEvents | uint32(waiter.EventErr), true
	case l.dead:
		return lostEvents, true
	}
	return 0, false
}

// resetPending reports whether the connection was lost with a server and
// no call took the reset yet.
func (l *lostConn) resetPending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reset
}

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

// send is the send loop of both kinds: src goes out by send (one try,
// returning what it took), blocking until all of a stream's is sent
// unless non-blocking, up to SO_SNDTIMEO. A lost connection's send
// fails with ECONNRESET, then EPIPE; EPIPE raises SIGPIPE unless
// MSG_NOSIGNAL. Part sent before an error is a short count.
//
// A send re-sent after a Restore on a lost connection to a peer outside
// the sandbox is the exception: the dead server may have sent its bytes
// (and the peer answered them) before its reply was lost, so it
// succeeds whole, as a send the reset came after does on Linux, and
// leaves the reset to the next call. Failing it would tell the
// application that bytes its peer got were never sent. A peer inside
// the sandbox comes back reset too and reads none of them after the
// restore: there the send fails and the application sends them again
// (a peer that read them before the kill sees them twice).
func (s *Common) send(c fdesc.Call, f *fdesc.File, w *kobj.Watch, stream bool, src usermem.IOSequence, flags int,
	send func(src usermem.IOSequence) (int64, error)) (int64, error) {
	if c.Resent() && s.lost.resentSendDone() {
		return src.NumBytes(), nil
	}
	if reset, dead := s.lost.take(); reset {
		return 0, unix.ECONNRESET
	} else if dead {
		if flags&unix.MSG_NOSIGNAL == 0 {
			c.RaiseSIGPIPE()
		}
		return 0, unix.EPIPE
	}
	return anon.SendAll(c, f, w, stream, s.Timeo.Deadline(true), src, flags, send)
}

// recv is the receive loop of both kinds: dst is filled by recv (one
// try, returning the bytes, the datagram's length and its source A),
// blocking until something came unless non-blocking, up to SO_RCVTIMEO,
// and with MSG_WAITALL on a stream until dst is full. A lost
// connection's receive fails with ECONNRESET, then reads end of file.
// It returns the bytes read and the first datagram's length and source.
func recv[A any](s *Common, c fdesc.Call, f *fdesc.File, w *kobj.Watch, stream bool, dst usermem.IOSequence, flags int,
	recv func(dst usermem.IOSequence) (int64, int64, A, error)) (int64, int64, A, error) {
	var from A
	if reset, dead := s.lost.take(); reset {
		return 0, 0, from, unix.ECONNRESET
	} else if dead {
		return 0, 0, from, nil
	}
	peek := flags&unix.MSG_PEEK != 0
	waitAll := flags&unix.MSG_WAITALL != 0 && stream && !peek
	var total, msgLen int64
	n, err := anon.BlockOnUntil(c, f, w, flags&unix.MSG_DONTWAIT != 0, s.Timeo.Deadline(false), func() (int64, error) {
		n, l, a, err := recv(dst)
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

// accept waits (unless non-blocking) for accept's next connection.
func accept[S, A any](c fdesc.Call, f *fdesc.File, w *kobj.Watch, accept func() (S, A, error)) (S, A, error) {
	var ns S
	var peer A
	_, err := anon.BlockOn(c, f, w, false, func() (int64, error) {
		n, p, err := accept()
		if err != nil {
			return 0, err
		}
		ns, peer = n, p
		return 0, nil
	})
	return ns, peer, err
}

// readiness is the socket's readiness now and its watch's next change:
// the endpoint's, or a lost connection's (the restored endpoint is a
// fresh one, whose own readiness says nothing of the connection).
func (s *Common) readiness(w *kobj.Watch, ready func() uint32) (uint32, <-chan struct{}) {
	ch := w.Changed()
	if ev, lost := s.lost.readiness(); lost {
		return ev, ch
	}
	return ready(), ch
}

// LostSockError is SO_ERROR of a connection lost with a server (lost
// true; false: ask the endpoint): ECONNRESET once, taking the reset as
// the connection's next I/O would (then reads see end of file and writes
// EPIPE), then 0, as Linux's sock_error clears sk_err.
func (s *Common) LostSockError() (errno int32, lost bool) {
	reset, dead := s.lost.take()
	switch {
	case reset:
		return int32(unix.ECONNRESET), true
	case dead:
		return 0, true
	}
	return 0, false
}

// SockType checks socket's type and protocol for an inet socket made by
// a caller with (privileged) or without CAP_NET_RAW, and says whether
// it is a stream (TCP; else UDP).
func SockType(stype, proto int, privileged bool) (bool, error) {
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

// TimeoutOption is SO_RCVTIMEO or SO_SNDTIMEO (name) of either kind:
// the server waits, not the endpoint. get returns the value; set takes v.
func (s *Common) TimeoutOption(get bool, name int, v []byte) ([]byte, error) {
	if get {
		return s.Timeo.Get(name), nil
	}
	return nil, s.Timeo.Set(name, v)
}

// levelApplies says whether level's options apply to a socket of family
// that is a stream (TCP) or not (UDP): TCP's only to TCP, UDP's only to
// UDP, IPv6's only to AF_INET6.
func levelApplies(level int, stream bool, family int) bool {
	switch level {
	case unix.IPPROTO_TCP:
		return stream
	case unix.IPPROTO_UDP:
		return !stream
	case unix.IPPROTO_IPV6:
		return family == unix.AF_INET6
	}
	return true
}

// UnknownLevel is Linux's errno for an inet socket option at a level
// the socket has no handler for: IPv4's getsockopt says EOPNOTSUPP, its
// setsockopt and IPv6's ENOPROTOOPT.
func UnknownLevel(family int, get bool) error {
	if get && family == unix.AF_INET {
		return unix.EOPNOTSUPP
	}
	return unix.ENOPROTOOPT
}

// forced is SO_SNDBUFFORCE's or SO_RCVBUFFORCE's plain option
// (SO_SNDBUF, SO_RCVBUF), or 0 for another name.
func forced(name int) int {
	switch name {
	case unix.SO_SNDBUFFORCE:
		return unix.SO_SNDBUF
	case unix.SO_RCVBUFFORCE:
		return unix.SO_RCVBUF
	}
	return 0
}

// recvFlags checks a receive's flags: no error queue is kept
// (IP_RECVERR is refused: EAGAIN, as with an empty one); on the netstack
// (urgent data not supported) a TCP MSG_OOB finds none: EINVAL.
func recvFlags(stream, netstack bool, flags int) error {
	if flags&unix.MSG_ERRQUEUE != 0 {
		return unix.EAGAIN
	}
	if netstack && stream && flags&unix.MSG_OOB != 0 {
		return unix.EINVAL
	}
	return nil
}
