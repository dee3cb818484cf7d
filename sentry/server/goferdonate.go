package server

import (
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Donated fds (gofer.proto, OpenRequest.donate): when the gofer shares
// this machine (a call stream on a Unix socket), GoferConn asks it for
// the host fd of every file it opens (Open, a Walk that opens, Create),
// and serves the Reads and Writes of a handle that got one with its own
// pread and pwrite: no gofer call. Everything above GoferConn (the
// attribute cache, durability, exec's and PageRead's reads, PageWrite)
// sees the same replies either way.
//
//   - Confinement: a donated fd is an open regular file, never a
//     directory or an O_PATH fd (checked here again: F_GETFL and statx),
//     of the inode the handle names, with the access mode asked for.
//     The server's seccomp filter (filter/server.go) lets it pread,
//     pwrite, fstat and close it, nothing that walks a path from it.
//   - Durability: a write through the fd is in the host's page cache of
//     the inode; the gofer's Fsync of the handle (an fsync of its own fd
//     of the inode, or a syncfs of its filesystem) makes it durable like
//     a write the gofer made, so the flusher and the client's retained
//     writes work unchanged.
//   - An O_APPEND write still goes to the gofer (viaGofer): re-sent after
//     a server kill, it must land once, which only the gofer's reply
//     cache ensures; a positional write re-sent writes the same bytes
//     at the same place again.
//   - Attributes: a local write's reply carries the file's statx when it
//     equals what the gofer would say (exactStat: a file opened by name
//     with no set-id bits and no silly rename since), else none, so the
//     attribute cache drops the inode's attributes (attrcache.go).
//   - A gofer restart does not touch the fds: they are the kernel's open
//     files, still valid; handles are re-resolved on the new gofer as
//     before (their opens replayed without donation), and reads and
//     writes carry on through the fds meanwhile. A server restart gets
//     new donations as Restore reopens its files.

// defaultMaxDonations bounds the donated fds one GoferConn holds: beyond
// it, files are served by the gofer's Read and Write.
const defaultMaxDonations = 4096

// hostFD is one donated fd.
type hostFD struct {
	// fd, read and write are immutable.
	fd          int
	read, write bool
	// exactStat says a statx of fd is what the gofer would report of the
	// file; cleared by a silly rename (any Unlink of an open file).
	exactStat atomic.Bool
	// refs counts the vhandle fields pointing to it and the local calls
	// using fd; the fd is closed with the last. Taken only under
	// GoferConn.mu while a vhandle holds it.
	refs atomic.Int32
}

func (h *hostFD) put() {
	if h.refs.Add(-1) == 0 {
		unix.Close(h.fd)
	}
}

// viaGofer is a grpc.CallOption that sends a Write to the gofer even if
// its handle has a donated fd (an O_APPEND write: see above).
type viaGofer struct{ grpc.EmptyCallOption }

func hasViaGofer(opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(viaGofer); ok {
			return true
		}
	}
	return false
}

// sizeOnly is a grpc.CallOption of a Stat whose caller needs only the
// file's size now (vfs.goferSizeNow): GoferConn answers it from a
// donated fd's fstat, and the attribute cache neither answers nor keeps
// it (its mode and link count may lack what only the gofer adds).
type sizeOnly struct{ grpc.EmptyCallOption }

func hasSizeOnly(opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(sizeOnly); ok {
			return true
		}
	}
	return false
}

// localSize answers a sizeOnly Stat through a donated fd of its handle.
// It returns false if the handle has none.
func (g *GoferConn) localSize(req *goferpb.StatRequest, rep *goferpb.StatReply) bool {
	h := g.hostFDOf(req.GetHandle(), false)
	if h == nil {
		if h = g.hostFDOf(req.GetHandle(), true); h == nil {
			return false
		}
	}
	defer h.put()
	proto.Reset(rep)
	st, err := gofer.StatOfFD(h.fd)
	if err != nil {
		rep.Errno = int32(errnoOf(err))
		return true
	}
	rep.Stat = st
	return true
}

// askDonation marks mreq (a copy of the caller's request) to ask for a
// donated fd, if it opens a file and GoferConn may hold more, and
// returns the slot the fd arrives in (nil if not asked).
func (g *GoferConn) askDonation(mreq proto.Message) *donationSlot {
	g.mu.Lock()
	full := g.donations >= g.maxDonations
	g.mu.Unlock()
	if full {
		return nil
	}
	switch r := mreq.(type) {
	case *goferpb.OpenRequest:
		r.Donate = true
	case *goferpb.WalkRequest:
		if !r.Open {
			return nil
		}
		r.Donate = true
	case *goferpb.CreateRequest:
		r.Donate = true
	default:
		return nil
	}
	return newDonationSlot()
}

// opensFile says whether req may come back with a donated fd.
func opensFile(req proto.Message) bool {
	switch r := req.(type) {
	case *goferpb.OpenRequest, *goferpb.CreateRequest:
		return true
	case *goferpb.WalkRequest:
		return r.Open
	}
	return false
}

// donatedFile is what a donated fd was checked to be.
type donatedFile struct {
	fd          int
	read, write bool
	st          *goferpb.Stat
}

// checkDonated checks that fd, donated for a request opening with flags,
// is an open regular file with that access mode, and describes it. It
// closes fd and returns nil otherwise.
func checkDonated(fd int, flags uint32) *donatedFile {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil && (fl&unix.O_PATH != 0 || uint32(fl)&unix.O_ACCMODE != flags&unix.O_ACCMODE) {
		err = unix.EBADF
	}
	var st *goferpb.Stat
	if err == nil {
		st, err = gofer.StatOfFD(fd)
	}
	if err != nil || st.GetMode()&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil
	}
	acc := flags & unix.O_ACCMODE
	return &donatedFile{fd: fd, read: acc != unix.O_WRONLY, write: acc != unix.O_RDONLY, st: st}
}

// adoptLocked gives e the donated file d if it is e's inode, the fd
// serving the directions e has none for yet. gst is the gofer's stat of
// the file in the same reply, if any (exactStat then holds if the two
// agree). It returns whether d was adopted (else the caller closes it).
// Precondition: g.mu.
func (g *GoferConn) adoptLocked(e *vhandle, d *donatedFile, gst *goferpb.Stat) bool {
	if e == nil || d == nil || !e.hasIno || e.ino != d.st.Ino || (e.dev != 0 && e.dev != d.st.Dev) || g.donations >= g.maxDonations {
		return false
	}
	takeR := d.read && e.rfd == nil
	takeW := d.write && e.wfd == nil
	if !takeR && !takeW {
		return false
	}
	h := &hostFD{fd: d.fd, read: d.read, write: d.write}
	h.exactStat.Store(gst != nil && gst.Mode == d.st.Mode && gst.Nlink == d.st.Nlink)
	if takeR {
		e.rfd = h
		h.refs.Add(1)
	}
	if takeW {
		e.wfd = h
		h.refs.Add(1)
	}
	g.donations++
	return true
}

// dropDonationsLocked takes e's donated fds away and returns the
// references to put once g.mu is released. Precondition: g.mu.
func (g *GoferConn) dropDonationsLocked(e *vhandle, read, write bool, out []*hostFD) []*hostFD {
	for _, p := range []struct {
		f    **hostFD
		drop bool
	}{{&e.rfd, read}, {&e.wfd, write}} {
		if h := *p.f; h != nil && p.drop {
			*p.f = nil
			out = append(out, h)
			if e.rfd != h && e.wfd != h {
				g.donations--
			}
		}
	}
	return out
}

func putAll(hs []*hostFD) {
	for _, h := range hs {
		h.put()
	}
}

// hostFDOf returns handle vid's donated fd for reading or writing with a
// reference the caller puts, or nil.
func (g *GoferConn) hostFDOf(vid uint64, write bool) *hostFD {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.handles[vid]
	if e == nil {
		return nil
	}
	h := e.rfd
	if write {
		h = e.wfd
	}
	if h != nil {
		h.refs.Add(1)
	}
	return h
}

// localRead serves a Read through a donated fd, as the gofer would:
// up to min(length, MaxReadLength) bytes, short only at the end of the
// file. It returns false if the handle has no fd to read.
func (g *GoferConn) localRead(req *goferpb.ReadRequest, rep *goferpb.ReadReply) bool {
	h := g.hostFDOf(req.GetHandle(), false)
	if h == nil {
		return false
	}
	defer h.put()
	proto.Reset(rep)
	if req.GetOffset() > math.MaxInt64 {
		rep.Errno = int32(unix.EINVAL)
		return true
	}
	buf := make([]byte, min(req.GetLength(), gofer.MaxReadLength))
	off := int64(req.GetOffset())
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(h.fd, buf[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n == 0 {
				rep.Errno = int32(errnoOf(err))
				return true
			}
			break // the partial read, as read(2) reports it
		}
		if m == 0 {
			break
		}
		n += m
	}
	rep.Data = buf[:n]
	return true
}

// localWrite serves a Write through a donated fd, as the gofer would.
// It returns false if the handle has no fd to write.
func (g *GoferConn) localWrite(req *goferpb.WriteRequest, rep *goferpb.WriteReply) bool {
	h := g.hostFDOf(req.GetHandle(), true)
	if h == nil {
		return false
	}
	defer h.put()
	proto.Reset(rep)
	data, off := req.GetData(), req.GetOffset()
	if off > math.MaxInt64 || uint64(len(data)) > math.MaxInt64-off {
		rep.Errno = int32(unix.EFBIG)
		return true
	}
	if len(data) > math.MaxUint32 {
		data = data[:math.MaxUint32] // Written is a uint32: write short
	}
	n := 0
	for n < len(data) {
		m, err := unix.Pwrite(h.fd, data[n:], int64(off)+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n == 0 {
				rep.Errno = int32(errnoOf(err))
				return true
			}
			break
		}
		n += m
	}
	rep.Written = uint32(n)
	if h.exactStat.Load() {
		if st, err := gofer.StatOfFD(h.fd); err == nil {
			rep.Stat = st
		}
	}
	return true
}

// beforeChange keeps donated fds true to a change req is about to make:
// a SetStat giving set-id bits takes the write fds of that inode away (a
// write must then clear the bits, which the gofer's Write path does).
func (g *GoferConn) beforeChange(req proto.Message) {
	r, ok := req.(*goferpb.SetStatRequest)
	if !ok || r.Mask&unix.STATX_MODE == 0 || r.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return
	}
	var drop []*hostFD
	g.mu.Lock()
	if t := g.handles[r.Handle]; t != nil && t.hasIno {
		for _, e := range g.handles {
			if e.hasIno && e.ino == t.ino && e.dev == t.dev {
				drop = g.dropDonationsLocked(e, false, true, drop)
			}
		}
	}
	g.mu.Unlock()
	putAll(drop)
}

// afterChange notes a change req made: an Unlink of an open file may
// have silly-renamed it, whose link count the gofer then reports one
// less than the host's.
func (g *GoferConn) afterChange(req, rep proto.Message) {
	r, ok := req.(*goferpb.UnlinkRequest)
	if !ok || !r.Open || errnoOfReply(rep) != 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.handles {
		for _, h := range []*hostFD{e.rfd, e.wfd} {
			if h != nil {
				h.exactStat.Store(false)
			}
		}
	}
}

// Donations returns how many donated fds g holds (for tests and debug).
func (g *GoferConn) Donations() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.donations
}

// donatedFlags returns the open flags of a request that opens a file.
func donatedFlags(req proto.Message) uint32 {
	switch r := req.(type) {
	case *goferpb.OpenRequest:
		return r.Flags
	case *goferpb.WalkRequest:
		return r.OpenFlags
	case *goferpb.CreateRequest:
		return r.Flags
	}
	return 0
}
