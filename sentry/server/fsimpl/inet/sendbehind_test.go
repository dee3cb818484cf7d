package inet

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// tcpPair returns a connected loopback TCP pair: the connecting end,
// which the caller closes (DecRef), and the accepted one.
func tcpPair(t *testing.T, st *socket.Stack) (cf *fdesc.File, c *File, af *fdesc.File, a *File) {
	t.Helper()
	lf, l := newSock(t, st, true, 0)
	addr, err := socket.ParseInetAddr(unix.AF_INET, socket.EncodeInetAddr(unix.AF_INET, tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{127, 0, 0, 1})}))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.S.Bind(addr); err != nil {
		t.Fatal(err)
	}
	if err := l.S.EP.Listen(4); err != nil {
		t.Fatal(err)
	}
	la, _ := l.S.EP.GetLocalAddress()
	cs, err := st.NewInet(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	cf = New(cs, 0)
	c = cf.Impl.(*File)
	if err := c.S.Connect(la); err != nil && err != unix.EINPROGRESS {
		t.Fatal(err)
	}
	ns, _, err := l.Accept(&fdesctest.Call{}, lf)
	if err != nil {
		t.Fatal(err)
	}
	af = New(ns, 0)
	t.Cleanup(af.DecRef)
	return cf, c, af, af.Impl.(*File)
}

// readAll reads from s until it has n bytes or the deadline passes.
func readAll(t *testing.T, f *fdesc.File, s *File, n int) []byte {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		b, err := s.Read(&fdesctest.Call{}, f, n-len(got), 0)
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", len(got), err)
		}
		if len(b) == 0 {
			break
		}
		got = append(got, b...)
	}
	return got
}

// TestSendBehind: posted writes on a connection are taken whole without
// blocking within the room SendRoom reports: what the send buffer cannot
// take is held and goes out in order as the peer reads; meanwhile the
// socket is not writable, a non-blocking waited write fails with EAGAIN
// and the room is less the held bytes. A socket closed with bytes held
// sends them before it closes. A write posted before the connection was
// lost with a server succeeds and leaves the reset to the next call.
func TestSendBehind(t *testing.T) {
	st := newStack(t)
	cf, c, af, a := tcpPair(t, st)
	if room := c.SendRoom(); room != SendBehindBudget {
		t.Fatalf("SendRoom of an idle connection = %d, want %d", room, SendBehindBudget)
	}
	// Small buffers, which the posted writes overflow.
	if _, err := c.Sockopt(false, unix.SOL_SOCKET, unix.SO_SNDBUF, putInt(4096), false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sockopt(false, unix.SOL_SOCKET, unix.SO_RCVBUF, putInt(4096), false); err != nil {
		t.Fatal(err)
	}
	var want []byte
	call := &fdesctest.Call{}
	for i := 0; len(want) < SendBehindBudget-3000; i++ {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 3000)
		n, err := c.WritePosted(call, cf, usermem.BytesIOSequence(chunk), 0)
		if n != int64(len(chunk)) || err != nil {
			t.Fatalf("WritePosted %d = %d, %v; want %d", i, n, err, len(chunk))
		}
		want = append(want, chunk...)
	}
	c.behind.mu.Lock()
	held := len(c.behind.held)
	c.behind.mu.Unlock()
	if held == 0 {
		t.Fatalf("nothing held after %d bytes posted to a 4 KiB send buffer the peer does not read", len(want))
	}
	if room := c.SendRoom(); room > uint64(SendBehindBudget-held) {
		t.Errorf("SendRoom with %d bytes held = %d, want at most %d", held, room, SendBehindBudget-held)
	}
	if ev, _ := c.Readiness(cf); ev&linux.POLLOUT != 0 {
		t.Errorf("readiness %#x with bytes held has POLLOUT", ev)
	}
	if _, err := c.Send(call, cf, usermem.BytesIOSequence([]byte("z")), nil, unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Errorf("a non-blocking waited send with bytes held = %v, want EAGAIN", err)
	}
	// A waited write goes after the held bytes.
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(&fdesctest.Call{}, cf, []byte("tail"), 0)
		done <- err
	}()
	want = append(want, "tail"...)
	if got := readAll(t, af, a, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("the peer read %d bytes, want the %d posted and written, in order", len(got), len(want))
	}
	if err := <-done; err != nil {
		t.Errorf("the waited write = %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.SendRoom() != SendBehindBudget && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if room := c.SendRoom(); room != SendBehindBudget {
		t.Errorf("SendRoom once all went out = %d, want %d", room, SendBehindBudget)
	}

	// Closed with bytes held: they go out, then end of file.
	for i := 0; i < 8; i++ {
		chunk := bytes.Repeat([]byte{'0' + byte(i)}, 3000)
		if _, err := c.WritePosted(call, cf, usermem.BytesIOSequence(chunk), 0); err != nil {
			t.Fatal(err)
		}
		want = append(want[:0], chunk...)
	}
	cf.DecRef()
	got := readAll(t, af, a, 8*3000+1)
	if len(got) != 8*3000 || !bytes.Equal(got[len(got)-3000:], want) {
		t.Errorf("after the close the peer read %d bytes, want the 24000 posted, then end of file", len(got))
	}

	// Lost with a server: the posted write succeeds, the next call
	// takes the reset.
	pf, _, lf, l := tcpPair(t, st)
	defer pf.DecRef()
	l.SetLost(unix.AF_INET, nil, nil)
	if room := l.SendRoom(); room != 0 {
		t.Errorf("SendRoom of a lost connection = %d, want 0", room)
	}
	if n, err := l.WritePosted(call, lf, usermem.BytesIOSequence([]byte("xyz")), 0); n != 3 || err != nil {
		t.Errorf("WritePosted on a lost connection = %d, %v; want 3, nil", n, err)
	}
	if _, err := l.Read(call, lf, 4, 0); err != unix.ECONNRESET {
		t.Errorf("the next read = %v, want ECONNRESET", err)
	}
}
