package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// handshakeTimeout bounds how long an accepted connection may take to
// send its first bytes (the framed magic or HTTP/2's preface).
var handshakeTimeout = 10 * time.Second // a variable for tests

// framedWire is the client's end of a framed connection.
type framedWire struct {
	conn net.Conn
	r    *frameReader
	w    *frameWriter
	// fds queues the fds that came with frames (a ChannelGrant's memfd);
	// nil if conn is not a Unix socket. Immutable.
	fds *fdReader
}

func (f *framedWire) send(m *pb.ClientMessage) error { return f.w.writeMsg(m) }

// encodesOnSend implements wire.encodesOnSend: writeMsg marshals m into
// its frame buffer before it writes.
func (f *framedWire) encodesOnSend() bool { return true }

func (f *framedWire) recv() (*pb.ServerMessage, error) {
	m := new(pb.ServerMessage)
	if err := f.r.readMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// unread implements unreadWire: bytes wait in the socket (a Unix
// socket's; false for any other, or when it cannot tell).
func (f *framedWire) unread() bool {
	sc, ok := f.conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if raw.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }) != nil || err != nil {
		return false
	}
	return n > 0
}

func (f *framedWire) closeWrite() error {
	if cw, ok := f.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (f *framedWire) close() error {
	err := f.conn.Close()
	if f.fds != nil {
		f.fds.closeAll()
	}
	return err
}

// errRetry marks a framed dial that failed before reaching a server that
// could answer (nothing listening yet, or it closed the connection at
// once): the dial is retried, as gRPC's WaitForReady would.
var errRetry = errors.New("server not ready")

// retryable is an errRetry that says only its cause.
type retryable struct{ error }

func (r retryable) Is(target error) bool { return target == errRetry }
func (r retryable) Unwrap() error        { return r.error }

// dialFramed connects to t on the framed wire, retrying until ctx ends
// while nothing listens there (unless failIfNotListening: then it fails
// at once, with ErrNotListening). It returns errNotFramed (wrapped) if
// the server answers in another protocol.
func dialFramed(ctx context.Context, t Target, hello *pb.Hello, failIfNotListening bool) (wire, *pb.Welcome, error) {
	delay := dialBackoff.BaseDelay
	for {
		w, welcome, err := tryFramed(ctx, t, hello)
		if err == nil || !errors.Is(err, errRetry) || (failIfNotListening && errors.Is(err, ErrNotListening)) {
			return w, welcome, err
		}
		jitter := 1 + dialBackoff.Jitter*(2*rand.Float64()-1)
		select {
		case <-time.After(time.Duration(float64(delay) * jitter)):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		}
		delay = min(time.Duration(float64(delay)*dialBackoff.Multiplier), dialBackoff.MaxDelay)
	}
}

// tryFramed makes one attempt of dialFramed.
func tryFramed(ctx context.Context, t Target, hello *pb.Hello) (wire, *pb.Welcome, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, t.Network, t.Address)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if notListening(err) {
			return nil, nil, retryable{fmt.Errorf("%w: %w", ErrNotListening, err)}
		}
		return nil, nil, fmt.Errorf("%w: %v", errRetry, err)
	}
	// ctx bounds the handshake: its end unblocks the reads below.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	w, welcome, err := framedHandshake(conn, hello)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	return w, welcome, nil
}

func framedHandshake(conn net.Conn, hello *pb.Hello) (*framedWire, *pb.Welcome, error) {
	// The magic and Hello go out in one write.
	b, err := appendFrame([]byte(frameMagic), &pb.ClientMessage{Msg: &pb.ClientMessage_Hello{Hello: hello}}, MaxMessageSize)
	if err != nil {
		return nil, nil, err
	}
	var src io.Reader = conn
	var fds *fdReader
	if uc, ok := conn.(*net.UnixConn); ok {
		// A ChannelGrant brings its window's memfd.
		fds = newFDReader(uc)
		src = fds
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if _, err := conn.Write(b); err != nil {
		// A listener that refused us may have closed already: its
		// reason is still there to read.
		if head, _ := br.Peek(len(refusedMagic)); string(head) == refusedMagic {
			br.Discard(len(refusedMagic))
			return nil, nil, refusal(br)
		}
		return nil, nil, fmt.Errorf("%w: send Hello: %v", errRetry, err)
	}
	var magic [len(frameMagic)]byte
	if n, err := io.ReadFull(br, magic[:]); err != nil {
		if n == 0 && (err == io.EOF || errors.Is(err, net.ErrClosed) || isConnReset(err)) {
			// Closed at once: a server going down, or one about to be
			// replaced on the same socket.
			return nil, nil, fmt.Errorf("%w: closed before answering: %v", errRetry, err)
		}
		if n > 0 && string(magic[:n]) != frameMagic[:n] {
			return nil, nil, notFramed(magic[:n])
		}
		return nil, nil, fmt.Errorf("wait for the server's preface: %w", err)
	}
	switch string(magic[:]) {
	case frameMagic:
	case refusedMagic:
		return nil, nil, refusal(br)
	default:
		return nil, nil, notFramed(magic[:])
	}
	w := &framedWire{conn: conn, r: &frameReader{r: br, max: MaxMessageSize, dialled: true}, w: newFrameWriter(conn, MaxMessageSize), fds: fds}
	m, err := w.recv()
	if err != nil {
		return nil, nil, fmt.Errorf("wait for Welcome: %w", err)
	}
	welcome := m.GetWelcome()
	if welcome == nil {
		return nil, nil, fmt.Errorf("expected Welcome, got %T", m.Msg)
	}
	if err := checkWelcome(welcome); err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return w, welcome, nil
}

// refusal reads the reason line that follows refusedMagic.
func refusal(r io.Reader) error {
	why, _ := bufio.NewReader(io.LimitReader(r, 512)).ReadString('\n')
	return fmt.Errorf("%w by the server: %s", ErrRefused, strings.TrimSpace(why))
}

// notFramed is the error for a server that answered the magic with
// something else: errNotFramed (so that Dial tries gRPC) if it looks like
// HTTP/2 (a gRPC server's SETTINGS frame: type 4 on stream 0), else
// ErrRefused: whatever listens there is not a runsc-decoupled daemon.
func notFramed(answer []byte) error {
	if len(answer) < 4 || answer[3] == 0x04 {
		return fmt.Errorf("%w: it answered %q", errNotFramed, answer)
	}
	return fmt.Errorf("%w: not a runsc-decoupled daemon (it answered %q)", ErrRefused, answer)
}

// isConnReset reports a connection reset by the peer.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// SessionFunc runs one Session stream to its end: a
// sentrypb.SentryServer's Session method.
type SessionFunc func(pb.Sentry_SessionServer) error

// Serve accepts connections on l and serves each with g, or, if it starts
// with the framed wire's magic, as a Session stream run by session. It
// returns when g stops (g.Stop and g.GracefulStop close l and end the
// framed sessions) or l fails.
func Serve(l net.Listener, g *grpc.Server, session SessionFunc) error {
	return ServeFramed(l, g, session, nil)
}

// ServeFramed is Serve that also runs the connections starting with the
// Calls stream's magic (calls.go) by calls. A nil session or calls
// refuses that kind of connection (it is closed).
func ServeFramed(l net.Listener, g *grpc.Server, session SessionFunc, calls StreamFunc) error {
	m := &mux{l: l, session: session, calls: calls, grpcConns: make(chan net.Conn), closed: make(chan struct{}),
		framed: make(map[net.Conn]struct{}), handshaking: make(chan struct{}, maxHandshaking)}
	go m.acceptLoop()
	return g.Serve(&muxListener{m})
}

// mux splits one listener between gRPC and framed sessions.
type mux struct {
	// l, session, calls, grpcConns and closed are immutable.
	l       net.Listener
	session SessionFunc
	calls   StreamFunc
	// grpcConns carries connections to gRPC's Accept.
	grpcConns chan net.Conn
	// closed is closed by close.
	closed chan struct{}

	mu sync.Mutex
	// err is why accepting stopped. Protected by mu.
	err error
	// framed holds the live framed connections, closed by close.
	// Protected by mu.
	framed map[net.Conn]struct{}
	// done is set by close. Protected by mu.
	done bool

	// handshaking holds a token per connection that has not yet sent its
	// first message (at most maxHandshaking: more are closed at once).
	handshaking chan struct{}
}

// maxHandshaking bounds the connections a listener holds before their
// first message: a peer opening many and saying nothing cannot pin more.
const maxHandshaking = 64

func (m *mux) acceptLoop() {
	var delay time.Duration
	for {
		conn, err := m.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of fds and the like: wait, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			m.mu.Lock()
			if m.err == nil {
				m.err = err
			}
			m.mu.Unlock()
			m.close()
			return
		}
		delay = 0
		// The handshake token is taken here, in accept order, so a
		// connection beyond the cap is refused before a goroutine is
		// spent on it.
		select {
		case m.handshaking <- struct{}{}:
		default:
			conn.Close()
			continue
		}
		go m.route(conn)
	}
}

// route reads a new connection's first bytes and hands it to gRPC or to
// a framed session.
func (m *mux) route(conn net.Conn) {
	// Until its first message, a connection is bounded in number, in time
	// (one deadline for the magic and the Hello) and in memory (frames
	// are buffered as their bytes arrive: frameReader). acceptLoop took
	// its handshake token.
	handshook := sync.OnceFunc(func() {
		conn.SetReadDeadline(time.Time{})
		<-m.handshaking
	})
	defer handshook()
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(conn, 64<<10)
	head, err := br.Peek(len(frameMagic))
	if err != nil {
		// Neither protocol: HTTP/2's preface is longer than the magic.
		conn.Close()
		return
	}
	kind := string(head)
	if kind != frameMagic && kind != callsMagic {
		// gRPC bounds its own handshake (ServerOptions' ConnectionTimeout).
		handshook()
		select {
		case m.grpcConns <- &peekedConn{Conn: conn, r: br}:
		case <-m.closed:
			conn.Close()
		}
		return
	}
	br.Discard(len(frameMagic))
	if (kind == frameMagic && m.session == nil) || (kind == callsMagic && m.calls == nil) {
		conn.Close()
		return
	}
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		conn.Close()
		return
	}
	m.framed[conn] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.framed, conn)
		m.mu.Unlock()
		conn.Close()
	}()
	if kind == callsMagic {
		m.serveCalls(conn, br, handshook)
		return
	}
	if _, err := conn.Write([]byte(frameMagic)); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(peerContext(conn))
	defer cancel()
	st := &framedServerStream{ctx: ctx, r: &frameReader{r: br, max: MaxMessageSize}, w: newFrameWriter(conn, MaxMessageSize), firstRead: handshook,
		uc: unixOf(conn), order: newHopOrder()}
	defer st.order.close()
	m.session(st)
}

// peerContext carries the peer the listener authenticated on conn.
func peerContext(conn net.Conn) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: conn.RemoteAddr(), AuthInfo: peerOf(conn)})
}

// close stops accepting and ends every framed session (their reads
// fail). It is idempotent.
func (m *mux) close() {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return
	}
	m.done = true
	close(m.closed)
	conns := make([]net.Conn, 0, len(m.framed))
	for c := range m.framed {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	m.l.Close()
	for _, c := range conns {
		c.Close()
	}
}

// muxListener is the listener gRPC serves: it yields the connections that
// are not framed.
type muxListener struct{ m *mux }

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.grpcConns:
		return c, nil
	case <-l.m.closed:
		l.m.mu.Lock()
		err := l.m.err
		l.m.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return nil, err
	}
}

func (l *muxListener) Close() error {
	l.m.close()
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.m.l.Addr() }

// peekedConn is a connection whose first bytes were read into r. It hides
// the underlying connection's other interfaces (syscall.Conn): gRPC must
// read through r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// PeerIdentity passes on what the listener established about the peer.
func (c *peekedConn) PeerIdentity() PeerIdentity { return peerOf(c.Conn) }

// framedServerStream is a Session stream over a framed connection, as
// the sentry's Session handler sees it.
type framedServerStream struct {
	ctx context.Context
	r   *frameReader
	w   *frameWriter
	// firstRead ends the connection's handshake bounds; called after
	// every successful read (it runs once).
	firstRead func()
	// uc is the Unix socket under the stream (nil on another kind): the
	// only kind that can carry a channel's memfd. Immutable.
	uc *net.UnixConn
	// order counts what the stream sent and what its reader handled, for
	// the call channels (hop.go). Immutable pointer.
	order *hopOrder
}

var _ pb.Sentry_SessionServer = (*framedServerStream)(nil)

func (s *framedServerStream) Recv() (*pb.ClientMessage, error) {
	m := new(pb.ClientMessage)
	if err := s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *framedServerStream) Send(m *pb.ServerMessage) error { return s.sendStamped(m, nil) }

// FDSender is a Session stream that can pass host fds with a message:
// the framed wire on a Unix socket (type-assert a Sentry_SessionServer to
// it; CanSendFDs says whether this one can). The server lends a mapped
// file's host fd to its client so (PageRead.want_fd).
type FDSender interface {
	CanSendFDs() bool
	// SendFDs sends m with fds riding with its frame (SCM_RIGHTS); the
	// caller keeps its fds.
	SendFDs(m *pb.ServerMessage, fds []int) error
}

var _ FDSender = (*framedServerStream)(nil)

// CanSendFDs implements FDSender.CanSendFDs.
func (s *framedServerStream) CanSendFDs() bool { return s.uc != nil }

// SendFDs implements FDSender.SendFDs.
func (s *framedServerStream) SendFDs(m *pb.ServerMessage, fds []int) error {
	if s.uc == nil {
		return errors.New("framed stream: host fds need a Unix socket")
	}
	return s.sendStamped(m, fds)
}

func (s *framedServerStream) SendMsg(m any) error {
	sm, ok := m.(*pb.ServerMessage)
	if !ok {
		return fmt.Errorf("framed stream: cannot send %T", m)
	}
	return s.Send(sm)
}

func (s *framedServerStream) RecvMsg(m any) error {
	cm, ok := m.(*pb.ClientMessage)
	if !ok {
		return fmt.Errorf("framed stream: cannot receive into %T", m)
	}
	// The reader is back: it handled the message it read before.
	s.order.enterRecv()
	if err := s.r.readClientMessage(cm); err != nil {
		return err
	}
	s.order.gotMsg()
	if s.firstRead != nil {
		s.firstRead()
	}
	// After the posted batches the client sent in channel calls before
	// it (hop.go).
	if n := cm.ChannelBatches; n > 0 && !s.order.awaitOrder(0, n) {
		return errSessionClosed
	}
	return nil
}

// The framed wire has no headers or trailers.
func (s *framedServerStream) SetHeader(metadata.MD) error  { return nil }
func (s *framedServerStream) SendHeader(metadata.MD) error { return nil }
func (s *framedServerStream) SetTrailer(metadata.MD)       {}
func (s *framedServerStream) Context() context.Context     { return s.ctx }
