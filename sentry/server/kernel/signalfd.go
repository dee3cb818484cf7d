package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
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

// SignalfdClient is every signalfd's signalfd.Reader: the client answers
// call c, a read of a signalfd with mask.
type SignalfdClient struct{}

// SignalfdRead asks the client to answer c with a SignalfdRead action and
// returns the calling thread's id.
func (SignalfdClient) SignalfdRead(c fdesc.Call, mask uint64, nonblock bool) int32 {
	sc := TaskFromCall(c)
	if sc == nil || sc.Thread == nil || sc.Reply == nil {
		// Not a system call of a thread: nothing to answer.
		return 0
	}
	sc.Reply.Action = &sentrypb.Reply_SignalfdRead{SignalfdRead: &sentrypb.SignalfdRead{Mask: mask, Nonblock: nonblock}}
	return sc.Thread.TID
}

// SignalsPending handles a SignalsPending message: the pending set of
// thread m.Tid's wait call m.CallGen grew.
func (k *Kernel) SignalsPending(m *sentrypb.SignalsPending) {
	k.Mu.Lock()
	t := k.Threads[m.Tid]
	k.Mu.Unlock()
	if t != nil && m.CallGen != 0 {
		t.SigWait.Update(m.CallGen, m.Pending)
	}
}
