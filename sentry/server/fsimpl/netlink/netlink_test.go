package netlink

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
)

// router answers each request with copies of answer, and records the
// port asked for.
type router struct {
	answer []byte
	copies int
	port   int32
	err    error
}

func (r *router) NetlinkRoute(port int32, _ []byte) ([][]byte, error) {
	r.port = port
	var out [][]byte
	for range r.copies {
		out = append(out, r.answer)
	}
	return out, r.err
}

func TestSendRecv(t *testing.T) {
	r := &router{answer: []byte("answer"), copies: 2}
	f := New(r, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{Pid: 33}
	if ev, _ := n.Readiness(f); ev&unix.POLLIN != 0 {
		t.Errorf("readable with no answer: %#x", ev)
	}
	if got, err := n.Send(c, []byte("req")); got != 3 || err != nil {
		t.Fatalf("Send = %d, %v", got, err)
	}
	if r.port != 33 {
		t.Errorf("autobound port %d, want the caller's pid 33", r.port)
	}
	if sa := n.Sockaddr(); binary.LittleEndian.Uint32(sa[4:]) != 33 {
		t.Errorf("Sockaddr() = %v", sa)
	}
	n.Bind(c, 99) // already bound: no change
	if sa := n.Sockaddr(); binary.LittleEndian.Uint32(sa[4:]) != 33 {
		t.Errorf("Bind of a bound socket changed its port: %v", sa)
	}
	if ev, _ := n.Readiness(f); ev&unix.POLLIN == 0 {
		t.Errorf("not readable with answers: %#x", ev)
	}
	for _, tc := range []struct {
		name    string
		size    int
		flags   int
		want    string
		wantLen int64
		wantErr error
	}{
		{name: "peek", size: 16, flags: unix.MSG_PEEK, want: "answer", wantLen: 6},
		{name: "truncated", size: 3, want: "ans", wantLen: 6},
		{name: "next", size: 16, want: "answer", wantLen: 6},
		{name: "empty", size: 16, wantErr: unix.EAGAIN},
	} {
		b := make([]byte, tc.size)
		got, l, err := n.Recv(c, f, usermem.BytesIOSequence(b), tc.flags)
		if err != tc.wantErr || l != tc.wantLen || string(b[:got]) != tc.want {
			t.Errorf("%s: Recv = %q, %d, %v; want %q, %d, %v", tc.name, b[:got], l, err, tc.want, tc.wantLen, tc.wantErr)
		}
	}
}

// TestOverrun: answers past RcvBuf are dropped and the next recv fails
// once with ENOBUFS.
func TestOverrun(t *testing.T) {
	r := &router{answer: bytes.Repeat([]byte("x"), RcvBuf/2+1), copies: 2}
	f := New(r, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{}
	n.SetPort(5)
	n.Send(c, nil)
	if r.port != 5 {
		t.Errorf("port %d, want the one set, 5", r.port)
	}
	b := make([]byte, RcvBuf)
	if _, _, err := n.Recv(c, f, usermem.BytesIOSequence(b), 0); err != unix.ENOBUFS {
		t.Errorf("first Recv = %v, want ENOBUFS", err)
	}
	if got, _, err := n.Recv(c, f, usermem.BytesIOSequence(b), 0); err != nil || got != int64(RcvBuf/2+1) {
		t.Errorf("then Recv = %d, %v; want the answer that fit", got, err)
	}
	r.err = unix.EIO
	if _, err := n.Send(c, nil); err != unix.EIO {
		t.Errorf("Send with a failing router = %v, want EIO", err)
	}
}

// TestQueueKernel: a datagram from the kernel (mq_notify's cookie) is
// queued even past RcvBuf, wakes a waiter and is received whole.
func TestQueueKernel(t *testing.T) {
	r := &router{answer: bytes.Repeat([]byte("x"), RcvBuf), copies: 1}
	f := New(r, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{}
	n.Send(c, nil) // the receive buffer is full
	_, ch := n.Readiness(f)
	cookie := bytes.Repeat([]byte{7}, 32)
	n.QueueKernel(cookie)
	select {
	case <-ch:
	default:
		t.Error("QueueKernel did not wake the socket's waiters")
	}
	b := make([]byte, RcvBuf)
	if got, _, err := n.Recv(c, f, usermem.BytesIOSequence(b), 0); err != nil || got != RcvBuf {
		t.Fatalf("first Recv = %d, %v; want the answer", got, err)
	}
	if got, _, err := n.Recv(c, f, usermem.BytesIOSequence(b), 0); err != nil || !bytes.Equal(b[:got], cookie) {
		t.Errorf("then Recv = %x, %v; want the cookie past RcvBuf", b[:got], err)
	}
}
