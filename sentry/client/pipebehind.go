package client

import (
	"sync"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

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
	if !t.postChange(newPostedCall(t.tid, sysno, args, inputs), done, "", 0, noChange, 0) {
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
	table, file, ok := c.soleFDLocked(pid, fd)
	if !ok {
		return 0, false
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
// dup2 over it) may drop the last read description of a pipe while one
// of that pipe's write ends has room (or a posted write to it, whose
// reply renews the room, is without a reply): its description reads a
// pipe and no other fd the client knows of holds it. Such a close waits
// instead of being pipelined, so that the pipe's record
// (PipeState.no_reader) is folded before the process's next call: a
// write after it then waits and meets EPIPE, as on Linux. The last
// reader of a pipe no write end has room in is closed posted: a write
// to it waits for the server, which has run the close first (gcc's
// close of the read end of its exec-error pipe after the child's exec).
func (t *task) closesLastPipeReader(fd int32) bool {
	if !t.pipeRoomsOpen() {
		return false
	}
	file, last := t.c.ids.lastHolder(t.proc.pid, fd)
	if !last {
		return false
	}
	// A pipe's read end is known from pipe2's reply on (a posted open's
	// description, not known yet, is no pipe's).
	f, known := t.c.pipe.fileOf(file)
	return known && f.pipeRead && t.pipeHasRoom(f.pipe)
}

// pipeHasRoom says whether a write end of pipe pipe (PipeState.id) has
// room, or a posted write without a reply. pipeRooms.mu is taken before
// pipelineState.mu.
func (t *task) pipeHasRoom(pipe uint64) bool {
	pr := &t.c.pipeRooms
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	of := func(file uint64) bool {
		f, known := ps.files[file]
		return !known || f.pipeWrite && f.pipe == pipe
	}
	for file := range pr.room {
		if of(file) {
			return true
		}
	}
	for file, n := range pr.posted {
		if n > 0 && of(file) {
			return true
		}
	}
	return false
}

// pipeRoomsOpen reports whether a pipe's write end that is still open
// has room, and forgets the rooms of write ends closed since (whose
// records are gone). pipeRooms.mu is taken before pipelineState.mu.
func (t *task) pipeRoomsOpen() bool {
	pr := &t.c.pipeRooms
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for file := range pr.room {
		if _, open := t.c.pipe.fileOf(file); open {
			return true
		}
		delete(pr.room, file)
	}
	return false
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

// notePipeRoom keeps the pipe_room of a waited write, writev, sendfile
// or vmsplice's reply for the description of its fd (the out fd), and
// takes a description's room away after a splice or tee into it (their
// replies carry none: the bytes they moved took some).
func (t *task) notePipeRoom(sysno uintptr, args [6]uint64, reply *pb.Reply) {
	i, ok := pipeWriteCalls[sysno]
	if !ok {
		return
	}
	t.noteRoom(&t.c.pipeRooms, int32(args[i]), reply.PipeRoom)
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

// Pipe reads ahead (docs/COMPATIBILITY.md, "Reads answered on the
// client"; the server's side: sentry/server/syscalls/pipebehind.go).
//
// A waited read(2) of a pipe's read end asks (Syscall.pipe_ahead_wanted)
// for a copy of the bytes the pipe holds after those it read; the server
// sends one (Reply.pipe_ahead, up to 64 KiB) when the description is the
// only one reading a pipe(2), and leaves the bytes in the pipe. The next
// read(2) calls of that description are answered from the copy, each
// posted as a read with pipe_consumed, which takes as many bytes out of
// the pipe without sending them back. The bytes stay the pipe's until
// then: poll, FIONREAD and the writer see them there, a recovery restores
// them with the pipe (the writer's client retains them), and a consuming
// read in flight is re-sent. Bytes of a write whose reply the dead server
// never sent come back only with that write, re-sent on the writer's
// thread, maybe after the consuming read: the restored server's consuming
// read waits for them (kernel.PipeEnd.ConsumeAhead).
//
// The copy is right while only these reads take bytes out of the pipe.
// Every other call that may (a read, readv, splice or tee of any
// description of the pipe forwarded to the server, by any process: a
// fork's child, a reopen through /proc) first drops the pipe's copies,
// under pipeAhead.mu, and an answer from a copy posts its consuming read
// under that lock too, so such a call goes out after every consuming read
// of the bytes the copy gave.
//
// A read of more bytes than the copy holds is answered from it only while
// the copy is all the pipe holds: the pipe held no more when the copy was
// made (Reply.pipe_ahead_partial) and no write to it has been sent since
// (notePipeWrite; the writers are this client's processes). Otherwise
// Linux's read would return the bytes after the copy's too (a process
// that wrote one byte more after the copy was made, then read two: LTP's
// pipe15); it is forwarded, after the copy is dropped.

// pipeAhead are the copies of pipes' bytes read ahead, by read
// description.
type pipeAhead struct {
	// mu is taken by task goroutines alone, and held across the Post
	// of a consuming read (before remoteSession.mu).
	mu sync.Mutex
	// copies are the bytes ahead of each read description, with its
	// pipe. Protected by mu.
	copies map[uint64]aheadCopy
}

// aheadCopy is a read description's copy of bytes ahead: data, the
// first bytes of pipe; more says the pipe may hold bytes after them (it
// held more when the copy was made, or a write to it was sent since).
type aheadCopy struct {
	pipe uint64
	data []byte
	more bool
}

// reset drops every copy (a recovery: the new server's pipes have the
// bytes).
func (pa *pipeAhead) reset() {
	pa.mu.Lock()
	pa.copies = nil
	pa.mu.Unlock()
}

// dropPipeLocked drops the copies of pipe's descriptions.
// Precondition: pa.mu is held.
func (pa *pipeAhead) dropPipeLocked(pipe uint64) {
	for d, c := range pa.copies {
		if c.pipe == pipe {
			delete(pa.copies, d)
		}
	}
}

// pipeReadCalls are the calls that may take bytes out of a pipe: a
// forwarded one of a pipe's read end first drops the pipe's copies.
var pipeReadCalls = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_PREADV2: true, unix.SYS_SPLICE: true, unix.SYS_TEE: true,
	unix.SYS_VMSPLICE: true,
}

// beforePipeRead drops the copies of the pipe fd reads, if it is a
// pipe's read end and sysno a call that may take bytes out of it (see
// above), before the call is forwarded; it returns the read
// description whose copy a read's reply may bring (0: none).
func (t *task) beforePipeRead(sysno uintptr, args [6]uint64) uint64 {
	if !pipeReadCalls[sysno] {
		return 0
	}
	file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		// Not known: any pipe's copies may be stale after it.
		pa := &t.c.pipeAhead
		pa.mu.Lock()
		pa.copies = nil
		pa.mu.Unlock()
		return 0
	}
	f, known := t.c.pipe.fileOf(file)
	if !known || !f.pipeRead {
		return 0
	}
	pa := &t.c.pipeAhead
	pa.mu.Lock()
	pa.dropPipeLocked(f.pipe)
	pa.mu.Unlock()
	if sysno != unix.SYS_READ || f.flags&unix.O_ACCMODE != unix.O_RDONLY || !t.singleThreaded() {
		return 0
	}
	// No other process may read the description between the reply
	// and keepPipeAhead: none holds it (a later fork's child reads
	// through beforePipeRead).
	if _, only := t.c.ids.onlyHolder(t.proc.pid, int32(args[0])); !only {
		return 0
	}
	return file
}

// keepPipeAhead keeps the copy a read's reply brought for description
// file (beforePipeRead's).
func (t *task) keepPipeAhead(file uint64, reply *pb.Reply) {
	if file == 0 || reply.Errno != 0 || len(reply.PipeAhead) == 0 {
		return
	}
	f, known := t.c.pipe.fileOf(file)
	if !known || !f.pipeRead {
		return
	}
	pa := &t.c.pipeAhead
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if pa.copies == nil {
		pa.copies = make(map[uint64]aheadCopy)
	}
	for d := range pa.copies {
		if _, open := t.c.pipe.fileOf(d); !open {
			// Its description is gone: the copy can answer nothing.
			delete(pa.copies, d)
		}
	}
	pa.copies[file] = aheadCopy{pipe: f.pipe, data: reply.PipeAhead, more: reply.PipeAheadPartial}
}

// pipeWriteCalls are the calls that may put bytes into a pipe, with the
// argument that names the fd written.
var pipeWriteCalls = map[uintptr]int{
	unix.SYS_WRITE: 0, unix.SYS_WRITEV: 0, unix.SYS_PWRITEV2: 0, unix.SYS_SENDFILE: 0,
	unix.SYS_SPLICE: 2, unix.SYS_TEE: 1, unix.SYS_VMSPLICE: 0,
}

// notePipeWrite notes, before a write-family call is forwarded or
// posted, that the copies of the pipe it writes to may no longer hold
// all the pipe's bytes (see above); of every pipe when its fd is not
// known.
func (t *task) notePipeWrite(sysno uintptr, args [6]uint64) {
	i, ok := pipeWriteCalls[sysno]
	if !ok {
		return
	}
	pa := &t.c.pipeAhead
	pa.mu.Lock()
	none := len(pa.copies) == 0
	pa.mu.Unlock()
	if none {
		return
	}
	var pipe uint64
	file, known := t.c.ids.soleFD(t.proc.pid, int32(args[i]))
	if known {
		var f pipeFile
		if f, known = t.c.pipe.fileOf(file); known {
			if !f.pipeWrite && !f.pipeRead {
				return // no pipe
			}
			pipe = f.pipe
		}
	}
	pa.mu.Lock()
	defer pa.mu.Unlock()
	for d, c := range pa.copies {
		if !known || c.pipe == pipe {
			c.more = true
			pa.copies[d] = c
		}
	}
}

// pipeReadAhead answers read(fd, buf, n) from the copy of fd's
// description and posts its consuming read (see above), if it may, and
// returns its count.
func (t *task) pipeReadAhead(args [6]uint64) (uint64, bool) {
	n := args[2]
	if n == 0 || int64(n) < 0 || !t.singleThreaded() {
		return 0, false
	}
	file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		return 0, false
	}
	pa := &t.c.pipeAhead
	pa.mu.Lock()
	defer pa.mu.Unlock()
	c, ok := pa.copies[file]
	if !ok {
		return 0, false
	}
	if n > uint64(len(c.data)) && c.more {
		// The pipe may hold more than the copy: the server's read
		// returns them too.
		delete(pa.copies, file)
		return 0, false
	}
	m := min(n, uint64(len(c.data)))
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(args[1]), c.data[:m], usermem.IOOpts{}); err != nil {
		// The server's EFAULT, with the bytes still in the pipe.
		delete(pa.copies, file)
		return 0, false
	}
	sc := &pb.Syscall{Sysno: unix.SYS_READ, Args: []uint64{args[0], args[1], m, 0, 0, 0}, PipeConsumed: true}
	if !t.postChange(newPostedCallOf(t.tid, sc), nil, "", 0, noChange, 0) {
		// Recovering: the read waits, and takes the bytes itself.
		delete(pa.copies, file)
		return 0, false
	}
	if c.data = c.data[m:]; len(c.data) == 0 {
		delete(pa.copies, file)
	} else {
		pa.copies[file] = c
	}
	return m, true
}
