package syscalls

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Pipe writes behind (sentry/client/pipebehind.go): the reply of a
// write, writev or sendfile to a pipe's write end says how many bytes of
// posted writes the pipe takes from then on without blocking
// (Reply.pipe_room, kernel.PipeEnd.PostedRoom); the client posts writes
// within it and tells the application their count at once. A posted
// write appends its bytes whole (kernel.PipeEnd.writePosted).

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
