package netlink

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// RcvBuf bounds a socket's unread answers (Linux's default SO_RCVBUF),
// so that requests never read cannot grow the server's memory.
const RcvBuf = 212992

// SockaddrSize is sizeof(struct sockaddr_nl).
const SockaddrSize = 12

// Router answers the requests of one netlink protocol.
type Router interface {
	// Answer returns the answers to request req of port.
	Answer(port int32, req []byte) ([][]byte, error)
}

// File is a netlink socket of the protocols the kernel answers
// (NETLINK_ROUTE, NETLINK_SOCK_DIAG).
//
// Its replay record is its unread datagrams as the calls whose replies
// were built left them, not as they are: a recv whose reply is lost is
// re-sent after a restore and must take the same datagram, and a send
// re-sent must not queue its answers twice. So a datagram enters the
// record when the call that queued it commits (Commit: a QueueRecorder,
// the server's call, commits with its reply; the kernel's own datagrams
// outside any call at once), and leaves it when the recv that took it
// commits.
type File struct {
	anon.Base
	// router answers its requests, of protocol proto. Immutable.
	router Router
	proto  int
	// mu protects the fields below. A leaf.
	mu sync.Mutex
	// portID is the bound port (nl_pid; 0 until bound or first send).
	portID int32
	// queue holds the datagrams not yet received, queued bytes in all
	// (answers only while at most RcvBuf); overrun says answers were
	// dropped since the last recv, which then fails once with ENOBUFS as
	// on Linux.
	queue   []*Datagram
	queued  int
	overrun bool
	// rec holds, in the order they were queued, the datagrams the record
	// holds or may come to hold: queued, and not taken by a recv whose
	// reply was built (the record is those of them that are in).
	rec []*Datagram
	// changed is notified when queue grows.
	changed wake.Notifier
}

// Datagram is one queued datagram, with where it stands in the socket's
// replay record.
type Datagram struct {
	data []byte
	// in says the call that queued it committed (or none did: queued
	// outside a call); out that the recv that took it committed.
	// Protected by File.mu.
	in, out bool
}

// QueueRecorder is the call a socket's queue changes in: RecordNetlink
// notes datagram d queued on (queued) or taken from socket n (description
// f), which the caller commits (Commit) when its reply is built, and
// reports whether it will. A call that is not one commits at once.
type QueueRecorder interface {
	RecordNetlink(n *File, f *fdesc.File, d *Datagram, queued bool) bool
}

// New returns a description of a new socket of protocol proto whose
// requests r answers, with flags' O_NONBLOCK.
func New(r Router, proto int, flags uint32) *fdesc.File {
	return fdesc.NewFile(&File{Base: anon.NewBase(unix.S_IFSOCK | 0777), router: r, proto: proto}, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Protocol is the socket's netlink protocol (SO_PROTOCOL).
func (n *File) Protocol() int { return n.proto }

// Bind gives the socket port want unless it has one: the caller's
// process id when want is 0, as Linux's netlink_autobind first tries.
func (n *File) Bind(c fdesc.Call, want int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bindLocked(c, want)
}

func (n *File) bindLocked(c fdesc.Call, want int32) {
	if n.portID != 0 {
		return
	}
	if want == 0 {
		want = c.PID()
	}
	n.portID = want
}

// SetPort gives a restored socket its port.
func (n *File) SetPort(port int32) {
	n.mu.Lock()
	n.portID = port
	n.mu.Unlock()
}

// Sockaddr is the socket's address (its port).
func (n *File) Sockaddr() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	sa := make([]byte, SockaddrSize)
	binary.LittleEndian.PutUint16(sa, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(sa[4:], uint32(n.portID))
	return sa
}

// KernelSockaddr is the source of every answer: the kernel, port 0.
func KernelSockaddr() []byte {
	sa := make([]byte, SockaddrSize)
	binary.LittleEndian.PutUint16(sa, unix.AF_NETLINK)
	return sa
}

// Send answers request b of call c on description f (binding the socket
// first if it is not) and queues the answers; it returns len(b).
func (n *File) Send(c fdesc.Call, f *fdesc.File, b []byte) (int64, error) {
	n.mu.Lock()
	n.bindLocked(c, 0)
	port := n.portID
	n.mu.Unlock()
	answers, err := n.router.Answer(port, b)
	if err != nil {
		return 0, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range answers {
		if n.queued+len(a) > RcvBuf {
			n.overrun = true
			continue
		}
		n.enqueueLocked(c, f, a)
	}
	if len(answers) > 0 {
		n.changed.Notify()
	}
	return int64(len(b)), nil
}

// QueueKernel queues data as a datagram from the kernel (port 0) on
// description f, whatever the receive buffer holds, as Linux's
// netlink_sendskb does for mq_notify's SIGEV_THREAD cookie
// (ipc/mqueue.c): the registration had charged it to the socket when it
// was made. c is the call it is an effect of (nil: none, in the record
// at once).
func (n *File) QueueKernel(c fdesc.Call, f *fdesc.File, data []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.enqueueLocked(c, f, data)
	n.changed.Notify()
}

// enqueueLocked queues data, an effect of call c on f.
// Precondition: n.mu is held.
func (n *File) enqueueLocked(c fdesc.Call, f *fdesc.File, data []byte) {
	d := &Datagram{data: data}
	n.queue = append(n.queue, d)
	n.queued += len(data)
	n.rec = append(n.rec, d)
	n.recordLocked(c, f, d, true)
}

// recordLocked notes d queued or taken by call c on f, or commits it at
// once (and reports the record changed) if c does not record it.
// Precondition: n.mu is held.
func (n *File) recordLocked(c fdesc.Call, f *fdesc.File, d *Datagram, queued bool) {
	if r, ok := c.(QueueRecorder); ok && r.RecordNetlink(n, f, d, queued) {
		return
	}
	n.commitLocked(d, queued)
	if f != nil {
		f.Changed()
	}
}

// Commit commits d queued (queued) or taken by a call whose reply is
// being built: the record holds it, or no longer does, from now on.
func (n *File) Commit(d *Datagram, queued bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.commitLocked(d, queued)
}

// commitLocked is Commit. Precondition: n.mu is held.
func (n *File) commitLocked(d *Datagram, queued bool) {
	if queued {
		d.in = true
		return
	}
	// Taken (possibly before the call that queued it committed: it then
	// never enters the record).
	d.out = true
	for i, r := range n.rec {
		if r == d {
			n.rec = append(n.rec[:i:i], n.rec[i+1:]...)
			break
		}
	}
}

// Queued returns the unread datagrams as the calls whose replies were
// built left them (the replay record).
func (n *File) Queued() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][]byte
	for _, d := range n.rec {
		if d.in && !d.out {
			out = append(out, d.data)
		}
	}
	return out
}

// MaxRestored bounds the bytes of unread datagrams a restored socket
// takes: its answers' RcvBuf, and room for the kernel's cookies.
const MaxRestored = 2 * RcvBuf

// Restore gives a restored socket its unread datagrams (Queued's): EINVAL
// if they hold more than MaxRestored bytes.
func (n *File) Restore(queued [][]byte) error {
	total := 0
	for _, d := range queued {
		total += len(d)
	}
	if total > MaxRestored {
		return unix.EINVAL
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, data := range queued {
		d := &Datagram{data: data, in: true}
		n.queue = append(n.queue, d)
		n.rec = append(n.rec, d)
		n.queued += len(data)
	}
	if len(queued) > 0 {
		n.changed.Notify()
	}
	return nil
}

// Recv takes (or with MSG_PEEK reads) the next answer into dst, waiting
// for one unless non-blocking. It returns the bytes copied and the
// datagram's length.
func (n *File) Recv(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence, flags int) (int64, int64, error) {
	for {
		n.mu.Lock()
		if n.overrun && flags&unix.MSG_PEEK == 0 {
			n.overrun = false
			n.mu.Unlock()
			return 0, 0, unix.ENOBUFS
		}
		if len(n.queue) > 0 {
			dg := n.queue[0]
			d := dg.data
			if flags&unix.MSG_PEEK == 0 {
				n.queue = n.queue[1:]
				n.queued -= len(d)
				// Taken even if the copy faults, as on Linux.
				n.recordLocked(c, f, dg, false)
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

// ReadSeq is read(2): Recv with no flags.
func (n *File) ReadSeq(c fdesc.Call, f *fdesc.File, dst usermem.IOSequence) (int64, error) {
	got, _, err := n.Recv(c, f, dst, 0)
	return got, err
}

// WriteSeq is write(2): the request is src's bytes.
func (n *File) WriteSeq(c fdesc.Call, f *fdesc.File, src usermem.IOSequence) (int64, error) {
	b := make([]byte, src.NumBytes())
	if _, err := src.CopyIn(kobj.Ctx(), b); err != nil {
		return 0, unix.EFAULT
	}
	return n.Send(c, f, b)
}

// Readiness is always writable, readable while answers wait.
func (n *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := uint32(linux.POLLOUT | linux.POLLWRNORM)
	if len(n.queue) > 0 || n.overrun {
		ev |= linux.POLLIN | linux.POLLRDNORM
	}
	return ev, n.changed.Wait()
}
