package transport

import (
	"sync/atomic"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// ReceivedCounts say what a connection's socket brought from the server
// (the end-of-session counts, tests): the server-to-client half of what a
// workload costs in messages, beside Sent and PostedBatches.
type ReceivedCounts struct {
	// Messages are the socket messages received (a frame each on the
	// framed wire), the Welcome not counted.
	Messages uint64
	// PostedOnly are those that carried posted calls' replies and
	// nothing the client waited for: no reply of a waited call, no
	// push but the StateUpdate of the replies' records, no heartbeat's
	// answer (sent so that the replies arrive, not because anything
	// else had to).
	PostedOnly uint64
	// PostedReplies are the posted calls' replies the socket messages
	// carried, in any form (posted_replies, posted_done, posted_writes).
	PostedReplies uint64
	// Heartbeats are the heartbeats' answers, Pushes the other pushes
	// (StateUpdates that only follow posted replies not counted).
	Heartbeats, Pushes uint64
}

// recvCounters are a StreamConn's ReceivedCounts. Written by the holder
// of the read token only; read by anyone: atomic.
type recvCounters struct {
	messages, postedOnly, postedReplies, heartbeats, pushes atomic.Uint64
}

// count counts m, a socket message received whose posted replies (a
// reply of a posted call as its content included: postedReply) were
// posted.
func (rc *recvCounters) count(m *pb.ServerMessage, posted int, postedReply bool) {
	rc.messages.Add(1)
	if posted > 0 {
		rc.postedReplies.Add(uint64(posted))
	}
	switch m.Msg.(type) {
	case nil:
		if posted > 0 {
			rc.postedOnly.Add(1)
		}
	case *pb.ServerMessage_Reply:
		if postedReply {
			rc.postedOnly.Add(1)
		}
	case *pb.ServerMessage_Push:
		if posted > 0 && m.GetPush().GetState() != nil {
			rc.postedOnly.Add(1)
		} else {
			rc.pushes.Add(1)
		}
	case *pb.ServerMessage_Heartbeat:
		rc.heartbeats.Add(1)
	}
}

// Received returns what c's socket brought so far.
func (c *StreamConn) Received() ReceivedCounts {
	return ReceivedCounts{
		Messages:      c.recv.messages.Load(),
		PostedOnly:    c.recv.postedOnly.Load(),
		PostedReplies: c.recv.postedReplies.Load(),
		Heartbeats:    c.recv.heartbeats.Load(),
		Pushes:        c.recv.pushes.Load(),
	}
}
