package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// hopClient is a client session of the server whose thread calls go over
// a call channel.
type hopClient struct {
	t    testing.TB
	conn *transport.StreamConn
	mem  *appMem
	seq  uint64
}

func newHopClient(t *testing.T) *hopClient {
	return newHopClientConfig(t, nil)
}

// newHopClientConfig is newHopClient against a server whose Config
// config changes.
func newHopClientConfig(t testing.TB, config func(*Config)) *hopClient {
	return newHopClientOptions(t, config, nil)
}

// newHopClientOptions is newHopClientConfig with the transport's options
// changed by opts.
func newHopClientOptions(t testing.TB, config func(*Config), opts func(*transport.Options)) *hopClient {
	e := newEnvConfig(t, nil, config)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := transport.Options{
		Hello:             &sentrypb.Hello{ClientId: t.Name() + "-hop"},
		HeartbeatInterval: time.Second,
		Channels:          true,
	}
	if opts != nil {
		opts(&o)
	}
	conn, err := transport.Dial(ctx, "unix:"+e.sock, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if !conn.ChannelsEnabled() {
		t.Fatal("no channels on the framed wire over a Unix socket")
	}
	h := &hopClient{t: t, conn: conn, mem: newAppMem()}
	r := h.socket(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022}}})
	if r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	return h
}

func (h *hopClient) socket(c *sentrypb.Call) *sentrypb.Reply {
	h.t.Helper()
	h.seq++
	c.Seq = h.seq
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := h.conn.Call(ctx, c)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// syscall builds thread 1's call of sysno with its inputs from h.mem.
func (h *hopClient) syscall(sysno uintptr, args ...uint64) *sentrypb.Call {
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(sysno, a, h.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	h.seq++
	return &sentrypb.Call{Seq: h.seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: a[:], Inputs: inputs}}}
}

// channel makes thread 1's call of sysno over a channel and applies its
// outputs.
func (h *hopClient) channel(sysno uintptr, args ...uint64) *sentrypb.Reply {
	h.t.Helper()
	ch := h.conn.Channel()
	if ch == nil {
		h.t.Fatal("no channel")
	}
	defer h.conn.PutChannel(ch)
	r, err := h.callOn(ch, h.syscall(sysno, args...))
	if err != nil {
		h.t.Fatal(err)
	}
	h.mem.apply(r.Outputs)
	return r
}

// callOn makes call over ch, after the posted calls queued (which it
// carries, or which go on the socket before it).
func (h *hopClient) callOn(ch *transport.Channel, call *sentrypb.Call) (*sentrypb.Reply, error) {
	st, err := h.conn.StampChannel(call)
	if err != nil {
		return nil, err
	}
	return ch.Call(call, st)
}

// channelCreate creates and opens name over a channel and returns its fd.
func (h *hopClient) channelCreate(name string) uint64 {
	h.t.Helper()
	r := h.channel(unix.SYS_OPENAT, uint64(atFDCWD64), h.mem.str(name), unix.O_CREAT|unix.O_RDWR, 0o644)
	if r.Errno != 0 {
		h.t.Fatalf("open over a channel: errno %v", unix.Errno(r.Errno))
	}
	return uint64(r.Ret)
}

// channelSize is fd's st_size, from an fstat over a channel.
func (h *hopClient) channelSize(fd uint64) uint64 {
	h.t.Helper()
	stat := h.mem.zeros(256)
	if r := h.channel(unix.SYS_FSTAT, fd, stat); r.Errno != 0 {
		h.t.Fatalf("fstat over a channel: errno %v", unix.Errno(r.Errno))
	}
	// struct stat's st_size is at offset 48 on amd64.
	return binary.LittleEndian.Uint64(h.mem.bytes(stat+48, 8))
}

// TestChannelFollowsPostedCalls: a call over a channel runs after the
// posted calls the thread sent on the socket before it, even when the
// socket's reader is still reading them (a 1 MiB write behind), and its
// reply carries the records those calls changed.
func TestChannelFollowsPostedCalls(t *testing.T) {
	h := newHopClient(t)
	fd := h.channelCreate("/hop")
	for i := 1; i <= 5; i++ {
		data := bytes.Repeat([]byte{byte(i)}, 1<<20)
		buf := h.mem.alloc(data)
		w := h.syscall(unix.SYS_WRITE, fd, buf, uint64(len(data)))
		w.GetSyscall().Posted = true
		if _, err := h.conn.Go(w); err != nil {
			t.Fatal(err)
		}
		if size := h.channelSize(fd); size != uint64(i)<<20 {
			t.Fatalf("fstat over a channel after %d posted writes of 1 MiB: size %d", i, size)
		}
	}
}

// TestChannelCarriesPostedCalls: the posted calls queued before a call
// channel's call ride inside it (Call.posted_calls): they run before it,
// in order, and their replies come back with its reply, with no socket
// message either way.
func TestChannelCarriesPostedCalls(t *testing.T) {
	h := newHopClientOptions(t, nil, func(o *transport.Options) { o.PostDelay = transport.MaxPostDelay })
	fd := h.channelCreate("/hop")
	const rounds, writes, size = 3, 4, 1000
	for i := 1; i <= rounds; i++ {
		sentBefore, batchesBefore := h.conn.Sent(), h.conn.ChannelBatches()
		var replies []<-chan *sentrypb.Reply
		for j := 0; j < writes; j++ {
			buf := h.mem.alloc(bytes.Repeat([]byte{byte(j)}, size))
			w := h.syscall(unix.SYS_WRITE, fd, buf, size)
			w.GetSyscall().Posted = true
			ch, err := h.conn.GoPosted(w)
			if err != nil {
				t.Fatal(err)
			}
			replies = append(replies, ch)
		}
		if got, want := h.channelSize(fd), uint64(i*writes*size); got != want {
			t.Fatalf("round %d: fstat over a channel after the posted writes: size %d, want %d", i, got, want)
		}
		for j, ch := range replies {
			select {
			case pr := <-ch:
				if pr.Errno != 0 || pr.Ret != size {
					t.Errorf("round %d: posted write %d: ret %d errno %v", i, j, pr.Ret, unix.Errno(pr.Errno))
				}
			default:
				t.Errorf("round %d: the reply of posted write %d did not come with the channel's reply", i, j)
			}
		}
		if sent := h.conn.Sent() - sentBefore; sent != 0 {
			t.Errorf("round %d: %d socket messages for %d posted writes and a channel call; want 0", i, sent, writes)
		}
		if n := h.conn.ChannelBatches() - batchesBefore; n != 1 {
			t.Errorf("round %d: %d posted batches inside channel calls; want 1", i, n)
		}
	}
}

// TestBlockedChannelCallSendsHeldReplies: the replies of posted calls a
// call channel's call carried are held for that call's reply; when the
// call blocks (a read of an empty pipe), they go at once. The thread
// whose posted reply is held may be another than the blocked call's, and
// be waiting for it without sending anything (a getdents64 waiting for
// the listing ahead its posted call asked for, while cat's read of the
// pipe find writes to blocks: every such wait ran to the client's 100 ms
// deadline before).
func TestBlockedChannelCallSendsHeldReplies(t *testing.T) {
	// A heartbeat's answer would carry them: none comes in the test.
	h := newHopClientOptions(t, nil, func(o *transport.Options) { o.HeartbeatInterval = time.Minute })
	fds := h.mem.zeros(8)
	if r := h.channel(unix.SYS_PIPE2, fds, 0); r.Errno != 0 {
		t.Fatalf("pipe2: errno %v", unix.Errno(r.Errno))
	}
	rfd := uint64(binary.LittleEndian.Uint32(h.mem.bytes(fds, 4)))
	p := h.syscall(unix.SYS_UMASK, 022)
	p.GetSyscall().Posted = true
	posted, err := h.conn.GoPosted(p)
	if err != nil {
		t.Fatal(err)
	}
	ch := h.conn.Channel()
	if ch == nil {
		t.Fatal("no channel")
	}
	read := h.syscall(unix.SYS_READ, rfd, h.mem.zeros(16), 16)
	go func() {
		// It blocks until the session ends.
		_, _ = h.callOn(ch, read)
	}()
	select {
	case r := <-posted:
		if r == nil || r.Errno != 0 {
			t.Fatalf("posted umask: reply %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the posted call's reply stayed held while the channel call it rode in blocked")
	}
}
