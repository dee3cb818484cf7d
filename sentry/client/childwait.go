package client

import (
	"golang.org/x/sys/unix"
)

// A wait4 that finds no child to report, answered on the client
// (docs/COMPATIBILITY.md, "Pipelined calls").
//
// make polls wait4(-1, &status, WNOHANG, NULL) after each SIGCHLD until
// it returns 0, and each 0 waited for the server. The process tree is
// the server's, but the client holds its records: each process's parent,
// exit signal and zombie state (procids.go), sent with or before the
// reply or push that follows each change. Such a wait is answered 0 here
// when the records say that the caller has a child it could wait for
// (not a clone child: its exit signal is SIGCHLD) and none of them is a
// zombie, exactly the server's answer (syscalls.waitFor) for the state
// those records describe. Nothing the caller could have learned of a
// later state reaches it but through the same stream, behind the records
// (the SIGCHLD push, a waited call's reply), so the answer is one Linux
// could give at that moment.
//
// What the client knows before the server does is excluded:
//   - a posted exit_group (postexit.go): while any process's exit is
//     posted and its zombie (or reaped) record has not come, every such
//     wait is forwarded, whoever the exiting process's parent was (its
//     children are reparented when the server runs the exit);
//   - ptrace: once a process made a ptrace call or a task got a tracer,
//     the wait is forwarded (a tracee's stops are reported to its tracer
//     without WUNTRACED, and the client does not keep who traces whom);
//   - other options (WUNTRACED, WCONTINUED, __WALL, __WCLONE,
//     __WNOTHREAD: stop and continue events are the server's), a pgid
//     (pid 0 or below -1), and a process whose record has not come.
//
// The answer changes nothing: no record, nothing for a recovery to redo.

// waitNoChildReady answers wait4 with 0 if it may (see above).
func (t *task) waitNoChildReady(args [6]uint64) bool {
	pid, options := int32(args[0]), args[2]
	if options != unix.WNOHANG || (pid < -1 || pid == 0) {
		return false
	}
	if t.c.ptraceUsed.Load() {
		return false
	}
	if !t.c.ids.childrenRunning(t.proc.pid, pid) {
		return false
	}
	t.cached = true
	return true
}

// childrenRunning reports whether the records say that process pid has
// a child (or, for which > 0, the child which) with exit signal SIGCHLD,
// none of them a zombie, and that no posted exit_group is without its
// record (see above).
func (c *procIDCache) childrenRunning(pid, which int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.exitsPosted) > 0 {
		return false
	}
	if self, ok := c.byPID[pid]; !ok || self.zombie {
		return false
	}
	found := false
	for child, ids := range c.byPID {
		if ids.ppid != pid || child == pid || (which > 0 && child != which) {
			continue
		}
		if ids.exitSignal != int32(unix.SIGCHLD) {
			continue // a clone child: only __WCLONE or __WALL waits for it
		}
		if ids.zombie {
			return false
		}
		found = true
	}
	return found
}

// exitPosted notes that process pid's exit_group is posted (posted
// false: it could not be, and waits): waits are forwarded until its
// zombie or reaped record comes (see above).
func (c *procIDCache) exitPosted(pid int32, posted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !posted {
		c.exitRecordedLocked(pid)
		return
	}
	if c.exitsPosted == nil {
		c.exitsPosted = make(map[int32]struct{})
	}
	c.exitsPosted[pid] = struct{}{}
}

// exitRecordedLocked forgets pid's posted exit once its record says it exited.
// Precondition: c.mu is held.
func (c *procIDCache) exitRecordedLocked(pid int32) {
	if len(c.exitsPosted) > 0 {
		delete(c.exitsPosted, pid)
	}
}
