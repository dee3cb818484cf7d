package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Posted exit_group (docs/COMPATIBILITY.md, "Pipelined calls").
//
// exit_group does not return, and nothing of its reply is the exiting
// thread's to use but the exit action, which for a process other than
// the application's first says only "end the process": its exit status,
// SIGCHLD, the reparenting of its children and the wake-up of a waiting
// parent are the server's. So the client posts it, sent at once (the
// parent's wait4 or vfork may already be blocked on the server), ends
// the process's threads here and does not wait. Order is kept: the
// parent's next call has a later seq, and the server runs it only after
// the posted calls below it finished (awaitPostedLocked); a recovery
// re-sends the call, and a server that no longer knows the thread
// answers it as an exit (GoneThreadExitLocked).
//
// It waits, as before, when:
//   - the process is the application's first (its exit ends the
//     application, with the status the reply carries);
//   - the process has more than one thread (the server ends the others,
//     whose calls in flight its reply ends);
//   - the process is traced (the tracer's view of the exit is the
//     server's; the exit stop ran already, ptraceBeforeCall);
//   - its fd table holds the last read end of a pipe one of whose write
//     ends has room: a write into that pipe within its room would be
//     answered here before the server saw the reader go, as for a close
//     (closesLastPipeReader).
//
// If the reply says the application ended meanwhile (its first process
// exited at the same time), the client ends it then.

// postExitGroup posts exit_group(args) and ends t's process, if it may
// (see above); false: the caller forwards it and waits.
func (t *task) postExitGroup(args [6]uint64) bool {
	init := t.c.initPID.Load()
	if init == 0 || t.proc.pid == init || !t.singleThreaded() {
		return false
	}
	if tracer, _ := t.ptraceTracer(); tracer != 0 {
		return false
	}
	if t.exitClosesLastPipeReader() {
		return false
	}
	c := t.c
	done := func(r *pb.Reply) {
		if ex := r.GetExit(); ex != nil && ex.AppExit {
			c.appExit(int(ex.WaitStatus))
		}
	}
	// Waits are forwarded from now until the server's record of the
	// exit comes (childwait.go).
	c.ids.exitPosted(t.proc.pid, true)
	if !c.conn.PostCall(newPostedCall(t.tid, unix.SYS_EXIT_GROUP, args, nil), done) {
		c.ids.exitPosted(t.proc.pid, false)
		return false
	}
	c.conn.sendPosted()
	t.posted = true
	t.noReturn = true
	t.exitGroup()
	return true
}

// exitClosesLastPipeReader reports whether t's process's exit would close
// the last read end of a pipe one of whose write ends has room (see
// above): its fd table is its own and holds such a description no other
// table holds.
func (t *task) exitClosesLastPipeReader() bool {
	if !t.pipeRoomsOpen() {
		return false
	}
	files, known := t.c.ids.lastHeldFiles(t.proc.pid)
	if !known {
		return true
	}
	for _, file := range files {
		if f, known := t.c.pipe.fileOf(file); known && f.pipeRead && t.pipeHasRoom(f.pipe) {
			return true
		}
	}
	return false
}

// lastHeldFiles returns the descriptions pid's fd table holds that no
// other fd table the client knows of holds; none if another live
// process shares the table (its exit closes nothing then). false: the
// table is not known.
func (c *procIDCache) lastHeldFiles(pid int32) ([]uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return nil, false
	}
	if c.tableSharedLocked(pid, ids.fdTable) {
		return nil, true
	}
	var out []uint64
	for _, file := range c.openFDs[ids.fdTable] {
		if file == 0 {
			continue
		}
		held := false
		for tab, fds := range c.openFDs {
			if tab == ids.fdTable {
				continue
			}
			for _, f := range fds {
				if f == file {
					held = true
					break
				}
			}
			if held {
				break
			}
		}
		if !held {
			out = append(out, file)
		}
	}
	return out, true
}
