package client

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// signalfd: the descriptor and its mask are the server's, the pending
// signals the client's. A read of a signalfd comes back with a
// SignalfdRead action and is finished here (signalfdRead); a wait call
// (poll, select, epoll) carries the thread's pending set, and a signal
// queued while it runs is reported (notePendingLocked), so that the
// server can tell whether a signalfd is readable for that thread.

// sigWaitCalls are the calls whose readiness may include a signalfd's.
var sigWaitCalls = map[int32]bool{
	unix.SYS_POLL: true, unix.SYS_PPOLL: true, unix.SYS_SELECT: true, unix.SYS_PSELECT6: true,
	unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true,
}

// markWaitCallLocked adds the pending set to a wait call about to be
// sent as call number t.callGen.
//
// Preconditions: t.mu is locked.
func (t *task) markWaitCallLocked(c *pb.Call) {
	sc := c.GetSyscall()
	if sc == nil || !sigWaitCalls[sc.Sysno] {
		return
	}
	sc.PendingSignals = uint64(t.pendingSetLocked())
	sc.CallGen = t.callGen
	t.sigWaitGen = t.callGen
}

// notePendingLocked tells the server the pending set grew while a wait
// call is in flight (a masked signal was queued: an unmasked one
// interrupts the call instead).
//
// Preconditions: t.mu is locked.
func (t *task) notePendingLocked() {
	if t.state != stateForwarding || t.sigWaitGen != t.callGen || t.killed {
		return
	}
	m := &pb.SignalsPending{Tid: t.tid, CallGen: t.callGen, Pending: uint64(t.pendingSetLocked())}
	go func() {
		// An error means the session is over; a recovery re-sends the
		// call with its own set and keeps this message queued.
		_ = t.c.conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_SignalsPending{SignalsPending: m}})
	}()
}

// maxSignalfdIovecs bounds a readv of a signalfd (UIO_MAXIOV).
const maxSignalfdIovecs = 1024

// signalfdRead finishes read or readv of a signalfd: it dequeues up to
// as many pending signals in r.Mask as the buffers hold records, waiting
// (interruptibly) for the first unless r.Nonblock.
func (t *task) signalfdRead(sysno uintptr, args [6]uint64, r *pb.SignalfdRead) (uint64, unix.Errno) {
	type span struct{ addr, n uint64 }
	var spans []span
	switch sysno {
	case unix.SYS_READ:
		spans = []span{{args[1], args[2]}}
	case unix.SYS_READV:
		if args[2] > maxSignalfdIovecs {
			return 0, unix.EINVAL
		}
		b := make([]byte, 16*args[2])
		if err := t.copyIn(args[1], b); err != 0 {
			return 0, err
		}
		for i := uint64(0); i < args[2]; i++ {
			spans = append(spans, span{le64(b[16*i:]), le64(b[16*i+8:])})
		}
	default:
		return 0, unix.EINVAL
	}
	var total uint64
	for _, s := range spans {
		total += s.n
	}
	max := int(min(total/sizeofSignalfdSiginfo, 1<<16))
	if max == 0 {
		return 0, unix.EINVAL
	}
	mask := linux.SignalSet(r.Mask) &^ unblockable
	sigs, errno := t.dequeueForSignalfd(mask, max, r.Nonblock)
	if errno != 0 {
		return 0, errno
	}
	out := make([]byte, 0, len(sigs)*sizeofSignalfdSiginfo)
	for i := range sigs {
		t.noteDequeued(&sigs[i].info)
		out = append(out, signalfdSiginfo(&sigs[i].info)...)
	}
	// Records go into the buffers in order, as a copy to an
	// IOSequence does.
	rest := out
	for _, s := range spans {
		if len(rest) == 0 {
			break
		}
		n := min(uint64(len(rest)), s.n)
		if n == 0 {
			continue
		}
		if err := t.copyOut(s.addr, rest[:n]); err != 0 {
			return 0, err
		}
		rest = rest[n:]
	}
	return uint64(len(out)), 0
}

// dequeueForSignalfd takes up to max pending signals in mask, waiting
// for one unless nonblock. A deliverable signal or a kill ends the wait
// with ERESTARTSYS (the read restarts after a SA_RESTART handler).
func (t *task) dequeueForSignalfd(mask linux.SignalSet, max int, nonblock bool) ([]queuedSignal, unix.Errno) {
	start := cpuNow()
	defer func() {
		t.waited(start)
		t.setState(stateKernel)
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		var sigs []queuedSignal
		for len(sigs) < max {
			qs, ok := t.dequeueLocked(^mask)
			if !ok {
				break
			}
			sigs = append(sigs, qs)
		}
		if len(sigs) > 0 {
			return sigs, 0
		}
		if nonblock {
			return nil, unix.EAGAIN
		}
		if t.killed || t.deliverableLocked() {
			return nil, errRestartSys
		}
		t.state = stateBlocked
		t.mu.Unlock()
		<-t.wake
		t.mu.Lock()
	}
}

// sizeofSignalfdSiginfo is sizeof(struct signalfd_siginfo).
const sizeofSignalfdSiginfo = 128

// signalfdSiginfo is the struct signalfd_siginfo of info, with the
// fields Linux's signalfd_copyinfo fills for its siginfo layout.
func signalfdSiginfo(info *linux.SignalInfo) []byte {
	out := linux.SignalfdSiginfo{Signo: uint32(info.Signo), Errno: info.Errno, Code: info.Code}
	switch siginfoLayout(linux.Signal(info.Signo), info.Code) {
	case silKill:
		out.PID, out.UID = uint32(info.PID()), uint32(info.UID())
	case silTimer:
		out.TID, out.Overrun = uint32(info.TimerID()), uint32(info.Overrun())
		out.Ptr, out.Int = info.Sigval(), int32(info.Sigval())
	case silPoll:
		out.Band, out.FD = uint32(info.Band()), int32(info.FD())
	case silFault:
		out.Addr = info.Addr()
	case silChld:
		out.PID, out.UID, out.Status = uint32(info.PID()), uint32(info.UID()), info.Status()
	case silRT:
		out.PID, out.UID = uint32(info.PID()), uint32(info.UID())
		out.Ptr, out.Int = info.Sigval(), int32(info.Sigval())
	}
	// Marshalled by hand: gVisor's SignalfdSiginfo pads to 130 bytes,
	// Linux's struct is 128.
	b := make([]byte, sizeofSignalfdSiginfo)
	le := binary.LittleEndian
	for i, v := range []uint32{out.Signo, uint32(out.Errno), uint32(out.Code), out.PID, out.UID, uint32(out.FD),
		out.TID, out.Band, out.Overrun, out.TrapNo, uint32(out.Status), uint32(out.Int)} {
		le.PutUint32(b[4*i:], v)
	}
	le.PutUint64(b[48:], out.Ptr)
	le.PutUint64(b[56:], out.UTime)
	le.PutUint64(b[64:], out.STime)
	le.PutUint64(b[72:], out.Addr)
	return b
}

type silLayout int

const (
	silKill silLayout = iota
	silTimer
	silPoll
	silFault
	silChld
	silRT
	silSys
)

// siginfoLayout is Linux's siginfo_layout: which union member of a
// siginfo with this signal and code is meaningful.
func siginfoLayout(sig linux.Signal, code int32) silLayout {
	const nsigpoll = 6
	if code > linux.SI_USER && code < linux.SI_KERNEL {
		switch sig {
		case linux.SIGILL, linux.SIGFPE, linux.SIGSEGV, linux.SIGBUS, linux.SIGTRAP:
			return silFault
		case linux.SIGCHLD:
			return silChld
		case linux.SIGPOLL:
			return silPoll
		case linux.SIGSYS:
			return silSys
		}
		if code <= nsigpoll {
			return silPoll
		}
		return silKill
	}
	switch {
	case code == linux.SI_TIMER:
		return silTimer
	case code == linux.SI_SIGIO:
		return silPoll
	case code < 0:
		return silRT
	}
	return silKill
}
