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
// FALLOC_FL_INSERT_RANGE would shift the data twice). A call with
// check_size runs only on a file of size size_before: how a sentry
// re-sends such a call to a restarted gofer, which has no reply cache
// (the size tells whether the gofer that died ran it).
func (s *Server) Fallocate(_ context.Context, req *goferpb.FallocateRequest) (*goferpb.FallocateReply, error) {
	return once(s, req.GetOrigin(), "fallocate", func() (*goferpb.FallocateReply, []byte) {
		st, differs, err := s.fallocate(req)
		s.log.Debug("fallocate", "handle", req.GetHandle(), "mode", req.GetMode(), "offset", req.GetOffset(), "length", req.GetLength(), "size_differs", differs, "err", err)
		if err != nil {
			return &goferpb.FallocateReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.FallocateReply{Stat: st, SizeDiffers: differs}, nil
	}, func(r *goferpb.FallocateReply, _ []byte) *goferpb.FallocateReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		return r
	}), nil
}

// fallocate runs req on its handle's write fd and returns the file's
// attributes after it, or, if req.check_size and the file's size is not
// req.size_before, the file's attributes and true without running it.
func (s *Server) fallocate(req *goferpb.FallocateRequest) (*goferpb.Stat, bool, error) {
	id, off, length := req.GetHandle(), req.GetOffset(), req.GetLength()
	h, err := s.lookup(id)
	if err != nil {
		return nil, false, err
	}
	defer h.decRef()
	switch {
	case h.ftype == unix.S_IFDIR:
		return nil, false, errorf(unix.EISDIR, "fallocate handle %d", id)
	case h.ftype != unix.S_IFREG:
		return nil, false, errorf(unix.ENODEV, "fallocate handle %d: file type %#o", id, h.ftype)
	case length == 0 || off > math.MaxInt64 || length > math.MaxInt64:
		return nil, false, errorf(unix.EINVAL, "fallocate handle %d: offset %d length %d", id, off, length)
	case length > math.MaxInt64-off:
		return nil, false, errorf(unix.EFBIG, "fallocate handle %d: offset %d length %d", id, off, length)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.wfd < 0 {
		return nil, false, errorf(unix.EBADF, "fallocate handle %d: not open for writing", id)
	}
	if req.GetCheckSize() {
		var st unix.Stat_t
		if err := unix.Fstat(h.wfd, &st); err != nil {
			return nil, false, wrap(err, "fallocate handle %d: size check", id)
		}
		if uint64(st.Size) != req.GetSizeBefore() {
			attrs, err := s.statFile(h.wfd)
			return attrs, err == nil, err
		}
	}
	for {
		err = unix.Fallocate(h.wfd, req.GetMode(), int64(off), int64(length))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, false, wrap(err, "fallocate handle %d", id)
	}
	if h.syncWrites {
		if err := fsyncFD(h.wfd, h.dsyncOnly); err != nil {
			return nil, false, wrap(err, "fallocate handle %d: O_SYNC", id)
		}
	}
	st, err := s.statFile(h.wfd)
	return st, false, err
}
