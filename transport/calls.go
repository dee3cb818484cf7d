package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/proto"
)

// The framed wire also carries the gofer's Calls stream (the server's
// persistent, multiplexed connection to its gofer, proto/gofer.proto):
// the same framing as a Session, started by callsMagic instead of
// frameMagic, and the frames are the messages of that stream (GoferCall
// one way, GoferResult the other). This package does not look into them.

// callsMagic starts a framed connection carrying a Calls stream, in both
// directions.
const callsMagic = "rdcalls1"

// ErrNotFramed is returned by DialFramedStream when the listener answers
// in HTTP/2 (a gRPC-only daemon): use gRPC instead.
var ErrNotFramed = errNotFramed

// FramedStream is one stream of protobuf messages on the framed wire.
// SendMsg is safe for concurrent use; RecvMsg is for one goroutine at a
// time.
type FramedStream struct {
	conn net.Conn
	// ctx carries the peer the listener authenticated (server side).
	ctx context.Context
	r   *frameReader
	w   *frameWriter
	// firstRead, if set, ends the connection's handshake bounds; it is
	// called after every successful read (it runs once).
	firstRead func()
	// fds queues the host fds received with the frames (fds.go), nil
	// on a stream that takes none. Immutable.
	fds *fdReader
}

// SendMsg sends m (a proto.Message) as one frame.
func (s *FramedStream) SendMsg(m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("framed stream: cannot send %T", m)
	}
	return s.w.writeMsg(pm)
}

// RecvMsg reads the next frame into m (a proto.Message).
func (s *FramedStream) RecvMsg(m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("framed stream: cannot receive into %T", m)
	}
	if err := s.r.readMsg(pm); err != nil {
		return err
	}
	if s.firstRead != nil {
		s.firstRead()
	}
	return nil
}

// RecvRaw returns the next frame's bytes, valid until the next RecvMsg
// or RecvRaw: a reader that decodes a message's fields itself copies
// nothing more.
func (s *FramedStream) RecvRaw() ([]byte, error) {
	b, err := s.r.next()
	if err != nil {
		return nil, err
	}
	if s.firstRead != nil {
		s.firstRead()
	}
	return b, nil
}

// Context is the stream's context: on the serving side it carries the
// peer (google.golang.org/grpc/peer) and ends with the connection.
func (s *FramedStream) Context() context.Context { return s.ctx }

// Close ends the stream; a blocked RecvMsg returns. Fds received and
// not taken are closed.
func (s *FramedStream) Close() error {
	err := s.conn.Close()
	if s.fds != nil {
		s.fds.closeAll()
	}
	return err
}

// StreamFunc serves one framed Calls stream to its end.
type StreamFunc func(*FramedStream) error

// DialFramedStream makes one attempt to open a Calls stream on the framed
// wire to t (a Unix socket). A listener that answers in HTTP/2 gives
// ErrNotFramed (wrapped); one that refuses the peer, ErrRefused.
func DialFramedStream(ctx context.Context, t Target) (*FramedStream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, t.Network, t.Address)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	s, err := framedStreamHandshake(conn)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

func framedStreamHandshake(conn net.Conn) (*FramedStream, error) {
	// The dialling end is the server: it takes the fds its gofer donates.
	var src io.Reader = conn
	var fds *fdReader
	if uc, ok := conn.(*net.UnixConn); ok {
		fds = newFDReader(uc)
		src = fds
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if _, err := conn.Write([]byte(callsMagic)); err != nil {
		if head, _ := br.Peek(len(refusedMagic)); string(head) == refusedMagic {
			br.Discard(len(refusedMagic))
			return nil, refusal(br)
		}
		return nil, fmt.Errorf("send the preface: %w", err)
	}
	var magic [len(callsMagic)]byte
	if n, err := io.ReadFull(br, magic[:]); err != nil {
		if n > 0 && string(magic[:n]) != callsMagic[:n] {
			return nil, notFramed(magic[:n])
		}
		return nil, fmt.Errorf("wait for the preface: %w", err)
	}
	switch string(magic[:]) {
	case callsMagic:
	case refusedMagic:
		return nil, refusal(br)
	default:
		return nil, notFramed(magic[:])
	}
	return &FramedStream{conn: conn, ctx: context.Background(), r: &frameReader{r: br, max: MaxMessageSize, dialled: true}, w: newFrameWriter(conn, MaxMessageSize), fds: fds}, nil
}

// IsNotFramed reports an error of a listener that does not speak the
// framed wire.
func IsNotFramed(err error) bool { return errors.Is(err, errNotFramed) }

// serveCalls runs a framed Calls stream on an accepted connection whose
// magic was read from br; firstRead (idempotent) ends its handshake
// bounds. Precondition: the connection is registered in m.framed.
func (m *mux) serveCalls(conn net.Conn, br *bufio.Reader, firstRead func()) {
	if _, err := conn.Write([]byte(callsMagic)); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(peerContext(conn))
	defer cancel()
	s := &FramedStream{conn: conn, ctx: ctx, r: &frameReader{r: br, max: MaxMessageSize}, w: newFrameWriter(conn, MaxMessageSize), firstRead: firstRead}
	m.calls(s)
}
