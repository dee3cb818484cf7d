package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Idle leases (docs/ARCHITECTURE.md, "Idle epolls on the client"): a Go
// program's scheduler asks its epoll instance with a zero timeout
// whenever a thread runs out of work (thousands of times in a go build),
// and the answer is mostly that nothing is ready. The server grants an
// IdleLease with such an answer when every interest is a pipe or an
// eventfd, whose readiness changes only by calls (the client's own, or
// the server's ending a process): the lease ends when one of the
// readiness channels it took closes, which the call making the change
// does, and its revocation (readlease's PollIdle, before every message
// to the client) reaches the client before that call's reply. Sockets,
// timers, terminals and the rest change by time or by the world outside:
// an epoll watching one is never leased.

// idleLeaseKind says whether a watched description may be under an idle
// lease: a pipe's end or an eventfd.
func idleLeaseKind(f *fdesc.File) bool {
	switch f.Impl.(type) {
	case *kernel.PipeEnd, *eventfd.File:
		return true
	}
	return false
}

// grantIdleLease adds an IdleLease to the reply of c, an epoll_wait or
// epoll_pwait with a zero timeout that returned ret events, when it found
// none and its instance may be leased (above).
func grantIdleLease(k *kernel.Kernel, c *kernel.Task, ret int64) {
	h := k.LeaseHolder
	if h == nil || c.Reply == nil || ret != 0 || int32(c.Args[3]) != 0 ||
		(c.Sysno != unix.SYS_EPOLL_WAIT && c.Sysno != unix.SYS_EPOLL_PWAIT) {
		return
	}
	f, err := c.GetFile(int32(c.Args[0]))
	if err != nil {
		return
	}
	defer f.DecRef()
	ep, ok := f.Impl.(*epoll.File)
	if !ok {
		return
	}
	chs, idle := ep.IdleWatch(func(f *fdesc.File) (uint32, <-chan struct{}) { return kernel.ReadinessFor(c.Thread, f) }, idleLeaseKind)
	if !idle {
		return
	}
	ttl := k.ReadLeases.TTL()
	id, epoch, ok := h.GrantIdle(ep, chs, ttl)
	if !ok {
		return
	}
	c.Reply.IdleLease = &sentrypb.IdleLease{Id: id, Epoch: epoch, TtlMs: uint32(ttl.Milliseconds())}
}
