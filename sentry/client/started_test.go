package client

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestStartedAfterStart checks Config.Started (what the OCI runtime's
// start waits for): called once, after BeforeStart and after the server
// answered Start, before Run returns.
func TestStartedAfterStart(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, platform string) { testStartedAfterStart(t, platform) })
}

func testStartedAfterStart(t *testing.T, platform string) {
	srv, target := startFakeSentry(t)
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	srv.hook = func(_ *session, c *pb.Call) bool {
		if _, ok := c.Op.(*pb.Call_Start); ok {
			note("start call")
		}
		return false
	}
	bin := buildC(t, "hello", helloSrc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	status, err := Run(ctx, Config{
		Server:      target,
		Platform:    platform,
		Argv:        []string{bin},
		Cwd:         "/",
		Stdin:       strings.NewReader(""),
		Stdout:      &stdout,
		Stderr:      &stderr,
		Log:         hclog.NewNullLogger(),
		BeforeStart: func() error { note("before start"); return nil },
		Started:     func() { note("started") },
	})
	if err != nil || status != 3<<8 {
		t.Fatalf("Run: status %#x, %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ", "); got != "before start, start call, started" {
		t.Errorf("order: %s", got)
	}
}
