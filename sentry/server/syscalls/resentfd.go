package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// fdMakers are the calls whose whole result is one fd they install and
// that write nothing else to the application's memory (accept, which
// writes the peer's address, is not one; pipe and socketpair, which
// write two fds, are not either). fcntl is one for F_DUPFD alone: no
// other command installs an fd, so FDOfCall finds none for them.
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
	if !fdMakers[c.Sysno] || c.InstallFD != nil || !c.Resent() {
		return 0, false
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, false
	}
	fd, ok := tab.FDOfCall(c.CallSeq)
	return int64(fd), ok
}
