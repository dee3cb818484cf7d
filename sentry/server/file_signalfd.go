package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// A signalfd (package fsimpl/signalfd) is the server's descriptor and
// mask over the client's pending signals:
//
//   - read: the server answers with a SignalfdRead action carrying the
//     mask (SignalfdRead); the client dequeues from the calling thread's
//     pending queue (waiting, interruptibly, unless O_NONBLOCK) and
//     writes the signalfd_siginfo records.
//   - poll, select, epoll_wait: the wait call carries the thread's
//     pending set and a call number (Syscall.pending_signals, call_gen);
//     a signal queued on the client while the wait runs, masked so that
//     it stays pending, is reported by a SignalsPending message. The
//     signalfd is readable for that wait when the set meets its mask.
//   - routing: a signal whose disposition is the default is dropped (or
//     kills) on the server; one that a signalfd of the target process
//     watches is pushed to the client instead, where it stays pending if
//     blocked (SignalfdWantsLocked); a signal sent to the process goes
//     to the thread that last read or waited on such a signalfd.

// SignalfdRead is k's signalfd.Reader: the client answers call c, a
// read of a signalfd with mask.
func (kp *kernelPorts) SignalfdRead(c fdesc.Call, mask uint64, nonblock bool) int32 {
	sc := kernel.TaskFromCall(c)
	if sc == nil || sc.Thread == nil || sc.Reply == nil {
		// Not a system call of a thread: nothing to answer.
		return 0
	}
	sc.Reply.Action = &sentrypb.Reply_SignalfdRead{SignalfdRead: &sentrypb.SignalfdRead{Mask: mask, Nonblock: nonblock}}
	return sc.Thread.TID
}

// signalsPending handles a SignalsPending message.
func signalsPending(k *clientState, m *sentrypb.SignalsPending) {
	k.Mu.Lock()
	t := k.Threads[m.Tid]
	k.Mu.Unlock()
	if t != nil && m.CallGen != 0 {
		t.SigWait.Update(m.CallGen, m.Pending)
	}
}

// sysSignalfd is signalfd(fd, mask, sizemask) and signalfd4(..., flags):
// fd -1 makes a signalfd, an existing signalfd's fd changes its mask.
func sysSignalfd(c *syscallCtx) (int64, error) {
	fd := argInt(c, 0)
	var flags uint32
	if c.Sysno == unix.SYS_SIGNALFD4 {
		flags = uint32(c.Args[3])
	}
	if flags&^(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK) != 0 || c.Args[2] != linux.SignalSetSize {
		return 0, unix.EINVAL
	}
	b, err := c.Mem.CopyIn(c.Args[1], linux.SignalSetSize)
	if err != nil {
		return 0, err
	}
	mask := binary.LittleEndian.Uint64(b) &^ signalfd.Unblockable
	if fd != -1 {
		f, err := c.GetFile(fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		s, ok := f.Impl.(*signalfd.File)
		if !ok {
			return 0, unix.EINVAL
		}
		s.SetMask(mask)
		f.Changed()
		return int64(fd), nil
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	nfd, err := tab.Install(signalfd.New(ports(c.Kernel), mask, flags), 0, flags&unix.SFD_CLOEXEC != 0)
	return int64(nfd), err
}
