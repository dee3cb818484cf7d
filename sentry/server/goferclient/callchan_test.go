package goferclient

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// countedStream is a framed Calls stream that counts the calls sent on
// its socket (its other methods, fds and raw frames included, are the
// stream's).
type countedStream struct {
	*transport.FramedStream
	sent *atomic.Int64
}

func (s countedStream) SendMsg(m any) error {
	s.sent.Add(1)
	return s.FramedStream.SendMsg(m)
}

// countedGoferConn starts the real gofer on root and connects to it over
// the framed wire, counting in sent the calls sent on the socket; without
// channels the stream takes no fds, and so opens no channels either.
func countedGoferConn(t *testing.T, root string, sent *atomic.Int64, channels bool) (*gofertest.Gofer, *GoferConn) {
	t.Helper()
	p := gofertest.New(t, root)
	p.Start()
	t.Cleanup(p.Kill)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := NewGoferConn(p.Dial(t), hclog.NewNullLogger(), WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
		st, err := transport.DialFramedStream(ctx, target)
		if err != nil {
			return nil, err
		}
		if !channels {
			return struct{ MsgStream }{countedStream{st, sent}}, nil
		}
		return countedStream{st, sent}, nil
	}))
	t.Cleanup(gc.Close)
	return p, gc
}

// attachRoot attaches to the gofer's root.
func attachRoot(t *testing.T, ctx context.Context, c goferpb.GoferClient) *goferpb.AttachReply {
	t.Helper()
	a, err := c.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || a.Errno != 0 {
		t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
	}
	return a
}

// TestGoferCallsOnChannels: on the framed wire over a Unix socket, calls
// travel on call channels, not on the socket (only the requests for
// channels do), those that take a donated fd too (it comes on the
// channel's fd socket), concurrent calls each get one up to
// maxCallChannels, and calls go on after a gofer restart ends them.
func TestGoferCallsOnChannels(t *testing.T) {
	for _, channels := range []bool{true, false} {
		t.Run(fmt.Sprintf("channels=%v", channels), func(t *testing.T) { testGoferCallsOnChannels(t, channels) })
	}
}

func testGoferCallsOnChannels(t *testing.T, channels bool) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("donated"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	p, gc := countedGoferConn(t, root, &sent, channels)
	c := goferpb.NewGoferClient(gc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := attachRoot(t, ctx, c)
	stats := func(workers, each int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					// FreshAttrs: past any cache, to the gofer.
					r, err := c.Stat(FreshAttrs(ctx), &goferpb.StatRequest{Handle: a.Root.Id})
					if err == nil && r.Errno != 0 {
						err = unix.Errno(r.Errno)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Stat: %v", err)
		}
	}

	const calls = 200
	sent.Store(0)
	stats(1, calls)
	got := sent.Load()
	if channels && got > 2 {
		t.Errorf("%d sequential calls sent %d messages on the socket, want at most 2 (a channel's request)", calls, got)
	}
	if !channels && got < calls {
		t.Errorf("without channels, %d calls sent %d messages on the socket", calls, got)
	}

	// Walk-opens that take a donated fd (an open of an existing file):
	// on a channel too, the fd ahead of the result on its fd socket.
	// (Without channels this test's stream hides that it takes fds.)
	if channels {
		walkOpens(t, ctx, c, gc, a.Root.Id, &sent)
	}

	// Calls in flight at once: a channel each, up to maxCallChannels;
	// beyond, the stream. (Channels are held here as calls in flight
	// hold them.)
	if channels {
		cur := currentCallConn(gc)
		var held []*transport.CallChannel
		for len(held) < maxCallChannels {
			ch := cur.channel(ctx)
			if ch == nil {
				t.Fatalf("no call channel with %d in use", len(held))
			}
			held = append(held, ch)
		}
		cur.mu.Lock()
		open := len(cur.chans.all)
		cur.mu.Unlock()
		if open != maxCallChannels {
			t.Errorf("%d call channels open with %d in use", open, maxCallChannels)
		}
		sent.Store(0)
		stats(1, 1)
		if got := sent.Load(); got != 1 {
			t.Errorf("a call with every channel in use sent %d messages on the socket, want 1", got)
		}
		for _, ch := range held {
			cur.putChannel(ch, false)
		}
	}
	stats(2*maxCallChannels, 20)

	// The gofer restarts: its channels end with its stream, and calls
	// go on (on the next stream's channels).
	p.Restart()
	stats(2, 20)
}

// TestGoferChannelBound: the gofer grants at most 16 call channels per
// stream, and one the server shut down (a call abandoned with its
// context) no longer counts.
func TestGoferChannelBound(t *testing.T) {
	gc := framedGoferConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := goferpb.NewGoferClient(gc).Attach(ctx, &goferpb.AttachRequest{}); err != nil {
		t.Fatal(err)
	}
	cur := currentCallConn(gc)
	const gofersBound = 16
	cur.mu.Lock()
	had := len(cur.chans.all) // the Attach's
	cur.mu.Unlock()
	var open []*transport.CallChannel
	for i := had; i < gofersBound; i++ {
		ch, err := cur.openChannel(ctx)
		if err != nil {
			t.Fatalf("channel %d: %v", i, err)
		}
		open = append(open, ch)
	}
	if ch, err := cur.openChannel(ctx); err == nil {
		ch.Shutdown()
		ch.Destroy()
		t.Fatalf("a channel beyond %d was granted", gofersBound)
	}
	open[0].Shutdown()
	open[0].Destroy()
	// The gofer sees the shutdown when its goroutine wakes: allow it a
	// moment.
	var again *transport.CallChannel
	for deadline := time.Now().Add(10 * time.Second); again == nil; {
		ch, err := cur.openChannel(ctx)
		if err == nil {
			again = ch
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no channel granted after one was shut down: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, ch := range append(open[1:], again) {
		ch.Shutdown()
		ch.Destroy()
	}
}

// TestGoferChannelCallsAbandoned: calls whose context ends while they are
// on a call channel are abandoned (the channel is shut down and
// destroyed, racing with the context's own shutdown of it); the calls
// after them work.
func TestGoferChannelCallsAbandoned(t *testing.T) {
	gc := framedGoferConn(t)
	c := goferpb.NewGoferClient(gc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := attachRoot(t, ctx, c)
	var wg sync.WaitGroup
	var abandoned atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				cctx, ccancel := context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
				if _, err := c.Stat(FreshAttrs(cctx), &goferpb.StatRequest{Handle: a.Root.Id}); err != nil {
					abandoned.Add(1)
				}
				ccancel()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of 1200 calls abandoned", abandoned.Load())
	for i := 0; i < 20; i++ {
		r, err := c.Stat(FreshAttrs(ctx), &goferpb.StatRequest{Handle: a.Root.Id})
		if err != nil || r.Errno != 0 {
			t.Fatalf("Stat after abandoned calls: %v %v", err, unix.Errno(r.GetErrno()))
		}
	}
}

// walkOpens makes walk-opens of root's "f" that take a donated fd and
// checks that each got its fd and that they went on call channels.
func walkOpens(t *testing.T, ctx context.Context, c goferpb.GoferClient, gc *GoferConn, root uint64, sent *atomic.Int64) {
	t.Helper()
	const opens = 50
	sent.Store(0)
	gifts := 0
	for i := 0; i < opens; i++ {
		r, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: root, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_RDONLY})
		if err == nil && (r.Errno != 0 || r.OpenErrno != 0) {
			err = fmt.Errorf("errno %v, open errno %v", unix.Errno(r.Errno), unix.Errno(r.OpenErrno))
		}
		if err != nil {
			t.Fatalf("walk-open: %v", err)
		}
		if gc.Donations() > 0 {
			gifts++
		}
		if _, err := c.Release(ctx, &goferpb.ReleaseRequest{Handles: []uint64{r.Files[0].Handle.Id}}); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	if gifts < opens {
		t.Errorf("%d walk-opens took %d donated fds", opens, gifts)
	}
	got := sent.Load()
	if got > 2 {
		t.Errorf("%d walk-opens and releases sent %d messages on the socket, want at most 2", opens, got)
	}
}

// TestGoferChannelFDSocket: the gofer grants a channel's fd socket only to
// a server that asks for it (GoferCall.channel_fds): an older server,
// which takes one fd with the grant, gets just the window's memfd.
func TestGoferChannelFDSocket(t *testing.T) {
	gc := framedGoferConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := goferpb.NewGoferClient(gc).Attach(ctx, &goferpb.AttachRequest{}); err != nil {
		t.Fatal(err)
	}
	cur := currentCallConn(gc)
	for _, ask := range []bool{false, true} {
		t.Run(fmt.Sprintf("channel_fds=%v", ask), func(t *testing.T) {
			slot, fdSock := donated.NewSlot(), donated.NewSlot()
			err := cur.callOnStream(ctx, &goferpb.GoferCall{OpenChannel: true, ChannelFds: ask}, new(goferpb.CallChannelGrant), slot, nil, fdSock)
			for _, s := range []*donated.Slot{slot, fdSock} {
				if s.FD >= 0 {
					defer unix.Close(s.FD)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if slot.FD < 0 {
				t.Errorf("no memfd with the grant")
			}
			if got := fdSock.FD >= 0; got != ask {
				t.Errorf("fd socket granted: %v, want %v", got, ask)
			}
		})
	}
}

// framedGoferConn connects to a new gofer over a framed stream (which
// takes fds, so its calls use call channels).
func framedGoferConn(t *testing.T) *GoferConn {
	t.Helper()
	p := gofertest.New(t, t.TempDir())
	p.Start()
	t.Cleanup(p.Kill)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := NewGoferConn(p.Dial(t), hclog.NewNullLogger(), WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	t.Cleanup(gc.Close)
	return gc
}

// currentCallConn is gc's current stream.
func currentCallConn(gc *GoferConn) *callConn {
	g := gc.cc.(*goferCalls)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// TestGoferChannelContextWatch: a call channel watches the end of its
// calls' context once per context (the calls of a second share one,
// goferclient.CallDeadlines), not per call, and a context that ends
// after its calls returned leaves the channel open: the next call, under
// another context, goes on the same channel (no request for a new one on
// the socket).
func TestGoferChannelContextWatch(t *testing.T) {
	var sent atomic.Int64
	_, gc := countedGoferConn(t, t.TempDir(), &sent, true)
	c := goferpb.NewGoferClient(gc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := attachRoot(t, ctx, c)
	stat := func(ctx context.Context) {
		t.Helper()
		// FreshAttrs: past any cache, to the gofer, under a value of
		// the call's own on the shared context.
		if r, err := c.Stat(FreshAttrs(ctx), &goferpb.StatRequest{Handle: a.Root.Id}); err != nil || r.Errno != 0 {
			t.Fatalf("Stat: %v %v", err, unix.Errno(r.GetErrno()))
		}
	}
	shared, endShared := context.WithCancel(ctx)
	stat(shared)
	perCall := testing.AllocsPerRun(200, func() { stat(shared) })
	t.Logf("allocations per Stat on a channel (server and in-process gofer): %.1f", perCall)
	// 38 with a context.AfterFunc per call.
	if perCall > 35 {
		t.Errorf("%.1f allocations per Stat on a channel, want at most 35 (the context's end watched once)", perCall)
	}
	sent.Store(0)
	endShared()
	time.Sleep(20 * time.Millisecond) // the watch's callback runs
	stat(ctx)
	if n := sent.Load(); n != 0 {
		t.Errorf("the call after its channel's last context ended sent %d messages on the socket (a new channel asked for), want 0", n)
	}
}
