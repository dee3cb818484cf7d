package transport

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// batchServer welcomes with FeaturePostBatch (unless old), counts the
// frames it receives and the posted calls each carried, and answers: a
// posted call's reply is held and rides in front of the next reply
// (ServerMessage.posted_replies), a call's reply goes at once.
type batchServer struct {
	pb.UnimplementedSentryServer
	old bool
	// replyLast sends the last reply of a frame of posted calls alone
	// as the message's reply, behind the others, as a server does
	// whose thread has no next call queued.
	replyLast bool

	mu sync.Mutex
	// frames are the posted calls' seqs each frame carried, and the
	// seq of its call (0: none), in arrival order.
	frames [][]uint64
	calls  []uint64
}

func (s *batchServer) Session(st pb.Sentry_SessionServer) error {
	m, err := st.Recv()
	if err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	features := pb.FeaturePostBatch
	if s.old {
		features = 0
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "batch", ProtocolVersion: pb.ProtocolVersion, Features: features}}})
	var held []*pb.Reply
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		if m.GetHeartbeat() != nil && len(m.PostedCalls) == 0 {
			continue
		}
		var seqs []uint64
		for _, c := range m.PostedCalls {
			seqs = append(seqs, c.Seq)
			held = append(held, &pb.Reply{Seq: c.Seq, Ret: int64(c.Seq)})
		}
		call := m.GetCall() // nil for a heartbeat carrying posted calls
		s.mu.Lock()
		s.frames = append(s.frames, seqs)
		s.calls = append(s.calls, call.GetSeq())
		s.mu.Unlock()
		if call == nil {
			switch {
			case len(held) > 0 && s.replyLast:
				last := held[len(held)-1]
				st.Send(&pb.ServerMessage{PostedReplies: held[:len(held)-1], Msg: &pb.ServerMessage_Reply{Reply: last}})
				held = nil
			case len(held) > 0:
				st.Send(&pb.ServerMessage{PostedReplies: held})
				held = nil
			}
			continue
		}
		if call.GetSyscall().GetPosted() {
			// Sent alone (an old client, or batching off): answered
			// alone.
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: call.Seq, Ret: int64(call.Seq)}}})
			continue
		}
		st.Send(&pb.ServerMessage{PostedReplies: held, Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: call.Seq, Ret: int64(call.Seq)}}})
		held = nil
	}
}

func (s *batchServer) seen() (frames [][]uint64, calls []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]uint64(nil), s.frames...), append([]uint64(nil), s.calls...)
}

// postedSeen counts the posted calls the frames seen so far carried.
func (s *batchServer) postedSeen() (n int) {
	frames, _ := s.seen()
	for _, f := range frames {
		n += len(f)
	}
	return n
}

func postedCall() *pb.Call {
	return &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 1, Posted: true, Inputs: []*pb.Region{{Data: []byte("data")}}}}}
}

// TestPostedCallsBatched: posted calls made with GoPosted go in one frame
// in front of the next call, their replies come back in front of its
// reply, and every reply reaches its channel, in order (OnReply sees
// them in seq order), on both wires; with NoPostBatch, or to a server
// without FeaturePostBatch, each goes alone.
func TestPostedCallsBatched(t *testing.T) {
	tests := []struct {
		name        string
		wire        Wire
		old, noBat  bool
		wantBatched bool
	}{
		{"framed", WireFramed, false, false, true},
		{"grpc", WireGRPC, false, false, true},
		{"batching off", WireFramed, false, true, false},
		{"old server", WireFramed, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
			tg, _ := ParseTarget(target)
			l, err := Listen(tg)
			if err != nil {
				t.Fatal(err)
			}
			g := grpc.NewServer(ServerOptions()...)
			s := &batchServer{old: tc.old}
			pb.RegisterSentryServer(g, s)
			go Serve(l, g, s.Session)
			t.Cleanup(g.Stop)
			var mu sync.Mutex
			var folded []uint64
			c, err := Dial(context.Background(), target, Options{Wire: tc.wire, NoPostBatch: tc.noBat, OnReply: func(r *pb.Reply) {
				mu.Lock()
				folded = append(folded, r.Seq)
				mu.Unlock()
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var chs []<-chan *pb.Reply
			for i := 0; i < 3; i++ {
				ch, err := c.GoPosted(postedCall())
				if err != nil {
					t.Fatal(err)
				}
				chs = append(chs, ch)
			}
			r, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}})
			if err != nil || r.Seq != 4 {
				t.Fatalf("call: %v %v, want the reply of seq 4", r, err)
			}
			for i, ch := range chs {
				select {
				case r := <-ch:
					if r.Seq != uint64(i+1) {
						t.Errorf("posted call %d got the reply of seq %d", i+1, r.Seq)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no reply for posted call %d", i+1)
				}
			}
			mu.Lock()
			got := append([]uint64(nil), folded...)
			mu.Unlock()
			if len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 {
				t.Errorf("OnReply saw seqs %v, want [1 2 3 4]", got)
			}
			frames, calls := s.seen()
			if tc.wantBatched {
				if len(frames) != 1 || len(frames[0]) != 3 || calls[0] != 4 {
					t.Errorf("frames carried posted seqs %v with calls %v, want one frame: [1 2 3] before call 4", frames, calls)
				}
				if c.PostedBatches() != 1 {
					t.Errorf("PostedBatches %d, want 1", c.PostedBatches())
				}
			} else if len(frames) != 4 {
				t.Errorf("frames carried posted seqs %v with calls %v, want four frames, one a call", frames, calls)
			}

			// A posted call with nothing after it still goes, within
			// post delay, alone, and is answered.
			ch, err := c.GoPosted(postedCall())
			if err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-ch:
				if r.Seq != 5 {
					t.Errorf("lone posted call got the reply of seq %d, want 5", r.Seq)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a lone posted call was never sent (or answered)")
			}
		})
	}
}

// dialBatchServer starts a batchServer and dials it on the framed wire;
// the connection is closed when the test ends.
func dialBatchServer(t *testing.T) (*batchServer, *StreamConn) {
	s := &batchServer{}
	return s, dialBatchServerWith(t, s, Options{})
}

// dialBatchServerWith starts s and dials it on the framed wire with
// opts; the connection is closed when the test ends.
func dialBatchServerWith(t *testing.T, s *batchServer, opts Options) *StreamConn {
	t.Helper()
	target, _ := serveSentryMux(t, s, s.Session)
	opts.Wire = WireFramed
	c, err := Dial(context.Background(), target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPostedBatchBounded: a queue of maxPostedBatch calls goes out at
// once, without waiting for the timer or a next message.
func TestPostedBatchBounded(t *testing.T) {
	s, c := dialBatchServer(t)
	// Only the bound may send: the hand-built queue has no timer, and
	// it starts in the future so that it is never due (a call posted
	// into a due queue sends it first), however late this thread runs.
	c.sendMu.Lock()
	c.postQSince = time.Now().Add(time.Hour)
	for i := 0; i < maxPostedBatch-1; i++ {
		call := postedCall()
		if _, err := c.register(call); err != nil {
			t.Fatal(err)
		}
		c.postQ = append(c.postQ, call)
	}
	c.sendMu.Unlock()
	if _, err := c.GoPosted(postedCall()); err != nil {
		t.Fatal(err)
	}
	frames, _ := s.seen()
	for deadline := time.Now().Add(10 * time.Second); len(frames) == 0 && time.Now().Before(deadline); frames, _ = s.seen() {
		time.Sleep(time.Millisecond)
	}
	if len(frames) != 1 || len(frames[0]) != maxPostedBatch {
		t.Fatalf("frames %v, want one of %d posted calls", frames, maxPostedBatch)
	}
}

// TestUnqueuePosted: a queued posted call is taken back only while it is
// the queue's last and unsent; the taken one is never sent, the others
// go as usual with the next call.
func TestUnqueuePosted(t *testing.T) {
	s, c := dialBatchServer(t)
	// Hold the send lock so that the timer cannot send the queue while
	// it is built.
	c.sendMu.Lock()
	first, second := postedCall(), postedCall()
	for _, call := range []*pb.Call{first, second} {
		if _, err := c.register(call); err != nil {
			t.Fatal(err)
		}
		c.postQ = append(c.postQ, call)
	}
	c.sendMu.Unlock()
	if c.UnqueuePosted(first) {
		t.Error("took back a posted call with another queued after it")
	}
	if !c.UnqueuePosted(second) {
		t.Fatal("could not take back the last queued posted call")
	}
	if c.UnqueuePosted(second) {
		t.Error("took back a posted call twice")
	}
	r, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	frames, calls := s.seen()
	if len(frames) != 1 || len(frames[0]) != 1 || frames[0][0] != first.Seq || calls[0] != r.Seq {
		t.Errorf("frames carried posted seqs %v with calls %v, want [%d] before call %d", frames, calls, first.Seq, r.Seq)
	}
	if c.UnqueuePosted(first) {
		t.Error("took back a posted call already sent")
	}
	c.mu.Lock()
	_, pending := c.pending[second.Seq]
	c.mu.Unlock()
	if pending {
		t.Error("the taken-back call's reply is still awaited")
	}
}

// TestDropPosted: a queued posted call is dropped from the queue's tail,
// the others edited, only while the tail is the queue's last calls,
// unsent; the dropped one is never sent nor awaited, the edited ones go
// as edited with the next call.
func TestDropPosted(t *testing.T) {
	s, c := dialBatchServer(t)
	// Hold the send lock so that the timer cannot send the queue while
	// it is built.
	c.sendMu.Lock()
	open, dup, listing := postedCall(), postedCall(), postedCall()
	for _, call := range []*pb.Call{open, dup, listing} {
		if _, err := c.register(call); err != nil {
			t.Fatal(err)
		}
		c.postQ = append(c.postQ, call)
	}
	c.postQTakeBacks = 3
	c.sendMu.Unlock()
	edited := 0
	edit := func() { edited++; open.GetSyscall().Sysno = 3 }
	if c.DropPosted([]*pb.Call{open, dup}, dup, edit) {
		t.Error("dropped from a tail with another call queued after it")
	}
	if c.DropPosted([]*pb.Call{dup, listing}, open, edit) {
		t.Error("dropped a call outside the tail")
	}
	if edited != 0 {
		t.Fatalf("edited %d times where nothing was dropped", edited)
	}
	if !c.DropPosted([]*pb.Call{open, dup, listing}, dup, edit) || edited != 1 {
		t.Fatalf("could not drop the middle of the queue's tail (edited %d times)", edited)
	}
	if c.postQTakeBacks != 2 || len(c.postQ) != 2 {
		t.Errorf("take-back tail %d of %d queued, want 2 of 2", c.postQTakeBacks, len(c.postQ))
	}
	if c.DropPosted([]*pb.Call{open, dup, listing}, dup, edit) {
		t.Error("dropped a posted call twice")
	}
	r, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	frames, calls := s.seen()
	if len(frames) != 1 || !slices.Equal(frames[0], []uint64{open.Seq, listing.Seq}) || calls[0] != r.Seq {
		t.Errorf("frames carried posted seqs %v with calls %v, want [%d %d] before call %d", frames, calls, open.Seq, listing.Seq, r.Seq)
	}
	if c.DropPosted([]*pb.Call{open, listing}, listing, edit) {
		t.Error("dropped a posted call already sent")
	}
	c.mu.Lock()
	_, pending := c.pending[dup.Seq]
	c.mu.Unlock()
	if pending {
		t.Error("the dropped call's reply is still awaited")
	}
}

// TestDropPostedIf: a queued posted call is dropped only while the
// queue's last call is the one named last, and the calls after it are
// all neutral; the others stay queued and go with the next call.
func TestDropPostedIf(t *testing.T) {
	s, c := dialBatchServer(t)
	c.sendMu.Lock()
	dup, open, listing := postedCall(), postedCall(), postedCall()
	for _, call := range []*pb.Call{dup, open, listing} {
		if _, err := c.register(call); err != nil {
			t.Fatal(err)
		}
		c.postQ = append(c.postQ, call)
	}
	c.sendMu.Unlock()
	var seen []uint64
	neutral := func(call *pb.Call) bool { seen = append(seen, call.Seq); return call != open }
	if c.DropPostedIf(dup, listing.Seq, neutral) {
		t.Error("dropped a call with one that is not neutral after it")
	}
	if c.DropPostedIf(dup, listing.Seq+1, func(*pb.Call) bool { return true }) {
		t.Error("dropped a call when the queue's last is not the last posted")
	}
	seen = nil
	if !c.DropPostedIf(open, listing.Seq, neutral) {
		t.Fatal("could not drop a call with only neutral ones after it")
	}
	if want := []uint64{listing.Seq}; !slices.Equal(seen, want) {
		t.Errorf("neutral asked of seqs %v, want %v (the calls after the dropped one)", seen, want)
	}
	if c.DropPostedIf(open, listing.Seq, neutral) {
		t.Error("dropped a posted call twice")
	}
	r, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	frames, calls := s.seen()
	if len(frames) != 1 || !slices.Equal(frames[0], []uint64{dup.Seq, listing.Seq}) || calls[0] != r.Seq {
		t.Errorf("frames carried posted seqs %v with calls %v, want [%d %d] before call %d", frames, calls, dup.Seq, listing.Seq, r.Seq)
	}
	if c.DropPostedIf(listing, listing.Seq, neutral) {
		t.Error("dropped a posted call already sent")
	}
}

// TestDueQueueLeavesNewCall: a call posted into a due queue sends the
// queue without it, so the new call stays queued and may still be taken
// back (an open its close follows at once). When the due send took it
// along, a loop of open+close pairs sent one pair every postDue: the
// close of the pair caught in the frame was posted, due in its turn when
// a later open came, which went with it, and so on.
//
// Each pair runs on a connection of its own, and a pair whose test thread
// was descheduled past the post delay (the queue's timer may then have
// sent it, which is right) proves nothing and is run again: on a loaded
// machine a sleep overshoots by more than the margin between due and
// late.
func TestDueQueueLeavesNewCall(t *testing.T) {
	const (
		delay    = 40 * time.Millisecond
		pairs    = 4
		attempts = 40
	)
	valid := 0
	for a := 0; valid < pairs; a++ {
		if a == attempts {
			t.Fatalf("only %d of %d attempts ran within the post delay", valid, attempts)
		}
		if dueQueuePair(t, delay) {
			valid++
		}
	}
}

// dueQueuePair posts a call, then another once the queue is due, and
// checks the due queue went without the new call and not by its timer;
// false: the pair overran the post delay and proves nothing.
func dueQueuePair(t *testing.T, delay time.Duration) bool {
	t.Helper()
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: delay, HeartbeatInterval: time.Hour})
	older := postedCall()
	began := time.Now()
	if err := c.Post(older); err != nil {
		t.Fatal(err)
	}
	// Due (3/4 of the delay) but not late: the timer has not fired.
	time.Sleep(c.postDue() + delay/16)
	open := postedCall()
	if err := c.Post(open); err != nil {
		t.Fatal(err)
	}
	taken := c.UnqueuePosted(open)
	if time.Since(began) >= delay {
		return false
	}
	if !taken {
		t.Fatal("the call posted into a due queue went with it: it cannot be taken back")
	}
	waitFor(t, "the due queue at the server", func() bool {
		frames, _ := s.seen()
		return len(frames) == 1
	})
	frames, _ := s.seen()
	if len(frames[0]) != 1 {
		t.Errorf("the frame carried posted calls %v, want the older call alone", frames[0])
	}
	if late := c.postedLate.Load(); late != 0 {
		t.Errorf("%d queues sent by the timer, want the queue sent by the call posted when it was due", late)
	}
	return true
}

// TestTakeBackKeptOnce: a call posted with PostTakeBack, the queue's
// last, is left queued by the queue's timer and by a heartbeat (the
// calls before it go), so it may still be taken back after a post delay;
// a later firing sends it (TestTakeBackTail counts them). A call posted
// with Post after it ends that: the timer sends both.
func TestTakeBackKeptOnce(t *testing.T) {
	const delay = 100 * time.Millisecond
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: delay, HeartbeatInterval: time.Hour})
	seen := s.postedSeen
	older, open := postedCall(), postedCall()
	if err := c.Post(older); err != nil {
		t.Fatal(err)
	}
	if err := c.PostTakeBack(open); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer sending the older call", func() bool { return seen() == 1 })
	if !c.UnqueuePosted(open) {
		t.Fatal("the timer sent the call posted to be taken back")
	}
	// A heartbeat leaves it too, then the timer sends it.
	open = postedCall()
	if err := c.PostTakeBack(open); err != nil {
		t.Fatal(err)
	}
	if err := c.sendBeat(&pb.ClientMessage{Msg: &pb.ClientMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer sending the kept call", func() bool { return seen() == 2 })
	if c.UnqueuePosted(open) {
		t.Error("took back a call the timer sent")
	}
	frames, _ := s.seen()
	if f := frames[len(frames)-1]; len(f) != 1 || f[0] != open.Seq {
		t.Errorf("the last frame carried %v, want the kept call %d", f, open.Seq)
	}
	// Not the queue's last: sent with the call after it.
	first, second := postedCall(), postedCall()
	if err := c.PostTakeBack(first); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer sending both calls", func() bool { return seen() == 4 })
}

// TestTakeBackTail: the calls posted with PostTakeBack last, one after
// the other (an open, its listing's posted call, a subdirectory's open),
// form the queue's take-back tail: the timer and a call posted into a due
// queue that extends the tail leave them all queued, up to
// maxTakeBackKeeps times, and UnqueuePosted takes back the last ones
// together (all or none), leaving the rest of the tail queued. Without
// the tail (one call kept, once), find's open and listing went out with
// the timer and its close had to follow them.
func TestTakeBackTail(t *testing.T) {
	const delay = 20 * time.Millisecond
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: delay, HeartbeatInterval: time.Hour})
	seen := s.postedSeen
	older, open, listing := postedCall(), postedCall(), postedCall()
	if err := c.Post(older); err != nil {
		t.Fatal(err)
	}
	if err := c.PostTakeBack(open); err != nil {
		t.Fatal(err)
	}
	if err := c.PostTakeBack(listing); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer sending the older call", func() bool { return seen() == 1 })
	// A subdirectory's open posted into the due queue: nothing but the
	// tail is queued, nothing goes.
	time.Sleep(c.postDue() + delay/8)
	sub, subListing := postedCall(), postedCall()
	if err := c.PostTakeBack(sub); err != nil {
		t.Fatal(err)
	}
	if err := c.PostTakeBack(subListing); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * delay)
	if c.UnqueuePosted(open, listing) {
		t.Fatal("took back calls that are not the queue's last")
	}
	if c.UnqueuePosted(sub) {
		t.Fatal("took back a call with another queued after it")
	}
	if !c.UnqueuePosted(sub, subListing) {
		t.Fatal("the subdirectory's calls were sent or not the queue's last")
	}
	if !c.UnqueuePosted(open, listing) {
		t.Fatal("the timer or the due queue sent the take-back tail")
	}
	if n := seen(); n != 1 {
		t.Errorf("the server saw %d calls, want the older one alone", n)
	}
	c.mu.Lock()
	for _, call := range []*pb.Call{open, listing, sub, subListing} {
		if _, pending := c.pending[call.Seq]; pending {
			t.Errorf("call %d taken back is still awaited", call.Seq)
		}
	}
	c.mu.Unlock()

	// Left alone, the tail goes after maxTakeBackKeeps keeps, in one
	// frame.
	open, listing = postedCall(), postedCall()
	start := time.Now()
	if err := c.PostTakeBack(open); err != nil {
		t.Fatal(err)
	}
	if err := c.PostTakeBack(listing); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer sending the tail", func() bool { return seen() == 3 })
	if took := time.Since(start); took < maxTakeBackKeeps*delay {
		t.Errorf("the tail went after %v, want it kept %d post delays of %v", took, maxTakeBackKeeps, delay)
	}
	frames, _ := s.seen()
	if f := frames[len(frames)-1]; len(f) != 2 || f[0] != open.Seq || f[1] != listing.Seq {
		t.Errorf("the last frame carried %v, want the tail %d, %d", f, open.Seq, listing.Seq)
	}
	if c.UnqueuePosted(open, listing) {
		t.Error("took back calls the timer sent")
	}
}

// TestPostedLoopBatches: a loop of posted calls with nothing else sent
// (a program calling umask in a loop) goes out in full batches, of
// maxPostedBatch calls at least (postSender sends a full queue; the loop
// may add to it meanwhile, up to maxPostedQueue), not a frame per call
// or per timer tick: at most N/maxPostedBatch frames for N calls, with
// slack for a loaded machine (a loop descheduled past the post delay
// sends a partial batch), and every call is answered.
func TestPostedLoopBatches(t *testing.T) {
	const calls = 40 * maxPostedBatch
	s, c := dialBatchServer(t)
	chs := make([]<-chan *pb.Reply, 0, calls)
	for i := 0; i < calls; i++ {
		ch, err := c.GoPosted(postedCall())
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, ch)
	}
	for i, ch := range chs {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("posted call %d never answered", i+1)
		}
	}
	frames, _ := s.seen()
	full := 0
	for _, f := range frames {
		if len(f) > maxPostedQueue {
			t.Errorf("a frame of %d posted calls, want at most %d", len(f), maxPostedQueue)
		}
		if len(f) >= maxPostedBatch {
			full++
		}
	}
	if got := c.PostedBatches(); got != uint64(len(frames)) || len(frames) > calls/maxPostedBatch+10 || full < len(frames)-10 {
		t.Errorf("%d posted calls in a loop went in %d frames (PostedBatches %d), %d of them full, want at most %d, all but a few full",
			calls, len(frames), got, full, calls/maxPostedBatch)
	}
}

// TestDispatchPosted: the replies of a batch, some packed
// (ServerMessage.posted_done: a result alone each) and some whole, reach
// OnReply and their callers merged in seq order, with their results; a
// malformed packed list (more seqs than results) answers only the calls
// it gives a result for.
func TestDispatchPosted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		full    []uint64
		done    *pb.PostedDone
		writes  *pb.PostedWrites
		want    []uint64
		wantRet map[uint64]int64
		// wantWritten are the files of the Reply.written OnReply saw.
		wantWritten map[uint64]uint64
	}{
		{"packed alone", nil, &pb.PostedDone{Seq: []uint64{1, 2, 3}, Ret: []int64{18, 0, -1}}, nil, []uint64{1, 2, 3}, map[uint64]int64{1: 18, 3: -1}, nil},
		{"merged", []uint64{2, 5}, &pb.PostedDone{Seq: []uint64{1, 3, 4, 6}, Ret: []int64{1, 3, 4, 6}}, nil, []uint64{1, 2, 3, 4, 5, 6}, map[uint64]int64{1: 1, 3: 3, 4: 4, 6: 6}, nil},
		{"whole alone", []uint64{7, 8}, nil, nil, []uint64{7, 8}, nil, nil},
		{"malformed", nil, &pb.PostedDone{Seq: []uint64{1, 2, 3}, Ret: []int64{5}}, nil, []uint64{1}, map[uint64]int64{1: 5}, nil},
		{"writes merged", []uint64{3}, &pb.PostedDone{Seq: []uint64{1, 6}, Ret: []int64{1, 6}},
			&pb.PostedWrites{Seq: []uint64{2, 4, 5, 8}, Ret: []int64{4096, 4096, 1, 2}, File: []uint64{9, 9, 10, 9}, Offset: []int64{0, 4096, 0, 8192}, MovedTo: []int64{4096, 8192, -1, 8194}},
			[]uint64{1, 2, 3, 4, 5, 6, 8}, map[uint64]int64{1: 1, 2: 4096, 4: 4096, 5: 1, 6: 6, 8: 2}, map[uint64]uint64{2: 9, 4: 9, 5: 10, 8: 9}},
		{"writes malformed", nil, nil, &pb.PostedWrites{Seq: []uint64{1, 2}, Ret: []int64{1, 2}, File: []uint64{9, 9}, Offset: []int64{0, 1}, MovedTo: []int64{1}},
			[]uint64{1}, map[uint64]int64{1: 1}, map[uint64]uint64{1: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			rets := map[uint64]int64{}
			written := map[uint64]uint64{}
			c := &StreamConn{pending: map[uint64]chan *pb.Reply{}, opts: Options{OnReply: func(r *pb.Reply) {
				got = append(got, r.Seq)
				if r.Ret != 0 {
					rets[r.Seq] = r.Ret
				}
				if w := r.GetWritten(); w != nil {
					written[r.Seq] = w.File
				}
			}}}
			chs := map[uint64]chan *pb.Reply{}
			for seq := uint64(1); seq <= 8; seq++ {
				chs[seq] = make(chan *pb.Reply, 1)
				c.pending[seq] = chs[seq]
			}
			var full []*pb.Reply
			for _, s := range tc.full {
				full = append(full, &pb.Reply{Seq: s, Errno: 1})
			}
			c.dispatchPosted(full, tc.done, tc.writes)
			if !slices.Equal(got, tc.want) {
				t.Errorf("OnReply saw %v, want %v", got, tc.want)
			}
			if len(written) != len(tc.wantWritten) || !maps.Equal(written, tc.wantWritten) {
				t.Errorf("OnReply saw writes %v (seq: file), want %v", written, tc.wantWritten)
			}
			for _, s := range tc.want {
				select {
				case r := <-chs[s]:
					if r.Ret != tc.wantRet[s] {
						t.Errorf("seq %d got result %d, want %d", s, r.Ret, tc.wantRet[s])
					}
				default:
					t.Errorf("seq %d got no reply", s)
				}
			}
			if len(c.pending) != 8-len(tc.want) {
				t.Errorf("%d calls still pending, want %d", len(c.pending), 8-len(tc.want))
			}
		})
	}
}

// TestPostNoChannel: a call queued by Post reaches OnReply with its reply
// and costs no reply channel; GoPosted still makes one. Allocations per
// Post are counted (the Call is the caller's).
func TestPostNoChannel(t *testing.T) {
	s := &batchServer{}
	target, _ := serveSentryMux(t, s, s.Session)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	c, err := Dial(context.Background(), target, Options{Wire: WireFramed, OnReply: func(r *pb.Reply) {
		mu.Lock()
		seen[r.Seq] = true
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := postedCall()
	if err := c.Post(call); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	ch := c.pending[call.Seq]
	c.mu.Unlock()
	if ch != noReceiver {
		t.Errorf("Post registered a reply channel")
	}
	// A waited call takes the queue along; its reply comes after.
	if _, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := seen[call.Seq]
	mu.Unlock()
	if !got {
		t.Errorf("the posted call's reply did not reach OnReply")
	}
	// Amortized: the queue's and the pending map's growth.
	calls := make([]*pb.Call, 0, 101)
	for i := 0; i < 101; i++ {
		calls = append(calls, postedCall())
	}
	i := 0
	allocs := testing.AllocsPerRun(50, func() {
		if err := c.Post(calls[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	t.Logf("%.2f allocations per Post", allocs)
	if allocs > 1 {
		t.Errorf("%.2f allocations per Post, want at most 1 (no reply channel)", allocs)
	}
}

// TestDispatchPostedAllocs: the packed replies of a batch (posted_done,
// posted_writes) cost one allocation per list of the batch (two for the
// writes: their Replies and their Reply.written), not one per call: the
// Replies handed to OnReply are made together.
func TestDispatchPostedAllocs(t *testing.T) {
	const batch = 64
	for _, tc := range []struct {
		name       string
		done       bool
		writes     bool
		wantAllocs float64
	}{
		// The results' Replies of one batch serve the next
		// (TestPackedDoneReused): none after the first.
		{"done", true, false, 0},
		{"writes", false, true, 2},
		{"both", true, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var answered int
			c := &StreamConn{pending: map[uint64]chan *pb.Reply{}, opts: Options{OnReply: func(r *pb.Reply) {
				if r.Ret == int64(r.Seq) && (r.Written == nil || r.Written.File == r.Seq) {
					answered++
				}
			}}}
			var done *pb.PostedDone
			var writes *pb.PostedWrites
			var seqs []uint64
			for seq := uint64(1); seq <= batch; seq++ {
				seqs = append(seqs, seq)
				switch {
				case tc.done && (!tc.writes || seq%2 == 0):
					if done == nil {
						done = &pb.PostedDone{}
					}
					done.Seq = append(done.Seq, seq)
					done.Ret = append(done.Ret, int64(seq))
				default:
					if writes == nil {
						writes = &pb.PostedWrites{}
					}
					writes.Seq = append(writes.Seq, seq)
					writes.Ret = append(writes.Ret, int64(seq))
					writes.File = append(writes.File, seq)
					writes.Offset = append(writes.Offset, 0)
					writes.MovedTo = append(writes.MovedTo, int64(seq))
				}
			}
			allocs := testing.AllocsPerRun(20, func() {
				for _, seq := range seqs {
					c.pending[seq] = noReceiver
				}
				c.dispatchPosted(nil, done, writes)
			})
			t.Logf("%.2f allocations per batch of %d packed replies", allocs, batch)
			if allocs > tc.wantAllocs {
				t.Errorf("%.2f allocations per batch of %d packed replies, want at most %v", allocs, batch, tc.wantAllocs)
			}
			if answered != 21*batch {
				t.Errorf("OnReply saw %d replies with their results, want %d", answered, 21*batch)
			}
		})
	}
}

// TestPackedDoneReused: the Replies of a message's packed results
// (posted_done) serve the next message's once handed out, zeroed (a
// field OnReply set is gone); not when one of them reached a waiting
// caller, whose reply then keeps its values.
func TestPackedDoneReused(t *testing.T) {
	var seen []*pb.Reply
	c := &StreamConn{pending: map[uint64]chan *pb.Reply{}, opts: Options{OnReply: func(r *pb.Reply) {
		if r.Errno != 0 || r.Ret != int64(r.Seq) {
			t.Errorf("reply %d: ret %d, errno %d; want ret %d and no errno (a reused reply not zeroed)", r.Seq, r.Ret, r.Errno, r.Seq)
		}
		seen = append(seen, r)
		// What a caller may write in a reply it is handed.
		r.Errno = 9
	}}}
	var seq uint64
	batch := func(waited bool) (*pb.PostedDone, chan *pb.Reply) {
		done := &pb.PostedDone{}
		var ch chan *pb.Reply
		for i := range 4 {
			seq++
			done.Seq = append(done.Seq, seq)
			done.Ret = append(done.Ret, int64(seq))
			c.pending[seq] = noReceiver
			if waited && i == 1 {
				ch = make(chan *pb.Reply, 1)
				c.pending[seq] = ch
			}
		}
		return done, ch
	}
	dispatch := func(waited bool) chan *pb.Reply {
		done, ch := batch(waited)
		seen = seen[:0]
		if n := c.dispatchPosted(nil, done, nil); n != 4 {
			t.Fatalf("%d replies handed on, want 4", n)
		}
		return ch
	}
	dispatch(false)
	first := seen[0]
	dispatch(false)
	if seen[0] != first {
		t.Errorf("the second message's replies were made anew, want the first's reused")
	}
	// A waiting caller gets one of the next message's replies: that
	// message's are not reused.
	ch := dispatch(true)
	got := <-ch
	keptSeq, keptRet := got.Seq, got.Ret
	dispatch(false)
	if got.Seq != keptSeq || got.Ret != keptRet || got.Errno != 9 {
		t.Errorf("the reply a caller waited for changed after the next message: seq %d ret %d errno %d, was seq %d ret %d errno 9", got.Seq, got.Ret, got.Errno, keptSeq, keptRet)
	}
	for _, r := range seen {
		if r == got {
			t.Errorf("the reply a caller waited for (seq %d) was reused for seq %d", keptSeq, r.Seq)
		}
	}
}

// TestPostDelayOption: Options.PostDelay is defaulted when unset and
// bounded by MaxPostDelay.
func TestPostDelayOption(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{0, DefaultPostDelay},
		{-time.Millisecond, DefaultPostDelay},
		{500 * time.Microsecond, 500 * time.Microsecond},
		{MaxPostDelay, MaxPostDelay},
		{time.Hour, MaxPostDelay},
	} {
		if got := (Options{PostDelay: tc.set}).postDelay(); got != tc.want {
			t.Errorf("PostDelay %v: got %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestPostedLoopSendsInline: a program posting calls spaced so that a
// batch is not full when its post delay ends (a loaded machine, or
// writes behind between computations) has each batch sent by the
// thread that posts into a due queue, not by the queue's timer (a
// goroutine started per batch, its stack grown to marshal the frame).
// The timer sends only a queue that no later call found due: the last,
// and one after each pause of the loop longer than the time between a
// queue's being due and its delay (a descheduled loop, counted).
func TestPostedLoopSendsInline(t *testing.T) {
	const delay = 800 * time.Microsecond
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: delay})
	const gap, calls = delay / 16, 400
	sent := 0
	for attempt := 1; ; attempt++ {
		late0, batches0 := c.postedLate.Load(), c.PostedBatches()
		pauses := postSpaced(t, c, calls, gap)
		sent += calls
		late, batches := c.postedLate.Load()-late0, c.PostedBatches()-batches0
		t.Logf("%d calls spaced %v: %d batches, %d sent by the timer, %d pauses of the loop", calls, gap, batches, late, pauses)
		if batches < calls/maxPostedBatch {
			t.Fatalf("%d batches for %d calls, want at least %d", batches, calls, calls/maxPostedBatch)
		}
		if pauses > batches/4 {
			// Too loaded a machine to tell: try again.
			if attempt == 20 {
				t.Fatalf("the posting loop paused in %d of %d batches in every attempt", pauses, batches)
			}
			continue
		}
		if late > 1+pauses {
			t.Errorf("%d of %d batches were sent by the timer, want at most %d (the last, and one per pause)", late, batches, 1+pauses)
		}
		break
	}
	// The last queue, which no later call finds due, still goes out
	// within the delay.
	waitFor(t, "the server seeing every posted call", func() bool {
		frames, _ := s.seen()
		n := 0
		for _, f := range frames {
			n += len(f)
		}
		return n == sent
	})
}

// waitFor waits up to 10 s for cond, polling.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// postSpaced posts n calls on c, one every gap (spinning, as a sleep may
// oversleep, and yielding, so that other goroutines run), and returns
// how many times the loop paused past the rest of the post delay after
// a queue was due (counted between one Post's return and the next).
func postSpaced(t *testing.T, c *StreamConn, n int, gap time.Duration) (pauses uint64) {
	t.Helper()
	last := time.Now()
	for i := 0; i < n; i++ {
		for time.Since(last) < gap {
			runtime.Gosched()
		}
		if time.Since(last) >= c.postDelay-c.postDue() {
			pauses++
		}
		if err := c.Post(postedCall()); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
	}
	return pauses
}

// TestPostedLoopOneReader: the replies of a program posting in a loop
// are received by one background reader, not one started per batch (a
// goroutine, after the token was free for idleTakeover), although no
// call is in flight between a batch's replies and the loop's next call
// and the batch's last reply comes as a message's reply; a waited call
// made after the loop still gets its reply.
func TestPostedLoopOneReader(t *testing.T) {
	s := &batchServer{replyLast: true}
	c := dialBatchServerWith(t, s, Options{})
	const calls = 400
	postSpaced(t, c, 10, 0) // the reader of the Dial is at work
	t0 := c.takeovers.Load()
	postSpaced(t, c, calls, c.postDelay/16)
	// Every reply in: the server answered each frame of posted calls.
	waitFor(t, "every posted call answered", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 0
	})
	frames, _ := s.seen()
	started := c.takeovers.Load() - t0
	t.Logf("%d posted calls in %d frames: %d background readers started", calls+10, len(frames), started)
	if started > 1 {
		t.Errorf("%d background readers started for %d batches of posted calls, want at most 1", started, len(frames))
	}
	r, err := c.Call(context.Background(), &pb.Call{Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 2}}})
	if err != nil || r.Ret != int64(r.Seq) {
		t.Fatalf("a waited call after the loop: %v, %v", r, err)
	}
}

// TestPostTimerStartsNoGoroutine: a queue sent by its timer (the
// program paused past the post delay) is sent by the connection's one
// sender goroutine; before, each firing of the queue's time.AfterFunc
// started a goroutine, its stack grown anew to marshal the frame. The
// count is of the goroutines the whole test process started (the
// in-process server's included) while batches of one call each went
// out on the timer, every reply in.
func TestPostTimerStartsNoGoroutine(t *testing.T) {
	const delay, batches = 200 * time.Microsecond, 100
	s := &batchServer{}
	c := dialBatchServerWith(t, s, Options{PostDelay: delay})
	// Each batch goes out when its timer fires (or a heartbeat takes
	// it), its reply in before the next.
	sendOne := func(i int) {
		ch, err := c.GoPosted(postedCall())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-ch:
			if r == nil {
				t.Fatalf("batch %d: the connection died", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d: no reply in 10 s", i)
		}
	}
	// The first batch starts what a session starts once.
	sendOne(0)
	started0, late0 := goroutinesCreated(), c.postedLate.Load()
	for i := 1; i <= batches; i++ {
		sendOne(i)
	}
	started, late := goroutinesCreated()-started0, c.postedLate.Load()-late0
	t.Logf("%d goroutines started for %d batches, %d of them sent by the queue's timer", started, batches, late)
	if late < batches/2 {
		t.Fatalf("%d of %d batches sent by the queue's timer: the test tested little", late, batches)
	}
	if started > late/10 {
		t.Errorf("%d goroutines started for %d batches sent by the queue's timer, want at most %d", started, late, late/10)
	}
}

// goroutinesCreated is how many goroutines the test process started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
