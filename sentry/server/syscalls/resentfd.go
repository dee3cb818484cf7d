package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// fdMakers are the calls whose whole result is one fd they install and
// that write nothing else to the application's memory (accept, which
// writes the peer's address, looks its fd up itself: acceptedBefore; pipe
// and socketpair, which write two fds: pairMadeBefore). fcntl is one
// for F_DUPFD alone: no other command installs an fd, so FDsOfCall finds
// none for them.
var fdMakers = map[int32]bool{
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_OPENAT2: true, unix.SYS_CREAT: true,
	unix.SYS_DUP: true, unix.SYS_DUP2: true, unix.SYS_DUP3: true, unix.SYS_FCNTL: true,
	unix.SYS_SOCKET: true, unix.SYS_EVENTFD: true, unix.SYS_EVENTFD2: true,
	unix.SYS_EPOLL_CREATE: true, unix.SYS_EPOLL_CREATE1: true, unix.SYS_TIMERFD_CREATE: true,
	unix.SYS_SIGNALFD: true, unix.SYS_SIGNALFD4: true, unix.SYS_MEMFD_CREATE: true,
	unix.SYS_INOTIFY_INIT: true, unix.SYS_INOTIFY_INIT1: true, unix.SYS_MQ_OPEN: true,
	unix.SYS_PIDFD_OPEN: true, unix.SYS_PIDFD_GETFD: true,
}

// FDMadeBefore returns the fd a call re-sent after a recovery made when
// the dead server ran it, if that fd is open in the restored table: its
// record (FdState.seq) reached the client before the reply was lost,
// carried by a message derived meanwhile (another thread's reply, a
// push). Run again, the call would make a second fd: the first would stay
// open, and the application would be told another number than a run
// without the failure. A posted open is not looked up: it installs at
// the fd the client chose, replacing what the restore put there
// (installPostedOpen).
func FDMadeBefore(c *kernel.Task) (int64, bool) {
	if !c.Resent() || c.InstallFD != nil || !fdMakers[c.Sysno] {
		return 0, false
	}
	fd, ok := oneFDMadeBefore(c)
	return int64(fd), ok
}

// madeBefore returns the n fds re-sent call c's first run made, if tab,
// the restored table, has them all (the first the lowest: InstallPair
// puts a pipe's read end, a socketpair's first, at the lower). With
// fewer (one closed by another thread's re-sent call since), the call
// runs again.
func madeBefore(c *kernel.Task, tab *fdtable.Table, n int) ([]int32, bool) {
	if !c.Resent() {
		return nil, false
	}
	fds := tab.FDsOfCall(c.CallSeq)
	return fds, len(fds) == n
}

// oneFDMadeBefore is madeBefore of one fd in the caller's table.
func oneFDMadeBefore(c *kernel.Task) (int32, bool) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, false
	}
	fds, ok := madeBefore(c, tab, 1)
	if !ok {
		return 0, false
	}
	return fds[0], true
}

// pairMadeBefore is madeBefore of a pipe or socketpair, whose two fds
// the handler writes to the application's array again (copyOutFDPair).
func pairMadeBefore(c *kernel.Task, tab *fdtable.Table) (a, b int32, ok bool) {
	fds, ok := madeBefore(c, tab, 2)
	if !ok {
		return 0, 0, false
	}
	return fds[0], fds[1], true
}

// copyOutFDPair writes fds a and b, a pipe's or a socketpair's, to the
// application's int[2] at addr. made says the call made them now: if
// the write fails (EFAULT), they are closed again, as Linux's do_pipe2
// never installs them.
func copyOutFDPair(c *kernel.Task, tab *fdtable.Table, addr uint64, a, b int32, made bool) error {
	var out [8]byte
	binary.LittleEndian.PutUint32(out[0:], uint32(a))
	binary.LittleEndian.PutUint32(out[4:], uint32(b))
	err := c.Mem.CopyOut(addr, out[:])
	if err != nil && made {
		for _, fd := range []int32{a, b} {
			if f, err := tab.Remove(fd); err == nil {
				f.DecRef()
			}
		}
	}
	return err
}

// acceptedBefore is FDMadeBefore of an accept: a connection the dead
// server accepted, its fd restored, is not taken from the queue again (a
// second connection, or a wait for one that already came). The peer's
// address goes to the caller's sockaddr as the first run wrote it, read
// from the connection now (getpeername's); a peer gone since leaves it
// unwritten.
func acceptedBefore(c *kernel.Task) (int64, bool) {
	if !c.Resent() {
		return 0, false
	}
	fd, ok := oneFDMadeBefore(c)
	if !ok {
		return 0, false
	}
	if c.Args[1] != 0 && c.Args[2] != 0 {
		_, _ = sockName(c, fd, true) // best effort (above)
	}
	return int64(fd), true
}
