package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ktimer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/postbatch"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// session is one Session stream. It only carries messages: the client
// (its front, client, and its kernel.Kernel) may outlive the
// stream.
type session struct {
	stream sentrypb.Sentry_SessionServer
	// sendMu serializes stream.Send (gRPC streams allow one sender).
	sendMu sync.Mutex
	// heard is when the client last sent anything (Unix nanoseconds),
	// for the silent-client watchdog in Server.Session.
	heard atomic.Int64
	// seqs admits the calls of the socket and of the call channels.
	seqs lockedSeqs
	// lingering is set once a Goodbye of a client with a sandbox
	// network started its linger. Only the goroutine reading the
	// session uses it (readLoop; the reading passes from one to the
	// next with a goroutine start).
	lingering bool
	// ended is closed when the session ended (end), for a stream
	// handler whose goroutine no longer reads it (serve). Made by
	// serve before the first read.
	ended   chan struct{}
	endOnce sync.Once
}

// end says the session ended (sess.ended).
func (s *session) end() {
	s.endOnce.Do(func() {
		if s.ended != nil {
			close(s.ended)
		}
	})
}

// clientStream is the front's side of a client: the stream its messages
// go out on, and what must be ordered with them (the held posted replies,
// the routes of call channels' replies, lease revocations, the ProcQuery
// answers awaited). It outlives a session: a reconnection attaches a new
// stream (setSender). It implements kernel.Sender, by which the kernel
// sends; it asks the kernel for the replay records to attach (records).
type clientStream struct {
	// sendMu protects send, hopRoutes and postedHeld, and serializes
	// sends. Taken before kernel.Kernel.Mu (records takes it).
	sendMu sync.Mutex
	// send delivers a message to the client's stream, or is nil while no
	// stream is attached. Protected by sendMu.
	send func(*sentrypb.ServerMessage) error
	// sendFDs is send with host fds riding along (SCM_RIGHTS), or nil
	// while no stream is attached or the stream cannot carry fds (only
	// the framed wire on a Unix socket can). Protected by sendMu.
	sendFDs func(*sentrypb.ServerMessage, []int) error
	// fdsNext are the host fds the next reply claiming one
	// (Reply.host_fd) carries; set by replyWithFD for its send. Protected
	// by sendMu.
	fdsNext []int
	// mayLend says the client's peer may be lent host fds (an operator:
	// mappedfd.go). Immutable after openClient.
	mayLend bool
	// hopRoutes maps the seq of a call that came over a call channel to
	// where its reply goes (hop.go). Protected by sendMu.
	hopRoutes map[uint64]*hopRoute
	// postedHeld are replies to posted calls held back for the next
	// message (posted.go, package postbatch). Protected by sendMu.
	postedHeld postbatch.Replies
	// postBatch says the client takes posted replies in batches
	// (Hello.features). Immutable after newClient.
	postBatch bool
	// stateBefore says the client folds ServerMessage.state_before
	// (FeatureStateBefore; only with postBatch). Immutable after
	// newClient.
	stateBefore bool
	// linger is how long replies the client lets wait may be held past
	// the end of their batch (Hello.posted_reply_linger_us, at most
	// maxLinger; 0: not at all). Immutable after newClient.
	linger time.Duration
	// lingerTimer sends the lingering replies (lingering.go), made at the
	// first; lingerArmed says it runs. Protected by sendMu.
	lingerTimer *time.Timer
	lingerArmed bool
	// channelPosted says the client takes posted replies in a call
	// channel's reply (FeatureChannelPosted; only with postBatch).
	// Immutable after newClient.
	channelPosted bool
	// channelFollows says the client said a call channel's call follows
	// the posted calls it sent last (ClientMessage.channel_call_follows):
	// a posted reply with no next call queued is held for that call's
	// reply, which comes after it (a waited call runs after the posted
	// calls before it). Set by the socket reader, cleared by that reply
	// (and by a new stream). Protected by sendMu.
	channelFollows bool
	// leaseHolder holds the client's read leases, whose revocations go
	// out before any other message (readlease.go); nil unless it asked
	// for them. Immutable after openClient.
	leaseHolder *readlease.Holder
	// ownRevokes says the client takes its own changes' revocations in
	// replies, unacknowledged (Hello.own_revokes; kickLeaseRevokes).
	// Immutable after openClient. ownRevokeArmed says a timer will send
	// the queued ones. Atomic.
	ownRevokes     bool
	ownRevokeArmed atomic.Bool
	// records returns the replay records changed since the last message
	// (those of call seq's effects when reply), bound to the client: the
	// kernel's recordsSince. Called under sendMu. Immutable after
	// openClient.
	records func(seq uint64, reply bool) []*sentrypb.StateRecord
	// effectRecords returns the records of call seq's effects alone,
	// bound to the client (the kernel's effectRecords): a held posted
	// reply's (posted.go). Called under sendMu. Immutable after
	// openClient.
	effectRecords func(seq uint64) []*sentrypb.StateRecord
	// packedWrite commits the effects of posted call seq, which returned
	// ret, if they are a write behind's alone, and returns what its
	// packed reply says (the kernel's TakePackedWrite; posted.go).
	// Called under sendMu. Immutable after openClient.
	packedWrite func(seq uint64, ret int64) (kernel.PackedWrite, bool)
	// procQ holds ProcQuery pushes awaiting answers (procquery.go); own
	// lock.
	procQ procQueries
	// log and done (closed when the client is freed) are the kernel's.
	// Immutable after openClient.
	log  hclog.Logger
	done <-chan struct{}
	// sent counts the messages sent on the client's streams (not the
	// channel replies); lingerSends those the linger timer sent
	// (posted.go). Atomic.
	sent, lingerSends atomic.Uint64
}

var _ kernel.Sender = (*clientStream)(nil)

func (s *session) send(m *sentrypb.ServerMessage) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(m)
}

// fdSender returns send with host fds riding along, or nil if the
// session's stream cannot carry them.
func (s *session) fdSender() func(*sentrypb.ServerMessage, []int) error {
	fs, ok := s.stream.(transport.FDSender)
	if !ok || !fs.CanSendFDs() {
		return nil
	}
	return func(m *sentrypb.ServerMessage, fds []int) error {
		s.sendMu.Lock()
		defer s.sendMu.Unlock()
		return fs.SendFDs(m, fds)
	}
}

// serve runs the session's receive loop until the stream ends or the
// client says Goodbye. Either way the client's state is freed.
func (c *client) serve(sess *session) error {
	c.stream.attach(sess.send, sess.fdSender())
	if err := c.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Welcome{Welcome: &sentrypb.Welcome{ServerId: c.s.id, ProtocolVersion: sentrypb.ProtocolVersion, Features: sentrypb.ServerFeatures}}}); err != nil {
		c.destroy()
		return err
	}
	sess.ended = make(chan struct{})
	if !c.readLoop(sess) {
		// Another goroutine reads the session now (readerrun.go): the
		// stream's handler returns when it ends.
		<-sess.ended
	}
	return nil
}

// readLoop receives and handles the session's messages until the stream
// ends or the client says Goodbye (true: the session ended, sess.ended is
// closed), or until another goroutine took the reading over while this
// one ran a posted batch (false; readerrun.go).
func (c *client) readLoop(sess *session) bool {
	k := c.k
	var watch *readerWatch
	for {
		m, err := sess.stream.Recv()
		sess.heard.Store(time.Now().UnixNano())
		if err != nil {
			k.Log.Debug("session ended", "err", err)
			c.stream.setSender(nil)
			c.destroy()
			sess.end()
			return true
		}
		// Posted calls the client batched come first, each as a Call
		// message of its own (posted.go).
		if m.ChannelCallFollows && c.stream.channelPosted && len(m.PostedCalls) > 0 {
			c.stream.sendMu.Lock()
			c.stream.channelFollows = true
			c.stream.sendMu.Unlock()
		}
		if len(m.PostedCalls) > 0 {
			c.counts.postedFrames.Add(1)
		}
		if m.Msg == nil && len(m.PostedCalls) > 0 {
			// A frame of posted calls alone.
			if !c.receivePostedFrame(sess, m.PostedCalls, &watch) {
				return false
			}
			continue
		}
		if len(m.PostedCalls) > 1 {
			c.receivePostedBatch(sess, m.PostedCalls)
		} else {
			for _, call := range m.PostedCalls {
				c.receiveCall(sess, call)
			}
		}
		switch m := m.Msg.(type) {
		case *sentrypb.ClientMessage_Call:
			c.receiveCall(sess, m.Call)
		case *sentrypb.ClientMessage_Heartbeat:
			observeClocks(k.Clocks, m.Heartbeat.GetClocks())
			c.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Heartbeat{Heartbeat: renewLeases(k, m.Heartbeat)}})
		case *sentrypb.ClientMessage_Interrupt:
			if m.Interrupt != nil {
				c.interrupt(m.Interrupt.Tid)
			}
		case *sentrypb.ClientMessage_Stdin:
			if m.Stdin != nil {
				k.StdinData(m.Stdin.StdioSet, m.Stdin.Offset, m.Stdin.Data, m.Stdin.Eof)
			}
		case *sentrypb.ClientMessage_Goodbye:
			if k.SandboxNet != nil {
				// The application's last TCP data and FINs still
				// travel after it exits, as a host kernel sends them:
				// frames keep flowing on this loop until the stack has
				// drained (kernel.Kernel.LingerNetwork), then Farewell.
				if !sess.lingering {
					sess.lingering = true
					k.AppEnded.Store(true)
					go c.farewellAfterLinger()
				}
				continue
			}
			k.AppEnded.Store(true)
			c.destroy()
			go forgetOrigins(k)
			c.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Farewell{Farewell: &sentrypb.Farewell{}}})
			c.stream.setSender(nil)
			sess.end()
			return true
		case *sentrypb.ClientMessage_SignalsPending:
			if m.SignalsPending != nil {
				k.SignalsPending(m.SignalsPending)
			}
		case *sentrypb.ClientMessage_ProcAnswer:
			if m.ProcAnswer != nil {
				c.stream.procAnswer(m.ProcAnswer)
			}
		case *sentrypb.ClientMessage_Frames:
			if m.Frames != nil {
				k.InboundFrames(m.Frames)
			}
		case *sentrypb.ClientMessage_LeaseRevoked:
			c.leaseAcked(m.LeaseRevoked)
		case *sentrypb.ClientMessage_ChannelOpen:
			if m.ChannelOpen != nil {
				c.openChannel(sess, m.ChannelOpen)
			}
		case *sentrypb.ClientMessage_Hello:
			k.Log.Warn("ignoring a second Hello")
		}
	}
}

// receiveCall admits and queues a call that came on the session's
// socket.
func (c *client) receiveCall(sess *session, call *sentrypb.Call) {
	if c.admitCall(sess, call) {
		c.enqueue(call)
	}
}

// admitCall admits a call that came on the session's socket, or refuses
// it (EINVAL).
func (c *client) admitCall(sess *session, call *sentrypb.Call) bool {
	if call == nil {
		return false
	}
	k := c.k
	// Before it waits in its thread's queue: the reading's bound is
	// tighter the sooner it is compared.
	observeClocks(k.Clocks, call.GetSyscall().GetClocks())
	if err := sess.seqs.admit(call); err != nil {
		k.Log.Warn("refused a call", "err", err)
		c.stream.reply(&sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.EINVAL)})
		return false
	}
	return true
}

// setSender attaches the client to a stream (nil detaches it: messages
// are then dropped).
func (st *clientStream) setSender(f func(*sentrypb.ServerMessage) error) { st.attach(f, nil) }

// attach is setSender of a stream that can also send with host fds (fds,
// nil if it cannot).
func (st *clientStream) attach(f func(*sentrypb.ServerMessage) error, fds func(*sentrypb.ServerMessage, []int) error) {
	st.sendMu.Lock()
	st.send, st.sendFDs = nil, nil
	if f != nil && fds != nil {
		st.sendFDs = func(m *sentrypb.ServerMessage, fd []int) error {
			st.sent.Add(1)
			return fds(m, fd)
		}
	}
	if f != nil {
		st.send = func(m *sentrypb.ServerMessage) error {
			st.sent.Add(1)
			return f(m)
		}
	}
	// Held replies belonged to the previous stream, if any: the client
	// re-sends their calls.
	st.postedHeld.Drop()
	st.heldGoneLocked()
	st.channelFollows = false
	st.sendMu.Unlock()
}

// sendMsg sends m on the client's stream, if it has one. A reply or push
// carries (or is preceded by) the replay state changed since the last one
// (state.go).
func (st *clientStream) sendMsg(m *sentrypb.ServerMessage) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	st.leaseRevokesLocked(m.GetReply())
	if r := m.GetReply(); r != nil && st.channelReplyLocked(r) {
		return nil
	}
	if st.send == nil {
		return errNoStream
	}
	switch m.Msg.(type) {
	case *sentrypb.ServerMessage_Reply, *sentrypb.ServerMessage_Push:
		return st.sendWithStateLocked(m)
	}
	return st.sendRawLocked(m)
}

// Send is sendMsg (kernel.Sender).
func (st *clientStream) Send(m *sentrypb.ServerMessage) error { return st.sendMsg(m) }

// SendBuilt sends the message build returns (nothing if nil), building it
// under sendMu so that it is ordered with the state records.
func (st *clientStream) SendBuilt(build func() *sentrypb.ServerMessage) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.send == nil {
		return errNoStream
	}
	st.sendLeaseRevokesLocked()
	m := build()
	if m == nil {
		return nil
	}
	return st.sendWithStateLocked(m)
}

// Push sends a server-initiated message (kernel.Sender).
func (st *clientStream) Push(p *sentrypb.Push) {
	if err := st.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: p}}); err != nil {
		st.logSendError("push", 0, err)
	}
}

// reply sends a call's reply.
func (st *clientStream) reply(r *sentrypb.Reply) {
	// A channel call's reply needs no message to wrap it.
	st.sendMu.Lock()
	st.leaseRevokesLocked(r)
	done := st.channelReplyLocked(r)
	st.sendMu.Unlock()
	if done {
		return
	}
	if err := st.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		st.logSendError("reply", r.Seq, err)
	}
}

// logSendError logs a message that did not go out: quietly if the stream
// is gone (the client recovers), loudly if what the server built could
// not be encoded (its bug; a reply went as EIO, a push was lost).
func (st *clientStream) logSendError(what string, seq uint64, err error) {
	if errors.Is(err, transport.ErrUnencodable) {
		st.log.Error(what+" could not be encoded", "seq", seq, "err", err)
		return
	}
	st.log.Debug(what+" dropped", "seq", seq, "err", err)
}

// sendWithStateLocked sends m with the replay state changed since the last
// message: in m's state if m is a reply, else in its state_before
// (FeatureStateBefore) or a StateUpdate push sent just before m, with
// the held posted replies in front. Precondition: st.sendMu is held and
// a sender attached.
//
// The records are derived once, the held replies' batch's with m's own,
// and go after the held replies. A second derivation for the held
// replies (sendRawLocked's) would be folded before these though newer:
// a slot these records show freed, taken since by another thread's open,
// ended freed in the client's log (chaos thread-files: a writer's fd
// gone after the next recovery). What changes from here on goes with the
// next message.
func (st *clientStream) sendWithStateLocked(m *sentrypb.ServerMessage) error {
	var seq uint64
	r := m.GetReply()
	if r != nil {
		seq = r.Seq
	}
	recs := st.records(seq, r != nil)
	switch {
	case len(recs) == 0:
	case r != nil:
		r.State = withRecords(r.State, recs)
	case st.stateBefore:
		// In m's frame, folded before it (and after the held replies).
		m.StateBefore = recs
	default:
		up := &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_State{State: &sentrypb.StateUpdate{Records: recs}}}}}
		if err := st.attachHeldLocked(up); err != nil {
			return err
		}
	}
	return st.attachHeldLocked(m)
}

// withRecords returns a reply's records followed by recs (records
// returns a slice of the caller's, taken as it is when the reply has
// none).
func withRecords(state, recs []*sentrypb.StateRecord) []*sentrypb.StateRecord {
	if len(state) == 0 {
		return recs
	}
	return append(state, recs...)
}

// observeClocks refines the application's clocks from a sample of the
// client's (Syscall.clocks, Heartbeat.clocks) taken before the message
// being handled was sent (ktimer.Clock.Observe).
func observeClocks(c ktimer.Clocks, cs *sentrypb.ClockSample) {
	if cs != nil {
		c.Observe(cs.GetRealtime(), cs.GetMonotonic(), cs.GetBoottime())
	}
}
