package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/flipcall"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Call channels: the same-machine hop (docs/ARCHITECTURE.md, "The client-to-server hop").
//
// On the framed wire over a Unix socket, a client may ask for call
// channels (ChannelOpen). The server answers with a ChannelGrant whose
// frame carries a sealed memfd (SCM_RIGHTS): a packet window both map,
// driven by gVisor's flipcall (a futex in the window hands control from
// one side's thread to the other's). A client thread's synchronous call
// then travels as one datagram into the window and its reply comes back
// the same way, with no socket read or write and no network poller on
// either side. The socket stays the session's control path: handshake,
// pushes, posted calls, Interrupts, heartbeats and recovery.
//
// Datagrams are a hopHeaderLen header (kind, the message's total length,
// two counts) and a chunk of a marshalled Call or Reply; a message larger
// than one window goes as several chunks, each acknowledged (hopAck).
//
// Order. The client folds the state records of every reply and push in
// the order the server sent them. The server counts what it sent on the
// socket and over channels (hopOrder): a channel reply carries the count
// of socket messages before it and its place among channel replies, and
// every socket message carries the number of channel replies before it
// (ServerMessage.channel_replies). The client's socket reader holds back
// a message until those replies were folded, and a channel reply is
// folded only once the socket messages before it were. In the other
// direction a channel call carries the number of messages the client had
// sent on the socket before it (posted calls among them); the server runs
// the call only once its socket reader has handled that many. A channel
// call may carry the posted calls queued before it (Call.posted_calls):
// it then also carries the number of such batches sent, its own included
// (the datagram's b), and every later message of the client the number
// sent before it (ClientMessage.channel_batches; a later channel call
// its b); the server queues a batch only after the one before it, and
// handles a message only once it queued the batches before it, so the
// batch takes its place in the client's order of messages.
//
// Trust. The window is shared with the client, which may change it while
// the server reads: the server copies the header and each chunk out once
// and decodes only its copy; a bad datagram ends the channel.

// hopWindow is the size of a channel's packet window: a 64 KiB read or
// write (a pipe's, a file's) fits in one datagram with its header. Only
// the pages a call touches are memory.
const hopWindow = 128 << 10

// MaxChannels bounds the channels a session may hold: a client cannot
// make the server map more shared memory (or keep more threads waiting
// on a futex) than this. A client asking beyond it is refused and uses
// the socket.
const MaxChannels = 32

// MaxChannelCall bounds a call sent over a channel (a reply may be as
// large as a message on the socket): the server buffers at most this much
// per channel. A larger call goes on the socket.
const MaxChannelCall = 1 << 20

// Datagram kinds.
const (
	hopCall  = 1 // first chunk of a Call; a, b its socket and batch counts
	hopReply = 2 // first chunk of a Reply; a, b its HopStamp
	hopMore  = 3 // a later chunk
	hopAck   = 4 // chunk taken: send the next
)

// hopHeaderLen is a datagram's header: kind uint32, total length uint32,
// a uint64, b uint64, little-endian.
const hopHeaderLen = 24

// errBadDatagram is a datagram that breaks the channel protocol.
var errBadDatagram = errors.New("call channel: bad datagram")

// errSessionClosed is a message read after its session's channels were
// closed.
var errSessionClosed = errors.New("session closed")

// HopStamp places a channel reply among the session's messages: the
// socket messages sent before it, and the channel replies sent before it.
type HopStamp struct {
	Sockets, Channels uint64
}

// hopEndpoint is one side of a channel: a flipcall endpoint carrying
// chunked messages. One goroutine uses it at a time.
type hopEndpoint struct {
	ep flipcall.Endpoint
	// buf holds the last message received (a private copy).
	buf []byte
}

// send places msg in the window, in chunks, and transfers control; it
// returns the length of the peer's datagram after the last chunk.
func (h *hopEndpoint) send(kind uint32, a, b uint64, msg []byte) (uint32, error) {
	data := h.ep.Data()
	room := len(data) - hopHeaderLen
	off := 0
	for {
		n := min(room, len(msg)-off)
		k := kind
		if off > 0 {
			k = hopMore
		}
		binary.LittleEndian.PutUint32(data[0:], k)
		binary.LittleEndian.PutUint32(data[4:], uint32(len(msg)))
		binary.LittleEndian.PutUint64(data[8:], a)
		binary.LittleEndian.PutUint64(data[16:], b)
		copy(data[hopHeaderLen:], msg[off:off+n])
		off += n
		got, err := h.ep.SendRecv(uint32(hopHeaderLen + n))
		if err != nil {
			return 0, err
		}
		if off == len(msg) {
			return got, nil
		}
		if got < hopHeaderLen || binary.LittleEndian.Uint32(data[0:]) != hopAck {
			return 0, fmt.Errorf("%w: expected an ack", errBadDatagram)
		}
	}
}

// recv reads the message whose first datagram (length dl) is in the
// window, acknowledging each chunk but the last, into a private copy. It
// returns the header's counts and the message, valid until the next recv.
func (h *hopEndpoint) recv(dl uint32, want uint32, max int) (a, b uint64, msg []byte, err error) {
	data := h.ep.Data()
	var hdr [hopHeaderLen]byte
	if dl < hopHeaderLen {
		return 0, 0, nil, fmt.Errorf("%w: %d bytes", errBadDatagram, dl)
	}
	copy(hdr[:], data[:hopHeaderLen])
	kind := binary.LittleEndian.Uint32(hdr[0:])
	total := int(binary.LittleEndian.Uint32(hdr[4:]))
	a = binary.LittleEndian.Uint64(hdr[8:])
	b = binary.LittleEndian.Uint64(hdr[16:])
	if kind != want || total > max {
		return 0, 0, nil, fmt.Errorf("%w: kind %d of %d bytes", errBadDatagram, kind, total)
	}
	buf := h.buf[:0]
	for {
		chunk := data[hopHeaderLen:dl]
		if len(buf)+len(chunk) > total {
			return 0, 0, nil, fmt.Errorf("%w: chunks past the length", errBadDatagram)
		}
		buf = append(buf, chunk...)
		if len(buf) == total {
			break
		}
		if len(chunk) == 0 {
			return 0, 0, nil, fmt.Errorf("%w: empty chunk", errBadDatagram)
		}
		binary.LittleEndian.PutUint32(data[0:], hopAck)
		if dl, err = h.ep.SendRecv(hopHeaderLen); err != nil {
			return 0, 0, nil, err
		}
		if dl < hopHeaderLen {
			return 0, 0, nil, fmt.Errorf("%w: %d bytes", errBadDatagram, dl)
		}
		copy(hdr[:], data[:hopHeaderLen])
		if binary.LittleEndian.Uint32(hdr[0:]) != hopMore {
			return 0, 0, nil, fmt.Errorf("%w: expected a chunk", errBadDatagram)
		}
	}
	if cap(buf) <= maxKeptBuffer {
		h.buf = buf
	} else {
		h.buf = nil
	}
	return a, b, buf, nil
}

// HopHandler runs one call that came over a channel and returns its
// reply with its stamp (HopServer.StampReply, taken when the reply's
// state records were collected), or ok false if the session is over.
// posted are the posted calls it carried (Call.posted_calls, taken out
// of call), which come before it: the handler queues them, then calls
// queued (the session's later messages wait for it) before it may
// block.
type HopHandler func(call *pb.Call, posted []*pb.Call, queued func()) (r *pb.Reply, st HopStamp, ok bool)

// HopServer is the server's side of a session's channels: the framed
// Session stream on a Unix socket implements it. Type-assert a
// Sentry_SessionServer to it; a stream that is not one has no channels.
type HopServer interface {
	// OpenChannel answers a ChannelOpen: a grant with a new channel whose
	// calls h runs, or a refusal (beyond MaxChannels).
	OpenChannel(id uint64, h HopHandler) error
	// StampReply places the next channel reply after every message sent
	// on the socket so far. The caller serializes it with the sends whose
	// state records the reply must follow.
	StampReply() HopStamp
}

// hopOrder is the server's count of what a framed Session sent, and of
// what its reader handled.
type hopOrder struct {
	// mu protects sockets and channels; it is held across a socket
	// write, so that the counts follow the order of the bytes.
	mu       sync.Mutex
	sockets  uint64
	channels uint64

	// rmu protects the fields below; cond signals a change of handled or
	// closed.
	rmu  sync.Mutex
	cond *sync.Cond
	// recvd counts the messages read; handled those the session's
	// reader came back from (it calls Recv again once it handled one).
	recvd, handled uint64
	// batches counts the posted batches of channel calls queued (their
	// handlers called queued), in the client's order.
	batches uint64
	// closed is set when the session ended.
	closed bool
	// live are the open channels.
	live map[*hopServerChannel]struct{}
}

func newHopOrder() *hopOrder {
	o := &hopOrder{live: make(map[*hopServerChannel]struct{})}
	o.cond = sync.NewCond(&o.rmu)
	return o
}

// enterRecv notes that the session's reader came back for a message: it
// handled the one it read before.
func (o *hopOrder) enterRecv() {
	o.rmu.Lock()
	if o.handled != o.recvd {
		o.handled = o.recvd
		o.cond.Broadcast()
	}
	o.rmu.Unlock()
}

// gotMsg counts a message read.
func (o *hopOrder) gotMsg() {
	o.rmu.Lock()
	o.recvd++
	o.rmu.Unlock()
}

// awaitOrder waits until the session's reader handled n messages and
// batches posted batches of channel calls were queued; false if the
// session ended first.
func (o *hopOrder) awaitOrder(n, batches uint64) bool {
	o.rmu.Lock()
	defer o.rmu.Unlock()
	for (o.handled < n || o.batches < batches) && !o.closed {
		o.cond.Wait()
	}
	return !o.closed
}

// batchQueued notes that the posted batch n of a channel call was queued.
func (o *hopOrder) batchQueued(n uint64) {
	o.rmu.Lock()
	if o.batches < n {
		o.batches = n
		o.cond.Broadcast()
	}
	o.rmu.Unlock()
}

// close ends the session's channels: their threads and their peers'
// return.
func (o *hopOrder) close() {
	o.rmu.Lock()
	defer o.rmu.Unlock()
	o.closed = true
	o.cond.Broadcast()
	// Under rmu: a channel's goroutine destroys it only once it is out
	// of live.
	for ch := range o.live {
		ch.h.ep.Shutdown()
	}
}

// StampReply implements HopServer.StampReply.
func (s *framedServerStream) StampReply() HopStamp {
	o := s.order
	o.mu.Lock()
	defer o.mu.Unlock()
	st := HopStamp{Sockets: o.sockets, Channels: o.channels}
	o.channels++
	return st
}

// sendStamped writes m with the count of channel replies before it, and
// counts it; fds, if any, ride with it.
func (s *framedServerStream) sendStamped(m *pb.ServerMessage, fds []int) error {
	o := s.order
	o.mu.Lock()
	defer o.mu.Unlock()
	m.ChannelReplies = o.channels
	write := func(m *pb.ServerMessage) error {
		if len(fds) > 0 {
			return s.w.writeMsgRights(m, s.uc, unix.UnixRights(fds...))
		}
		return s.w.writeMsg(m)
	}
	err := write(m)
	lost := false
	if errors.Is(err, ErrUnencodable) {
		// Sent mended; an error still if a push or a state record
		// was left out (the server logs it).
		var mended *pb.ServerMessage
		mended, lost = mendServerMessage(m)
		err = write(mended)
	}
	if err != nil {
		return err
	}
	o.sockets++
	if lost {
		return fmt.Errorf("sent without what could not be encoded: %w", ErrUnencodable)
	}
	return nil
}

// OpenChannel implements HopServer.OpenChannel.
func (s *framedServerStream) OpenChannel(id uint64, h HopHandler) error {
	refuse := func(why string) error {
		return s.sendStamped(&pb.ServerMessage{Msg: &pb.ServerMessage_ChannelGrant{ChannelGrant: &pb.ChannelGrant{Id: id, Refused: why}}}, nil)
	}
	o := s.order
	o.rmu.Lock()
	full := len(o.live) >= MaxChannels
	closed := o.closed
	o.rmu.Unlock()
	switch {
	case s.uc == nil:
		return refuse("not on a Unix socket")
	case closed:
		return nil
	case full:
		return refuse(fmt.Sprintf("at most %d channels per session", MaxChannels))
	}
	ch, fd, err := newHopServerChannel()
	if err != nil {
		return refuse(err.Error())
	}
	defer unix.Close(fd)
	o.rmu.Lock()
	if o.closed {
		o.rmu.Unlock()
		ch.h.ep.Destroy()
		return nil
	}
	o.live[ch] = struct{}{}
	o.rmu.Unlock()
	go ch.serve(o, h)
	return s.sendStamped(&pb.ServerMessage{Msg: &pb.ServerMessage_ChannelGrant{ChannelGrant: &pb.ChannelGrant{Id: id, Window: hopWindow}}}, []int{fd})
}

// hopServerChannel is the server's end of one channel.
type hopServerChannel struct {
	h hopEndpoint
}

// newHopServerChannel allocates a window in a memfd of its own (sealed
// against shrinking: the client cannot make the server's reads fault)
// and maps it. The caller sends and closes fd.
func newHopServerChannel() (*hopServerChannel, int, error) {
	var pwa flipcall.PacketWindowAllocator
	if err := pwa.Init(); err != nil {
		return nil, -1, fmt.Errorf("call channel: %w", err)
	}
	pwd, err := pwa.Allocate(hopWindow)
	if err != nil {
		pwa.Destroy()
		return nil, -1, fmt.Errorf("call channel: %w", err)
	}
	ch := &hopServerChannel{}
	if err := ch.h.ep.Init(flipcall.ServerSide, pwd); err != nil {
		pwa.Destroy()
		return nil, -1, fmt.Errorf("call channel: %w", err)
	}
	return ch, pwa.FD(), nil
}

// serve runs the channel's calls until it is shut down or breaks.
func (ch *hopServerChannel) serve(o *hopOrder, h HopHandler) {
	defer func() {
		o.rmu.Lock()
		delete(o.live, ch)
		o.rmu.Unlock()
		ch.h.ep.Shutdown()
		ch.h.ep.Destroy()
	}()
	dl, err := ch.h.ep.RecvFirst()
	var enc []byte
	for err == nil {
		var sent, batches uint64
		var msg []byte
		sent, batches, msg, err = ch.h.recv(dl, hopCall, MaxChannelCall)
		if err != nil {
			return
		}
		call := new(pb.Call)
		// Its posted calls decoded by hand, as a socket frame's.
		aliased, derr := decodeChannelCall(msg, call)
		if derr != nil {
			return
		}
		if aliased {
			// Some of its calls' data stays in msg, which they may
			// outlive (a write planned ahead): the next call's
			// bytes go to a new buffer.
			ch.h.buf = nil
		}
		posted := call.PostedCalls
		call.PostedCalls = nil
		// A batch comes right after the one before it.
		after := batches
		if len(posted) > 0 {
			if batches == 0 {
				return
			}
			after = batches - 1
		}
		if !o.awaitOrder(sent, after) {
			return
		}
		queued := func() {}
		if len(posted) > 0 {
			o.rmu.Lock()
			dup := o.batches != after
			o.rmu.Unlock()
			if dup {
				return
			}
			queued = func() { o.batchQueued(batches) }
		}
		r, st, ok := h(call, posted, queued)
		queued()
		if !ok {
			return
		}
		enc, err = proto.MarshalOptions{}.MarshalAppend(enc[:0], r)
		if err != nil {
			// Breaking the channel would only have the client
			// recover and send the same call again.
			enc, err = proto.MarshalOptions{}.MarshalAppend(enc[:0], mendReply(r))
			if err != nil {
				return
			}
		}
		dl, err = ch.h.send(hopReply, st.Sockets, st.Channels, enc)
		if cap(enc) > maxKeptBuffer {
			enc = nil
		}
	}
}

var _ HopServer = (*framedServerStream)(nil)

// unixOf returns the Unix socket under conn, or nil.
func unixOf(conn net.Conn) *net.UnixConn {
	uc, _ := unixConnOf(conn)
	return uc
}
