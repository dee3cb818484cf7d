package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/flipcall"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// hopServer is a Session server with call channels, ordered as the remote
// sentry orders them: every reply and push carries the next version of
// one piece of state (Reply.ret, StdioOutput.seq), built and sent under
// one lock with channel replies stamped under it. A call of tid -1 never
// gets a reply; a call on the socket of tid -2 is "posted": the session
// loop notes its seq a moment later (so a channel call that must follow
// it finds it noted only if the server waited for it), and a channel call
// whose args[0] names a seq fails (errno EINVAL) unless that seq was
// noted. A call with an input echoes it back (a large reply). With
// batches, the server takes posted calls inside channel calls
// (FeatureChannelBatch): a channel call's handler notes each a moment
// after the one before, then says the batch is queued; and a socket call
// whose args[0] names a seq fails as a channel call does.
type hopServer struct {
	pb.UnimplementedSentryServer
	// pushEvery, if set, has a goroutine push a new version that often
	// while a session runs.
	pushEvery time.Duration
	// batches says the server offers FeatureChannelBatch.
	batches bool

	mu      sync.Mutex
	version int64
	noted   map[uint64]bool
	// kept are the posted calls channel calls carried, as the handler
	// got them (a server may hold one past its channel call's reply).
	kept []*pb.Call
	// streams are the sessions' streams (HopServer).
	streams []*framedServerStream
}

func (s *hopServer) Session(st pb.Sentry_SessionServer) error {
	m, err := st.Recv()
	if err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	hs, _ := st.(HopServer)
	s.mu.Lock()
	if fs, ok := st.(*framedServerStream); ok {
		s.streams = append(s.streams, fs)
	}
	s.noted = make(map[uint64]bool)
	s.mu.Unlock()
	// sendState sends a message carrying the next version, as the sentry
	// sends records: under one lock.
	sendState := func(build func(v int64) *pb.ServerMessage) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.version++
		st.Send(build(s.version))
	}
	features := pb.FeatureChannels
	if s.batches {
		features |= pb.FeaturePostBatch | pb.FeatureChannelPosted | pb.FeatureChannelBatch
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "hop", ProtocolVersion: pb.ProtocolVersion, Features: features}}})
	stop := make(chan struct{})
	defer close(stop)
	if s.pushEvery > 0 {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(s.pushEvery):
				}
				sendState(func(v int64) *pb.ServerMessage {
					return &pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: 1, Seq: uint64(v)}}}}}
				})
			}
		}()
	}
	handler := func(call *pb.Call, posted []*pb.Call, queued func()) (*pb.Reply, HopStamp, bool) {
		for _, p := range posted {
			time.Sleep(5 * time.Millisecond)
			s.mu.Lock()
			s.noted[p.Seq] = true
			s.kept = append(s.kept, p)
			s.mu.Unlock()
		}
		queued()
		if call.Tid == -1 {
			<-stop
			return nil, HopStamp{}, false
		}
		r := &pb.Reply{Seq: call.Seq}
		if call.Tid == unencodableTid {
			r.State = unencodableState()
		}
		if args := call.GetSyscall().GetArgs(); len(args) > 0 && args[0] != 0 {
			s.mu.Lock()
			if !s.noted[args[0]] {
				r.Errno = int32(unix.EINVAL)
			}
			s.mu.Unlock()
		}
		if in := call.GetSyscall().GetInputs(); len(in) > 0 {
			r.Outputs = []*pb.Region{{Data: bytes.Repeat(in[0].Data, 2)}}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.version++
		r.Ret = s.version
		return r, hs.StampReply(), true
	}
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		switch m := m.Msg.(type) {
		case *pb.ClientMessage_Heartbeat:
			st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: m.Heartbeat}})
		case *pb.ClientMessage_ChannelOpen:
			if hs != nil {
				hs.OpenChannel(m.ChannelOpen.Id, handler)
			}
		case *pb.ClientMessage_Call:
			if m.Call.Tid == -2 {
				time.Sleep(5 * time.Millisecond)
				s.mu.Lock()
				s.noted[m.Call.Seq] = true
				s.mu.Unlock()
			}
			var errno int32
			if args := m.Call.GetSyscall().GetArgs(); len(args) > 0 && args[0] != 0 {
				s.mu.Lock()
				if !s.noted[args[0]] {
					errno = int32(unix.EINVAL)
				}
				s.mu.Unlock()
			}
			sendState(func(v int64) *pb.ServerMessage {
				r := &pb.Reply{Seq: m.Call.Seq, Ret: v, Errno: errno}
				if m.Call.Tid == unencodableTid {
					r.State = unencodableState()
				}
				return &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: r}}
			})
		}
	}
}

func startHop(t testing.TB, s *hopServer) string {
	t.Helper()
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	tg, _ := ParseTarget(target)
	l, err := Listen(tg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	pb.RegisterSentryServer(g, s)
	go Serve(l, g, s.Session)
	t.Cleanup(g.Stop)
	return target
}

// versionLog checks that the versions OnPush and OnReply see only grow,
// and that the callbacks never overlap.
type versionLog struct {
	in     atomic.Bool
	mu     sync.Mutex
	last   int64
	count  int
	broken string
}

func (l *versionLog) see(v int64) {
	if l.in.Swap(true) {
		l.fail("callbacks overlap")
	}
	defer l.in.Store(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	if v <= l.last {
		l.failLocked(fmt.Sprintf("version %d folded after %d", v, l.last))
	}
	l.last = v
	l.count++
}

func (l *versionLog) fail(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(why)
}

func (l *versionLog) failLocked(why string) {
	if l.broken == "" {
		l.broken = why
	}
}

func (l *versionLog) options() Options {
	return Options{
		Channels: true,
		OnPush: func(p *pb.Push) {
			if o := p.GetOutput(); o != nil {
				l.see(int64(o.Seq))
			}
		},
		OnReply: func(r *pb.Reply) { l.see(r.Ret) },
	}
}

func dialHop(t testing.TB, target string, opts Options) *StreamConn {
	t.Helper()
	c, err := Dial(context.Background(), target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !c.ChannelsEnabled() {
		t.Fatal("channels not enabled on the framed wire over a Unix socket")
	}
	return c
}

// takeChannel takes one of c's call channels for the test, given back
// at its end (before c closes: cleanups run last first).
func takeChannel(t testing.TB, c *StreamConn) *Channel {
	t.Helper()
	ch := c.Channel()
	if ch == nil {
		t.Fatal("no channel")
	}
	t.Cleanup(func() { c.PutChannel(ch) })
	return ch
}

// TestChannelOrder: replies over channels and messages on the socket
// (replies of socket calls, pushes) are folded in the order the server
// sent them, from several threads at once, and never concurrently.
func TestChannelOrder(t *testing.T) {
	target := startHop(t, &hopServer{pushEvery: 200 * time.Microsecond})
	l := &versionLog{}
	c := dialHop(t, target, l.options())
	var seq atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				call := &pb.Call{Seq: seq.Add(1), Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}
				if i%3 == 0 {
					// Some calls on the socket, between.
					if _, err := c.Call(context.Background(), call); err != nil {
						errs <- err
						return
					}
					continue
				}
				ch := c.Channel()
				var r *pb.Reply
				var err error
				if ch == nil {
					// Another thread is opening one: the socket.
					r, err = c.Call(context.Background(), call)
				} else {
					r, err = ch.Call(call, ChannelStamp{sent: c.Sent()})
					c.PutChannel(ch)
				}
				if err != nil {
					errs <- err
					return
				}
				if r.Seq != call.Seq {
					errs <- fmt.Errorf("reply seq %d for call %d", r.Seq, call.Seq)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != "" {
		t.Fatal(l.broken)
	}
	if l.count < 1200 {
		t.Fatalf("folded %d messages, want at least the 1,200 replies", l.count)
	}
}

// TestChannelCallFollowsSocket: a channel call runs on the server only
// after the messages sent on the socket before it were handled (a posted
// call that the session loop takes a while to note).
func TestChannelCallFollowsSocket(t *testing.T) {
	target := startHop(t, &hopServer{})
	c := dialHop(t, target, Options{Channels: true})
	ch := takeChannel(t, c)
	for i := uint64(1); i <= 20; i += 2 {
		if _, err := c.Go(&pb.Call{Seq: i, Tid: -2}); err != nil {
			t.Fatal(err)
		}
		r, err := ch.Call(&pb.Call{Seq: i + 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Args: []uint64{i}}}}, ChannelStamp{sent: c.Sent()})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errno != 0 {
			t.Fatalf("channel call %d ran before the posted call %d was handled", i+1, i)
		}
	}
}

// TestChannelBatchPrecedesSocket: the posted calls a channel call carries
// (StampChannel) are handled before the messages sent after it, on the
// socket (ClientMessage.channel_batches) or over another channel, even
// while the server is still queueing them.
func TestChannelBatchPrecedesSocket(t *testing.T) {
	target := startHop(t, &hopServer{batches: true})
	c := dialHop(t, target, Options{Channels: true, PostDelay: MaxPostDelay})
	chans := [2]*Channel{c.Channel(), c.Channel()}
	for _, ch := range chans {
		if ch == nil {
			t.Fatal("no channel")
		}
		defer c.PutChannel(ch)
	}
	syscall := func(seq, arg uint64) *pb.Call {
		return &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Args: []uint64{arg}}}}
	}
	seq := uint64(0)
	for i := range 10 {
		var posted []uint64
		for range 3 {
			seq++
			posted = append(posted, seq)
			if _, err := c.GoPosted(&pb.Call{Seq: seq, Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Posted: true}}}); err != nil {
				t.Fatal(err)
			}
		}
		seq++
		call := syscall(seq, 0)
		st, err := c.StampChannel(call)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.posted) != len(posted) || st.batches != uint64(i+1) {
			t.Fatalf("round %d: stamp carries %d posted calls, batch %d; want %d, %d", i, len(st.posted), st.batches, len(posted), i+1)
		}
		done := make(chan error, 1)
		go func() {
			_, err := chans[0].Call(call, st)
			done <- err
		}()
		// The last posted call is noted last.
		last := posted[len(posted)-1]
		seq++
		var r *pb.Reply
		if i%2 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err = c.Call(ctx, syscall(seq, last))
			cancel()
		} else {
			next := syscall(seq, last)
			var nst ChannelStamp
			if nst, err = c.StampChannel(next); err == nil {
				r, err = chans[1].Call(next, nst)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Errno != 0 {
			t.Fatalf("round %d: call %d ran before the posted calls of the channel call %d were queued", i, seq, call.Seq)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := c.ChannelBatches(); n != 10 {
		t.Errorf("%d posted batches inside channel calls; want 10", n)
	}
}

// TestChannelPostedDataOutlivesCall: the leased data of posted calls a
// channel call carried, decoded by hand and left in the buffer the
// channel read it into (decodeChannelCall: aliased), stays the calls'
// own after the channel's next calls are read (the channel then reads
// into a new buffer), as a server holding them (a write planned ahead)
// needs.
func TestChannelPostedDataOutlivesCall(t *testing.T) {
	s := &hopServer{batches: true}
	target := startHop(t, s)
	c := dialHop(t, target, Options{Channels: true, PostDelay: MaxPostDelay})
	ch := takeChannel(t, c)
	seq := uint64(0)
	want := map[uint64][]byte{}
	for i := range 5 {
		seq++
		data := bytes.Repeat([]byte{byte('a' + i)}, 4*aliasMinData)
		want[seq] = data
		leased := &pb.Call{Seq: seq, Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 326, Posted: true,
			Args: []uint64{3, 0, 4, 0, uint64(len(data)), 0}, LeasedData: data}}}
		if _, err := c.GoPosted(leased); err != nil {
			t.Fatal(err)
		}
		seq++
		call := &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 262}}}
		st, err := c.StampChannel(call)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.posted) != 1 {
			t.Fatalf("round %d: the channel call carries %d posted calls, want 1", i, len(st.posted))
		}
		if _, err := ch.Call(call, st); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) != len(want) {
		t.Fatalf("the server got %d posted calls, want %d", len(s.kept), len(want))
	}
	for _, p := range s.kept {
		if got := p.GetSyscall().GetLeasedData(); !bytes.Equal(got, want[p.Seq]) {
			t.Errorf("posted call %d's leased data changed after later calls were read: %.8q..., want %.8q...", p.Seq, got, want[p.Seq])
		}
	}
}

// TestChannelBadBatch: a channel call whose posted batch is out of the
// session's order (numbered 0, or a number already queued) ends that
// channel, not the session.
func TestChannelBadBatch(t *testing.T) {
	target := startHop(t, &hopServer{batches: true})
	c := dialHop(t, target, Options{Channels: true, PostDelay: MaxPostDelay})
	posted := func(seq uint64) *pb.Call {
		return &pb.Call{Seq: seq, Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Posted: true}}}
	}
	// Batch 1, in order.
	ch := c.Channel()
	if ch == nil {
		t.Fatal("no channel")
	}
	if _, err := c.GoPosted(posted(1)); err != nil {
		t.Fatal(err)
	}
	call := &pb.Call{Seq: 2, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}
	st, err := c.StampChannel(call)
	if err != nil || st.batches != 1 {
		t.Fatalf("stamp %+v, %v; want batch 1", st, err)
	}
	if _, err := ch.Call(call, st); err != nil {
		t.Fatal(err)
	}
	c.PutChannel(ch)
	seq := uint64(2)
	for _, b := range []uint64{1, 0} {
		seq += 2
		enc, err := proto.Marshal(&pb.Call{Seq: seq, PostedCalls: []*pb.Call{posted(seq - 1)}, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}})
		if err != nil {
			t.Fatal(err)
		}
		ch := c.Channel()
		if ch == nil {
			t.Fatal("no channel")
		}
		if _, err := ch.h.send(hopCall, c.Sent(), b, enc); err == nil {
			t.Fatalf("a batch numbered %d after batch 1 answered", b)
		}
		ch.broken = true
		c.PutChannel(ch)
		seq++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := c.Call(ctx, &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}})
		cancel()
		if err != nil || r.Errno != 0 {
			t.Fatalf("the session after a batch numbered %d: %v, %v", b, r, err)
		}
	}
}

// TestChannelLargeMessages: calls and replies larger than the window go
// in chunks.
func TestChannelLargeMessages(t *testing.T) {
	target := startHop(t, &hopServer{})
	c := dialHop(t, target, Options{Channels: true})
	ch := takeChannel(t, c)
	for i, size := range []int{0, 1, hopWindow - hopHeaderLen - 64, hopWindow, 3*hopWindow + 17, MaxChannelCall - 64} {
		in := bytes.Repeat([]byte{byte(i + 1)}, size)
		call := &pb.Call{Seq: uint64(i + 1), Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Inputs: []*pb.Region{{Data: in}}}}}
		r, err := ch.Call(call, ChannelStamp{sent: c.Sent()})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		var out []byte
		if len(r.Outputs) > 0 {
			out = r.Outputs[0].Data
		}
		if !bytes.Equal(out, bytes.Repeat(in, 2)) {
			t.Fatalf("size %d: reply of %d bytes, want %d", size, len(out), 2*size)
		}
	}
	big := &pb.Call{Seq: 100, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Inputs: []*pb.Region{{Data: make([]byte, MaxChannelCall)}}}}}
	if _, err := ch.Call(big, ChannelStamp{sent: c.Sent()}); !errors.Is(err, ErrCallTooLarge) {
		t.Fatalf("call of %d bytes: %v, want ErrCallTooLarge", MaxChannelCall, err)
	}
	if _, err := ch.Call(&pb.Call{Seq: 101, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}, ChannelStamp{sent: c.Sent()}); err != nil {
		t.Fatalf("the channel after a call too large: %v", err)
	}
}

// TestChannelDeadServer: a call blocked on a channel of a server that
// stopped answering returns ErrConnDead once the heartbeat declares the
// server dead; the channel is not reused.
func TestChannelDeadServer(t *testing.T) {
	s := &hopServer{}
	target := startHop(t, s)
	c := dialHop(t, target, Options{Channels: true, HeartbeatInterval: 20 * time.Millisecond, DeadAfter: 100 * time.Millisecond})
	ch := c.Channel()
	if ch == nil {
		t.Fatal("no channel")
	}
	// The server is alive (it answers heartbeats) but this call hangs:
	// then make the heartbeats stop, as a killed server's would.
	done := make(chan error, 1)
	go func() {
		_, err := ch.Call(&pb.Call{Seq: 1, Tid: -1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}, ChannelStamp{sent: c.Sent()})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.mu.Lock()
	streams := s.streams
	s.mu.Unlock()
	for _, st := range streams {
		// A frozen server: nothing more is written (the socket stays
		// open, as a stopped process's would).
		st.order.mu.Lock()
		defer st.order.mu.Unlock()
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnDead) {
			t.Fatalf("call on a dead server's channel: %v, want ErrConnDead", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call on a dead server's channel did not return")
	}
	c.PutChannel(ch)
	if c.Channel() != nil {
		t.Fatal("a dead connection gave a channel")
	}
}

// TestChannelServerSessionEnd: when the session ends on the server, its
// channels are shut down (a blocked client call returns) and released.
func TestChannelServerSessionEnd(t *testing.T) {
	s := &hopServer{}
	target := startHop(t, s)
	c := dialHop(t, target, Options{Channels: true})
	var chans []*Channel
	for i := 0; i < 3; i++ {
		ch := c.Channel()
		if ch == nil {
			t.Fatal("no channel")
		}
		chans = append(chans, ch)
	}
	s.mu.Lock()
	st := s.streams[0]
	s.mu.Unlock()
	if n := liveChannels(st); n != 3 {
		t.Fatalf("%d live channels on the server, want 3", n)
	}
	c.Close()
	for _, ch := range chans {
		c.PutChannel(ch)
	}
	deadline := time.Now().Add(10 * time.Second)
	for liveChannels(st) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d channels still live after the session ended", liveChannels(st))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func liveChannels(st *framedServerStream) int {
	st.order.rmu.Lock()
	defer st.order.rmu.Unlock()
	return len(st.order.live)
}

// TestChannelCap: the server grants at most MaxChannels per session,
// whatever the client asks.
func TestChannelCap(t *testing.T) {
	s := &hopServer{}
	target := startHop(t, s)
	c := dialHop(t, target, Options{Channels: true})
	var held []*Channel
	for {
		ch := c.Channel()
		if ch == nil {
			break
		}
		held = append(held, ch)
	}
	if len(held) != MaxChannels {
		t.Fatalf("client opened %d channels, want %d", len(held), MaxChannels)
	}
	// A client ignoring its own bound.
	for i := 0; i < 8; i++ {
		if err := c.send(&pb.ClientMessage{Msg: &pb.ClientMessage_ChannelOpen{ChannelOpen: &pb.ChannelOpen{Id: 1000 + uint64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A round trip on the socket: the opens were handled before it.
	if _, err := c.Call(context.Background(), &pb.Call{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	st := s.streams[0]
	s.mu.Unlock()
	if n := liveChannels(st); n != MaxChannels {
		t.Fatalf("%d live channels on the server, want %d", n, MaxChannels)
	}
	for _, ch := range held {
		c.PutChannel(ch)
	}
}

// hopPair is a client and a server endpoint of one window, in process.
func hopPair(t testing.TB) (client, server *hopEndpoint) {
	t.Helper()
	var pwa flipcall.PacketWindowAllocator
	if err := pwa.Init(); err != nil {
		t.Fatal(err)
	}
	defer pwa.Destroy()
	pwd, err := pwa.Allocate(hopWindow)
	if err != nil {
		t.Fatal(err)
	}
	client, server = &hopEndpoint{}, &hopEndpoint{}
	if err := client.ep.Init(flipcall.ClientSide, pwd); err != nil {
		t.Fatal(err)
	}
	if err := server.ep.Init(flipcall.ServerSide, pwd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.ep.Shutdown()
		server.ep.Shutdown()
	})
	return client, server
}

// serveOne runs the server side of a channel, as the session does,
// and returns what ended it.
func serveOne(server *hopEndpoint, handle func(*pb.Call)) error {
	dl, err := server.ep.RecvFirst()
	if err != nil {
		return err
	}
	for {
		_, _, msg, err := server.recv(dl, hopCall, MaxChannelCall)
		if err != nil {
			return err
		}
		call := new(pb.Call)
		if err := proto.Unmarshal(msg, call); err != nil {
			return err
		}
		handle(call)
		enc, _ := proto.Marshal(&pb.Reply{Seq: call.Seq})
		if dl, err = server.send(hopReply, 0, 0, enc); err != nil {
			return err
		}
	}
}

// datagram builds a raw datagram.
func datagram(kind, total uint32, payload []byte) []byte {
	b := make([]byte, hopHeaderLen, hopHeaderLen+len(payload))
	binary.LittleEndian.PutUint32(b[0:], kind)
	binary.LittleEndian.PutUint32(b[4:], total)
	return append(b, payload...)
}

// TestChannelGarbage: whatever a client puts in the window, the server's
// side of the channel ends with an error, without a panic or a hang.
func TestChannelGarbage(t *testing.T) {
	callBytes, _ := proto.Marshal(&pb.Call{Seq: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 39}}})
	cases := []struct {
		name string
		// sends are the datagrams the client sends in turn (each but
		// the last answered by the server).
		sends [][]byte
	}{
		{"short", [][]byte{{1, 2, 3}}},
		{"wrong kind", [][]byte{datagram(hopReply, uint32(len(callBytes)), callBytes)}},
		{"unknown kind", [][]byte{datagram(99, 0, nil)}},
		{"too large", [][]byte{datagram(hopCall, MaxChannelCall+1, nil)}},
		{"chunk past length", [][]byte{datagram(hopCall, 2, []byte{1, 2, 3})}},
		{"not a Call", [][]byte{datagram(hopCall, 5, []byte{0xff, 0xff, 0xff, 0xff, 0xff})}},
		{"empty continuation", [][]byte{datagram(hopCall, 10, []byte{1}), datagram(hopMore, 10, nil)}},
		{"continuation of another kind", [][]byte{datagram(hopCall, 10, []byte{1}), datagram(hopCall, 10, []byte{2})}},
		{"good then garbage", [][]byte{datagram(hopCall, uint32(len(callBytes)), callBytes), {0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, ended := connectedToServeOne(t)
			for _, d := range tc.sends {
				copy(client.ep.Data(), d)
				if _, err := client.ep.SendRecv(uint32(len(d))); err != nil {
					break
				}
			}
			select {
			case err := <-ended:
				if err == nil {
					t.Fatal("garbage served without an error")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server's side hangs on garbage")
			}
		})
	}
}

// connectedToServeOne makes a channel pair whose server side serves one
// call (then shuts down, as the session's channel does, so that its peer
// returns) and connects its client side; ended gets serveOne's error.
func connectedToServeOne(t testing.TB) (client *hopEndpoint, ended <-chan error) {
	t.Helper()
	client, server := hopPair(t)
	done := make(chan error, 1)
	go func() {
		err := serveOne(server, func(*pb.Call) {})
		server.ep.Shutdown()
		done <- err
	}()
	if err := client.ep.Connect(); err != nil {
		t.Fatal(err)
	}
	return client, done
}

// FuzzChannelDatagram: any first datagram gets an error or a decoded
// call, never a panic.
func FuzzChannelDatagram(f *testing.F) {
	callBytes, _ := proto.Marshal(&pb.Call{Seq: 7})
	f.Add(datagram(hopCall, uint32(len(callBytes)), callBytes))
	f.Add(datagram(hopCall, 1<<20, callBytes))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) > hopWindow-flipcall.PacketHeaderBytes {
			return
		}
		client, ended := connectedToServeOne(t)
		copy(client.ep.Data(), d)
		got, err := client.ep.SendRecv(uint32(len(d)))
		if err == nil && got >= hopHeaderLen {
			// A reply (a valid call) or an ack (a partial one): stop.
			client.ep.Shutdown()
		}
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("hang")
		}
	})
}

// BenchmarkHopRoundTrip runs the same call loop over the socket (the
// framed wire) and over a channel, interleaved in batches so that both
// see the same load, and reports each one's time and voluntary context
// switches (both ends are in this process) per call.
func BenchmarkHopRoundTrip(b *testing.B) {
	target := startHop(b, &hopServer{})
	c := dialHop(b, target, Options{Channels: true})
	ch := takeChannel(b, c)
	const batch = 100
	var seq uint64
	var sockNs, chanNs time.Duration
	var sockCsw, chanCsw int64
	var calls int
	b.ResetTimer()
	for calls < b.N {
		for _, viaChannel := range []bool{false, true} {
			csw0 := voluntarySwitches()
			t0 := time.Now()
			for i := 0; i < batch; i++ {
				seq++
				call := &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}
				var err error
				if viaChannel {
					_, err = ch.Call(call, ChannelStamp{sent: c.Sent()})
				} else {
					_, err = c.Call(context.Background(), call)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			d, csw := time.Since(t0), voluntarySwitches()-csw0
			if viaChannel {
				chanNs, chanCsw = chanNs+d, chanCsw+csw
			} else {
				sockNs, sockCsw = sockNs+d, sockCsw+csw
			}
		}
		calls += batch
	}
	b.ReportMetric(float64(sockNs.Nanoseconds())/float64(calls), "socket-ns/call")
	b.ReportMetric(float64(chanNs.Nanoseconds())/float64(calls), "channel-ns/call")
	b.ReportMetric(float64(sockCsw)/float64(calls), "socket-csw/call")
	b.ReportMetric(float64(chanCsw)/float64(calls), "channel-csw/call")
}

// voluntarySwitches is this process's count of voluntary context
// switches.
func voluntarySwitches() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Nvcsw
}

// TestChannelIdleClosed: a channel unused for channelIdle is closed (its
// server goroutine ends); one in use stays.
func TestChannelIdleClosed(t *testing.T) {
	s := &hopServer{}
	target := startHop(t, s)
	c := dialHop(t, target, Options{Channels: true, HeartbeatInterval: 20 * time.Millisecond})
	a, b := c.Channel(), c.Channel()
	if a == nil || b == nil {
		t.Fatal("no channel")
	}
	c.PutChannel(a)
	s.mu.Lock()
	st := s.streams[0]
	s.mu.Unlock()
	deadline := time.Now().Add(channelIdle + 10*time.Second)
	for liveChannels(st) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d channels live %v after one was given back, want 1", liveChannels(st), channelIdle)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.Call(&pb.Call{Seq: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{}}}, ChannelStamp{sent: c.Sent()}); err != nil {
		t.Fatalf("the channel in use: %v", err)
	}
	c.PutChannel(b)
	if ch := c.Channel(); ch != b {
		t.Fatal("the channel given back last is not reused")
	} else {
		c.PutChannel(ch)
	}
}
