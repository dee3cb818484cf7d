package server

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

const (
	pipeCapacity = 64 << 10
	pipeBuf      = 4096 // PIPE_BUF: writes up to this size are atomic
)

var pipeIno atomic.Uint64

// pipe is an in-memory pipe shared by its read and write ends: made by
// pipe(2), or by the opens of a FIFO (fifo.go).
type pipe struct {
	ino uint64 // immutable
	// fifo is the FIFO's dentry and fifos the table that holds the pipe
	// while it is open; both nil for pipe(2). Immutable.
	fifo  *dentry
	fifos *fifoTable

	// mu protects the fields below. It nests inside clientState.mu.
	mu sync.Mutex
	// buf holds unread data, at most capacityLocked() bytes.
	buf []byte
	// capacity is the pipe's size, set by pipe(2) and F_SETPIPE_SZ (0:
	// pipeCapacity). Protected by mu.
	capacity int
	// readers and writers count open read and write descriptions;
	// ropens and wopens count the opens of each end ever made (a FIFO
	// open waiting for its partner wakes when they change).
	readers, writers int
	ropens, wopens   uint64
	// changed is notified when data, space, or the end counts change.
	changed wake.Notifier
	// readWake is notified when the read end may have become ready (a
	// write, an end opened or closed, a resize), writeWake when the write
	// end may have (a read that left room for PIPE_BUF bytes where there
	// was none, an end opened or closed, a resize). Poll readiness waits
	// on them, as on Linux's rd_wait and wr_wait, so that an
	// edge-triggered epoll sees Linux's wakeups and no others (a read
	// does not wake the read end). Protected by mu.
	readWake, writeWake wake.Notifier

	// Replay state. id is the pipe's id (0 until first reported). total
	// is the position (in the pipe's byte stream) of the next byte
	// written. writtenC and readC are the committed counts: bytes written
	// and read by calls whose replies were built (see callEffects). skip
	// is how many of the next bytes written to discard: a restored pipe
	// whose reader already read bytes of a write that had not completed
	// when the previous server died.
	id                    uint64
	total                 uint64
	writtenC, readC, skip uint64
	// trk receives changes of the end counts. Immutable.
	trk *stateTracker
	// acct is the client's memory account, charged the pipe's capacity
	// while it exists (pipeCapacity when made, then what F_SETPIPE_SZ
	// sets); reserved is what the pipe holds of it (set when the pipe is
	// made, changed under mu by F_SETPIPE_SZ, swapped to 0 when returned:
	// once, when no description can reach the pipe any more).
	acct     *memacct.Account
	reserved atomic.Int64
}

// pipeEnd is one end of a pipe, backing one open file description: it
// reads, writes, or (a FIFO opened O_RDWR) both. Immutable.
type pipeEnd struct {
	p             *pipe
	reads, writes bool
}

// newPipe makes a pipe(2), charged to acct (ENOMEM beyond its limit).
func newPipe(trk *stateTracker, acct *memacct.Account) (r, w *file, err error) {
	p := &pipe{ino: pipeIno.Add(1), readers: 1, writers: 1, ropens: 1, wopens: 1, trk: trk}
	if err := p.reserve(acct); err != nil {
		return nil, nil, err
	}
	r = newFile(&pipeEnd{p: p, reads: true}, nil, unix.O_RDONLY)
	w = newFile(&pipeEnd{p: p, writes: true}, nil, unix.O_WRONLY)
	return r, w, nil
}

// reserve charges the pipe's capacity to acct.
func (p *pipe) reserve(acct *memacct.Account) error {
	if err := acct.Charge(pipeCapacity); err != nil {
		return err
	}
	p.acct = acct
	p.reserved.Store(pipeCapacity)
	return nil
}

// unreserve returns what the pipe reserved, once: when no description
// has it open and no open can find it again.
func (p *pipe) unreserve() {
	if n := p.reserved.Swap(0); n != 0 {
		p.acct.Release(n)
	}
}

// addEndLocked counts a new open description of e's kind. Precondition:
// e.p.mu is held.
func (e *pipeEnd) addEndLocked() {
	if e.reads {
		e.p.readers++
		e.p.ropens++
	}
	if e.writes {
		e.p.writers++
		e.p.wopens++
	}
	e.p.notifyAllLocked()
}

// notifyAllLocked wakes every waiter of the pipe. Precondition: p.mu.
func (p *pipe) notifyAllLocked() {
	p.changed.Notify()
	p.readWake.Notify()
	p.writeWake.Notify()
}

// writableLocked says the write end polls writable: room for PIPE_BUF
// bytes. Precondition: p.mu.
func (p *pipe) writableLocked() bool { return p.capacityLocked()-len(p.buf) >= pipeBuf }

// wakeAfterReadLocked wakes the waiters a read of the pipe concerns: the
// write end's when the read left room for PIPE_BUF bytes where there was
// none (Linux wakes writers when a full pipe frees a buffer), the read
// end's when the pipe is now empty (no longer readable: an O_ASYNC
// watcher follows its readiness), and the blocked calls'. Precondition:
// p.mu.
func (p *pipe) wakeAfterReadLocked(wasWritable bool) {
	p.changed.Notify()
	if !wasWritable && p.writableLocked() {
		p.writeWake.Notify()
	}
	if len(p.buf) == 0 {
		p.readWake.Notify()
	}
}

// wakeAfterWriteLocked wakes the waiters a write to the pipe concerns:
// the read end's (Linux wakes readers at every write once the pipe was
// polled), the write end's when the write left no room for PIPE_BUF
// bytes where there was, and the blocked calls'. Precondition: p.mu.
func (p *pipe) wakeAfterWriteLocked(wasWritable bool) {
	p.changed.Notify()
	p.readWake.Notify()
	if wasWritable && !p.writableLocked() {
		p.writeWake.Notify()
	}
}

// reopen returns another description of the same end (open of
// /proc/<pid>/fd/N).
func (e *pipeEnd) reopen() fileImpl {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	ne := &pipeEnd{p: e.p, reads: e.reads, writes: e.writes}
	ne.addEndLocked()
	return ne
}

// recordRead and recordWrite note pipe I/O of call c, committed with its
// reply. Precondition: p.mu is held (for the write's position).
func (c *syscallCtx) recordPipeRead(p *pipe, n int) {
	if c != nil && n > 0 {
		c.effects().pipeReads = append(c.effects().pipeReads, pipeIO{p: p, n: uint64(n)})
	}
}

// data are the bytes written; they are kept only when the call did not
// carry them (dataNotInCall).
func (c *syscallCtx) recordPipeWrite(p *pipe, f *file, off uint64, data []byte) {
	n := len(data)
	if c == nil || n <= 0 {
		return
	}
	if !c.dataNotInCall {
		data = nil
	}
	e := c.effects()
	if l := len(e.pipeWrites); l > 0 && e.pipeWrites[l-1].p == p {
		e.pipeWrites[l-1].n += uint64(n)
		e.pipeWrites[l-1].data = append(e.pipeWrites[l-1].data, data...)
		return
	}
	e.pipeWrites = append(e.pipeWrites, pipeIO{p: p, f: f, off: off, n: uint64(n), data: append([]byte(nil), data...)})
}

// appendLocked appends b to the pipe, discarding first what skip says.
// Precondition: p.mu is held.
func (p *pipe) appendLocked(b []byte) {
	if p.skip > 0 {
		d := min(p.skip, uint64(len(b)))
		p.skip -= d
		b = b[d:]
	}
	p.buf = append(p.buf, b...)
}

func (e *pipeEnd) stream() bool { return true }

// capacityLocked is the pipe's size. Precondition: p.mu held.
func (p *pipe) capacityLocked() int {
	if p.capacity == 0 {
		return pipeCapacity
	}
	return p.capacity
}

// pipeSize serves F_GETPIPE_SZ and F_SETPIPE_SZ (arg: the size asked for)
// as Linux's pipe_fcntl does: the size is rounded up to a power-of-two
// number of pages; above fs/pipe-max-size only root may go (EPERM), and
// never below the bytes the pipe holds (EBUSY). Root is held to
// maxPipeSize, since the server keeps every client's buffers.
func (c *syscallCtx) pipeSize(e *pipeEnd, set bool, arg uint64) (int64, error) {
	p := e.p
	if !set {
		p.mu.Lock()
		defer p.mu.Unlock()
		return int64(p.capacityLocked()), nil
	}
	size, ok := roundPipeSize(int64(uint32(arg)))
	if !ok {
		return 0, unix.EINVAL
	}
	if size > c.k.sysctl.pipeMaxSizeNow() && !c.creds().Capable(linux.CAP_SYS_RESOURCE) {
		return 0, unix.EPERM
	}
	if size > maxPipeSize {
		return 0, unix.EPERM
	}
	p.mu.Lock()
	if len(p.buf) > size {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	// The reservation follows the size (package memacct): a larger pipe
	// needs room in the client's memory cap.
	if grow := int64(size) - p.reserved.Load(); grow > 0 && p.acct != nil {
		if err := p.acct.Charge(grow); err != nil {
			p.mu.Unlock()
			return 0, err
		}
		p.reserved.Add(grow)
	} else if grow < 0 && p.acct != nil {
		p.reserved.Add(grow)
		p.acct.Release(-grow)
	}
	p.capacity = size
	p.notifyAllLocked()
	p.mu.Unlock()
	p.trk.touch(p)
	return int64(size), nil
}

func (e *pipeEnd) release() {
	e.p.mu.Lock()
	if e.writes {
		e.p.writers--
	}
	if e.reads {
		e.p.readers--
		if e.p.readers == 0 {
			// Nobody can read what is left; Linux frees it too. The
			// client need not retain it any longer.
			e.p.buf = nil
			e.p.readC = max(e.p.readC, e.p.writtenC)
		}
	}
	e.p.notifyAllLocked()
	unused := e.p.readers+e.p.writers == 0
	e.p.mu.Unlock()
	e.p.trk.touch(e.p)
	if e.p.fifos != nil {
		// Until dropIfUnused forgets it, an open may find it again.
		e.p.fifos.dropIfUnused(e.p)
	} else if unused {
		e.p.unreserve()
	}
}

func (e *pipeEnd) stat(c *syscallCtx) (*goferpb.Stat, error) {
	if e.p.fifo != nil && c != nil {
		return c.k.vfs.statDentry(c, e.p.fifo)
	}
	now := time.Now().UnixNano()
	e.p.mu.Lock()
	n := len(e.p.buf)
	e.p.mu.Unlock()
	return &goferpb.Stat{Mode: unix.S_IFIFO | 0600, Nlink: 1, Ino: e.p.ino, Dev: pipeDev, Size: uint64(n),
		Blksize: 4096, AtimeNs: now, MtimeNs: now, CtimeNs: now}, nil
}

// available returns how many bytes can be read now (FIONREAD).
func (e *pipeEnd) available() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.buf)
}

func (e *pipeEnd) read(c *syscallCtx, f *file, n int, _ int64) ([]byte, error) {
	if !e.reads {
		return nil, unix.EBADF
	}
	if n == 0 {
		return nil, nil
	}
	p := e.p
	for {
		p.mu.Lock()
		if len(p.buf) > 0 {
			if n > len(p.buf) {
				n = len(p.buf)
			}
			out := append([]byte(nil), p.buf[:n]...)
			wasWritable := p.writableLocked()
			p.buf = p.buf[n:]
			c.recordPipeRead(p, n)
			if len(p.buf) == 0 {
				p.buf = nil
			}
			p.wakeAfterReadLocked(wasWritable)
			p.mu.Unlock()
			return out, nil
		}
		if p.writers == 0 {
			p.mu.Unlock()
			return nil, nil
		}
		if f.nonblock() {
			p.mu.Unlock()
			return nil, unix.EAGAIN
		}
		ch := p.changed.Wait()
		p.mu.Unlock()
		if err := c.block(ch, nil); err != nil {
			return nil, err
		}
	}
}

// write appends b. Writes of at most pipeBuf bytes are atomic; larger ones
// may be split and block until all is written. With no readers it fails
// with EPIPE and the caller gets SIGPIPE.
func (e *pipeEnd) write(c *syscallCtx, f *file, b []byte, _ int64) (int, error) {
	if !e.writes {
		return 0, unix.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	p := e.p
	written := 0
	for {
		p.mu.Lock()
		if p.readers == 0 {
			p.mu.Unlock()
			c.sigpipe = true
			return 0, unix.EPIPE
		}
		space := p.capacityLocked() - len(p.buf)
		wasWritable := p.writableLocked()
		rest := len(b) - written
		switch {
		case len(b) <= pipeBuf:
			if space >= rest {
				c.recordPipeWrite(p, f, p.total, b)
				p.total += uint64(len(b))
				p.appendLocked(b)
				written = len(b)
			}
		case space > 0:
			m := min(space, rest)
			c.recordPipeWrite(p, f, p.total, b[written:written+m])
			p.total += uint64(m)
			p.appendLocked(b[written : written+m])
			written += m
		}
		if written > 0 {
			p.wakeAfterWriteLocked(wasWritable)
		}
		if written == len(b) {
			p.mu.Unlock()
			return written, nil
		}
		if f.nonblock() {
			p.mu.Unlock()
			if written > 0 {
				return written, nil
			}
			return 0, unix.EAGAIN
		}
		ch := p.changed.Wait()
		p.mu.Unlock()
		if err := c.block(ch, nil); err != nil {
			if written > 0 {
				return written, nil
			}
			return 0, err
		}
	}
}

func (e *pipeEnd) readiness(*file) (uint32, <-chan struct{}) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev uint32
	if e.writes {
		if p.readers == 0 {
			ev |= pollErr
		} else if p.capacityLocked()-len(p.buf) >= pipeBuf {
			ev |= pollOut | pollWrNorm
		}
	}
	if e.reads {
		if len(p.buf) > 0 {
			ev |= pollIn | pollRdNorm
		}
		// A FIFO that never had a writer does not hang up (Linux).
		if p.writers == 0 && p.wopens > 0 {
			ev |= pollHup
		}
	}
	switch {
	case e.reads && e.writes:
		return ev, p.changed.Wait()
	case e.reads:
		return ev, p.readWake.Wait()
	}
	return ev, p.writeWake.Wait()
}
