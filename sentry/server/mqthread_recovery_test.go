package server

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mqThreadNotify registers SIGEV_THREAD on queue q with netlink socket
// sock and a 32-byte cookie of bytes 1..32 (returned).
func (r *replayer) mqThreadNotify(q, sock uint64) []byte {
	cookie := make([]byte, 32)
	for i := range cookie {
		cookie[i] = byte(i + 1)
	}
	sev := make([]byte, 64)
	binary.LittleEndian.PutUint64(sev[0:], r.mem.alloc(cookie))
	binary.LittleEndian.PutUint32(sev[8:], uint32(sock))
	binary.LittleEndian.PutUint32(sev[12:], 2) // SIGEV_THREAD
	r.ok(1, unix.SYS_MQ_NOTIFY, q, r.mem.alloc(sev))
	return cookie
}

// recvCookie receives one datagram from netlink socket fd without
// waiting and checks it is cookie with last byte how.
func (r *replayer) recvCookie(t *testing.T, fd uint64, cookie []byte, how byte) {
	t.Helper()
	buf := r.mem.zeros(64)
	rep := r.sys(1, unix.SYS_RECVFROM, fd, buf, 64, unix.MSG_DONTWAIT, 0, 0)
	r.mem.apply(rep.Outputs)
	want := append([]byte(nil), cookie...)
	want[31] = how
	if rep.Errno != 0 || rep.Ret != 32 || string(r.mem.bytes(buf, 32)) != string(want) {
		t.Fatalf("recv: ret %d errno %v %x, want the cookie %x", rep.Ret, unix.Errno(rep.Errno), r.mem.bytes(buf, max(int(rep.Ret), 0)), want)
	}
}

// TestMqueueThreadRecovery: a SIGEV_THREAD registration comes back after
// a server failure, naming its netlink socket (here by an fd other than
// the one it was registered with), and fires there: the socket receives
// the cookie with NOTIFY_WOKENUP.
func TestMqueueThreadRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	sock := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE))
	q := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-thread"), unix.O_CREAT|unix.O_RDWR, 0600, r.mem.mqAttr(0, 4, 32)))
	cookie := r.mqThreadNotify(q, sock)
	other := uint64(r.ok(1, unix.SYS_DUP, sock))
	r.ok(1, unix.SYS_CLOSE, sock)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	line := r.mem.zeros(80)
	n := r.ok(1, unix.SYS_READ, q, line, 80)
	if s := string(r.mem.bytes(line, int(n))); !strings.Contains(s, "NOTIFY:2     SIGNO:0 ") || !strings.Contains(s, "NOTIFY_PID:1 ") {
		t.Fatalf("status line after the restore: %q", s)
	}
	r.fails(unix.EAGAIN, unix.SYS_RECVFROM, other, r.mem.zeros(64), 64, unix.MSG_DONTWAIT, 0, 0)
	r.ok(1, unix.SYS_MQ_TIMEDSEND, q, r.mem.str("x"), 1, 0, 0)
	r.recvCookie(t, other, cookie, 1)
}

// TestMqueueThreadCookieRecovery: the cookie a fired registration queued
// on its netlink socket survives a server failure: received after it
// (the send answered before), received once by a recv whose reply was
// lost and is re-sent, and queued once when the firing send's reply was
// lost and it is re-sent.
func TestMqueueThreadCookieRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	sock := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE))
	q := uint64(r.ok(1, unix.SYS_MQ_OPEN, r.mem.str("rd-cookie"), unix.O_CREAT|unix.O_RDWR, 0600, r.mem.mqAttr(0, 4, 32)))
	buf := r.mem.zeros(32)

	// Fired before the failure, received after it.
	cookie := r.mqThreadNotify(q, sock)
	r.ok(1, unix.SYS_MQ_TIMEDSEND, q, r.mem.str("x"), 1, 0, 0)
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	r.recvCookie(t, sock, cookie, 1)
	r.fails(unix.EAGAIN, unix.SYS_RECVFROM, sock, r.mem.zeros(64), 64, unix.MSG_DONTWAIT, 0, 0)
	r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, 0, 0)

	// A recv whose reply was lost takes the same cookie when re-sent.
	r.mqThreadNotify(q, sock)
	r.ok(1, unix.SYS_MQ_TIMEDSEND, q, r.mem.str("y"), 1, 0, 0)
	rbuf := r.mem.zeros(64)
	lost := r.syscallCall(1, unix.SYS_RECVFROM, sock, rbuf, 64, unix.MSG_DONTWAIT, 0, 0)
	if rep := r.call(lost, true); rep.Errno != 0 || rep.Ret != 32 {
		t.Fatalf("recv: ret %d errno %v", rep.Ret, unix.Errno(rep.Errno))
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	rep := r.call(lost, false)
	r.mem.apply(rep.Outputs)
	if rep.Errno != 0 || rep.Ret != 32 || r.mem.bytes(rbuf, 32)[31] != 1 {
		t.Fatalf("re-sent recv: ret %d errno %v %x, want the cookie", rep.Ret, unix.Errno(rep.Errno), r.mem.bytes(rbuf, 32))
	}
	r.fails(unix.EAGAIN, unix.SYS_RECVFROM, sock, r.mem.zeros(64), 64, unix.MSG_DONTWAIT, 0, 0)
	r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, 0, 0)

	// The firing send's reply lost: re-sent, it fires once.
	r.mqThreadNotify(q, sock)
	send := r.syscallCall(1, unix.SYS_MQ_TIMEDSEND, q, r.mem.str("z"), 1, 0, 0)
	if rep := r.call(send, true); rep.Errno != 0 {
		t.Fatalf("send: errno %v", unix.Errno(rep.Errno))
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if rep := r.call(send, false); rep.Errno != 0 {
		t.Fatalf("re-sent send: errno %v", unix.Errno(rep.Errno))
	}
	r.recvCookie(t, sock, cookie, 1)
	r.fails(unix.EAGAIN, unix.SYS_RECVFROM, sock, r.mem.zeros(64), 64, unix.MSG_DONTWAIT, 0, 0)
	if n := r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, 0, 0); n != 1 {
		t.Errorf("the queue held %d bytes, want the one message", n)
	}
	// Empty: a receive with a past timeout times out.
	r.fails(unix.ETIMEDOUT, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 32, 0, r.mem.zeros(16))
}
