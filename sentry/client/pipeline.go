package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Pipelined close (docs/COMPATIBILITY.md, "Pipelined calls").
//
// close(fd) is sent without waiting for its reply when its result is
// known: the server's close fails only with EBADF (the fd is not open),
// and the client knows which fds the caller's fd table has from the
// fd records (statekey.FD) the server sends with every change, folded
// before the reply that follows them. So a close of an open fd returns
// 0 at once, as the server will, and the next forwarded call of the
// thread follows it on the stream and on the server's per-thread queue,
// so it sees the fd closed. Only a process whose fd table no other
// process shares pipelines, and one with several threads only while no
// other thread's call in flight could name the fd or take its number
// (threadorder.go). Nor does
// a close that may release a lock (the process holds a record lock, or
// the fd's description a flock or OFD lock). The
// call stays in the session's calls in flight until its reply arrives,
// so a recovery re-sends it, and its reply's records are folded into the
// replay log like any other.

// observeFD folds the record of fd n of fd table t (file is its
// description's id, cloexec its close-on-exec flag). Precondition: c.mu
// is not held.
func (c *procIDCache) observeFD(t uint64, n int32, deleted bool, file uint64, cloexec bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fdPosted[t][n] > 0 {
		// A posted call changed the fd since (fdpipe.go): the client
		// set it, and this record may be older.
		return
	}
	c.setCloexecLocked(t, n, cloexec && !deleted)
	if deleted {
		deleteInner(c.openFDs, t, n)
		return
	}
	setInner(&c.openFDs, t, n, file)
}

// lockHolder is who holds one lock: a process's fd table (a POSIX record
// lock, released by any close of the file in the process) or an open file
// description (flock and OFD locks, released with its last fd).
type lockHolder struct {
	fdTable, file uint64
}

// observeLock folds the lock record of inode ino. Precondition: c.mu is
// not held.
func (c *procIDCache) observeLock(ino uint64, deleted bool, st *pb.LockState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted || len(st.GetLocks()) == 0 {
		delete(c.locks, ino)
		return
	}
	hs := make([]lockHolder, 0, len(st.GetLocks()))
	for _, l := range st.GetLocks() {
		hs = append(hs, lockHolder{fdTable: l.GetFdTable(), file: l.GetFile()})
	}
	if c.locks == nil {
		c.locks = make(map[uint64][]lockHolder)
	}
	c.locks[ino] = hs
}

// takeFD reports whether pid's fd table, which no other live process
// shares, has fd open, and if so forgets fd (the caller closes it).
func (c *procIDCache) takeFD(pid, fd int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return false
	}
	fds := c.openFDs[ids.fdTable]
	file, open := fds[fd]
	if !open {
		return false
	}
	if c.tableSharedLocked(pid, ids.fdTable) {
		return false
	}
	// A close that may release a lock waits: another process told of
	// the close through shared memory, not a system call, could try the
	// lock before the server ran the close.
	for _, hs := range c.locks {
		for _, h := range hs {
			if h.fdTable == ids.fdTable || (file != 0 && h.file == file) {
				return false
			}
		}
	}
	delete(fds, fd)
	c.setCloexecLocked(ids.fdTable, fd, false)
	c.postedFD(ids.fdTable, fd, 1)
	return true
}

// pipelineClose sends close(fd) without waiting for its reply, if it
// may (see above), and reports whether it did. A process with several
// threads posts it while every other thread's call in flight is neutral
// and names another fd, marked to run after the posted calls before it
// (threadorder.go).
func (t *task) pipelineClose(fd int32) bool {
	return t.inPostOrder(func(threaded bool) bool {
		return (!threaded || t.proc.othersAllowCloseLocked(fd)) && t.postClose(fd, threaded)
	})
}

// postClose is pipelineClose once the threads allow it; afterPosted
// marks the call Syscall.after_posted.
func (t *task) postClose(fd int32, afterPosted bool) bool {
	// The copy of a file the description created (ownedfile.go) ends
	// with any close of its fds: the server forgets its lease with the
	// description, without a revocation.
	t.dropOwnedFD(fd)
	regular := t.regularFD(fd)
	closeFile := t.closeFileOf(fd)
	if !t.c.ids.takeFD(t.proc.pid, fd) {
		return false
	}
	ids, _ := t.ownIDs()
	if t.unpostOpen(ids.fdTable, fd) || t.dropDup(ids.fdTable, fd) {
		// The fd's open or dup was never sent: neither is its close.
		t.c.ids.mu.Lock()
		t.c.ids.postedFD(ids.fdTable, fd, -1)
		t.c.ids.mu.Unlock()
		t.unsent = true
		return true
	}
	// Made only when posted: the callback escapes.
	done := func(*pb.Reply) {
		t.c.ids.mu.Lock()
		t.c.ids.postedFD(ids.fdTable, fd, -1)
		t.c.ids.mu.Unlock()
	}
	pc := newPostedCall(t.tid, unix.SYS_CLOSE, [6]uint64{uint64(uint32(fd))}, nil).replyCanWait()
	pc.syscall().AfterPosted = afterPosted
	pc.syscall().CloseFile = closeFile
	pc.pending.regularFD = regular
	if !t.c.conn.PostCall(pc, done) {
		// Recovering: make the call as usual. The fd's record comes
		// back with the reply.
		done(nil)
		return false
	}
	t.posted = true
	return true
}

// closeFileOf is the description fd holds in the client's copy of the
// caller's fd table, sent with its close (Syscall.close_file): a close
// re-sent after a recovery that finds the fd no longer holding it was
// run by the dead server (sentry/server's syscalls.Close). Where the copy
// does not know it (it leaves out an fd whose record came while a posted
// call of it was in flight), the replay log's record of the fd says it:
// what a recovery restores. Not while a posted call that changes the fd
// is in flight: the log's record is then older than it (a close that
// could not be posted, during a recovery, forgot the fd in the copy;
// the log still named the description the re-sent open at that fd
// replaces, and the close, named after it, closed nothing). 0 when the
// description is not known, or when it is not yet the server's (a
// posted open's provisional one: that open is re-sent too).
func (t *task) closeFileOf(fd int32) uint64 {
	desc, table, known, changing := t.c.ids.closingDescription(t.proc.pid, fd)
	switch {
	case known && desc&provisionalDesc != 0:
		return 0
	case known:
		return desc
	case changing || table == 0 || t.c.rl == nil:
		return 0
	}
	return t.c.rl.Record(statekey.FD(table, fd)).GetFd().GetFile()
}

// replyCanWait marks pc's reply as one no thread of the client waits
// for (Syscall.reply_can_wait) and returns pc: the server may hold it
// past the end of its batch, for its next message (sentry/server's
// lingering.go). Only a call whose reply's arrival nothing blocks on may
// be so marked: a later call that must see its effect either is waited
// (its reply takes the lingering ones along) or finds the call in flight
// and asks the server; the replies a thread waits for (a creation's,
// sentry/client's waitCreations; a listing ahead's; a pipe's or a
// socket's room) are not.
func (pc *postedCall) replyCanWait() *postedCall {
	pc.syscall().ReplyCanWait = true
	return pc
}

// postedReply handles the reply to a call sent with Post, on the
// receiving goroutine, after its records were folded: the thread the
// server ended meanwhile (killed while the call ran) is ended here, as
// its own call's reply would have ended it; an error, which the checks
// before Post rule out, is logged.
func (c *client) postedReply(call *pb.Call, r *pb.Reply) {
	if ex := r.GetExit(); ex != nil {
		if ex.AppExit {
			c.appExit(int(ex.WaitStatus))
		}
		if t := c.lookupTask(call.GetTid()); t != nil {
			t.kill()
		}
		return
	}
	if r.Errno != 0 {
		c.log.Warn("a pipelined call failed after the application was told it succeeded",
			"syscall", sysName(uintptr(call.GetSyscall().GetSysno())), "tid", call.GetTid(), "errno", unix.Errno(r.Errno).Error())
	}
}
