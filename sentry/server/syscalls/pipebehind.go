package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Pipe writes behind (sentry/client/pipebehind.go): the reply of a
// write, writev or sendfile to a pipe's write end says how many bytes of
// posted writes the pipe takes from then on without blocking
// (Reply.pipe_room, kernel.PipeEnd.PostedRoom); the client posts writes
// within it and tells the application their count at once. A posted
// write appends its bytes whole (kernel.PipeEnd.writePosted).
//
// Reads ahead: a read of a pipe's read end may ask (pipe_ahead_wanted)
// for a copy of the bytes the pipe holds after those it read
// (Reply.pipe_ahead), which stay in the pipe; the client answers the
// next reads of the description from that copy and posts each as a read
// with pipe_consumed, which takes the bytes out without sending them
// back.

// notePipeRoom puts the room f, if a pipe's write end, grants for posted
// writes in c's reply.
func notePipeRoom(c *kernel.Task, f *fdesc.File) {
	if c.Reply == nil {
		return
	}
	if e, ok := f.Impl.(*kernel.PipeEnd); ok {
		c.Reply.PipeRoom = e.PostedRoom()
	}
}

// notePipeAhead puts the copy of the bytes ahead of a read of f, if a
// pipe's read end and c asks for it, in c's reply.
func notePipeAhead(c *kernel.Task, f *fdesc.File) {
	if !c.PipeAheadWanted || c.Reply == nil {
		return
	}
	if e, ok := f.Impl.(*kernel.PipeEnd); ok {
		c.Reply.PipeAhead, c.Reply.PipeAheadPartial = e.Ahead(kernel.MaxPipeAhead)
	}
}

// consumeAhead is a posted read of n bytes of f the client answered from
// the copy a reply brought ahead (Syscall.pipe_consumed).
func consumeAhead(c *kernel.Task, f *fdesc.File, n int64, off int64) (int64, error) {
	e, ok := f.Impl.(*kernel.PipeEnd)
	if !ok || !c.Posted || off >= 0 || n > kernel.MaxPipeAhead {
		return 0, unix.EINVAL
	}
	m, err := e.ConsumeAhead(c, int(n))
	return int64(m), err
}
