package gofertest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Gofer is an in-process gofer serving Root on the Unix socket Sock.
type Gofer struct {
	t testing.TB
	// Root and Sock are set by New and never change.
	Root string
	Sock string

	// Opts are the gofer's options beyond the handle key file, and
	// NoCalls makes it refuse Calls streams, as an older gofer; both are
	// read at each Start.
	Opts    []gofer.Option
	NoCalls bool
	// Log is the gofer's logger (default: debug level, discarded unless
	// $SENTRY_TEST_LOG is set).
	Log hclog.Logger

	// mu protects srv and g, set while the gofer runs.
	mu  sync.Mutex
	srv *gofer.Server
	g   *grpc.Server
}

// New returns a gofer of root on a socket in a temporary directory of
// t, not yet started.
func New(t testing.TB, root string, opts ...gofer.Option) *Gofer {
	return &Gofer{t: t, Root: root, Sock: filepath.Join(t.TempDir(), "gofer.sock"), Opts: opts, Log: defaultLog()}
}

// Start starts a gofer of root and kills it at the end of the test.
func Start(t testing.TB, root string, opts ...gofer.Option) *Gofer {
	t.Helper()
	g := New(t, root, opts...)
	g.Start()
	t.Cleanup(g.Kill)
	return g
}

func defaultLog() hclog.Logger {
	out := io.Discard
	if os.Getenv("SENTRY_TEST_LOG") != "" {
		out = os.Stderr
	}
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: out})
}

// Start serves, as the daemon does: gRPC, and Calls streams on the
// framed wire. The handle key is kept in a file beside the socket, so
// that a restarted gofer accepts the handles its predecessor sealed.
func (p *Gofer) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	log := p.Log
	if log == nil {
		log = defaultLog()
	}
	gs, err := gofer.NewServer(p.Root, log, append([]gofer.Option{gofer.WithHandleKeyFile(p.Sock + ".key")}, p.Opts...)...)
	if err != nil {
		p.t.Error(err)
		return
	}
	lis, err := net.Listen("unix", p.Sock)
	if err != nil {
		p.t.Error(err)
		return
	}
	var gopts []grpc.ServerOption
	if p.NoCalls {
		gopts = append(gopts, grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if strings.HasSuffix(info.FullMethod, "/Calls") {
				return status.Error(codes.Unimplemented, "no Calls (test)")
			}
			return h(srv, ss)
		}))
	}
	g := grpc.NewServer(gopts...)
	gs.Register(g)
	var calls transport.StreamFunc
	if !p.NoCalls {
		calls = func(st *transport.FramedStream) error { return gs.ServeCalls(st) }
	}
	go transport.ServeFramed(lis, g, nil, calls)
	p.srv, p.g = gs, g
}

// Kill stops the gofer as kill -9 would, as far as its clients can tell.
func (p *Gofer) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.g == nil {
		return
	}
	p.g.Stop()
	p.srv.Close()
	os.Remove(p.Sock)
	p.srv, p.g = nil, nil
}

// Restart kills the gofer and starts its successor on the same socket.
func (p *Gofer) Restart() {
	p.Kill()
	p.Start()
}

// Client connects to the gofer with plain gRPC options (no waiting for
// a restarted gofer); the connection is closed at the end of the test.
func (p *Gofer) Client(tb testing.TB) goferpb.GoferClient {
	tb.Helper()
	conn, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return goferpb.NewGoferClient(conn)
}

// Dial connects to the gofer as the server daemon does (waiting for a
// restarted gofer, with quick reconnection); the connection is closed at
// the end of the test.
func (p *Gofer) Dial(tb testing.TB) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20), grpc.WaitForReady(true)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}
