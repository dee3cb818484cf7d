package goferclient

import (
	"context"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// goroutinesCreated is the runtime's count of goroutines created so far.
func goroutinesCreated(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("the runtime does not count created goroutines")
	}
	return s[0].Value.Uint64()
}

// goferTransport is one way GoferConn reaches the gofer.
type goferTransport struct {
	name string
	// noCalls: the gofer has no Calls (unary calls in a session).
	noCalls bool
	// framed: Calls on the framed wire, else as a gRPC stream.
	framed bool
}

var goferTransports = []goferTransport{
	{name: "grpc stream"},
	{name: "framed", framed: true},
	{name: "unary fallback", noCalls: true},
}

// connect starts a gofer on root and a GoferConn to it over tr.
func (tr goferTransport) connect(t testing.TB, root string) (*gofertest.Gofer, *GoferConn) {
	t.Helper()
	p := gofertest.New(t, root)
	p.NoCalls = tr.noCalls
	p.Start()
	t.Cleanup(p.Kill)
	var opts []GoferConnOption
	if tr.framed {
		target := transport.Target{Network: "unix", Address: p.Sock}
		opts = append(opts, WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
			st, err := transport.DialFramedStream(ctx, target)
			if err != nil {
				return nil, err
			}
			return st, nil
		}))
	}
	gc := NewGoferConn(p.Dial(t), hclog.NewNullLogger(), opts...)
	t.Cleanup(gc.Close)
	return p, gc
}

// usesStream says whether gc's calls went on a Calls stream.
func usesStream(gc *GoferConn) bool {
	g := gc.cc.(*goferCalls)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur != nil && g.unary == nil
}

// TestGoferCallsTransports: file calls work over each transport, survive
// a gofer restart (handles re-resolved, the stream reopened), and the
// transport is the one expected.
func TestGoferCallsTransports(t *testing.T) {
	for _, tr := range goferTransports {
		t.Run(tr.name, func(t *testing.T) {
			root := t.TempDir()
			p, gc := tr.connect(t, root)
			c := goferpb.NewGoferClient(gc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, err := c.Attach(ctx, &goferpb.AttachRequest{})
			if err != nil || a.Errno != 0 {
				t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
			}
			cr, err := c.Create(ctx, &goferpb.CreateRequest{Dir: a.Root.Id, Name: []byte("f"), Flags: unix.O_RDWR, Mode: 0o644})
			if err != nil || cr.Errno != 0 {
				t.Fatalf("Create: %v %v", err, unix.Errno(cr.GetErrno()))
			}
			if got := usesStream(gc); got == tr.noCalls {
				t.Errorf("calls on a stream: %v, want %v", got, !tr.noCalls)
			}
			for i, data := range []string{"before", "after a restart"} {
				if i == 1 {
					p.Restart()
				}
				w, err := c.Write(ctx, &goferpb.WriteRequest{Handle: cr.Handle.Id, Data: []byte(data)})
				if err != nil || w.Errno != 0 {
					t.Fatalf("Write %q: %v %v", data, err, unix.Errno(w.GetErrno()))
				}
				r, err := c.Read(ctx, &goferpb.ReadRequest{Handle: cr.Handle.Id, Length: 64})
				if err != nil || r.Errno != 0 || string(r.Data) != data {
					t.Fatalf("Read: %v %v %q", err, unix.Errno(r.GetErrno()), r.GetData())
				}
			}
			if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "after a restart" {
				t.Errorf("file holds %q", b)
			}
			// An unknown method is an error of that call alone.
			if err := gc.cc.Invoke(ctx, "/goferpb.Gofer/NoSuch", &goferpb.StatRequest{}, &goferpb.StatReply{}); err == nil {
				t.Errorf("unknown method: no error")
			}
			st, err := c.Stat(ctx, &goferpb.StatRequest{Handle: cr.Handle.Id})
			if err != nil || st.Errno != 0 || st.Stat.Size != uint64(len("after a restart")) {
				t.Fatalf("Stat after an unknown method: %v %v %v", err, unix.Errno(st.GetErrno()), st.GetStat())
			}
			// Counted by method (the end-of-run log), the unknown one
			// not.
			if n := gc.calls.sentCounts(); n["Create"] != 1 || n["Stat"] < 1 || n["NoSuch"] != 0 {
				t.Errorf("calls counted %v, want Create once, Stat at least once, no NoSuch", n)
			}
		})
	}
}

// TestGoferConnCloseEndsStream: Close ends the call stream (so the gofer
// ends the session and releases the server's handles), on each transport.
func TestGoferConnCloseEndsStream(t *testing.T) {
	for _, tr := range goferTransports[:2] {
		t.Run(tr.name, func(t *testing.T) {
			_, gc := tr.connect(t, t.TempDir())
			c := goferpb.NewGoferClient(gc)
			if _, err := c.Attach(context.Background(), &goferpb.AttachRequest{}); err != nil {
				t.Fatal(err)
			}
			g := gc.cc.(*goferCalls)
			g.mu.Lock()
			cur := g.cur
			g.mu.Unlock()
			gc.Close()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				cur.mu.Lock()
				dead := cur.dead
				cur.mu.Unlock()
				if dead {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the stream outlived Close")
				}
			}
		})
	}
}

// TestGoferCallsCancel: a call whose context ends returns at once; the
// stream carries on.
func TestGoferCallsCancel(t *testing.T) {
	_, gc := goferTransports[1].connect(t, t.TempDir())
	c := goferpb.NewGoferClient(gc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Attach(ctx, &goferpb.AttachRequest{}); err == nil {
		t.Fatalf("Attach with a cancelled context succeeded")
	}
	a, err := c.Attach(context.Background(), &goferpb.AttachRequest{})
	if err != nil || a.Errno != 0 {
		t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
	}
}

// TestGoferCallCost measures a Stat's allocations and goroutines created
// (the server's and the in-process gofer's) on each transport: the persistent stream must cost
// well under half of a unary gRPC call (stream setup, metadata, deadline
// header, a goroutine per call are what it saves). Allocation counts are
// deterministic enough to compare, unlike wall time on a loaded machine.
func TestGoferCallCost(t *testing.T) {
	allocs := make(map[string]float64)
	goroutines := make(map[string]float64)
	for _, tr := range goferTransports {
		_, gc := tr.connect(t, t.TempDir())
		c := goferpb.NewGoferClient(gc)
		ctx := context.Background()
		a, err := c.Attach(ctx, &goferpb.AttachRequest{})
		if err != nil || a.Errno != 0 {
			t.Fatalf("%s: Attach: %v %v", tr.name, err, unix.Errno(a.GetErrno()))
		}
		req := &goferpb.StatRequest{Handle: a.Root.Id}
		stat := func() {
			r, err := c.Stat(ctx, req)
			if err != nil || r.Errno != 0 {
				t.Fatalf("%s: Stat: %v %v", tr.name, err, unix.Errno(r.GetErrno()))
			}
		}
		stat()
		allocs[tr.name] = testing.AllocsPerRun(200, stat)
		before := goroutinesCreated(t)
		for i := 0; i < 100; i++ {
			stat()
		}
		goroutines[tr.name] = float64(goroutinesCreated(t)-before) / 100
		t.Logf("%s: %.0f allocations, %.2f goroutines created per Stat", tr.name, allocs[tr.name], goroutines[tr.name])
	}
	for _, name := range []string{"grpc stream", "framed"} {
		if goroutines[name] > 0.1 {
			t.Errorf("%s: %.2f goroutines created per Stat, want none (the gofer's workers live as long as the stream)", name, goroutines[name])
		}
	}
	unary := allocs["unary fallback"]
	for _, name := range []string{"grpc stream", "framed"} {
		if allocs[name] > unary/2 {
			t.Errorf("%s: %.0f allocations per Stat, want at most half of unary gRPC's %.0f", name, allocs[name], unary)
		}
	}
}

// FuzzDeliverRaw: the reader's own decoding of a GoferResult frame (bytes
// from the gofer) never panics, and delivers what proto.Unmarshal reads
// from a well-formed one.
func FuzzDeliverRaw(f *testing.F) {
	for _, r := range []*goferpb.GoferResult{
		{Id: 1, Reply: mustMarshal(f, &goferpb.StatReply{Errno: 2})},
		{Id: 7, Code: 12, Message: "no method"},
		{Id: 1 << 31, Reply: mustMarshal(f, &goferpb.ReadReply{Data: []byte("data")}), SessionId: 9},
		{Id: 3, Reply: mustMarshal(f, &goferpb.OpenReply{}), Fds: 1},
	} {
		f.Add(mustMarshal(f, r))
	}
	f.Add([]byte{0x08})
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		want := new(goferpb.GoferResult)
		wellFormed := proto.Unmarshal(b, want) == nil
		c := &callConn{pending: make(map[uint32]*pendingCall)}
		p := &pendingCall{rep: new(goferpb.ReadReply), done: make(chan error, 1)}
		c.pending[want.GetId()] = p
		err := c.deliverRaw(b)
		if !wellFormed {
			return
		}
		if want.GetFds() > 0 {
			// Claims donated fds on a stream that carries none: the
			// stream fails, the call with it.
			if err == nil {
				t.Fatalf("a result claiming %d fds on a stream without fds was taken", want.GetFds())
			}
			return
		}
		if err != nil {
			t.Fatalf("a well-formed result %v: %v", want, err)
		}
		select {
		case got := <-p.done:
			wantErr := outcome(want.GetCode(), want.GetMessage(), want.GetReply(), new(goferpb.ReadReply))
			if (got == nil) != (wantErr == nil) {
				t.Fatalf("result %v delivered %v, want %v", want, got, wantErr)
			}
		default:
			t.Fatalf("result %v not delivered to call %d", want, want.GetId())
		}
	})
}

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestGoferConnRequestFields: every uint64 field of a Gofer request is
// classified as a handle id or not, so a new field cannot be forgotten.
func TestGoferConnRequestFields(t *testing.T) {
	notHandles := map[protoreflect.Name]bool{"offset": true, "seq": true, "size": true, "rdev": true, "features": true, "expect_ino": true, "length": true, "ino": true, "inos": true, "size_before": true, "old_ino": true, "new_ino": true}
	svc := goferpb.File_gofer_proto.Services().Get(0)
	n := 0
	for i := 0; i < svc.Methods().Len(); i++ {
		in := svc.Methods().Get(i).Input()
		fs := in.Fields()
		for j := 0; j < fs.Len(); j++ {
			fd := fs.Get(j)
			if fd.Kind() != protoreflect.Uint64Kind {
				continue
			}
			if !handleFieldNames[fd.Name()] && !notHandles[fd.Name()] {
				t.Errorf("%s.%s: a handle id or not? classify it in goferconn.go", in.Name(), fd.Name())
			}
			if handleFieldNames[fd.Name()] {
				n++
			}
		}
	}
	if got := 0; true {
		for _, fds := range requestHandleFields {
			got += len(fds)
		}
		if got != n {
			t.Errorf("requestHandleFields has %d fields, want %d", got, n)
		}
	}
}
