package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Mapped fds (docs/ARCHITECTURE.md, "Mapped fds"): a client on this
// machine reads the pages of a file it maps through a host fd the server
// lends it, instead of a PageRead per window of the file. The client
// asks with its first PageRead of the file (PageRead.want_fd); the server
// lends when
//
//   - the client's stream is the framed wire on a Unix socket, the only
//     one that carries fds (so the client shares this machine);
//   - its peer is an operator (root, an operator uid, or a peer nothing
//     authenticated): an fd lets its holder fstat the file and, with the
//     host privileges such a peer has anyway, fchmod or fchown it, which a
//     peer confined to its own uid must not gain;
//   - the gofer donated a host fd of the mapped file's handle open for
//     reading alone (package donated; goferclient.GoferConn lends it,
//     Lend), so that the client cannot write the file around the server.
//
// The reply then carries the fd (Reply.host_fd, SCM_RIGHTS with its
// frame) and no bytes. The fd reads what a PageRead would: the host file
// the server's own reads go to, as the server's writes leave it.

// mayLendNow says whether a PageRead may lend a host fd on the client's
// stream now.
func (st *clientStream) mayLendNow() bool {
	if !st.mayLend {
		return false
	}
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.sendFDs != nil
}

// replyAux runs a call that is not a thread's system call and sends its
// reply, with the host fd it lent, if any.
func (c *client) replyAux(call *sentrypb.Call) {
	r, lent := c.execAux(call)
	if lent == nil {
		c.stream.reply(r)
		return
	}
	defer lent.Put()
	if !r.HostFd {
		// Failed after lending (a panic answered EIO).
		c.stream.reply(r)
		return
	}
	c.stream.replyWithFD(r, lent.HostFD())
}

// replyWithFD sends r, the reply of a socket call, with fd riding along.
// If the stream attached now cannot carry it (it changed since the call
// began), the reply is dropped: the client re-sends the calls whose
// replies a dead stream took with it.
func (st *clientStream) replyWithFD(r *sentrypb.Reply, fd int) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	st.leaseRevokesLocked(r)
	if st.hopRoutes[r.Seq] != nil {
		// A channel carries no fd: the PageRead came where no
		// client sends one.
		r.HostFd = false
		r.Errno = int32(unix.EINVAL)
		st.channelReplyLocked(r)
		return
	}
	if st.sendFDs == nil {
		st.log.Debug("reply with a host fd dropped: the stream cannot carry it", "seq", r.Seq)
		return
	}
	st.fdsNext = []int{fd}
	defer func() { st.fdsNext = nil }()
	if err := st.sendWithStateLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
	}
}
