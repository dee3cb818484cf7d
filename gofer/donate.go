package gofer

import (
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Donated fds (OpenRequest.donate): when the sentry and the gofer share a
// machine, the gofer hands the sentry a host fd of a regular file it
// opened, so that the sentry reads and writes the file with its own
// pread and pwrite instead of a Read or Write call each. Path
// operations stay here: a donated fd is an open file description of
// exactly the handle's inode (the one the call opened, when it has
// exactly the access mode asked for, else one reopened through the
// handle's O_PATH fd), with exactly the access mode the sentry asked
// for, never O_PATH, never a directory, so nothing can be walked from it.
//
// Not donated: O_SYNC/O_DSYNC opens (their writes must be followed by a
// sync, which only the gofer does), a writable fd of a file with set-id
// bits (a write must clear them, through SetStat), and beyond the
// session's maxDonated. The count is the gofer's: a donation stays
// counted until the handle leaves its session (Release, the session's
// end), which is when the sentry closes its fd.

// DefaultMaxDonatedFDs bounds the fds donated to one session at once.
const DefaultMaxDonatedFDs = 4096

// WithDonateFDs says whether the gofer donates host fds to a sentry that
// asks on a call stream that can carry them (a Unix socket). Default on.
func WithDonateFDs(donate bool) Option {
	return func(s *Server) { s.donateFDs = donate }
}

// WithMaxDonatedFDs bounds the fds donated to one session at once
// (DefaultMaxDonatedFDs); beyond it files are served by Read and Write.
func WithMaxDonatedFDs(n int) Option {
	return func(s *Server) { s.maxDonated = n }
}

// FDSender is implemented by a CallStream that can pass host fds with a
// result (the framed wire on a Unix socket).
type FDSender interface {
	CanSendFDs() bool
	// SendMsgFDs sends m with fds attached; the caller keeps its fds.
	SendMsgFDs(m any, fds []int) error
}

// gift is an fd donated with a result: the caller sends it, then lets
// it go (release). It is either an fd of its own, or the handle's own
// open fd, which stays the handle's: while the gift is out, the
// caller holds a reference of the handle (so it is not closed) and its
// read lock (so no Open replaces it), and sending it (SCM_RIGHTS) gives
// the peer its own copy, without a dup and a close here.
type gift struct {
	fd int
	// own is the handle whose fd it is, or nil for an fd of the gift's
	// own.
	own *handle
}

// noGift is no donation.
var noGift = gift{fd: -1}

// ok says there is an fd to send.
func (g gift) ok() bool { return g.fd >= 0 }

// release lets the gift go, sent or not.
func (g gift) release() {
	switch {
	case g.own != nil:
		g.own.mu.RUnlock()
		g.own.decRef()
	case g.fd >= 0:
		unix.Close(g.fd)
	}
}

// donation returns the fd to donate with resp, the successful reply of
// req, when req asked for one and the gofer agrees, else noGift. The
// caller sends it and releases it.
func (s *Server) donation(ss *session, req, resp proto.Message) gift {
	var id uint64
	var flags uint32
	var st *goferpb.Stat // the file's stat as this call read it, if it did
	switch r := req.(type) {
	case *goferpb.OpenRequest:
		rep, ok := resp.(*goferpb.OpenReply)
		if !ok || !r.GetDonate() || rep.GetErrno() != 0 {
			return noGift
		}
		id, flags = r.GetHandle(), r.GetFlags()
	case *goferpb.WalkRequest:
		rep, ok := resp.(*goferpb.WalkReply)
		if !ok || !r.GetDonate() || !r.GetOpen() || rep.GetErrno() != 0 || rep.GetOpenErrno() != 0 || len(rep.GetFiles()) == 0 {
			return noGift
		}
		last := rep.GetFiles()[len(rep.GetFiles())-1]
		id, flags, st = last.GetHandle().GetId(), r.GetOpenFlags(), last.GetStat()
	case *goferpb.CreateRequest:
		rep, ok := resp.(*goferpb.CreateReply)
		if !ok || !r.GetDonate() || rep.GetErrno() != 0 {
			return noGift
		}
		id, flags, st = rep.GetHandle().GetId(), r.GetFlags(), rep.GetStat()
	default:
		return noGift
	}
	g, err := s.donate(ss, id, flags, st)
	if err != nil {
		s.log.Debug("not donated", "handle", id, "flags", flags, "err", err)
		return noGift
	}
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("donated", "handle", id, "flags", flags)
	}
	return g
}

// donate gives the file of handle id, which ss owns, for donation with
// the access mode of flags, and counts it. st is the file's stat (set-id
// bits included) as the call that opened it read it, or nil.
func (s *Server) donate(ss *session, id uint64, flags uint32, st *goferpb.Stat) (gift, error) {
	if flags&(unix.O_SYNC|unix.O_DSYNC) != 0 {
		return noGift, errorf(unix.EPERM, "donate: synchronous writes go through the gofer")
	}
	acc := int(flags & unix.O_ACCMODE)
	_, write, err := accessOf(flags)
	if err != nil {
		return noGift, wrap(err, "donate")
	}
	h, err := s.lookup(id)
	if err != nil {
		return noGift, wrap(err, "donate")
	}
	keep := false // h's reference goes with the gift
	defer func() {
		if !keep {
			h.decRef()
		}
	}()
	if h.ftype != unix.S_IFREG {
		return noGift, errorf(unix.EPERM, "donate: file type %#o is not a regular file", h.ftype)
	}
	h.mu.RLock()
	syncWrites := h.syncWrites
	h.mu.RUnlock()
	if syncWrites {
		return noGift, errorf(unix.EPERM, "donate: handle %d has synchronous writes", id)
	}
	if write {
		if st == nil {
			if st, err = s.statFile(h.fd); err != nil {
				return noGift, wrap(err, "donate")
			}
		}
		if st.GetMode()&setIDBits != 0 {
			return noGift, errorf(unix.EPERM, "donate: a write must clear the set-id bits of handle %d", id)
		}
	}
	s.mu.Lock()
	if s.handles[id] != h || h.owner != ss || ss.handles == nil || ss.donated >= s.maxDonated {
		n := ss.donated
		s.mu.Unlock()
		return noGift, errorf(unix.EMFILE, "donate: handle %d not this session's, or %d fds donated already", id, n)
	}
	ss.donated++
	h.donations++
	s.mu.Unlock()
	g, err := h.shareOrReopen(acc)
	if err != nil {
		s.mu.Lock()
		if h.owner == ss && h.donations > 0 {
			h.donations--
			ss.donated--
		}
		s.mu.Unlock()
		return noGift, wrap(err, "donate")
	}
	keep = g.own != nil
	return g, nil
}

// shareOrReopen returns the gift of an fd of h's file open with access
// mode acc: h's own open fd when that was opened with exactly acc (the
// open the call just made: sent as it is, it costs no dup and no
// close; the gift then holds h's read lock and takes over the caller's
// reference of h), else a new open file description. Sharing the
// description with the sentry is safe because neither side uses its
// offset (pread, pwrite) or changes its status flags.
func (h *handle) shareOrReopen(acc int) (gift, error) {
	h.mu.RLock()
	own := -1
	switch {
	case acc == unix.O_RDWR && h.rfd >= 0 && h.rfd == h.wfd:
		own = h.rfd
	case acc == unix.O_RDONLY && h.rfd >= 0 && h.rfd != h.wfd:
		own = h.rfd
	case acc == unix.O_WRONLY && h.wfd >= 0 && h.wfd != h.rfd:
		own = h.wfd
	}
	if own >= 0 {
		return gift{fd: own, own: h}, nil
	}
	h.mu.RUnlock()
	fd, err := h.reopen(acc)
	if err != nil {
		return noGift, err
	}
	return gift{fd: fd}, nil
}
