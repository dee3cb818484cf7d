package transport

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// scriptWire is a wire whose recv returns msgs in turn, then fails.
type scriptWire struct {
	mu   sync.Mutex
	msgs []*pb.ServerMessage
}

func (w *scriptWire) send(*pb.ClientMessage) error { return nil }
func (w *scriptWire) close() error                 { return nil }
func (w *scriptWire) closeWrite() error            { return nil }
func (w *scriptWire) encodesOnSend() bool          { return true }

func (w *scriptWire) recv() (*pb.ServerMessage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) == 0 {
		return nil, errors.New("connection reset by peer")
	}
	m := w.msgs[0]
	w.msgs = w.msgs[1:]
	return m, nil
}

// TestDispatchWholeAcrossFail: a connection that dies (a send's error,
// the heartbeat, Close: fail from another goroutine) while a message is
// being dispatched hands the rest of that message on, replies and
// records together, and drops the messages after it whole. The server
// sends the records of what a batch of posted calls changed once, after
// the batch's replies (sentry/server's sendHeldWithLocked); before the
// fix, fail forgot the calls in flight at once, so the replies after
// the failure were dropped (their calls re-sent by the recovery) while
// the records after them were folded: the replay log had a posted
// close's fd gone while the copy from it before the close was re-sent,
// and failed with EBADF (chaos cat-ahead, a file's bytes lost).
func TestDispatchWholeAcrossFail(t *testing.T) {
	rec := func(key string) *pb.StateRecord { return &pb.StateRecord{Key: key} }
	// A frame of three posted replies (1-3) and the batch's records;
	// then a waited call's reply (4) with its records; then another
	// posted reply (5).
	frames := func() []*pb.ServerMessage {
		return []*pb.ServerMessage{
			{
				PostedDone:  &pb.PostedDone{Seq: []uint64{1, 2}, Ret: []int64{3, 5}},
				StateBefore: []*pb.StateRecord{rec("fd/1/3")},
				Msg:         &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 3}},
			},
			{
				StateBefore: []*pb.StateRecord{rec("fs/1")},
				Msg:         &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 4}},
			},
			{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 5}}},
		}
	}
	tests := []struct {
		name string
		// failAt is what the client sees when the connection fails
		// ("" : before anything is dispatched).
		failAt string
		// channel says the first frame is a channel reply's fold (its
		// posted replies and its own reply, with the records), not a
		// socket message.
		channel bool
		want    []string
		// waitedGot says call 4's caller gets its reply (else its
		// channel is closed: ErrConnDead).
		waitedGot bool
	}{
		{name: "before the first frame", failAt: "", want: nil},
		{name: "after the first reply", failAt: "reply 1",
			want: []string{"reply 1", "reply 2", "state fd/1/3", "reply 3"}},
		{name: "at the frame's records", failAt: "state fd/1/3",
			want: []string{"reply 1", "reply 2", "state fd/1/3", "reply 3"}},
		{name: "in the waited call's frame", failAt: "state fs/1",
			want: []string{"reply 1", "reply 2", "state fd/1/3", "reply 3", "state fs/1", "reply 4"}, waitedGot: true},
		{name: "channel reply, after its first posted reply", failAt: "reply 1", channel: true,
			want: []string{"reply 1", "reply 2", "reply 3", "state fd/1/3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &scriptWire{msgs: frames()}
			var got []string
			var c *StreamConn
			see := func(s string) {
				got = append(got, s)
				if s == tc.failAt {
					// As a sender's broken pipe would, meanwhile.
					c.fail(errors.New("send: broken pipe"))
				}
			}
			c = &StreamConn{w: w, pending: map[uint64]chan *pb.Reply{}, token: make(chan struct{}, 1),
				done: make(chan struct{}), recvDone: make(chan struct{}), opts: Options{
					OnReply: func(r *pb.Reply) {
						see(fmt.Sprintf("reply %d", r.Seq))
						for _, s := range r.GetState() {
							see("state " + s.Key)
						}
					},
					OnPush: func(p *pb.Push) {
						for _, r := range p.GetState().GetRecords() {
							see("state " + r.Key)
						}
					},
				}}
			c.initHop(Options{})
			c.idle = time.AfterFunc(time.Hour, func() {})
			defer c.idle.Stop()
			c.postTimer = time.NewTimer(time.Hour)
			c.postTimer.Stop()
			for _, seq := range []uint64{1, 2, 3, 5} {
				if seq == 3 && tc.channel {
					continue // the channel call's reply reaches its caller alone
				}
				c.pending[seq] = noReceiver
			}
			waited := make(chan *pb.Reply, 1)
			c.pending[4] = waited
			if tc.failAt == "" {
				c.fail(errors.New("send: broken pipe"))
			}
			if tc.channel {
				// The first frame as a channel call's reply (3) carrying
				// the posted replies and the batch's records.
				f := w.msgs[0]
				w.msgs = w.msgs[1:]
				r := &pb.Reply{Seq: 3, PostedDone: f.PostedDone, State: f.StateBefore}
				if err := c.foldChannelReply(r, HopStamp{}); err != nil && tc.failAt != "" {
					t.Fatalf("fold: %v", err)
				}
			}
			c.mu.Lock()
			c.reading = c.err == nil
			reading := c.reading
			c.mu.Unlock()
			if reading {
				c.receive(func(*pb.ServerMessage) bool { return false })
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("the client saw %q, want %q", got, tc.want)
			}
			select {
			case r, ok := <-waited:
				if ok != tc.waitedGot || ok && r.Seq != 4 {
					t.Errorf("the waited call got reply %v (delivered %v), want delivered %v", r, ok, tc.waitedGot)
				}
			default:
				t.Errorf("the waited call's caller was neither answered nor woken")
			}
			select {
			case <-c.recvDone:
			default:
				t.Errorf("recvDone not closed after the connection died")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.pending) != 0 {
				t.Errorf("calls still pending after the connection died: %d", len(c.pending))
			}
		})
	}
}
