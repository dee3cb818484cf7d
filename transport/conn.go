package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// MaxMessageSize bounds one gRPC message either way.
const MaxMessageSize = 64 << 20

// ErrConnDead is returned for calls on (or in flight over) a connection
// that died.
var ErrConnDead = errors.New("transport: connection to the remote sentry is dead")

// Conn is a client's connection to one remote sentry.
type Conn interface {
	// Call sends c and blocks until its reply arrives, ctx ends, or the
	// connection dies (ErrConnDead). A zero c.Seq is assigned; a non-zero
	// one is kept (a call re-sent after recovery keeps its seq) and later
	// assigned seqs continue past it.
	Call(ctx context.Context, c *pb.Call) (*pb.Reply, error)
	// Go sends c and returns at once with the channel its reply will
	// arrive on; the channel is closed without a reply if the connection
	// dies first. Calls sent by Go reach the server in the order Go was
	// called.
	Go(c *pb.Call) (<-chan *pb.Reply, error)
	// Send sends a message that has no reply (Interrupt, StdinData,
	// Goodbye).
	Send(m *pb.ClientMessage) error
	// Done is closed when the connection is dead; Err then says why.
	Done() <-chan struct{}
	Err() error
	// Close ends the connection.
	Close() error
}

// Options configure Dial.
type Options struct {
	// Hello is sent first.
	Hello *pb.Hello
	// OnPush is called for each server push, from the receiving goroutine
	// and in arrival order relative to replies: a push sent before a reply
	// has been handled when that reply's Call returns. It must not block
	// for long.
	OnPush func(*pb.Push)
	// OnReply, when set, is called for each reply whose caller is still
	// waiting, from the receiving goroutine, before the reply is handed
	// to that caller and before any later message is handled. A reply
	// whose call was already failed (the connection died) is dropped
	// without OnReply: its caller re-sends the call.
	OnReply func(*pb.Reply)
	// OnFarewell is called when the server acknowledges Goodbye.
	OnFarewell func()
	// HeartbeatInterval is how often the client sends a heartbeat
	// (default 100ms).
	HeartbeatInterval time.Duration
	// DeadAfter declares the server dead when nothing arrived for this
	// long (default 5 heartbeat intervals).
	DeadAfter time.Duration
}

// GRPCConn is a Conn over one gRPC bidirectional stream.
type GRPCConn struct {
	cc     *grpc.ClientConn
	stream pb.Sentry_SessionClient
	opts   Options
	cancel context.CancelFunc
	// Welcome is the server's greeting. Immutable after Dial.
	Welcome *pb.Welcome

	sendMu sync.Mutex // serializes stream.Send

	mu sync.Mutex
	// seq is the last sequence number assigned. Protected by mu.
	seq uint64
	// pending maps seq to the waiting caller. Protected by mu.
	pending map[uint64]chan *pb.Reply
	// err is why the connection died. Protected by mu.
	err error
	// lastRecv is when the server last sent anything. Protected by mu.
	lastRecv time.Time

	done chan struct{}
	// recvDone is closed when the receiving goroutine has returned: no
	// OnPush or OnReply runs after it.
	recvDone chan struct{}
}

// Dial connects to the remote sentry at target and performs the
// Hello/Welcome handshake.
func Dial(ctx context.Context, target string, opts Options) (*GRPCConn, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 100 * time.Millisecond
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 5 * opts.HeartbeatInterval
	}
	cc, err := grpc.NewClient(t.GRPCTarget(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnecting to a restarted server must be quick: gRPC's
		// default first retry comes after a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 250 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	c := &GRPCConn{cc: cc, opts: opts, cancel: cancel,
		pending: make(map[uint64]chan *pb.Reply), done: make(chan struct{}), recvDone: make(chan struct{})}
	hello := opts.Hello
	if hello == nil {
		hello = &pb.Hello{}
	}
	// The handshake runs aside so that ctx bounds it, including the wait
	// for the server to become reachable.
	welcome := make(chan error, 1)
	go func() {
		stream, err := pb.NewSentryClient(cc).Session(sctx, grpc.WaitForReady(true))
		if err != nil {
			welcome <- err
			return
		}
		c.stream = stream
		if err := stream.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Hello{Hello: hello}}); err != nil {
			welcome <- err
			return
		}
		m, err := stream.Recv()
		if err != nil {
			welcome <- err
			return
		}
		w := m.GetWelcome()
		if w == nil {
			welcome <- fmt.Errorf("expected Welcome, got %T", m.Msg)
			return
		}
		c.Welcome = w
		welcome <- nil
	}()
	select {
	case err = <-welcome:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		cc.Close()
		return nil, fmt.Errorf("session with %s: %w", t, err)
	}
	c.lastRecv = time.Now()
	go c.recvLoop()
	go c.heartbeatLoop()
	return c, nil
}

func (c *GRPCConn) send(m *pb.ClientMessage) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.stream.Send(m); err != nil {
		c.fail(fmt.Errorf("send: %w", err))
		return ErrConnDead
	}
	return nil
}

// Go implements Conn.Go.
func (c *GRPCConn) Go(call *pb.Call) (<-chan *pb.Reply, error) {
	ch := make(chan *pb.Reply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, ErrConnDead
	}
	if call.Seq == 0 {
		c.seq++
		call.Seq = c.seq
	} else if call.Seq > c.seq {
		c.seq = call.Seq
	}
	if _, dup := c.pending[call.Seq]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("transport: call seq %d already in flight", call.Seq)
	}
	c.pending[call.Seq] = ch
	c.mu.Unlock()
	if err := c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_Call{Call: call}}); err != nil {
		return nil, err
	}
	return ch, nil
}

// Call implements Conn.Call.
func (c *GRPCConn) Call(ctx context.Context, call *pb.Call) (*pb.Reply, error) {
	ch, err := c.Go(call)
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, ErrConnDead
		}
		return r, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, call.Seq)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Send implements Conn.Send.
func (c *GRPCConn) Send(m *pb.ClientMessage) error { return c.send(m) }

// Done implements Conn.Done.
func (c *GRPCConn) Done() <-chan struct{} { return c.done }

// Err implements Conn.Err.
func (c *GRPCConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Wait blocks until the connection is dead and its receiving goroutine
// has returned, so that no OnPush or OnReply call is running or to come.
func (c *GRPCConn) Wait() { <-c.recvDone }

// Close implements Conn.Close.
func (c *GRPCConn) Close() error {
	c.fail(errors.New("closed"))
	return c.cc.Close()
}

// fail marks the connection dead and wakes every waiting caller.
func (c *GRPCConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	for seq, ch := range c.pending {
		close(ch)
		delete(c.pending, seq)
	}
	close(c.done)
	c.cancel()
}

func (c *GRPCConn) recvLoop() {
	defer close(c.recvDone)
	for {
		m, err := c.stream.Recv()
		if err != nil {
			c.fail(fmt.Errorf("receive: %w", err))
			return
		}
		c.mu.Lock()
		c.lastRecv = time.Now()
		c.mu.Unlock()
		switch m := m.Msg.(type) {
		case *pb.ServerMessage_Reply:
			c.mu.Lock()
			ch := c.pending[m.Reply.Seq]
			delete(c.pending, m.Reply.Seq)
			c.mu.Unlock()
			if ch != nil {
				if c.opts.OnReply != nil {
					c.opts.OnReply(m.Reply)
				}
				ch <- m.Reply
			}
		case *pb.ServerMessage_Push:
			if c.opts.OnPush != nil {
				c.opts.OnPush(m.Push)
			}
		case *pb.ServerMessage_Farewell:
			if c.opts.OnFarewell != nil {
				c.opts.OnFarewell()
			}
		case *pb.ServerMessage_Heartbeat:
		}
	}
}

func (c *GRPCConn) heartbeatLoop() {
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.mu.Lock()
			silent := now.Sub(c.lastRecv)
			c.mu.Unlock()
			if silent > c.opts.DeadAfter {
				c.fail(fmt.Errorf("no heartbeat from the server for %v", silent.Round(time.Millisecond)))
				return
			}
			c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_Heartbeat{Heartbeat: &pb.Heartbeat{UnixNanos: now.UnixNano()}}})
		}
	}
}
