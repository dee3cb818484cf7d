package server

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Posted calls (docs/COMPATIBILITY.md, "Pipelined calls").
//
// The client sends some calls without waiting for their replies
// (Syscall.posted): it told the application their result already. Three
// rules make that invisible:
//
//   - Order. A thread's calls run in order on its worker, so its next
//     call sees a posted call's effect. A call another thread waits on
//     runs only once every posted call that arrived before it (a lower
//     seq: the client sends in seq order) has finished, so a process
//     told of a write through shared memory, not a system call, still
//     reads the written bytes (awaitPostedLocked). Inline calls read no
//     file state and do not wait.
//   - Interrupts are for the call the thread waits on: a posted call in
//     flight passes an Interrupt on to the thread's next call.
//   - Errors. A posted write that fails or writes fewer bytes than asked
//     (ENOSPC, EDQUOT, EFBIG, EIO...) keeps its errno on the open file
//     description (fdesc.File.WBErr; EIO for a short count); later posted
//     writes of the description then fail with it too, without writing,
//     and the next fsync, fdatasync, waited write-family call or close
//     of the description returns it, once (a close still closes), as
//     NFS reports an asynchronous write's error.

// isPosted reports whether call is a posted system call.
func isPosted(call *sentrypb.Call) bool {
	sc, ok := call.Op.(*sentrypb.Call_Syscall)
	return ok && sc.Syscall.GetPosted()
}

// notePostedLocked records that the posted call seq arrived.
// Precondition: c.k.mu is held.
func (c *client) notePostedLocked(seq uint64) {
	if c.postedOut == nil {
		c.postedOut = make(map[uint64]struct{})
	}
	if c.postedDone == nil {
		c.postedDone = sync.NewCond(&c.k.mu)
	}
	c.postedOut[seq] = struct{}{}
}

// postedFinishedLocked records that the posted call seq finished.
// Precondition: c.k.mu is held.
func (c *client) postedFinishedLocked(seq uint64) {
	delete(c.postedOut, seq)
	c.postedDone.Broadcast()
}

// awaitPostedLocked waits until no posted call below seq is unfinished,
// or the client is destroyed. Precondition: c.k.mu is held (released
// while waiting).
func (c *client) awaitPostedLocked(seq uint64) {
	for !c.k.destroyed && c.postedBelowLocked(seq) {
		c.postedDone.Wait()
	}
}

func (c *client) postedBelowLocked(seq uint64) bool {
	for s := range c.postedOut {
		if s < seq {
			return true
		}
	}
	return false
}

// writeBehindCalls are the calls the client may post as a write behind:
// their count is what the application was told.
var writeBehindCalls = map[int32]bool{unix.SYS_WRITE: true, unix.SYS_PWRITE64: true, unix.SYS_WRITEV: true, unix.SYS_PWRITEV: true}

// requested is the count a write-family call asks for (clipped as its
// handler clips it), -1 if its arguments are bad (it fails anyway).
func (c *syscallCtx) requested() int64 {
	switch c.sysno {
	case unix.SYS_WRITEV, unix.SYS_PWRITEV:
		_, total, err := c.iovecs()
		if err != nil {
			return -1
		}
		return int64(total)
	}
	return int64(min(c.args[2], maxRW))
}

// reportsWriteError are the calls that return a description's kept
// write-behind error.
var reportsWriteError = map[int32]bool{
	unix.SYS_WRITE: true, unix.SYS_PWRITE64: true, unix.SYS_WRITEV: true, unix.SYS_PWRITEV: true, unix.SYS_PWRITEV2: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_CLOSE: true,
}

// runReportingDeferred runs h for c under the error rule above. skipped
// says h did not run: the call's result is the description's kept error.
func (k *clientState) runReportingDeferred(h handler, c *syscallCtx, posted bool) (ret int64, skipped bool, err error) {
	if !reportsWriteError[c.sysno] {
		return k.runHandlerPosted(h, c, posted)
	}
	f, ferr := c.getFile(c.argInt(0))
	if ferr != nil {
		return k.runHandlerPosted(h, c, posted)
	}
	defer f.DecRef()
	kept := unix.Errno(f.WBErr.Load())
	switch {
	case kept == 0:
		ret, err = k.runHandler(h, c)
		if posted && writeBehindCalls[c.sysno] && (err != nil || ret < c.requested()) {
			e := unix.EIO
			if err != nil {
				e = syserr.ErrnoOf(err)
			}
			f.WBErr.CompareAndSwap(0, int32(e))
			k.log.Warn("a write behind failed; the next fsync, fdatasync, write or close of the file reports it",
				"errno", e.Error(), "written", ret, "of", c.args[2])
		}
		return ret, false, err
	case posted && writeBehindCalls[c.sysno]:
		// A later write behind of a failed description does not write.
		return 0, true, kept
	case c.sysno == unix.SYS_CLOSE:
		// The fd is closed all the same. (The client waits for a close
		// while writes behind of the description are unanswered; a
		// posted one that finds an error can only log it.)
		f.WBErr.CompareAndSwap(int32(kept), 0)
		ret, err = k.runHandler(h, c)
		if err == nil {
			err = kept
		}
		if posted {
			k.log.Warn("a posted close found a write behind's error", "errno", kept.Error())
		}
		return ret, false, err
	case posted:
		// Not a call the client posts (fsync, fdatasync).
		return k.runHandlerPosted(h, c, posted)
	default:
		f.WBErr.CompareAndSwap(int32(kept), 0)
		return 0, true, kept
	}
}

// runHandlerPosted runs h; a posted call that fails is logged (the
// client told the application it succeeded).
func (k *clientState) runHandlerPosted(h handler, c *syscallCtx, posted bool) (int64, bool, error) {
	ret, err := k.runHandler(h, c)
	if posted && err != nil {
		k.log.Warn("a posted call failed after the application was told it succeeded", "name", sysName(c.sysno), "err", err)
	}
	return ret, false, err
}

// Posted replies in batches (package postbatch). A posted call's reply
// is held while the thread has a next call queued that came on the
// socket (a posted one, or a waited one whose reply will carry it) or,
// for a client that takes them there (FeatureChannelPosted), on a call
// channel, and rides in front of the next message sent to the client
// (any reply, push, heartbeat, a channel reply's posted_replies, or a
// batch alone when the run of posted calls ends), so a run of posted
// calls costs one socket write, and none when a channel call follows. A waited call that
// blocks holds them until the next message to the client: at the latest
// the answer to its next heartbeat; the client never waits for a posted
// reply without sending something. Every send attaches what
// is held (sendRawLocked), and a channel reply is stamped only after it
// was sent, so a held reply is "on the stream" for the ordering rules
// above: a call that waited for it goes out after it.

// replyPosted sends the reply of a posted call, or, for a client that
// takes batches, holds it with its state records for the next message
// when next, the thread's next queued call, came on the socket (see
// above), or on a call channel, or when a channel call is said to follow
// (clientStream.channelFollows), for a client that takes them in a
// channel reply.
func (st *clientStream) replyPosted(r *sentrypb.Reply, next *sentrypb.Call) {
	if !st.postBatch {
		st.reply(r)
		return
	}
	st.sendMu.Lock()
	if next == nil && !st.channelFollows {
		st.sendMu.Unlock()
		st.reply(r)
		return
	}
	defer st.sendMu.Unlock()
	if next != nil && st.hopRoutes[next.Seq] != nil && !st.channelPosted {
		// A call channel's call, whose reply goes on the channel: the
		// client takes posted replies only on the socket.
		st.sendPostedLocked(r)
		return
	}
	if st.send == nil {
		return
	}
	st.sendLeaseRevokesLocked()
	recs := st.records(r.Seq, true)
	r.State = append(r.State, recs...)
	if !st.postedHeld.Hold(r) {
		if err := st.sendRawLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
			st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
		}
	}
}

// sendPostedLocked sends r, a posted call's reply, now (with the held
// ones in front). Precondition: st.sendMu is held.
func (st *clientStream) sendPostedLocked(r *sentrypb.Reply) {
	if st.send == nil {
		return
	}
	st.sendLeaseRevokesLocked()
	if err := st.sendWithStateLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
	}
}

// sendRawLocked sends m as it is, with the held posted replies in front
// of it. Precondition: st.sendMu is held and a sender attached.
func (st *clientStream) sendRawLocked(m *sentrypb.ServerMessage) error {
	return st.send(st.postedHeld.Attach(m))
}
