package transport

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// echoServer replies to each call with ret = seq, pushes a StdioOutput
// before each reply, and can be told to go silent (stop heartbeats). A
// call with a negative tid gets no reply; Interrupt{tid: n} asks for a
// push ("late") n milliseconds later, sent while no call is in flight.
type echoServer struct {
	pb.UnimplementedSentryServer
	mu     sync.Mutex
	silent bool
	// beatDelay delays each heartbeat's answer (a server slow to run).
	beatDelay time.Duration
}

func (s *echoServer) Session(st pb.Sentry_SessionServer) error {
	m, err := st.Recv()
	if err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	var sendMu sync.Mutex
	send := func(m *pb.ServerMessage) {
		sendMu.Lock()
		defer sendMu.Unlock()
		st.Send(m)
	}
	send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "echo", ProtocolVersion: pb.ProtocolVersion}}})
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		silent, beatDelay := s.silent, s.beatDelay
		s.mu.Unlock()
		if silent {
			continue
		}
		switch m := m.Msg.(type) {
		case *pb.ClientMessage_Heartbeat:
			answer := &pb.ServerMessage{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: m.Heartbeat}}
			if beatDelay > 0 {
				time.AfterFunc(beatDelay, func() { send(answer) })
				continue
			}
			send(answer)
		case *pb.ClientMessage_Call:
			if m.Call.Tid == lateReplyTid {
				seq := m.Call.Seq
				time.AfterFunc(lateReplyDelay, func() {
					send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: seq, Ret: int64(seq)}}})
				})
				continue
			}
			if m.Call.Tid < 0 {
				continue
			}
			send(&pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: 1, Data: []byte{byte(m.Call.Seq)}, Seq: m.Call.Seq}}}}})
			send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: m.Call.Seq, Ret: int64(m.Call.Seq)}}})
		case *pb.ClientMessage_Interrupt:
			time.AfterFunc(time.Duration(m.Interrupt.Tid)*time.Millisecond, func() {
				send(&pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: 1, Data: []byte("late")}}}}})
			})
		}
	}
}

// startEcho serves an echoServer on a plain grpc.Server (no framed wire):
// an older server, which Dial reaches over gRPC.
func startEcho(t *testing.T) (*echoServer, string) {
	t.Helper()
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	tg, _ := ParseTarget(target)
	l, err := Listen(tg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s := &echoServer{}
	pb.RegisterSentryServer(g, s)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return s, target
}

// startEchoMux serves an echoServer with Serve: gRPC and the framed wire
// on one socket.
func startEchoMux(t testing.TB) (*echoServer, string, *grpc.Server) {
	t.Helper()
	s := &echoServer{}
	target, g := serveSentryMux(t, s, s.Session)
	return s, target, g
}

// wireCase is a way a test reaches an echo server: the wire asked for,
// the server (Serve, or a plain grpc.Server), and the wire Dial must pick.
type wireCase struct {
	name   string
	wire   Wire
	mux    bool
	expect Wire
}

var wireCases = []wireCase{
	{"auto-to-mux", WireAuto, true, WireFramed},
	{"framed-to-mux", WireFramed, true, WireFramed},
	{"grpc-to-mux", WireGRPC, true, WireGRPC},
	{"auto-to-grpc-only", WireAuto, false, WireGRPC},
}

// dialCase starts the server of wc and dials it with opts.
func dialCase(t *testing.T, wc wireCase, opts Options) (*echoServer, *StreamConn) {
	t.Helper()
	var s *echoServer
	var target string
	if wc.mux {
		s, target, _ = startEchoMux(t)
	} else {
		s, target = startEcho(t)
	}
	opts.Wire = wc.wire
	c, err := Dial(context.Background(), target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Wire != wc.expect {
		t.Fatalf("wire %v, want %v", c.Wire, wc.expect)
	}
	return s, c
}

func TestCallOrderAndPushes(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			var mu sync.Mutex
			var pushed []byte
			_, c := dialCase(t, wc, Options{OnPush: func(p *pb.Push) {
				mu.Lock()
				pushed = append(pushed, p.GetOutput().Data...)
				mu.Unlock()
			}})
			if c.Welcome.ServerId != "echo" {
				t.Errorf("welcome = %v", c.Welcome)
			}
			for i := 1; i <= 50; i++ {
				r, err := c.Call(context.Background(), &pb.Call{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Ret != int64(i) {
					t.Fatalf("call %d: ret %d", i, r.Ret)
				}
				// The push sent before the reply has been handled.
				mu.Lock()
				n := len(pushed)
				mu.Unlock()
				if n != i {
					t.Fatalf("after reply %d, %d pushes handled", i, n)
				}
			}
		})
	}
}

func TestSilentServerDeclaredDead(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			s, c := dialCase(t, wc, Options{HeartbeatInterval: 10 * time.Millisecond, DeadAfter: 50 * time.Millisecond})
			s.mu.Lock()
			s.silent = true
			s.mu.Unlock()
			start := time.Now()
			_, err := c.Call(context.Background(), &pb.Call{})
			if !errors.Is(err, ErrConnDead) {
				t.Fatalf("call on silent server: %v, want ErrConnDead", err)
			}
			select {
			case <-c.Done():
			default:
				t.Fatal("Done not closed")
			}
			if c.Err() == nil {
				t.Error("Err() = nil after death")
			}
			t.Logf("declared dead after %v: %v", time.Since(start), c.Err())
		})
	}
}

func TestDialNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, "unix:"+filepath.Join(t.TempDir(), "none.sock"), Options{}); err == nil {
		t.Fatal("dial of a missing server succeeded")
	}
}

// BenchmarkCallRoundTrip measures one Call over a Unix socket against an
// in-process server, on each wire: the floor under every forwarded system
// call.
func BenchmarkCallRoundTrip(b *testing.B) {
	for _, w := range []Wire{WireGRPC, WireFramed} {
		b.Run(w.String(), func(b *testing.B) {
			_, target, _ := startEchoMux(b)
			c, err := Dial(context.Background(), target, Options{OnPush: func(*pb.Push) {}, Wire: w})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Call(context.Background(), &pb.Call{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCallerSeqsOnReplyAndWait: a caller's seq is kept and later
// assigned seqs continue past it; OnReply sees each reply (after the push
// sent before it) before its caller does; Go sends in order; Wait returns
// once the receiving goroutine is gone.
func TestCallerSeqsOnReplyAndWait(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) { testCallerSeqsOnReplyAndWait(t, wc.wire, wc.mux) })
	}
}

func testCallerSeqsOnReplyAndWait(t *testing.T, w Wire, mux bool) {
	var target string
	if mux {
		_, target, _ = startEchoMux(t)
	} else {
		_, target = startEcho(t)
	}
	var mu sync.Mutex
	var events []string
	c, err := Dial(context.Background(), target, Options{
		Wire: w,
		OnPush: func(p *pb.Push) {
			mu.Lock()
			events = append(events, "push")
			mu.Unlock()
		},
		OnReply: func(r *pb.Reply) {
			mu.Lock()
			events = append(events, "reply")
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Call(context.Background(), &pb.Call{Seq: 41})
	if err != nil || r.Seq != 41 || r.Ret != 41 {
		t.Fatalf("call with seq 41: %v %v", r, err)
	}
	mu.Lock()
	if len(events) != 2 || events[0] != "push" || events[1] != "reply" {
		t.Errorf("events before the reply returned: %v", events)
	}
	mu.Unlock()
	r, err = c.Call(context.Background(), &pb.Call{})
	if err != nil || r.Seq != 42 {
		t.Fatalf("next assigned seq: %v %v, want 42", r, err)
	}
	var chans []<-chan *pb.Reply
	for i := 0; i < 5; i++ {
		ch, err := c.Go(&pb.Call{Seq: uint64(100 + i)})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		if r := <-ch; r == nil || r.Seq != uint64(100+i) {
			t.Errorf("Go reply %d: %v", i, r)
		}
	}
	if _, err := c.Go(&pb.Call{Seq: 200}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if _, err := c.Go(&pb.Call{}); !errors.Is(err, ErrConnDead) {
		t.Errorf("Go on a closed connection: %v", err)
	}
}

// TestConcurrentCallers: callers on several goroutines share the read
// token; every reply reaches its caller, after the push sent before it.
func TestConcurrentCallers(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			var mu sync.Mutex
			pushed := map[uint64]bool{}
			_, c := dialCase(t, wc, Options{OnPush: func(p *pb.Push) {
				mu.Lock()
				pushed[p.GetOutput().GetSeq()] = true
				mu.Unlock()
			}})
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 100; i++ {
						call := &pb.Call{}
						r, err := c.Call(context.Background(), call)
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						ok := pushed[call.Seq]
						delete(pushed, call.Seq)
						mu.Unlock()
						if r.Seq != call.Seq || r.Ret != int64(call.Seq) || !ok {
							errs <- fmt.Errorf("call %d: reply %v, push seen %v", call.Seq, r, ok)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestPushWithoutCalls: a push that arrives while no call waits is
// received by the background reader.
func TestPushWithoutCalls(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			got := make(chan string, 4)
			_, c := dialCase(t, wc, Options{OnPush: func(p *pb.Push) { got <- string(p.GetOutput().Data) }})
			// A call first, so that the token has been with a caller.
			if _, err := c.Call(context.Background(), &pb.Call{}); err != nil {
				t.Fatal(err)
			}
			<-got
			if err := c.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Interrupt{Interrupt: &pb.Interrupt{Tid: 20}}}); err != nil {
				t.Fatal(err)
			}
			select {
			case d := <-got:
				if d != "late" {
					t.Fatalf("push %q", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("push sent with no call in flight never handled")
			}
		})
	}
}

// TestAwaitContext: a call without a reply returns when its context ends,
// whether its caller holds the read token or waits for another holder.
func TestAwaitContext(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			_, c := dialCase(t, wc, Options{HeartbeatInterval: 20 * time.Millisecond})
			var wg sync.WaitGroup
			for g := 0; g < 3; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					defer cancel()
					start := time.Now()
					_, err := c.Call(ctx, &pb.Call{Tid: -1})
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("unanswered call: %v, want DeadlineExceeded", err)
					}
					if d := time.Since(start); d > 2*time.Second {
						t.Errorf("unanswered call returned after %v", d)
					}
				}()
			}
			wg.Wait()
			// The connection still works.
			if _, err := c.Call(context.Background(), &pb.Call{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A call of thread lateReplyTid is answered by the echo server
// lateReplyDelay after it arrives.
const (
	lateReplyTid   = -2
	lateReplyDelay = 100 * time.Millisecond
)

// TestLateReplyFolded: the reply of a call whose caller gave up (its ctx
// ended) still reaches OnReply when it comes, before the replies after
// it, so that what it carries (a lease revocation) is not lost.
func TestLateReplyFolded(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			var mu sync.Mutex
			folded := map[uint64]bool{}
			_, c := dialCase(t, wc, Options{HeartbeatInterval: 20 * time.Millisecond, OnReply: func(r *pb.Reply) {
				mu.Lock()
				folded[r.Seq] = true
				mu.Unlock()
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			late := &pb.Call{Seq: 1000, Tid: lateReplyTid}
			if _, err := c.Call(ctx, late); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("late call: %v, want DeadlineExceeded", err)
			}
			time.Sleep(2 * lateReplyDelay)
			// The late reply was sent before this call: it is handled
			// first.
			if _, err := c.Call(context.Background(), &pb.Call{Seq: 1001}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !folded[late.Seq] {
				t.Errorf("the late reply (seq %d) never reached OnReply; folded %v", late.Seq, folded)
			}
		})
	}
}

// TestCloseWakesReader: closing the connection ends a caller that holds
// the read token, and Wait returns.
func TestCloseWakesReader(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			_, c := dialCase(t, wc, Options{})
			errc := make(chan error, 1)
			go func() {
				_, err := c.Call(context.Background(), &pb.Call{Tid: -1})
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			c.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, ErrConnDead) {
					t.Errorf("call on a closed connection: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("call still waiting after Close")
			}
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return after Close")
			}
		})
	}
}

// serveSentryMux serves s with Serve (gRPC and the framed wire on one
// Unix socket in a scratch directory) until the test ends, and returns
// its target.
func serveSentryMux(t testing.TB, s pb.SentryServer, session SessionFunc) (string, *grpc.Server) {
	t.Helper()
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	tg, _ := ParseTarget(target)
	l, err := Listen(tg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	pb.RegisterSentryServer(g, s)
	go Serve(l, g, session)
	t.Cleanup(g.Stop)
	return target, g
}
