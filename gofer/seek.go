package gofer

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Seek implements goferpb.GoferServer.Seek: lseek(2) with SEEK_DATA or
// SEEK_HOLE on the handle's read fd (else its write fd), so the sentry's
// lseek finds the holes the host file system keeps. The fds' own offsets
// are not used (the gofer reads and writes with pread and pwrite).
func (s *Server) Seek(_ context.Context, req *goferpb.SeekRequest) (*goferpb.SeekReply, error) {
	off, err := s.seek(req)
	s.log.Debug("seek", "handle", req.GetHandle(), "offset", req.GetOffset(), "whence", req.GetWhence(), "result", off, "err", err)
	if err != nil {
		return &goferpb.SeekReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.SeekReply{Offset: off}, nil
}

func (s *Server) seek(req *goferpb.SeekRequest) (int64, error) {
	id, whence := req.GetHandle(), int(req.GetWhence())
	if whence != unix.SEEK_DATA && whence != unix.SEEK_HOLE {
		return 0, errorf(unix.EINVAL, "seek handle %d: whence %d", id, whence)
	}
	h, err := s.lookup(id)
	if err != nil {
		return 0, err
	}
	defer h.decRef()
	if h.ftype != unix.S_IFREG {
		return 0, errorf(unix.EINVAL, "seek handle %d: file type %#o", id, h.ftype)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	fd := h.rfd
	if fd < 0 {
		fd = h.wfd
	}
	if fd < 0 {
		return 0, errorf(unix.EBADF, "seek handle %d: not open", id)
	}
	off, err := unix.Seek(fd, req.GetOffset(), whence)
	if err != nil {
		return 0, wrap(err, "seek handle %d", id)
	}
	return off, nil
}
