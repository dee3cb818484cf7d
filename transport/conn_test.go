package transport

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// echoServer replies to each call with ret = seq, pushes a StdioOutput
// before each reply, and can be told to go silent (stop heartbeats).
type echoServer struct {
	pb.UnimplementedSentryServer
	mu     sync.Mutex
	silent bool
}

func (s *echoServer) Session(st pb.Sentry_SessionServer) error {
	m, err := st.Recv()
	if err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "echo"}}})
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		if silent {
			continue
		}
		switch m := m.Msg.(type) {
		case *pb.ClientMessage_Heartbeat:
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: m.Heartbeat}})
		case *pb.ClientMessage_Call:
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: 1, Data: []byte{byte(m.Call.Seq)}}}}}})
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: m.Call.Seq, Ret: int64(m.Call.Seq)}}})
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
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	tg, _ := ParseTarget(target)
	l, err := Listen(tg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	s := &echoServer{}
	pb.RegisterSentryServer(g, s)
	go Serve(l, g, s.Session)
	t.Cleanup(g.Stop)
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
			s, c := dialCase(t, wc, Options{HeartbeatInterval: 10 * time.Millisecond})
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
