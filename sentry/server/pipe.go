package server

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

const (
	pipeCapacity = 64 << 10
	pipeBuf      = 4096 // PIPE_BUF: writes up to this size are atomic
)

var pipeIno atomic.Uint64

// pipe is an in-memory pipe shared by its read and write ends.
type pipe struct {
	ino uint64 // immutable

	// mu protects the fields below. It nests inside clientState.mu.
	mu sync.Mutex
	// buf holds unread data, at most pipeCapacity bytes.
	buf []byte
	// readers and writers count open read and write descriptions.
	readers, writers int
	// changed is notified when data, space, or the end counts change.
	changed notifier
}

// pipeEnd is one end of a pipe, backing one open file description.
type pipeEnd struct {
	fileBase
	p       *pipe
	isWrite bool
}

func newPipe() (r, w *file) {
	p := &pipe{ino: pipeIno.Add(1), readers: 1, writers: 1}
	r = newFile(&pipeEnd{p: p}, nil, unix.O_RDONLY)
	w = newFile(&pipeEnd{p: p, isWrite: true}, nil, unix.O_WRONLY)
	return r, w
}

// reopen returns another description of the same end (open of
// /proc/<pid>/fd/N).
func (e *pipeEnd) reopen() fileImpl {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.isWrite {
		e.p.writers++
	} else {
		e.p.readers++
	}
	e.p.changed.notify()
	return &pipeEnd{p: e.p, isWrite: e.isWrite}
}

func (e *pipeEnd) stream() bool { return true }

func (e *pipeEnd) release() {
	e.p.mu.Lock()
	if e.isWrite {
		e.p.writers--
	} else {
		e.p.readers--
		if e.p.readers == 0 {
			// Nobody can read what is left; Linux frees it too.
			e.p.buf = nil
		}
	}
	e.p.changed.notify()
	e.p.mu.Unlock()
}

func (e *pipeEnd) stat(*syscallCtx) (*goferpb.Stat, error) {
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
	if e.isWrite {
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
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil
			}
			p.changed.notify()
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
		ch := p.changed.wait()
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
	if !e.isWrite {
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
		space := pipeCapacity - len(p.buf)
		rest := len(b) - written
		switch {
		case len(b) <= pipeBuf:
			if space >= rest {
				p.buf = append(p.buf, b...)
				written = len(b)
			}
		case space > 0:
			m := min(space, rest)
			p.buf = append(p.buf, b[written:written+m]...)
			written += m
		}
		if written > 0 {
			p.changed.notify()
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
		ch := p.changed.wait()
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
	if e.isWrite {
		if p.readers == 0 {
			ev |= pollErr
		} else if pipeCapacity-len(p.buf) >= pipeBuf {
			ev |= pollOut | pollWrNorm
		}
	} else {
		if len(p.buf) > 0 {
			ev |= pollIn | pollRdNorm
		}
		if p.writers == 0 {
			ev |= pollHup
		}
	}
	return ev, p.changed.wait()
}
