package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

func init() { panicOnBug = true }

const busybox = "/bin/busybox"

// newRoot makes a gofer root holding a copy of busybox at /bin/busybox.
func newRoot(tb testing.TB) string {
	tb.Helper()
	root := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0755); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 01777); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		tb.Skipf("busybox not available: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0755); err != nil {
		tb.Fatal(err)
	}
	return root
}

// releasesInBatchesOnly turns off the timed flush of gofer Releases
// (releaseDelay) for the test: closed files' handles are released in
// full batches only (goferclient.ReleaseQueue), so that what a test counts per call
// (gofer RPCs, allocations) does not depend on how fast the machine runs
// its calls (on a loaded machine the timer cuts batches short).
func releasesInBatchesOnly(tb testing.TB) {
	old := releaseDelay
	releaseDelay = time.Hour
	tb.Cleanup(func() { releaseDelay = old })
}

func testLog() hclog.Logger {
	if os.Getenv("SENTRY_TEST_LOG") != "" {
		return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
	}
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: io.Discard})
}

// logBuffer collects a server's log (a logger's writes come from its
// goroutines while the test reads).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGofer serves root with the real gofer over a Unix socket and
// returns a client of it.
func startGofer(tb testing.TB, root string, opts ...gofer.Option) goferpb.GoferClient {
	tb.Helper()
	return startGoferProc(tb, root, opts...).Client(tb)
}

// goferProc is an in-process gofer a test can kill and restart.
type goferProc = gofertest.Gofer

func startGoferProc(t testing.TB, root string, opts ...gofer.Option) *goferProc {
	t.Helper()
	return gofertest.Start(t, root, opts...)
}

// appMem is a fake application address space for building inputs with
// sysabi.Inputs and applying outputs, as the client does.
type appMem struct {
	mu   sync.Mutex
	base uint64
	mem  []byte
}

func newAppMem() *appMem { return &appMem{base: 0x100000, mem: make([]byte, 0, 1<<20)} }

// alloc places b in memory and returns its address.
func (m *appMem) alloc(b []byte) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := m.base + uint64(len(m.mem))
	m.mem = append(m.mem, b...)
	for len(m.mem)%16 != 0 {
		m.mem = append(m.mem, 0)
	}
	return addr
}

func (m *appMem) str(s string) uint64 { return m.alloc(append([]byte(s), 0)) }
func (m *appMem) zeros(n int) uint64  { return m.alloc(make([]byte, n)) }

func (m *appMem) ReadAt(addr uint64, n int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readAt(addr, n)
}

func (m *appMem) readAt(addr uint64, n int) ([]byte, error) {
	if addr < m.base || addr-m.base+uint64(n) > uint64(len(m.mem)) {
		return nil, unix.EFAULT
	}
	return append([]byte(nil), m.mem[addr-m.base:addr-m.base+uint64(n)]...), nil
}

func (m *appMem) ReadString(addr uint64, max int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < max; i++ {
		b, err := m.readAt(addr+uint64(i), 1)
		if err != nil {
			return nil, err
		}
		if b[0] == 0 {
			return m.readAt(addr, i+1)
		}
	}
	return nil, unix.ENAMETOOLONG
}

func (m *appMem) bytes(addr uint64, n int) []byte {
	b, err := m.ReadAt(addr, n)
	if err != nil {
		panic(err)
	}
	return b
}

func (m *appMem) u32(addr uint64) uint32 { return binary.LittleEndian.Uint32(m.bytes(addr, 4)) }

func (m *appMem) apply(outs []*sentrypb.Region) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range outs {
		if o.Addr >= m.base && o.Addr-m.base+uint64(len(o.Data)) <= uint64(len(m.mem)) {
			copy(m.mem[o.Addr-m.base:], o.Data)
		}
	}
}

// env is a sentry server with a real gofer, and a transport client.
type env struct {
	t    testing.TB
	root string
	srv  *Server
	conn *transport.GRPCConn
	// sock is the server's socket, for a second connection.
	sock string
	mem  *appMem

	// leaseWanted marks every system call sys makes as one whose read
	// lease the caller could use (Syscall.lease_wanted); ownedWrite,
	// ownedWanted and openDataWanted mark them with Syscall.owned_write,
	// owned_wanted and open_data_wanted.
	leaseWanted, ownedWrite, ownedWanted, openDataWanted bool
	// procDataWanted marks them with Syscall.proc_data_wanted.
	procDataWanted bool

	mu sync.Mutex
	// events records pushes and replies in arrival order.
	events []any
	pushCh chan *sentrypb.Push
}

func newEnv(t testing.TB, stdio ...*sentrypb.StdioInfo) *env {
	t.Helper()
	return newEnvGofer(t, nil, stdio...)
}

// newEnvGofer is newEnv with a gofer started with goferOpts.
func newEnvGofer(t testing.TB, goferOpts []gofer.Option, stdio ...*sentrypb.StdioInfo) *env {
	t.Helper()
	return newEnvConfig(t, goferOpts, nil, stdio...)
}

// newEnvConfig is newEnvGofer with the server's Config changed by config.
func newEnvConfig(t testing.TB, goferOpts []gofer.Option, config func(*Config), stdio ...*sentrypb.StdioInfo) *env {
	t.Helper()
	return newEnvFeatures(t, goferOpts, config, 0, stdio...)
}

// newEnvFeatures is newEnvConfig whose client's Hello says features.
func newEnvFeatures(t testing.TB, goferOpts []gofer.Option, config func(*Config), features uint64, stdio ...*sentrypb.StdioInfo) *env {
	t.Helper()
	root := newRoot(t)
	gc := startGofer(t, root, goferOpts...)
	cfg := Config{Gofer: gc, Log: testLog(), Strace: true}
	if config != nil {
		config(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock, g := serveSentry(t, srv)
	e := &env{t: t, root: root, srv: srv, mem: newAppMem(), pushCh: make(chan *sentrypb.Push, 1024), sock: sock}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, "unix:"+sock, transport.Options{
		Hello:             &sentrypb.Hello{ClientId: t.Name(), Stdio: stdio, Features: features},
		OnPush:            e.onPush,
		HeartbeatInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Wire != transport.WireFramed {
		t.Fatalf("connected over %v, want the framed wire", conn.Wire)
	}
	e.conn = conn
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		srv.Close()
	})
	return e
}

func (e *env) onPush(p *sentrypb.Push) {
	e.mu.Lock()
	e.events = append(e.events, p)
	e.mu.Unlock()
	select {
	case e.pushCh <- p:
	default:
	}
}

func (e *env) call(c *sentrypb.Call) *sentrypb.Reply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := e.conn.Call(ctx, c)
	if err != nil {
		e.t.Fatalf("call %v: %v", c, err)
	}
	e.mu.Lock()
	e.events = append(e.events, r)
	e.mu.Unlock()
	return r
}

// start starts argv as PID 1 with cwd /.
func (e *env) start(argv ...string) *sentrypb.Reply {
	e.t.Helper()
	return e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: sentrypb.BytesList(argv), Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022}}})
}

// sys makes a system call from tid with inputs built from e.mem, applies
// its outputs, and returns the reply.
func (e *env) sys(tid int32, sysno uintptr, args ...uint64) *sentrypb.Reply {
	e.t.Helper()
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(sysno, a, e.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	r := e.call(&sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: a[:], Inputs: inputs,
		LeaseWanted: e.leaseWanted, OwnedWrite: e.ownedWrite, OwnedWanted: e.ownedWanted, OpenDataWanted: e.openDataWanted,
		ProcDataWanted: e.procDataWanted}}})
	e.mem.apply(r.Outputs)
	return r
}

// ok makes a system call that must succeed and returns its result.
func (e *env) ok(tid int32, sysno uintptr, args ...uint64) int64 {
	e.t.Helper()
	r := e.sys(tid, sysno, args...)
	if r.Errno != 0 {
		e.t.Fatalf("%s%v: errno %v", syscalls.Name(int32(sysno)), args, unix.Errno(r.Errno))
	}
	return r.Ret
}

// fails makes a system call that must fail with want.
func (e *env) fails(want unix.Errno, tid int32, sysno uintptr, args ...uint64) {
	e.t.Helper()
	r := e.sys(tid, sysno, args...)
	if unix.Errno(r.Errno) != want {
		e.t.Fatalf("%s%v: got ret %d errno %v, want errno %v", syscalls.Name(int32(sysno)), args, r.Ret, unix.Errno(r.Errno), want)
	}
}

// signalsPushed counts the pushes of signal sig so far.
func (e *env) signalsPushed(sig unix.Signal) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if p, ok := ev.(*sentrypb.Push); ok && p.GetSignal().GetSigno() == int32(sig) {
			n++
		}
	}
	return n
}

// waitPush waits for a push matching f.
func (e *env) waitPush(f func(*sentrypb.Push) bool) *sentrypb.Push {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-e.pushCh:
			if f(p) {
				return p
			}
		case <-deadline:
			e.t.Fatal("timed out waiting for a push")
			return nil
		}
	}
}

// waitRevokeOf waits for a LeaseRevoke push that names one of ids.
func (e *env) waitRevokeOf(ids []uint64) *sentrypb.Push {
	e.t.Helper()
	return e.waitPush(func(p *sentrypb.Push) bool {
		return slices.ContainsFunc(p.GetLeaseRevoke().GetIds(), func(id uint64) bool { return slices.Contains(ids, id) })
	})
}

// ackRevoke acknowledges the LeaseRevoke of push p, as the holder's
// client does once it no longer answers from the leases.
func (e *env) ackRevoke(t *testing.T, p *sentrypb.Push) {
	t.Helper()
	if err := e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_LeaseRevoked{
		LeaseRevoked: &sentrypb.LeaseRevoked{Epoch: p.GetLeaseRevoke().Epoch}}}); err != nil {
		t.Fatal(err)
	}
}

// serveSentry serves srv on a Unix socket as the daemon does (gRPC and the
// framed wire, which Dial picks, on one socket) and returns the socket's
// path and the grpc.Server, which the caller stops.
func serveSentry(t testing.TB, srv *Server) (string, *grpc.Server) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "sentry.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(transport.ServerOptions()...)
	srv.Register(g)
	go transport.Serve(lis, g, srv.Session)
	return sock, g
}

// started is an env with busybox started as PID 1.
func started(t testing.TB, stdio ...*sentrypb.StdioInfo) *env {
	t.Helper()
	e := newEnv(t, stdio...)
	r := e.start(busybox, "sh")
	if r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	return e
}
