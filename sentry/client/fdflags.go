package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// File descriptor flags on the client (docs/COMPATIBILITY.md, "Pipelined
// calls").
//
// An fd's only flag is close-on-exec, which matters at exec, and exec
// runs on the server. The client's copy of each fd table (pipeline.go)
// keeps it: from the fd records (FdState.cloexec), folded before the
// reply that follows the change (open with O_CLOEXEC, dup3, fcntl
// F_DUPFD_CLOEXEC and F_SETFD, accept4, pipe2, socket with SOCK_CLOEXEC,
// exec, which closes such fds), and as the client sets it when it posts
// a call that makes an fd (a dup, an open or creation with O_CLOEXEC:
// fdpipe.go, postopen.go, postcreate.go). So fcntl F_GETFD of an fd the
// copy has open is answered here, as the server would at that point of
// the calls' order, and F_SETFD of one (0 on Linux once the fd is open)
// is posted after setting the flag in the copy, by a process with one
// thread and a table of its own: the exec that reads it is a waited
// call, which runs after every posted call sent before it; one that sets
// the flag the fd already has changes nothing and is not sent (fts sets
// it on each directory it opened with O_CLOEXEC). F_GETFD of an
// fd the copy lacks fails with EBADF there too, for a process with one
// thread and a table of its own: the copy then holds every fd the
// server's table has at this point of the calls' order (a posted dup
// picks its new fd from it on the same ground), as gcc's probe of fd 3
// asks once per compiler it runs.

// fdFlagsOnClient answers fcntl(fd, F_GETFD) or posts fcntl(fd, F_SETFD,
// arg) if the caller's fd table has fd open as the client knows it, and
// answers F_GETFD of an fd it knows closed, F_GETFL of a description
// whose flags it knows (statusFlagsOnClient), and posts F_SETFL of a
// regular file's O_NONBLOCK (postSetfl).
func (t *task) fdFlagsOnClient(sysno uintptr, args [6]uint64) (uint64, unix.Errno, bool) {
	if sysno != unix.SYS_FCNTL {
		return 0, 0, false
	}
	fd := int32(args[0])
	switch int32(args[1]) {
	case unix.F_GETFD:
		cloexec, ok := t.c.ids.cloexecOf(t.proc.pid, fd)
		if !ok {
			if fd < 0 || !t.singleThreaded() || !t.c.ids.closedFD(t.proc.pid, fd) {
				return 0, 0, false
			}
			t.cached = true
			return 0, unix.EBADF, true
		}
		t.cached = true
		if cloexec {
			return unix.FD_CLOEXEC, 0, true
		}
		return 0, 0, true
	case unix.F_GETFL:
		return t.statusFlagsOnClient(fd)
	case unix.F_SETFL:
		return t.postSetfl(sysno, args)
	case unix.F_SETFD:
		if !t.singleThreaded() {
			return 0, 0, false
		}
		cloexec := args[2]&unix.FD_CLOEXEC != 0
		if t.c.ids.cloexecIs(t.proc.pid, fd, cloexec) {
			// The flag it already has (fts's F_SETFD of each
			// directory it opened with O_CLOEXEC): nothing
			// changes, nothing is sent.
			t.cached = true
			return 0, 0, true
		}
		slot, ok := t.c.ids.reserveCloexec(t.proc.pid, fd, cloexec)
		if !ok {
			return 0, 0, false
		}
		if o := t.unsentOpens.top(); o != nil && o.po.table == slot.table && o.po.fd == fd && o.nSeeks < len(o.seeks) {
			// Of the fd an open just made, unsent yet (rm's check of
			// each directory it empties: open, F_SETFD, getdents64,
			// close): posted to be taken back with the open by the
			// close (unpostOpen), the flag then the closed fd's alone.
			pc := newPostedCall(t.tid, sysno, args, nil)
			if !t.c.conn.PostCallTakeBack(pc, func(r *pb.Reply) { t.c.ids.cloexecDone(slot, r) }) {
				t.c.ids.cloexecDone(slot, nil)
				return 0, 0, false
			}
			o.seeks[o.nSeeks] = unsentSeek{call: &pc.call, done: func(*pb.Reply) { t.c.ids.cloexecTakenBack(slot) }}
			o.nSeeks++
			t.posted = true
			return 0, 0, true
		}
		if !t.post(sysno, args, nil, func(r *pb.Reply) { t.c.ids.cloexecDone(slot, r) }) {
			t.c.ids.cloexecDone(slot, nil)
			return 0, 0, false
		}
		return 0, 0, true
	}
	return 0, 0, false
}

// closedFD reports whether pid's fd table, which no other process
// shares, lacks fd as the client knows it (a posted close or dup in
// flight has already changed the copy: the call after it sees the table
// as the server will when it runs).
func (c *procIDCache) closedFD(pid, fd int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return false
	}
	if c.tableSharedLocked(pid, ids.fdTable) {
		return false
	}
	_, open := c.openFDs[ids.fdTable][fd]
	return !open
}

// cloexecSlot is what reserveCloexec changed, to undo it when the call
// cannot be posted.
type cloexecSlot struct {
	table uint64
	fd    int32
	prev  bool
}

// cloexecOf returns the close-on-exec flag of pid's fd, if its table has
// the fd open as the client knows it.
func (c *procIDCache) cloexecOf(pid, fd int32) (bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return false, false
	}
	if _, open := c.openFDs[ids.fdTable][fd]; !open {
		return false, false
	}
	return c.cloexec[ids.fdTable][fd], true
}

// cloexecIs reports whether pid's fd, of a table no other process
// shares, is open with close-on-exec flag v, as the client's copy holds
// it: the server's, after the calls posted before.
func (c *procIDCache) cloexecIs(pid, fd int32, v bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, ok := c.soleOpenFDLocked(pid, fd)
	return ok && c.cloexec[table][fd] == v
}

// soleOpenFDLocked returns pid's fd table if no other process shares it
// and it has fd open as the client knows it. Precondition: c.mu.
func (c *procIDCache) soleOpenFDLocked(pid, fd int32) (uint64, bool) {
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 || c.tableSharedLocked(pid, ids.fdTable) {
		return 0, false
	}
	_, open := c.openFDs[ids.fdTable][fd]
	return ids.fdTable, open
}

// reserveCloexec sets the close-on-exec flag of pid's fd to v if the
// table, which no other process shares, has the fd open, and marks the
// fd as changed by a posted call.
func (c *procIDCache) reserveCloexec(pid, fd int32, v bool) (cloexecSlot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, ok := c.soleOpenFDLocked(pid, fd)
	if !ok {
		return cloexecSlot{}, false
	}
	s := cloexecSlot{table: table, fd: fd, prev: c.cloexec[table][fd]}
	c.setCloexecLocked(table, fd, v)
	c.postedFD(table, fd, 1)
	return s, true
}

// cloexecDone is called with the reply of a posted F_SETFD (nil: never
// posted, undo).
func (c *procIDCache) cloexecDone(s cloexecSlot, r *pb.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.postedFD(s.table, s.fd, -1)
	if r == nil {
		c.setCloexecLocked(s.table, s.fd, s.prev)
	}
}

// cloexecTakenBack ends a posted F_SETFD the close of its fd took back
// with the fd's open (unpostOpen): the fd is closed, its flag gone.
func (c *procIDCache) cloexecTakenBack(s cloexecSlot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.postedFD(s.table, s.fd, -1)
}

// setCloexecLocked sets the close-on-exec flag of fd of table to v.
// Precondition: c.mu.
func (c *procIDCache) setCloexecLocked(table uint64, fd int32, v bool) {
	if v {
		setInner(&c.cloexec, table, fd, true)
	} else {
		deleteInner(c.cloexec, table, fd)
	}
}

// setInner sets m[outer][inner] to v, making the maps it needs.
func setInner[O, I comparable, V any](m *map[O]map[I]V, outer O, inner I, v V) {
	if *m == nil {
		*m = make(map[O]map[I]V)
	}
	in := (*m)[outer]
	if in == nil {
		in = make(map[I]V)
		(*m)[outer] = in
	}
	in[inner] = v
}

// deleteInner deletes m[outer][inner], and m[outer] once it is empty.
func deleteInner[O, I comparable, V any](m map[O]map[I]V, outer O, inner I) {
	in := m[outer]
	delete(in, inner)
	if len(in) == 0 {
		delete(m, outer)
	}
}

// statusFlagsOnClient answers fcntl(fd, F_GETFL) from the flags the
// client knows fd's description has: its record's (FileState.flags, the
// description's kept flags), folded before the reply of any call that
// changed them (F_SETFL, ioctl FIONBIO), those a posted F_SETFL set
// (postsetfl.go), or those a posted open or creation gave the description
// it made. A
// description is this sandbox's alone (a server keeps one kernel per
// client), so no other client changes them. The answer is Linux's
// formula over them (sysabi.StatusFlags), as the server's. Only for a
// table no other process shares: another process could close and
// reopen fd meanwhile. glibc's fdopendir asks it of each directory fts
// opens.
func (t *task) statusFlagsOnClient(fd int32) (uint64, unix.Errno, bool) {
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return 0, 0, false
	}
	f, known := t.c.pipe.fileOf(desc)
	if !known {
		return 0, 0, false
	}
	t.cached = true
	return uint64(sysabi.StatusFlags(f.flags)), 0, true
}
