package inet

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// File is an AF_INET or AF_INET6 socket on the client's netstack.
type File struct {
	Common
	// S is the endpoint. Immutable.
	S *socket.Inet
	// Bufs is the socket's charge to the client's memory cap (own
	// synchronization).
	Bufs memacct.SocketBuffers
	// behind are the bytes of posted writes held for the endpoint (own
	// lock; sendbehind.go).
	behind sendBehind
}

// New returns a description of netstack socket s with flags' O_NONBLOCK.
func New(s *socket.Inet, flags uint32) *fdesc.File {
	return fdesc.NewFile(&File{Common: newCommon(), S: s}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

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

// ReadSeq is read(2): Recv with no flags.
func (s *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	n, _, _, err := s.Recv(c, f, dst, 0)
	return n, err
}

// WriteSeq is write(2): Send with no flags.
func (s *File) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	return s.Send(c, f, src, nil, 0)
}

// Readiness returns the events ready now and a channel closed when they
// may have changed.
func (s *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	ready, ch := s.readiness(s.S.Watch, s.S.Readiness)
	return s.behindReadiness(ready), ch
}

// Release closes the endpoint and returns its charge, once the bytes
// held for posted writes went out (sendbehind.go).
func (s *File) Release() {
	if s.releaseAfterSent() {
		return
	}
	s.release()
}

func (s *File) release() {
	s.S.Release()
	s.Bufs.Unreserve()
}

// Stat is the anonymous inode's.
func (s *File) Stat(c fdesc.Call) (*goferpb.Stat, error) { return s.Base.Stat(c) }

// Queued is FIONREAD: the bytes queued to read (EINVAL on a listener).
func (s *File) Queued() (int, error) {
	if s.S.Listening() {
		return 0, unix.EINVAL
	}
	n, err := s.S.EP.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return 0, nil
	}
	return n, nil
}

// SetRcvbuf sets SO_RCVBUF, whose size the client's memory cap must hold
// (ENOBUFS, the size unchanged, when it does not).
func (s *File) SetRcvbuf(n int64) error {
	opts := s.S.EP.SocketOptions()
	old := opts.GetReceiveBufferSize()
	opts.SetReceiveBufferSize(n, true)
	if err := s.Bufs.Resize(opts.GetReceiveBufferSize()); err != nil {
		opts.SetReceiveBufferSize(old, true)
		return err
	}
	return nil
}

// Send sends src (to: a UDP target). A TCP send blocks until all is
// sent unless non-blocking.
func (s *File) Send(c fdesc.Call, f *fdesc.File, src usermem.IOSequence, to *tcpip.FullAddress, flags int) (int64, error) {
	if flags&unix.MSG_OOB != 0 {
		// UDP has no urgent data (as on Linux), and TCP's is not
		// supported here.
		return 0, unix.EOPNOTSUPP
	}
	if err := s.awaitSentBehind(c, f, flags&unix.MSG_DONTWAIT != 0); err != nil {
		if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
			c.RaiseSIGPIPE()
		}
		return 0, err
	}
	return s.send(c, f, s.S.Watch, s.S.Stream, src, flags, func(src usermem.IOSequence) (int64, error) {
		return s.S.Send(src, to, flags&unix.MSG_MORE != 0)
	})
}

// Recv receives into dst; it returns the bytes read, the datagram's
// length and its source.
func (s *File) Recv(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence, flags int) (int64, int64, tcpip.FullAddress, error) {
	if err := recvFlags(s.S.Stream, true, flags); err != nil {
		return 0, 0, tcpip.FullAddress{}, err
	}
	peek := flags&unix.MSG_PEEK != 0
	return recv(&s.Common, c, f, s.S.Watch, s.S.Stream, dst, flags, func(dst usermem.IOSequence) (int64, int64, tcpip.FullAddress, error) {
		return s.S.Recv(dst, peek)
	})
}

// Accept waits (unless non-blocking) for a connection and returns it
// with its peer's address (EOPNOTSUPP on UDP).
func (s *File) Accept(c fdesc.Call, f *fdesc.File) (*socket.Inet, tcpip.FullAddress, error) {
	if !s.S.Stream {
		return nil, tcpip.FullAddress{}, unix.EOPNOTSUPP
	}
	return accept(c, f, s.S.Watch, s.S.Accept)
}

// Target parses sendto's or sendmsg's address (nil: none).
func (s *File) Target(raw []byte) (*tcpip.FullAddress, error) {
	if len(raw) == 0 || s.S.Stream {
		return nil, nil // TCP ignores it, as Linux does once connected
	}
	a, err := socket.ParseInetAddr(s.S.Family, raw)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func putInt(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// Sockopt is getsockopt (get: the value) or setsockopt (v) of level and
// name on the netstack, for a caller with CAP_NET_ADMIN (privileged) or
// not.
func (s *File) Sockopt(get bool, level, name int, v []byte, privileged bool) ([]byte, error) {
	opts := s.S.EP.SocketOptions()
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
	if !levelApplies(level, s.S.Stream, s.S.Family) {
		return nil, UnknownLevel(s.S.Family, get)
	}
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_TYPE:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if s.S.Stream {
				return putInt(unix.SOCK_STREAM), nil
			}
			return putInt(unix.SOCK_DGRAM), nil
		case unix.SO_DOMAIN:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			return putInt(int32(s.S.Family)), nil
		case unix.SO_PROTOCOL:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if s.S.Stream {
				return putInt(unix.IPPROTO_TCP), nil
			}
			return putInt(unix.IPPROTO_UDP), nil
		case unix.SO_ERROR:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			if errno, lost := s.LostSockError(); lost {
				return putInt(errno), nil
			}
			if e := kobj.TCPIPErr(s.S.EP.LastError()); e != nil {
				if errno, ok := e.(unix.Errno); ok {
					return putInt(int32(errno)), nil
				}
			}
			return putInt(0), nil
		case unix.SO_ACCEPTCONN:
			if !get {
				return nil, unix.ENOPROTOOPT
			}
			return putInt(boolInt(s.S.Listening())), nil
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
			return nil, s.SetRcvbuf(2 * int64(max(iv, 0)))
		case unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE:
			// SO_SNDBUF and SO_RCVBUF past the limits, for
			// CAP_NET_ADMIN; netstack keeps its own bounds. The value
			// is a signed int (CVE-2016-9793).
			if get {
				return nil, unix.ENOPROTOOPT
			}
			if !privileged {
				return nil, unix.EPERM
			}
			if forced(name) == unix.SO_SNDBUF {
				opts.SetSendBufferSize(2*int64(max(iv, 0)), true)
				return nil, nil
			}
			return nil, s.SetRcvbuf(2 * int64(max(iv, 0)))
		case unix.SO_LINGER:
			if get {
				return make([]byte, 8), nil
			}
			return nil, nil
		case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
			return s.TimeoutOption(get, name, v)
		}
	case unix.IPPROTO_TCP:
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
			return nil, s.S.SetKeepalive(name == unix.TCP_KEEPIDLE, time.Duration(iv)*time.Second)
		case unix.TCP_KEEPCNT:
			if get {
				n, err := s.S.EP.GetSockOptInt(tcpip.KeepaliveCountOption)
				return putInt(int32(n)), kobj.TCPIPErr(err)
			}
			if iv < 1 {
				return nil, unix.EINVAL
			}
			return nil, kobj.TCPIPErr(s.S.EP.SetSockOptInt(tcpip.KeepaliveCountOption, int(iv)))
		}
	case unix.IPPROTO_IPV6:
		if name == unix.IPV6_V6ONLY {
			return boolOpt(opts.GetV6Only, opts.SetV6Only)
		}
	case unix.IPPROTO_UDP, unix.IPPROTO_IP:
	default:
		return nil, UnknownLevel(s.S.Family, get)
	}
	return nil, unix.ENOPROTOOPT
}
