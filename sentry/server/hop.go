package server

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/seqguard"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Call channels (transport/hop.go): the glue between a session's channels
// and the thread queues. A call that came over a channel runs like one
// from the socket (admitted by seq, queued on its thread after the
// thread's earlier calls, posted ones included, which the transport
// waited for); its reply is routed back to the channel's goroutine
// (hopRoutes), with the state records collected and the reply stamped
// under sendMu, so that it takes its place among the socket's messages.

// hopRoute is where the reply of a channel call goes.
type hopRoute struct {
	// stamp places the reply among the session's messages.
	stamp func() transport.HopStamp
	// ch gets the reply (capacity 1).
	ch chan hopResult
}

type hopResult struct {
	r  *sentrypb.Reply
	st transport.HopStamp
}

// lockedSeqs is a session's seqGuard, shared by its socket reader and its
// channels' goroutines.
type lockedSeqs struct {
	mu   sync.Mutex
	seqs seqguard.Guard
}

func (l *lockedSeqs) admit(call *sentrypb.Call) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seqs.Admit(call)
}

// openChannel answers a ChannelOpen on sess.
func (c *client) openChannel(sess *session, m *sentrypb.ChannelOpen) {
	hs, ok := sess.stream.(transport.HopServer)
	if !ok {
		// A gRPC stream: the client falls back to the socket, as it does
		// for a refusal.
		c.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_ChannelGrant{ChannelGrant: &sentrypb.ChannelGrant{Id: m.GetId(), Refused: "no channels on this wire"}}})
		return
	}
	// One call at a time per channel: its route back is reused.
	route := &hopRoute{stamp: hs.StampReply, ch: make(chan hopResult, 1)}
	err := hs.OpenChannel(m.GetId(), func(call *sentrypb.Call, posted []*sentrypb.Call, queued func()) (*sentrypb.Reply, transport.HopStamp, bool) {
		return c.hopCall(sess, hs, route, call, posted, queued)
	})
	if err != nil {
		c.k.Log.Debug("call channel not granted", "err", err)
	}
}

// hopCall runs a call that came over a channel of sess, after the posted
// calls it carried, and returns its reply (transport.HopHandler); route
// is the channel's, used by one call at a time.
func (c *client) hopCall(sess *session, hs transport.HopServer, route *hopRoute, call *sentrypb.Call, posted []*sentrypb.Call, queued func()) (*sentrypb.Reply, transport.HopStamp, bool) {
	sess.heard.Store(time.Now().UnixNano())
	// The posted calls, queued as a socket frame's (session.go), but for
	// the worker of the call's own thread: this goroutine runs it, the
	// posted calls then the call, as it runs a call alone (enqueueCall).
	var mine *postedWorker
	if len(posted) > 0 {
		if c.stream.channelPosted {
			c.stream.sendMu.Lock()
			c.stream.channelFollows = true
			c.stream.sendMu.Unlock()
		}
		start, _ := c.queuePostedBatch(sess, posted)
		for i, w := range start {
			if w.t.TID == call.Tid {
				mine = &start[i]
				start = append(start[:i:i], start[i+1:]...)
				break
			}
		}
		c.startPostedWorkers(start)
	}
	queued()
	if err := sess.seqs.admit(call); err != nil || call.GetSyscall() == nil || call.Tid == 0 {
		// Only a thread's system calls use channels.
		if mine != nil {
			c.startPostedWorkers([]postedWorker{*mine})
		}
		c.k.Log.Warn("refused a call on a channel", "seq", call.Seq, "err", err)
		c.stream.sendMu.Lock()
		st := hs.StampReply()
		c.stream.sendMu.Unlock()
		return &sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.EINVAL)}, st, true
	}
	observeClocks(c.k.Clocks, call.GetSyscall().GetClocks())
	c.stream.sendMu.Lock()
	if c.stream.hopRoutes == nil {
		c.stream.hopRoutes = make(map[uint64]*hopRoute)
	}
	c.stream.hopRoutes[call.Seq] = route
	c.stream.sendMu.Unlock()
	if mine != nil {
		// The thread is marked running: the call joins its queue.
		c.enqueueCall(call, false)
		c.counts.here.Add(1)
		c.threadWorker(mine.t, mine.tc, true)
	} else {
		c.enqueueCall(call, true)
	}
	select {
	case res := <-route.ch:
		return res.r, res.st, true
	case <-c.k.Done:
		c.stream.sendMu.Lock()
		delete(c.stream.hopRoutes, call.Seq)
		c.stream.sendMu.Unlock()
		// A reply stamped already must still go: the client folds the
		// messages after it only once it has.
		select {
		case res := <-route.ch:
			return res.r, res.st, true
		default:
			return nil, transport.HopStamp{}, false
		}
	}
}

// channelReplyLocked hands r to its call channel if it is the reply of a
// channel call, after the messages sent before it: the held posted
// replies among them, in it for a client that takes them there, else on
// the socket. Precondition: st.sendMu is held.
func (st *clientStream) channelReplyLocked(r *sentrypb.Reply) bool {
	if len(st.hopRoutes) == 0 || st.hopRoutes[r.Seq] == nil {
		return false
	}
	if st.channelPosted {
		// The batch's records go with r (hopReplyLocked), folded
		// after these.
		st.postedHeld.TakeInto(r)
		st.heldGoneLocked()
		st.channelFollows = false
	} else if st.postedHeld.Len() > 0 && st.send != nil {
		if err := st.sendHeldLocked(); err != nil {
			st.log.Debug("posted replies dropped", "err", err)
		}
	}
	return st.hopReplyLocked(r)
}

// hopReplyLocked hands the reply of a channel call to its channel, with
// the state changed since the last message, stamped in order, and
// reports whether r was such a reply. Precondition: st.sendMu is held.
func (st *clientStream) hopReplyLocked(r *sentrypb.Reply) bool {
	route := st.hopRoutes[r.Seq]
	if route == nil {
		return false
	}
	delete(st.hopRoutes, r.Seq)
	recs := st.records(r.Seq, true)
	r.State = withRecords(r.State, recs)
	route.ch <- hopResult{r: r, st: route.stamp()}
	return true
}
