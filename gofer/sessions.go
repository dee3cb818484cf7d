package gofer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// DefaultOrphanLinger is how long the handles of unlinked files outlive
// the session that held them.
const DefaultOrphanLinger = 5 * time.Minute

// session is one sentry's claim on handles: a sentry that dies without
// releasing its handles (kill -9) would otherwise leave their fds open in
// the gofer for good, and a sentry restarted many times would exhaust the
// gofer's fds.
type session struct {
	// id and principal (the authenticated peer that opened it, the only
	// one that may use it) are immutable.
	id        uint64
	principal string
	// handles are the ids this session owns. Protected by Server.mu; nil
	// once the session ended.
	handles map[uint64]struct{}
	// donated counts the host fds donated for the handles this session
	// owns (the sum of their handle.donations), at most
	// Server.maxDonated. Protected by Server.mu.
	donated int
}

// orphan is an unlinked file's handle kept after its session ended.
type orphan struct {
	h       *handle
	expires time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithOrphanLinger sets how long the handles of unlinked files survive
// the session that held them (DefaultOrphanLinger). A sentry that
// restarts within it can Reopen them; 0 releases them with the session.
func WithOrphanLinger(d time.Duration) Option {
	return func(s *Server) { s.orphanLinger = d }
}

// WithHandleKeyFile keeps the key that seals file handles in path (created
// with mode 0600 if missing; an existing file must be the gofer's own and
// unreadable by others). A gofer restarted with the same file accepts the
// file handles its predecessor gave out; without it the key lives in
// memory and dies with the process.
func WithHandleKeyFile(path string) Option {
	return func(s *Server) { s.keyFile = path }
}

// WithAllowSetuid keeps setuid and setgid bits on chmod, create and chown
// instead of stripping them.
func WithAllowSetuid(allow bool) Option {
	return func(s *Server) { s.allowSetuid = allow }
}

// Session implements goferpb.GoferServer.Session.
func (s *Server) Session(req *goferpb.SessionRequest, stream goferpb.Gofer_SessionServer) (err error) {
	defer s.recoverCall("Session", &err)
	if v := req.GetProtocolVersion(); v != goferpb.ProtocolVersion {
		s.log.Warn("refused a session of another protocol version", "version", v, "peer", principalOf(stream.Context()))
		return status.Errorf(codes.FailedPrecondition, "the server speaks gofer protocol version %d, this gofer %d (runsc-decoupled binaries of different versions)", v, goferpb.ProtocolVersion)
	}
	ss, err := s.beginSession(principalOf(stream.Context()))
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer s.endSession(ss)
	s.log.Debug("session began", "session", ss.id)
	if err := stream.Send(&goferpb.SessionEvent{SessionId: ss.id, ProtocolVersion: goferpb.ProtocolVersion}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (s *Server) beginSession(principal string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errorf(unix.ESHUTDOWN, "session")
	}
	s.nextSession++
	// The boot prefix keeps a session id of an earlier gofer process from
	// naming one of this process's sessions.
	ss := &session{id: uint64(s.idPrefix)<<32 | uint64(s.nextSession), handles: make(map[uint64]struct{}), principal: principal}
	s.sessions[ss.id] = ss
	return ss, nil
}

// endSession releases the handles of a session that ended, except those of
// unlinked files, which become orphans for s.orphanLinger.
func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	owned := make([]*handle, 0, len(ss.handles))
	for id := range ss.handles {
		if h := s.handles[id]; h != nil {
			h.incRef()
			owned = append(owned, h)
		}
	}
	ss.handles = nil
	s.mu.Unlock()

	// fstat outside mu: an unlinked regular file can still be reopened by
	// a successor only through a handle this process keeps. Only handles
	// the sentry opened are kept: its application may have the file open
	// (a successor reopens it), while a handle it only looked up (its
	// dentry cache keeps up to a thousand, of files it unlinked too) has
	// nothing a successor needs, and kept for every server killed it
	// would pile up in the gofer's fds.
	keep := make(map[*handle]bool)
	if s.orphanLinger > 0 {
		for _, h := range owned {
			var st unix.Stat_t
			if h.ftype == unix.S_IFREG && h.sentryOpen.Load() && unix.Fstat(h.fd, &st) == nil && (st.Nlink == 0 || s.isSilly(h)) {
				keep[h] = true
			}
		}
	}
	expires := time.Now().Add(s.orphanLinger)
	var dropped []*handle
	s.mu.Lock()
	for _, h := range owned {
		if s.handles[h.id] != h || h.owner != ss {
			continue // released meanwhile
		}
		h.owner, h.donations = nil, 0
		if keep[h] {
			s.orphans[h.id] = orphan{h: h, expires: expires}
			continue
		}
		dropped = append(dropped, h)
	}
	if len(keep) > 0 && s.orphanTimer == nil && !s.closed {
		s.orphanTimer = time.AfterFunc(s.orphanLinger, s.expireOrphans)
	}
	s.mu.Unlock()
	s.drop(dropped)
	for _, h := range owned {
		h.decRef()
	}
	s.log.Info("session ended", "session", ss.id, "released", len(dropped), "unlinked_kept", len(keep))
}

// expireOrphans releases orphans whose time is up and schedules itself for
// the next one.
func (s *Server) expireOrphans() {
	now := time.Now()
	var dropped []*handle
	s.mu.Lock()
	s.orphanTimer = nil
	var next time.Time
	for id, o := range s.orphans {
		if !o.expires.After(now) {
			delete(s.orphans, id)
			dropped = append(dropped, o.h)
			continue
		}
		if next.IsZero() || o.expires.Before(next) {
			next = o.expires
		}
	}
	if !next.IsZero() && !s.closed {
		s.orphanTimer = time.AfterFunc(next.Sub(now), s.expireOrphans)
	}
	s.mu.Unlock()
	s.drop(dropped)
	if len(dropped) > 0 {
		s.log.Info("released the handles of unlinked files no sentry reopened", "handles", len(dropped))
	}
}

// sessionOf returns the session ctx's metadata names, or without one the
// principal's loose pseudo-session; an error for a session this process
// does not know (it ended, or belongs to an earlier gofer process) or
// that another principal opened.
func (s *Server) sessionOf(ctx context.Context, principal string) (*session, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(goferpb.SessionMetadataKey)
	if len(v) == 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		ss := s.loose[principal]
		if ss == nil {
			ss = &session{principal: principal, handles: make(map[uint64]struct{})}
			s.loose[principal] = ss
		}
		return ss, nil
	}
	id, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %q is not a session id", goferpb.SessionMetadataKey, v[0])
	}
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil || ss.principal != principal {
		return nil, status.Errorf(codes.FailedPrecondition, "unknown gofer session %d", id)
	}
	return ss, nil
}

// claim gives the handles of reply to ss. If ss ended while the call ran,
// nobody will release them: they are released now.
func (s *Server) claim(ss *session, reply proto.Message) {
	var ids []uint64
	goferpb.RangeHandles(reply.ProtoReflect(), func(h *goferpb.Handle, _ *goferpb.Stat) {
		if h.GetId() != 0 {
			ids = append(ids, h.GetId())
		}
	})
	if len(ids) == 0 {
		return
	}
	var dropped []*handle
	s.mu.Lock()
	for _, id := range ids {
		h := s.handles[id]
		if h == nil {
			continue
		}
		if ss.handles == nil {
			dropped = append(dropped, h)
			continue
		}
		h.owner = ss
		ss.handles[id] = struct{}{}
	}
	s.mu.Unlock()
	s.drop(dropped)
}

// disownLocked removes the table's record of h's owner or orphanhood as h
// leaves the table. Precondition: s.mu.
func (s *Server) disownLocked(h *handle) {
	if h.owner != nil {
		h.owner.donated -= h.donations
		if h.owner.handles != nil {
			delete(h.owner.handles, h.id)
		}
		h.owner = nil
	}
	h.donations = 0
	delete(s.orphans, h.id)
}

// serviceDesc is the Gofer service with the door (serveCall) around every
// unary method, so that no registration can forget it.
func (s *Server) serviceDesc() *grpc.ServiceDesc {
	d := goferpb.Gofer_ServiceDesc
	d.Methods = make([]grpc.MethodDesc, len(goferpb.Gofer_ServiceDesc.Methods))
	for i, m := range goferpb.Gofer_ServiceDesc.Methods {
		h, name := m.Handler, m.MethodName
		d.Methods[i] = grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, next grpc.UnaryServerInterceptor) (resp any, err error) {
			defer s.recoverCall(name, &err)
			principal := principalOf(ctx)
			ss, err := s.sessionOf(ctx, principal)
			if err != nil {
				return nil, err
			}
			return s.serveCall(ctx, ss, principal, name, h, dec)
		}}
	}
	return &d
}

// serveCall runs one unary call of session ss through the door: its
// request is decoded by dec and admitted (admit), the handler h runs, and
// the handles of its reply are claimed for ss and sealed. Both the unary
// gRPC methods and the Calls stream come here.
func (s *Server) serveCall(ctx context.Context, ss *session, principal, name string, h grpc.MethodHandler, dec func(any) error) (resp any, err error) {
	defer s.recoverCall(name, &err)
	var refused error
	admitted := func(v any) error {
		if err := dec(v); err != nil {
			return err
		}
		if m, ok := v.(proto.Message); ok {
			refused = s.admit(ss, principal, name, m)
		}
		return refused
	}
	resp, err = h(s, ctx, admitted, nil)
	switch {
	case refused != nil && errors.Is(refused, errBadFileHandle):
		s.log.Warn("refused a file handle this gofer did not issue", "method", name, "peer", principal, "err", refused)
		return errnoReply(name, unix.ESTALE)
	case refused != nil:
		s.log.Debug("refused a handle id the caller was not given", "method", name, "peer", principal, "err", refused)
		return errnoReply(name, unix.EBADF)
	case err != nil:
		return resp, err
	}
	if m, ok := resp.(proto.Message); ok {
		s.claim(ss, m)
		s.sealReply(m)
	}
	return resp, nil
}
