package transport

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestDefaultDeadAfter(t *testing.T) {
	for _, tc := range []struct {
		target   string
		interval time.Duration
		want     time.Duration
	}{
		{"10.0.0.1:7000", 100 * time.Millisecond, 500 * time.Millisecond},
		{"10.0.0.1:7000", time.Second, 5 * time.Second},
		// The kernel reports a local server's death: only a hang
		// is left to the heartbeats.
		{"unix:/run/rd/s.sock", 100 * time.Millisecond, minLocalDeadAfter},
		{"unix:/run/rd/s.sock", 3 * time.Second, 15 * time.Second},
	} {
		tg, err := ParseTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := defaultDeadAfter(tg, tc.interval); got != tc.want {
			t.Errorf("defaultDeadAfter(%s, %v) = %v, want %v", tc.target, tc.interval, got, tc.want)
		}
	}
}

// TestStalledHeartbeatLoopNotDeath: a heartbeat loop that itself could
// not run for longer than DeadAfter (a host too loaded to schedule it)
// does not count the stall as the server's silence: the server, slow
// too, answers the heartbeat sent after the stall more than an interval
// later.
func TestStalledHeartbeatLoopNotDeath(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			var ticks atomic.Int32
			stall := func() {
				if ticks.Add(1) == 3 {
					time.Sleep(400 * time.Millisecond)
				}
			}
			testHookBeat.Store(&stall)
			t.Cleanup(func() { testHookBeat.Store(nil) })
			s, c := dialCase(t, wc, Options{HeartbeatInterval: 20 * time.Millisecond, DeadAfter: 100 * time.Millisecond})
			s.mu.Lock()
			s.beatDelay = 50 * time.Millisecond
			s.mu.Unlock()
			deadline := time.After(5 * time.Second)
			for ticks.Load() < 10 {
				select {
				case <-c.Done():
					t.Fatalf("the connection died of its own loop's stall: %v", c.Err())
				case <-deadline:
					t.Fatalf("%d heartbeat ticks in 5s", ticks.Load())
				case <-time.After(10 * time.Millisecond):
				}
			}
			if _, err := c.Call(context.Background(), &pb.Call{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFramedUnread: bytes the server sent that wait unread in the socket
// say it is alive, whoever is late to read them.
func TestFramedUnread(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "u.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	cc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := <-accepted
	defer sc.Close()
	w := &framedWire{conn: cc}
	if w.unread() {
		t.Fatal("unread before the peer wrote")
	}
	if _, err := sc.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	if !w.unread() {
		t.Fatal("no unread bytes after the peer wrote")
	}
	buf := make([]byte, 16)
	if _, err := cc.Read(buf); err != nil {
		t.Fatal(err)
	}
	if w.unread() {
		t.Fatal("unread after the bytes were read")
	}
}
