package netlink

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
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

func (r *router) Answer(port int32, _ []byte) ([][]byte, error) {
	r.port = port
	var out [][]byte
	for range r.copies {
		out = append(out, r.answer)
	}
	return out, r.err
}

func TestSendRecv(t *testing.T) {
	r := &router{answer: []byte("answer"), copies: 2}
	f := New(r, unix.NETLINK_ROUTE, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{Pid: 33}
	if ev, _ := n.Readiness(f); ev&unix.POLLIN != 0 {
		t.Errorf("readable with no answer: %#x", ev)
	}
	if got, err := n.Send(c, f, []byte("req")); got != 3 || err != nil {
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
	f := New(r, unix.NETLINK_ROUTE, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{}
	n.SetPort(5)
	n.Send(c, f, nil)
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
	if _, err := n.Send(c, f, nil); err != unix.EIO {
		t.Errorf("Send with a failing router = %v, want EIO", err)
	}
}

// TestQueueKernel: a datagram from the kernel (mq_notify's cookie) is
// queued even past RcvBuf, wakes a waiter and is received whole.
func TestQueueKernel(t *testing.T) {
	r := &router{answer: bytes.Repeat([]byte("x"), RcvBuf), copies: 1}
	f := New(r, unix.NETLINK_ROUTE, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	c := &fdesctest.Call{}
	n.Send(c, f, nil) // the receive buffer is full
	_, ch := n.Readiness(f)
	cookie := bytes.Repeat([]byte{7}, 32)
	n.QueueKernel(nil, f, cookie)
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

// recorder is a call that commits its queue changes with its reply.
type recorder struct {
	fdesctest.Call
	changes []change
}

type change struct {
	d      *Datagram
	queued bool
}

func (r *recorder) RecordNetlink(_ *File, _ *fdesc.File, d *Datagram, queued bool) bool {
	r.changes = append(r.changes, change{d, queued})
	return true
}

// reply commits r's changes on n, as the server does with its reply.
func (r *recorder) reply(n *File) {
	for _, ch := range r.changes {
		n.Commit(ch.d, ch.queued)
	}
	r.changes = nil
}

func queuedStrings(n *File) []string {
	var out []string
	for _, d := range n.Queued() {
		out = append(out, string(d))
	}
	return out
}

// TestQueuedRecord: the record holds the datagrams as the answered calls
// left them: a send's answers once its reply is built, a datagram a recv
// took until the recv's reply is built, the kernel's own outside a call
// at once; a restored socket gets them back in order.
func TestQueuedRecord(t *testing.T) {
	r := &router{answer: []byte("answer"), copies: 1}
	f := New(r, unix.NETLINK_ROUTE, unix.O_NONBLOCK)
	defer f.DecRef()
	n := f.Impl.(*File)
	send := &recorder{}
	n.Send(send, f, []byte("req"))
	if got := queuedStrings(n); len(got) != 0 {
		t.Errorf("record %q before the send's reply, want none", got)
	}
	send.reply(n)
	n.QueueKernel(nil, f, []byte("cookie"))
	if got := queuedStrings(n); len(got) != 2 || got[0] != "answer" || got[1] != "cookie" {
		t.Fatalf("record %q, want [answer cookie]", got)
	}
	recv := &recorder{}
	b := make([]byte, 16)
	if got, _, err := n.Recv(recv, f, usermem.BytesIOSequence(b), 0); err != nil || string(b[:got]) != "answer" {
		t.Fatalf("Recv = %q, %v", b[:got], err)
	}
	if got := queuedStrings(n); len(got) != 2 || got[0] != "answer" {
		t.Errorf("record %q with the recv's reply not built, want [answer cookie]", got)
	}
	// Restored now, the re-sent recv takes the same datagram.
	rf := New(r, unix.NETLINK_ROUTE, unix.O_NONBLOCK)
	defer rf.DecRef()
	rn := rf.Impl.(*File)
	if err := rn.Restore(n.Queued()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"answer", "cookie"} {
		if got, _, err := rn.Recv(&fdesctest.Call{}, rf, usermem.BytesIOSequence(b), 0); err != nil || string(b[:got]) != want {
			t.Errorf("restored Recv = %q, %v; want %q", b[:got], err, want)
		}
	}
	recv.reply(n)
	if got := queuedStrings(n); len(got) != 1 || got[0] != "cookie" {
		t.Errorf("record %q after the recv's reply, want [cookie]", got)
	}
	// A datagram taken by a recv answered before the call that queued
	// it never enters the record.
	kernel := &recorder{}
	n.QueueKernel(kernel, f, []byte("late"))
	n.Recv(&fdesctest.Call{}, f, usermem.BytesIOSequence(b), 0) // the cookie, committed at once
	recv2 := &recorder{}
	n.Recv(recv2, f, usermem.BytesIOSequence(b), 0)
	recv2.reply(n)
	kernel.reply(n)
	if got := queuedStrings(n); len(got) != 0 {
		t.Errorf("record %q, want none", got)
	}
	if err := rn.Restore([][]byte{make([]byte, MaxRestored+1)}); err != unix.EINVAL {
		t.Errorf("Restore of too much = %v, want EINVAL", err)
	}
}
