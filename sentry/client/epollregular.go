package client

import "golang.org/x/sys/unix"

// epoll_ctl of a regular file, answered on the client.
//
// A regular file cannot be polled (nor a directory, a memfd or /dev/null:
// unpollable), and Linux's epoll_ctl says so (EPERM)
// before it looks at the epoll fd's kind or the op: after copying the
// event in (EFAULT; not for EPOLL_CTL_DEL) and finding both fds open
// (EBADF). Go's os.Open registers every file it opens with its poller
// and takes that EPERM as "not pollable": a round trip to the server per
// file a Go program opens (6,136 in a go build of hello world). The
// client knows which descriptions are regular files (their records,
// FileState.regular, or the posted open that made them: pipeFile) and,
// for a table no other process shares, which fds are open, as the
// server would at this point of the calls' order (fdflags.go's F_GETFL
// rests on the same copy). epoll_ctl changes nothing then, so nothing
// is sent.

// epollCtlOnClient answers epoll_ctl(epfd, op, fd, event) with EPERM if
// fd names an unpollable description and epfd is open in t's table,
// which no other process shares, neither of them O_PATH; false: the
// server answers.
func (t *task) epollCtlOnClient(args [6]uint64) (unix.Errno, bool) {
	epfd, op, fd := int32(args[0]), int32(args[1]), int32(args[2])
	if op != unix.EPOLL_CTL_DEL {
		// struct epoll_event (packed on x86-64): the server answers
		// an unreadable one (EFAULT).
		var ev [12]byte
		if t.copyIn(args[3], ev[:]) != 0 {
			return 0, false
		}
	}
	// Both descriptions known and neither O_PATH (Linux's fdget
	// refuses an O_PATH fd: EBADF, the server's answer).
	epDesc, ok := t.c.ids.soleFD(t.proc.pid, epfd)
	if !ok {
		return 0, false
	}
	if ep, known := t.c.pipe.fileOf(epDesc); !known || ep.flags&unix.O_PATH != 0 {
		return 0, false
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return 0, false
	}
	if f, known := t.c.pipe.fileOf(desc); !known || !f.unpollable() || f.flags&unix.O_PATH != 0 {
		return 0, false
	}
	t.cached = true
	return unix.EPERM, true
}

// unpollable says the server's epoll_ctl refuses description f (EPERM,
// as Linux's: its file cannot be polled) and an F_SETFL changing only
// its O_NONBLOCK changes nothing another call sees but F_GETFL: a gofer
// file's (a regular file, a directory, a memfd) or the sentry's
// /dev/null. Go's os.Open asks both of each directory it lists and
// os/exec of the /dev/null it gives a command as stdin.
func (f pipeFile) unpollable() bool { return f.regular || f.gofer || f.devNull }
