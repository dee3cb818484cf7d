package socket

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"
)

// loopback4 is sockaddr_in 127.0.0.1:port.
func loopback4(port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], []byte{127, 0, 0, 1})
	return b
}

// waitReady waits until s is ready for mask, through its Watch (the
// fdnotifier path poll and epoll use).
func waitReady(t *testing.T, s *HostInet, mask uint32) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := s.Watch.Changed()
		if s.Readiness()&mask != 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("not ready for %#x (readiness %#x)", mask, s.Readiness())
		}
	}
}

func TestHostInetTCP(t *testing.T) {
	l, err := NewHostInet(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.Bind(loopback4(0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(4); err != nil {
		t.Fatal(err)
	}
	if !l.Listening() {
		t.Fatal("not listening after Listen")
	}
	name, err := l.Name(false)
	if err != nil || len(name) != 16 || binary.BigEndian.Uint16(name[2:]) == 0 {
		t.Fatalf("Name = %v, %v", name, err)
	}
	if _, _, err := l.Accept(); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Accept with no connection: %v, want EAGAIN", err)
	}
	c, err := NewHostInet(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if err := c.Connect(name); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatal(err)
	}
	waitReady(t, l, unix.POLLIN)
	a, peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if len(peer) != 16 {
		t.Errorf("peer address %v", peer)
	}
	waitReady(t, c, unix.POLLOUT)
	if err := c.SockError(); err != nil {
		t.Fatalf("SO_ERROR after connect: %v", err)
	}
	if n, _, _, err := a.Recv(usermem.BytesIOSequence(make([]byte, 8)), 0); !errors.Is(err, unix.EAGAIN) || n != 0 {
		t.Fatalf("Recv with nothing queued: %d, %v; want EAGAIN", n, err)
	}
	msg := []byte("hello host")
	if n, err := c.Send(usermem.BytesIOSequence(msg), nil, 0); err != nil || n != int64(len(msg)) {
		t.Fatalf("Send = %d, %v", n, err)
	}
	waitReady(t, a, unix.POLLIN)
	if q, err := a.Queued(); err != nil || q != len(msg) {
		t.Errorf("Queued = %d, %v; want %d", q, err, len(msg))
	}
	buf := make([]byte, 64)
	n, total, _, err := a.Recv(usermem.BytesIOSequence(buf), unix.MSG_PEEK)
	if err != nil || n != int64(len(msg)) || total != n {
		t.Fatalf("Recv(MSG_PEEK) = %d, %d, %v", n, total, err)
	}
	n, _, _, err = a.Recv(usermem.BytesIOSequence(buf), 0)
	if err != nil || string(buf[:n]) != string(msg) {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
	if err := c.Shutdown(unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a, unix.POLLIN|unix.POLLRDHUP)
	if n, _, _, err := a.Recv(usermem.BytesIOSequence(buf), 0); n != 0 || err != nil {
		t.Fatalf("Recv after the peer's shutdown = %d, %v; want end of file", n, err)
	}
	if v, err := a.GetSockopt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 4); err != nil || binary.LittleEndian.Uint32(v) != 1 {
		t.Errorf("host SO_REUSEADDR of an accepted socket = %v, %v; want 1 (inherited)", v, err)
	}
}

func TestHostInetUDP(t *testing.T) {
	a, err := NewHostInet(unix.AF_INET, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := NewHostInet(unix.AF_INET, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if err := b.Bind(loopback4(0)); err != nil {
		t.Fatal(err)
	}
	to, err := b.Name(false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		size    int
		recvBuf int
		wantErr error
	}{
		{"small", 5, 64, nil},
		{"truncated", 100, 10, nil},
		{"too big", maxDatagram + 1, 64, unix.EMSGSIZE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := a.Send(usermem.BytesIOSequence(make([]byte, tc.size)), to, 0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Send = %d, %v; want %v", n, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			waitReady(t, b, unix.POLLIN)
			got, total, from, err := b.Recv(usermem.BytesIOSequence(make([]byte, tc.recvBuf)), 0)
			if err != nil || got != int64(min(tc.size, tc.recvBuf)) || total != int64(tc.size) || len(from) != 16 {
				t.Fatalf("Recv = %d, %d, %v, %v; want %d of %d", got, total, from, err, min(tc.size, tc.recvBuf), tc.size)
			}
		})
	}
}
