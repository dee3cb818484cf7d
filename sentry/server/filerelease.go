package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// FileRelease (docs/ARCHITECTURE.md, "Exec and file pages").
//
// The client releases a mapped file's ids once nothing of it maps the
// file (mostly at a process's exit), and nothing it tells the
// application depends on the reply: it posts the release
// (FileRelease.posted). What the release changes is visible to other
// calls (an unlink of a file still mapped is renamed aside, a shared
// writable mapping makes execve ETXTBSY, a mapped file keeps its mount
// busy), so a posted release is ordered as a posted system call is: the
// waited calls that came after it run once it finished
// (awaitPostedLocked).
//
// A release is not idempotent (each drops one reference of its ids), and
// a recovery re-sends it unless its reply came: so no message may carry
// the records of what it changed before its reply. The references are
// dropped and the reply sent under the stream's send lock
// (clientStream.replyAfter), which the records of every message are
// taken under; the descriptions it released are dropped after (their
// DecRef may reach the gofer).

// enqueueFileRelease runs the FileRelease call on a goroutine of its own
// (its descriptions' DecRef may reach the gofer), after noting a posted
// one for the calls that must wait for it.
func (c *client) enqueueFileRelease(call *sentrypb.Call) {
	k := c.k
	posted := call.GetFileRelease().GetPosted()
	k.Mu.Lock()
	if k.Destroyed {
		k.Mu.Unlock()
		return
	}
	k.Workers.Add(1)
	if posted {
		c.notePostedLocked(call.Seq, call.Tid)
	}
	k.Mu.Unlock()
	go func() {
		defer k.Workers.Done()
		c.fileRelease(call)
		if posted {
			k.Mu.Lock()
			c.postedFinishedLocked(call.Seq)
			k.Mu.Unlock()
		}
	}()
}

// fileRelease drops a reference of each id call releases and replies,
// with the ids' records (see above).
func (c *client) fileRelease(call *sentrypb.Call) {
	var drop []*fdesc.File
	c.stream.replyAfter(&sentrypb.Reply{Seq: call.Seq}, func() {
		drop = c.k.Maps.Drop(call.GetFileRelease().GetFileIds())
	})
	for _, f := range drop {
		f.DecRef()
	}
}

// replyAfter calls apply, then sends r with the records changed since
// the last message (its own included), under sendMu: no other message
// takes the records of what apply changed before r. apply runs even with
// no stream attached (the client re-sends the call, if it comes back, to
// the state a Restore rebuilds). apply must take no lock above sendMu:
// leaves only.
func (st *clientStream) replyAfter(r *sentrypb.Reply, apply func()) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	apply()
	if st.send == nil {
		return
	}
	st.leaseRevokesLocked(r)
	if err := st.sendWithStateLocked(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		st.log.Debug("reply dropped", "seq", r.Seq, "err", err)
	}
}
