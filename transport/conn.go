package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// MaxMessageSize bounds one gRPC message either way.
const MaxMessageSize = 64 << 20

// Flow-control windows of the Session stream and its connection. They are
// static because gRPC's dynamic windows probe the bandwidth-delay product
// with a PING on every DATA frame read while no probe is out: with one
// small call at a time that is a PING and a PING ack, each a socket write
// and a wake-up of gRPC's writer goroutine, per message each way (seen in
// runtime/trace of a forwarded getppid). The values are what the dynamic
// windows could grow to for our largest messages (file pages, exec images).
const (
	streamWindow = 8 << 20
	connWindow   = 16 << 20
)

// ServerOptions are the grpc.ServerOptions a server of Session streams
// must use: message size limits and the same static windows as Dial.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.StaticStreamWindowSize(streamWindow), grpc.StaticConnWindowSize(connWindow),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.ForceServerCodecV2(serverCodec{encoding.GetCodecV2(protoenc.Name)}),
	}
}

// DialOptions are the grpc.DialOptions of a client of such a server:
// message size limits and the static windows. The server's connection to
// the gofer uses them too (one small call at a time, like a Session).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
}

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
	// Await waits for the reply on a channel Go returned, like a receive
	// from it, but receiving from the connection itself when no other
	// goroutine is (which saves a goroutine hand-off per call). It
	// returns ErrConnDead if the connection died before the reply.
	Await(ctx context.Context, ch <-chan *pb.Reply) (*pb.Reply, error)
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
	// for long. The receiving goroutine is whichever holds the read token
	// (a caller waiting in Call or Await, or a background one): callbacks
	// never run concurrently, and none may wait for a reply.
	OnPush func(*pb.Push)
	// OnReply, when set, is called for each reply of a call made on this
	// connection (its caller waiting, gone after its ctx ended, or none:
	// Post), from the receiving goroutine, before the reply is handed to
	// a waiting caller and before any later message is handled. A reply
	// whose call was already failed (the connection died) is dropped
	// without OnReply: its caller re-sends the call. A packed posted
	// reply (ServerMessage.posted_done) that no caller waits for is
	// valid only until OnReply returns: its memory serves the next
	// message's (StreamConn.spareDone), so OnReply and what it calls
	// keep none of its pointers (its fields' values, copied, they may).
	OnReply func(*pb.Reply)
	// OnHostFD, when set, takes the host fd that rode with the reply of
	// call seq (Reply.host_fd: a mapped file's, lent by a server on this
	// machine) before the reply reaches its caller, who then claims it
	// there; it owns fd. A reply nobody waits for, or one without
	// OnHostFD, has its fd closed here.
	OnHostFD func(seq uint64, fd int)
	// OnFarewell is called when the server acknowledges Goodbye.
	OnFarewell func()
	// OnFrames, when set, is called for each batch of Ethernet frames the
	// server sends (--network=sandbox), from the receiving goroutine like
	// OnPush; it must only queue them. Without it they are dropped.
	OnFrames func(*pb.Frames)
	// OnLeaseRenewed, when set, is called from the receiving goroutine,
	// in order with OnPush, when the server's answer to a heartbeat says
	// that its arrival renewed the client's leases
	// (Heartbeat.renewed_unix_nanos): sent is when this connection sent
	// that heartbeat (its monotonic clock), ttl and life the lease times
	// the answer tells.
	OnLeaseRenewed func(sent time.Time, ttl, life time.Duration)
	// HeartbeatInterval is how often the client sends a heartbeat
	// (default 100ms).
	HeartbeatInterval time.Duration
	// HeartbeatClocks, when set, reads the clocks each heartbeat carries
	// (Heartbeat.clocks), just before it is sent.
	HeartbeatClocks func() *pb.ClockSample
	// DeadAfter declares the server dead when nothing arrived for this
	// long (default 5 heartbeat intervals); it is noticed at a heartbeat
	// tick, so up to one interval later.
	DeadAfter time.Duration
	// Wire selects the wire (default WireAuto: framed on unix: targets).
	Wire Wire
	// TLS, when it names files, secures TCP targets with mutual TLS
	// (over gRPC; see TLSFiles.UsesTLS).
	TLS TLSFiles
	// Channels lets synchronous calls use call channels (hop.go) where
	// the wire allows: the framed wire on a Unix socket, to a server that
	// grants them.
	Channels bool
	// NoPostBatch turns batching of posted calls off (postbatch.go):
	// GoPosted sends at once, and the Hello does not ask the server to
	// batch their replies.
	NoPostBatch bool
	// PostDelay bounds how long a queued posted call waits before its
	// batch is sent on its own (postbatch.go); 0 is DefaultPostDelay,
	// and at most MaxPostDelay.
	PostDelay time.Duration
	// ReplyLinger bounds how long the server may hold the replies of
	// posted calls marked Syscall.reply_can_wait past the end of their
	// batch, for its next message (Hello.posted_reply_linger_us); 0 is
	// DefaultReplyLinger, negative none, at most MaxReplyLinger.
	ReplyLinger time.Duration
	// FailIfNotListening makes Dial fail at once, with ErrNotListening,
	// when nothing listens at the target (no socket file, connection
	// refused) instead of retrying until ctx ends: for a first
	// connection, where that is a wrong target to report, not a restart
	// to wait out.
	FailIfNotListening bool
}

// ErrNotListening marks a dial that found nothing listening at its
// target: no such socket, or the connection refused.
var ErrNotListening = errors.New("nothing listening")

// notListening tells whether a dial's error means that nothing listens
// at the address.
func notListening(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTSOCK)
}

// Wire selects how a StreamConn carries its messages.
type Wire int

const (
	// WireAuto uses the framed wire on unix: targets, falling back to
	// gRPC if the server does not speak it, and gRPC on TCP targets.
	WireAuto Wire = iota
	// WireGRPC always uses a gRPC bidirectional stream.
	WireGRPC
	// WireFramed uses the framed wire (frame.go) and fails if the server
	// does not speak it. It needs a unix: target.
	WireFramed
)

// ParseWire parses a Wire's name: "auto", "grpc" or "framed".
func ParseWire(s string) (Wire, error) {
	switch s {
	case "auto", "":
		return WireAuto, nil
	case "grpc":
		return WireGRPC, nil
	case "framed":
		return WireFramed, nil
	}
	return 0, fmt.Errorf("transport %q: want auto, grpc or framed", s)
}

// String returns the name ParseWire accepts.
func (w Wire) String() string {
	switch w {
	case WireGRPC:
		return "grpc"
	case WireFramed:
		return "framed"
	}
	return "auto"
}

// wire is one Session stream as the StreamConn sees it: gRPC's, or a
// framed socket's. send may be called concurrently with recv, but not
// with itself (StreamConn.sendMu); recv only from the receiving goroutine.
type wire interface {
	send(*pb.ClientMessage) error
	recv() (*pb.ServerMessage, error)
	// close ends the stream; a blocked recv returns.
	close() error
	// closeWrite ends the stream's sending side only: a live peer sees
	// its end and ends the stream, and recv returns what came before.
	closeWrite() error
	// encodesOnSend says send has encoded its message when it returns
	// and keeps no reference to it: the sender may then reuse the
	// message and the slices it holds (postbatch.go's queue).
	encodesOnSend() bool
}

// StreamConn is a Conn over one Session stream: a gRPC bidirectional
// stream or a framed Unix socket (Options.Wire).
type StreamConn struct {
	w    wire
	opts Options
	// Welcome is the server's greeting. Immutable after Dial.
	Welcome *pb.Welcome
	// Wire is the wire in use (WireGRPC or WireFramed). Immutable after
	// Dial.
	Wire Wire

	sendMu sync.Mutex // serializes w.send

	// batchPosted says the server takes posted calls in batches
	// (FeaturePostBatch): GoPosted queues them. Immutable after Dial.
	batchPosted bool
	// channelPosted says the server takes ClientMessage.
	// channel_call_follows (FeatureChannelPosted). Immutable after Dial.
	channelPosted bool
	// channelBatch says a channel call may carry the queued posted calls
	// (FeatureChannelBatch, with channelPosted and channels). Immutable
	// after Dial.
	channelBatch bool
	// chanBatches counts the posted batches sent inside channel calls:
	// every later message says it (withPostedLocked). Protected by
	// sendMu.
	chanBatches uint64
	// chanBatched is chanBatches, for the end-of-session counts. Atomic.
	chanBatched atomic.Uint64
	// postQ are the posted calls queued for the next message, postQBytes
	// their inputs' size (postbatch.go). Protected by sendMu.
	postQ      []*pb.Call
	postQBytes int
	// postedMsg is the message withPostedLocked builds around a message
	// sent with the queue in front, reused from one send to the next
	// (with the queue's array: recyclePostedLocked) when the wire
	// encodes on send; reusePosted says it does. Protected by sendMu;
	// reusePosted is immutable after Dial.
	postedMsg   pb.ClientMessage
	reusePosted bool
	// queueAlone is the message of no content of its own that a send of
	// the queue alone passes to sendLocked (so that it allocates none).
	// Never changed (encoding it caches its size). Protected by sendMu.
	queueAlone pb.ClientMessage
	// postQSince is when the queue's first call was queued. Protected by
	// sendMu.
	postQSince time.Time
	// postQTakeBacks is how many of the queue's last calls were posted
	// with PostTakeBack one after the other (its take-back tail), and
	// postQKept how many times the timer or a heartbeat left them
	// queued (keepTakeBackLocked, up to maxTakeBackKeeps). Protected by
	// sendMu.
	postQTakeBacks int
	postQKept      int
	// postTimer fires postDelay after the queue's first call, unless a
	// call posted once it is due (postDue) sent it; postSender, one
	// goroutine for the connection's life, then sends it. Immutable
	// pointer.
	postTimer *time.Timer
	// postFull asks postSender to send a queue that reached
	// maxPostedBatch (postFullAsked: asked, not yet sent; protected by
	// sendMu). Buffered (one); nil without postSender (then the poster
	// sends it). Immutable pointer.
	postFull      chan struct{}
	postFullAsked bool
	// postDelay is Options.PostDelay, defaulted. Immutable after Dial.
	postDelay time.Duration
	// postedLate counts the queues the timer sent. Atomic.
	postedLate atomic.Uint64
	// postBatches counts the frames that carried queued posted calls.
	// Atomic.
	postBatches atomic.Uint64
	// spareDone is the array of a message's packed posted replies
	// (posted_done) handed out by dispatchPosted, zeroed, for the next
	// message's: a frame of 64 replies made 31 KB of garbage, half of a
	// posted umask's bytes on the client. Taken out while in use, so
	// that two dispatches never share it; not given back when a reply
	// in it reached a waiting caller (who may keep it). Protected by
	// spareMu.
	spareMu   sync.Mutex
	spareDone []pb.Reply

	mu sync.Mutex
	// seq is the last sequence number assigned. Protected by mu.
	seq uint64
	// pending maps seq to the waiting caller. Protected by mu.
	pending map[uint64]chan *pb.Reply
	// err is why the connection died. Protected by mu.
	err error
	// draining is why a send failed while err is nil: the connection
	// reads on to the stream's end (failAfterSend). Protected by mu.
	draining error

	// reading says a goroutine holds the read token: it alone receives
	// from the wire and dispatches what arrives (see receive). Protected
	// by mu.
	reading bool
	// waiters counts Await calls blocked without the token. Protected by
	// mu.
	waiters int
	// repliedWaited says the last reply dispatched had a receiver (a
	// caller of Go, not of Post: takeover). Protected by mu.
	repliedWaited bool
	// recvDoneClosed records that recvDone is closed. Protected by mu.
	recvDoneClosed bool
	// dispatching counts the messages being dispatched (a socket
	// message, a channel reply's fold; beginDispatchLocked), and
	// pendingFailed says fail ran meanwhile: the calls of pending are
	// failed when the last such message was dispatched whole
	// (endDispatchLocked), not in its middle, so that a message's
	// replies and the state records it carries are handed on together.
	// Protected by mu.
	dispatching   int
	pendingFailed bool

	// token tells a waiting Await that the read token was released (a
	// hint: it may find the token taken again). Capacity 1.
	token chan struct{}
	// idle fires idleTakeover after the token was last released, and
	// takes it for a background reader (takeover). Immutable pointer.
	idle *time.Timer
	// takeovers counts the background readers started. Atomic.
	takeovers atomic.Uint64

	// beats are the heartbeats sent whose answer has not arrived yet, in
	// order (at most maxBeats), for OnLeaseRenewed. Protected by mu.
	beats []sentBeat

	// heard is set by the receiving goroutine for every message and
	// cleared by the heartbeat goroutine, which so learns that the server
	// is alive without a clock read or a lock per message.
	heard atomic.Bool

	done chan struct{}
	// recvDone is closed once the connection is dead and no goroutine
	// holds the read token or folds a channel reply: no OnPush or
	// OnReply runs after it.
	recvDone chan struct{}

	// sent counts the messages sent on the wire (the Hello too): a
	// channel call carries it (hopclient.go). Atomic; it changes under
	// sendMu.
	sent atomic.Uint64
	// hop is the state of the call channels (hopclient.go); its fields
	// are protected by mu.
	hop hopClient
	// recv counts what the socket brought (counts.go). Written by the
	// holder of the read token; atomic.
	recv recvCounters
}

// idleTakeover is how long the read token may stay free before a
// background goroutine takes it to receive pushes and heartbeats. A
// caller waiting for a reply receives itself (Await), which saves the
// hand-off from a receiving goroutine on every call; between calls made
// less than idleTakeover apart, no other goroutine needs to run. A push
// that no call's reader picks up waits at most this long.
const idleTakeover = time.Millisecond

// GRPCConn is StreamConn's former name.
type GRPCConn = StreamConn

// Dial connects to the remote sentry at target and performs the
// Hello/Welcome handshake, on the wire opts.Wire selects.
func Dial(ctx context.Context, target string, opts Options) (*StreamConn, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 100 * time.Millisecond
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = defaultDeadAfter(t, opts.HeartbeatInterval)
	}
	hello := opts.Hello
	if hello == nil {
		hello = &pb.Hello{}
	}
	hello.ProtocolVersion = pb.ProtocolVersion
	if opts.NoPostBatch {
		hello.Features &^= pb.FeaturePostBatch | pb.FeatureChannelPosted | pb.FeaturePostedDone | pb.FeaturePostedWrites | pb.FeatureStateBefore
	} else {
		// foldChannelReply handles a channel reply's posted_replies,
		// dispatchPosted the posted_done beside them.
		hello.Features |= pb.FeaturePostBatch | pb.FeatureChannelPosted | pb.FeaturePostedDone | pb.FeatureStateBefore
		hello.PostedReplyLingerUs = uint32(opts.replyLinger() / time.Microsecond)
	}
	var w wire
	var welcome *pb.Welcome
	kind := WireGRPC
	switch {
	case opts.Wire == WireFramed && t.Network != "unix":
		return nil, fmt.Errorf("dial %s: the framed wire needs a unix: target", t)
	case opts.Wire == WireFramed || (opts.Wire == WireAuto && t.Network == "unix"):
		w, welcome, err = dialFramed(ctx, t, hello, opts.FailIfNotListening)
		kind = WireFramed
		if errors.Is(err, errNotFramed) && opts.Wire == WireAuto {
			// An older server, or a test's plain grpc.Server.
			w, welcome, err = dialGRPC(ctx, t, hello)
			kind = WireGRPC
		}
	default:
		if opts.FailIfNotListening {
			if err = probeListening(ctx, t); err != nil {
				break
			}
		}
		var creds credentials.TransportCredentials
		if creds, err = opts.TLS.DialCredentials(t); err == nil {
			if err = opts.TLS.CheckHandshake(ctx, t); err == nil {
				w, welcome, err = dialGRPCWith(ctx, t, hello, creds)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("session with %s: %w", t, err)
	}
	if hello.Network != nil && welcome.GetFeatures()&pb.FeatureSandboxNetwork == 0 {
		w.close()
		return nil, fmt.Errorf("session with %s: %w: the server does not know --network=sandbox (an older build)", t, ErrRefused)
	}
	c := &StreamConn{w: w, opts: opts, Welcome: welcome, Wire: kind,
		pending: make(map[uint64]chan *pb.Reply), token: make(chan struct{}, 1),
		done: make(chan struct{}), recvDone: make(chan struct{})}
	c.initHop(opts)
	c.reusePosted = w.encodesOnSend()
	c.batchPosted = !opts.NoPostBatch && welcome.GetFeatures()&pb.FeaturePostBatch != 0
	c.channelPosted = c.batchPosted && welcome.GetFeatures()&pb.FeatureChannelPosted != 0
	c.channelBatch = c.channelPosted && c.hop.enabled && welcome.GetFeatures()&pb.FeatureChannelBatch != 0
	c.postDelay = opts.postDelay()
	c.postTimer = time.NewTimer(time.Hour)
	c.postTimer.Stop()
	if c.batchPosted {
		c.postFull = make(chan struct{}, 1)
		go c.postSender()
	}
	c.idle = time.AfterFunc(time.Hour, c.takeover)
	go c.takeover()
	go c.heartbeatLoop()
	return c, nil
}

// grpcWire is a Session stream of gRPC.
type grpcWire struct {
	cc     *grpc.ClientConn
	stream pb.Sentry_SessionClient
	cancel context.CancelFunc
}

func (g *grpcWire) send(m *pb.ClientMessage) error   { return g.stream.Send(m) }
func (g *grpcWire) recv() (*pb.ServerMessage, error) { return g.stream.Recv() }

// encodesOnSend implements wire.encodesOnSend: gRPC's stats handlers
// and tracing may read a sent message later.
func (g *grpcWire) encodesOnSend() bool { return false }

func (g *grpcWire) close() error {
	g.cancel()
	return g.cc.Close()
}

func (g *grpcWire) closeWrite() error { return g.stream.CloseSend() }

// dialGRPC opens a Session stream over gRPC and performs the handshake.
func dialGRPC(ctx context.Context, t Target, hello *pb.Hello) (wire, *pb.Welcome, error) {
	return dialGRPCWith(ctx, t, hello, insecure.NewCredentials())
}

func dialGRPCWith(ctx context.Context, t Target, hello *pb.Hello, creds credentials.TransportCredentials) (wire, *pb.Welcome, error) {
	cc, err := grpc.NewClient(t.GRPCTarget(), append(DialOptions(),
		grpc.WithTransportCredentials(creds),
		// Reconnecting to a restarted server must be quick: gRPC's
		// default first retry comes after a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           dialBackoff,
			MinConnectTimeout: time.Second,
		}))...)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", t, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	g := &grpcWire{cc: cc, cancel: cancel}
	// The handshake runs aside so that ctx bounds it, including the wait
	// for the server to become reachable.
	type result struct {
		w   *pb.Welcome
		err error
	}
	res := make(chan result, 1)
	go func() {
		stream, err := pb.NewSentryClient(cc).Session(sctx, grpc.WaitForReady(true))
		if err != nil {
			res <- result{err: err}
			return
		}
		g.stream = stream
		w, err := handshake(g, hello)
		res <- result{w, err}
	}()
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err != nil {
		g.close()
		return nil, nil, r.err
	}
	return g, r.w, nil
}

// probeListening connects to t once and hangs up: gRPC, which waits for
// a server to come up, would hide a target where nothing listens.
func probeListening(ctx context.Context, t Target) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, t.Network, t.Address)
	if err != nil {
		if notListening(err) {
			return fmt.Errorf("%w: %w", ErrNotListening, err)
		}
		return nil // unreachable for now: gRPC waits for it
	}
	c.Close()
	return nil
}

// dialBackoff paces reconnection attempts to a server that is not (yet)
// listening, on either wire.
var dialBackoff = backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 250 * time.Millisecond}

// handshake sends Hello and waits for Welcome.
func handshake(w wire, hello *pb.Hello) (*pb.Welcome, error) {
	if err := w.send(&pb.ClientMessage{Msg: &pb.ClientMessage_Hello{Hello: hello}}); err != nil {
		return nil, fmt.Errorf("send Hello: %w", err)
	}
	m, err := w.recv()
	if err != nil {
		return nil, fmt.Errorf("wait for Welcome: %w", err)
	}
	welcome := m.GetWelcome()
	if welcome == nil {
		return nil, fmt.Errorf("expected Welcome, got %T", m.Msg)
	}
	return welcome, checkWelcome(welcome)
}

// ErrRefused marks a peer that will not serve this client, or is not a
// runsc-decoupled sentry of this protocol version at all: trying again
// will not help.
var ErrRefused = errors.New("refused")

// checkWelcome turns a Welcome that refuses the session, or one of another
// protocol version, into an ErrRefused error that says why.
func checkWelcome(w *pb.Welcome) error {
	if w.GetRefused() != "" {
		return fmt.Errorf("%w by the server: %s", ErrRefused, w.GetRefused())
	}
	if v := w.GetProtocolVersion(); v != pb.ProtocolVersion {
		return fmt.Errorf("%w: the server speaks protocol version %d, this client %d (runsc-decoupled binaries of different versions)", ErrRefused, v, pb.ProtocolVersion)
	}
	return nil
}

func (c *StreamConn) send(m *pb.ClientMessage) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.sendLocked(m)
}

// sendLocked sends m, with the queued posted calls in front of it.
// Precondition: c.sendMu is held.
func (c *StreamConn) sendLocked(m *pb.ClientMessage) error {
	sent := c.withPostedLocked(m)
	err := c.w.send(sent)
	if sent == &c.postedMsg {
		c.recyclePostedLocked()
	}
	if err != nil {
		c.failAfterSend(fmt.Errorf("send: %w", err))
		return ErrConnDead
	}
	c.sent.Add(1)
	return nil
}

// Go implements Conn.Go.
func (c *StreamConn) Go(call *pb.Call) (<-chan *pb.Reply, error) {
	ch, err := c.register(call)
	if err != nil {
		return nil, err
	}
	if err := c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_Call{Call: call}}); err != nil {
		return nil, err
	}
	return ch, nil
}

// register assigns call's seq (unless it has one) and makes it pending:
// the channel returned gets its reply.
func (c *StreamConn) register(call *pb.Call) (chan *pb.Reply, error) {
	ch := make(chan *pb.Reply, 1)
	if err := c.registerAs(call, ch); err != nil {
		return nil, err
	}
	return ch, nil
}

// registerAs is register with the channel ch (noReceiver: none).
func (c *StreamConn) registerAs(call *pb.Call, ch chan *pb.Reply) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return ErrConnDead
	}
	if call.Seq == 0 {
		c.seq++
		call.Seq = c.seq
	} else if call.Seq > c.seq {
		c.seq = call.Seq
	}
	if _, dup := c.pending[call.Seq]; dup {
		c.mu.Unlock()
		return fmt.Errorf("transport: call seq %d already in flight", call.Seq)
	}
	c.pending[call.Seq] = ch
	c.mu.Unlock()
	return nil
}

// Call implements Conn.Call.
func (c *StreamConn) Call(ctx context.Context, call *pb.Call) (*pb.Reply, error) {
	ch, err := c.Go(call)
	if err != nil {
		return nil, err
	}
	r, err := c.Await(ctx, ch)
	if err != nil && ctx.Err() != nil {
		// The reply may still come: it is then folded (OnReply) as a
		// posted call's is, since what it carries (a lease revocation,
		// state records) holds whether or not anyone waits for it.
		c.mu.Lock()
		if _, ok := c.pending[call.Seq]; ok {
			c.pending[call.Seq] = noReceiver
		}
		c.mu.Unlock()
	}
	return r, err
}

// Await waits for the reply on ch, a channel Go returned: it returns the
// reply, ErrConnDead if the connection died first, or ctx's error. While
// no other goroutine receives from the wire, the caller does (the read
// token), dispatching every message that arrives until its own reply
// has: the reply's arrival then wakes the caller itself. Its ctx is only
// checked between messages then; the server's heartbeat answers arrive
// every heartbeat interval.
func (c *StreamConn) Await(ctx context.Context, ch <-chan *pb.Reply) (*pb.Reply, error) {
	return await(c, ctx, ch)
}

// await is Await for a channel of any type (a reply, a ChannelGrant).
func await[T any](c *StreamConn, ctx context.Context, ch <-chan T) (T, error) {
	var zero T
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return zero, ErrConnDead
			}
			return r, nil
		default:
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		c.mu.Lock()
		if !c.reading && c.err == nil {
			c.reading = true
			c.mu.Unlock()
			c.receive(func(*pb.ServerMessage) bool { return len(ch) > 0 || ctx.Err() != nil })
			continue
		}
		c.waiters++
		c.mu.Unlock()
		var r T
		ok, got := false, false
		select {
		case r, ok = <-ch:
			got = true
		case <-c.token:
		case <-ctx.Done():
		}
		c.mu.Lock()
		c.waiters--
		c.mu.Unlock()
		if got {
			if !ok {
				return zero, ErrConnDead
			}
			return r, nil
		}
	}
}

// Send implements Conn.Send.
func (c *StreamConn) Send(m *pb.ClientMessage) error { return c.send(m) }

// Done implements Conn.Done.
func (c *StreamConn) Done() <-chan struct{} { return c.done }

// Err implements Conn.Err.
func (c *StreamConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Wait blocks until the connection is dead and no goroutine receives from
// it any more, so that no OnPush or OnReply call is running or to come.
func (c *StreamConn) Wait() { <-c.recvDone }

// Close implements Conn.Close.
func (c *StreamConn) Close() error {
	c.fail(errors.New("closed"))
	return nil
}

// fail marks the connection dead, wakes every waiting caller and ends
// the stream.
func (c *StreamConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	// done first: a caller woken by its channel's closing must find the
	// connection dead.
	close(c.done)
	if c.dispatching > 0 {
		c.pendingFailed = true
	} else {
		c.failPendingLocked()
	}
	if !c.reading {
		c.closeRecvDoneLocked()
	}
	c.hopShutdownLocked()
	c.mu.Unlock()
	c.idle.Stop()
	c.postTimer.Stop()
	// Outside mu: closing may wait on the wire's own goroutines; it makes
	// the token holder's receive fail.
	c.w.close()
}

// drainLimit bounds how long a connection whose send failed reads on
// before it is declared dead without its stream's end (failAfterSend).
const drainLimit = time.Second

// failAfterSend is fail for a send's error. A send fails when the server
// is gone, but what it sent before it died may still be unread: in the
// socket's buffer (a framed wire), or received and queued (gRPC's Recv
// returns it before the stream's error). A recovery must know it: a
// Durable push that the server sent before it applied a size change
// (sentry/server's SyncBeforeResize) would, dropped, leave the client
// re-sending a write the change removed, after it; and every reply read
// is a call not re-sent. So the connection reads on, dispatching what
// comes, and is declared dead at its stream's end: a reader is started
// now, or when the holder of the read token gives it up (release). The
// sending side is shut, so that a server still alive (the send failed
// for another cause) ends the stream too; drainLimit bounds the wait.
// Dispatching stops at once if fail runs meanwhile (the heartbeat, a
// broken channel, Close).
func (c *StreamConn) failAfterSend(err error) {
	c.mu.Lock()
	if c.err != nil || c.draining != nil {
		c.mu.Unlock()
		return
	}
	c.draining = err
	c.drainReaderLocked()
	c.mu.Unlock()
	c.w.closeWrite()
	time.AfterFunc(drainLimit, func() {
		c.fail(fmt.Errorf("%w (the stream did not end within %v)", err, drainLimit))
	})
}

// drainReaderLocked starts a reader to the stream's end if nobody holds
// the read token. Precondition: c.mu is held, c.draining is set.
func (c *StreamConn) drainReaderLocked() {
	if c.reading || c.err != nil {
		return
	}
	c.reading = true
	go c.receive(func(*pb.ServerMessage) bool { return false })
}

// isDraining says a failed send left the connection reading to its
// stream's end.
func (c *StreamConn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining != nil && c.err == nil
}

// Abandon ends a connection a recovery replaces: once what the server
// sent before a failed send has been dispatched (failAfterSend), it
// closes it. Then Wait returns once nothing is dispatched any more.
func (c *StreamConn) Abandon() {
	if c.isDraining() {
		<-c.done
	}
	c.Close()
}

// failPendingLocked forgets the calls in flight, waking their callers
// with ErrConnDead (a posted call's reply reaches nobody once forgotten:
// the caller's recovery re-sends it). Precondition: c.mu is held and
// c.err is set.
func (c *StreamConn) failPendingLocked() {
	for seq, ch := range c.pending {
		if ch != noReceiver {
			close(ch)
		}
		delete(c.pending, seq)
	}
}

// beginDispatchLocked starts the dispatch of a message that arrived, or
// reports false if the connection died before it (the message is then
// dropped whole: its calls stay in flight). A message is dispatched
// whole or not at all: the server sends the records of what a batch of
// posted calls changed once, after the batch's replies, in the frame
// that carries them (StateBefore, a StateUpdate push, a channel reply's
// state), so a frame whose replies were dropped half way by a
// concurrent fail (a send's error, the heartbeat, Close) while its
// records were folded would leave the caller's replay log with the
// effects of calls it still holds in flight and re-sends (a posted
// close's fd gone, then the re-sent copy from it failing with EBADF).
// Precondition: c.mu is held.
func (c *StreamConn) beginDispatchLocked() bool {
	if c.err != nil {
		return false
	}
	c.dispatching++
	return true
}

// endDispatchLocked ends a dispatch beginDispatchLocked started, failing
// the calls in flight if the connection died meanwhile and no other
// message is being dispatched. Precondition: c.mu is held.
func (c *StreamConn) endDispatchLocked() {
	c.dispatching--
	if c.dispatching == 0 && c.pendingFailed {
		c.pendingFailed = false
		c.failPendingLocked()
	}
}

// receive is run by the holder of the read token: it receives and
// dispatches messages until done says so after one (or before the first,
// when done(nil) holds) or the wire fails, then releases the token.
func (c *StreamConn) receive(done func(*pb.ServerMessage) bool) {
	defer c.release()
	if done(nil) {
		return
	}
	for {
		m, err := c.w.recv()
		if err != nil {
			c.mu.Lock()
			cause := c.draining
			c.mu.Unlock()
			if cause == nil {
				cause = fmt.Errorf("receive: %w", err)
			}
			c.fail(cause)
			return
		}
		c.heard.Store(true)
		if !c.awaitChannelReplies(m.GetChannelReplies()) {
			return
		}
		c.mu.Lock()
		ok := c.beginDispatchLocked()
		c.mu.Unlock()
		if !ok {
			return
		}
		c.dispatch(m)
		c.socketDispatched()
		if done(m) {
			return
		}
	}
}

// release gives up the read token: to a waiting Await if any, else to
// the background reader once the token has been free for idleTakeover.
func (c *StreamConn) release() {
	c.mu.Lock()
	c.reading = false
	c.hopWakeLocked()
	if c.err != nil {
		c.closeRecvDoneLocked()
		c.mu.Unlock()
		return
	}
	if c.draining != nil {
		// A send failed while the token was held: read on.
		c.drainReaderLocked()
		c.mu.Unlock()
		return
	}
	if c.waiters > 0 {
		select {
		case c.token <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	c.idle.Reset(idleTakeover)
}

// takeover takes the read token for the background, if it is free, and
// receives until a caller waits for the token, or a waited call's reply
// has been delivered and no call is left in flight (calls are being
// made: their callers will receive). It goes on past a reply while calls
// are in flight that no caller may be reading for (posted calls, whose
// replies only OnReply sees): stopping there would leave their replies
// to one takeover per idleTakeover, and a server whose replies fill the
// socket would then wait on the client for each. It goes on past
// posted calls' replies when none is left in flight too: a program
// posting in a loop (umask, writes behind) has none between a batch's
// replies and its next call, and stopping there started a takeover, a
// goroutine, per batch (TestPostedLoopOneReader).
func (c *StreamConn) takeover() {
	c.mu.Lock()
	if c.reading || c.err != nil {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	c.takeovers.Add(1)
	c.receive(func(m *pb.ServerMessage) bool {
		if m == nil {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiters > 0 || (m.GetReply() != nil && c.repliedWaited && len(c.pending) == 0)
	})
}

// closeRecvDoneLocked closes recvDone once. Precondition: c.mu is held,
// c.err is set and no goroutine holds the read token.
func (c *StreamConn) closeRecvDoneLocked() {
	if c.hop.folding {
		// The fold closes it when it ends.
		return
	}
	if !c.recvDoneClosed {
		c.recvDoneClosed = true
		close(c.recvDone)
	}
}

// dispatch handles one message from the server. Precondition: the
// caller holds the read token.
func (c *StreamConn) dispatch(m *pb.ServerMessage) {
	// The replies to posted calls the server batched come before the
	// message that carries them.
	posted := c.dispatchPosted(m.PostedReplies, m.PostedDone, m.PostedWrites)
	if len(m.StateBefore) > 0 && c.opts.OnPush != nil {
		// Their records, as the StateUpdate push that would have
		// followed them (FeatureStateBefore).
		c.opts.OnPush(&pb.Push{Msg: &pb.Push_State{State: &pb.StateUpdate{Records: m.StateBefore}}})
	}
	postedReply := false
	switch m := m.Msg.(type) {
	case *pb.ServerMessage_Reply:
		if m.Reply != nil {
			fd := -1
			if m.Reply.HostFd {
				fd = c.takeReplyFD()
			}
			postedReply = c.dispatchReplyFD(m.Reply, fd)
		}
	case *pb.ServerMessage_Push:
		if c.opts.OnPush != nil {
			c.opts.OnPush(m.Push)
		}
	case *pb.ServerMessage_Farewell:
		if c.opts.OnFarewell != nil {
			c.opts.OnFarewell()
		}
	case *pb.ServerMessage_Frames:
		if c.opts.OnFrames != nil && m.Frames != nil {
			c.opts.OnFrames(m.Frames)
		}
	case *pb.ServerMessage_ChannelGrant:
		c.granted(m.ChannelGrant)
	case *pb.ServerMessage_Heartbeat:
		c.beatAnswered(m.Heartbeat)
	}
	if postedReply {
		posted++
	}
	c.recv.count(m, posted, postedReply)
}

// sentBeat is a heartbeat sent (StreamConn.beats): its unix_nanos and
// when, on the monotonic clock.
type sentBeat struct {
	nanos int64
	at    time.Time
}

// maxBeats bounds StreamConn.beats (answers that never come).
const maxBeats = 64

// beatSent records heartbeat hb, sent at now.
func (c *StreamConn) beatSent(hb *pb.Heartbeat, now time.Time) {
	if c.opts.OnLeaseRenewed == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.beats) >= maxBeats {
		c.beats = c.beats[1:]
	}
	c.beats = append(c.beats, sentBeat{nanos: hb.UnixNanos, at: now})
}

// beatAnswered handles the server's heartbeat hb: if it answers one of
// beats and renewed the leases, OnLeaseRenewed hears when that one was
// sent. Precondition: the caller holds the read token.
func (c *StreamConn) beatAnswered(hb *pb.Heartbeat) {
	if c.opts.OnLeaseRenewed == nil || hb.GetRenewedUnixNanos() == 0 || hb.GetLeaseTtlMs() == 0 {
		return
	}
	c.mu.Lock()
	var sent time.Time
	n := 0
	for ; n < len(c.beats) && c.beats[n].nanos <= hb.RenewedUnixNanos; n++ {
		if c.beats[n].nanos == hb.RenewedUnixNanos {
			sent = c.beats[n].at
		}
	}
	c.beats = c.beats[n:]
	c.mu.Unlock()
	if !sent.IsZero() {
		c.opts.OnLeaseRenewed(sent, time.Duration(hb.LeaseTtlMs)*time.Millisecond, time.Duration(hb.LeaseLifeMs)*time.Millisecond)
	}
}

// dispatchReply hands r to its caller (OnReply first) and reports
// whether it was the reply of a call queued by Post. Precondition: the
// caller holds the read token.
func (c *StreamConn) dispatchReply(r *pb.Reply) bool { return c.dispatchReplyFD(r, -1) }

// dispatchReplyFD is dispatchReply of a reply fd rode with (-1: none),
// which OnHostFD takes if the reply has a caller waiting.
func (c *StreamConn) dispatchReplyFD(r *pb.Reply, fd int) bool {
	c.mu.Lock()
	ch := c.pending[r.Seq]
	delete(c.pending, r.Seq)
	c.repliedWaited = ch != noReceiver
	c.mu.Unlock()
	if fd >= 0 {
		if ch != nil && ch != noReceiver && c.opts.OnHostFD != nil {
			c.opts.OnHostFD(r.Seq, fd)
		} else {
			unix.Close(fd)
		}
	}
	if ch != nil {
		if c.opts.OnReply != nil {
			c.opts.OnReply(r)
		}
		if ch != noReceiver {
			ch <- r
		}
	}
	return ch == noReceiver
}

// takeReplyFD takes the fd that came with the frame of a reply that says
// one rode with it (Reply.host_fd), or -1 if none did (a wire that
// carries none). Precondition: the caller holds the read token.
func (c *StreamConn) takeReplyFD() int {
	if fw, ok := c.w.(*framedWire); ok && fw.fds != nil {
		return fw.fds.take()
	}
	return -1
}

// defaultDeadAfter is Options.DeadAfter's default for target: 5
// heartbeat intervals, and at least minLocalDeadAfter on a Unix socket.
// There the kernel ends the stream at once when the server's process
// dies, so silence means only a server that hangs or a host too loaded
// to run it: an application of a thousand processes that each woke
// every millisecond kept a live embedded server's answers 600 ms late,
// and the client failed over to it again and again until its recovery
// timeout killed the application.
func defaultDeadAfter(t Target, interval time.Duration) time.Duration {
	d := 5 * interval
	if t.Network == "unix" {
		d = max(d, minLocalDeadAfter)
	}
	return d
}

// minLocalDeadAfter is the least default DeadAfter on a Unix socket.
const minLocalDeadAfter = 10 * time.Second

// testHookBeat, if set, runs at the start of each heartbeat tick (tests
// stall the loop with it).
var testHookBeat atomic.Pointer[func()]

// unreadWire is a wire that can tell whether bytes the server sent wait
// unread in the socket.
type unreadWire interface {
	unread() bool
}

func (c *StreamConn) heartbeatLoop() {
	interval := c.opts.HeartbeatInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	// lastHeard is when a tick last found heard set: within one interval
	// of the last message. ran is when the loop last ran.
	lastHeard := time.Now()
	ran := lastHeard
	uw, _ := c.w.(unreadWire)
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			if hook := testHookBeat.Load(); hook != nil {
				(*hook)()
			}
			woke := time.Now()
			if c.heard.Swap(false) || uw != nil && uw.unread() {
				// A message waiting in the socket is the server's
				// too: its reader may wait for a CPU as this loop did.
				lastHeard = now
			}
			// The loop's own lateness is not the server's silence: a
			// host too loaded to run this goroutine on time ran the
			// server, and this client's reader, no sooner.
			if late := woke.Sub(ran) - interval; late > interval {
				lastHeard = lastHeard.Add(late)
			}
			ran = woke
			silent := now.Sub(lastHeard)
			if silent > c.opts.DeadAfter {
				c.fail(fmt.Errorf("no heartbeat from the server for %v", silent.Round(time.Millisecond)))
				return
			}
			c.closeIdleChannels(now)
			// now is the ticker's, read before the send: the renewal
			// the answer tells counts from no later than the server's.
			hb := &pb.Heartbeat{UnixNanos: now.UnixNano()}
			if c.opts.HeartbeatClocks != nil {
				hb.Clocks = c.opts.HeartbeatClocks()
			}
			c.beatSent(hb, now)
			c.sendBeat(&pb.ClientMessage{Msg: &pb.ClientMessage_Heartbeat{Heartbeat: hb}})
		}
	}
}
