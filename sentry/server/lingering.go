package server

import (
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Lingering posted replies (docs/ARCHITECTURE.md, "Posted calls in
// batches"). A batch's replies are held while its thread has a next call
// queued (posted.go); the batch's last one used to go at once, in a
// message of its own. tar's member after its creation (a leased copy,
// close, the opens and closes of /etc/passwd and /etc/group, chown, chmod,
// utimensat) is such a batch, and nothing of the client waits for its
// replies: they may ride in the next message the server sends anyway (the
// next member's creation's reply, which the client waits for), a message
// less a file each way's wake-up. So the client marks the posted calls
// whose replies it never waits for (Syscall.reply_can_wait: no client
// thread blocks on them; a call that must see their effects is waited,
// and its reply carries them) and bounds how long they may wait
// (Hello.posted_reply_linger_us): the replies of a batch that ends with
// all its held replies so marked, each a success that ends no thread and
// brings no pages, stay held (CanLinger). Any message to the client takes
// them along (sendRawLocked: a reply, a push, a heartbeat's answer, a
// channel reply); else the linger timer sends them, armed when a batch
// ends lingering and stopped when they go. A reply the client may wait
// for (a creation's, a pipe write's room, a failure) sends them all with
// it. So a posted call stays in flight on the client (and retained in its
// log for a recovery to re-send) at most the linger longer, and what the
// client's records fold is unchanged: replies and the batch's records
// still travel together.

// maxLinger bounds Hello.posted_reply_linger_us: a heartbeat interval,
// whose answer would take the replies along anyway.
const maxLinger = 100 * time.Millisecond

// lingerOf is the linger a client asks for in its Hello, bounded.
func lingerOf(hello *sentrypb.Hello) time.Duration {
	return min(time.Duration(hello.GetPostedReplyLingerUs())*time.Microsecond, maxLinger)
}

// replyCanWait says the client never waits for call's reply.
func replyCanWait(call *sentrypb.Call) bool {
	return call.GetSyscall().GetReplyCanWait()
}

// mayLinger says r, a posted call's reply, may linger if the client lets
// it: a success that ends no thread (an exit action the client must act
// on) and brings no pages of a mapping (a write's change another process
// maps, which the client applies on arrival).
func mayLinger(r *sentrypb.Reply) bool {
	return r.Errno == 0 && r.Action == nil && len(r.Mapped) == 0
}

// heldLocked follows the holding of a posted reply of a call the client
// lets wait (canWait) or not; linger says it was the batch's last one and
// the held replies linger. Precondition: st.sendMu is held.
func (st *clientStream) heldLocked(canWait, linger bool) {
	if !canWait {
		st.postedHeld.MarkUrgent()
	}
	if linger {
		st.lingerLocked()
	}
}

// lingerLocked arms the linger timer, unless it runs: the held replies
// go at the latest st.linger after the first batch that ended lingering.
// Precondition: st.sendMu is held.
func (st *clientStream) lingerLocked() {
	if st.lingerArmed {
		return
	}
	st.lingerArmed = true
	if st.lingerTimer == nil {
		st.lingerTimer = time.AfterFunc(st.linger, st.lingerEnded)
		return
	}
	st.lingerTimer.Reset(st.linger)
}

// lingerEnded sends the lingering replies, if no message took them.
func (st *clientStream) lingerEnded() {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if !st.lingerArmed {
		// Stopped too late: a message took them.
		return
	}
	st.lingerArmed = false
	if st.postedHeld.Len() == 0 || st.send == nil || st.channelFollows {
		// A channel call's reply takes them (channelReplyLocked).
		return
	}
	st.lingerSends.Add(1)
	st.sendLeaseRevokesLocked()
	if err := st.sendHeldLocked(); err != nil {
		st.log.Debug("posted replies dropped", "err", err)
	}
}

// heldGoneLocked stops the linger timer: the held replies are going (or
// were dropped with their stream). Precondition: st.sendMu is held.
func (st *clientStream) heldGoneLocked() {
	if st.lingerArmed {
		st.lingerArmed = false
		st.lingerTimer.Stop()
	}
}

// Blocking (kernel.Sender) sends the posted replies held for a call
// channel's reply (channelFollows) now, and holds no more for it. That
// reply may be the blocking call's own (a pipe read of cat's, carried
// by the channel with find's posted calls before it), which comes only
// when another thread's call wakes it; the thread whose posted replies
// are held may be waiting for one without sending anything (a
// getdents64 waiting for the listing ahead its posted call asked for:
// sentry/client/dirahead.go), and would wait until the client's own
// deadline. Replies the client lets wait linger as usual.
func (st *clientStream) Blocking() {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if !st.channelFollows {
		return
	}
	st.channelFollows = false
	st.flushHeldLocked()
}
