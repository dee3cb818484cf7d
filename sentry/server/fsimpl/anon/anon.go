package anon

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// Dev is the device number of anonymous-inode files.
const Dev = 0x0d

// nextIno numbers anonymous inodes, for all clients of the server,
// from firstIno on.
var nextIno atomic.Uint64

// firstIno is the first anonymous inode number: Linux's get_next_ino
// has handed out thousands by the time a program runs, and tools take
// that for granted (net-tools' netstat -p skips a "socket:[N]" link of
// fewer than two digits, so it named no program for the sandbox's first
// sockets).
const firstIno = 10000

func init() { nextIno.Store(firstIno - 1) }

// Base is what every anonymous-inode file kind shares: a stream (lseek
// and pread fail with ESPIPE), no byte-slice reads, an anonymous-inode
// stat. Its fields are immutable.
type Base struct {
	fdesc.FileBase
	ino  uint64
	mode uint32
}

// NewBase returns the base of a new anonymous inode with mode (type and
// permission bits).
func NewBase(mode uint32) Base {
	return Base{ino: nextIno.Add(1), mode: mode}
}

// Ino returns the inode number.
func (b *Base) Ino() uint64 { return b.ino }

// Stream is true: no offset.
func (Base) Stream() bool { return true }

// Read is EINVAL: the kinds read through fdesc.SeqFile.
func (Base) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error) { return nil, unix.EINVAL }

// Stat returns the anonymous inode's attributes, its times now.
func (b *Base) Stat(fdesc.Call) (*goferpb.Stat, error) {
	now := time.Now().UnixNano()
	return &goferpb.Stat{Mode: b.mode, Nlink: 1, Ino: b.ino, Dev: Dev, Blksize: 4096,
		AtimeNs: now, MtimeNs: now, CtimeNs: now}, nil
}

// BlockOn runs try until it does not fail with EAGAIN, waiting in call c
// for w's notifications in between; with f's O_NONBLOCK (or nonblock) it
// returns the EAGAIN. A wait is interruptible (ERESTARTSYS).
func BlockOn(c fdesc.Call, f *fdesc.File, w *kobj.Watch, nonblock bool, try func() (int64, error)) (int64, error) {
	return BlockOnUntil(c, f, w, nonblock, time.Time{}, try)
}

// BlockOnUntil is BlockOn with a deadline (zero: none) after which the
// EAGAIN is returned (SO_RCVTIMEO, SO_SNDTIMEO).
func BlockOnUntil(c fdesc.Call, f *fdesc.File, w *kobj.Watch, nonblock bool, deadline time.Time, try func() (int64, error)) (int64, error) {
	for {
		ch := w.Changed()
		n, err := try()
		if err == nil || !kobj.WouldBlock(err) {
			return n, kobj.Errno(err)
		}
		if nonblock || f.Nonblock() {
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

// SendAll is a socket's send loop: send (one try, returning what it took
// of src) runs as BlockOnUntil's try until a stream's src is all sent (a
// datagram's is one try), unless non-blocking (MSG_DONTWAIT or the
// description's), up to deadline (SO_SNDTIMEO). EPIPE raises SIGPIPE
// unless MSG_NOSIGNAL; part sent before another error (it would block,
// was interrupted or timed out) is a short count.
func SendAll(c fdesc.Call, f *fdesc.File, w *kobj.Watch, stream bool, deadline time.Time, src usermem.IOSequence, flags int,
	send func(src usermem.IOSequence) (int64, error)) (int64, error) {
	var total int64
	first := true
	n, err := BlockOnUntil(c, f, w, flags&unix.MSG_DONTWAIT != 0, deadline, func() (int64, error) {
		if !first && src.NumBytes() == 0 {
			return total, nil
		}
		first = false
		n, err := send(src)
		total += n
		src = src.DropFirst64(n)
		if err == nil && stream && src.NumBytes() > 0 {
			return total, unix.EAGAIN
		}
		return total, err
	})
	if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
		c.RaiseSIGPIPE()
	}
	if n > 0 && err != nil && err != unix.EPIPE {
		return n, nil
	}
	return n, err
}
