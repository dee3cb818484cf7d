package transport

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// unencodableTid marks a hopServer call whose reply carries a state record
// that cannot be encoded.
const unencodableTid = -3

// unencodableState is a state record whose string key is not UTF-8.
func unencodableState() []*pb.StateRecord {
	return []*pb.StateRecord{{Key: "fd/\xff"}}
}

// TestUnencodableReplyFailsCall: a reply the server cannot encode fails
// its call with EIO and says why, on every way a call travels, and the
// connection serves the calls after it; before, the server dropped it and
// the caller waited forever (or, on gRPC, the stream ended and the
// client's recovery would have sent the same call again).
func TestUnencodableReplyFailsCall(t *testing.T) {
	target := startHop(t, &hopServer{})
	for _, tc := range []struct {
		name    string
		wire    Wire
		channel bool
	}{
		{"framed-socket", WireFramed, false},
		{"framed-channel", WireFramed, true},
		{"grpc", WireGRPC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(context.Background(), target, Options{Wire: tc.wire, Channels: tc.channel})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Wire != tc.wire {
				t.Fatalf("wire %v, want %v", c.Wire, tc.wire)
			}
			var seq uint64
			call := func(tid int32) (*pb.Reply, error) {
				seq++
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cl := &pb.Call{Seq: seq, Tid: tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}
				if tc.channel {
					ch := takeChannel(t, c)
					return ch.Call(cl, ChannelStamp{sent: c.Sent()})
				}
				return c.Call(ctx, cl)
			}
			for i := 0; i < 3; i++ {
				r, err := call(unencodableTid)
				if err != nil {
					t.Fatalf("unencodable reply: %v", err)
				}
				if r.Errno != int32(unix.EIO) || r.Unencodable == "" || len(r.State) != 0 {
					t.Fatalf("unencodable reply arrived as %v, want errno EIO with the reason alone", r)
				}
				r, err = call(1)
				if err != nil {
					t.Fatalf("call after an unencodable reply: %v", err)
				}
				if r.Errno != 0 || r.Unencodable != "" {
					t.Fatalf("call after an unencodable reply: %v", r)
				}
			}
		})
	}
}

// TestMendServerMessage: what mendServerMessage keeps, replaces and
// leaves out of a message that cannot be encoded.
func TestMendServerMessage(t *testing.T) {
	bad := unencodableState()
	good := []*pb.StateRecord{{Key: "fd/1"}}
	badPush := &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_State{State: &pb.StateUpdate{Records: bad}}}}
	for _, tc := range []struct {
		name string
		in   *pb.ServerMessage
		// failed are the seqs of the replies that must come out as
		// failedReply; kept those that must come out as they went in.
		failed, kept []uint64
		stateBefore  int
		msgKept      bool
		lost         bool
	}{{
		name:    "encodable",
		in:      &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 1, State: good}}},
		kept:    []uint64{1},
		msgKept: true,
	}, {
		name:    "reply",
		in:      &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 1, State: bad}}},
		failed:  []uint64{1},
		msgKept: true,
	}, {
		name: "posted reply",
		in: &pb.ServerMessage{
			PostedReplies: []*pb.Reply{{Seq: 1, State: good}, {Seq: 2, State: bad}},
			Msg:           &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 3}},
		},
		failed:  []uint64{2},
		kept:    []uint64{1, 3},
		msgKept: true,
	}, {
		name: "channel reply's posted reply",
		in: &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 3, State: good,
			PostedReplies: []*pb.Reply{{Seq: 1, State: bad}, {Seq: 2}}}}},
		failed:  []uint64{1},
		kept:    []uint64{2, 3},
		msgKept: true,
	}, {
		name:        "state before",
		in:          &pb.ServerMessage{StateBefore: append(append([]*pb.StateRecord{}, good...), bad...), Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 1}}},
		kept:        []uint64{1},
		stateBefore: 1,
		msgKept:     true,
		lost:        true,
	}, {
		name:   "push",
		in:     &pb.ServerMessage{PostedReplies: []*pb.Reply{{Seq: 1}}, Msg: badPush},
		kept:   []uint64{1},
		lost:   true,
		failed: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			orig := proto.Clone(tc.in).(*pb.ServerMessage)
			out, lost := mendServerMessage(tc.in)
			if _, err := proto.Marshal(out); err != nil {
				t.Fatalf("mended message still cannot be encoded: %v", err)
			}
			if !proto.Equal(tc.in, orig) {
				t.Fatal("mendServerMessage changed its argument")
			}
			if lost != tc.lost {
				t.Errorf("lost %v, want %v", lost, tc.lost)
			}
			replies := map[uint64]*pb.Reply{}
			var collect func(rs ...*pb.Reply)
			collect = func(rs ...*pb.Reply) {
				for _, r := range rs {
					replies[r.Seq] = r
					collect(r.PostedReplies...)
				}
			}
			collect(out.PostedReplies...)
			if r := out.GetReply(); r != nil {
				collect(r)
			}
			if len(replies) != len(tc.failed)+len(tc.kept) {
				t.Errorf("%d replies out, want %d", len(replies), len(tc.failed)+len(tc.kept))
			}
			for _, seq := range tc.failed {
				if r := replies[seq]; r == nil || r.Errno != int32(unix.EIO) || r.Unencodable == "" || len(r.State) != 0 {
					t.Errorf("reply %d: %v, want failed with EIO", seq, r)
				}
			}
			for _, seq := range tc.kept {
				if r := replies[seq]; r == nil || r.Errno != 0 || r.Unencodable != "" {
					t.Errorf("reply %d: %v, want kept", seq, r)
				}
			}
			if len(out.StateBefore) != tc.stateBefore {
				t.Errorf("%d state_before records, want %d", len(out.StateBefore), tc.stateBefore)
			}
			if (out.Msg != nil) != tc.msgKept {
				t.Errorf("msg %v, want kept %v", out.Msg, tc.msgKept)
			}
		})
	}
}
