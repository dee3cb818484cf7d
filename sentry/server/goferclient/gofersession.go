package goferclient

import (
	"context"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// goferSession keeps one gofer session (goferpb.Gofer.Session) open and
// names it in every call, so that the gofer releases this server's handles
// when the server dies: without it every kill -9 of a server leaked one
// gofer fd per file the server had looked up, and a server restarted a few
// dozen times exhausted the gofer's fds. It is a grpc.ClientConnInterface
// over the real connection; GoferConn sends everything through it.
//
// When the session's stream ends (the gofer restarted, or the connection
// broke), a new session is opened; calls wait for it. A call the gofer
// rejects because it no longer knows the session (FAILED_PRECONDITION) did
// nothing and is sent again under the next session. The handles of the
// old session are gone then; GoferConn re-resolves them as after a gofer
// restart.
type goferSession struct {
	cc  grpc.ClientConnInterface
	log hclog.Logger

	mu sync.Mutex
	// id is the open session's id, 0 while none is open. Protected by mu.
	id uint64
	// unsupported is set when the gofer has no Session method: calls then
	// go without one. Protected by mu.
	unsupported bool
	// changed is closed (and replaced) whenever id or unsupported changes.
	// Protected by mu.
	changed chan struct{}
}

// newGoferSession opens sessions over cc until ctx ends.
func newGoferSession(ctx context.Context, cc grpc.ClientConnInterface, log hclog.Logger) *goferSession {
	s := &goferSession{cc: cc, log: log, changed: make(chan struct{})}
	go s.run(ctx)
	return s
}

func (s *goferSession) set(id uint64, unsupported bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id, s.unsupported = id, unsupported
	close(s.changed)
	s.changed = make(chan struct{})
}

// run holds a session open, opening a new one each time one ends.
func (s *goferSession) run(ctx context.Context) {
	client := goferpb.NewGoferClient(s.cc)
	for ctx.Err() == nil {
		stream, err := client.Session(ctx, &goferpb.SessionRequest{ProtocolVersion: goferpb.ProtocolVersion}, grpc.WaitForReady(true))
		var ev *goferpb.SessionEvent
		if err == nil {
			ev, err = stream.Recv()
		}
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.PermissionDenied {
			// Another protocol version, or not allowed: said once per
			// attempt, loudly, since no file call can work.
			s.log.Error("the gofer refused this server's session", "err", status.Convert(err).Message())
		}
		if status.Code(err) == codes.Unimplemented {
			s.log.Warn("the gofer has no sessions: it keeps this server's handles after the server dies")
			s.set(0, true)
			return
		}
		if err == nil {
			s.set(ev.GetSessionId(), false)
			s.log.Debug("gofer session opened", "session", ev.GetSessionId())
			_, err = stream.Recv() // blocks while the session lasts
			s.set(0, false)
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("gofer session ended; opening another", "err", err)
		if sleepCtx(ctx, unavailableBackoff) != nil {
			return
		}
	}
}

// current waits for an open session and returns its id and the channel
// closed when it changes.
func (s *goferSession) current(ctx context.Context) (uint64, bool, <-chan struct{}, error) {
	for {
		s.mu.Lock()
		id, unsupported, changed := s.id, s.unsupported, s.changed
		s.mu.Unlock()
		if id != 0 || unsupported {
			return id, unsupported, changed, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, false, nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (s *goferSession) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	for {
		id, unsupported, changed, err := s.current(ctx)
		if err != nil {
			return err
		}
		cctx := ctx
		if !unsupported {
			cctx = metadata.AppendToOutgoingContext(ctx, goferpb.SessionMetadataKey, strconv.FormatUint(id, 10))
		}
		err = s.cc.Invoke(cctx, method, args, reply, opts...)
		if status.Code(err) != codes.FailedPrecondition || unsupported {
			return err
		}
		// The gofer does not know the session (it restarted, or ended
		// the session): nothing was done; send it under the next one.
		select {
		case <-changed:
		case <-ctx.Done():
			return err
		}
	}
}

// NewStream implements grpc.ClientConnInterface (the Gofer service's only
// stream is Session itself, which needs no session).
func (s *goferSession) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return s.cc.NewStream(ctx, desc, method, opts...)
}
