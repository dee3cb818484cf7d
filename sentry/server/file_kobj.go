package server

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Files backed by gVisor kernel objects (sentry/server/kobj): their I/O
// goes through a usermem.IOSequence over the call's memory (seqFile), and
// their blocking waits on the object's waiter.Queue through a kobj.Watch.

// anonDev is the device number of anonymous-inode files (eventfd, epoll,
// sockets).
const anonDev = 0x0d

var anonIno atomic.Uint64

// seqFile is a file whose reads and writes take an IOSequence over the
// application's buffers instead of a byte slice.
type seqFile interface {
	readSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error)
	writeSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error)
}

// seqIO runs read(v)/write(v) of f, a seqFile, on the buffers iov.
func (c *syscallCtx) seqIO(f *file, sf seqFile, write bool, iov []sysabi.Iovec, off int64) (int64, error) {
	if off >= 0 {
		return 0, unix.ESPIPE
	}
	if (write && !f.writable()) || (!write && !f.readable()) {
		return 0, unix.EBADF
	}
	seq, err := kobj.Sequence(c.mem, iov)
	if err != nil {
		return 0, err
	}
	if write {
		return sf.writeSeq(c, f, seq)
	}
	return sf.readSeq(c, f, seq)
}

// blockOn runs try until it does not fail with EAGAIN, waiting for w's
// notifications in between; with O_NONBLOCK (or nonblock) it returns the
// EAGAIN. A wait is interruptible (ERESTARTSYS).
func blockOn(c fdesc.Call, f *file, w *kobj.Watch, nonblock bool, try func() (int64, error)) (int64, error) {
	return blockOnUntil(c, f, w, nonblock, time.Time{}, try)
}

// blockOnUntil is blockOn with a deadline (zero: none) after which the
// EAGAIN is returned (SO_RCVTIMEO, SO_SNDTIMEO).
func blockOnUntil(c fdesc.Call, f *file, w *kobj.Watch, nonblock bool, deadline time.Time, try func() (int64, error)) (int64, error) {
	for {
		ch := w.Changed()
		n, err := try()
		if err == nil || !kobj.WouldBlock(err) {
			return n, kobj.Errno(err)
		}
		if nonblock || f.nonblock() {
			return n, unix.EAGAIN
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return n, unix.EAGAIN
			}
			tm := time.NewTimer(d)
			timeout = tm.C
			defer tm.Stop()
		}
		if err := c.Block(ch, timeout); err != nil {
			if err == unix.ETIMEDOUT {
				return n, unix.EAGAIN
			}
			return n, err
		}
	}
}

// kobjBase is what every kernel-object file shares: a stream (lseek and
// pread fail with ESPIPE), no byte-slice I/O, an anonymous-inode stat.
type kobjBase struct {
	fileBase
	ino  uint64
	mode uint32
}

func newKobjBase(mode uint32) kobjBase {
	return kobjBase{ino: anonIno.Add(1), mode: mode}
}

func (kobjBase) stream() bool { return true }

func (kobjBase) read(fdesc.Call, *file, int, int64) ([]byte, error) { return nil, unix.EINVAL }

func (b *kobjBase) stat(fdesc.Call) (*goferpb.Stat, error) {
	now := time.Now().UnixNano()
	return &goferpb.Stat{Mode: b.mode, Nlink: 1, Ino: b.ino, Dev: anonDev, Blksize: 4096,
		AtimeNs: now, MtimeNs: now, CtimeNs: now}, nil
}

// eventFile is an eventfd (kobj.Eventfd over gVisor's fsimpl/eventfd).
type eventFile struct {
	kobjBase
	e *kobj.Eventfd
}

// read and write serve callers that have bytes rather than application
// buffers (none of the I/O calls: they use readSeq and writeSeq).
func (e *eventFile) read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := e.readSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (e *eventFile) write(c fdesc.Call, f *file, b []byte, _ int64) (int, error) {
	n, err := e.writeSeq(c, f, usermem.BytesIOSequence(b))
	return int(n), err
}

func (e *eventFile) readSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	if dst.NumBytes() < 8 {
		return 0, unix.EINVAL
	}
	n, err := blockOn(c, f, e.e.Watch, false, func() (int64, error) { return e.e.Read(dst) })
	if err == nil {
		f.changed()
	}
	return n, err
}

func (e *eventFile) writeSeq(c fdesc.Call, f *file, src usermem.IOSequence) (int64, error) {
	n, err := blockOn(c, f, e.e.Watch, false, func() (int64, error) { return e.e.Write(src) })
	if err == nil {
		f.changed()
	}
	return n, err
}

func (e *eventFile) readiness(*file) (uint32, <-chan struct{}) {
	ch := e.e.Watch.Changed()
	return e.e.Readiness(), ch
}

func (e *eventFile) release() { e.e.Release() }

func newEventFile(init uint64, sem bool, flags uint32) (*file, error) {
	ev, err := kobj.NewEventfd(init, sem)
	if err != nil {
		return nil, err
	}
	return newFile(&eventFile{kobjBase: newKobjBase(0600), e: ev}, nil, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// sysEventfd is eventfd(initval) and eventfd2(initval, flags).
func sysEventfd(c *syscallCtx) (int64, error) {
	var flags uint32
	if c.sysno == unix.SYS_EVENTFD2 {
		flags = uint32(c.args[1])
	}
	if flags&^(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE) != 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.fdTable()
	if err != nil {
		return 0, err
	}
	f, err := newEventFile(uint64(uint32(c.args[0])), flags&unix.EFD_SEMAPHORE != 0, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.install(f, 0, flags&unix.EFD_CLOEXEC != 0)
	return int64(fd), err
}
