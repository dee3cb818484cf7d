package vfs

import (
	"context"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// GoferFile is a regular file (or other non-directory) served by the
// gofer, through the description's own opened handle.
type GoferFile struct {
	fdesc.FileBase
	v *VFS // immutable
	// Handle is the description's own gofer handle, released with it;
	// FH the gofer's file handle (Handle.file_handle). Immutable.
	Handle uint64
	FH     []byte
	// Memfd is set for a file made by memfd_create (memfd.go), by the
	// kernel's memfd_create or Restore before the description is
	// installed, and shared with every description reopened from it.
	// Immutable after.
	Memfd *Memfd
	// Owned is the description's claim to an owned lease on the file it
	// created (readlease.BeginOwned; nil: none): set once by the
	// creating call, ended by AppClosed or Release.
	Owned atomic.Pointer[readlease.Owned]
	// keepSpot is where Release keeps Handle (a read-only open's).
	keepSpot
	// openedAhead says the server opened the description for an open
	// the process is likely to make (KeepAhead): its handle is kept as
	// one still to be used. Set before the description is shared.
	openedAhead bool
}

// NewGoferFile returns a gofer file of v's through handle h (which it
// owns) of the file whose gofer file handle is fh, memfd if made by
// memfd_create.
func NewGoferFile(v *VFS, h uint64, fh []byte, memfd *Memfd) *GoferFile {
	return &GoferFile{v: v, Handle: h, FH: fh, Memfd: memfd}
}

// NewGoferDir returns a gofer directory of v's through handle h (which it
// owns) of the directory whose gofer file handle is fh.
func NewGoferDir(v *VFS, h uint64, fh []byte) *GoferDir {
	return &GoferDir{v: v, Handle: h, FH: fh}
}

// VFS is the namespace g's file is in.
func (g *GoferFile) VFS() *VFS { return g.v }

// NewFile returns a description of impl opened by d (nil: none) with
// flags; its owner is d's client.
func NewFile(impl fdesc.FileImpl, d *Dentry, flags uint32) *fdesc.File {
	if d == nil {
		return fdesc.NewFile(impl, nil, nil, flags)
	}
	return fdesc.NewFile(impl, d, d.Owner(), flags)
}

// DentryOf returns f's dentry (nil when it has none or it is not a
// vfs's).
func DentryOf(f *fdesc.File) *Dentry {
	d, _ := f.Dentry().(*Dentry)
	return d
}

// IsRegularFile says whether f is a description of a regular file of the
// gofer (not a memfd): what its record calls regular
// (FileState.regular), and the client takes for one.
func IsRegularFile(f *fdesc.File) bool {
	g, ok := f.Impl.(*GoferFile)
	return ok && g.Memfd == nil && DentryOf(f) != nil && DentryOf(f).IsRegular()
}

func (g *GoferFile) Read(c fdesc.Call, _ *fdesc.File, n int, off int64) ([]byte, error) {
	return g.v.GoferRead(g.Handle, n, off)
}

// OwnedWriteCall is a call that may say its client applied its writes to
// its copy of an owned file (Syscall.owned_write): through the description
// that holds the claim (GoferFile.Owned), they then neither void it nor
// revoke the client's owned lease (readlease.WithOwnedWrite).
type OwnedWriteCall interface {
	WritesOwnedCopy() bool
}

// MergedWriteCall is a call that may carry several of the application's
// writes behind merged into one (Syscall.write_parts,
// sentry/client/writemerge.go): a gofer write cut short exactly between
// two of them goes on with the rest, as the next unmerged write would
// have been tried, and the error it then meets is noted for the
// description's kept error (sentry/server/posted.go), the one the
// unmerged writes would have kept.
type MergedWriteCall interface {
	BetweenParts(written int) bool
	NoteCutBetweenParts(err error)
}

// CachedWriteCall is a call told how many bytes of its gofer writes the
// gofer's reply cache answered (WriteReply.cached): made by the call's
// first run, not now.
type CachedWriteCall interface {
	GoferWriteCached(n int)
}

// goferWrite is one gofer write's request with its origin and its
// write-ahead option (GoferFile.Write): one allocation, not three, for
// each write of a loop.
type goferWrite struct {
	req    goferpb.WriteRequest
	origin goferpb.Origin
	opt    [1]grpc.CallOption
}

// OwnedChangeCtx returns ctx marked for a change of g's file that call c
// says its client applied to its copy (OwnedWriteCall: a write, or an
// ftruncate, posted with Syscall.owned_write) while g holds the owned
// claim: the change keeps the claim and its lease
// (readlease.WithOwnedWrite). Otherwise ctx.
func (g *GoferFile) OwnedChangeCtx(ctx context.Context, c fdesc.Call) context.Context {
	if oc, ok := c.(OwnedWriteCall); ok && oc.WritesOwnedCopy() && g.Owned.Load() != nil {
		return readlease.WithOwnedWrite(ctx)
	}
	return ctx
}

func (g *GoferFile) Write(c fdesc.Call, f *fdesc.File, b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	written := 0
	var attrs auth.FileAttrs
	defer func() {
		if written > 0 && attrs.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			var d *Dentry
			if f != nil {
				d = DentryOf(f)
			}
			g.v.kern.KillPriv(c, d, g.Handle, attrs)
		}
	}()
	var opts []grpc.CallOption
	if f != nil && f.Flags.Load()&unix.O_APPEND != 0 {
		// Through the gofer, not a donated fd: a re-sent append must
		// land once (goferclient/goferdonate.go).
		opts = append(opts, donated.ViaGofer{})
	}
	for written < len(b) {
		chunk := b[written:min(len(b), written+MaxGoferIO)]
		ctx, cancel := g.v.RPCCtx()
		ctx = g.OwnedChangeCtx(ctx, c)
		w := &goferWrite{req: goferpb.WriteRequest{Handle: g.Handle, Offset: uint64(off) + uint64(written), Data: chunk}}
		req := &w.req
		if c != nil && c.Seq() != 0 && c.NextGoferOrigin(&w.origin) {
			req.Seq, req.Origin = c.Seq(), &w.origin
		}
		callOpts := opts
		var ahead *donated.Ahead
		var plan *WriteAhead
		if len(opts) == 0 && len(chunk) == len(b) && g.Memfd == nil {
			// Writes ahead (writeahead.go): one call's chunk alone.
			var pre *donated.Prewritten
			if pre, ahead, plan = writeAheadOpt(c, f, chunk, off); pre != nil {
				w.opt[0] = pre
				callOpts = w.opt[:]
			} else if ahead != nil {
				w.opt[0] = ahead
				callOpts = w.opt[:]
			}
		}
		r, err := g.v.Gofer().Write(ctx, req, callOpts...)
		cancel()
		if plan != nil {
			plan.wrote(ahead.Written)
		}
		if c != nil && err == nil && r.GetErrno() == 0 && r.GetStat() != nil {
			attrs = AttrsOfStat(r.Stat)
			c.GoferWrote(r.Stat)
		}
		if err := syserr.FromGofer("write", r.GetErrno(), err); err != nil {
			if written > 0 {
				if mc, ok := c.(MergedWriteCall); ok && mc.BetweenParts(written) {
					mc.NoteCutBetweenParts(err)
				}
				return written, nil
			}
			return 0, err
		}
		n := int(r.Written)
		if n > len(chunk) {
			n = len(chunk)
		}
		if r.GetCached() {
			if cc, ok := c.(CachedWriteCall); ok {
				cc.GoferWriteCached(n)
			}
		}
		written += n
		if n < len(chunk) {
			if mc, ok := c.(MergedWriteCall); ok && n > 0 && mc.BetweenParts(written) {
				// As the next part's own write would be tried.
				continue
			}
			break
		}
	}
	return written, nil
}

func (g *GoferFile) Stat(fdesc.Call) (*goferpb.Stat, error) { return g.v.GoferStat(g.Handle) }

func (g *GoferFile) Release() {
	g.AppClosed()
	if g.v.keep(g) {
		return
	}
	g.v.Releases().Release([]uint64{g.Handle})
}

// AppClosed is fdesc.AppCloser's: the owned claim ends when the
// application closed the description (its client dropped its copy), not
// when the durability tracker lets it go (an open meanwhile would revoke
// the lease, a message for nothing).
func (g *GoferFile) AppClosed() {
	if o := g.Owned.Swap(nil); o != nil {
		o.End()
	}
}

// GoferDir is a directory served by the gofer.
type GoferDir struct {
	fdesc.FileBase
	// v, Handle (the description's own gofer handle, released with it)
	// and FH (the gofer's file handle) are immutable.
	v      *VFS
	Handle uint64
	FH     []byte
	// keepSpot is where Release keeps Handle.
	keepSpot
}

func (g *GoferDir) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error) { return nil, unix.EISDIR }
func (g *GoferDir) Write(fdesc.Call, *fdesc.File, []byte, int64) (int, error) {
	return 0, unix.EISDIR
}
func (g *GoferDir) Stat(fdesc.Call) (*goferpb.Stat, error) { return g.v.GoferStat(g.Handle) }

// Release keeps the description's handle on its directory's dentry for
// the next open of it (kept.go: keepClosedDir), else releases it.
func (g *GoferDir) Release() {
	if g.v.keepClosedDir(g) {
		return
	}
	g.v.Releases().Release([]uint64{g.Handle})
}

// HandleOfFile returns the gofer handle backing f, if any.
func HandleOfFile(f *fdesc.File) (uint64, bool) {
	switch impl := f.Impl.(type) {
	case *GoferFile:
		return impl.Handle, true
	case *GoferDir:
		return impl.Handle, true
	}
	return 0, false
}
