package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestSilentClientSessionEnds checks the server half of the heartbeat: a
// client that stops sending anything loses its session and its state,
// while one that keeps sending heartbeats does not.
func TestSilentClientSessionEnds(t *testing.T) {
	gc := startGofer(t, newRoot(t))
	srv, err := New(Config{Gofer: gc, Log: testLog(), ClientTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sock, g := serveSentry(t, srv)
	t.Cleanup(func() { g.Stop(); srv.Close() })
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := sentrypb.NewSentryClient(cc)

	open := func(ctx context.Context, id string) sentrypb.Sentry_SessionClient {
		st, err := client.Session(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Hello{Hello: &sentrypb.Hello{ClientId: id, ProtocolVersion: sentrypb.ProtocolVersion}}}); err != nil {
			t.Fatal(err)
		}
		if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
			t.Fatalf("welcome: %v %v", m, err)
		}
		return st
	}
	// The silent stream gives up on its own after 5s, so that a broken
	// watchdog fails the test below instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	silent := open(ctx, "silent")
	chatty := open(context.Background(), "chatty")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				chatty.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Heartbeat{Heartbeat: &sentrypb.Heartbeat{}}})
			}
		}
	}()
	go func() {
		for {
			if _, err := chatty.Recv(); err != nil {
				return
			}
		}
	}()

	start := time.Now()
	if _, err := silent.Recv(); err == nil {
		t.Fatal("silent client's stream got a message instead of ending")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("silent session ended after %v, want about 300ms", took)
	}
	time.Sleep(100 * time.Millisecond)
	r, err := client.Debug(context.Background(), &sentrypb.DebugRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Text, "client silent") || !strings.Contains(r.Text, "client chatty") {
		t.Errorf("after the watchdog the server holds:\n%s", r.Text)
	}
}
