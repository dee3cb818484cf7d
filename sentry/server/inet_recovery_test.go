package server

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// inetConn makes a loopback TCP connection on the client's netstack: a
// listener on 127.0.0.1 and a connected pair; it returns the fds.
func inetConn(r *replayer) (listener, client, accepted uint64) {
	r.t.Helper()
	m := r.mem
	listener = uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0))
	sa := make([]byte, 16)
	binary.LittleEndian.PutUint16(sa, unix.AF_INET)
	copy(sa[4:], []byte{127, 0, 0, 1})
	r.ok(1, unix.SYS_BIND, listener, m.alloc(sa), 16)
	r.ok(1, unix.SYS_LISTEN, listener, 4)
	name, nameLen := m.zeros(16), m.alloc([]byte{16, 0, 0, 0})
	r.ok(1, unix.SYS_GETSOCKNAME, listener, name, nameLen)
	client = uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0))
	r.ok(1, unix.SYS_CONNECT, client, m.alloc(m.bytes(name, 16)), 16)
	accepted = uint64(r.ok(1, unix.SYS_ACCEPT4, listener, 0, 0, 0))
	return listener, client, accepted
}

// asOutside makes the log's connected TCP sockets connections to a peer
// outside the sandbox (10.0.0.1, from 10.0.0.2), as a client whose
// sandbox reached the host would have recorded them: the replayer's
// server has only the loopback.
func (r *replayer) asOutside() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.log {
		k := rec.GetFile().GetKobj()
		if k == nil || !k.SocketConnected || k.SocketFamily != unix.AF_INET {
			continue
		}
		k.SocketBound = []byte{unix.AF_INET, 0, 0x9c, 0x40, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
		k.SocketPeer = []byte{unix.AF_INET, 0, 0, 80, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
		n++
	}
	if n == 0 {
		r.t.Fatal("no connected TCP socket in the log")
	}
}

// TestInetSendResentAfterRestore: a send on a TCP connection whose reply
// the server's death swallowed (its bytes may have reached the peer,
// which answered them: the chaos workload pod-network's listener then
// counted one answer fewer than its outside client got) is re-sent after
// the Restore that brings the connection back lost. To a peer outside
// the sandbox it succeeds with its whole count, as a send the reset came
// after does, and the connection's next I/O takes the reset; to a peer
// inside (loopback), which comes back reset too and never reads those
// bytes, it fails with ECONNRESET, then reads see end of file.
func TestInetSendResentAfterRestore(t *testing.T) {
	for _, call := range []struct {
		name  string
		sysno uintptr
		args  func(r *replayer, fd, buf uint64, n int) []uint64
	}{
		{"write", unix.SYS_WRITE, func(r *replayer, fd, buf uint64, n int) []uint64 { return []uint64{fd, buf, uint64(n)} }},
		{"sendto", unix.SYS_SENDTO, func(r *replayer, fd, buf uint64, n int) []uint64 {
			return []uint64{fd, buf, uint64(n), unix.MSG_NOSIGNAL, 0, 0}
		}},
		{"writev", unix.SYS_WRITEV, func(r *replayer, fd, buf uint64, n int) []uint64 {
			iov := make([]byte, 32)
			binary.LittleEndian.PutUint64(iov, buf)
			binary.LittleEndian.PutUint64(iov[8:], 2)
			binary.LittleEndian.PutUint64(iov[16:], buf+2)
			binary.LittleEndian.PutUint64(iov[24:], uint64(n-2))
			return []uint64{fd, r.mem.alloc(iov), 2}
		}},
	} {
		for _, outside := range []bool{true, false} {
			name := call.name + "/inside"
			if outside {
				name = call.name + "/outside"
			}
			t.Run(name, func(t *testing.T) {
				r := newReplayer(t)
				r.start()
				_, client, accepted := inetConn(r)
				msg := "pong 7\n"
				// The first server sends the answer; its reply is lost.
				c := r.syscallCall(1, call.sysno, call.args(r, accepted, r.mem.alloc([]byte(msg)), len(msg))...)
				if rep := r.call(c, true); rep.Errno != 0 || rep.Ret != int64(len(msg)) {
					t.Fatalf("%s on the first server: %v", call.name, rep)
				}
				if s := r.readStr(1, client, 16); s != msg {
					t.Fatalf("the peer read %q, want %q", s, msg)
				}
				if outside {
					r.asOutside()
				}
				if rep := r.recover(nil); rep.Ret != 0 {
					t.Fatalf("Restore lost %d objects", rep.Ret)
				}
				// The client re-sends it with its seq, below the Restore's.
				buf := r.mem.zeros(8)
				rep := r.call(c, false)
				if !outside {
					if rep.Errno != int32(unix.ECONNRESET) {
						t.Errorf("%s re-sent to a peer inside: ret %d errno %v, want ECONNRESET", call.name, rep.Ret, unix.Errno(rep.Errno))
					}
					if rep := r.sys(1, unix.SYS_READ, accepted, buf, 8); rep.Errno != 0 || rep.Ret != 0 {
						t.Errorf("then read: ret %d errno %v, want end of file", rep.Ret, unix.Errno(rep.Errno))
					}
					return
				}
				if rep.Errno != 0 || rep.Ret != int64(len(msg)) {
					t.Errorf("%s re-sent to a peer outside: ret %d errno %v, want %d (the bytes may have gone out)",
						call.name, rep.Ret, unix.Errno(rep.Errno), len(msg))
				}
				// A new call takes the reset, then end of file.
				if rep := r.sys(1, unix.SYS_READ, accepted, buf, 8); rep.Errno != int32(unix.ECONNRESET) {
					t.Errorf("read after the re-sent %s: ret %d errno %v, want ECONNRESET", call.name, rep.Ret, unix.Errno(rep.Errno))
				}
				if rep := r.sys(1, unix.SYS_READ, accepted, buf, 8); rep.Errno != 0 || rep.Ret != 0 {
					t.Errorf("then read: ret %d errno %v, want end of file", rep.Ret, unix.Errno(rep.Errno))
				}
				// A send made after the restore is not re-sent: EPIPE.
				if rep := r.sys(1, unix.SYS_SENDTO, accepted, r.mem.alloc([]byte(msg)), uint64(len(msg)), unix.MSG_NOSIGNAL, 0, 0); rep.Errno != int32(unix.EPIPE) {
					t.Errorf("a new send: ret %d errno %v, want EPIPE", rep.Ret, unix.Errno(rep.Errno))
				}
			})
		}
	}
}

// TestInetLostConnectionSecondRestore: a connection that came back lost
// stays a lost connection to the same peer across the next restore,
// even once its description was reported again (a flags change): not a
// fresh unconnected socket (ENOTCONN, which Linux never gives a socket
// once connected), and a send in flight at the second kill, to its
// peer outside, succeeds when re-sent.
func TestInetLostConnectionSecondRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	_, client, _ := inetConn(r)
	r.asOutside()
	r.recover(nil)
	r.ok(1, unix.SYS_FCNTL, client, unix.F_SETFL, unix.O_NONBLOCK)
	msg := r.mem.alloc([]byte("req 3"))
	c := r.syscallCall(1, unix.SYS_SENDTO, client, msg, 5, unix.MSG_NOSIGNAL, 0, 0)
	if rep := r.call(c, true); rep.Errno != int32(unix.ECONNRESET) {
		t.Errorf("send after the first restore: ret %d errno %v, want ECONNRESET", rep.Ret, unix.Errno(rep.Errno))
	}
	r.recover(nil)
	if rep := r.call(c, false); rep.Errno != 0 || rep.Ret != 5 {
		t.Errorf("the send re-sent after the second restore: ret %d errno %v, want 5", rep.Ret, unix.Errno(rep.Errno))
	}
	buf := r.mem.zeros(8)
	if rep := r.sys(1, unix.SYS_READ, client, buf, 8); rep.Errno != int32(unix.ECONNRESET) {
		t.Errorf("read after the second restore: ret %d errno %v, want ECONNRESET", rep.Ret, unix.Errno(rep.Errno))
	}
	if rep := r.sys(1, unix.SYS_SENDTO, client, buf, 8, unix.MSG_NOSIGNAL, 0, 0); rep.Errno != int32(unix.EPIPE) {
		t.Errorf("send after the second restore: ret %d errno %v, want EPIPE", rep.Ret, unix.Errno(rep.Errno))
	}
}

// TestInetNonblockingConnectRestore: a non-blocking connect (EINPROGRESS)
// to a loopback listener, on the client's netstack or the host's, whose
// server is killed while the handshake is under way (the listener's
// queue is full: its SYN is dropped), before the accept, or after the
// connection completed and was seen only by poll (no later call on the
// socket) comes back as the connection it was, lost: its peer is kept in
// the record and its next I/O takes the reset (ECONNRESET, then end of
// file and EPIPE), not a fresh unconnected socket (ENOTCONN, which Linux
// never gives a socket once connected).
func TestInetNonblockingConnectRestore(t *testing.T) {
	const (
		synSent = iota
		beforeAccept
		polled
	)
	for _, network := range []string{NetworkNone, NetworkHost} {
		for when, whenName := range []string{"syn-sent", "before-accept", "polled"} {
			t.Run(network+"/"+whenName, func(t *testing.T) {
				r := newReplayerNetwork(t, network)
				r.start()
				m := r.mem
				listener := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0))
				sa := make([]byte, 16)
				binary.LittleEndian.PutUint16(sa, unix.AF_INET)
				copy(sa[4:], []byte{127, 0, 0, 1})
				r.ok(1, unix.SYS_BIND, listener, m.alloc(sa), 16)
				backlog := uint64(4)
				if when == synSent {
					backlog = 0
				}
				r.ok(1, unix.SYS_LISTEN, listener, backlog)
				name, nameLen := m.zeros(16), m.alloc([]byte{16, 0, 0, 0})
				r.ok(1, unix.SYS_GETSOCKNAME, listener, name, nameLen)
				peer := m.bytes(name, 16)
				if when == synSent {
					// One connection fills the queue of a backlog of 0
					// on Linux (netstack's takes none).
					filler := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0))
					if rep := r.sys(1, unix.SYS_CONNECT, filler, m.alloc(peer), 16); rep.Errno != 0 && rep.Errno != int32(unix.EINPROGRESS) {
						t.Fatalf("first connect: errno %v", unix.Errno(rep.Errno))
					}
				}
				client := uint64(r.ok(1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0))
				rep := r.sys(1, unix.SYS_CONNECT, client, m.alloc(peer), 16)
				if when == synSent && rep.Errno != int32(unix.EINPROGRESS) {
					t.Fatalf("non-blocking connect to a full queue: ret %d errno %v, want EINPROGRESS", rep.Ret, unix.Errno(rep.Errno))
				}
				if rep.Errno != 0 && rep.Errno != int32(unix.EINPROGRESS) {
					t.Fatalf("non-blocking connect: errno %v", unix.Errno(rep.Errno))
				}
				pfd := make([]byte, 8)
				binary.LittleEndian.PutUint32(pfd, uint32(client))
				binary.LittleEndian.PutUint16(pfd[4:], unix.POLLOUT)
				a := m.alloc(pfd)
				switch when {
				case synSent:
					if n := r.ok(1, unix.SYS_POLL, a, 1, 50); n != 0 {
						t.Fatalf("poll: %d ready, want the handshake under way", n)
					}
				case polled:
					if n := r.ok(1, unix.SYS_POLL, a, 1, 5000); n != 1 {
						t.Fatalf("poll: %d ready, want 1", n)
					}
					if ev := binary.LittleEndian.Uint16(m.bytes(a+6, 2)); ev != unix.POLLOUT {
						t.Fatalf("poll: revents %#x, want POLLOUT", ev)
					}
				}
				// The log has the socket connected to the listener, from
				// its own bound port.
				recs := r.records()
				id := fdRecordFile(t, recs, int32(client))
				var k *sentrypb.KernelObjectState
				for _, rec := range recs {
					if f := rec.GetFile(); f != nil && id != 0 && f.Id == id {
						k = f.Kobj
					}
				}
				if k == nil {
					t.Fatal("no record of the connecting socket")
				}
				if !k.SocketConnected || !bytes.Equal(k.SocketPeer, peer) || len(k.SocketBound) != 16 || binary.BigEndian.Uint16(k.SocketBound[2:]) == 0 {
					t.Errorf("the socket's record: connected %v peer %v bound %v, want connected to %v from a port",
						k.SocketConnected, k.SocketPeer, k.SocketBound, peer)
				}
				r.recover(nil)
				// getpeername: ENOTCONN, as on Linux after a reset.
				pname, pnameLen := m.zeros(16), m.alloc([]byte{16, 0, 0, 0})
				if rep := r.sys(1, unix.SYS_GETPEERNAME, client, pname, pnameLen); rep.Errno != int32(unix.ENOTCONN) {
					t.Errorf("getpeername: ret %d errno %v, want ENOTCONN", rep.Ret, unix.Errno(rep.Errno))
				}
				msg := m.alloc([]byte("req 1"))
				if rep := r.sys(1, unix.SYS_SENDTO, client, msg, 5, unix.MSG_NOSIGNAL, 0, 0); rep.Errno != int32(unix.ECONNRESET) {
					t.Errorf("send: ret %d errno %v, want ECONNRESET", rep.Ret, unix.Errno(rep.Errno))
				}
				buf := m.zeros(8)
				if rep := r.sys(1, unix.SYS_READ, client, buf, 8); rep.Errno != 0 || rep.Ret != 0 {
					t.Errorf("then read: ret %d errno %v, want end of file", rep.Ret, unix.Errno(rep.Errno))
				}
				if rep := r.sys(1, unix.SYS_SENDTO, client, msg, 5, unix.MSG_NOSIGNAL, 0, 0); rep.Errno != int32(unix.EPIPE) {
					t.Errorf("then send: ret %d errno %v, want EPIPE", rep.Ret, unix.Errno(rep.Errno))
				}
				// The listener is back and its queue empty.
				r.ok(1, unix.SYS_FCNTL, listener, unix.F_SETFL, unix.O_NONBLOCK)
				if rep := r.sys(1, unix.SYS_ACCEPT4, listener, 0, 0, 0); rep.Errno != int32(unix.EAGAIN) {
					t.Errorf("accept: ret %d errno %v, want EAGAIN", rep.Ret, unix.Errno(rep.Errno))
				}
			})
		}
	}
}

// TestInetLostConnectionErrors: a connection that came back lost, on the
// client's netstack or the host's, reports what Linux reports for a
// reset connection: poll says readable, writable, hung up and in error
// (tcp_poll) until the reset is taken, by getsockopt(SO_ERROR)
// (ECONNRESET once, then 0) or by a read (ECONNRESET); then poll no
// longer says POLLERR, reads see end of file and sends fail with EPIPE.
func TestInetLostConnectionErrors(t *testing.T) {
	const hup = unix.POLLIN | unix.POLLOUT | unix.POLLHUP | unix.POLLRDHUP
	for _, network := range []string{NetworkNone, NetworkHost} {
		for _, first := range []string{"SO_ERROR", "read"} {
			t.Run(network+"/"+first, func(t *testing.T) {
				r := newReplayerNetwork(t, network)
				r.start()
				m := r.mem
				_, client, _ := inetConn(r)
				r.recover(nil)
				pfd := make([]byte, 8)
				binary.LittleEndian.PutUint32(pfd, uint32(client))
				binary.LittleEndian.PutUint16(pfd[4:], unix.POLLIN|unix.POLLOUT|unix.POLLRDHUP)
				a := m.alloc(pfd)
				revents := func() uint16 {
					t.Helper()
					if n := r.ok(1, unix.SYS_POLL, a, 1, 0); n != 1 {
						t.Fatalf("poll: %d ready, want 1", n)
					}
					return binary.LittleEndian.Uint16(m.bytes(a+6, 2))
				}
				soError := func() int32 {
					t.Helper()
					val, valLen := m.zeros(4), m.alloc([]byte{4, 0, 0, 0})
					r.ok(1, unix.SYS_GETSOCKOPT, client, unix.SOL_SOCKET, unix.SO_ERROR, val, valLen)
					return int32(m.u32(val))
				}
				if ev := revents(); ev != hup|unix.POLLERR {
					t.Errorf("poll after the restore: revents %#x, want %#x", ev, hup|unix.POLLERR)
				}
				buf := m.zeros(8)
				if first == "SO_ERROR" {
					if e := soError(); e != int32(unix.ECONNRESET) {
						t.Errorf("SO_ERROR = %d, want ECONNRESET", e)
					}
				} else if rep := r.sys(1, unix.SYS_READ, client, buf, 8); rep.Errno != int32(unix.ECONNRESET) {
					t.Errorf("read: ret %d errno %v, want ECONNRESET", rep.Ret, unix.Errno(rep.Errno))
				}
				if e := soError(); e != 0 {
					t.Errorf("SO_ERROR after the reset was taken = %d, want 0", e)
				}
				if ev := revents(); ev != hup {
					t.Errorf("poll after the reset was taken: revents %#x, want %#x", ev, hup)
				}
				if rep := r.sys(1, unix.SYS_READ, client, buf, 8); rep.Errno != 0 || rep.Ret != 0 {
					t.Errorf("then read: ret %d errno %v, want end of file", rep.Ret, unix.Errno(rep.Errno))
				}
				if rep := r.sys(1, unix.SYS_SENDTO, client, buf, 8, unix.MSG_NOSIGNAL, 0, 0); rep.Errno != int32(unix.EPIPE) {
					t.Errorf("then send: ret %d errno %v, want EPIPE", rep.Ret, unix.Errno(rep.Errno))
				}
			})
		}
	}
}
