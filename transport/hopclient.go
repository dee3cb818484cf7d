package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/flipcall"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// The client's side of the call channels (hop.go).

// hopClient is a StreamConn's channel state. All fields are protected by
// StreamConn.mu, except enabled (immutable after Dial).
type hopClient struct {
	// enabled says channels may be opened: the framed wire on a Unix
	// socket, a server that grants them, and Options.Channels.
	enabled bool
	// sockDone counts the socket messages dispatched (the Welcome too);
	// chanDone the channel replies folded.
	sockDone, chanDone uint64
	// folding says a channel reply's OnReply runs (recvDone waits).
	folding bool
	// cond (on StreamConn.mu) signals a change of sockDone, chanDone,
	// the read token or the connection's death to the waiting goroutines
	// it counts.
	cond    *sync.Cond
	waiting int
	// idle are the open channels no call uses; all are every open one.
	idle []*Channel
	all  map[*Channel]struct{}
	// opening says a channel is being opened (one at a time).
	opening bool
	// noOpenUntil is set when the server refused a channel or opening
	// failed: none is asked for before it (the server may still count
	// channels the client closed a moment ago).
	noOpenUntil time.Time
	// lastID numbers ChannelOpen requests; grants are their waiters.
	lastID uint64
	grants map[uint64]chan grantResult
}

// grantResult is a ChannelGrant with the fd its frame brought.
type grantResult struct {
	g  *pb.ChannelGrant
	fd int
}

func (c *StreamConn) initHop(opts Options) {
	c.hop.cond = sync.NewCond(&c.mu)
	fw, framed := c.w.(*framedWire)
	if !framed {
		return
	}
	// Both ends count the handshake's messages.
	c.sent.Store(1)
	c.hop.sockDone = 1
	c.hop.enabled = opts.Channels && fw.fds != nil && c.Welcome.GetFeatures()&pb.FeatureChannels != 0
}

// ChannelsEnabled says whether calls may use channels on c.
func (c *StreamConn) ChannelsEnabled() bool { return c.hop.enabled }

// Sent is the number of messages sent on c's socket so far (a channel
// call made after it runs on the server after them).
func (c *StreamConn) Sent() uint64 { return c.sent.Load() }

// awaitChannelReplies waits until n channel replies were folded, before
// the socket message that follows them is dispatched; false if the
// connection died. Precondition: the caller holds the read token.
func (c *StreamConn) awaitChannelReplies(n uint64) bool {
	if n == 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.hop.chanDone < n && c.err == nil {
		c.hop.waiting++
		c.hop.cond.Wait()
		c.hop.waiting--
	}
	return c.err == nil
}

// socketDispatched counts a dispatched socket message and ends its
// dispatch (beginDispatchLocked).
func (c *StreamConn) socketDispatched() {
	c.mu.Lock()
	c.endDispatchLocked()
	c.hop.sockDone++
	c.hopWakeLocked()
	c.mu.Unlock()
}

// hopWakeLocked wakes the goroutines waiting on hop.cond. Precondition:
// c.mu is held.
func (c *StreamConn) hopWakeLocked() {
	if c.hop.waiting > 0 {
		c.hop.cond.Broadcast()
	}
}

// hopShutdownLocked ends the channel state of a dying connection: it
// wakes the waiters, fails the grant waiters, shuts down the channels in
// use (their users give them back to be destroyed: PutChannel) and
// destroys the idle ones. Under mu, so that a channel given back is not
// destroyed while it is shut down. Precondition: c.mu is held, c.err is
// set.
func (c *StreamConn) hopShutdownLocked() {
	c.hop.cond.Broadcast()
	for id, g := range c.hop.grants {
		close(g)
		delete(c.hop.grants, id)
	}
	for _, ch := range c.hop.idle {
		delete(c.hop.all, ch)
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
	}
	c.hop.idle = nil
	for ch := range c.hop.all {
		ch.h.ep.Shutdown()
	}
}

// foldChannelReply hands r, a reply that came over a channel with stamp
// st, to OnReply in its place among the server's messages: after the
// st.Sockets socket messages and the st.Channels channel replies sent
// before it, and before any later one. It reads the socket itself while
// nobody else does.
func (c *StreamConn) foldChannelReply(r *pb.Reply, st HopStamp) error {
	c.mu.Lock()
	for {
		if c.err != nil {
			c.mu.Unlock()
			return ErrConnDead
		}
		if c.hop.sockDone >= st.Sockets && c.hop.chanDone == st.Channels {
			c.beginDispatchLocked() // c.err is nil
			break
		}
		if c.hop.sockDone < st.Sockets && !c.reading {
			c.reading = true
			c.mu.Unlock()
			c.receive(func(*pb.ServerMessage) bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.hop.sockDone >= st.Sockets || c.err != nil
			})
			c.mu.Lock()
			continue
		}
		c.hop.waiting++
		c.hop.cond.Wait()
		c.hop.waiting--
	}
	c.hop.folding = true
	c.mu.Unlock()
	// The posted calls' replies the server sent before r, in its frame
	// (FeatureChannelPosted): in their place, as a socket message's.
	posted, done, writes := r.PostedReplies, r.PostedDone, r.PostedWrites
	r.PostedReplies, r.PostedDone, r.PostedWrites = nil, nil, nil
	c.dispatchPosted(posted, done, writes)
	if c.opts.OnReply != nil {
		c.opts.OnReply(r)
	}
	c.mu.Lock()
	c.endDispatchLocked()
	c.hop.folding = false
	c.hop.chanDone++
	c.hopWakeLocked()
	if c.err != nil && !c.reading {
		c.closeRecvDoneLocked()
	}
	c.mu.Unlock()
	return nil
}

// Channel is one call channel of a StreamConn, used by one call at a
// time: Channel takes it, PutChannel gives it back.
type Channel struct {
	c *StreamConn
	h hopEndpoint
	// enc is the last call's encoding (reused).
	enc []byte
	// broken says the channel failed (its connection is dead).
	broken bool
	// idleSince is when it was last given back. Protected by
	// StreamConn.mu.
	idleSince time.Time
}

// channelIdle is how long a channel may stay unused before the client
// closes it: each open one parks a thread of the server on its futex.
const channelIdle = 2 * time.Second

// closeIdleChannels closes the channels unused since before now -
// channelIdle (the heartbeat loop calls it).
func (c *StreamConn) closeIdleChannels(now time.Time) {
	if !c.hop.enabled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.hop.idle[:0]
	for _, ch := range c.hop.idle {
		if now.Sub(ch.idleSince) < channelIdle {
			kept = append(kept, ch)
			continue
		}
		delete(c.hop.all, ch)
		// Its server goroutine sees the shutdown and ends.
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
	}
	clear(c.hop.idle[len(kept):])
	c.hop.idle = kept
}

// Channel returns an idle call channel of c, opening one if none is idle
// and c may hold more, or nil: the caller then uses the socket. Opening
// costs a round trip on the socket and one over the new channel.
func (c *StreamConn) Channel() *Channel {
	if !c.hop.enabled {
		return nil
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil
	}
	if n := len(c.hop.idle); n > 0 {
		ch := c.hop.idle[n-1]
		c.hop.idle = c.hop.idle[:n-1]
		c.mu.Unlock()
		return ch
	}
	if c.hop.opening || len(c.hop.all) >= MaxChannels || (!c.hop.noOpenUntil.IsZero() && time.Now().Before(c.hop.noOpenUntil)) {
		c.mu.Unlock()
		return nil
	}
	c.hop.opening = true
	c.hop.lastID++
	id := c.hop.lastID
	g := make(chan grantResult, 1)
	if c.hop.grants == nil {
		c.hop.grants = make(map[uint64]chan grantResult)
	}
	c.hop.grants[id] = g
	c.mu.Unlock()
	ch, err := c.openChannel(id, g)
	c.mu.Lock()
	c.hop.opening = false
	delete(c.hop.grants, id)
	if err != nil {
		c.hop.noOpenUntil = time.Now().Add(channelIdle)
	}
	c.mu.Unlock()
	if err != nil {
		return nil
	}
	return ch
}

// openChannel asks the server for channel id and connects to it.
func (c *StreamConn) openChannel(id uint64, g chan grantResult) (*Channel, error) {
	if err := c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_ChannelOpen{ChannelOpen: &pb.ChannelOpen{Id: id}}}); err != nil {
		return nil, err
	}
	res, err := await(c, context.Background(), g)
	if err != nil {
		return nil, err
	}
	if res.g.GetRefused() != "" {
		return nil, fmt.Errorf("call channel refused: %s", res.g.GetRefused())
	}
	if res.fd < 0 {
		return nil, fmt.Errorf("call channel granted without its memfd")
	}
	ch := &Channel{c: c}
	err = ch.h.ep.Init(flipcall.ClientSide, flipcall.PacketWindowDescriptor{FD: res.fd, Length: int(res.g.GetWindow())})
	unix.Close(res.fd)
	if err != nil {
		return nil, fmt.Errorf("call channel: %w", err)
	}
	// Registered before Connect: a connection dying now shuts it down.
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		ch.h.ep.Destroy()
		return nil, ErrConnDead
	}
	if c.hop.all == nil {
		c.hop.all = make(map[*Channel]struct{})
	}
	c.hop.all[ch] = struct{}{}
	c.mu.Unlock()
	if err := ch.h.ep.Connect(); err != nil {
		ch.broken = true
		c.PutChannel(ch)
		return nil, fmt.Errorf("call channel: connect: %w", err)
	}
	return ch, nil
}

// granted hands a ChannelGrant, with the fd its frame brought, to the
// caller waiting for it. Precondition: the caller holds the read token.
func (c *StreamConn) granted(g *pb.ChannelGrant) {
	fd := -1
	if fw, ok := c.w.(*framedWire); ok && fw.fds != nil && g.GetRefused() == "" {
		fd = fw.fds.take()
	}
	c.mu.Lock()
	w := c.hop.grants[g.GetId()]
	delete(c.hop.grants, g.GetId())
	c.mu.Unlock()
	if w == nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	w <- grantResult{g: g, fd: fd}
}

// PutChannel gives back a channel Channel returned, once its call is
// over: it is kept for the next call, or destroyed if it broke or the
// connection died.
func (c *StreamConn) PutChannel(ch *Channel) {
	c.mu.Lock()
	if !ch.broken && c.err == nil {
		ch.idleSince = time.Now()
		c.hop.idle = append(c.hop.idle, ch)
		c.mu.Unlock()
		return
	}
	delete(c.hop.all, ch)
	c.mu.Unlock()
	ch.h.ep.Shutdown()
	ch.h.ep.Destroy()
}

// ErrCallTooLarge is a call larger than MaxChannelCall: nothing was sent;
// send it on the socket.
var ErrCallTooLarge = errors.New("call larger than a channel takes")

// Call sends call (its Seq set) over the channel, stamped st
// (StampChannel), and returns its reply once OnReply has folded it in
// order, after the replies to the posted calls it carried that came with
// it. The error is ErrConnDead if the connection died (or the channel
// broke, which kills the connection: the recovery re-sends the call and
// the posted calls it carried), or ErrCallTooLarge (nothing sent; it
// carried none).
func (ch *Channel) Call(call *pb.Call, st ChannelStamp) (*pb.Reply, error) {
	return ch.CallInto(call, st, nil)
}

// CallInto is Call decoding the reply into r (reset first), if not nil:
// a caller that made r with its call saves an allocation per call.
func (ch *Channel) CallInto(call *pb.Call, st ChannelStamp, r *pb.Reply) (*pb.Reply, error) {
	c := ch.c
	var err error
	ch.enc, err = proto.MarshalOptions{}.MarshalAppend(ch.enc[:0], call)
	if err == nil && len(st.posted) > 0 {
		ch.enc, err = appendPosted(ch.enc, st.posted)
	}
	if len(st.posted) > 0 {
		// Encoded, or the connection dies below and the recovery
		// re-sends the calls from the caller's records: the next
		// queue may take the array (only st.posted's length is read
		// below).
		c.recycleStamped(st.posted)
	}
	if cap(ch.enc) > maxKeptBuffer {
		defer func() { ch.enc = nil }()
	}
	switch {
	case err != nil && len(st.posted) > 0:
		// The batch's place was taken: only a new connection forgets it.
		return nil, ch.broke(err)
	case err != nil:
		return nil, fmt.Errorf("marshal call: %w", err)
	case len(ch.enc) > MaxChannelCall && len(st.posted) > 0:
		return nil, ch.broke(fmt.Errorf("call %d of %d bytes with its posted calls", call.Seq, len(ch.enc)))
	case len(ch.enc) > MaxChannelCall:
		return nil, ErrCallTooLarge
	}
	dl, err := ch.h.send(hopCall, st.sent, st.batches, ch.enc)
	if err != nil {
		return nil, ch.broke(err)
	}
	n, m, msg, err := ch.h.recv(dl, hopReply, MaxMessageSize)
	if err != nil {
		return nil, ch.broke(err)
	}
	if r == nil {
		r = new(pb.Reply)
	}
	if err := proto.Unmarshal(msg, r); err != nil {
		return nil, ch.broke(err)
	}
	if err := c.foldChannelReply(r, HopStamp{Sockets: n, Channels: m}); err != nil {
		return nil, err
	}
	return r, nil
}

// broke marks the channel broken and the connection dead (a channel only
// fails with its connection: the server shut it down, or its window went
// bad).
func (ch *Channel) broke(err error) error {
	ch.broken = true
	ch.c.fail(fmt.Errorf("call channel: %w", err))
	return ErrConnDead
}
