package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Pipe writes behind (docs/COMPATIBILITY.md, "Pipelined calls"; the
// server's side: sentry/server/syscalls/pipebehind.go and
// kernel.PipeEnd.writePosted).
//
// A pipe's room and bytes are the server's, so a write to it waited for
// the server, once per write. The reply of a write, writev or sendfile
// to a pipe's write end now says how many bytes the pipe takes from then
// on without blocking (Reply.pipe_room): its free space, granted while
// the pipe has a reader and that end is its only write description. A
// write(2) or writev(2) of n bytes to that description, at most the room
// less what was posted since, is posted and returns n at once: on Linux
// it would not block either, and only the readers, which free room, act
// on the pipe meanwhile. Each reply, posted ones too, renews the room.
// So is a sendfile into the pipe from a file the read cache leases (cat's;
// sendfile.go), whose bytes go with the call.
//
// The description must be reachable by one thread only, so that no
// other write takes the room first: the caller's process has one thread,
// its fd table is its own, and no other fd table the client knows of
// holds the description (a shell's copy before it closes it).
//
// The reader leaving: a pipe record saying no description reads it
// (PipeState.no_reader) stops the posting, so a write after the last
// reader closed, as the client knows it (a waited close, an exit the
// writer waited for: their records come before the replies after them),
// waits and meets EPIPE and SIGPIPE as before. A posted write that finds
// no reader on the server (the reader left after the client's check)
// fails alone: its bytes are dropped as the reader's close drops unread
// ones, no SIGPIPE is raised, and its error reply takes the room away,
// so the next write waits and meets EPIPE itself.
//
// Recovery: a posted write stays in the session's calls in flight until
// its reply, so a recovery re-sends it (once: the seq guard), and its
// reply's pipe write record is retained with its data as a waited
// write's. Rooms are forgotten with the dead server.

// pipeBehind posts write(2) or writev(2) to a pipe's write end with room
// for it, if it may (see above), and returns its count.
func (t *task) pipeBehind(sysno uintptr, args [6]uint64) (uint64, bool) {
	if sysno != unix.SYS_WRITE && sysno != unix.SYS_WRITEV {
		return 0, false
	}
	pr := &t.c.pipeRooms
	if !pr.any() || !t.singleThreaded() {
		return 0, false
	}
	file, ok := t.pipeWriteTarget(int32(args[0]))
	if !ok {
		return 0, false
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	n, ok := writeCount(sysno, args, inputs)
	if !ok || n == 0 || !pr.take(file, n) {
		return 0, false
	}
	done := t.pipeWriteDone(file, n)
	if !t.postChange(newPostedCall(t.tid, sysno, args, inputs), done, "", noChange, 0) {
		done(nil)
		return 0, false
	}
	return n, true
}

// pipeWriteDone is the function the reply (nil: not posted) of a posted
// write of n bytes to pipe end file goes to: the room is the reply's.
func (t *task) pipeWriteDone(file, n uint64) func(*pb.Reply) {
	pr := &t.c.pipeRooms
	return func(r *pb.Reply) {
		pr.done(file, n, r)
		if r != nil && r.Errno == 0 {
			pr.set(file, r.PipeRoom)
		}
	}
}

// pipeWriteTarget returns the description of t's fd if it is a pipe's
// write end a write to which may be posted (see above; the caller checks
// that t's process has one thread).
func (t *task) pipeWriteTarget(fd int32) (uint64, bool) {
	file, ok := t.c.ids.onlyHolder(t.proc.pid, fd)
	if !ok {
		return 0, false
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	f, known := ps.files[file]
	return file, known && f.pipeWrite && !ps.pipeNoReader[f.pipe]
}

// onlyHolder returns the description of pid's fd if pid's fd table has
// fd open, no other live process shares the table, and no other fd
// table holds the description.
func (c *procIDCache) onlyHolder(pid, fd int32) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, file, ok := c.fileLocked(pid, fd)
	if !ok {
		return 0, false
	}
	for other, o := range c.byPID {
		if other != pid && o.fdTable == table {
			return 0, false
		}
	}
	for tab, fds := range c.openFDs {
		if tab == table {
			continue
		}
		for _, f := range fds {
			if f == file {
				return 0, false
			}
		}
	}
	return file, true
}

// closesLastPipeReader says whether a close of fd of t's process (or a
// dup2 over it) may drop the last read description of a pipe while some
// write end has room: its description reads a pipe and no other fd the
// client knows of holds it. Such a close waits instead of being
// pipelined, so that the pipe's record (PipeState.no_reader) is folded
// before the process's next call: a write after it then waits and meets
// EPIPE, as on Linux.
func (t *task) closesLastPipeReader(fd int32) bool {
	if !t.c.pipeRooms.any() {
		return false
	}
	file, last := t.c.ids.lastHolder(t.proc.pid, fd)
	if !last {
		return false
	}
	f, known := t.c.pipe.fileOf(file)
	return !known || f.pipeRead
}

// lastHolder returns the description of pid's fd and whether no other
// fd of any fd table the client knows of holds it (a close of the fd
// releases it); false when fd is not known open.
func (c *procIDCache) lastHolder(pid, fd int32) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, file, ok := c.fileLocked(pid, fd)
	if !ok {
		return 0, false
	}
	for tab, fds := range c.openFDs {
		for n, f := range fds {
			if f == file && (tab != table || n != fd) {
				return file, false
			}
		}
	}
	return file, true
}

// notePipeRoom keeps the pipe_room of a waited write, writev or
// sendfile's reply for the description of its fd (the out fd).
func (t *task) notePipeRoom(sysno uintptr, args [6]uint64, reply *pb.Reply) {
	switch sysno {
	case unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_SENDFILE:
	default:
		return
	}
	if reply.PipeRoom == 0 && !t.c.pipeRooms.any() {
		return
	}
	if file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0])); ok {
		t.c.pipeRooms.set(file, reply.PipeRoom)
	}
}

// observePipeLocked folds pipe id's record rec (PipeState.no_reader).
// Precondition: ps.mu is held.
func (ps *pipelineState) observePipeLocked(id uint64, rec *pb.StateRecord) {
	if st := rec.GetPipe(); !rec.Deleted && st != nil && st.NoReader {
		if ps.pipeNoReader == nil {
			ps.pipeNoReader = make(map[uint64]bool)
		}
		ps.pipeNoReader[id] = true
		return
	}
	delete(ps.pipeNoReader, id)
}
