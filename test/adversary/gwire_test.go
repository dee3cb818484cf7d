package adversary

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// callStream is a hostile peer's Calls stream on the gofer's framed wire.
type callStream struct {
	t  *testing.T
	st *transport.FramedStream
	id uint32
}

func openCallStream(t *testing.T, ctx context.Context, target string) *callStream {
	t.Helper()
	tg, err := transport.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	st, err := transport.DialFramedStream(ctx, tg)
	if err != nil {
		t.Fatalf("framed Calls stream: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SendMsg(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	first := new(goferpb.GoferResult)
	if err := st.RecvMsg(first); err != nil || first.GetSessionId() == 0 {
		t.Fatalf("first result: %v %v", err, first)
	}
	return &callStream{t: t, st: st}
}

// call makes one call and returns its result.
func (c *callStream) call(method string, req, rep proto.Message) *goferpb.GoferResult {
	c.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.id++
	if err := c.st.SendMsg(&goferpb.GoferCall{Id: c.id, Method: method, Request: b}); err != nil {
		c.t.Fatalf("%s: send: %v", method, err)
	}
	r := new(goferpb.GoferResult)
	if err := c.st.RecvMsg(r); err != nil {
		c.t.Fatalf("%s: receive: %v", method, err)
	}
	if r.GetId() != c.id {
		c.t.Fatalf("%s: result of call %d, want %d", method, r.GetId(), c.id)
	}
	if r.GetCode() == 0 && rep != nil {
		if err := proto.Unmarshal(r.GetReply(), rep); err != nil {
			c.t.Fatal(err)
		}
	}
	return r
}

// TestGoferCallStreamHandlesTiedToStream: a Calls stream is a session of
// its own: its handle ids are EBADF to another stream and to unary calls
// without a session, as another session's are.
func TestGoferCallStreamHandlesTiedToStream(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, c := goferUnderAttack(t, root)
	ctx := ctxT(t)
	victim := openCallStream(t, ctx, g.Target)
	a := new(goferpb.AttachReply)
	victim.call("Attach", &goferpb.AttachRequest{}, a)
	w := new(goferpb.WalkReply)
	victim.call("Walk", &goferpb.WalkRequest{Dir: a.GetRoot().GetId(), Names: [][]byte{[]byte("secret")}}, w)
	if w.GetErrno() != 0 || len(w.GetFiles()) != 1 {
		t.Fatalf("victim's walk: errno %d", w.GetErrno())
	}
	id := w.GetFiles()[0].GetHandle().GetId()

	attacker := openCallStream(t, ctx, g.Target)
	for _, method := range []string{"Open", "Stat"} {
		var req, rep proto.Message = &goferpb.OpenRequest{Handle: id, Flags: unix.O_RDONLY}, new(goferpb.OpenReply)
		if method == "Stat" {
			req, rep = &goferpb.StatRequest{Handle: id}, new(goferpb.StatReply)
		}
		attacker.call(method, req, rep)
		if e := unix.Errno(rep.ProtoReflect().Get(rep.ProtoReflect().Descriptor().Fields().ByName("errno")).Int()); e != unix.EBADF {
			t.Errorf("%s of another stream's handle: errno %v, want EBADF", method, e)
		}
	}
	if r, err := c.Stat(ctx, &goferpb.StatRequest{Handle: id}); err != nil || unix.Errno(r.GetErrno()) != unix.EBADF {
		t.Errorf("unary stat of a stream's handle: %v errno %v, want EBADF", err, unix.Errno(r.GetErrno()))
	}
	alive(t, ctx, g, c)
}

// TestGoferCallStreamBadInput: malformed calls fail alone (an unknown
// method, a request that does not parse) or end the stream (id 0, a
// frame too large, garbage framing, another protocol version); the gofer
// lives on and serves others.
func TestGoferCallStreamBadInput(t *testing.T) {
	g, c := goferUnderAttack(t, t.TempDir())
	ctx := ctxT(t)
	s := openCallStream(t, ctx, g.Target)
	if r := s.call("NoSuchMethod", &goferpb.StatRequest{}, nil); codes.Code(r.GetCode()) != codes.Unimplemented {
		t.Errorf("unknown method: code %v, want Unimplemented", codes.Code(r.GetCode()))
	}
	if r := s.call("Session", &goferpb.SessionRequest{}, nil); codes.Code(r.GetCode()) != codes.Unimplemented {
		t.Errorf("a streaming method as a call: code %v, want Unimplemented", codes.Code(r.GetCode()))
	}
	s.id++
	if err := s.st.SendMsg(&goferpb.GoferCall{Id: s.id, Method: "Walk", Request: []byte{0xff, 0xff, 0xff}}); err != nil {
		t.Fatal(err)
	}
	r := new(goferpb.GoferResult)
	if err := s.st.RecvMsg(r); err != nil || r.GetCode() == 0 {
		t.Errorf("unparsable request: %v, code %v; want an error", err, codes.Code(r.GetCode()))
	}
	a := new(goferpb.AttachReply)
	if s.call("Attach", &goferpb.AttachRequest{}, a); a.GetErrno() != 0 {
		t.Errorf("the stream no longer serves: errno %d", a.GetErrno())
	}

	ends := []struct {
		name string
		send func(*callStream, net.Conn) error
	}{
		{"id 0", func(s *callStream, _ net.Conn) error { return s.st.SendMsg(&goferpb.GoferCall{Method: "Attach"}) }},
		{"huge frame", func(_ *callStream, conn net.Conn) error {
			var h [4]byte
			binary.BigEndian.PutUint32(h[:], 1<<31)
			_, err := conn.Write(h[:])
			return err
		}},
		{"not a message", func(_ *callStream, conn net.Conn) error {
			_, err := conn.Write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
			return err
		}},
	}
	tg, _ := transport.ParseTarget(g.Target)
	for _, tc := range ends {
		t.Run(tc.name, func(t *testing.T) {
			var conn net.Conn
			s := &callStream{t: t}
			if tc.name == "id 0" {
				s = openCallStream(t, ctx, g.Target)
			} else {
				var err error
				if conn, err = net.Dial("unix", tg.Address); err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				conn.Write([]byte("rdcalls1"))
				var magic [8]byte
				if _, err := conn.Read(magic[:]); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.send(s, conn); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() {
				if s.st != nil {
					ended <- s.st.RecvMsg(new(goferpb.GoferResult))
					return
				}
				_, err := conn.Read(make([]byte, 64))
				ended <- err
			}()
			select {
			case err := <-ended:
				if err == nil {
					t.Errorf("the stream carried on")
				}
			case <-time.After(10 * time.Second):
				t.Errorf("the stream did not end")
			}
		})
	}

	// Another protocol version.
	st, err := transport.DialFramedStream(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SendMsg(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion + 1})
	if err := st.RecvMsg(r); err != nil || codes.Code(r.GetCode()) != codes.FailedPrecondition || r.GetSessionId() != 0 {
		t.Errorf("another protocol version: %v, %v; want a FailedPrecondition result", err, r)
	}
	if err := st.RecvMsg(r); err == nil {
		t.Errorf("a stream of another protocol version was served")
	}
	alive(t, ctx, g, c)
}
