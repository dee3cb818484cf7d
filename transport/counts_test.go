package transport

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestDispatchStateBefore dispatches messages the way they arrive on the
// socket and checks what the client sees, in order, and how they are
// counted (ReceivedCounts): a frame's posted replies, then the records
// it carries before its message (state_before, folded as a StateUpdate
// push), then its message; a frame carrying posted replies and nothing
// the client waits for counts as posted-only.
func TestDispatchStateBefore(t *testing.T) {
	rec := func(key string) *pb.StateRecord { return &pb.StateRecord{Key: key} }
	tests := []struct {
		name string
		msgs []*pb.ServerMessage
		want []string
		// counts: messages, posted-only, posted replies, heartbeats,
		// pushes.
		counts ReceivedCounts
	}{
		{
			name: "replies, records, push in one frame",
			msgs: []*pb.ServerMessage{{
				PostedDone:  &pb.PostedDone{Seq: []uint64{1, 2}, Ret: []int64{0, 0}},
				StateBefore: []*pb.StateRecord{rec("fs/1")},
				Msg:         &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 3}}}},
			}},
			want:   []string{"reply 1", "reply 2", "state fs/1", "push"},
			counts: ReceivedCounts{Messages: 1, PostedReplies: 2, Pushes: 1},
		},
		{
			name: "a posted call's reply as the message",
			msgs: []*pb.ServerMessage{{
				PostedReplies: []*pb.Reply{{Seq: 1, Errno: 1}},
				Msg:           &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 2}},
			}},
			want:   []string{"reply 1", "reply 2"},
			counts: ReceivedCounts{Messages: 1, PostedOnly: 1, PostedReplies: 2},
		},
		{
			name: "replies with their StateUpdate, then a heartbeat's answer",
			msgs: []*pb.ServerMessage{
				{
					PostedDone: &pb.PostedDone{Seq: []uint64{1}, Ret: []int64{0}},
					Msg:        &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_State{State: &pb.StateUpdate{Records: []*pb.StateRecord{rec("fs/1")}}}}},
				},
				{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}},
			},
			want:   []string{"reply 1", "state fs/1"},
			counts: ReceivedCounts{Messages: 2, PostedOnly: 1, PostedReplies: 1, Heartbeats: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			c := &StreamConn{pending: map[uint64]chan *pb.Reply{}, opts: Options{
				OnReply: func(r *pb.Reply) { got = append(got, fmt.Sprintf("reply %d", r.Seq)) },
				OnPush: func(p *pb.Push) {
					if s := p.GetState(); s != nil {
						for _, r := range s.Records {
							got = append(got, "state "+r.Key)
						}
						return
					}
					got = append(got, "push")
				},
			}}
			for seq := uint64(1); seq <= 2; seq++ {
				c.pending[seq] = noReceiver
			}
			for _, m := range tc.msgs {
				c.dispatch(m)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("the client saw %q, want %q", got, tc.want)
			}
			if got := c.Received(); got != tc.counts {
				t.Errorf("counted %+v, want %+v", got, tc.counts)
			}
		})
	}
}
