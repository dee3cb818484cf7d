package gofer

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// openCalls opens a Calls stream on e's gofer and returns it with its
// session id.
func openCalls(t *testing.T, e *env) (goferpb.Gofer_CallsClient, context.CancelFunc, uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	st, err := e.c.Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetSessionId() == 0 {
		t.Fatalf("first result: %v %v", first, err)
	}
	return st, cancel, first.GetSessionId()
}

func marshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCallsConcurrent: many calls in flight on one stream are answered
// each under its own id, in any order; the stream's handles belong to
// its session and go when the stream ends.
func TestCallsConcurrent(t *testing.T) {
	e := newEnv(t)
	st, cancel, session := openCalls(t, e)
	const calls = 200
	errs := make(chan error, 1)
	attach := marshal(t, &goferpb.AttachRequest{})
	go func() {
		for i := 1; i <= calls; i++ {
			if err := st.Send(&goferpb.GoferCall{Id: uint32(i), Method: "Attach", Request: attach}); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	seen := make(map[uint32]bool)
	var ids []uint64
	for len(seen) < calls {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetId() == 0 || r.GetId() > calls || seen[r.GetId()] || r.GetCode() != 0 {
			t.Fatalf("result %v", r)
		}
		seen[r.GetId()] = true
		a := new(goferpb.AttachReply)
		if err := proto.Unmarshal(r.GetReply(), a); err != nil || a.GetErrno() != 0 {
			t.Fatalf("Attach reply: %v %v", a, err)
		}
		ids = append(ids, a.GetRoot().GetId())
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	owned := len(e.srv.sessions[session].handles)
	e.srv.mu.Unlock()
	if owned != calls {
		t.Errorf("the stream's session owns %d handles, want %d", owned, calls)
	}
	cancel()
	// The session ends with the stream: its handles are released.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		e.srv.mu.Lock()
		_, open := e.srv.sessions[session]
		_, held := e.srv.handles[ids[0]]
		e.srv.mu.Unlock()
		if !open && !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream ended, its session is still open (%v) or its handle held (%v)", open, held)
		}
	}
}

// TestCallsErrors: a call's failure is its own result; the stream carries
// on.
func TestCallsErrors(t *testing.T) {
	e := newEnv(t)
	st, cancel, _ := openCalls(t, e)
	defer cancel()
	tests := []struct {
		name     string
		call     *goferpb.GoferCall
		wantCode codes.Code
		wantErr  unix.Errno
	}{
		{name: "unknown method", call: &goferpb.GoferCall{Method: "Nope"}, wantCode: codes.Unimplemented},
		{name: "bad request", call: &goferpb.GoferCall{Method: "Stat", Request: []byte{0xff}}, wantCode: codes.InvalidArgument},
		{name: "foreign handle", call: &goferpb.GoferCall{Method: "Stat", Request: marshal(t, &goferpb.StatRequest{Handle: e.rootH})}, wantErr: unix.EBADF},
		{name: "good call", call: &goferpb.GoferCall{Method: "Attach", Request: marshal(t, &goferpb.AttachRequest{})}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.call.Id = uint32(i + 1)
			if err := st.Send(tc.call); err != nil {
				t.Fatal(err)
			}
			r, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if r.GetId() != tc.call.Id || codes.Code(r.GetCode()) != tc.wantCode {
				t.Fatalf("result %v, want id %d code %v", r, tc.call.Id, tc.wantCode)
			}
			if tc.wantCode != codes.OK {
				return
			}
			var m proto.Message = new(goferpb.StatReply)
			if tc.call.Method == "Attach" {
				m = new(goferpb.AttachReply)
			}
			if err := proto.Unmarshal(r.GetReply(), m); err != nil {
				t.Fatal(err)
			}
			errno := unix.Errno(m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("errno")).Int())
			if errno != tc.wantErr {
				t.Errorf("errno %v, want %v", errno, tc.wantErr)
			}
		})
	}
}
