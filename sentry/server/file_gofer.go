package server

import (
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// goferFile is a regular file (or other non-directory) served by the
// gofer, through the description's own opened handle.
type goferFile struct {
	fileBase
	v      *vfs.VFS
	handle uint64 // immutable; released with the description
	// fh is the gofer's file handle (Handle.file_handle). Immutable.
	fh []byte
	// memfd is set for a file made by memfd_create (file_memfd.go), by
	// sysMemfdCreate or restore before the description is installed, and
	// shared with every description reopened from it. Immutable after.
	memfd *memfdInode
}

func (g *goferFile) Read(c fdesc.Call, _ *file, n int, off int64) ([]byte, error) {
	return g.v.GoferRead(g.handle, n, off)
}

func (g *goferFile) Write(c fdesc.Call, f *file, b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	written := 0
	var attrs auth.FileAttrs
	defer func() {
		if written > 0 && attrs.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			var d *dentry
			if f != nil {
				d = dentryOf(f)
			}
			callOf(c).killPriv(d, g.handle, attrs)
		}
	}()
	var opts []grpc.CallOption
	if f != nil && f.Flags.Load()&unix.O_APPEND != 0 {
		// Through the gofer, not a donated fd: a re-sent append must
		// land once (goferclient/goferdonate.go).
		opts = append(opts, donated.ViaGofer{})
	}
	for written < len(b) {
		chunk := b[written:min(len(b), written+vfs.MaxGoferIO)]
		ctx, cancel := g.v.RPCCtx()
		req := &goferpb.WriteRequest{Handle: g.handle, Offset: uint64(off) + uint64(written), Data: chunk}
		if c != nil && c.Seq() != 0 {
			req.Seq, req.Origin = c.Seq(), c.NextGoferOrigin()
		}
		r, err := g.v.Gofer().Write(ctx, req, opts...)
		cancel()
		if c != nil && err == nil && r.GetErrno() == 0 && r.GetStat() != nil {
			attrs = attrsOfStat(r.Stat)
			c.GoferWrote(r.Stat)
		}
		if err := syserr.FromGofer("write", r.GetErrno(), err); err != nil {
			if written > 0 {
				return written, nil
			}
			return 0, err
		}
		n := int(r.Written)
		if n > len(chunk) {
			n = len(chunk)
		}
		written += n
		if n < len(chunk) {
			break
		}
	}
	return written, nil
}

func (g *goferFile) Stat(fdesc.Call) (*goferpb.Stat, error) { return g.v.GoferStat(g.handle) }

func (g *goferFile) Release() { g.v.Releases().Release([]uint64{g.handle}) }

// goferDir is a directory served by the gofer.
type goferDir struct {
	fileBase
	v      *vfs.VFS
	handle uint64
	fh     []byte
}

func (g *goferDir) Read(fdesc.Call, *file, int, int64) ([]byte, error) { return nil, unix.EISDIR }
func (g *goferDir) Write(fdesc.Call, *file, []byte, int64) (int, error) {
	return 0, unix.EISDIR
}
func (g *goferDir) Stat(fdesc.Call) (*goferpb.Stat, error) { return g.v.GoferStat(g.handle) }
func (g *goferDir) Release()                               { g.v.Releases().Release([]uint64{g.handle}) }

// handleOfFile returns the gofer handle backing f, if any.
func handleOfFile(f *file) (uint64, bool) {
	switch impl := f.Impl.(type) {
	case *goferFile:
		return impl.handle, true
	case *goferDir:
		return impl.handle, true
	}
	return 0, false
}
