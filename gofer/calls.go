package gofer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxCallWorkers bounds the calls one Calls stream runs at once: the
// stream's receive loop waits (and so does the sentry's socket) when they
// are all busy, so a peer cannot make the gofer hold more.
const maxCallWorkers = 64

// unaryHandlers maps each unary method of the Gofer service to its
// generated handler.
var unaryHandlers = func() map[string]grpc.MethodHandler {
	m := make(map[string]grpc.MethodHandler, len(goferpb.Gofer_ServiceDesc.Methods))
	for _, d := range goferpb.Gofer_ServiceDesc.Methods {
		m[d.MethodName] = d.Handler
	}
	return m
}()

// CallStream is one Calls stream as the gofer sees it: the gRPC stream,
// or the framed wire on a Unix socket (whose serving loop lives outside
// this package: the gofer imports no transport). SendMsg takes a
// *goferpb.GoferResult, RecvMsg a *goferpb.GoferCall. Context must carry
// the peer (google.golang.org/grpc/peer) the listener authenticated.
type CallStream interface {
	Context() context.Context
	SendMsg(m any) error
	RecvMsg(m any) error
}

// Calls implements goferpb.GoferServer.Calls.
func (s *Server) Calls(stream goferpb.Gofer_CallsServer) error {
	return s.ServeCalls(stream)
}

// ServeCalls serves one Calls stream until it ends (see gofer.proto): the
// stream is a session, its calls run on a small pool of workers that
// live as long as the stream (not a goroutine per call), and each result
// is sent as soon as it is ready.
func (s *Server) ServeCalls(stream CallStream) (err error) {
	defer s.recoverCall("Calls", &err)
	ctx := stream.Context()
	principal := principalOf(ctx)
	first := new(goferpb.GoferCall)
	if err := stream.RecvMsg(first); err != nil {
		return err
	}
	if v := first.GetProtocolVersion(); v != goferpb.ProtocolVersion || first.GetId() != 0 {
		s.log.Warn("refused a call stream of another protocol version", "version", v, "peer", principal)
		err := status.Errorf(codes.FailedPrecondition, "the server speaks gofer protocol version %d, this gofer %d (runsc-decoupled binaries of different versions)", v, goferpb.ProtocolVersion)
		// Said in a result too: the framed wire has no status.
		stream.SendMsg(&goferpb.GoferResult{Code: uint32(codes.FailedPrecondition), Message: status.Convert(err).Message()})
		return err
	}
	ss, err := s.beginSession(principal)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer s.endSession(ss)
	s.log.Debug("call stream began", "session", ss.id)
	w := &callWorkers{s: s, ctx: ctx, ss: ss, principal: principal, stream: stream, work: make(chan *goferpb.GoferCall),
		features: first.GetFeatures() & grantedFeatures}
	if fs, ok := stream.(FDSender); ok && fs.CanSendFDs() {
		if s.donateFDs {
			w.fds = fs
		}
		if cm, ok := stream.(ChannelMaker); ok {
			w.chans, w.chanFDs = cm, fs
		}
	}
	if err := w.send(&goferpb.GoferResult{SessionId: ss.id, Features: w.features}); err != nil {
		return err
	}
	defer func() {
		s.log.Debug("call stream ended", "session", ss.id, "calls", w.calls.Load(), "setstats", w.setStats.Load(), "carried_setstats", w.carried.Load())
	}()
	defer w.stop()
	defer w.stopChannels() // first: a channel's call may still run
	for {
		c := new(goferpb.GoferCall)
		if err := stream.RecvMsg(c); err != nil {
			w.over.Store(true)
			return nil
		}
		if c.GetId() == 0 {
			return status.Error(codes.InvalidArgument, "gofer: a call with id 0")
		}
		if c.GetOpenChannel() {
			w.openChannel(c)
			continue
		}
		w.dispatch(c)
	}
}

// ChannelMaker is implemented by a CallStream that can make call
// channels (transport.FramedStream on a Unix socket; see
// GoferCall.open_channel): handle answers each call that comes on the
// channel, on a goroutine of the channel's, until stop, which waits for
// it; donate sends an fd ahead of the answer (on the channel's fd
// socket). The caller sends fds with the grant and closes them.
type ChannelMaker interface {
	NewCallChannel(handle func(req []byte, donate func(fd int) error) []byte) (fds []int, window int, stop func(), done <-chan struct{}, err error)
}

// callChannel is one of a stream's call channels: stop ends it, done is
// closed once it ended (stopped, or shut down by the server).
type callChannel struct {
	stop func()
	done <-chan struct{}
}

// grantedFeatures are the stream features (GoferCall.features) this
// gofer grants when asked.
const grantedFeatures = goferpb.FeatureBefore

// maxCallChannels bounds the call channels of one stream: each parks a
// thread of the gofer on its futex while idle.
const maxCallChannels = 16

// callWorkers runs the calls of one stream.
type callWorkers struct {
	// s, ctx, ss, principal, stream and work are immutable.
	s         *Server
	ctx       context.Context
	ss        *session
	principal string
	stream    CallStream
	// features are the stream's granted features (immutable).
	features uint64
	// work hands a call to an idle worker (unbuffered: a send succeeds
	// only when one waits).
	work chan *goferpb.GoferCall
	// fds is the stream, if it carries donated fds (donate.go), else
	// nil. Immutable.
	fds FDSender
	// chans and chanFDs are the stream, if it makes call channels and
	// sends their memfds, else nil. Immutable.
	chans   ChannelMaker
	chanFDs FDSender

	// chanMu protects chanList, the stream's call channels.
	chanMu   sync.Mutex
	chanList []callChannel
	// over is set once the stream's receive loop found it over.
	over atomic.Bool
	// calls counts the calls run (on the stream or its channels),
	// setStats those that were SetStats, carried the SetStats they
	// carried (GoferCall.before): logged at the stream's end, what a
	// server's calls cost in round trips.
	calls, setStats, carried atomic.Uint64

	// n counts the workers; only the receive loop changes it.
	n  int
	wg sync.WaitGroup

	// sendMu serializes results on the stream.
	sendMu sync.Mutex
}

// dispatch hands c to an idle worker, starts one if none is idle and
// fewer than maxCallWorkers run, else waits for one.
func (w *callWorkers) dispatch(c *goferpb.GoferCall) {
	select {
	case w.work <- c:
		return
	default:
	}
	if w.n < maxCallWorkers {
		w.n++
		w.wg.Add(1)
		go w.worker(c)
		return
	}
	w.work <- c
}

func (w *callWorkers) worker(c *goferpb.GoferCall) {
	defer w.wg.Done()
	for {
		w.run(c)
		var ok bool
		if c, ok = <-w.work; !ok {
			return
		}
	}
}

// stop ends the workers once their calls are done (results must not be
// sent on a stream whose handler returned).
func (w *callWorkers) stop() {
	close(w.work)
	w.wg.Wait()
}

func (w *callWorkers) send(r *goferpb.GoferResult) error {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	return w.stream.SendMsg(r)
}

// sendFD sends r with a donated fd, which it releases (the peer has its
// own copy once sent).
func (w *callWorkers) sendFD(r *goferpb.GoferResult, g gift) error {
	defer g.release()
	r.Fds = 1
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	return w.fds.SendMsgFDs(r, []int{g.fd})
}

// run executes one call and sends its result. A send that fails means the
// stream is ending; its receive loop sees that too.
func (w *callWorkers) run(c *goferpb.GoferCall) {
	res, donated := w.result(c, w.fds != nil)
	if donated.ok() {
		w.sendFD(res, donated)
		return
	}
	w.send(res)
}

// result executes one call and returns its result, with the fd to
// donate with it (noGift for none; only if donate): the caller sends it
// and releases it.
func (w *callWorkers) result(c *goferpb.GoferCall, donate bool) (*goferpb.GoferResult, gift) {
	res := &goferpb.GoferResult{Id: c.GetId()}
	w.calls.Add(1)
	if c.GetMethod() == "SetStat" {
		w.setStats.Add(1)
	}
	w.carried.Add(uint64(len(c.GetBefore())))
	if len(c.GetBefore()) > 0 {
		if !w.applyBefore(c.GetBefore(), res) {
			return res, noGift
		}
	}
	h := unaryHandlers[c.GetMethod()]
	if h == nil {
		res.Code, res.Message = uint32(codes.Unimplemented), "gofer: no method "+c.GetMethod()
		return res, noGift
	}
	var req proto.Message // as the handler got it
	dec := func(v any) error {
		m, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "gofer: %T is not a message", v)
		}
		if err := proto.Unmarshal(c.GetRequest(), m); err != nil {
			return status.Errorf(codes.InvalidArgument, "gofer: %s request: %v", c.GetMethod(), err)
		}
		req = m
		return nil
	}
	resp, err := w.s.serveCall(w.ctx, w.ss, w.principal, c.GetMethod(), h, dec)
	donated := noGift
	if err == nil && donate && req != nil {
		if m, ok := resp.(proto.Message); ok {
			donated = w.s.donation(w.ss, req, m)
		}
	}
	if err == nil {
		m, ok := resp.(proto.Message)
		if !ok {
			err = status.Errorf(codes.Internal, "gofer: %s reply %T", c.GetMethod(), resp)
		} else if res.Reply, err = proto.Marshal(m); err != nil {
			err = status.Errorf(codes.Internal, "gofer: %s reply: %v", c.GetMethod(), err)
		}
	}
	if err != nil {
		st := status.Convert(err)
		res.Reply, res.Code, res.Message = nil, uint32(st.Code()), st.Message()
		if res.Code == 0 {
			res.Code = uint32(codes.Unknown)
		}
	}
	if donated.ok() && err != nil {
		donated.release() // counted until the handle goes, as if sent
		donated = noGift
	}
	return res, donated
}

// setStatHandler serves the SetStats of GoferCall.before.
var setStatHandler = unaryHandlers["SetStat"]

// applyBefore applies the SetStats a call carries (GoferCall.before), in
// order, each as a SetStat call of its own (admitted, answered from the
// reply cache by its Origin), its parts instead if it fails with an
// errno, and puts their replies in res. It reports whether the call may
// run: not on a stream that was not granted FeatureBefore, nor after a
// SetStat that failed with a status or with EBADF or ESTALE (the sentry
// re-resolves the handle and sends it alone, then the call again), so
// that the call never runs before a change the sentry made first; res
// then says why.
func (w *callWorkers) applyBefore(before []*goferpb.SetStatRequest, res *goferpb.GoferResult) bool {
	if w.features&goferpb.FeatureBefore == 0 {
		res.Code, res.Message = uint32(codes.InvalidArgument), "gofer: a call carries SetStats to apply first on a stream that did not ask for them"
		return false
	}
	fail := func(err error) bool {
		st := status.Convert(err)
		res.Code, res.Message = uint32(st.Code()), "gofer: a SetStat applied first: "+st.Message()
		if res.Code == 0 {
			res.Code = uint32(codes.Unknown)
		}
		return false
	}
	for _, req := range before {
		rep, err := w.setStat(req)
		if err != nil {
			return fail(err)
		}
		res.Before = append(res.Before, rep)
		switch e := unix.Errno(rep.GetErrno()); {
		case e == unix.EBADF || e == unix.ESTALE:
			return fail(status.Errorf(codes.Aborted, "%v", e))
		case e != 0:
			for _, part := range req.GetParts() {
				prep, err := w.setStat(part)
				if err != nil {
					return fail(err)
				}
				rep.Parts = append(rep.Parts, prep)
			}
		}
	}
	return true
}

// setStat runs req (without its parts) as a SetStat call.
func (w *callWorkers) setStat(req *goferpb.SetStatRequest) (*goferpb.SetStatReply, error) {
	dec := func(v any) error {
		m, ok := v.(*goferpb.SetStatRequest)
		if !ok {
			return status.Errorf(codes.Internal, "gofer: %T is not a SetStat request", v)
		}
		proto.Merge(m, req)
		m.Parts = nil
		return nil
	}
	resp, err := w.s.serveCall(w.ctx, w.ss, w.principal, "SetStat", setStatHandler, dec)
	if err != nil {
		return nil, err
	}
	rep, ok := resp.(*goferpb.SetStatReply)
	if !ok {
		return nil, status.Errorf(codes.Internal, "gofer: SetStat reply %T", resp)
	}
	return rep, nil
}

// openChannel answers c, a GoferCall.open_channel, with a new call
// channel (its memfd rides with the result), or fails it.
func (w *callWorkers) openChannel(c *goferpb.GoferCall) {
	fail := func(code codes.Code, msg string) {
		w.send(&goferpb.GoferResult{Id: c.GetId(), Code: uint32(code), Message: msg})
	}
	if w.chans == nil {
		fail(codes.Unimplemented, "gofer: no call channels on this stream")
		return
	}
	w.chanMu.Lock()
	// Channels the server shut down (a call it abandoned) no longer
	// count.
	live := w.chanList[:0]
	for _, ch := range w.chanList {
		select {
		case <-ch.done:
		default:
			live = append(live, ch)
		}
	}
	clear(w.chanList[len(live):])
	w.chanList = live
	full := len(w.chanList) >= maxCallChannels
	w.chanMu.Unlock()
	if full {
		fail(codes.ResourceExhausted, fmt.Sprintf("gofer: at most %d call channels per stream", maxCallChannels))
		return
	}
	// A server that did not ask for the channel's fd socket gets none,
	// and its channel's calls no donated fd.
	carries := c.GetChannelFds()
	fds, window, stop, done, err := w.chans.NewCallChannel(func(req []byte, donate func(fd int) error) []byte {
		if !carries {
			donate = nil
		}
		return w.channelCall(req, donate)
	})
	if err != nil {
		fail(codes.Unavailable, err.Error())
		return
	}
	if !carries {
		unix.Close(fds[1])
		fds = fds[:1]
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	w.chanMu.Lock()
	w.chanList = append(w.chanList, callChannel{stop, done})
	w.chanMu.Unlock()
	reply, err := proto.Marshal(&goferpb.CallChannelGrant{Window: uint32(window)})
	if err != nil {
		fail(codes.Internal, err.Error())
		return
	}
	// The window's memfd, then the server's end of the channel's fd
	// socket, if it asked for it.
	res := &goferpb.GoferResult{Id: c.GetId(), Reply: reply, Fds: uint32(len(fds))}
	w.sendMu.Lock()
	w.chanFDs.SendMsgFDs(res, fds)
	w.sendMu.Unlock()
}

// channelCall runs one call that came on a call channel (a marshalled
// GoferCall, the gofer's own copy) on the channel's goroutine and returns
// its marshalled result. A donated fd goes ahead of the result by donate,
// so that an open or a create needs no hand-off to a worker and no
// socket write of the stream.
func (w *callWorkers) channelCall(req []byte, donate func(fd int) error) []byte {
	c := new(goferpb.GoferCall)
	var res *goferpb.GoferResult
	if err := proto.Unmarshal(req, c); err != nil {
		res = &goferpb.GoferResult{Code: uint32(codes.InvalidArgument), Message: "gofer: a channel call: " + err.Error()}
	} else if !w.ending() {
		var g gift
		res, g = w.result(c, w.fds != nil && donate != nil)
		if g.ok() {
			if err := donate(g.fd); err != nil {
				w.s.log.Debug("donated fd not sent on its call channel", "err", err)
			} else {
				res.Fds = 1
			}
			g.release() // the server has its own copy once sent
		}
	}
	if w.ending() {
		// As a result on the stream would be lost with it: the server
		// re-sends the call on its next stream. (The gofer closing may
		// be what failed it.)
		res = &goferpb.GoferResult{Code: uint32(codes.Unavailable), Message: "gofer: the call stream is ending"}
	}
	b, err := proto.Marshal(res)
	if err != nil {
		b, _ = proto.Marshal(&goferpb.GoferResult{Code: uint32(codes.Internal), Message: err.Error()})
	}
	return b
}

// ending says the stream or the gofer is going away.
func (w *callWorkers) ending() bool { return w.over.Load() || w.s.closing.Load() }

// stopChannels ends the stream's call channels, waiting for the calls
// they run.
func (w *callWorkers) stopChannels() {
	w.chanMu.Lock()
	stops := w.chanList
	w.chanList = nil
	w.chanMu.Unlock()
	for _, ch := range stops {
		ch.stop()
	}
}
