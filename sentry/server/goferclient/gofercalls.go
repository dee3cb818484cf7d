package goferclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// MsgStream is one Calls stream (goferpb.Gofer.Calls) as the server's
// end sees it: a gRPC client stream, or the framed wire on a Unix socket
// (transport.FramedStream). SendMsg is called by one goroutine at a
// time, RecvMsg by another; Close ends the stream and unblocks RecvMsg.
type MsgStream interface {
	SendMsg(m any) error
	RecvMsg(m any) error
	Close() error
}

// StreamDialer opens a new Calls stream (one attempt).
type StreamDialer func(ctx context.Context) (MsgStream, error)

// goferCalls carries the server's gofer calls on one persistent Calls
// stream at a time, multiplexed by id: no per-call stream setup, no
// goroutine per call, no deadline header (a call's context is honoured
// here, by abandoning its wait). The stream is also the gofer session
// (see goferSession), so the gofer releases the server's handles when it
// ends. Liveness is the connection's: the gofer's gRPC keepalive pings
// over TCP, the socket's end on a Unix socket (a peer process that dies
// closes it).
//
// When the stream ends, the calls in flight on it fail with
// codes.Unavailable (GoferConn re-sends them) and the next ones wait for
// a new stream. A gofer without Calls (an older gofer: Unimplemented) is
// reached as before, by unary calls within a goferSession.
type goferCalls struct {
	// cc, dial and log are immutable. cc is the gRPC connection, for the
	// unary fallback; dial opens the streams.
	cc   grpc.ClientConnInterface
	dial StreamDialer
	log  hclog.Logger

	mu sync.Mutex
	// cur is the open stream, nil while none is. Protected by mu.
	cur *callConn
	// unary is the fallback for a gofer without Calls, nil until
	// needed. Protected by mu.
	unary *goferSession
	// changed is closed (and replaced) whenever cur or unary changes.
	// Protected by mu.
	changed chan struct{}

	// fdsLost is set once a stream failed because the kernel dropped
	// donated fds (transport.ErrFDsTruncated: this process's fd table is
	// full): GoferConn then asks for no more donations, which would
	// only break the next stream the same way.
	fdsLost atomic.Bool

	// sent counts the calls made, by method (the Gofer service's full
	// method names; the map is made at start and read-only after).
	sent map[string]*atomic.Uint64
}

// newGoferCalls opens Calls streams with dial until ctx ends; cc serves
// the unary fallback.
func newGoferCalls(ctx context.Context, cc grpc.ClientConnInterface, dial StreamDialer, log hclog.Logger) *goferCalls {
	g := &goferCalls{cc: cc, dial: dial, log: log, changed: make(chan struct{}), sent: make(map[string]*atomic.Uint64)}
	for _, m := range goferpb.Gofer_ServiceDesc.Methods {
		g.sent["/"+goferpb.Gofer_ServiceDesc.ServiceName+"/"+m.MethodName] = new(atomic.Uint64)
	}
	go g.run(ctx)
	return g
}

// sentCounts returns the calls made so far by method (its short name),
// those made at least once.
func (g *goferCalls) sentCounts() map[string]uint64 {
	out := make(map[string]uint64)
	for method, n := range g.sent {
		if v := n.Load(); v > 0 {
			out[method[strings.LastIndexByte(method, '/')+1:]] = v
		}
	}
	return out
}

// GRPCStreamDialer opens Calls streams over a gRPC connection (the
// default of NewGoferConn).
func GRPCStreamDialer(cc grpc.ClientConnInterface) StreamDialer {
	return func(ctx context.Context) (MsgStream, error) {
		sctx, cancel := context.WithCancel(ctx)
		st, err := goferpb.NewGoferClient(cc).Calls(sctx, grpc.WaitForReady(true))
		if err != nil {
			cancel()
			return nil, err
		}
		return grpcMsgStream{st, cancel}, nil
	}
}

// grpcMsgStream is a gRPC Calls stream; Close cancels it.
type grpcMsgStream struct {
	grpc.ClientStream
	cancel context.CancelFunc
}

func (s grpcMsgStream) Close() error { s.cancel(); return nil }

func (g *goferCalls) set(c *callConn, unary *goferSession) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur, g.unary = c, unary
	close(g.changed)
	g.changed = make(chan struct{})
}

// run holds a stream open, opening a new one each time one ends.
func (g *goferCalls) run(ctx context.Context) {
	delay := streamBackoffMin
	// said is the last failure logged at Warn: a failure that repeats
	// (the gofer refuses this server's uid, say) is said once.
	said := ""
	for ctx.Err() == nil {
		c, err := g.open(ctx)
		switch {
		case status.Code(err) == codes.Unimplemented:
			g.log.Warn("the gofer has no call stream (an older gofer): its calls go one RPC each")
			g.set(nil, newGoferSession(ctx, g.cc, g.log))
			return
		case status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.PermissionDenied:
			// Another protocol version, or not allowed: said once per
			// attempt, loudly, since no file call can work.
			g.log.Error("the gofer refused this server's call stream", "err", status.Convert(err).Message())
		case err == nil:
			delay, said = streamBackoffMin, ""
			g.set(c, nil)
			g.log.Debug("gofer call stream opened", "session", c.session)
			// Close (ctx) ends the stream, and with it the session.
			stop := context.AfterFunc(ctx, c.kill)
			c.readLoop()
			stop()
			g.set(nil, nil)
			c.kill()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(c.cause(), transport.ErrFDsTruncated) && !g.fdsLost.Swap(true) {
				g.log.Warn("donated fds were dropped (no room in the fd table?): files are read and written through the gofer from now on", "err", c.cause())
			}
			g.log.Debug("gofer call stream ended; opening another", "err", c.cause())
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, transport.ErrRefused) && err.Error() != said {
			said = err.Error()
			g.log.Warn("the gofer refused this server's connection; retrying", "err", err)
		} else {
			g.log.Debug("opening a gofer call stream failed; retrying", "err", err)
		}
		if sleepCtx(ctx, delay) != nil {
			return
		}
		delay = min(2*delay, streamBackoffMax)
	}
}

// The pause between attempts to open a stream grows from streamBackoffMin
// to streamBackoffMax while the gofer is away.
const (
	streamBackoffMin = 10 * time.Millisecond
	streamBackoffMax = 500 * time.Millisecond
)

// open opens a stream and waits for the gofer's first result (the session
// id). A stream whose handshake does not end within openTimeout is
// abandoned (a stuck peer).
func (g *goferCalls) open(ctx context.Context) (*callConn, error) {
	st, err := g.dial(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	stop := time.AfterFunc(openTimeout, func() {
		select {
		case <-done:
		default:
			st.Close()
		}
	})
	defer stop.Stop()
	defer close(done)
	if err := st.SendMsg(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion, Features: askedFeatures}); err != nil {
		st.Close()
		return nil, err
	}
	first := new(goferpb.GoferResult)
	if err := st.RecvMsg(first); err != nil {
		st.Close()
		return nil, err
	}
	if first.GetCode() != 0 {
		st.Close()
		return nil, status.Error(codes.Code(first.GetCode()), first.GetMessage())
	}
	if first.GetId() != 0 || first.GetSessionId() == 0 {
		st.Close()
		return nil, fmt.Errorf("gofer call stream: first result has id %d, session %d", first.GetId(), first.GetSessionId())
	}
	return &callConn{st: st, session: first.GetSessionId(), features: first.GetFeatures() & askedFeatures, pending: make(map[uint32]*pendingCall)}, nil
}

// askedFeatures are the features the server asks of a Calls stream.
const askedFeatures = goferpb.FeatureBefore

// openTimeout bounds a stream's handshake.
const openTimeout = 10 * time.Second

// current waits for an open stream (or the unary fallback).
func (g *goferCalls) current(ctx context.Context) (*callConn, *goferSession, error) {
	for {
		g.mu.Lock()
		c, unary, changed := g.cur, g.unary, g.changed
		g.mu.Unlock()
		if c != nil || unary != nil {
			return c, unary, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (g *goferCalls) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	req, ok1 := args.(proto.Message)
	rep, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return status.Errorf(codes.Internal, "gofer call %s: %T, %T are not messages", method, args, reply)
	}
	if n := g.sent[method]; n != nil {
		n.Add(1)
	}
	c, unary, err := g.current(ctx)
	if err != nil {
		return err
	}
	if unary != nil {
		return unary.Invoke(ctx, method, args, reply, opts...)
	}
	before, _ := optOf[*beforeSlot](opts)
	if before != nil && c.features&goferpb.FeatureBefore == 0 {
		before = nil // an older gofer's stream: GoferConn sends them alone
	}
	return c.call(ctx, method[strings.LastIndexByte(method, '/')+1:], req, rep, donated.SlotOf(opts), before)
}

// fdTaker is implemented by a MsgStream that receives host fds with its
// frames (transport.FramedStream on a Unix socket).
type fdTaker interface {
	TakeFD() int
}

// NewStream implements grpc.ClientConnInterface: the Gofer service's
// streams (Session, Calls) are this type's own business.
func (g *goferCalls) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Errorf(codes.Unimplemented, "gofer stream %s: not through GoferConn", method)
}

// callConn is one open Calls stream.
type callConn struct {
	// st, session and features (those the gofer granted) are
	// immutable.
	st       MsgStream
	session  uint64
	features uint64

	// sendMu serializes SendMsg.
	sendMu sync.Mutex

	mu sync.Mutex
	// next is the last call id handed out. Protected by mu.
	next uint32
	// pending maps the ids of calls awaiting their result to them; the
	// reader takes a call out before it decodes into its reply, so a
	// call still in pending owns its reply. Protected by mu.
	pending map[uint32]*pendingCall
	// dead is set once the stream failed; err says why. Protected by mu.
	dead bool
	err  error

	// chans are the stream's call channels (callchan.go). Protected by
	// mu.
	chans callChannels
}

// pendingCall is a call awaiting its result.
type pendingCall struct {
	// rep is decoded into by the reader, once it took the call out of
	// callConn.pending; done then gets the call's outcome (buffered).
	rep  proto.Message
	done chan error
	// slot, if set, receives a donated fd (set before done); slots more
	// receive the fds after it (a call channel's grant: its memfd, then
	// its fd socket).
	slot *donated.Slot
	more []*donated.Slot
	// before, if set, gets the replies of the SetStats the call
	// carried (GoferResult.before).
	before *beforeSlot
}

// rawReceiver is implemented by a MsgStream that can hand over a frame's
// bytes (the framed wire): the reader then decodes a reply straight from
// them, without copying it into a GoferResult first.
type rawReceiver interface {
	RecvRaw() ([]byte, error)
}

// doneChans recycles the one-result channels of calls.
var doneChans = sync.Pool{New: func() any { return make(chan error, 1) }}

// errStreamEnded is a call's outcome when the stream ended before its
// result came.
var errStreamEnded = errors.New("gofer call stream ended")

// call sends one call and waits for its result: on a call channel if it
// can (one is free or may be opened, and, if the call wants a donated fd,
// the channel has an fd socket to bring it), else on the stream.
func (c *callConn) call(ctx context.Context, method string, req, rep proto.Message, slot *donated.Slot, before *beforeSlot) error {
	if err := ctx.Err(); err != nil {
		// As gRPC: a call whose context has ended is not sent.
		return status.FromContextError(err).Err()
	}
	if ch := c.channel(ctx); ch != nil {
		if slot == nil || ch.CarriesFDs() {
			return c.callOnChannel(ctx, ch, method, req, rep, slot, before)
		}
		c.putChannel(ch, false)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		return status.Errorf(codes.Internal, "gofer call %s: %v", method, err)
	}
	gc := &goferpb.GoferCall{Method: method, Request: b}
	if before != nil {
		gc.Before = before.reqs
	}
	return c.callOnStream(ctx, gc, rep, slot, before)
}

// callOnStream sends gc (its id set here) on the stream and waits for
// its result.
func (c *callConn) callOnStream(ctx context.Context, gc *goferpb.GoferCall, rep proto.Message, slot *donated.Slot, before *beforeSlot, more ...*donated.Slot) error {
	var err error
	p := &pendingCall{rep: rep, done: doneChans.Get().(chan error), slot: slot, more: more, before: before}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		doneChans.Put(p.done)
		return status.Error(codes.Unavailable, "gofer call stream ended")
	}
	c.next++
	if c.next == 0 {
		c.next++
	}
	id := c.next
	c.pending[id] = p
	c.mu.Unlock()

	gc.Id = id
	c.sendMu.Lock()
	err = c.st.SendMsg(gc)
	c.sendMu.Unlock()
	if err != nil {
		c.fail(err)
	}
	select {
	case err = <-p.done:
	case <-ctx.Done():
		c.mu.Lock()
		mine := c.pending[id] == p
		if mine {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if mine {
			doneChans.Put(p.done)
			return status.FromContextError(ctx.Err()).Err()
		}
		// The reader took it: it is decoding into rep now, and done
		// comes at once.
		err = <-p.done
	}
	doneChans.Put(p.done)
	if errors.Is(err, errStreamEnded) {
		return status.Errorf(codes.Unavailable, "gofer call stream ended: %v", c.cause())
	}
	return err
}

// take removes the call with id from pending, or returns nil.
func (c *callConn) take(id uint32) *pendingCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if p != nil {
		delete(c.pending, id)
	}
	return p
}

// readLoop delivers results until the stream fails.
func (c *callConn) readLoop() {
	raw, _ := c.st.(rawReceiver)
	for {
		if raw != nil {
			b, err := raw.RecvRaw()
			if err != nil {
				c.fail(err)
				return
			}
			if err := c.deliverRaw(b); err != nil {
				c.fail(err)
				return
			}
			continue
		}
		r := new(goferpb.GoferResult)
		if err := c.st.RecvMsg(r); err != nil {
			c.fail(err)
			return
		}
		p := c.take(r.GetId())
		if err := c.takeFDs(r.GetFds(), p); err != nil {
			if p != nil {
				p.done <- errStreamEnded
			}
			c.fail(err)
			return
		}
		if p != nil {
			if p.before != nil {
				p.before.sent, p.before.replies = true, r.GetBefore()
			}
			p.done <- outcome(r.GetCode(), r.GetMessage(), r.GetReply(), p.rep)
		}
	}
}

// outcome decodes a result into rep: nil, or the call's error.
func outcome(code uint32, msg string, reply []byte, rep proto.Message) error {
	if code != 0 {
		return status.Error(codes.Code(code), msg)
	}
	if err := proto.Unmarshal(reply, rep); err != nil {
		return status.Errorf(codes.Internal, "gofer reply: %v", err)
	}
	return nil
}

// rawResult is a GoferResult read from its wire bytes: reply is a slice
// of them.
type rawResult struct {
	id, code, fds uint32
	msg           string
	reply         []byte
	// before are the wire bytes of the GoferResult.before replies.
	before [][]byte
}

// parseResult reads a GoferResult from its wire bytes without copying
// the reply out of them (proto.Unmarshal would, and allocate the
// message).
func parseResult(b []byte) (rawResult, error) {
	var r rawResult
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("gofer result: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result id: %w", protowire.ParseError(m))
			}
			r.id, n = uint32(v), m
		case num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result reply: %w", protowire.ParseError(m))
			}
			r.reply, n = v, m
		case num == 3 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result code: %w", protowire.ParseError(m))
			}
			r.code, n = uint32(v), m
		case num == 4 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result message: %w", protowire.ParseError(m))
			}
			r.msg, n = string(v), m
		case num == goferResultBefore && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result before: %w", protowire.ParseError(m))
			}
			r.before, n = append(r.before, v), m
		case num == 290 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return r, fmt.Errorf("gofer result fds: %w", protowire.ParseError(m))
			}
			r.fds, n = uint32(v), m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("gofer result field %d: %w", num, protowire.ParseError(n))
			}
		}
		b = b[n:]
	}
	return r, nil
}

// deliverRaw decodes a GoferResult from its wire bytes (valid only until
// the next read) and delivers it; reply bytes are decoded straight into
// the waiting call's reply. An error means the frame is malformed.
func (c *callConn) deliverRaw(b []byte) error {
	r, err := parseResult(b)
	if err != nil {
		return err
	}
	p := c.take(r.id)
	if err := c.takeFDs(r.fds, p); err != nil {
		if p != nil {
			p.done <- errStreamEnded
		}
		return err
	}
	if p != nil {
		if p.before != nil {
			p.before.take(r.before)
		}
		p.done <- outcome(r.code, r.msg, r.reply, p.rep)
	}
	return nil
}

// goferResultBefore is GoferResult.before's field number.
const goferResultBefore = 596

// take decodes the replies of the SetStats the call carried, as many as
// decode: a call whose result came carried them.
func (s *beforeSlot) take(raw [][]byte) {
	s.sent = true
	for _, b := range raw {
		r := new(goferpb.SetStatReply)
		if proto.Unmarshal(b, r) != nil {
			return
		}
		s.replies = append(s.replies, r)
	}
}

// maxFDsPerResult bounds GoferResult.fds: a result donates one fd; a
// call channel's grant brings two (its memfd and its fd socket).
const maxFDsPerResult = 2

// takeFDs takes the n fds that came with a result from the stream and
// gives them to p's donation slots in order (slot, then more), if it has
// them; the others are closed. A result claiming fds the stream did not deliver breaks the
// pairing of fds with frames: an error, which ends the stream.
func (c *callConn) takeFDs(n uint32, p *pendingCall) error {
	if n == 0 {
		return nil
	}
	if n > maxFDsPerResult {
		return fmt.Errorf("gofer result with %d fds (at most %d)", n, maxFDsPerResult)
	}
	t, ok := c.st.(fdTaker)
	if !ok {
		return fmt.Errorf("gofer result with %d fds on a stream that carries none", n)
	}
	for i := uint32(0); i < n; i++ {
		fd := t.TakeFD()
		if fd < 0 {
			return fmt.Errorf("gofer result claims %d fds, %d came", n, i)
		}
		if p != nil && p.slot != nil && p.slot.FD < 0 {
			p.slot.FD = fd
			continue
		}
		if p != nil && i >= 1 && int(i)-1 < len(p.more) && p.more[i-1].FD < 0 {
			p.more[i-1].FD = fd
			continue
		}
		unix.Close(fd)
	}
	return nil
}

// fail marks the stream dead, ends it and fails the calls in flight.
func (c *callConn) fail(err error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead, c.err = true, err
	pending := c.pending
	c.pending = nil
	c.chans.shutdownLocked()
	c.mu.Unlock()
	c.st.Close()
	for _, p := range pending {
		p.done <- errStreamEnded
	}
}

// kill ends the stream (idempotent).
func (c *callConn) kill() { c.fail(errStreamClosed) }

var errStreamClosed = fmt.Errorf("gofer call stream closed")

func (c *callConn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
