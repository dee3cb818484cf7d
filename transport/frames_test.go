package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestDialSandboxNetwork: a client bringing a network (Hello.network)
// is refused by a server whose Welcome does not say it understands it
// (an older build would ignore the field while the client has taken its
// addresses away); with the feature, frames the server sends reach
// OnFrames.
func TestDialSandboxNetwork(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features uint64
		refused  bool
	}{
		{"older server", 0, true},
		{"server with the feature", pb.FeatureSandboxNetwork, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			welcome := mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "x", ProtocolVersion: pb.ProtocolVersion, Features: tc.features}}})
			frames := mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Frames{Frames: &pb.Frames{Nic: 3, Frames: [][]byte{[]byte("frame")}}}})
			target := fakeServer(t, func(c net.Conn) {
				br := make([]byte, len(frameMagic))
				io.ReadFull(c, br)
				newFrameReader(c, MaxMessageSize).next()
				c.Write(append(append([]byte(frameMagic), welcome...), frames...))
				time.Sleep(2 * time.Second)
			})
			got := make(chan *pb.Frames, 1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			hello := &pb.Hello{Network: &pb.NetworkConfig{Interfaces: []*pb.NetworkInterface{{Index: 3, Name: "eth0"}}}}
			c, err := Dial(ctx, target, Options{Wire: WireFramed, Hello: hello, OnFrames: func(f *pb.Frames) { got <- f }, HeartbeatInterval: time.Second})
			if tc.refused {
				if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--network=sandbox") {
					if c != nil {
						c.Close()
					}
					t.Fatalf("Dial: %v, want a refusal naming --network=sandbox", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case f := <-got:
				if f.Nic != 3 || len(f.Frames) != 1 || string(f.Frames[0]) != "frame" {
					t.Fatalf("OnFrames got %v", f)
				}
			case <-time.After(time.Second):
				t.Fatal("the server's Frames never reached OnFrames")
			}
		})
	}
}
