package server

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestGoodbyeForgetsCachedReplies: a client that says Goodbye has its
// mutations' replies dropped from the gofer's reply cache (ForgetClient):
// the same Origin re-sent afterwards runs again, where before it was
// answered from the cache.
func TestGoodbyeForgetsCachedReplies(t *testing.T) {
	e, p, _ := restartableEnv(t)
	r := e.sys(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), e.mem.str("/d"), 0o755)
	if r.Errno != 0 {
		t.Fatalf("mkdir: %v", unix.Errno(r.Errno))
	}
	e.srv.mu.Lock()
	var origin string
	for c := range e.srv.clients {
		origin = c.k.OriginID
	}
	e.srv.mu.Unlock()
	// The server's calls and these reach the gofer as the same peer.
	raw := p.Client(t)
	ctx := context.Background()
	a, err := raw.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || a.Errno != 0 {
		t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
	}
	resend := func() unix.Errno {
		m, err := raw.Mkdir(ctx, &goferpb.MkdirRequest{Dir: a.Root.Id, Name: []byte("d"), Mode: 0o755, Origin: &goferpb.Origin{ClientId: origin, Seq: r.Seq}})
		if err != nil {
			t.Fatal(err)
		}
		return unix.Errno(m.Errno)
	}
	if errno := resend(); errno != 0 {
		t.Fatalf("mkdir re-sent while the client lives: %v, want the cached success", errno)
	}
	if err := e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Goodbye{Goodbye: &sentrypb.Goodbye{}}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		errno := resend()
		if errno == unix.EEXIST {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mkdir re-sent after Goodbye: %v, want EEXIST (run again)", errno)
		}
	}
}
