package gofer

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// openSession opens a session and returns a context naming it and the
// function that ends it (by cancelling its stream, as a dying sentry's
// connection does).
func (e *env) openSession() (context.Context, uint64, func()) {
	e.t.Helper()
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := e.c.Session(sctx, &goferpb.SessionRequest{ProtocolVersion: goferpb.ProtocolVersion})
	if err != nil {
		e.t.Fatalf("Session: %v", err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetSessionId() == 0 {
		e.t.Fatalf("Session: first event %v, %v", ev, err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), goferpb.SessionMetadataKey, strconv.FormatUint(ev.GetSessionId(), 10))
	return ctx, ev.GetSessionId(), cancel
}

// enterSession makes e's calls go in the session ctx names, with a root
// handle attached in it (handles are usable only in the session that got
// them); it returns what to restore to leave it.
func (e *env) enterSession(ctx context.Context) (context.Context, uint64) {
	e.t.Helper()
	oldCtx, oldRoot := e.ctx, e.rootH
	r, err := e.c.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || r.GetErrno() != 0 {
		e.t.Fatalf("Attach in session: %v, errno %d", err, r.GetErrno())
	}
	e.ctx, e.rootH = ctx, r.GetRoot().GetId()
	return oldCtx, oldRoot
}

// table returns the number of handles, sessions and orphans.
func (s *Server) table() (handles, sessions, orphans int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.handles), len(s.sessions), len(s.orphans)
}

// waitTable waits until the table has the given counts.
func (e *env) waitTable(handles, sessions, orphans int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, s, o := e.srv.table()
		if h == handles && s == sessions && o == orphans {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("handle table: %d handles, %d sessions, %d orphans; want %d, %d, %d", h, s, o, handles, sessions, orphans)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSessionEndReleasesHandles: the handles a session got are released
// when it ends (a sentry killed with -9 never calls Release), except an
// unlinked file's, which a successor can still Reopen until the linger
// expires.
func TestSessionEndReleasesHandles(t *testing.T) {
	e := newEnv(t, WithOrphanLinger(300*time.Millisecond))
	for _, f := range []string{"a", "b", "c"} {
		writeHostFile(t, e.host(f), f+" data")
	}
	e.waitTable(1, 0, 0) // newEnv's root, attached without a session

	ctx, _, end := e.openSession()
	unowned, unownedRoot := e.enterSession(ctx)
	e.walkOne(e.rootH, "a")
	e.walkOne(e.rootH, "b")
	held := e.walkOne(e.rootH, "c")
	e.open(held, unix.O_RDONLY)
	// A handle released by its session leaves it.
	r := must(t, "walk c", must2(e.walk(e.rootH, "c")))
	fh := r.GetFiles()[0].GetHandle().GetFileHandle()
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{r.GetFiles()[0].GetHandle().GetId()}}); err != nil {
		t.Fatal(err)
	}
	e.mkdir(e.rootH, "d")
	e.unlinkOpen(e.rootH, "c")
	// a is unlinked too, but the sentry only looked it up: its handle
	// goes with the session (a successor reopens only open files).
	if err := os.Remove(e.host("a")); err != nil {
		t.Fatal(err)
	}
	e.waitTable(6, 1, 0) // roots + a, b, c, d

	end()
	e.waitTable(2, 0, 1) // root + the unlinked, open c

	// A successor's session reopens c from the orphan.
	e.ctx, e.rootH = unowned, unownedRoot
	rr := e.reopen(fh)
	if rr.GetErrno() != 0 {
		t.Fatalf("reopen of the unlinked file: errno %v", unix.Errno(rr.GetErrno()))
	}
	e.open(rr.GetHandle().GetId(), unix.O_RDONLY)
	if got := e.read(rr.GetHandle().GetId(), 0, 100); got != "c data" {
		t.Fatalf("unlinked file reads %q", got)
	}
	// The reopen adopted the orphan: the successor's handle keeps the file.
	e.waitTable(2, 0, 0)
	time.Sleep(400 * time.Millisecond) // past the linger
	if got := e.read(rr.GetHandle().GetId(), 0, 100); got != "c data" {
		t.Fatalf("after the linger the file reads %q", got)
	}
	if n := sillyNames(t, e.root); len(n) != 1 {
		t.Fatalf("silly names while the successor holds the file: %v", n)
	}
	if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{rr.GetHandle().GetId()}}); err != nil {
		t.Fatal(err)
	}
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names after the successor released the file: %v", n)
	}
}

// TestSessionEndOrphanExpires: an unlinked file nobody reopens is released
// (and its silly name removed) when the linger expires.
func TestSessionEndOrphanExpires(t *testing.T) {
	e := newEnv(t, WithOrphanLinger(200*time.Millisecond))
	ctx, _, end := e.openSession()
	e.enterSession(ctx)
	e.create(e.rootH, "c", unix.O_RDWR, 0o644)
	e.unlinkOpen(e.rootH, "c")
	if n := sillyNames(t, e.root); len(n) != 1 {
		t.Fatalf("silly names: %v", n)
	}
	end()
	e.waitTable(2, 0, 1)
	e.waitTable(1, 0, 0)
	if n := sillyNames(t, e.root); len(n) != 0 {
		t.Fatalf("silly names after the linger: %v", n)
	}
}

func TestSessionNoLinger(t *testing.T) {
	e := newEnv(t, WithOrphanLinger(0))
	writeHostFile(t, e.host("c"), "c")
	ctx, _, end := e.openSession()
	e.enterSession(ctx)
	e.walkOne(e.rootH, "c")
	if _, err := e.unlink(e.rootH, "c", 0); err != nil {
		t.Fatal(err)
	}
	end()
	e.waitTable(1, 0, 0)
}

// TestSessionMetadata: a call naming an unknown or malformed session is
// refused before it does anything.
func TestSessionMetadata(t *testing.T) {
	e := newEnv(t)
	_, id, end := e.openSession()
	defer end()
	for _, tc := range []struct {
		name  string
		value string
		want  codes.Code
	}{
		{"open session", strconv.FormatUint(id, 10), codes.OK},
		{"unknown", strconv.FormatUint(id+1, 10), codes.FailedPrecondition},
		{"zero", "0", codes.FailedPrecondition},
		{"not a number", "x1", codes.InvalidArgument},
		{"negative", "-1", codes.InvalidArgument},
		{"empty", "", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), goferpb.SessionMetadataKey, tc.value)
			dir := e.rootH
			if tc.want == codes.OK {
				r, err := e.c.Attach(ctx, &goferpb.AttachRequest{})
				if err != nil {
					t.Fatal(err)
				}
				dir = r.GetRoot().GetId()
			}
			_, err := e.c.Mkdir(ctx, &goferpb.MkdirRequest{Dir: dir, Name: []byte("m"), Mode: 0o755})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Mkdir: %v, want code %v", err, tc.want)
			}
			if tc.want == codes.OK {
				if err := unix.Rmdir(e.host("m")); err != nil {
					t.Fatal(err)
				}
			} else if _, err := unix.Open(e.host("m"), unix.O_RDONLY, 0); err == nil {
				t.Fatalf("a refused Mkdir made the directory")
			}
		})
	}
	// A session that ended is unknown too.
	end()
	e.waitTable(1, 0, 0)
	ctx := metadata.AppendToOutgoingContext(context.Background(), goferpb.SessionMetadataKey, strconv.FormatUint(id, 10))
	if _, err := e.c.Attach(ctx, &goferpb.AttachRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Attach in an ended session: %v", err)
	}
	e.waitTable(1, 0, 0)
}

// TestSessionClaimAfterEnd: handles returned to a session that ended while
// the call ran are released, not leaked.
func TestSessionClaimAfterEnd(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("a"), "a")
	_, id, end := e.openSession()
	e.srv.mu.Lock()
	ss := e.srv.sessions[id]
	e.srv.mu.Unlock()
	end()
	e.waitTable(1, 0, 0)
	r, err := e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("a")}})
	if err != nil || r.GetErrno() != 0 {
		t.Fatalf("walk: %v %v", err, r.GetErrno())
	}
	e.waitTable(2, 0, 0)
	e.srv.claim(ss, r)
	e.waitTable(1, 0, 0)
}
