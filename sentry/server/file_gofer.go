package server

import (
	"context"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// maxGoferIO bounds the data of one gofer Read or Write RPC.
const maxGoferIO = 1 << 20

// goferFile is a regular file (or other non-directory) served by the
// gofer, through the description's own opened handle.
type goferFile struct {
	fileBase
	v      *vfs
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

// goferRead reads up to n bytes at off, in RPCs of at most maxGoferIO.
func (v *vfs) GoferRead(h uint64, n int, off int64) ([]byte, error) {
	if off < 0 {
		return nil, unix.EINVAL
	}
	var out []byte
	for n > 0 {
		m := min(n, maxGoferIO)
		ctx, cancel := v.RPCCtx()
		r, err := v.gofer.Read(ctx, &goferpb.ReadRequest{Handle: h, Offset: uint64(off), Length: uint32(m)})
		cancel()
		if err := syserr.FromGofer("read", r.GetErrno(), err); err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		if len(r.Data) > m {
			r.Data = r.Data[:m]
		}
		if out == nil && (len(r.Data) < m || n == m) {
			return r.Data, nil // one chunk: no copy
		}
		out = append(out, r.Data...)
		if len(r.Data) < m {
			break
		}
		n -= m
		off += int64(m)
	}
	return out, nil
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
		chunk := b[written:min(len(b), written+maxGoferIO)]
		ctx, cancel := g.v.RPCCtx()
		req := &goferpb.WriteRequest{Handle: g.handle, Offset: uint64(off) + uint64(written), Data: chunk}
		if c != nil && c.Seq() != 0 {
			req.Seq, req.Origin = c.Seq(), c.NextGoferOrigin()
		}
		r, err := g.v.gofer.Write(ctx, req, opts...)
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

func (v *vfs) GoferStat(h uint64) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	return v.GoferStatCtx(ctx, h)
}

// goferSizeNow returns the attributes of h's file now, bypassing the
// attribute cache (attrCache), for their size only (an O_APPEND write's
// end, a PageWrite's clip): with a donated fd (goferclient/goferdonate.go) they are
// its fstat, no gofer call, and the other fields may lack what only the
// gofer adds.
func (v *vfs) GoferSizeNow(h uint64) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	return v.GoferStatCtx(goferclient.FreshAttrs(ctx), h, donated.SizeOnly{})
}

func (v *vfs) GoferStatCtx(ctx context.Context, h uint64, opts ...grpc.CallOption) (*goferpb.Stat, error) {
	r, err := v.gofer.Stat(ctx, &goferpb.StatRequest{Handle: h}, opts...)
	if err == nil && r.Errno == 0 && r.Stat == nil {
		return nil, unix.EIO
	}
	if err := syserr.FromGofer("stat", r.GetErrno(), err); err != nil {
		return nil, err
	}
	return r.Stat, nil
}

func (g *goferFile) Release() { g.v.releases.Release([]uint64{g.handle}) }

// goferDir is a directory served by the gofer.
type goferDir struct {
	fileBase
	v      *vfs
	handle uint64
	fh     []byte
}

func (g *goferDir) Read(fdesc.Call, *file, int, int64) ([]byte, error) { return nil, unix.EISDIR }
func (g *goferDir) Write(fdesc.Call, *file, []byte, int64) (int, error) {
	return 0, unix.EISDIR
}
func (g *goferDir) Stat(fdesc.Call) (*goferpb.Stat, error) { return g.v.GoferStat(g.handle) }
func (g *goferDir) Release()                               { g.v.releases.Release([]uint64{g.handle}) }

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

// fsyncMany makes the files of handles hs durable: by an fsync for one,
// else by one Fsync naming them all, which the gofer serves with syncfs.
// Durability is the server's to account (durable.Tracker.StartSync): writes
// acknowledged before the call are covered.
func (v *vfs) FsyncMany(hs []uint64) error {
	if len(hs) == 1 {
		return v.Fsync(hs[0], false)
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Fsync(ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: hs[1:]})
	return syserr.FromGofer("fsync", r.GetErrno(), err)
}

func (v *vfs) Fsync(h uint64, dataOnly bool) error {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Fsync(ctx, &goferpb.FsyncRequest{Handle: h, DataOnly: dataOnly})
	return syserr.FromGofer("fsync", r.GetErrno(), err)
}
