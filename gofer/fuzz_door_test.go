package gofer

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// FuzzGoferCall sends every unary Gofer method arbitrary requests through
// gRPC and the door (guard.go), in a session and without: whatever the
// request, the gofer answers (a reply or a gRPC error, never a crash),
// nothing outside its root changes, and it still serves afterwards.
func FuzzGoferCall(f *testing.F) {
	sd := goferpb.File_gofer_proto.Services().ByName("Gofer")
	var methods []protoreflect.MethodDescriptor
	for i := 0; i < sd.Methods().Len(); i++ {
		if m := sd.Methods().Get(i); !m.IsStreamingServer() && !m.IsStreamingClient() {
			methods = append(methods, m)
		}
	}
	seeds := []proto.Message{
		&goferpb.WalkRequest{Dir: 1, Names: [][]byte{[]byte(".."), []byte("etc")}},
		&goferpb.StatRequest{Handle: 1<<32 | 1},
		&goferpb.OpenRequest{Handle: 1<<32 | 2, Flags: 2},
		&goferpb.ReopenRequest{FileHandle: make([]byte, 40)},
		&goferpb.MkdirRequest{Dir: 1, Name: []byte("d"), Mode: 0o7777, Origin: &goferpb.Origin{ClientId: "c", Seq: 1}},
		&goferpb.ReleaseRequest{Handles: []uint64{1, 2, 3}},
		&goferpb.RenameRequest{OldDir: 1, OldName: []byte("a"), NewDir: 2, NewName: []byte("b")},
	}
	for i := range methods {
		for _, s := range seeds {
			b, _ := proto.Marshal(s)
			f.Add(uint8(i), b, false)
			f.Add(uint8(i), b, true)
		}
	}
	e := newEnv(f)
	ctxS, _, endS := e.openSession()
	f.Cleanup(endS)
	f.Fuzz(func(t *testing.T, method uint8, data []byte, inSession bool) {
		e.t = t // the env's checks report to this input's test
		defer func() { e.t = f }()
		m := methods[int(method)%len(methods)]
		in, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
		if err != nil {
			t.Fatal(err)
		}
		req := in.New().Interface()
		if proto.Unmarshal(data, req) != nil {
			return
		}
		ctx := context.Background()
		if inSession {
			ctx = ctxS
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		full := "/" + string(sd.FullName()) + "/" + string(m.Name())
		_ = e.conn.Invoke(ctx, full, req, out.New().Interface())
		if _, err := e.c.Attach(context.Background(), &goferpb.AttachRequest{}); err != nil {
			t.Fatalf("the gofer stopped serving after %s: %v", m.Name(), err)
		}
		e.checkOutsideUntouched()
	})
}
