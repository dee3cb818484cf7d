package gofer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// This file is the gofer's door: what every gRPC call passes through before
// and after its handler (serviceDesc). Nothing a peer asserts names another
// peer's state: sessions, handle ids and reply-cache entries are all keyed
// by the caller's authenticated identity, which the gofer takes from the
// connection (principalOf), never from the request.

// Principal is implemented by a connection's credentials.AuthInfo when the
// listener authenticated the peer itself (a Unix socket's peer
// credentials): it names the peer, e.g. "uid:0".
type Principal interface {
	Principal() string
}

// anonymous is the principal of a peer whose connection carries no
// authentication (a listener started with --insecure, or an in-process
// test server).
const anonymous = "anonymous"

// principalOf names the authenticated peer of ctx's call: the listener's
// own authentication (Principal), else the subject of a verified TLS client
// certificate, else anonymous.
func principalOf(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return anonymous
	}
	switch a := p.AuthInfo.(type) {
	case Principal:
		return a.Principal()
	case credentials.TLSInfo:
		if c := verifiedLeaf(a.State.VerifiedChains); c != nil {
			return "tls:" + c.Subject.String()
		}
	}
	return anonymous
}

func verifiedLeaf(chains [][]*x509.Certificate) *x509.Certificate {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	return chains[0][0]
}

// handleIDFields are the names of request fields that carry handle ids.
// TestEveryRequestHandleFieldIsGuarded fails when a request gains a uint64
// field not classified here or in notHandleIDFields.
var handleIDFields = map[protoreflect.Name]bool{
	"dir": true, "handle": true, "target": true, "old_dir": true, "new_dir": true, "handles": true, "dirs": true,
}

// notHandleIDFields are the uint64 request fields that are not handle ids.
var notHandleIDFields = map[protoreflect.Name]bool{
	"offset": true, "size": true, "seq": true, "rdev": true, "length": true, "features": true, "expect_ino": true, "size_before": true,
	"ino":     true,                  // GetdentsRequest.ino: the inode a listing by name expects
	"inos":    true,                  // GetdentsRequest.inos: those of a listing of several
	"old_ino": true, "new_ino": true, // RenameRequest.check_inos' inodes
}

// errForeignHandle is returned by the request decoder of a call naming a
// handle id its caller was not given; the call then gets EBADF.
var errForeignHandle = errors.New("handle id not given to this caller")

// errBadFileHandle is returned by the request decoder of a Reopen whose
// file handle this gofer (or a predecessor with its key) did not issue.
var errBadFileHandle = errors.New("file handle not issued by this gofer")

// admit checks a decoded request before its handler runs: every handle id
// it names must belong to owner (Release silently drops the others, as it
// drops unknown ids), an Origin is qualified by the caller's principal and
// the method (so one peer cannot answer or poison another's mutations, and
// a duplicate of another kind cannot meet a cached reply of the wrong
// type), and a Reopen's file handle must carry this gofer's MAC.
func (s *Server) admit(owner *session, principal, method string, m proto.Message) error {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.Uint64Kind || !handleIDFields[fd.Name()] {
			continue
		}
		if fd.IsList() {
			if r.Get(fd).List().Len() == 0 {
				continue // an empty list is read-only
			}
			l := r.Mutable(fd).List()
			_, release := m.(*goferpb.ReleaseRequest)
			kept := l.Len()
			s.mu.Lock()
			for j := 0; j < kept; {
				id := l.Get(j).Uint()
				if s.ownsLocked(owner, id) {
					j++
					continue
				}
				if !release {
					// Only Release drops foreign ids; any other call
					// naming one fails (as for a single handle field).
					s.mu.Unlock()
					return fmt.Errorf("%w: %s %d", errForeignHandle, fd.Name(), id)
				}
				kept--
				l.Set(j, l.Get(kept))
			}
			s.mu.Unlock()
			l.Truncate(kept)
			continue
		}
		id := r.Get(fd).Uint()
		if id == 0 && !r.Has(fd) {
			continue
		}
		s.mu.Lock()
		ok := s.ownsLocked(owner, id)
		s.mu.Unlock()
		if !ok {
			return fmt.Errorf("%w: %s %d", errForeignHandle, fd.Name(), id)
		}
	}
	if fd := fields.ByName("origin"); fd != nil && r.Has(fd) {
		if o, ok := r.Get(fd).Message().Interface().(*goferpb.Origin); ok {
			o.ClientId = principal + "\x1f" + method + "\x1f" + o.ClientId
		}
	}
	if req, ok := m.(*goferpb.UnlinkManyRequest); ok {
		// Each is an Unlink's: the call re-sent alone (a server
		// replaying its client's calls) meets its cached reply. The
		// unlinks of a run are one client's: its qualified id is made
		// once, not once a removed file.
		var client, qualified string
		made := false
		for _, o := range req.GetOrigins() {
			if o == nil {
				continue
			}
			if !made || o.ClientId != client {
				client, qualified, made = o.ClientId, principal+"\x1fUnlink\x1f"+o.ClientId, true
			}
			o.ClientId = qualified
		}
	}
	if req, ok := m.(*goferpb.ReopenRequest); ok {
		if n := len(req.GetFileHandle()); n <= 4+handleMACLen || n > 4+maxHandleBytes+handleMACLen {
			// Malformed: reopenFileHandle answers EINVAL.
			req.FileHandle = nil
			return nil
		}
		raw, err := s.keys.open(req.GetFileHandle())
		if err != nil {
			return fmt.Errorf("%w: %v", errBadFileHandle, err)
		}
		req.FileHandle = raw
	}
	return nil
}

// ownsLocked reports whether handle id belongs to owner. Precondition:
// s.mu.
func (s *Server) ownsLocked(owner *session, id uint64) bool {
	h := s.handles[id]
	return h != nil && h.owner == owner
}

// sealReply replaces the file handles of a reply by their sealed (MAC'd)
// wire form.
func (s *Server) sealReply(m proto.Message) {
	goferpb.RangeHandles(m.ProtoReflect(), func(h *goferpb.Handle, _ *goferpb.Stat) {
		if len(h.GetFileHandle()) > 0 {
			h.FileHandle = s.keys.seal(h.GetFileHandle())
		}
	})
}

// errnoReply returns an empty reply of method's type carrying errno e.
func errnoReply(method string, e unix.Errno) (proto.Message, error) {
	sd := goferpb.File_gofer_proto.Services().ByName("Gofer")
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, status.Errorf(codes.Unimplemented, "gofer: no method %s", method)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "gofer: reply type of %s: %v", method, err)
	}
	return setErrno(mt.New(), e), nil
}

// setErrno sets the errno field of a reply and returns it.
func setErrno(m protoreflect.Message, e unix.Errno) proto.Message {
	if fd := m.Descriptor().Fields().ByName("errno"); fd != nil {
		m.Set(fd, protoreflect.ValueOfInt32(int32(e)))
	}
	return m.Interface()
}

// recoverCall turns a panic of a call's handler into an error for that
// call alone, logged with its stack; the gofer carries on. A panic that
// struck while a lock was held leaves it held, so later calls on the same
// handle may block: a bug to fix, not a state to recover from.
// It must be deferred directly (recover works only there); gRPC ignores a
// reply returned with an error.
func (s *Server) recoverCall(method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.log.Error("panic in a gofer call: the call fails, the gofer carries on", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "gofer: %s: internal error", method)
}
