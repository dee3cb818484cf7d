package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/workpool"
)

// Config configures a Server.
type Config struct {
	// Gofer is the only way the server reaches files.
	Gofer goferpb.GoferClient
	// Log receives the server's logs; nil discards them.
	Log hclog.Logger
	// Strace logs every forwarded system call and its result.
	Strace bool
	// ClientTimeout ends a session whose client sent nothing (not even a
	// heartbeat) for this long, freeing its state as if its stream had
	// broken: heartbeats go both ways. Zero means DefaultClientTimeout.
	ClientTimeout time.Duration
	// ReadLeaseTTL is how long a read lease lasts (readlease.DefaultTTL
	// when zero; readlease.go).
	ReadLeaseTTL time.Duration
	// NoPostedSetStats makes a run of posted attribute calls wait for
	// its SetStat (kernel.PostAttrRun) instead of letting it ride the
	// gofer's next call (to measure what riding saves).
	NoPostedSetStats bool
	// MaxClientsPerPeer bounds the live clients (sessions with their
	// kernel state) of one peer that is not an operator, so that one
	// local user cannot fill the server (DefaultMaxClientsPerPeer when
	// zero).
	MaxClientsPerPeer int
	// OperatorUIDs are the Unix socket peer uids (besides root) that may
	// start applications with any credentials and see every client in
	// Debug; other peers run only as themselves (grant.go).
	OperatorUIDs map[uint32]bool
	// MaxClientMemory bounds the memory one client's buffering kernel
	// objects may hold (package memacct; DefaultMaxClientMemory when not
	// positive).
	MaxClientMemory int64
	// Network is what the applications' AF_INET and AF_INET6 sockets
	// are: NetworkNone (also when empty), NetworkHost, or NetworkSandbox
	// (a client may bring its own network, Hello.network). It is the
	// operator's choice for every client of the server.
	Network string
}

// DefaultClientTimeout is the default Config.ClientTimeout: clients send a
// heartbeat every 100ms by default, so this is many missed heartbeats.
const DefaultClientTimeout = 10 * time.Second

// DefaultMaxClientMemory is the MaxClientMemory of a Config that sets
// none.
const DefaultMaxClientMemory = memacct.DefaultLimit

// Server is the remote sentry: it holds the kernel state of every
// connected client's application. It implements sentrypb.SentryServer.
type Server struct {
	sentrypb.UnimplementedSentryServer

	// cfg, log, id and attrs are immutable after New. attrs, the
	// attribute cache, wraps the configured gofer client: cfg.Gofer is
	// attrs.
	cfg   Config
	log   hclog.Logger
	id    string
	attrs *goferclient.AttrCache
	// leases are the clients' read leases (readlease.go), told of
	// changes by attrs. Immutable after New.
	leases *readlease.Registry

	// enosys records the system calls already logged as unsupported
	// (sysno -> struct{}); it is safe for concurrent use on its own.
	enosys sync.Map

	// workers runs the clients' per-thread call workers (package workpool);
	// safe for concurrent use on its own. Immutable pointer.
	workers *workpool.Pool

	// mu protects clients and closed.
	mu sync.Mutex
	// clients is every live client. Protected by mu.
	clients map[*client]struct{}
	// closed is set by Close. Protected by mu.
	closed bool
}

var _ sentrypb.SentryServer = (*Server)(nil)

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Gofer == nil {
		return nil, errors.New("sentry server: Config.Gofer is required")
	}
	switch cfg.Network {
	case "":
		cfg.Network = NetworkNone
	case NetworkNone, NetworkHost, NetworkSandbox:
	default:
		return nil, fmt.Errorf("sentry server: network %q: want %q, %q or %q", cfg.Network, NetworkNone, NetworkHost, NetworkSandbox)
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	attrs := goferclient.NewAttrCache(cfg.Gofer)
	cfg.Gofer = attrs
	leases := readlease.New(cfg.ReadLeaseTTL)
	attrs.SetObserver(leaseObserver{r: leases, log: log.Named("sentry")})
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("sentry server: server id: %w", err)
	}
	return &Server{
		cfg:     cfg,
		attrs:   attrs,
		leases:  leases,
		log:     log.Named("sentry"),
		id:      "sentry-" + hex.EncodeToString(b[:]),
		clients: make(map[*client]struct{}),
		workers: workpool.New(workpool.DefaultIdle),
	}, nil
}

// ID returns the server's identity (sent in Welcome).
func (s *Server) ID() string { return s.id }

// Register registers s as the Sentry service of g.
func (s *Server) Register(g *grpc.Server) {
	sentrypb.RegisterSentryServer(g, s)
}

// Close frees every client's state. Sessions still open end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.destroy()
	}
	return nil
}

// Session implements sentrypb.SentryServer.Session.
func (s *Server) Session(stream sentrypb.Sentry_SessionServer) (err error) {
	defer s.recoverHandler("Session", &err)
	m, err := recvHello(stream, HelloTimeout)
	if err != nil {
		return err
	}
	hello := m.GetHello()
	if hello == nil {
		return status.Errorf(codes.InvalidArgument, "first message must be Hello, got %T", m.Msg)
	}
	if v := hello.GetProtocolVersion(); v != sentrypb.ProtocolVersion {
		why := fmt.Sprintf("the client speaks protocol version %d, this server %d (runsc-decoupled binaries of different versions)", v, sentrypb.ProtocolVersion)
		s.log.Warn("refused a client", "client", hello.ClientId, "why", why)
		stream.Send(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Welcome{Welcome: &sentrypb.Welcome{ServerId: s.id, ProtocolVersion: sentrypb.ProtocolVersion, Refused: why}}})
		return status.Error(codes.FailedPrecondition, why)
	}
	c, err := s.newClient(hello, s.grantOf(stream.Context()))
	if errors.Is(err, kernel.ErrSysctl) || errors.Is(err, synth.ErrDevNode) || errors.Is(err, kernel.ErrNetwork) {
		s.log.Warn("refused a client", "client", hello.ClientId, "err", err)
		stream.Send(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Welcome{Welcome: &sentrypb.Welcome{ServerId: s.id, ProtocolVersion: sentrypb.ProtocolVersion, Refused: err.Error()}}})
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if errors.Is(err, errTooManyClients) {
		s.log.Warn("refused a client", "client", hello.ClientId, "err", err)
		stream.Send(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Welcome{Welcome: &sentrypb.Welcome{ServerId: s.id, ProtocolVersion: sentrypb.ProtocolVersion, Refused: err.Error()}}})
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	if err != nil {
		s.log.Error("new client", "client", hello.ClientId, "err", err)
		return status.Errorf(codes.Unavailable, "new client: %v", err)
	}
	c.stream.postBatch = hello.GetFeatures()&sentrypb.FeaturePostBatch != 0
	c.stream.channelPosted = c.stream.postBatch && hello.GetFeatures()&sentrypb.FeatureChannelPosted != 0
	c.stream.postedHeld.Packed = c.stream.postBatch && hello.GetFeatures()&sentrypb.FeaturePostedDone != 0
	c.stream.postedHeld.PackedWrites = c.stream.postedHeld.Packed && hello.GetFeatures()&sentrypb.FeaturePostedWrites != 0
	if c.stream.postBatch {
		c.stream.linger = lingerOf(hello)
		c.stream.stateBefore = hello.GetFeatures()&sentrypb.FeatureStateBefore != 0
	}
	sess := &session{stream: stream}
	sess.heard.Store(time.Now().UnixNano())
	timeout := s.cfg.ClientTimeout
	if timeout <= 0 {
		timeout = DefaultClientTimeout
	}
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		defer s.recoverHandler("Session", &err)
		err = c.serve(sess)
	}()
	tick := time.NewTicker(timeout / 10)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case now := <-tick.C:
			silent := now.Sub(time.Unix(0, sess.heard.Load()))
			if silent < timeout {
				continue
			}
			// Returning cancels the stream, which ends serve's Recv; the
			// state is freed now so that nothing waits on the silent client.
			s.log.Warn("client silent; ending its session", "client", c.k.ID, "silent", silent.Round(time.Millisecond))
			c.stream.setSender(nil)
			c.destroy()
			return status.Errorf(codes.DeadlineExceeded, "no message from the client for %v", silent.Round(time.Millisecond))
		}
	}
}

// Debug implements sentrypb.SentryServer.Debug.
func (s *Server) Debug(ctx context.Context, _ *sentrypb.DebugRequest) (_ *sentrypb.DebugReply, err error) {
	defer s.recoverHandler("Debug", &err)
	// Only an operator sees other peers' clients (their ids name their
	// state).
	g := s.grantOf(ctx)
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		if g.operator || c.k.Grant.Principal() == g.principal {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].k.ID < cs[j].k.ID })
	var b strings.Builder
	fmt.Fprintf(&b, "server %s: %d client(s)\n", s.id, len(cs))
	if !g.operator {
		fmt.Fprintf(&b, "(only the clients of %s: other peers' clients are shown to operators only)\n", g.principal)
	}
	for _, c := range cs {
		kernelDebug(c.k, &b)
	}
	return &sentrypb.DebugReply{Text: b.String()}, nil
}

// DefaultMaxClientsPerPeer is the default Config.MaxClientsPerPeer.
const DefaultMaxClientsPerPeer = 256

// errTooManyClients refuses a non-operator peer's client beyond
// Config.MaxClientsPerPeer.
var errTooManyClients = errors.New("too many clients")

func (s *Server) newClient(hello *sentrypb.Hello, g grant) (*client, error) {
	max := s.cfg.MaxClientsPerPeer
	if max <= 0 {
		max = DefaultMaxClientsPerPeer
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("server is closed")
	}
	if !g.operator {
		n := 0
		for c := range s.clients {
			if c.k.Grant.Principal() == g.principal {
				n++
			}
		}
		if n >= max {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %s already has %d (the most a peer that is not an operator may have)", errTooManyClients, g.principal, n)
		}
	}
	s.mu.Unlock()
	c, err := openClient(s, hello, g)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go c.destroy()
		return nil, errors.New("server is closed")
	}
	s.clients[c] = struct{}{}
	return c, nil
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// HelloTimeout bounds how long a new Session may take to send its Hello.
const HelloTimeout = 10 * time.Second

// recvHello receives a Session's first message within timeout: a peer that
// connects and says nothing must not hold the handler (and its buffers)
// for ever. Returning ends the stream, which ends the Recv left behind.
func recvHello(stream sentrypb.Sentry_SessionServer, timeout time.Duration) (*sentrypb.ClientMessage, error) {
	type result struct {
		m   *sentrypb.ClientMessage
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		got <- result{m, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-got:
		return r.m, r.err
	case <-t.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "no Hello within %v", timeout)
	}
}

// recoverHandler turns a panic of a gRPC or framed handler into an error
// for that stream or call alone, logged with its stack. It must be
// deferred directly.
func (s *Server) recoverHandler(what string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	if panicOnBug {
		panic(p)
	}
	s.log.Error("BUG: handler panicked; its call fails, the server carries on", "handler", what, "panic", p, "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "%s: internal error", what)
}
