package goferclient

import (
	"fmt"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// Donated fds (gofer.proto, OpenRequest.donate): when the gofer shares
// this machine (a call stream on a Unix socket), GoferConn asks it for
// the host fd of every file it opens (Open, a Walk that opens, Create),
// keeps what comes with the handle (package donated checks and holds
// it), and serves that handle's Reads and Writes with the server's own
// pread and pwrite: no gofer call. Everything above GoferConn (the
// attribute cache, durability, exec's and PageRead's reads, PageWrite)
// sees the same replies either way.
//
//   - Confinement: a donated fd is an open regular file, never a
//     directory or an O_PATH fd (checked here again), of the inode the
//     handle names, with the access mode asked for. The server's seccomp
//     filter (filter/server.go) lets it pread, pwrite, fstat and close
//     it, nothing that walks a path from it.
//   - Durability: a write through the fd is in the host's page cache of
//     the inode; the gofer's Fsync of the handle (an fsync of its own fd
//     of the inode, or a syncfs of its filesystem) makes it durable like
//     a write the gofer made, so the flusher and the client's retained
//     writes work unchanged.
//   - An O_APPEND write still goes to the gofer (donated.ViaGofer):
//     re-sent after a server kill, it must land once, which only the
//     gofer's reply cache ensures. The end of the file it needs is the
//     fd's statx (donated.SizeOnly), as is a PageWrite's clip size.
//   - Attributes: a local write's reply carries the file's statx when it
//     equals what the gofer would say (a file opened by name with no
//     set-id bits, and no unlink of an open file since), else none, so
//     the attribute cache drops the inode's attributes (attrcache.go).
//   - A gofer restart does not touch the fds: they are the kernel's open
//     files, still valid; handles are re-resolved on the new gofer as
//     before (their opens replayed without donation), and reads and
//     writes carry on through the fds meanwhile. A server restart gets
//     new donations as Restore reopens its files.

// defaultMaxDonations bounds the donated fds one GoferConn holds: beyond
// it, files are served by the gofer's Read and Write.
const defaultMaxDonations = 4096

// maxDonations is defaultMaxDonations, or a quarter of this process's fd
// limit if that is less: donations must leave room for the clients'
// connections (a full fd table makes the kernel drop donated fds, and
// the stream that carried them fails).
func maxDonations() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur/4 < defaultMaxDonations {
		return int(lim.Cur / 4)
	}
	return defaultMaxDonations
}

// askDonation marks mreq (a copy of the caller's request) to ask for a
// donated fd, if it opens a file and GoferConn may hold more, and
// returns the slot the fd arrives in (nil if not asked).
func (g *GoferConn) askDonation(mreq proto.Message) *donated.Slot {
	g.mu.Lock()
	full := g.donations >= g.maxDonations
	g.mu.Unlock()
	if full || g.calls.fdsLost.Load() {
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
	return donated.NewSlot()
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

// openFlags returns the open flags of a request that opens a file.
func openFlags(req proto.Message) uint32 {
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

// adoptLocked gives e the donated file f if it is e's inode, the fd
// serving the directions e has none for yet. gst is the gofer's stat of
// the file in the same reply, if any (the fd's statx is exact if the two
// agree). It returns whether f was taken (else the caller closes it).
// Precondition: g.mu.
func (g *GoferConn) adoptLocked(e *vhandle, f *donated.File, gst *goferpb.Stat) bool {
	if e == nil || f == nil || !e.hasIno || e.ino != f.Stat.Ino || (e.dev != 0 && e.dev != f.Stat.Dev) || g.donations >= g.maxDonations {
		return false
	}
	takeR := f.Read && e.rfd == nil
	takeW := f.Write && e.wfd == nil
	if !takeR && !takeW {
		return false
	}
	h := donated.Hold(f, gst != nil && gst.Mode == f.Stat.Mode && gst.Nlink == f.Stat.Nlink)
	if takeR {
		e.rfd = h
		h.Ref()
	}
	if takeW {
		e.wfd = h
		h.Ref()
	}
	g.donations++
	return true
}

// dropDonationsLocked takes e's donated fds for reading and/or writing
// away and returns the references to put once g.mu is released.
// Precondition: g.mu.
func (g *GoferConn) dropDonationsLocked(e *vhandle, read, write bool, out []*donated.FD) []*donated.FD {
	for _, p := range []struct {
		f    **donated.FD
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

func putAll(hs []*donated.FD) {
	for _, h := range hs {
		h.Put()
	}
}

// donatedFD returns handle vid's donated fd for reading or writing with
// a reference the caller puts, or nil.
func (g *GoferConn) donatedFD(vid uint64, write bool) *donated.FD {
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
		h.Ref()
	}
	return h
}

// lendReadOnly answers a Stat carrying donated.Lend: it sets l.FD to the
// handle's donated fd, with a reference, if it has one open for reading
// alone, and answers the Stat with the fd's statx (as a SizeOnly one);
// else the Stat fails with EBADF. No gofer call either way.
func (g *GoferConn) lendReadOnly(req *goferpb.StatRequest, rep proto.Message, l *donated.Lend) error {
	sr, ok := rep.(*goferpb.StatReply)
	if !ok {
		return fmt.Errorf("lend: reply %T", rep)
	}
	h := g.donatedFD(req.GetHandle(), false)
	if h != nil && h.Writable() {
		h.Put()
		h = nil
	}
	if h == nil {
		proto.Reset(sr)
		sr.Errno = int32(unix.EBADF)
		return nil
	}
	h.Size(sr)
	if sr.Errno != 0 {
		h.Put()
		return nil
	}
	l.FD = h
	return nil
}

// serveLocally answers req through a donated fd of its handle, if it is
// a Read, a Write not marked ViaGofer (with its options wo: written
// ahead, donated/ahead.go), or a SizeOnly Stat, and the handle has a fd
// for it; a Read reads into into if it is long enough (donated.ReadInto).
// It returns false if the gofer must answer.
func (g *GoferConn) serveLocally(req, rep proto.Message, viaGofer, sizeOnly bool, wo donated.WriteOpts, into []byte) bool {
	switch r := req.(type) {
	case *goferpb.ReadRequest:
		rr, ok := rep.(*goferpb.ReadReply)
		if !ok {
			return false
		}
		if h := g.donatedFD(r.GetHandle(), false); h != nil {
			defer h.Put()
			h.Read(r, rr, into)
			return true
		}
	case *goferpb.WriteRequest:
		wr, ok := rep.(*goferpb.WriteReply)
		if !ok || viaGofer {
			return false
		}
		if h := g.donatedFD(r.GetHandle(), true); h != nil {
			defer h.Put()
			h.WriteWith(r, wr, wo)
			return true
		}
	case *goferpb.StatRequest:
		sr, ok := rep.(*goferpb.StatReply)
		if !ok || !sizeOnly {
			return false
		}
		h := g.donatedFD(r.GetHandle(), false)
		if h == nil {
			h = g.donatedFD(r.GetHandle(), true)
		}
		if h != nil {
			defer h.Put()
			h.Size(sr)
			return true
		}
	}
	return false
}

// beforeChange keeps donated fds true to a change req is about to make:
// a SetStat giving set-id bits takes the write fds of that inode away (a
// write must then clear the bits, which the gofer's Write path does).
func (g *GoferConn) beforeChange(req proto.Message) {
	r, ok := req.(*goferpb.SetStatRequest)
	if !ok || r.Mask&unix.STATX_MODE == 0 || r.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return
	}
	var drop []*donated.FD
	g.mu.Lock()
	if k, ok := g.inodeLocked(r.Handle); ok {
		for _, e := range g.handles {
			if ek, ok := e.inode(); ok && ek == k {
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
		for _, h := range []*donated.FD{e.rfd, e.wfd} {
			if h != nil {
				h.SetInexact()
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
