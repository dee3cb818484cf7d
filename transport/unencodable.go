package transport

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// ErrUnencodable wraps a message's encoding failure: a field its sender
// filled with what the field's type cannot carry (a string that is not
// UTF-8). It is the sender's bug, and the connection is still good.
var ErrUnencodable = errors.New("cannot encode")

// failedReply is the reply the server sends in place of r when r cannot
// be encoded: the call fails with EIO and says why (Reply.unencodable),
// where otherwise its caller would wait forever for a reply.
func failedReply(r *pb.Reply, err error) *pb.Reply {
	return &pb.Reply{Seq: r.Seq, Errno: int32(unix.EIO), Unencodable: strings.ToValidUTF8(err.Error(), "?")}
}

// encodable reports why m cannot be encoded, or nil.
func encodable(m proto.Message) error {
	_, err := proto.Marshal(m)
	return err
}

// mendReply returns r, or a copy of r in which each reply that cannot be
// encoded (r itself, or one of the posted replies it carries) is its
// failedReply.
func mendReply(r *pb.Reply) *pb.Reply {
	if err := encodable(r); err == nil {
		return r
	} else if len(r.PostedReplies) == 0 {
		return failedReply(r, err)
	}
	posted := mendReplies(r.PostedReplies)
	own := proto.Clone(r).(*pb.Reply)
	own.PostedReplies = nil
	if err := encodable(own); err != nil {
		own = failedReply(r, err)
	}
	own.PostedReplies = posted
	return own
}

// mendReplies returns rs with each reply that cannot be encoded replaced
// by its failedReply (a new slice if any was).
func mendReplies(rs []*pb.Reply) []*pb.Reply {
	var out []*pb.Reply
	for i, r := range rs {
		if m := mendReply(r); m != r {
			if out == nil {
				out = append([]*pb.Reply(nil), rs...)
			}
			out[i] = m
		}
	}
	if out == nil {
		return rs
	}
	return out
}

// mendServerMessage returns m, or a copy of m that can be encoded: each
// reply in it that cannot be is its failedReply, and a state record or a
// push that cannot be is left out (lost: there is nothing to put in its
// place). Replies are what callers wait for.
func mendServerMessage(m *pb.ServerMessage) (mended *pb.ServerMessage, lost bool) {
	if encodable(m) == nil {
		return m, false
	}
	out := &pb.ServerMessage{
		ChannelReplies: m.ChannelReplies,
		PostedReplies:  mendReplies(m.PostedReplies),
		PostedDone:     m.PostedDone,
		PostedWrites:   m.PostedWrites,
	}
	for _, rec := range m.StateBefore {
		if encodable(rec) == nil {
			out.StateBefore = append(out.StateBefore, rec)
		} else {
			lost = true
		}
	}
	switch msg := m.Msg.(type) {
	case *pb.ServerMessage_Reply:
		out.Msg = &pb.ServerMessage_Reply{Reply: mendReply(msg.Reply)}
	default:
		probe := &pb.ServerMessage{Msg: m.Msg}
		if encodable(probe) == nil {
			out.Msg = m.Msg
		} else {
			lost = true
		}
	}
	return out, lost
}

// serverCodec is gRPC's protobuf codec on the server's side of Session
// streams, mending a ServerMessage that cannot be encoded
// (mendServerMessage) where gRPC would end the stream, and with it the
// connection the client would then recover only to send the same call
// again.
type serverCodec struct{ encoding.CodecV2 }

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) {
	out, err := c.CodecV2.Marshal(v)
	if m, ok := v.(*pb.ServerMessage); ok && err != nil {
		if mended, _ := mendServerMessage(m); mended != m {
			return c.CodecV2.Marshal(mended)
		}
	}
	return out, err
}
