package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
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
//     blocked (signalfdWantsLocked); a signal sent to the process goes
//     to the thread that last read or waited on such a signalfd.

// SignalfdRead is k's signalfd.Reader: the client answers call c, a
// read of a signalfd with mask.
func (kp *kernelPorts) SignalfdRead(c fdesc.Call, mask uint64, nonblock bool) int32 {
	sc := callOf(c)
	if sc == nil || sc.Thread == nil || sc.Reply == nil {
		// Not a system call of a thread: nothing to answer.
		return 0
	}
	sc.Reply.Action = &sentrypb.Reply_SignalfdRead{SignalfdRead: &sentrypb.SignalfdRead{Mask: mask, Nonblock: nonblock}}
	return sc.Thread.TID
}

// signalfdReadiness is signalfd s's readiness for a wait of thread t.
func signalfdReadiness(s *signalfd.File, t *thread) (uint32, <-chan struct{}) {
	pending, grown := t.SigWait.Get()
	ev, ch := s.ReadinessFor(t.TID, pending)
	if ev != 0 {
		return ev, nil
	}
	return 0, wake.Merge([]<-chan struct{}{grown, ch}, nil)
}

// readinessOf is f's readiness for a wait of thread t (nil: none known):
// a signalfd's depends on the waiting thread's pending signals.
func readinessOf(t *thread, f *file) (uint32, <-chan struct{}) {
	if s, ok := f.Impl.(*signalfd.File); ok && t != nil {
		return signalfdReadiness(s, t)
	}
	return f.Impl.Readiness(f)
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

// signalfdWantsLocked says a signalfd in p's fd table reads sig, so that
// a signal with the default disposition goes to the client (where it
// stays pending if blocked) rather than being dropped or killing p on
// the server. Stop signals keep their own path. Precondition: k.Mu held.
func signalfdWantsLocked(p *process, sig int) bool {
	wants, _ := signalfdReaderLocked(p, sig)
	return wants
}

// signalfdReaderLocked is signalfdWantsLocked, with the thread id that
// last read or waited on such a signalfd (0: none yet).
// Precondition: k.Mu held.
func signalfdReaderLocked(p *process, sig int) (bool, int32) {
	switch unix.Signal(sig) {
	case unix.SIGKILL, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false, 0
	}
	if p.FDs == nil {
		return false, 0
	}
	bit := uint64(1) << (sig - 1)
	wants, reader := false, int32(0)
	p.FDs.Each(func(_ int32, e fdEntry) {
		if s, ok := e.File.Impl.(*signalfd.File); ok && s.Mask()&bit != 0 {
			wants = true
			if r := s.LastReader(); r != 0 {
				reader = r
			}
		}
	})
	return wants, reader
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
		f, err := getFile(c, fd)
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
	tab, err := callFdTable(c)
	if err != nil {
		return 0, err
	}
	nfd, err := tab.Install(signalfd.New(ports(c.Kernel), mask, flags), 0, flags&unix.SFD_CLOEXEC != 0)
	return int64(nfd), err
}

// signalfdTargetLocked is the thread a signal for a signalfd goes to: the
// one it was sent to, or for a signal sent to the process the thread
// that reads the signalfd, if it is one of p's. Precondition: k.Mu held.
func signalfdTargetLocked(k *clientState, p *process, target *thread, reader int32) *thread {
	if target != nil || reader == 0 {
		return target
	}
	if t := k.Threads[reader]; t != nil && t.Proc == p && !t.Killed {
		return t
	}
	return nil
}
