package server

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// session is one Session stream. It only carries messages: the client's
// kernel state lives in clientState, which may outlive the stream.
type session struct {
	stream sentrypb.Sentry_SessionServer
	// sendMu serializes stream.Send (gRPC streams allow one sender).
	sendMu sync.Mutex
	// heard is when the client last sent anything (Unix nanoseconds),
	// for the silent-client watchdog in Server.Session.
	heard atomic.Int64
	// seqs admits the calls of the socket and of the call channels.
	seqs lockedSeqs
}

func (s *session) send(m *sentrypb.ServerMessage) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(m)
}

// serve runs the session's receive loop until the stream ends or the
// client says Goodbye. Either way the client's state is freed.
func (k *clientState) serve(sess *session) error {
	k.setSender(sess.send)
	if err := k.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Welcome{Welcome: &sentrypb.Welcome{ServerId: k.s.id, ProtocolVersion: sentrypb.ProtocolVersion, Features: sentrypb.ServerFeatures}}}); err != nil {
		k.destroy()
		return err
	}
	// lingering is set once a Goodbye of a client with a sandbox network
	// started its linger.
	lingering := false
	for {
		m, err := sess.stream.Recv()
		sess.heard.Store(time.Now().UnixNano())
		if err != nil {
			k.log.Debug("session ended", "err", err)
			k.setSender(nil)
			k.destroy()
			return nil
		}
		// Posted calls the client batched come first, each as a Call
		// message of its own (posted.go).
		if m.ChannelCallFollows && k.channelPosted && len(m.PostedCalls) > 0 {
			k.sendMu.Lock()
			k.channelFollows = true
			k.sendMu.Unlock()
		}
		if len(m.PostedCalls) > 1 {
			k.receivePostedBatch(sess, m.PostedCalls)
		} else {
			for _, c := range m.PostedCalls {
				k.receiveCall(sess, c)
			}
		}
		switch m := m.Msg.(type) {
		case *sentrypb.ClientMessage_Call:
			k.receiveCall(sess, m.Call)
		case *sentrypb.ClientMessage_Heartbeat:
			observeClocks(k.clocks, m.Heartbeat.GetClocks())
			k.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Heartbeat{Heartbeat: &sentrypb.Heartbeat{UnixNanos: time.Now().UnixNano()}}})
		case *sentrypb.ClientMessage_Interrupt:
			if m.Interrupt != nil {
				k.interrupt(m.Interrupt.Tid)
			}
		case *sentrypb.ClientMessage_Stdin:
			if m.Stdin != nil {
				k.stdinData(m.Stdin.StdioSet, m.Stdin.Offset, m.Stdin.Data, m.Stdin.Eof)
			}
		case *sentrypb.ClientMessage_Goodbye:
			if k.sandboxNet != nil {
				// The application's last TCP data and FINs still
				// travel after it exits, as a host kernel sends them:
				// frames keep flowing on this loop until the stack has
				// drained (network_sandbox.go), then Farewell.
				if !lingering {
					lingering = true
					k.appEnded.Store(true)
					go k.farewellAfterLinger()
				}
				continue
			}
			k.appEnded.Store(true)
			k.destroy()
			go k.forgetOrigins()
			k.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Farewell{Farewell: &sentrypb.Farewell{}}})
			k.setSender(nil)
			return nil
		case *sentrypb.ClientMessage_SignalsPending:
			if m.SignalsPending != nil {
				k.signalsPending(m.SignalsPending)
			}
		case *sentrypb.ClientMessage_ProcAnswer:
			if m.ProcAnswer != nil {
				k.procAnswer(m.ProcAnswer)
			}
		case *sentrypb.ClientMessage_Frames:
			if m.Frames != nil {
				k.inboundFrames(m.Frames)
			}
		case *sentrypb.ClientMessage_LeaseRevoked:
			k.leaseAcked(m.LeaseRevoked)
		case *sentrypb.ClientMessage_ChannelOpen:
			if m.ChannelOpen != nil {
				k.openChannel(sess, m.ChannelOpen)
			}
		case *sentrypb.ClientMessage_Hello:
			k.log.Warn("ignoring a second Hello")
		}
	}
}

// receiveCall admits and queues a call that came on the session's
// socket.
func (k *clientState) receiveCall(sess *session, call *sentrypb.Call) {
	if k.admitCall(sess, call) {
		k.enqueue(call)
	}
}

// admitCall admits a call that came on the session's socket, or refuses
// it (EINVAL).
func (k *clientState) admitCall(sess *session, call *sentrypb.Call) bool {
	if call == nil {
		return false
	}
	// Before it waits in its thread's queue: the reading's bound is
	// tighter the sooner it is compared.
	observeClocks(k.clocks, call.GetSyscall().GetClocks())
	if err := sess.seqs.admit(call); err != nil {
		k.log.Warn("refused a call", "err", err)
		k.reply(&sentrypb.Reply{Seq: call.Seq, Errno: int32(unix.EINVAL)})
		return false
	}
	return true
}

// setSender attaches the client to a stream (nil detaches it: messages
// are then dropped).
func (k *clientState) setSender(f func(*sentrypb.ServerMessage) error) {
	k.sendMu.Lock()
	k.sender = f
	// Held replies belonged to the previous stream, if any: the client
	// re-sends their calls.
	k.postedHeld.Drop()
	k.channelFollows = false
	k.sendMu.Unlock()
}

// sendMsg sends m on the client's stream, if it has one. A reply or push
// carries (or is preceded by) the replay state changed since the last one
// (state.go).
func (k *clientState) sendMsg(m *sentrypb.ServerMessage) error {
	k.sendMu.Lock()
	defer k.sendMu.Unlock()
	k.sendLeaseRevokesLocked()
	if r := m.GetReply(); r != nil && len(k.hopRoutes) > 0 && k.hopRoutes[r.Seq] != nil {
		// A channel reply is placed after the messages sent before it:
		// the held posted replies among them, in it for a client that
		// takes them there, else on the socket.
		if k.channelPosted {
			r.PostedReplies = k.postedHeld.TakeReplies()
			k.channelFollows = false
		} else if held := k.postedHeld.Take(); held != nil && k.sender != nil {
			if err := k.sender(held); err != nil {
				k.log.Debug("posted replies dropped", "err", err)
			}
		}
		k.hopReplyLocked(r)
		return nil
	}
	if k.sender == nil {
		return errNoStream
	}
	switch m.Msg.(type) {
	case *sentrypb.ServerMessage_Reply, *sentrypb.ServerMessage_Push:
		return k.sendWithStateLocked(m)
	}
	return k.sendRawLocked(m)
}

// sendBuilt sends the message build returns (nothing if nil), building it
// under sendMu so that it is ordered with the state records.
func (k *clientState) sendBuilt(build func() *sentrypb.ServerMessage) error {
	k.sendMu.Lock()
	defer k.sendMu.Unlock()
	if k.sender == nil {
		return errNoStream
	}
	k.sendLeaseRevokesLocked()
	m := build()
	if m == nil {
		return nil
	}
	return k.sendWithStateLocked(m)
}

// push sends a server-initiated message.
func (k *clientState) push(p *sentrypb.Push) {
	if err := k.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: p}}); err != nil {
		k.log.Debug("push dropped", "err", err)
	}
}

func (k *clientState) reply(r *sentrypb.Reply) {
	if err := k.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: r}}); err != nil {
		k.log.Debug("reply dropped", "seq", r.Seq, "err", err)
	}
}
