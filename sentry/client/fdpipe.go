package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Pipelined dup (docs/COMPATIBILITY.md, "Pipelined calls").
//
// dup, dup2, dup3 and fcntl(F_DUPFD, F_DUPFD_CLOEXEC) are posted when
// the client knows their result from the caller's fd table, as the fd
// records (statekey.FD) say: the old fd is open, and the new one is the
// one asked for (dup2, dup3) or the lowest free one at or above the
// minimum (dup, F_DUPFD), below the table's RLIMIT_NOFILE. The client
// sets the new fd in its copy of the table at once, so that the calls
// after it (a write behind to it, a pipelined close) see it; while a
// posted call that changes an fd is without a reply, the records of that
// fd are not folded (an older call's reply could carry an older value).
// As for close, only a process with one thread whose fd table no other
// process shares posts, and a dup2 or dup3 that replaces an open fd whose
// close may release a lock waits. This is what a shell does around every
// redirection (`cmd > file`: save the fd, dup2 the file over it, close,
// and restore it).

// fdLimit is the bound new fds of pid's table stay below, as the
// server's fdTable.limitLocked says: RLIMIT_NOFILE, or 1024 when none
// was set; and the table's room when fs/nr_open was lowered below it
// (the server's roomLocked may refuse fds above).
func (ps *pipelineState) fdLimit(pid int32) (int32, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.procs[pid]
	if !ok {
		return 0, false
	}
	limit := uint32(1024)
	if pp.nofile != 0 {
		limit = pp.nofile
	}
	if pp.fdRoom != 0 {
		limit = min(limit, pp.fdRoom)
	}
	return int32(min(limit, 1<<31-1)), true
}

// dupSlot is what pipelineDup changed in the client's copy of a table,
// to undo it when the call cannot be posted.
type dupSlot struct {
	table    uint64
	fd       int32
	prev     uint64
	wasOpen  bool
	replaced bool
	// prevCloexec is the fd's close-on-exec flag before.
	prevCloexec bool
}

// reserveDup sets, in pid's table, fd newfd (or, when newfd < 0, the
// lowest free fd at or above lowest) to oldfd's description, with
// close-on-exec flag cloexec, if the result is known (see above), and
// marks the fd as changed by a posted call. It returns the new fd.
func (c *procIDCache) reserveDup(pid, oldfd, newfd, lowest, limit int32, cloexec bool) (int32, dupSlot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return 0, dupSlot{}, false
	}
	if c.tableSharedLocked(pid, ids.fdTable) {
		return 0, dupSlot{}, false
	}
	fds := c.openFDs[ids.fdTable]
	file, open := fds[oldfd]
	if !open || file == 0 {
		return 0, dupSlot{}, false
	}
	if newfd < 0 {
		if lowest < 0 || lowest >= limit {
			return 0, dupSlot{}, false
		}
		newfd = lowest
		for ; newfd < limit; newfd++ {
			if _, taken := fds[newfd]; !taken {
				break
			}
		}
	}
	if newfd >= limit || newfd == oldfd {
		return 0, dupSlot{}, false
	}
	prev, wasOpen := fds[newfd]
	if wasOpen {
		// The replaced fd is closed: not if that may release a lock
		// (takeFD).
		for _, hs := range c.locks {
			for _, h := range hs {
				if h.fdTable == ids.fdTable || (prev != 0 && h.file == prev) {
					return 0, dupSlot{}, false
				}
			}
		}
	}
	fds[newfd] = file
	prevCloexec := c.cloexec[ids.fdTable][newfd]
	c.setCloexecLocked(ids.fdTable, newfd, cloexec)
	c.postedFD(ids.fdTable, newfd, 1)
	return newfd, dupSlot{table: ids.fdTable, fd: newfd, prev: prev, wasOpen: wasOpen, replaced: true, prevCloexec: prevCloexec}, true
}

// postedFD counts the posted calls without a reply that change fd of
// table (d is +1 or -1). Precondition: c.mu is held.
func (c *procIDCache) postedFD(table uint64, fd int32, d int) {
	if c.fdPosted == nil {
		c.fdPosted = make(map[uint64]map[int32]int)
	}
	m := c.fdPosted[table]
	if m == nil {
		m, c.fdPostedSpare = c.fdPostedSpare, nil
		if m == nil {
			m = make(map[int32]int)
		}
		c.fdPosted[table] = m
	}
	if m[fd] += d; m[fd] <= 0 {
		delete(m, fd)
		if len(m) == 0 {
			delete(c.fdPosted, table)
			c.fdPostedSpare = m
		}
	}
}

// dupDone is called with the reply of a posted dup (nil: never posted,
// undo).
func (c *procIDCache) dupDone(s dupSlot, r *pb.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.postedFD(s.table, s.fd, -1)
	if r != nil {
		return
	}
	fds := c.openFDs[s.table]
	if s.wasOpen {
		fds[s.fd] = s.prev
	} else {
		delete(fds, s.fd)
	}
	c.setCloexecLocked(s.table, s.fd, s.wasOpen && s.prevCloexec)
}

// pipelineDup posts a dup-family call if it may and returns its fd.
func (t *task) pipelineDup(sysno uintptr, args [6]uint64) (uint64, bool) {
	oldfd, newfd, lowest := int32(args[0]), int32(-1), int32(0)
	cloexec := false // dup and dup2 clear the new fd's flag
	switch sysno {
	case unix.SYS_DUP:
	case unix.SYS_DUP2:
		newfd = int32(args[1])
	case unix.SYS_DUP3:
		if args[2]&^unix.O_CLOEXEC != 0 {
			return 0, false
		}
		newfd = int32(args[1])
		cloexec = args[2]&unix.O_CLOEXEC != 0
	case unix.SYS_FCNTL:
		if args[1] != unix.F_DUPFD && args[1] != unix.F_DUPFD_CLOEXEC {
			return 0, false
		}
		lowest = int32(args[2]) // as the server reads it; < 0 is EINVAL
		cloexec = args[1] == unix.F_DUPFD_CLOEXEC
	default:
		return 0, false
	}
	if (newfd < 0 && sysno != unix.SYS_DUP && sysno != unix.SYS_FCNTL) || !t.singleThreaded() {
		return 0, false
	}
	limit, ok := t.c.pipe.fdLimit(t.proc.pid)
	if !ok {
		return 0, false
	}
	fd, slot, ok := t.c.ids.reserveDup(t.proc.pid, oldfd, newfd, lowest, limit, cloexec)
	if !ok {
		return 0, false
	}
	done := func(r *pb.Reply) {
		if r != nil && r.Errno == 0 && r.Ret != int64(fd) {
			// A bug: the application was told another fd.
			t.c.log.Error("a posted dup got another fd than the client told the application",
				"syscall", sysName(sysno), "told", fd, "got", r.Ret)
		}
		t.c.ids.dupDone(slot, r)
	}
	desc, _ := t.c.ids.fileOf(t.proc.pid, oldfd)
	if o := t.unsentOpens.top(); o != nil && o.po.fd == oldfd && o.po.table == slot.table {
		// fts's dup of the directory it just opened (dupmove.go).
		if t.dupOfUnsentOpen(desc, oldfd, cloexec, slot.wasOpen) == o {
			pc := newPostedCall(t.tid, sysno, args, nil)
			if !t.c.conn.PostCallTakeBack(pc, done) {
				t.c.ids.dupDone(slot, nil)
				return 0, false
			}
			o.dup = &unsentDup{call: &pc.call, fd: fd, cloexec: cloexec}
			t.posted = true
			return uint64(fd), true
		}
	}
	pc := newPostedCall(t.tid, sysno, args, nil)
	// Its close may take it back (dupmove.go dropDup): a gofer file's,
	// whose close has no effect the client does not know (an mqueue's
	// ends the process's mq_notify registration). Such a dup is posted
	// in the take-back tail, which the queue's timer, heartbeats and
	// due sends leave queued a few post delays, as the opens fts posts
	// around it: nobody outside the session sees a new fd.
	f, _ := t.c.pipe.fileOf(desc)
	takeBack := !slot.wasOpen && f.gofer
	if takeBack {
		if !t.c.conn.PostCallTakeBack(pc, done) {
			t.c.ids.dupDone(slot, nil)
			return 0, false
		}
		t.posted = true
		t.lastDup = postedDup{call: &pc.call, table: slot.table, fd: fd}
		return uint64(fd), true
	}
	if !t.postChange(pc, done, "", 0, noChange, 0) {
		t.c.ids.dupDone(slot, nil)
		return 0, false
	}
	return uint64(fd), true
}
