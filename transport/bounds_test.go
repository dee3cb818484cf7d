package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestFrameBufferGrowsWithData: a header declaring a 64 MiB frame followed
// by a few bytes must not make the reader allocate 64 MiB.
func TestFrameBufferGrowsWithData(t *testing.T) {
	var in bytes.Buffer
	binary.Write(&in, binary.BigEndian, uint32(MaxMessageSize))
	in.Write(make([]byte, 1000))
	fr := newFrameReader(&in, MaxMessageSize)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := fr.next()
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Fatalf("truncated frame: %v, want unexpected EOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("reading 1000 bytes of a frame declared %d bytes allocated %d bytes", MaxMessageSize, got)
	}
	// A whole large frame still reads.
	big := bytes.Repeat([]byte("x"), 3*maxKeptBuffer+5)
	in.Reset()
	binary.Write(&in, binary.BigEndian, uint32(len(big)))
	in.Write(big)
	got, err := newFrameReader(&in, MaxMessageSize).next()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("large frame: %v (%d bytes)", err, len(got))
	}
}

// TestHandshakeBounds: a connection that says nothing (or announces a
// frame and never sends it) is closed after the handshake timeout, and
// connections beyond maxHandshaking are closed at once.
func TestHandshakeBounds(t *testing.T) {
	old := handshakeTimeout
	handshakeTimeout = 300 * time.Millisecond
	defer func() { handshakeTimeout = old }()
	_, target, _ := startEchoMux(t)
	closedSoon := func(c net.Conn, within time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(within))
		_, err := io.Copy(io.Discard, c)
		return err == nil // EOF: the server closed it
	}
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"silent", nil},
		{"magic only", []byte(frameMagic)},
		{"magic and a 64 MiB header", append([]byte(frameMagic), 0x04, 0x00, 0x00, 0x00)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, target)
			c.Write(tc.input)
			if !closedSoon(c, 10*time.Second) {
				t.Fatal("connection not closed after the handshake timeout")
			}
		})
	}
	t.Run("too many", func(t *testing.T) {
		handshakeTimeout = time.Minute
		// A server of its own: the connections above give their
		// tokens back just after their close, which their peers may see
		// first.
		_, target, _ := startEchoMux(t)
		var conns []net.Conn
		for i := 0; i < maxHandshaking; i++ {
			conns = append(conns, rawDial(t, target))
		}
		// The listener takes handshake tokens in accept order, so the
		// extra connection, accepted after these, finds none left.
		extra := rawDial(t, target)
		if !closedSoon(extra, 5*time.Second) {
			t.Fatal("a connection beyond the cap was kept")
		}
		for _, c := range conns {
			c.Close()
		}
	})
}

// TestUnixPeerRefused: a peer whose uid the listener does not allow is
// told so and closed; the framed client reports the refusal at once.
func TestUnixPeerRefused(t *testing.T) {
	target := "unix:" + t.TempDir() + "/s.sock"
	tg, _ := ParseTarget(target)
	refused := make(chan PeerIdentity, 1)
	l, err := ListenAuth(tg, AllowedUIDs{uint32(os.Geteuid()) + 1: true}, func(p PeerIdentity) { refused <- p })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, _, err = tryFramed(t.Context(), tg, nil)
	if err == nil || !strings.Contains(err.Error(), "may not connect") {
		t.Fatalf("dial as a refused uid: %v", err)
	}
	if p := <-refused; p.UID != uint32(os.Geteuid()) {
		t.Fatalf("refused peer: %+v", p)
	}
}
