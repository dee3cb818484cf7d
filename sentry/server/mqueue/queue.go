package mqueue

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// sigev_notify values (struct sigevent).
const (
	SigevSignal = 0
	SigevNone   = 1
	SigevThread = 2
)

// message is one queued message.
type message struct {
	prio uint32
	data []byte
}

// cost is what m holds of the client's memory.
func (m *message) cost() int64 { return int64(len(m.data)) + msgOverhead }

// Notification is a queue's mq_notify registration.
type Notification struct {
	// Pid is the registering process (notify_owner).
	Pid int32
	// Notify is sigev_notify (SigevSignal, SigevNone or SigevThread);
	// Signo and Value sigev_signo and sigev_value (SigevSignal's, Signo
	// 0: no signal).
	Notify int32
	Signo  int32
	Value  uint64
	// Sock and Cookie are SigevThread's: the netlink socket the cookie
	// goes to when the registration fires or is removed (its Impl a
	// CookieSocket; a reference the registration holds, as Linux's
	// notify_sock keeps the socket alive after its fd is closed), and the
	// CookieLen bytes mq_notify copied in. sockID is a restored
	// registration's socket's description id until LinkSockets finds it
	// (Sock nil until then). Immutable once registered.
	Sock   *fdesc.File
	Cookie []byte
	sockID uint64
}

// SIGEV_THREAD's cookie (include/uapi/linux/mqueue.h): its length, and
// what its last byte says when it is sent.
const (
	CookieLen      = 32
	NotifyWokenUp  = 1
	NotifyRemoved  = 2
	cookieStateOff = CookieLen - 1
)

// CookieSocket is what a SigevThread registration's socket is: the kernel
// queues the cookie on it as a datagram (package fsimpl/netlink's File,
// which this package does not import).
type CookieSocket interface {
	// QueueKernel queues data on description f, an effect of call c
	// (nil: none).
	QueueKernel(c fdesc.Call, f *fdesc.File, data []byte)
}

// Deliver ends registration n: a SigevThread one sends its cookie with
// its last byte set to how (NotifyWokenUp when fired, NotifyRemoved when
// removed: Linux's __do_notify and remove_notification) and drops its
// reference to the socket. Other kinds have nothing to send (the caller
// raises SigevSignal's signal). c is the call the cookie is an effect of:
// the send that fired it, whose reply commits it with the queue's record
// (Send leaves the registration in it until then), or nil for a removal,
// which the queue's record shows at once. It must be called once, without
// the registry's lock (the socket's last reference may go).
func (n *Notification) Deliver(c fdesc.Call, how byte) {
	if n.Notify != SigevThread || n.Sock == nil {
		return
	}
	b := append([]byte(nil), n.Cookie...)
	b[cookieStateOff] = how
	if cs, ok := n.Sock.Impl.(CookieSocket); ok {
		cs.QueueKernel(c, n.Sock, b)
	}
	n.Sock.DecRef()
}

// drop releases registration n without sending anything (its queue went).
// Called without the registry's lock.
func (n *Notification) drop() {
	if n != nil && n.Sock != nil {
		n.Sock.DecRef()
	}
}

// Queue is a message queue. Every field is protected by Registry.mu;
// id, maxMsg and msgSize are immutable.
type Queue struct {
	id uint64
	// name is the queue's name ("" once unlinked); uid, gid and mode
	// its inode's owner and permission bits.
	name     string
	uid, gid uint32
	mode     uint32
	// maxMsg and msgSize are mq_attr's mq_maxmsg and mq_msgsize.
	maxMsg, msgSize int64
	// msgs are the queued messages, highest priority first, FIFO within
	// a priority; bytes their total size (QSIZE).
	msgs  []*message
	bytes int64
	// notify is the registration (nil: none).
	notify *Notification
	// opens counts the open descriptions.
	opens int
	// receivers counts the receivers blocked on the empty queue: a
	// message that arrives while one waits goes to it and fires no
	// notification, as Linux's pipelined_send.
	receivers int
	// gone says the queue was removed (unlinked and closed).
	gone bool
	// changed is closed on every change of msgs (and when gone).
	changed notifier
}

// ID returns q's id (its record's key).
func (q *Queue) ID() uint64 { return q.id }

// attrs are q's inode attributes for permission checks.
func (q *Queue) attrs() auth.FileAttrs {
	return auth.FileAttrs{Mode: unix.S_IFREG | q.mode, UID: q.uid, GID: q.gid}
}

// insertLocked queues m after the messages of its priority and above.
func (q *Queue) insertLocked(m *message) int {
	i := 0
	for i < len(q.msgs) && q.msgs[i].prio >= m.prio {
		i++
	}
	q.msgs = append(q.msgs, nil)
	copy(q.msgs[i+1:], q.msgs[i:])
	q.msgs[i] = m
	q.bytes += int64(len(m.data))
	return i
}

// Wait is what a send or receive that must wait returns: Ch is closed
// when the queue changes; Done must be called after the wait (it
// undoes what waiting registered).
type Wait struct {
	Ch   <-chan struct{}
	Done func()
}

// MsgSize returns q's mq_msgsize, which bounds a send's and a receive's
// length.
func (r *Registry) MsgSize(q *Queue) int64 { return q.msgSize }

// Send is mq_timedsend(2) after its checks of the description (see
// File): it queues data with priority prio, or returns a Wait if q is
// full (with nonblock, EAGAIN). A send that makes an empty queue
// non-empty with no receiver waiting fires the registration, which it
// removes and returns for the caller to raise. seq is the call's (0: not
// one), whose effect stays pending until Commit.
func (r *Registry) Send(q *Queue, seq uint64, data []byte, prio uint32, nonblock bool) (*Wait, *Notification, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q.gone {
		return nil, nil, unix.EBADF
	}
	if int64(len(q.msgs)) >= q.maxMsg {
		if nonblock {
			return nil, nil, unix.EAGAIN
		}
		return &Wait{Ch: q.changed.wait(), Done: func() {}}, nil, nil
	}
	m := &message{prio: prio}
	if mem := r.hooks.Memory; mem != nil {
		if err := mem.Charge(int64(len(data)) + msgOverhead); err != nil {
			return nil, nil, unix.ENOMEM
		}
	}
	m.data = append([]byte(nil), data...)
	q.insertLocked(m)
	var fired *Notification
	if len(q.msgs) == 1 && q.receivers == 0 && q.notify != nil {
		fired, q.notify = q.notify, nil
	}
	q.changed.notify()
	r.addPendingLocked(seq, &effect{q: q, sent: m, fired: fired})
	r.changedLocked(q)
	return nil, fired, nil
}

// Receive is mq_timedreceive(2) after its checks of the description: it
// takes the first message (highest priority, oldest), or returns a Wait
// if q is empty (with nonblock, EAGAIN).
func (r *Registry) Receive(q *Queue, seq uint64, nonblock bool) ([]byte, uint32, *Wait, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q.gone {
		return nil, 0, nil, unix.EBADF
	}
	if len(q.msgs) == 0 {
		if nonblock {
			return nil, 0, nil, unix.EAGAIN
		}
		q.receivers++
		return nil, 0, &Wait{Ch: q.changed.wait(), Done: func() {
			r.mu.Lock()
			q.receivers--
			r.mu.Unlock()
		}}, nil
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	q.bytes -= int64(len(m.data))
	if mem := r.hooks.Memory; mem != nil {
		mem.Release(m.cost())
	}
	q.changed.notify()
	r.addPendingLocked(seq, &effect{q: q, received: m})
	r.changedLocked(q)
	return m.data, m.prio, nil, nil
}

// SetNotify is mq_notify(2) on q by process pid: n nil removes pid's
// registration (none, or another's: nothing happens) and returns it,
// which the caller Delivers (NotifyRemoved); else EBUSY if q has one, or
// n is registered (a SigevThread one taking over the caller's reference
// to n.Sock, which stays the caller's on an error).
func (r *Registry) SetNotify(q *Queue, pid int32, n *Notification) (*Notification, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n == nil {
		if q.notify != nil && q.notify.Pid == pid {
			removed := q.notify
			q.notify = nil
			r.changedLocked(q)
			return removed, nil
		}
		return nil, nil
	}
	if q.notify != nil {
		return nil, unix.EBUSY
	}
	nn := *n
	nn.Pid = pid
	q.notify = &nn
	r.changedLocked(q)
	return nil, nil
}

// DropNotify removes pid's registration on q, as closing a description
// of it in pid does (mqueue_flush_file): a SigevThread one sends its
// cookie (NotifyRemoved).
func (r *Registry) DropNotify(q *Queue, pid int32) {
	if removed, _ := r.SetNotify(q, pid, nil); removed != nil {
		removed.Deliver(nil, NotifyRemoved)
	}
}

// Attr returns q's mq_attr (mq_flags is the description's, not here).
func (r *Registry) Attr(q *Queue) Attr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Attr{MaxMsg: q.maxMsg, MsgSize: q.msgSize, CurMsgs: int64(len(q.msgs))}
}

// Readiness is q's poll mask (POLLIN when not empty, POLLOUT when not
// full) and a channel closed when it may change.
func (r *Registry) Readiness(q *Queue) (uint32, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var mask uint32
	if len(q.msgs) > 0 {
		mask |= linux.POLLIN | linux.POLLRDNORM
	}
	if int64(len(q.msgs)) < q.maxMsg {
		mask |= linux.POLLOUT | linux.POLLWRNORM
	}
	return mask, q.changed.wait()
}

// Info is what read(2) of a queue description returns (Linux's
// mqueue_read_file).
func (r *Registry) Info(q *Queue) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var notify, signo, pid int32
	if n := q.notify; n != nil {
		notify, pid = n.Notify, n.Pid
		if n.Notify == SigevSignal {
			signo = n.Signo
		}
	}
	return fmt.Appendf(nil, "QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", q.bytes, notify, signo, pid)
}
