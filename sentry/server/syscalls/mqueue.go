package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// POSIX message queues (package mqueue holds the queues): the calls of
// Linux's ipc/mqueue.c, their checks in its order. A queue descriptor is
// a description of kind mqueue.File; mq_timedsend and mq_timedreceive
// wait on the server, interruptibly (ERESTARTSYS, as Linux's wq_sleep).

// Sizes of the structures the calls read.
const (
	sizeofMqAttr   = 64 // struct mq_attr: four longs and four reserved
	sizeofTimespec = 16
	siMesgq        = -3 // SI_MESGQ, the si_code of a notification
)

// mqCaller is the calling process as the queues see it.
func mqCaller(c *kernel.Task) mqueue.Caller {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := c.Thread.Proc
	mc := mqueue.Caller{Pid: p.PID, Creds: p.Creds}
	if p.FS != nil {
		mc.Umask = p.FS.Umask
	}
	return mc
}

// mqFile returns fd's queue description: EBADF if fd is not one.
func mqFile(c *kernel.Task, fd int32) (*fdesc.File, *mqueue.File, error) {
	f, err := c.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	mf, ok := f.Impl.(*mqueue.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return f, mf, nil
}

// mqDeadline reads the absolute CLOCK_REALTIME timeout at addr (0: none).
func mqDeadline(c *kernel.Task, addr uint64) (time.Time, error) {
	if addr == 0 {
		return time.Time{}, nil
	}
	b, err := c.Mem.CopyIn(addr, sizeofTimespec)
	if err != nil {
		return time.Time{}, err
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return time.Time{}, unix.EINVAL
	}
	return time.Unix(sec, nsec), nil
}

// mqWait waits for w (until deadline, zero: none): ETIMEDOUT when it
// passes, ERESTARTSYS when interrupted.
func mqWait(c *kernel.Task, w *mqueue.Wait, deadline time.Time) error {
	defer w.Done()
	timeout, stop, past := deadlineTimer(deadline)
	if past {
		return unix.ETIMEDOUT
	}
	defer stop()
	return c.Block(w.Ch, timeout)
}

// MqOpen implements mq_open(2) (name is what glibc passes: without the
// leading '/').
func MqOpen(c *kernel.Task) (int64, error) {
	nameAddr, flags, mode, attrAddr := c.Args[0], ArgInt(c, 1), uint32(c.Args[2]), c.Args[3]
	o := mqueue.OpenOpts{Flags: flags, Mode: mode}
	if attrAddr != 0 {
		b, err := c.Mem.CopyIn(attrAddr, sizeofMqAttr)
		if err != nil {
			return 0, err
		}
		o.Attr = &mqueue.Attr{MaxMsg: int64(binary.LittleEndian.Uint64(b[8:])), MsgSize: int64(binary.LittleEndian.Uint64(b[16:]))}
	}
	name, err := c.Mem.CopyInString(nameAddr, sysabi.PathMax)
	if err != nil {
		return 0, err
	}
	o.Name = name
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	// Linux reserves the fd right after copying the name in, before
	// the lookup: an EMFILE mq_open(O_CREAT) makes no queue.
	if name != "" && !tab.HasFree() {
		return 0, unix.EMFILE
	}
	r := c.Kernel.MQ
	q, err := r.Open(mqCaller(c), o)
	if err != nil {
		return 0, err
	}
	// Linux's mq_open descriptors are always close-on-exec.
	fd, err := tab.Install(r.NewFile(q, flags), 0, true, c.CallSeq)
	return int64(fd), err
}

// openMqueue opens queue name through /dev/mqueue, and with O_CREAT
// makes it when missing: open(2) of an entry is mq_open(2) of its name
// without an mq_attr (a queue made there gets the default attributes, as
// Linux's mqueue_create), with open(2)'s flags (close-on-exec only with
// O_CLOEXEC, which the caller applies).
func openMqueue(c *kernel.Task, name string, flags, mode uint32) (*fdesc.File, error) {
	r := c.Kernel.MQ
	q, err := r.Open(mqCaller(c), mqueue.OpenOpts{Name: name, Flags: int32(flags), Mode: mode})
	if err != nil {
		return nil, err
	}
	return r.NewFile(q, int32(flags)), nil
}

// MqUnlink implements mq_unlink(2).
func MqUnlink(c *kernel.Task) (int64, error) {
	name, err := c.Mem.CopyInString(c.Args[0], sysabi.PathMax)
	if err != nil {
		return 0, err
	}
	return 0, c.Kernel.MQ.Unlink(mqCaller(c), name)
}

// MqTimedsend implements mq_timedsend(2).
func MqTimedsend(c *kernel.Task) (int64, error) {
	fd, addr, n, prio := ArgInt(c, 0), c.Args[1], c.Args[2], c.Args[3]
	deadline, err := mqDeadline(c, c.Args[4])
	if err != nil {
		return 0, err
	}
	if prio >= mqueue.PrioMax {
		return 0, unix.EINVAL
	}
	f, mf, err := mqFile(c, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Writable() {
		return 0, unix.EBADF
	}
	r, q := mf.Registry(), mf.Queue()
	if n > uint64(r.MsgSize(q)) {
		return 0, unix.EMSGSIZE
	}
	data, err := c.Mem.CopyIn(addr, int(n))
	if err != nil {
		return 0, err
	}
	for {
		w, fired, err := r.Send(q, c.CallSeq, data, uint32(prio), f.Nonblock())
		if err != nil {
			return 0, err
		}
		if w == nil {
			c.Effects().Mqueue = true
			if fired != nil {
				mqNotify(c, fired)
			}
			return 0, nil
		}
		if err := mqWait(c, w, deadline); err != nil {
			return 0, err
		}
	}
}

// mqNotify fires registration n, from the sender: SIGEV_THREAD's cookie
// goes to its socket, SIGEV_SIGNAL's signal (if any) to its process.
func mqNotify(c *kernel.Task, n *mqueue.Notification) {
	n.Deliver(c, mqueue.NotifyWokenUp)
	if n.Notify != mqueue.SigevSignal || n.Signo == 0 {
		return
	}
	k := c.Kernel
	var d kernel.Deferred
	k.Mu.Lock()
	if p := k.Procs[n.Pid]; p != nil && !p.Exiting {
		self := c.Thread.Proc
		info := ksignal.SiginfoKill(int(n.Signo), siMesgq, self.PID, self.Creds.RUID)
		binary.LittleEndian.PutUint64(info[24:], n.Value)
		k.SignalFromAppLocked(p, nil, int(n.Signo), info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// MqTimedreceive implements mq_timedreceive(2).
func MqTimedreceive(c *kernel.Task) (int64, error) {
	fd, addr, n, prioAddr := ArgInt(c, 0), c.Args[1], c.Args[2], c.Args[3]
	deadline, err := mqDeadline(c, c.Args[4])
	if err != nil {
		return 0, err
	}
	f, mf, err := mqFile(c, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Readable() {
		return 0, unix.EBADF
	}
	r, q := mf.Registry(), mf.Queue()
	if n < uint64(r.MsgSize(q)) {
		return 0, unix.EMSGSIZE
	}
	for {
		data, prio, w, err := r.Receive(q, c.CallSeq, f.Nonblock())
		if err != nil {
			return 0, err
		}
		if w != nil {
			if err := mqWait(c, w, deadline); err != nil {
				return 0, err
			}
			continue
		}
		// Taken: the message is gone even if the copy faults, as on
		// Linux.
		c.Effects().Mqueue = true
		if err := c.Mem.CopyOut(addr, data); err != nil {
			return 0, err
		}
		if prioAddr != 0 {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], prio)
			if err := c.Mem.CopyOut(prioAddr, b[:]); err != nil {
				return 0, err
			}
		}
		return int64(len(data)), nil
	}
}

// MqNotify implements mq_notify(2). SIGEV_THREAD is glibc's: a netlink
// socket (sigev_signo its fd) gets the 32-byte cookie at sigev_value
// when the registration fires or is removed; as Linux's do_mq_notify,
// the cookie and the socket are checked before the queue's fd.
func MqNotify(c *kernel.Task) (int64, error) {
	fd, sevAddr := ArgInt(c, 0), c.Args[1]
	var n *mqueue.Notification
	if sevAddr != 0 {
		b, err := c.Mem.CopyIn(sevAddr, sizeofSigevent)
		if err != nil {
			return 0, err
		}
		n = &mqueue.Notification{
			Value:  binary.LittleEndian.Uint64(b[0:]),
			Signo:  int32(binary.LittleEndian.Uint32(b[8:])),
			Notify: int32(binary.LittleEndian.Uint32(b[12:])),
		}
		switch n.Notify {
		case mqueue.SigevNone, mqueue.SigevSignal, mqueue.SigevThread:
		default:
			return 0, unix.EINVAL
		}
		if n.Notify == mqueue.SigevSignal && (n.Signo < 0 || n.Signo > ksignal.NumSignals) {
			return 0, unix.EINVAL
		}
		if n.Notify == mqueue.SigevThread {
			sock, cookie, err := mqCookieSocket(c, n.Signo, n.Value)
			if err != nil {
				return 0, err
			}
			n.Sock, n.Cookie = sock, cookie
		}
	}
	f, mf, err := mqFile(c, fd)
	if err != nil {
		if n != nil && n.Sock != nil {
			n.Sock.DecRef()
		}
		return 0, err
	}
	defer f.DecRef()
	removed, err := mf.Registry().SetNotify(mf.Queue(), c.PID(), n)
	if err != nil && n != nil && n.Sock != nil {
		n.Sock.DecRef()
	}
	if removed != nil {
		removed.Deliver(nil, mqueue.NotifyRemoved)
	}
	return 0, err
}

// mqCookieSocket is SIGEV_THREAD's checks in do_mq_notify's order: the
// cookie at addr (EFAULT), the socket at fd (EBADF), a socket (ENOTSOCK)
// of AF_NETLINK (EINVAL, netlink_getsockbyfilp). It returns the socket
// referenced.
func mqCookieSocket(c *kernel.Task, fd int32, addr uint64) (*fdesc.File, []byte, error) {
	cookie, err := c.Mem.CopyIn(addr, mqueue.CookieLen)
	if err != nil {
		return nil, nil, err
	}
	sock, err := c.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	switch sock.Impl.(type) {
	case *netlink.File:
		return sock, cookie, nil
	case *unixsock.File, *inet.File, *inet.HostFile:
		err = unix.EINVAL
	default:
		err = unix.ENOTSOCK
	}
	sock.DecRef()
	return nil, nil, err
}

// MqGetsetattr implements mq_getsetattr(2): only mq_flags' O_NONBLOCK
// may be set (on the description).
func MqGetsetattr(c *kernel.Task) (int64, error) {
	fd, newAddr, oldAddr := ArgInt(c, 0), c.Args[1], c.Args[2]
	var newFlags int64
	if newAddr != 0 {
		b, err := c.Mem.CopyIn(newAddr, sizeofMqAttr)
		if err != nil {
			return 0, err
		}
		newFlags = int64(binary.LittleEndian.Uint64(b))
		if newFlags&^unix.O_NONBLOCK != 0 {
			return 0, unix.EINVAL
		}
	}
	f, mf, err := mqFile(c, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	a := mf.Registry().Attr(mf.Queue())
	a.Flags = int64(f.Flags.Load() & unix.O_NONBLOCK)
	if newAddr != 0 {
		for {
			old := f.Flags.Load()
			if f.Flags.CompareAndSwap(old, old&^unix.O_NONBLOCK|uint32(newFlags)) {
				break
			}
		}
		f.Changed()
	}
	if oldAddr == 0 {
		return 0, nil
	}
	b := make([]byte, sizeofMqAttr)
	binary.LittleEndian.PutUint64(b[0:], uint64(a.Flags))
	binary.LittleEndian.PutUint64(b[8:], uint64(a.MaxMsg))
	binary.LittleEndian.PutUint64(b[16:], uint64(a.MsgSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(a.CurMsgs))
	return 0, c.Mem.CopyOut(oldAddr, b)
}
