package socket

import (
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/fdnotifier"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// HostInet is an AF_INET or AF_INET6 socket of the server's own host
// (--network=host): a non-blocking, close-on-exec host socket whose
// readiness gVisor's fdnotifier (one host epoll for the whole server)
// reports on WQ. The host kernel checks the addresses and options; the
// caller blocks on Watch, never in the host.
type HostInet struct {
	// fd, WQ, Watch, Family and Stream are immutable.
	fd     int
	WQ     *waiter.Queue
	Watch  *kobj.Watch
	Family int
	// Stream is TCP (else UDP).
	Stream bool
}

// hostChunk bounds one host send or receive of a stream socket (the
// caller loops for more); a datagram goes in one piece.
const hostChunk = 256 << 10

// maxDatagram is the largest UDP payload over IPv4 or IPv6 (without
// jumbograms): a bigger send fails with EMSGSIZE, as the host would, and
// a receive never needs more.
const maxDatagram = 65535 - 8

// sockaddrMax is the largest socket address the host returns
// (sockaddr_storage).
const sockaddrMax = 128

// NewHostInet opens a TCP (stream) or UDP host socket of family. A TCP
// socket has SO_REUSEADDR set on the host whatever the application sets.
func NewHostInet(family int, stream bool) (*HostInet, error) {
	t := unix.SOCK_DGRAM
	if stream {
		t = unix.SOCK_STREAM
	}
	fd, err := unix.Socket(family, t|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if stream {
		// The connections of a server that died linger on the host
		// (TIME_WAIT, FIN_WAIT2): its successor's restored listener can
		// bind their port only if they, and it, had SO_REUSEADDR. The
		// application's own value is the caller's to keep.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return wrapHostInet(fd, family, stream)
}

func wrapHostInet(fd, family int, stream bool) (*HostInet, error) {
	wq := &waiter.Queue{}
	// The watch registers for every event first, so that fdnotifier
	// starts watching the fd with the full mask.
	w := kobj.NewQueueWatch(wq)
	if err := fdnotifier.AddFD(int32(fd), wq); err != nil {
		w.Stop()
		unix.Close(fd)
		return nil, err
	}
	return &HostInet{fd: fd, WQ: wq, Watch: w, Family: family, Stream: stream}, nil
}

// Release closes the host socket.
func (s *HostInet) Release() {
	fdnotifier.RemoveFD(int32(s.fd))
	s.Watch.Stop()
	unix.Close(s.fd)
}

// Readiness returns the poll events ready now.
func (s *HostInet) Readiness() uint32 {
	return uint32(fdnotifier.NonBlockingPoll(int32(s.fd), waiter.AllEvents))
}

// bytePtr is the address of b's first byte (0 for an empty b), for a
// system call's argument.
func bytePtr(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// Bind binds to the socket address raw (checked by the host).
func (s *HostInet) Bind(raw []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(s.fd), bytePtr(raw), uintptr(len(raw)))
	return errnoErr(e)
}

// Connect starts a connection to raw (EINPROGRESS while a TCP handshake
// is under way: the socket turns writable when it ends, and SockError
// then says how).
func (s *HostInet) Connect(raw []byte) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(s.fd), bytePtr(raw), uintptr(len(raw)))
	return errnoErr(e)
}

// Listen starts listening.
func (s *HostInet) Listen(backlog int) error { return unix.Listen(s.fd, backlog) }

// Shutdown shuts down how (SHUT_RD, SHUT_WR, SHUT_RDWR).
func (s *HostInet) Shutdown(how int) error { return unix.Shutdown(s.fd, how) }

// Accept returns a connection from the backlog and its peer's address
// (EAGAIN if none).
func (s *HostInet) Accept() (*HostInet, []byte, error) {
	sa := make([]byte, sockaddrMax)
	l := uint32(len(sa))
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(s.fd), bytePtr(sa), uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return nil, nil, e
	}
	ns, err := wrapHostInet(int(r), s.Family, s.Stream)
	if err != nil {
		return nil, nil, err
	}
	return ns, sa[:min(int(l), len(sa))], nil
}

// Name returns the socket's own address, or its peer's.
func (s *HostInet) Name(peer bool) ([]byte, error) {
	sa := make([]byte, sockaddrMax)
	l := uint32(len(sa))
	nr := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		nr = unix.SYS_GETPEERNAME
	}
	_, _, e := unix.Syscall(nr, uintptr(s.fd), bytePtr(sa), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return nil, e
	}
	return sa[:min(int(l), len(sa))], nil
}

// GetSockopt reads option level/name into a buffer of size bytes and
// returns what the host wrote.
func (s *HostInet) GetSockopt(level, name, size int) ([]byte, error) {
	v := make([]byte, size)
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), bytePtr(v), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return nil, e
	}
	return v[:min(int(l), size)], nil
}

// SetSockopt sets option level/name to v.
func (s *HostInet) SetSockopt(level, name int, v []byte) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), bytePtr(v), uintptr(len(v)), 0)
	return errnoErr(e)
}

// SockError returns and clears the socket's pending error (SO_ERROR).
func (s *HostInet) SockError() error {
	n, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	return errnoErr(unix.Errno(n))
}

// Listening reports a socket in the LISTEN state.
func (s *HostInet) Listening() bool {
	n, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && n != 0
}

// Queued is the number of bytes ready to read (FIONREAD).
func (s *HostInet) Queued() (int, error) {
	return unix.IoctlGetInt(s.fd, unix.SIOCINQ)
}

// sendFlags are the send flags the host is given as the application set
// them; MSG_DONTWAIT and MSG_NOSIGNAL are always set (the caller blocks
// and raises SIGPIPE itself).
const sendFlags = unix.MSG_MORE | unix.MSG_OOB | unix.MSG_EOR | unix.MSG_CONFIRM | unix.MSG_DONTROUTE

// Send makes one non-blocking send of src (to: a target address, or nil),
// of at most hostChunk bytes on a stream.
func (s *HostInet) Send(src usermem.IOSequence, to []byte, flags int) (int64, error) {
	n := src.NumBytes()
	if s.Stream {
		n = min(n, hostChunk)
	} else if n > maxDatagram {
		return 0, unix.EMSGSIZE
	}
	buf := make([]byte, n)
	m, err := src.CopyIn(kobj.Ctx(), buf)
	if err != nil && m == 0 {
		return 0, err
	}
	buf = buf[:m]
	r, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), bytePtr(buf), uintptr(len(buf)),
		uintptr(flags&sendFlags|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL), bytePtr(to), uintptr(len(to)))
	if e != 0 {
		return 0, e
	}
	return int64(r), nil
}

// recvFlags are the receive flags the host is given as the application
// set them (MSG_WAITALL is the caller's loop; MSG_DONTWAIT is always set).
const recvFlags = unix.MSG_PEEK | unix.MSG_OOB | unix.MSG_TRUNC

// Recv makes one non-blocking receive into dst. It returns the bytes
// read, the datagram's full length (UDP; TCP: the bytes read, or
// discarded with MSG_TRUNC) and its source address.
func (s *HostInet) Recv(dst usermem.IOSequence, flags int) (int64, int64, []byte, error) {
	n := dst.NumBytes()
	if s.Stream {
		n = min(n, hostChunk)
	} else {
		n = min(n, maxDatagram)
	}
	buf := make([]byte, n)
	hflags := flags&recvFlags | unix.MSG_DONTWAIT
	if !s.Stream {
		// The host then returns the datagram's real length.
		hflags |= unix.MSG_TRUNC
	}
	from := make([]byte, sockaddrMax)
	fl := uint32(len(from))
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), bytePtr(buf), uintptr(len(buf)),
		uintptr(hflags), bytePtr(from), uintptr(unsafe.Pointer(&fl)))
	if e != 0 {
		return 0, 0, nil, e
	}
	total := int64(r)
	got := min(total, int64(len(buf)))
	if s.Stream && flags&unix.MSG_TRUNC != 0 {
		// The bytes were discarded, not read into buf.
		return got, total, nil, nil
	}
	if _, err := dst.CopyOut(kobj.Ctx(), buf[:got]); err != nil {
		return 0, 0, nil, err
	}
	return got, total, from[:min(int(fl), len(from))], nil
}
