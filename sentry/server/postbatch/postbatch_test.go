package postbatch

import (
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestReplies(t *testing.T) {
	tests := []struct {
		name string
		// hold are the seqs held before m is attached.
		hold []uint64
		// m is the message they ride on (nil: Take).
		m *sentrypb.ServerMessage
		// want are the posted replies' seqs in the message sent (nil
		// message: none).
		want []uint64
	}{
		{"nothing held, a reply", nil, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 9}}}, []uint64{}},
		{"nothing held, alone", nil, nil, nil},
		{"two held, on a reply", []uint64{3, 4}, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Reply{Reply: &sentrypb.Reply{Seq: 9}}}, []uint64{3, 4}},
		{"held, on a push", []uint64{5}, &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{}}}, []uint64{5}},
		{"held, alone", []uint64{6, 7, 8}, nil, []uint64{6, 7, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Replies
			for _, s := range tc.hold {
				if !b.Hold(&sentrypb.Reply{Seq: s}) {
					t.Fatalf("Hold(%d) refused", s)
				}
			}
			var got *sentrypb.ServerMessage
			if tc.m == nil {
				got = b.Take()
				if (got == nil) != (tc.want == nil) {
					t.Fatalf("Take() = %v, want replies %v", got, tc.want)
				}
			} else {
				got = b.Attach(tc.m)
				if got != tc.m {
					t.Fatalf("Attach returned another message")
				}
			}
			if b.Len() != 0 {
				t.Errorf("%d replies still held after sending", b.Len())
			}
			if got == nil {
				return
			}
			if len(got.PostedReplies) != len(tc.want) {
				t.Fatalf("posted replies %v, want seqs %v", got.PostedReplies, tc.want)
			}
			for i, r := range got.PostedReplies {
				if r.Seq != tc.want[i] {
					t.Errorf("posted reply %d has seq %d, want %d (order kept)", i, r.Seq, tc.want[i])
				}
			}
			if tc.m != nil && tc.m.GetReply() != nil && got.GetReply().Seq != 9 {
				t.Errorf("the message's own reply changed")
			}
		})
	}
}

func TestRepliesBounded(t *testing.T) {
	var b Replies
	for i := 0; i < MaxHeld; i++ {
		if !b.Hold(&sentrypb.Reply{Seq: uint64(i)}) {
			t.Fatalf("Hold refused the %dth reply, want %d held", i, MaxHeld)
		}
	}
	if b.Hold(&sentrypb.Reply{Seq: MaxHeld}) {
		t.Fatalf("Hold took more than MaxHeld (%d) replies", MaxHeld)
	}
	if m := b.Take(); len(m.GetPostedReplies()) != MaxHeld {
		t.Fatalf("Take carried %d replies, want %d", len(m.GetPostedReplies()), MaxHeld)
	}
	b.Hold(&sentrypb.Reply{Seq: 1})
	b.Drop()
	if b.Take() != nil {
		t.Fatalf("Take after Drop returned replies")
	}
}

// TestTakeReplies: the held replies go, in order, into a call channel's
// reply (Reply.posted_replies), and nothing stays held.
func TestTakeReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold []uint64
	}{
		{"none", nil},
		{"one", []uint64{3}},
		{"three", []uint64{4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Replies
			for _, s := range tc.hold {
				b.Hold(&sentrypb.Reply{Seq: s})
			}
			got := b.TakeReplies()
			if len(got) != len(tc.hold) {
				t.Fatalf("TakeReplies gave %d replies, want %d", len(got), len(tc.hold))
			}
			for i, r := range got {
				if r.Seq != tc.hold[i] {
					t.Errorf("reply %d has seq %d, want %d (order kept)", i, r.Seq, tc.hold[i])
				}
			}
			if b.Len() != 0 || b.TakeReplies() != nil {
				t.Errorf("replies still held after TakeReplies")
			}
		})
	}
}
