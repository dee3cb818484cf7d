package transport

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// clockServer answers heartbeats and keeps the clocks they carried.
type clockServer struct {
	pb.UnimplementedSentryServer
	mu     sync.Mutex
	clocks []*pb.ClockSample
}

func (s *clockServer) Session(st pb.Sentry_SessionServer) error {
	if m, err := st.Recv(); err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "clocks", ProtocolVersion: pb.ProtocolVersion}}})
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		if hb := m.GetHeartbeat(); hb != nil {
			s.mu.Lock()
			s.clocks = append(s.clocks, hb.GetClocks())
			s.mu.Unlock()
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}})
		}
	}
}

// Heartbeats carry the clocks Options.HeartbeatClocks reads, on both
// wires, and none without it.
func TestHeartbeatClocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wire   Wire
		sample bool
	}{
		{"framed", WireFramed, true},
		{"grpc", WireGRPC, true},
		{"framed without", WireFramed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &clockServer{}
			target, _ := serveSentryMux(t, s, s.Session)
			var n int64
			opts := Options{Wire: tc.wire, HeartbeatInterval: 10 * time.Millisecond}
			if tc.sample {
				opts.HeartbeatClocks = func() *pb.ClockSample { n++; return &pb.ClockSample{Monotonic: n} }
			}
			c, err := Dial(context.Background(), target, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				s.mu.Lock()
				got := append([]*pb.ClockSample(nil), s.clocks...)
				s.mu.Unlock()
				if len(got) >= 3 {
					for i, cs := range got {
						if tc.sample && cs.GetMonotonic() != int64(i+1) {
							t.Fatalf("heartbeat %d carried %v, want monotonic %d", i, cs, i+1)
						}
						if !tc.sample && cs != nil {
							t.Fatalf("heartbeat %d carried %v without HeartbeatClocks", i, cs)
						}
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d heartbeats in 10s", len(got))
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
