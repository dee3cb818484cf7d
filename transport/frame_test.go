package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// frameBytes is one frame with a payload of raw bytes.
func frameBytes(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	return append(b, payload...)
}

func mustFrame(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := appendFrame(nil, m, MaxMessageSize)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3<<20) // past maxKeptBuffer
	for _, tc := range []struct {
		name string
		msgs []*pb.ServerMessage
	}{
		{"empty message", []*pb.ServerMessage{{}}},
		{"one reply", []*pb.ServerMessage{{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 7, Ret: -1}}}}},
		{"several", []*pb.ServerMessage{
			{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Output{Output: &pb.StdioOutput{Fd: 1, Data: []byte("hi")}}}}},
			{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 1}}},
			{Msg: &pb.ServerMessage_Heartbeat{Heartbeat: &pb.Heartbeat{UnixNanos: 5}}},
		}},
		{"large then small", []*pb.ServerMessage{
			{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 1, Outputs: []*pb.Region{{Addr: 1, Data: big}}}}},
			{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 2, Outputs: []*pb.Region{{Addr: 2, Data: []byte("y")}}}}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			fw := newFrameWriter(&buf, MaxMessageSize)
			for _, m := range tc.msgs {
				if err := fw.writeMsg(m); err != nil {
					t.Fatal(err)
				}
			}
			fr := newFrameReader(&buf, MaxMessageSize)
			var got []*pb.ServerMessage
			for {
				m := new(pb.ServerMessage)
				err := fr.readMsg(m)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m)
			}
			if len(got) != len(tc.msgs) {
				t.Fatalf("read %d messages, wrote %d", len(got), len(tc.msgs))
			}
			for i := range got {
				if !proto.Equal(got[i], tc.msgs[i]) {
					t.Errorf("message %d: got %v, want %v", i, got[i], tc.msgs[i])
				}
			}
		})
	}
}

func TestFrameBadInput(t *testing.T) {
	good := mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 3, Outputs: []*pb.Region{{Data: []byte("data")}}}}})
	const max = 1 << 10
	for _, tc := range []struct {
		name  string
		input []byte
		// frames is how many messages read before the error.
		frames int
		want   error
	}{
		{"nothing", nil, 0, io.EOF},
		{"truncated header", good[:2], 0, io.ErrUnexpectedEOF},
		{"truncated payload", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
		{"good then truncated", append(append([]byte(nil), good...), good[:5]...), 1, io.ErrUnexpectedEOF},
		{"oversized", binary.BigEndian.AppendUint32(nil, max+1), 0, errFrameTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, 0, errFrameTooLarge},
		{"garbage payload", frameBytes([]byte{0xff, 0xff, 0xff, 0xff, 0xff}), 0, nil},
		{"wrong wire type", frameBytes([]byte{0x0a, 0x80}), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(tc.input), max)
			for i := 0; ; i++ {
				err := fr.readMsg(new(pb.ServerMessage))
				if err == nil {
					if i >= tc.frames {
						t.Fatalf("frame %d read without error", i)
					}
					continue
				}
				if i != tc.frames {
					t.Fatalf("error after %d frames, want %d: %v", i, tc.frames, err)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
				return
			}
		})
	}
}

func TestFrameWriterTooLarge(t *testing.T) {
	var buf bytes.Buffer
	fw := newFrameWriter(&buf, 16)
	err := fw.writeMsg(&pb.ClientMessage{Msg: &pb.ClientMessage_Stdin{Stdin: &pb.StdinData{Data: make([]byte, 100)}}})
	if !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("write of an oversized message: %v, want errFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written for a refused message", buf.Len())
	}
	if err := fw.writeMsg(&pb.ClientMessage{}); err != nil {
		t.Fatalf("writer unusable after a refused message: %v", err)
	}
}

// FuzzFrameReader: any byte stream gives messages and then an error,
// never a panic, and never a buffer larger than the maximum.
func FuzzFrameReader(f *testing.F) {
	f.Add(mustFrame(f, &pb.ClientMessage{Msg: &pb.ClientMessage_Call{Call: &pb.Call{Seq: 1, Tid: 2,
		Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: 110, Args: []uint64{1, 2, 3, 4, 5, 6}, Inputs: []*pb.Region{{Addr: 9, Data: []byte("/tmp")}}}}}}}))
	f.Add(mustFrame(f, &pb.ClientMessage{Msg: &pb.ClientMessage_Hello{Hello: &pb.Hello{ClientId: "c"}}}))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte(frameMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 16
		fr := newFrameReader(bytes.NewReader(data), max)
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatalf("%d frames from %d bytes", i, len(data))
			}
			m := new(pb.ClientMessage)
			if err := fr.readMsg(m); err != nil {
				return
			}
			if cap(fr.buf) > max {
				t.Fatalf("kept a buffer of %d bytes (max %d)", cap(fr.buf), max)
			}
		}
	})
}

// rawDial connects to a unix: target without any protocol.
func rawDial(t *testing.T, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", strings.TrimPrefix(target, "unix:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// TestServeBadClients: a connection speaking neither protocol, or
// breaking the framed one, is closed by the server, which goes on
// serving others.
func TestServeBadClients(t *testing.T) {
	hello := mustFrame(t, &pb.ClientMessage{Msg: &pb.ClientMessage_Hello{Hello: &pb.Hello{}}})
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"garbage", bytes.Repeat([]byte("garbage!"), 10)},
		{"short garbage then close", []byte("abc")},
		{"magic then truncated frame", append([]byte(frameMagic), hello[:3]...)},
		{"magic then oversized frame", append([]byte(frameMagic), 0x7f, 0xff, 0xff, 0xff)},
		{"magic then bad protobuf", append([]byte(frameMagic), frameBytes([]byte{0xff, 0xff, 0xff})...)},
		{"hello then bad protobuf", append(append([]byte(frameMagic), hello...), frameBytes([]byte{0x0a, 0xff})...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, target, _ := startEchoMux(t)
			c := rawDial(t, target)
			if _, err := c.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			c.(*net.UnixConn).CloseWrite()
			// The server answers what it may (its magic, a Welcome, or
			// HTTP/2 bytes for gRPC) and closes the connection.
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("connection not closed by the server: %v", err)
			}
			// It still serves.
			d, err := Dial(context.Background(), target, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Call(context.Background(), &pb.Call{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// fakeServer accepts connections on a fresh socket and runs answer on
// each.
func fakeServer(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				answer(c)
			}()
		}
	}()
	return "unix:" + sock
}

// TestDialBadServers: a server that answers the framed handshake wrongly
// makes Dial fail (or time out with its context), never hang or panic.
func TestDialBadServers(t *testing.T) {
	welcome := mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "x", ProtocolVersion: pb.ProtocolVersion}}})
	reply := mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{}}})
	readHello := func(c net.Conn) {
		br := make([]byte, len(frameMagic))
		io.ReadFull(c, br)
		fr := newFrameReader(c, MaxMessageSize)
		fr.next()
	}
	for _, tc := range []struct {
		name string
		// answer is what the server writes after reading the Hello; nil
		// keeps the connection open in silence.
		answer []byte
		want   error
	}{
		{"silent", nil, context.DeadlineExceeded},
		{"other protocol", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), ErrRefused},
		{"refusal", []byte(refusedMagic + "uid 7 may not connect\n"), ErrRefused},
		{"other version", append([]byte(frameMagic), mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "x", ProtocolVersion: 99}}})...), ErrRefused},
		{"refused in welcome", append([]byte(frameMagic), mustFrame(t, &pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{ServerId: "x", ProtocolVersion: pb.ProtocolVersion, Refused: "no"}}})...), ErrRefused},
		{"magic then close", []byte(frameMagic), io.EOF},
		{"magic then truncated welcome", append([]byte(frameMagic), welcome[:len(welcome)-1]...), io.ErrUnexpectedEOF},
		{"magic then oversized", append([]byte(frameMagic), 0xff, 0xff, 0xff, 0xff), errFrameTooLarge},
		{"magic then garbage", append([]byte(frameMagic), frameBytes([]byte{0xff, 0xff})...), nil},
		{"magic then a reply", append([]byte(frameMagic), reply...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := fakeServer(t, func(c net.Conn) {
				readHello(c)
				if tc.answer == nil {
					time.Sleep(5 * time.Second)
					return
				}
				c.Write(tc.answer)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			c, err := Dial(ctx, target, Options{Wire: WireFramed})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Dial: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDialFramedWaitsForServer: a framed Dial made before the server
// listens connects once it does, as gRPC's WaitForReady would.
func TestDialFramedWaitsForServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	target := "unix:" + sock
	go func() {
		time.Sleep(150 * time.Millisecond)
		tg, _ := ParseTarget(target)
		l, err := Listen(tg)
		if err != nil {
			t.Error(err)
			return
		}
		g := grpc.NewServer(ServerOptions()...)
		s := &echoServer{}
		pb.RegisterSentryServer(g, s)
		t.Cleanup(g.Stop)
		Serve(l, g, s.Session)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Wire != WireFramed {
		t.Errorf("wire %v, want framed", c.Wire)
	}
}

func TestDialFramedNeedsUnix(t *testing.T) {
	if _, err := Dial(context.Background(), "127.0.0.1:1", Options{Wire: WireFramed}); err == nil {
		t.Fatal("framed Dial of a TCP target succeeded")
	}
}

// TestStopEndsFramedSessions: stopping the gRPC server ends the framed
// sessions too, so a client sees the server go.
func TestStopEndsFramedSessions(t *testing.T) {
	_, target, g := startEchoMux(t)
	c, err := Dial(context.Background(), target, Options{Wire: WireFramed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g.Stop()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("framed connection alive after the server stopped")
	}
	if _, err := c.Call(context.Background(), &pb.Call{}); !errors.Is(err, ErrConnDead) {
		t.Errorf("call after stop: %v", err)
	}
}

func TestParseWire(t *testing.T) {
	for _, w := range []Wire{WireAuto, WireGRPC, WireFramed} {
		got, err := ParseWire(w.String())
		if err != nil || got != w {
			t.Errorf("ParseWire(%q) = %v, %v", w.String(), got, err)
		}
	}
	if _, err := ParseWire("shm"); err == nil {
		t.Error("ParseWire accepted shm")
	}
}
