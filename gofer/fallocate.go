package gofer

import (
	"context"
	"math"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Fallocate implements goferpb.GoferServer.Fallocate: fallocate(2) on the
// handle's write fd, so only a file the sentry opened for writing, and
// only within the root (the handle is). Like a SetStat of the size it
// carries an Origin: a call re-sent after a sentry crash is answered
// from the reply cache (a hole punched again would be harmless, but a
// FALLOC_FL_INSERT_RANGE would shift the data twice).
func (s *Server) Fallocate(_ context.Context, req *goferpb.FallocateRequest) (*goferpb.FallocateReply, error) {
	return once(s, req.GetOrigin(), "fallocate", func() (*goferpb.FallocateReply, []byte) {
		st, err := s.fallocate(req)
		s.log.Debug("fallocate", "handle", req.GetHandle(), "mode", req.GetMode(), "offset", req.GetOffset(), "length", req.GetLength(), "err", err)
		if err != nil {
			return &goferpb.FallocateReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.FallocateReply{Stat: st}, nil
	}, func(r *goferpb.FallocateReply, _ []byte) *goferpb.FallocateReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		return r
	}), nil
}

func (s *Server) fallocate(req *goferpb.FallocateRequest) (*goferpb.Stat, error) {
	id, off, length := req.GetHandle(), req.GetOffset(), req.GetLength()
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	switch {
	case h.ftype == unix.S_IFDIR:
		return nil, errorf(unix.EISDIR, "fallocate handle %d", id)
	case h.ftype != unix.S_IFREG:
		return nil, errorf(unix.ENODEV, "fallocate handle %d: file type %#o", id, h.ftype)
	case length == 0 || off > math.MaxInt64 || length > math.MaxInt64:
		return nil, errorf(unix.EINVAL, "fallocate handle %d: offset %d length %d", id, off, length)
	case length > math.MaxInt64-off:
		return nil, errorf(unix.EFBIG, "fallocate handle %d: offset %d length %d", id, off, length)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.wfd < 0 {
		return nil, errorf(unix.EBADF, "fallocate handle %d: not open for writing", id)
	}
	for {
		err = unix.Fallocate(h.wfd, req.GetMode(), int64(off), int64(length))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, wrap(err, "fallocate handle %d", id)
	}
	if h.syncWrites {
		if err := fsyncFD(h.wfd, h.dsyncOnly); err != nil {
			return nil, wrap(err, "fallocate handle %d: O_SYNC", id)
		}
	}
	return s.statFile(h.wfd)
}
