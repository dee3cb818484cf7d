package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
}

// DefaultClientTimeout is the default Config.ClientTimeout: clients send a
// heartbeat every 100ms by default, so this is many missed heartbeats.
const DefaultClientTimeout = 10 * time.Second

// Server is the remote sentry: it holds the kernel state of every
// connected client's application. It implements sentrypb.SentryServer.
type Server struct {
	sentrypb.UnimplementedSentryServer

	// cfg, log and id are immutable after New.
	cfg Config
	log hclog.Logger
	id  string

	// enosys records the system calls already logged as unsupported
	// (sysno -> struct{}); it is safe for concurrent use on its own.
	enosys sync.Map

	// mu protects clients and closed.
	mu sync.Mutex
	// clients is every live client. Protected by mu.
	clients map[*clientState]struct{}
	// closed is set by Close. Protected by mu.
	closed bool
}

var _ sentrypb.SentryServer = (*Server)(nil)

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Gofer == nil {
		return nil, errors.New("sentry server: Config.Gofer is required")
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("sentry server: server id: %w", err)
	}
	return &Server{
		cfg:     cfg,
		log:     log.Named("sentry"),
		id:      "sentry-" + hex.EncodeToString(b[:]),
		clients: make(map[*clientState]struct{}),
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
	cs := make([]*clientState, 0, len(s.clients))
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
func (s *Server) Session(stream sentrypb.Sentry_SessionServer) error {
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := m.GetHello()
	if hello == nil {
		return status.Errorf(codes.InvalidArgument, "first message must be Hello, got %T", m.Msg)
	}
	k, err := s.newClient(hello)
	if err != nil {
		s.log.Error("new client", "client", hello.ClientId, "err", err)
		return status.Errorf(codes.Unavailable, "new client: %v", err)
	}
	sess := &session{stream: stream}
	sess.heard.Store(time.Now().UnixNano())
	timeout := s.cfg.ClientTimeout
	if timeout <= 0 {
		timeout = DefaultClientTimeout
	}
	done := make(chan error, 1)
	go func() { done <- k.serve(sess) }()
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
			s.log.Warn("client silent; ending its session", "client", k.id, "silent", silent.Round(time.Millisecond))
			k.setSender(nil)
			k.destroy()
			return status.Errorf(codes.DeadlineExceeded, "no message from the client for %v", silent.Round(time.Millisecond))
		}
	}
}

// Debug implements sentrypb.SentryServer.Debug.
func (s *Server) Debug(ctx context.Context, _ *sentrypb.DebugRequest) (*sentrypb.DebugReply, error) {
	s.mu.Lock()
	cs := make([]*clientState, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	var b strings.Builder
	fmt.Fprintf(&b, "server %s: %d client(s)\n", s.id, len(cs))
	for _, c := range cs {
		c.debug(&b)
	}
	return &sentrypb.DebugReply{Text: b.String()}, nil
}

func (s *Server) newClient(hello *sentrypb.Hello) (*clientState, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("server is closed")
	}
	s.mu.Unlock()
	k, err := newClientState(s, hello)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go k.destroy()
		return nil, errors.New("server is closed")
	}
	s.clients[k] = struct{}{}
	return k, nil
}

func (s *Server) removeClient(k *clientState) {
	s.mu.Lock()
	delete(s.clients, k)
	s.mu.Unlock()
}
