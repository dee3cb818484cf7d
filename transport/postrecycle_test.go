package transport

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// recordingWire is a wire that sends nowhere: it encodes each message on
// send, as the framed wire does (encodes), or keeps it unencoded, as
// gRPC's stats handlers may (not encodes), and records the seqs of the
// posted calls each message carried, in arrays made beforehand so that
// recording allocates nothing.
type recordingWire struct {
	encodes bool
	buf     []byte
	// seqs are the posted calls' seqs of every message sent, in order;
	// ends are where each message's end in seqs.
	seqs []uint64
	ends []int
	// kept are the messages sent, when the wire does not encode.
	kept []*pb.ClientMessage
}

func (w *recordingWire) send(m *pb.ClientMessage) error {
	if w.encodes {
		var err error
		if w.buf, err = (proto.MarshalOptions{}).MarshalAppend(w.buf[:0], m); err != nil {
			return err
		}
	} else {
		w.kept = append(w.kept, m)
	}
	for _, c := range m.PostedCalls {
		w.seqs = append(w.seqs, c.Seq)
	}
	w.ends = append(w.ends, len(w.seqs))
	return nil
}

func (w *recordingWire) recv() (*pb.ServerMessage, error) { select {} }
func (w *recordingWire) close() error                     { return nil }
func (w *recordingWire) closeWrite() error                { return nil }
func (w *recordingWire) encodesOnSend() bool              { return w.encodes }

// recordingConn is a StreamConn over w as Dial makes one with
// FeaturePostBatch, whose queue is never due (a post delay of an hour):
// only maxPostedBatch sends it. Its in-flight map has room for calls.
func recordingConn(w *recordingWire, calls int) *StreamConn {
	c := &StreamConn{w: w, pending: make(map[uint64]chan *pb.Reply, calls),
		done: make(chan struct{}), batchPosted: true, postDelay: time.Hour,
		reusePosted: w.encodesOnSend()}
	c.postTimer = time.NewTimer(time.Hour)
	c.postTimer.Stop()
	return c
}

// TestPostedQueueRecycled: on a wire that encodes on send (the framed
// socket), a batch of posted calls sent on the socket gives its queue's
// array and message to the next batch: posting a batch of
// maxPostedBatch calls, its send included, allocates nothing (it grew
// a new queue and made two messages each time: 9 allocations a batch). Every
// batch still carries its own calls, in order. On a wire that may read a
// sent message later (gRPC), nothing is reused: each sent message keeps
// its calls.
func TestPostedQueueRecycled(t *testing.T) {
	const runs = 40
	for _, tc := range []struct {
		name     string
		encodes  bool
		maxAlloc float64
	}{
		{"encodes on send", true, 1},
		// A new queue and message a batch: the queue's growth (7) and
		// the message (1).
		{"keeps messages", false, 7 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := maxPostedBatch * (runs + 1)
			w := &recordingWire{encodes: tc.encodes, buf: make([]byte, 0, 64<<10),
				seqs: make([]uint64, 0, n), ends: make([]int, 0, runs+1), kept: make([]*pb.ClientMessage, 0, runs+1)}
			c := recordingConn(w, n)
			calls := make([]*pb.Call, n)
			for i := range calls {
				calls[i] = postedCall()
			}
			next := 0
			allocs := testing.AllocsPerRun(runs, func() {
				for range maxPostedBatch {
					if err := c.Post(calls[next]); err != nil {
						t.Fatal(err)
					}
					next++
				}
			})
			t.Logf("%.0f allocations a batch of %d posted calls", allocs, maxPostedBatch)
			if allocs > tc.maxAlloc {
				t.Errorf("%.0f allocations a batch of %d posted calls, want at most %.0f", allocs, maxPostedBatch, tc.maxAlloc)
			}
			if len(w.ends) != runs+1 {
				t.Fatalf("%d messages sent, want %d (one a batch)", len(w.ends), runs+1)
			}
			start := 0
			for i, end := range w.ends {
				want := make([]uint64, maxPostedBatch)
				for j := range want {
					want[j] = calls[i*maxPostedBatch+j].Seq
				}
				if got := w.seqs[start:end]; !slices.Equal(got, want) {
					t.Fatalf("message %d carried seqs %v, want %v", i, got, want)
				}
				start = end
			}
			// A message the wire kept still holds its own calls after
			// the batches sent after it.
			for i, m := range w.kept {
				for j, call := range m.PostedCalls {
					if call != calls[i*maxPostedBatch+j] {
						t.Fatalf("kept message %d's call %d is seq %d, want %d: its queue was reused", i, j, call.GetSeq(), calls[i*maxPostedBatch+j].Seq)
					}
				}
			}
		})
	}
}

// TestRecycledQueueForgetsCalls: the queue's array given to the next
// batch holds none of the sent batch's calls (a replied call is not
// kept alive by it), and a message sent after the batch carries no
// posted calls of its own.
func TestRecycledQueueForgetsCalls(t *testing.T) {
	w := &recordingWire{encodes: true}
	c := recordingConn(w, maxPostedBatch)
	for range maxPostedBatch {
		if err := c.Post(postedCall()); err != nil {
			t.Fatal(err)
		}
	}
	c.sendMu.Lock()
	q := c.postQ
	msg := c.postedMsg.PostedCalls
	c.sendMu.Unlock()
	if cap(q) < maxPostedBatch || len(q) != 0 {
		t.Fatalf("next queue has length %d, capacity %d; want the sent batch's array (0, %d)", len(q), cap(q), maxPostedBatch)
	}
	for i, call := range q[:cap(q)] {
		if call != nil {
			t.Fatalf("recycled queue's slot %d still holds seq %d", i, call.Seq)
		}
	}
	if msg != nil {
		t.Fatalf("reused message still carries %d posted calls", len(msg))
	}
	if err := c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.ends); n != 2 || w.ends[1] != w.ends[0] {
		t.Fatalf("message ends %v: the message after the batch carried posted calls", w.ends)
	}
}

// TestChannelBatchQueueRecycled: the batch a channel call carried
// (ChannelStamp.posted) is given back once CallInto encoded it: the
// next queue fills the same array, its calls forgotten, so that a
// thread alternating posted calls and channel calls grows no queue (a
// batch of 3 grew one of 1, 2, then 4 pointers each time). A queue
// started since the stamp keeps its own array.
func TestChannelBatchQueueRecycled(t *testing.T) {
	target := startHop(t, &hopServer{batches: true})
	c := dialHop(t, target, Options{Channels: true, PostDelay: MaxPostDelay})
	ch := takeChannel(t, c)
	seq := uint64(0)
	post := func() {
		seq++
		if err := c.Post(&pb.Call{Seq: seq, Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Posted: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// postBetween posts a call between the stamp and the channel
		// call, starting a queue of its own.
		postBetween bool
	}{
		{"next queue takes it", false},
		{"queue started since", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 {
				post()
			}
			seq++
			call := &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Args: []uint64{0}}}}
			st, err := c.StampChannel(call)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.posted) != 3 {
				t.Fatalf("stamp carries %d posted calls, want 3", len(st.posted))
			}
			if tc.postBetween {
				post()
			}
			if _, err := ch.Call(call, st); err != nil {
				t.Fatal(err)
			}
			post()
			c.sendMu.Lock()
			q := c.postQ
			c.sendMu.Unlock()
			same := &q[:1][0] == &st.posted[:1][0]
			if same == tc.postBetween {
				t.Fatalf("next queue uses the stamp's array: %v, want %v", same, !tc.postBetween)
			}
			if same {
				for i, call := range st.posted[1:cap(st.posted)] {
					if call != nil {
						t.Fatalf("recycled array's slot %d still holds seq %d", i+1, call.Seq)
					}
				}
			}
			if err := c.SendPosted(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFullQueueLeftToSender: the call that fills the queue to
// maxPostedBatch does not send it (the client's posting goroutine runs
// the application's system calls) but asks the connection's sender to
// (postFull); the sender's send (flushPostedFull) carries every call
// queued by then. Past maxPostedQueue the poster sends it itself.
func TestFullQueueLeftToSender(t *testing.T) {
	w := &recordingWire{encodes: true}
	c := recordingConn(w, 2*maxPostedQueue)
	c.postFull = make(chan struct{}, 1) // no sender reads it: the test does
	post := func(n int) {
		for i := 0; i < n; i++ {
			if err := c.Post(&pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 95, Posted: true}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	post(maxPostedBatch + 3)
	if len(w.ends) != 0 {
		t.Fatalf("the poster sent the full queue: frames end at %v", w.ends)
	}
	select {
	case <-c.postFull:
	default:
		t.Fatal("no send asked of the sender")
	}
	c.flushPostedFull()
	if len(w.ends) != 1 || w.ends[0] != maxPostedBatch+3 {
		t.Fatalf("frames end at %v, want one frame of %d calls", w.ends, maxPostedBatch+3)
	}
	post(maxPostedQueue)
	if len(w.ends) != 2 || w.ends[1]-w.ends[0] != maxPostedQueue {
		t.Fatalf("frames end at %v, want the poster's own of %d calls past the bound", w.ends, maxPostedQueue)
	}
}
