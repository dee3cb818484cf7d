package goferclient

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Call channels (transport/callchan.go; docs/ARCHITECTURE.md, "The
// server-to-gofer hop"): on the framed wire over a Unix socket, a call
// goes through a shared-memory channel the gofer granted, as the client's
// calls reach the server, instead of the socket: a futex hand-off each
// way instead of a socket write, a read by the reader goroutine, the
// network poller and a hand-off to the caller. A donated fd comes on the
// channel's own fd socket, ahead of its result; a channel granted
// without one (an older gofer) carries only calls that want no fd.
// A channel carries one call at a time; the stream opens them as calls
// need them, up to maxCallChannels, and they end with it.

// maxCallChannels bounds the call channels the server opens on one
// stream (the gofer bounds them too): the calls in flight beyond it go
// on the stream.
const maxCallChannels = 8

// StreamOnly is implemented by a MsgStream whose calls must all go on
// the stream, with no call channels (a test that acts on what the stream
// reads).
type StreamOnly interface {
	MsgStream
	StreamOnly()
}

// callChannels are a callConn's channels. Protected by callConn.mu.
type callChannels struct {
	// idle are open channels no call uses; all are every open one.
	idle []*transport.CallChannel
	all  map[*transport.CallChannel]struct{}
	// opening says a channel is being opened (one at a time); off says
	// none is to be opened (the stream carries no fds, the gofer
	// refused one, or the stream is over).
	opening, off bool
	// abortOpening, while a channel is being opened, ends its connect:
	// a gofer killed after granting it never takes it.
	abortOpening context.CancelFunc
}

// shutdownLocked ends the channels of a dying stream: calls on them
// return, and their users destroy them (putChannel); the idle ones are
// destroyed now. Precondition: callConn.mu is held.
func (cs *callChannels) shutdownLocked() {
	cs.off = true
	if cs.abortOpening != nil {
		cs.abortOpening()
	}
	for ch := range cs.all {
		ch.Shutdown()
	}
	for _, ch := range cs.idle {
		delete(cs.all, ch)
		ch.Destroy()
	}
	cs.idle = nil
}

// channel returns a call channel for one call, opening one if none is
// free, or nil: the call goes on the stream.
func (c *callConn) channel(ctx context.Context) *transport.CallChannel {
	c.mu.Lock()
	cs := &c.chans
	switch {
	case c.dead || cs.off:
		c.mu.Unlock()
		return nil
	case len(cs.idle) > 0:
		ch := cs.idle[len(cs.idle)-1]
		cs.idle = cs.idle[:len(cs.idle)-1]
		c.mu.Unlock()
		return ch
	case cs.opening || len(cs.all) >= maxCallChannels:
		c.mu.Unlock()
		return nil
	}
	if _, ok := c.st.(fdTaker); !ok {
		cs.off = true // gRPC, or TCP: no shared memory with the gofer
		c.mu.Unlock()
		return nil
	}
	if _, ok := c.st.(StreamOnly); ok {
		cs.off = true
		c.mu.Unlock()
		return nil
	}
	cs.opening = true
	octx, abort := context.WithCancel(ctx)
	defer abort()
	cs.abortOpening = abort
	c.mu.Unlock()
	ch, err := c.openChannel(octx)
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.opening, cs.abortOpening = false, nil
	if err != nil {
		if code := status.Code(err); code != codes.Canceled && code != codes.DeadlineExceeded && code != codes.Unavailable {
			// An older gofer, or one that grants no more: the stream
			// carries this stream's calls.
			cs.off = true
		}
		return nil
	}
	if c.dead {
		ch.Shutdown()
		ch.Destroy()
		return nil
	}
	if cs.all == nil {
		cs.all = make(map[*transport.CallChannel]struct{})
	}
	cs.all[ch] = struct{}{}
	return ch
}

// openChannel asks the gofer for a call channel on the stream and
// connects to it.
func (c *callConn) openChannel(ctx context.Context) (*transport.CallChannel, error) {
	grant := new(goferpb.CallChannelGrant)
	slot, fdSock := donated.NewSlot(), donated.NewSlot()
	err := c.callOnStream(ctx, &goferpb.GoferCall{OpenChannel: true, ChannelFds: true}, grant, slot, nil, fdSock)
	if slot.FD >= 0 {
		defer unix.Close(slot.FD)
	}
	if err != nil {
		if fdSock.FD >= 0 {
			unix.Close(fdSock.FD)
		}
		return nil, err
	}
	if slot.FD < 0 {
		return nil, status.Error(codes.Internal, "gofer call channel granted without its memfd")
	}
	ch, err := transport.AttachCallChannel(slot.FD, int(grant.GetWindow()), ctx.Done())
	if err != nil {
		if fdSock.FD >= 0 {
			unix.Close(fdSock.FD)
		}
		if ctx.Err() != nil {
			// The stream ended (the gofer died after granting it) or
			// the call is over: not a refusal of channels.
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	if fdSock.FD >= 0 {
		ch.AdoptFDSocket(fdSock.FD)
	}
	return ch, nil
}

// putChannel gives ch back after a call; a broken one (or any, once the
// stream is over) is destroyed.
func (c *callConn) putChannel(ch *transport.CallChannel, broken bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if broken || c.dead {
		ch.Shutdown()
		delete(c.chans.all, ch)
		ch.Destroy()
		return
	}
	c.chans.idle = append(c.chans.idle, ch)
}

// callOnChannel makes call method(req) on ch and decodes its result into
// rep; a donated fd that comes with it goes to slot (or is closed if slot
// is nil). The call is built in the channel's buffer and its result read
// in place. A context that ends shuts the channel down: the call is
// abandoned, as on the stream. A channel that fails otherwise (the gofer
// broke the protocol) ends the stream, so the call is re-sent like any
// call in flight when a stream ends (codes.Unavailable).
func (c *callConn) callOnChannel(ctx context.Context, ch *transport.CallChannel, method string, req, rep proto.Message, slot *donated.Slot, before *beforeSlot) error {
	b, err := appendGoferCall(ch.Request(), method, req)
	if err == nil && before != nil {
		b, err = appendBefore(b, before.reqs)
	}
	if err != nil {
		c.putChannel(ch, false)
		return status.Errorf(codes.Internal, "gofer call %s: %v", method, err)
	}
	res, abandoned, err := ch.CallCtx(ctx, b, transport.MaxMessageSize)
	var r rawResult
	if err == nil {
		r, err = parseResult(res)
	}
	if err == nil {
		switch n := r.fds; {
		case n > 1:
			err = fmt.Errorf("a channel result claims %d fds", n)
		case n == 1:
			var fd int
			if fd, err = ch.TakeFD(); err == nil {
				if slot != nil && slot.FD < 0 {
					slot.FD = fd
				} else {
					unix.Close(fd)
				}
			}
		}
	}
	// Decoded before the channel goes back: the reply is in its buffer.
	var out error
	if err == nil {
		if before != nil {
			before.take(r.before)
		}
		out = outcome(r.code, r.msg, r.reply, rep)
	}
	// A channel the gofer answered Unavailable on is going away with its
	// stream (an fd it donated may still be queued on it): not reused.
	c.putChannel(ch, err != nil || abandoned || codes.Code(r.code) == codes.Unavailable)
	if err != nil {
		if abandoned && ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		if !transport.IsShutdown(err) {
			c.fail(fmt.Errorf("gofer call channel: %w", err))
		}
		return status.Errorf(codes.Unavailable, "gofer call stream ended: %v", c.cause())
	}
	return out
}

// goferCallBefore is GoferCall.before's field number.
const goferCallBefore = 594

// appendBefore appends GoferCall.before's wire bytes for reqs to b.
func appendBefore(b []byte, reqs []*goferpb.SetStatRequest) ([]byte, error) {
	for _, r := range reqs {
		b = protowire.AppendTag(b, goferCallBefore, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(proto.Size(r)))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, r); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendGoferCall appends GoferCall{method, request: req}'s wire bytes
// to b, marshalling req in place (proto.Marshal of the GoferCall would
// marshal req into a slice of its own first).
func appendGoferCall(b []byte, method string, req proto.Message) ([]byte, error) {
	b = protowire.AppendTag(b, goferCallMethod, protowire.BytesType)
	b = protowire.AppendString(b, method)
	n := proto.Size(req)
	if n == 0 {
		return b, nil
	}
	b = protowire.AppendTag(b, goferCallRequest, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, req)
}

// The field numbers of GoferCall's method and request.
const (
	goferCallMethod  = 2
	goferCallRequest = 3
)
