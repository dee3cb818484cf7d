package vfs

import (
	"context"
	"math"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// MaxGoferIO bounds the data of one gofer Read or Write RPC.
const MaxGoferIO = 1 << 20

// maxReadAhead bounds the buffer GoferRead makes for a read of several
// RPCs before their bytes come: a longer read grows it as they come.
const maxReadAhead = 8 << 20

// GoferRead reads up to n bytes at off, in RPCs of at most maxGoferIO.
// A read of several RPCs assembles their bytes in one buffer, which a
// handle's donated fd reads into directly (donated.ReadInto): a
// PageRead's 4 MiB is read once, not read, copied and regrown.
//
// The file's size as the attribute cache last learnt it (sizeLeft)
// bounds what is asked and made room for: a copy_file_range asks for
// 4 MiB of what is mostly a small file (cp), and a buffer that big,
// zeroed, for each call was most of the server's work in a cp -r. The
// size is a hint, however old: one byte more than it says is asked, so
// that a short read shows the file still ends there, and a full one
// (the file grew) goes on in whole chunks.
func (v *VFS) GoferRead(h uint64, n int, off int64) ([]byte, error) {
	if off < 0 {
		return nil, unix.EINVAL
	}
	left := v.sizeLeft(h, off)
	var out []byte
	if n > MaxGoferIO && (left < 0 || left >= MaxGoferIO) {
		want := min(n, maxReadAhead)
		if left >= 0 {
			want = min(want, left+1)
		}
		out = make([]byte, 0, want)
	}
	for n > 0 {
		m := min(n, MaxGoferIO)
		if left >= 0 && left < m {
			m = left + 1
		}
		ctx, cancel := v.RPCCtx()
		var r *goferpb.ReadReply
		var err error
		if cap(out)-len(out) >= m {
			r, err = v.gofer.Read(ctx, &goferpb.ReadRequest{Handle: h, Offset: uint64(off), Length: uint32(m)}, &donated.ReadInto{Buf: out[len(out) : len(out)+m]})
		} else {
			r, err = v.gofer.Read(ctx, &goferpb.ReadRequest{Handle: h, Offset: uint64(off), Length: uint32(m)})
		}
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
		switch {
		case out == nil && (len(r.Data) < m || n == m):
			return r.Data, nil // one chunk: no copy
		case len(r.Data) > 0 && cap(out) > len(out) && &r.Data[0] == &out[:len(out)+1][len(out)]:
			out = out[:len(out)+len(r.Data)] // read in place
		default:
			out = append(out, r.Data...)
		}
		if len(r.Data) < m {
			break
		}
		n -= m
		off += int64(m)
		if left >= 0 {
			left -= m // below 0: the file grew past the size learnt
		}
	}
	return out, nil
}

// sizeLeft returns how many bytes handle h's file holds past off by the
// size the attribute cache last learnt (0 at or past its end), or -1 if
// it holds none.
func (v *VFS) sizeLeft(h uint64, off int64) int {
	if v.attrs == nil {
		return -1
	}
	size, ok := v.attrs.SizeOf(h)
	if !ok || size > math.MaxInt64-1 {
		return -1
	}
	return int(max(int64(size)-off, 0))
}

// LendReadFD borrows h's donated host fd if it is open for reading alone
// (donated.Lend): nil if there is none. The caller puts the reference.
func (v *VFS) LendReadFD(h uint64) *donated.FD {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	l := &donated.Lend{}
	if _, err := v.GoferStatCtx(goferclient.FreshAttrs(ctx), h, donated.SizeOnly{}, l); err != nil && l.FD != nil {
		l.FD.Put()
		return nil
	}
	return l.FD
}

func (v *VFS) GoferStat(h uint64) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	return v.GoferStatCtx(ctx, h)
}

// GoferSizeNow returns the attributes of h's file now, bypassing the
// attribute cache (attrCache), for their size only (an O_APPEND write's
// end, a PageWrite's clip): with a donated fd (goferclient/goferdonate.go) they are
// its fstat, no gofer call, and the other fields may lack what only the
// gofer adds (set-id bits, an unlinked open file's link count), not the
// times: a Rewrite reads the mtime it keeps so (package kernel's
// mtimeBeforeRewrite).
func (v *VFS) GoferSizeNow(h uint64) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	return v.GoferStatCtx(goferclient.FreshAttrs(ctx), h, donated.SizeOnly{})
}

func (v *VFS) GoferStatCtx(ctx context.Context, h uint64, opts ...grpc.CallOption) (*goferpb.Stat, error) {
	r, err := v.gofer.Stat(ctx, &goferpb.StatRequest{Handle: h}, opts...)
	if err == nil && r.Errno == 0 && r.Stat == nil {
		return nil, unix.EIO
	}
	if err := syserr.FromGofer("stat", r.GetErrno(), err); err != nil {
		return nil, err
	}
	return r.Stat, nil
}

// GoferSeek returns where the next data (whence SEEK_DATA) or hole
// (SEEK_HOLE) of h's file at or after off starts, as the host's file
// system keeps them; known is false when the gofer has no Seek (an older
// gofer).
func (v *VFS) GoferSeek(h uint64, off int64, whence int) (n int64, known bool, err error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Seek(ctx, &goferpb.SeekRequest{Handle: h, Offset: off, Whence: uint32(whence)})
	if status.Code(err) == codes.Unimplemented {
		return 0, false, nil
	}
	if err := syserr.FromGofer("seek", r.GetErrno(), err); err != nil {
		return 0, true, err
	}
	return r.Offset, true, nil
}

// FsyncMany makes the files of handles hs durable: by an fsync for one,
// else by one Fsync naming them all, which the gofer serves with syncfs.
// Durability is the server's to account (durable.Tracker.StartSync): writes
// acknowledged before the call are covered.
func (v *VFS) FsyncMany(hs []uint64) error {
	if len(hs) == 1 {
		return v.Fsync(hs[0], false)
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Fsync(ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: hs[1:]})
	return syserr.FromGofer("fsync", r.GetErrno(), err)
}

func (v *VFS) Fsync(h uint64, dataOnly bool) error {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.Fsync(ctx, &goferpb.FsyncRequest{Handle: h, DataOnly: dataOnly})
	return syserr.FromGofer("fsync", r.GetErrno(), err)
}

// AttrsOfStat are the attributes of a gofer stat.
func AttrsOfStat(st *goferpb.Stat) auth.FileAttrs {
	return auth.FileAttrs{Mode: st.Mode, UID: st.Uid, GID: st.Gid}
}
