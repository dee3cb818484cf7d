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
	e := newEnvConfig(t, nil, config)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, "unix:"+e.sock, transport.Options{
		Hello:             &sentrypb.Hello{ClientId: t.Name() + "-hop"},
		HeartbeatInterval: time.Second,
		Channels:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if !conn.ChannelsEnabled() {
		t.Fatal("no channels on the framed wire over a Unix socket")
	}
	h := &hopClient{t: t, conn: conn, mem: newAppMem()}
	r := h.socket(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: []string{busybox, "sh"}, Env: []string{"PATH=/bin"}, Cwd: "/", Umask: 022}}})
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
	r, err := ch.Call(h.syscall(sysno, args...), h.conn.Sent())
	if err != nil {
		h.t.Fatal(err)
	}
	h.mem.apply(r.Outputs)
	return r
}

// TestChannelFollowsPostedCalls: a call over a channel runs after the
// posted calls the thread sent on the socket before it, even when the
// socket's reader is still reading them (a 1 MiB write behind), and its
// reply carries the records those calls changed.
func TestChannelFollowsPostedCalls(t *testing.T) {
	h := newHopClient(t)
	path := h.mem.str("/hop")
	r := h.channel(unix.SYS_OPENAT, uint64(atFDCWD64), path, unix.O_CREAT|unix.O_RDWR, 0o644)
	if r.Errno != 0 {
		t.Fatalf("open over a channel: errno %v", unix.Errno(r.Errno))
	}
	fd := uint64(r.Ret)
	stat := h.mem.zeros(256)
	for i := 1; i <= 5; i++ {
		data := bytes.Repeat([]byte{byte(i)}, 1<<20)
		buf := h.mem.alloc(data)
		w := h.syscall(unix.SYS_WRITE, fd, buf, uint64(len(data)))
		w.GetSyscall().Posted = true
		if _, err := h.conn.Go(w); err != nil {
			t.Fatal(err)
		}
		r := h.channel(unix.SYS_FSTAT, fd, stat)
		if r.Errno != 0 {
			t.Fatalf("fstat over a channel: errno %v", unix.Errno(r.Errno))
		}
		// struct stat's st_size is at offset 48 on amd64.
		if size := binary.LittleEndian.Uint64(h.mem.bytes(stat+48, 8)); size != uint64(i)<<20 {
			t.Fatalf("fstat over a channel after %d posted writes of 1 MiB: size %d", i, size)
		}
	}
}
