package gofer

import (
	"context"
	"math"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// MaxReadLength caps ReadRequest.length: a Read returns at most this many
// bytes, and a reply shorter than min(length, MaxReadLength) means end of
// file. It is 4 MiB less a page, so that a reply fits in gRPC's default 4 MiB
// message limit.
const MaxReadLength = 4<<20 - 4<<10

// accessOf checks the access mode of open flags.
func accessOf(flags uint32) (read, write bool, err error) {
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		return true, false, nil
	case unix.O_WRONLY:
		return false, true, nil
	case unix.O_RDWR:
		return true, true, nil
	}
	return false, false, errorf(unix.EINVAL, "access mode %#x", flags&unix.O_ACCMODE)
}

// setSyncLocked records O_SYNC/O_DSYNC in flags: once any opener of the
// handle asks for synchronous writes, every write through it is synced.
// Precondition: h.mu is held for writing, or h is not yet published.
func (h *handle) setSyncLocked(flags uint32) {
	switch {
	case flags&unix.O_SYNC == unix.O_SYNC:
		h.syncWrites, h.dsyncOnly = true, false
	case flags&unix.O_DSYNC != 0 && !h.syncWrites:
		h.syncWrites, h.dsyncOnly = true, true
	}
}

// Open implements goferpb.GoferServer.Open. Only regular files and
// directories (read-only) can be opened. Of the flags, O_ACCMODE, O_TRUNC,
// O_SYNC and O_DSYNC are acted on and the rest ignored. O_APPEND is not
// passed to the host: the sentry owns offsets and passes the append offset
// with each Write. O_DIRECT is not passed to the host either: its alignment
// rules would make the sentry's unaligned writes fail.
func (s *Server) Open(_ context.Context, req *goferpb.OpenRequest) (*goferpb.OpenReply, error) {
	if req.GetFlags()&unix.O_TRUNC != 0 && req.GetOrigin() != nil {
		// The truncation once: a duplicate opens without it.
		return once(s, req.GetOrigin(), "open", func() (*goferpb.OpenReply, []byte) {
			return s.openReply(req, req.GetFlags()), nil
		}, func(*goferpb.OpenReply, []byte) *goferpb.OpenReply {
			return s.openReply(req, req.GetFlags()&^unix.O_TRUNC)
		}), nil
	}
	return s.openReply(req, req.GetFlags()), nil
}

// openReply opens req's handle with flags.
func (s *Server) openReply(req *goferpb.OpenRequest, flags uint32) *goferpb.OpenReply {
	st, differs, err := s.openChecked(req.GetHandle(), flags, nil, req)
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("open", "handle", req.GetHandle(), "flags", flags, "differs", differs, "err", err)
	}
	if err != nil {
		return &goferpb.OpenReply{Errno: errnoOf(err)}
	}
	return &goferpb.OpenReply{Differs: differs, Stat: st}
}

// openChecked opens handle id with flags; known is what the caller knows
// of the file (see markOpen), or nil. If check asks for it (see
// versionBefore), an O_TRUNC truncates only a file of the version check
// gives: on another it opens without truncating and returns the file's
// attributes and true; when it truncates, it returns the attributes
// after.
func (s *Server) openChecked(id uint64, flags uint32, known *openedBy, check versionBefore) (*goferpb.Stat, bool, error) {
	h, err := s.lookup(id)
	if err != nil {
		return nil, false, err
	}
	defer h.decRef()
	if err := h.checkOpenable(); err != nil {
		return nil, false, wrap(err, "open")
	}
	read, write, err := accessOf(flags)
	if err != nil {
		return nil, false, wrap(err, "open handle %d", id)
	}
	if h.ftype == unix.S_IFDIR && (write || flags&unix.O_TRUNC != 0) {
		return nil, false, errorf(unix.EISDIR, "open directory handle %d with flags %#x", id, flags)
	}

	st, differs, err := h.openLocking(id, flags, read, write, check)
	if err != nil {
		return nil, false, err
	}
	// After h.mu: Server.mu is never taken under a handle lock.
	s.markOpen(h, known)
	if !differs && flags&unix.O_TRUNC != 0 && check != nil && check.GetCheckVersion() {
		// Optional: without it the sentry asks when it needs them.
		st, _ = s.statFile(h.fd)
	}
	return st, differs, nil
}

func (h *handle) openLocking(id uint64, flags uint32, read, write bool, check versionBefore) (*goferpb.Stat, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.ensureOpenLocked(read, write); err != nil {
		return nil, false, err
	}
	h.setSyncLocked(flags)
	if flags&unix.O_TRUNC != 0 && check != nil {
		st, differs, err := versionDiffers(h.fd, check)
		if err != nil || differs {
			return st, differs, err
		}
	}
	if flags&unix.O_TRUNC != 0 {
		var err error
		if h.wfd >= 0 {
			err = unix.Ftruncate(h.wfd, 0)
		} else {
			// O_RDONLY|O_TRUNC truncates on Linux too.
			err = unix.Truncate(h.procPath(), 0)
		}
		if err != nil {
			return nil, false, wrap(err, "open handle %d: truncate", id)
		}
	}
	return nil, false, nil
}

// Create implements goferpb.GoferServer.Create: it creates a regular file
// (O_EXCL is implied) and returns its handle already opened with flags.
func (s *Server) Create(_ context.Context, req *goferpb.CreateRequest) (*goferpb.CreateReply, error) {
	return once(s, req.GetOrigin(), "create", func() (*goferpb.CreateReply, []byte) {
		h, st, err := s.create(req)
		if s.log.IsDebug() { // its arguments cost allocations
			s.log.Debug("create", "dir", req.GetDir(), "name", req.GetName(), "flags", req.GetFlags(), "mode", req.GetMode(), "err", err)
		}
		if err != nil {
			return &goferpb.CreateReply{Errno: errnoOf(err)}, nil
		}
		r := &goferpb.CreateReply{Handle: h, Stat: st}
		if !req.GetNoDirStat() {
			r.DirStat = s.freshStat(req.GetDir())
		}
		if req.GetPathHandle() {
			// Optional: without it the sentry walks to the name.
			if f, err := s.clone(h.Id, st); err == nil {
				r.Path = f.Handle
			}
		}
		return r, h.FileHandle
	}, func(r *goferpb.CreateReply, fh []byte) *goferpb.CreateReply {
		if r.Errno != 0 {
			return r
		}
		// A fresh handle of the file the first execution created, opened
		// as asked (but not truncated again).
		nh, st, h, err := s.reacquire(fh, req.GetDir(), string(req.GetName()))
		if err != nil {
			return &goferpb.CreateReply{Errno: errnoOf(err)}
		}
		defer h.decRef()
		read, write, _ := accessOf(req.GetFlags())
		h.mu.Lock()
		err = h.ensureOpenLocked(read, write)
		h.setSyncLocked(req.GetFlags())
		h.mu.Unlock()
		if err != nil {
			s.Release(context.Background(), &goferpb.ReleaseRequest{Handles: []uint64{nh.Id}})
			return &goferpb.CreateReply{Errno: errnoOf(err)}
		}
		return &goferpb.CreateReply{Handle: nh, Stat: st}
	}), nil
}

func (s *Server) create(req *goferpb.CreateRequest) (*goferpb.Handle, *goferpb.Stat, error) {
	flags, mode := req.GetFlags(), req.GetMode()
	if _, _, err := accessOf(flags); err != nil {
		return nil, nil, wrap(err, "create")
	}
	if t := mode & unix.S_IFMT; t != 0 && t != unix.S_IFREG {
		return nil, nil, errorf(unix.EINVAL, "create: file type %#o", t)
	}
	dir, err := s.lookupDirName(req.GetDir(), string(req.GetName()))
	if err != nil {
		return nil, nil, wrap(err, "create")
	}
	defer dir.decRef()

	name, perm := string(req.GetName()), mode&0o7777
	fd, err := openat(dir.fd, name, int(flags&unix.O_ACCMODE)|unix.O_CREAT|unix.O_EXCL|unix.O_LARGEFILE|unix.O_NOCTTY, s.stripSetID(perm, unix.S_IFREG))
	if err != nil {
		return nil, nil, wrap(err, "create %q", name)
	}
	// An O_PATH fd of exactly the file just created (not of whatever name
	// refers to by now).
	pdir, pname := procFD(fd)
	pathFD, err := unix.Openat(pdir, pname, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, nil, wrap(err, "create %q: O_PATH reopen", name)
	}
	return s.finishCreate(dir, name, pathFD, fd, flags, req.GetUid(), req.GetGid(), perm, unix.S_IFREG)
}

// Read implements goferpb.GoferServer.Read. The handle must be open for
// reading; length is capped at MaxReadLength.
func (s *Server) Read(_ context.Context, req *goferpb.ReadRequest) (*goferpb.ReadReply, error) {
	data, err := s.read(req.GetHandle(), req.GetOffset(), req.GetLength())
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("read", "handle", req.GetHandle(), "offset", req.GetOffset(), "length", req.GetLength(), "n", len(data), "err", err)
	}
	if err != nil {
		return &goferpb.ReadReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.ReadReply{Data: data}, nil
}

func (s *Server) read(id, offset uint64, length uint32) ([]byte, error) {
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer h.decRef()
	if h.ftype == unix.S_IFDIR {
		return nil, errorf(unix.EISDIR, "read handle %d", id)
	}
	if offset > math.MaxInt64 {
		return nil, errorf(unix.EINVAL, "read handle %d at offset %d", id, offset)
	}
	length = min(length, MaxReadLength)

	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.rfd < 0 {
		return nil, errorf(unix.EBADF, "read handle %d: not open for reading", id)
	}
	buf := make([]byte, length)
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(h.rfd, buf[n:], int64(offset)+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n > 0 {
				break // Report the partial read, as read(2) would.
			}
			return nil, wrap(err, "pread handle %d", id)
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// Write implements goferpb.GoferServer.Write. The handle must be open for
// writing. The reply carries the file's stat after the write. A failure
// after bytes were written (an O_SYNC handle's fsync, the stat) says how
// many with its errno (written), so that once keeps it; one that wrote
// nothing changed nothing and is not kept in the reply cache.
func (s *Server) Write(_ context.Context, req *goferpb.WriteRequest) (*goferpb.WriteReply, error) {
	return once(s, req.GetOrigin(), "write", func() (*goferpb.WriteReply, []byte) {
		n, st, err := s.write(req.GetHandle(), req.GetOffset(), req.GetData(), req.GetSeq())
		if s.log.IsDebug() { // its arguments cost allocations
			s.log.Debug("write", "handle", req.GetHandle(), "offset", req.GetOffset(), "len", len(req.GetData()), "seq", req.GetSeq(), "n", n, "err", err)
		}
		if err != nil {
			return &goferpb.WriteReply{Errno: errnoOf(err), Written: n}, nil
		}
		return &goferpb.WriteReply{Written: n, Stat: st}, nil
	}, func(r *goferpb.WriteReply, _ []byte) *goferpb.WriteReply {
		if r.GetErrno() == 0 {
			r.Stat = s.freshStat(req.GetHandle())
		}
		// The sentry tells a Rewrite that wrote from one the cache
		// answered (kernel's noteRewrote).
		r.Cached = true
		return r
	}), nil
}

func (s *Server) write(id, offset uint64, data []byte, seq uint64) (uint32, *goferpb.Stat, error) {
	h, err := s.lookup(id)
	if err != nil {
		return 0, nil, err
	}
	defer h.decRef()
	if h.ftype == unix.S_IFDIR {
		return 0, nil, errorf(unix.EISDIR, "write handle %d", id)
	}
	if offset > math.MaxInt64 || uint64(len(data)) > math.MaxInt64-offset {
		return 0, nil, errorf(unix.EFBIG, "write handle %d at offset %d", id, offset)
	}
	if len(data) > math.MaxUint32 {
		data = data[:math.MaxUint32] // Written is a uint32: write short.
	}

	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.wfd < 0 {
		return 0, nil, errorf(unix.EBADF, "write handle %d: not open for writing", id)
	}
	h.beginWrite(seq)
	defer h.endWrite(seq)

	n := 0
	for n < len(data) {
		m, err := unix.Pwrite(h.wfd, data[n:], int64(offset)+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n > 0 {
				break // Report the partial write, as write(2) would.
			}
			return 0, nil, wrap(err, "pwrite handle %d", id)
		}
		n += m
	}
	// Written, a failure still says how much (Write).
	if h.syncWrites {
		if err := fsyncFD(h.wfd, h.dsyncOnly); err != nil {
			return uint32(n), nil, wrap(err, "write handle %d: O_SYNC", id)
		}
	}
	st, err := s.statFile(h.wfd)
	if err != nil {
		return uint32(n), nil, err
	}
	return uint32(n), st, nil
}

// beginWrite records that the write seq is in flight. Sequence number 0
// means "not tracked".
func (h *handle) beginWrite(seq uint64) {
	if seq == 0 {
		return
	}
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	if h.inflight == nil {
		h.inflight = make(map[uint64]int)
	}
	h.inflight[seq]++
}

// endWrite records that the write seq has completed (successfully or not: a
// failed write leaves nothing to make durable).
func (h *handle) endWrite(seq uint64) {
	if seq == 0 {
		return
	}
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	if h.inflight[seq]--; h.inflight[seq] <= 0 {
		delete(h.inflight, seq)
	}
	h.maxSeq = max(h.maxSeq, seq)
}

// watermark returns the durability watermark an fsync starting now can
// promise for this handle: the highest sequence number W of a write through
// this handle that completed before now, lowered below any write still in
// flight, so that every write through this handle that this gofer has seen
// with a sequence number <= W completed before the fsync began.
func (h *handle) watermark() uint64 {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	w := h.maxSeq
	for seq := range h.inflight {
		if seq <= w {
			w = seq - 1
		}
	}
	return w
}

func fsyncFD(fd int, dataOnly bool) error {
	for {
		var err error
		if dataOnly {
			err = unix.Fdatasync(fd)
		} else {
			err = unix.Fsync(fd)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// Fsync implements goferpb.GoferServer.Fsync. It syncs the file (opening it
// for reading first if the handle has no open fd) and reports the handle's
// durability watermark: every write through this handle with a sequence
// number at or below durable_watermark that the gofer had received is on
// stable storage. Sequence numbers are the sentry's; the gofer cannot know
// about writes it has not received, so the sentry must only rely on the
// watermark for writes acknowledged before it sent the Fsync.
//
// With handles, it syncs them all (and handle) with one syncfs per
// filesystem and reports each watermark (FsyncRequest).
func (s *Server) Fsync(_ context.Context, req *goferpb.FsyncRequest) (*goferpb.FsyncReply, error) {
	if len(req.GetHandles()) > 0 {
		ws, err := s.syncMany(append([]uint64{req.GetHandle()}, req.GetHandles()...))
		s.log.Debug("fsync (syncfs)", "handles", len(req.GetHandles())+1, "err", err)
		if err != nil {
			return &goferpb.FsyncReply{Errno: errnoOf(err)}, nil
		}
		return &goferpb.FsyncReply{DurableWatermark: ws[0], Watermarks: ws[1:]}, nil
	}
	w, err := s.fsync(req.GetHandle(), req.GetDataOnly())
	s.log.Debug("fsync", "handle", req.GetHandle(), "data_only", req.GetDataOnly(), "watermark", w, "err", err)
	if err != nil {
		return &goferpb.FsyncReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.FsyncReply{DurableWatermark: w}, nil
}

func (s *Server) fsync(id uint64, dataOnly bool) (uint64, error) {
	h, err := s.lookup(id)
	if err != nil {
		return 0, err
	}
	defer h.decRef()
	if h.ftype != unix.S_IFREG && h.ftype != unix.S_IFDIR {
		return 0, errorf(unix.EINVAL, "fsync of file type %#o", h.ftype)
	}

	var w uint64
	err = h.withIOFD(func(fd int) error {
		// Take the watermark before syncing: writes completing during
		// the sync may or may not be covered by it.
		w = h.watermark()
		return fsyncFD(fd, dataOnly)
	})
	if err != nil {
		return 0, wrap(err, "fsync handle %d", id)
	}
	return w, nil
}

// withIOFD runs f with an fd of h's file opened for I/O (opening one for
// reading if h has none), under h.mu read-locked so that the fd is
// neither replaced nor closed meanwhile.
func (h *handle) withIOFD(f func(fd int) error) error {
	h.mu.RLock()
	if h.rfd < 0 && h.wfd < 0 {
		h.mu.RUnlock()
		h.mu.Lock()
		_, err := h.anyFDLocked()
		h.mu.Unlock()
		if err != nil {
			return err
		}
		h.mu.RLock()
	}
	defer h.mu.RUnlock()
	fd := h.wfd
	if fd < 0 {
		fd = h.rfd
	}
	return f(fd)
}

// maxSyncHandles bounds the handles of one batched Fsync.
const maxSyncHandles = 4096

// syncMany makes the files of ids durable with one syncfs(2) per
// filesystem they are on, and returns their watermarks, each taken before
// the sync (as fsync does).
func (s *Server) syncMany(ids []uint64) ([]uint64, error) {
	if len(ids) > maxSyncHandles {
		return nil, errorf(unix.EINVAL, "fsync of %d handles (at most %d)", len(ids), maxSyncHandles)
	}
	ws := make([]uint64, len(ids))
	// syncfs needs an fd opened for I/O (O_PATH fds are refused): one per
	// filesystem, from the first of its files.
	byDev := make(map[uint64]*handle)
	var order []uint64
	var held []*handle
	defer func() {
		for _, h := range held {
			h.decRef()
		}
	}()
	for i, id := range ids {
		h, err := s.lookup(id)
		if err != nil {
			return nil, err
		}
		held = append(held, h)
		if h.ftype != unix.S_IFREG && h.ftype != unix.S_IFDIR {
			return nil, errorf(unix.EINVAL, "fsync of file type %#o", h.ftype)
		}
		ws[i] = h.watermark()
		if byDev[h.dev] == nil {
			byDev[h.dev] = h
			order = append(order, h.dev)
		}
	}
	for _, dev := range order {
		h := byDev[dev]
		if err := h.withIOFD(func(fd int) error { return syncfsFD(fd) }); err != nil {
			return nil, wrap(err, "syncfs (handle %d)", h.id)
		}
	}
	return ws, nil
}

func syncfsFD(fd int) error {
	for {
		if err := unix.Syncfs(fd); err != unix.EINTR {
			return err
		}
	}
}
