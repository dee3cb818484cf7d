package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// epoll instances are package fsimpl/epoll; here are their calls, which
// check each interest's readiness for the calling thread (kernel.ReadinessFor: a
// signalfd's depends on it).

// epollReadiness is the readiness of the files an epoll of thread t
// watches, for t's wait (nil: none).
func epollReadiness(t *kernel.Thread) epoll.Readiness {
	return func(f *fdesc.File) (uint32, <-chan struct{}) { return kernel.ReadinessFor(t, f) }
}

// EpollCreate implements epoll_create and epoll_create1.
func EpollCreate(c *kernel.Task) (int64, error) {
	var flags uint32
	if c.Sysno == unix.SYS_EPOLL_CREATE1 {
		flags = uint32(c.Args[0])
		if flags&^unix.EPOLL_CLOEXEC != 0 {
			return 0, unix.EINVAL
		}
	} else if int32(c.Args[0]) <= 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(epoll.New(0), 0, flags&unix.EPOLL_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}

// EpollCtl implements epoll_ctl.
func EpollCtl(c *kernel.Task) (int64, error) {
	op, fd := int(c.Args[1]), ArgInt(c, 2)
	// Linux's order: the event is copied in first, then both fds are
	// found, then the target must be pollable, and only then is the
	// epoll fd's kind looked at (a regular file is EPERM whatever the
	// epoll fd or the op).
	var events uint32
	var data uint64
	if op != unix.EPOLL_CTL_DEL {
		b, err := c.Mem.CopyIn(c.Args[3], epoll.EventSize)
		if err != nil {
			return 0, err
		}
		events = binary.LittleEndian.Uint32(b)
		data = binary.LittleEndian.Uint64(b[4:])
	}
	epf, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	tf, err := c.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer tf.DecRef()
	if epf.IsPath() || tf.IsPath() {
		// An O_PATH descriptor is for the path only (Linux's fdget
		// refuses it).
		return 0, unix.EBADF
	}
	if pf, ok := tf.Impl.(*synth.ProcFile); !tf.Impl.Stream() && (!ok || !pf.PollsMounts()) {
		// Regular files and directories are always ready: Linux refuses
		// them (but /proc/<pid>/mounts, which polls mount changes).
		return 0, unix.EPERM
	}
	ep, ok := epf.Impl.(*epoll.File)
	if !ok || epf == tf {
		return 0, unix.EINVAL
	}
	if err := ep.Ctl(epollReadiness(c.Thread), op, tf, fd, events, data); err != nil {
		return 0, err
	}
	epf.Changed()
	return 0, nil
}

// EpollWait implements epoll_wait, epoll_pwait and epoll_pwait2 (whose
// timeout is a timespec). The signal mask of the p variants is the
// client's: it installs it around the forwarded wait.
func EpollWait(c *kernel.Task) (int64, error) {
	maxEv, timeout := int(int32(c.Args[2])), int(int32(c.Args[3]))
	var d time.Duration
	if c.Sysno == unix.SYS_EPOLL_PWAIT2 {
		timeout = -1
		if c.Args[3] != 0 {
			b, err := c.Mem.CopyIn(c.Args[3], 16)
			if err != nil {
				return 0, err
			}
			if d, err = readTimespec(b); err != nil {
				return 0, err
			}
			timeout = 1
			if d == 0 {
				timeout = 0
			}
		}
	} else if timeout > 0 {
		d = time.Duration(timeout) * time.Millisecond
	}
	// The fd before maxevents, as Linux 6.18's do_epoll_wait.
	epf, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	ep, ok := epf.Impl.(*epoll.File)
	if !ok || maxEv <= 0 || maxEv > epoll.MaxEvents {
		return 0, unix.EINVAL
	}
	if c.Args[1] == 0 {
		return 0, unix.EFAULT
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(d)
	}
	for {
		evs, chs, disabled := ep.Collect(epollReadiness(c.Thread), maxEv, true)
		if len(evs) > 0 {
			b := make([]byte, epoll.EventSize*len(evs))
			for i, e := range evs {
				binary.LittleEndian.PutUint32(b[epoll.EventSize*i:], e.Events)
				binary.LittleEndian.PutUint64(b[epoll.EventSize*i+4:], e.Data)
			}
			if err := c.Mem.CopyOut(c.Args[1], b); err != nil {
				return 0, err
			}
			if disabled {
				epf.Changed() // a one-shot interest is now off
			}
			return int64(len(evs)), nil
		}
		if timeout == 0 {
			return 0, nil
		}
		if err := waitAny(c, chs, deadline); err != nil {
			if err == unix.ETIMEDOUT {
				return 0, nil
			}
			return 0, err
		}
	}
}
