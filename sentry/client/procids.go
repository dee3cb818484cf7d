package client

import (
	"sync"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Client-cached process ids (docs/ARCHITECTURE.md, "Ids answered on the
// client").
//
// getppid, getpgrp, getpgid and getsid of the caller's own process, and
// the getuid family, are answered here from the last ProcessState record
// the server sent for the process. The server owns these ids; it sends a
// process's record, on the client's stream, with (or before) the reply or
// push that follows every change of it: a fork (the child's record comes
// with the clone's reply), setsid and setpgid (the caller's reply, for
// the target process too), set*id and a set-id exec (the call's reply),
// and the reparenting of the children of an exiting process (the exit's
// reply or push). The receiving goroutine folds the records before it
// hands over the reply that follows them, so a thread that learns of a
// change through a reply or a signal sees the new ids; and a server that
// replaced a dead one rebuilt the same ids from the replay log, so the
// cache stays true across recovery. A process whose record has not
// arrived (a server that sends none) is asked, as before.

// procIDs are a process's ids as its last record said.
type procIDs struct {
	ppid, pgid, sid                    int32
	ruid, euid, suid, rgid, egid, sgid uint32
	// fsuidOwn and fsgidOwn are set when the fs uid (gid) differs from
	// the effective one (ProcessState.fsuid, fsgid present).
	fsuidOwn, fsgidOwn bool
	// fdTable names the process's fd table (FdState.fd_table; 0 for a
	// zombie).
	fdTable uint64
	// zombie is set once the process has exited and waits to be reaped.
	zombie bool
	// exitSignal is the signal its parent gets at its exit (SIGCHLD, but
	// for a clone child's: childwait.go).
	exitSignal int32
	// capEff is its effective capability set, when capsKnown.
	capEff    uint64
	capsKnown bool
}

// procIDCache maps pids to their last recorded ids.
type procIDCache struct {
	// mu is a leaf lock (taken by the transport's receiving goroutine).
	mu sync.Mutex
	// byPID holds the live processes' ids. Protected by mu.
	byPID map[int32]procIDs
	// openFDs holds the fds each fd table has, with the FileState id of
	// each fd's open file description, as the statekey.FD records said
	// (pipeline.go). Protected by mu.
	openFDs map[uint64]map[int32]uint64
	// fdPosted counts, per fd table and fd, the posted calls that change
	// the fd (dup2, close...) and have no reply yet: the fd's records
	// are not folded meanwhile, as the client set the fd itself
	// (fdpipe.go). Protected by mu.
	fdPosted map[uint64]map[int32]int
	// fdPostedSpare is the last inner map of fdPosted that emptied,
	// reused by the next table's first posted change (an open+close
	// pair empties and refills one each time). Protected by mu.
	fdPostedSpare map[int32]int
	// cloexec holds, per fd table, the fds of openFDs whose
	// close-on-exec flag is set (FdState.cloexec, or set by a posted
	// call: fdflags.go). Protected by mu.
	cloexec map[uint64]map[int32]bool
	// locks holds who holds the record and flock locks of each inode, by
	// inode number (statekey.Lock records; pipeline.go). Protected by mu.
	locks map[uint64][]lockHolder
	// exitsPosted holds the processes whose exit_group is posted and
	// whose zombie (or reaped) record has not come (childwait.go).
	// Protected by mu.
	exitsPosted map[int32]struct{}
}

// observe folds the process and fd records among recs.
func (c *procIDCache) observe(recs []*pb.StateRecord) {
	for _, rec := range recs {
		key, err := statekey.Parse(rec.GetKey())
		if err != nil {
			// The replay log reports it (replaylog.Log).
			continue
		}
		switch key.Kind {
		case statekey.KindFD:
			c.observeFD(key.ID, key.FD(), rec.Deleted, rec.GetFd().GetFile(), rec.GetFd().GetCloexec())
			continue
		case statekey.KindLock:
			c.observeLock(key.ID, rec.Deleted, rec.GetLock())
			continue
		case statekey.KindProc:
		default:
			continue
		}
		pid := key.PID()
		st := rec.GetProcess()
		c.mu.Lock()
		switch {
		case rec.Deleted:
			delete(c.byPID, pid)
			c.exitRecordedLocked(pid)
		case st != nil:
			if c.byPID == nil {
				c.byPID = make(map[int32]procIDs)
			}
			c.byPID[pid] = procIDs{
				ppid: st.Ppid, pgid: st.Pgid, sid: st.Sid,
				ruid: st.Ruid, euid: st.Euid, suid: st.Suid,
				rgid: st.Rgid, egid: st.Egid, sgid: st.Sgid,
				fsuidOwn: st.Fsuid != nil, fsgidOwn: st.Fsgid != nil,
				fdTable: st.FdTable, zombie: st.Zombie, exitSignal: st.ExitSignal,
				capEff: st.GetCaps().GetEffective(), capsKnown: st.GetCaps() != nil,
			}
			if st.Zombie {
				c.exitRecordedLocked(pid)
			}
		}
		c.mu.Unlock()
	}
}

// get returns pid's ids, if a record for it arrived.
func (c *procIDCache) get(pid int32) (procIDs, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.byPID[pid]
	return ids, ok
}

// exited reports whether the server has said that process pid exited:
// it is a zombie, or it was reaped (its record was deleted while the
// caller's own, the witness that the server sends records, is there).
// A thread that learned of the exit through a reply (wait) sees it,
// even while the process's threads here are still winding down.
func (t *task) exited(pid int32) bool {
	if ids, ok := t.c.ids.get(pid); ok {
		return ids.zombie
	}
	_, recorded := t.ownIDs()
	return recorded
}

// fileOf returns the description of pid's fd, as the fd records said
// (whoever else shares pid's fd table).
func (c *procIDCache) fileOf(pid, fd int32) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, file, ok := c.fileLocked(pid, fd)
	return file, ok
}

// fileLocked returns pid's fd table and the description of its fd.
// Precondition: c.mu is held.
func (c *procIDCache) fileLocked(pid, fd int32) (table, file uint64, ok bool) {
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return 0, 0, false
	}
	file, open := c.openFDs[ids.fdTable][fd]
	return ids.fdTable, file, open && file != 0
}

// closingDescription returns pid's fd table and the description its fd
// holds in the copy (known), and whether a posted call in flight changes
// the fd (closeFileOf).
func (c *procIDCache) closingDescription(pid, fd int32) (desc, table uint64, known, changing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, desc, known = c.fileLocked(pid, fd)
	return desc, table, known, c.fdPosted[table][fd] > 0
}

// tableSharedLocked reports whether a live process other than pid has fd
// table table (the calls the client answers or posts for one table's fds
// need it to be pid's alone). Precondition: c.mu is held.
func (c *procIDCache) tableSharedLocked(pid int32, table uint64) bool {
	for other, o := range c.byPID {
		if other != pid && o.fdTable == table {
			return true
		}
	}
	return false
}

// ownIDs returns the ids of t's process, if known.
func (t *task) ownIDs() (procIDs, bool) { return t.c.ids.get(t.proc.pid) }

// sysGetppid, sysGetpgrp, sysGetpgid and sysGetsid answer for the
// caller's own process from the cache, and forward otherwise.
func sysGetppid(t *task, a [6]uint64) (uint64, unix.Errno) {
	if ids, ok := t.ownIDs(); ok {
		return uint64(ids.ppid), 0
	}
	return t.forwardWithSigmask(unix.SYS_GETPPID, a)
}

func sysGetpgrp(t *task, a [6]uint64) (uint64, unix.Errno) {
	if ids, ok := t.ownIDs(); ok {
		return uint64(ids.pgid), 0
	}
	return t.forwardWithSigmask(unix.SYS_GETPGRP, a)
}

func sysGetpgid(t *task, a [6]uint64) (uint64, unix.Errno) {
	if pid := int32(a[0]); pid == 0 || pid == t.proc.pid {
		if ids, ok := t.ownIDs(); ok {
			return uint64(ids.pgid), 0
		}
	}
	return t.forwardWithSigmask(unix.SYS_GETPGID, a)
}

func sysGetsid(t *task, a [6]uint64) (uint64, unix.Errno) {
	if pid := int32(a[0]); pid == 0 || pid == t.proc.pid {
		if ids, ok := t.ownIDs(); ok {
			return uint64(ids.sid), 0
		}
	}
	return t.forwardWithSigmask(unix.SYS_GETSID, a)
}

// sysSetresuid and sysSetresgid answer a call that changes nothing on
// the client, as Linux returns at once for it: every id it names is -1
// or the one the caller's record says, and a named effective id is also
// the fs id (else the call resets the fs id to it). Such a call succeeds
// for any caller and leaves the capabilities alone. make's children run
// setresuid(-1, euid, -1) and setresgid(-1, egid, -1) before each exec;
// forwarded, each was a waited round trip. Other calls are forwarded.
func sysSetresuid(t *task, a [6]uint64) (uint64, unix.Errno) {
	if ids, ok := t.ownIDs(); ok && !ids.zombie && setresUnchanged([3]uint32{ids.ruid, ids.euid, ids.suid}, ids.fsuidOwn, a) {
		return 0, 0
	}
	return t.forwardWithSigmask(unix.SYS_SETRESUID, a)
}

func sysSetresgid(t *task, a [6]uint64) (uint64, unix.Errno) {
	if ids, ok := t.ownIDs(); ok && !ids.zombie && setresUnchanged([3]uint32{ids.rgid, ids.egid, ids.sgid}, ids.fsgidOwn, a) {
		return 0, 0
	}
	return t.forwardWithSigmask(unix.SYS_SETRESGID, a)
}

// setresUnchanged says whether setresuid or setresgid with arguments a
// leaves the real, effective and saved ids cur, and the fs id (fsOwn: it
// differs from the effective one), as they are.
func setresUnchanged(cur [3]uint32, fsOwn bool, a [6]uint64) bool {
	for i, id := range cur {
		arg := uint32(a[i])
		if arg == ^uint32(0) {
			continue
		}
		if arg != id || (i == 1 && fsOwn) {
			return false
		}
	}
	return true
}

// creds returns t's process's credentials (credsOf).
func (t *task) creds() creds { return t.c.credsOf(t.proc) }

// credsOf returns p's credentials: as the last record said, else as the
// last exec plan or credential refresh did (process.creds is not updated
// by records, so decisions read the credentials here).
func (c *client) credsOf(p *process) creds {
	if ids, ok := c.ids.get(p.pid); ok {
		return creds{uid: ids.ruid, gid: ids.rgid, euid: ids.euid, egid: ids.egid}
	}
	return p.getCreds()
}
