package kernel

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

const (
	PipeCapacity = pipe.DefaultCapacity
	pipeBuf      = pipe.AtomicIOBytes // PIPE_BUF: writes up to this size are atomic
)

// Pipe is the server's pipe (package pipe): its FIFO node is a dentry.
type Pipe = pipe.Pipe[*vfs.Dentry]

// MaxPipeSize bounds F_SETPIPE_SZ even for root (Linux allows root up
// to 2 GiB; the server holds the buffers of all its clients).
const MaxPipeSize = 16 << 20

// PipeEnd is one end of a pipe, backing one open file description: it
// reads, writes, or (a FIFO opened O_RDWR) both. Immutable.
type PipeEnd struct {
	P             *Pipe
	Reads, Writes bool
}

// NewPipe makes a pipe(2), charged to acct (ENOMEM beyond its limit).
func NewPipe(trk *Tracker, acct *memacct.Account) (r, w *fdesc.File, err error) {
	p, err := pipe.New(acct, trk.TouchPipe)
	if err != nil {
		return nil, nil, err
	}
	r = vfs.NewFile(&PipeEnd{P: p, Reads: true}, nil, unix.O_RDONLY)
	w = vfs.NewFile(&PipeEnd{P: p, Writes: true}, nil, unix.O_WRONLY)
	return r, w, nil
}

// Reopen returns another description of the same end (open of
// /proc/<pid>/fd/N).
func (e *PipeEnd) Reopen() fdesc.FileImpl {
	e.P.Lock()
	defer e.P.Unlock()
	e.P.AddEndLocked(e.Reads, e.Writes)
	return &PipeEnd{P: e.P, Reads: e.Reads, Writes: e.Writes}
}

// RecordPipeRead and RecordPipeWrite note pipe I/O of call c, committed with its
// reply. Precondition: p's mu is held (for the write's position).
func (c *Task) RecordPipeRead(p *Pipe, n int) {
	if c != nil && n > 0 {
		c.Effects().PipeReads = append(c.Effects().PipeReads, PipeIO{Pipe: p, N: uint64(n)})
	}
}

// data are the bytes written; they are kept only when the call did not
// carry them (dataNotInCall).
func (c *Task) RecordPipeWrite(p *Pipe, f *fdesc.File, off uint64, data []byte) {
	n := len(data)
	if c == nil || n <= 0 {
		return
	}
	if !c.DataNotInCall {
		data = nil
	}
	e := c.Effects()
	if l := len(e.PipeWrites); l > 0 && e.PipeWrites[l-1].Pipe == p {
		e.PipeWrites[l-1].N += uint64(n)
		e.PipeWrites[l-1].Data = append(e.PipeWrites[l-1].Data, data...)
		return
	}
	e.PipeWrites = append(e.PipeWrites, PipeIO{Pipe: p, File: f, Off: off, N: uint64(n), Data: append([]byte(nil), data...)})
}

func (e *PipeEnd) Stream() bool { return true }

// PipeSize serves F_GETPIPE_SZ and F_SETPIPE_SZ (arg: the size asked for)
// as Linux's pipe_fcntl does: the size is rounded up to a power-of-two
// number of pages; above fs/pipe-max-size only root may go (EPERM), and
// never below the bytes the pipe holds (EBUSY). Root is held to
// MaxPipeSize, since the server keeps every client's buffers.
func (c *Task) PipeSize(e *PipeEnd, set bool, arg uint64) (int64, error) {
	if !set {
		return int64(e.P.Capacity()), nil
	}
	size, ok := RoundPipeSize(int64(uint32(arg)))
	if !ok {
		return 0, unix.EINVAL
	}
	if size > c.Kernel.Sysctl.PipeMaxSize() && !c.ProcessCreds().Capable(linux.CAP_SYS_RESOURCE) {
		return 0, unix.EPERM
	}
	if size > MaxPipeSize {
		return 0, unix.EPERM
	}
	if err := e.P.SetCapacity(size); err != nil {
		return 0, err
	}
	return int64(size), nil
}

func (e *PipeEnd) Release() { e.P.ReleaseEnd(e.Reads, e.Writes) }

func (e *PipeEnd) Stat(c fdesc.Call) (*goferpb.Stat, error) {
	if d := e.P.FIFO(); d != nil && c != nil {
		return d.VFS().StatDentry(c, d)
	}
	now := time.Now().UnixNano()
	n := e.P.Len()
	return &goferpb.Stat{Mode: unix.S_IFIFO | 0600, Nlink: 1, Ino: e.P.Ino(), Dev: pipeDev, Size: uint64(n),
		Blksize: 4096, AtimeNs: now, MtimeNs: now, CtimeNs: now}, nil
}

// Available returns how many bytes can be read now (FIONREAD).
func (e *PipeEnd) Available() int { return e.P.Len() }

func (e *PipeEnd) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	if !e.Reads {
		return nil, unix.EBADF
	}
	if n == 0 {
		return nil, nil
	}
	p := e.P
	for {
		p.Lock()
		if p.LenLocked() > 0 {
			out := p.PeekLocked(n)
			p.ConsumeLocked(len(out))
			TaskFromCall(c).RecordPipeRead(p, len(out))
			p.Unlock()
			return out, nil
		}
		if p.WritersLocked() == 0 {
			p.Unlock()
			return nil, nil
		}
		if f.Nonblock() {
			p.Unlock()
			return nil, unix.EAGAIN
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			return nil, err
		}
	}
}

// write appends b. Writes of at most pipeBuf bytes are atomic; larger ones
// may be split and block until all is written. With no readers it fails
// with EPIPE and the caller gets SIGPIPE.
func (e *PipeEnd) Write(c fdesc.Call, f *fdesc.File, b []byte, _ int64) (int, error) {
	if !e.Writes {
		return 0, unix.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	p := e.P
	if t := TaskFromCall(c); t != nil && t.Posted {
		if n, done, err := e.writePosted(t, f, b); done {
			return n, err
		}
	}
	written := 0
	for {
		p.Lock()
		if p.ReadersLocked() == 0 {
			p.Unlock()
			c.RaiseSIGPIPE()
			return 0, unix.EPIPE
		}
		m, pos := p.PushLocked(b[written:], len(b) <= pipeBuf)
		TaskFromCall(c).RecordPipeWrite(p, f, pos, b[written:written+m])
		written += m
		if written == len(b) {
			p.Unlock()
			return written, nil
		}
		if f.Nonblock() {
			p.Unlock()
			if written > 0 {
				return written, nil
			}
			return 0, unix.EAGAIN
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			if written > 0 {
				return written, nil
			}
			return 0, err
		}
	}
}

// writePosted is a posted write of b (sentry/client/pipebehind.go): the
// application was told it wrote all of b, within the room the pipe
// granted (PostedRoom). It appends b whole without blocking
// (pipe.PushPostedLocked). With no reader left it fails with EPIPE but
// raises no SIGPIPE: the reader went after the application was told the
// write succeeded, as if it had closed just after the write (whose bytes
// its close drops); the description's next write waits and meets EPIPE
// and SIGPIPE itself. done is false when b is more than the pipe takes
// past its size: a client that posted beyond its room; the write then
// blocks as a waited one.
func (e *PipeEnd) writePosted(c *Task, f *fdesc.File, b []byte) (n int, done bool, err error) {
	p := e.P
	p.Lock()
	defer p.Unlock()
	if p.ReadersLocked() == 0 {
		return 0, true, unix.EPIPE
	}
	pos, ok := p.PushPostedLocked(b)
	if !ok {
		return 0, false, nil
	}
	c.RecordPipeWrite(p, f, pos, b)
	return len(b), true, nil
}

// PostedRoom is the room end e grants its writer for posted writes
// (Reply.pipe_room; pipe.PostedRoomLocked): 0 for an end that also reads
// (a FIFO opened O_RDWR) or does not write.
func (e *PipeEnd) PostedRoom() uint64 {
	if !e.Writes || e.Reads {
		return 0
	}
	e.P.Lock()
	defer e.P.Unlock()
	return uint64(e.P.PostedRoomLocked())
}

// MaxPipeAhead bounds the copy of a pipe's bytes a read's reply brings
// ahead (Reply.pipe_ahead): the default pipe size.
const MaxPipeAhead = pipe.DefaultCapacity

// Ahead returns a copy of up to limit of the bytes the pipe holds, left in
// it (Reply.pipe_ahead; sentry/client/pipebehind.go), when e is the only
// read description of a pipe(2) and does not write: only e's reads,
// which the client answers from the copy, then take them out. nil
// otherwise (a FIFO, which any open may read too). partial says the pipe
// holds more than the copy (Reply.pipe_ahead_partial).
func (e *PipeEnd) Ahead(limit int) (copied []byte, partial bool) {
	if !e.Reads || e.Writes || e.P.FIFO() != nil || limit <= 0 {
		return nil, false
	}
	p := e.P
	p.Lock()
	defer p.Unlock()
	if p.ReadersLocked() != 1 || p.LenLocked() == 0 {
		return nil, false
	}
	return p.PeekLocked(limit), p.LenLocked() > limit
}

// ConsumeAhead takes n bytes out of the pipe for a posted read
// (Syscall.pipe_consumed) the client answered from a copy Ahead gave it:
// they are at the pipe's front, since only e reads. On a live server they
// are all there. After a Restore they may not be yet: the copy had bytes
// of a write whose reply the dead server never sent, which come again
// only with that write, re-sent on its own thread and possibly after this
// call (both were sent before the Restore). Taking fewer would leave them
// for the next read to return twice, so it takes them as they come, and
// waits for the rest while the pipe has a writer. The write they wait for
// was sent before this call (the copy held its bytes when this call was
// made), so no call this one holds back brings them. It returns how many
// it took (fewer only when no writer is left or the wait is interrupted).
func (e *PipeEnd) ConsumeAhead(c fdesc.Call, n int) (int, error) {
	if !e.Reads {
		return 0, unix.EBADF
	}
	p := e.P
	taken := 0
	for {
		p.Lock()
		m := p.ConsumeLocked(n - taken)
		TaskFromCall(c).RecordPipeRead(p, m)
		taken += m
		if taken == n || p.WritersLocked() == 0 {
			p.Unlock()
			return taken, nil
		}
		ch := p.ChangedLocked()
		p.Unlock()
		if err := c.Block(ch, nil); err != nil {
			return taken, nil
		}
	}
}

func (e *PipeEnd) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	p := e.P
	p.Lock()
	defer p.Unlock()
	hasData, hasSpace, noReader, hungUp, ch := p.ReadyLocked(e.Reads, e.Writes)
	var ev uint32
	if e.Writes {
		if noReader {
			ev |= linux.POLLERR
		} else if hasSpace {
			ev |= linux.POLLOUT | linux.POLLWRNORM
		}
	}
	if e.Reads {
		if hasData {
			ev |= linux.POLLIN | linux.POLLRDNORM
		}
		if hungUp {
			ev |= linux.POLLHUP
		}
	}
	return ev, ch
}
