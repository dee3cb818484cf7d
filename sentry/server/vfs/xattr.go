package vfs

import (
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// The user. extended attributes of gofer files, through the gofer's
// GetXattr, SetXattr, ListXattr and RemoveXattr (gofer/xattr.go). The
// gofer checks nothing of the sandbox's caller: the syscall handlers
// (package syscalls' xattr.go) make Linux's checks before these. A
// gofer without the calls (an older one) is a file system without
// extended attributes: EOPNOTSUPP, an empty listing.

// GoferGetXattr returns the value of attribute name of h's file, read
// into a buffer of size bytes (at most XATTR_SIZE_MAX; ERANGE if the
// value is larger), and its length; size 0 returns the length only.
func (v *VFS) GoferGetXattr(h uint64, name string, size uint32) ([]byte, int, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.GetXattr(ctx, &goferpb.GetXattrRequest{Handle: h, Name: []byte(name), Size: size})
	if status.Code(err) == codes.Unimplemented {
		return nil, 0, unix.EOPNOTSUPP
	}
	if err := syserr.FromGofer("getxattr", r.GetErrno(), err); err != nil {
		return nil, 0, err
	}
	return r.GetValue(), int(r.GetSize()), nil
}

// GoferSetXattr sets attribute name of h's file to value with flags
// (XATTR_CREATE, XATTR_REPLACE) and returns the file's attributes after
// it. origin keys the gofer's reply cache (a call re-sent after a
// server restore is answered, not run again).
func (v *VFS) GoferSetXattr(h uint64, name string, value []byte, flags uint32, origin *goferpb.Origin) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.SetXattr(ctx, &goferpb.SetXattrRequest{Handle: h, Name: []byte(name), Value: value, Flags: flags, Origin: origin})
	if status.Code(err) == codes.Unimplemented {
		return nil, unix.EOPNOTSUPP
	}
	if err := syserr.FromGofer("setxattr", r.GetErrno(), err); err != nil {
		return nil, err
	}
	return r.GetStat(), nil
}

// GoferListXattr returns the user. attribute names of h's file the
// sandbox may see.
func (v *VFS) GoferListXattr(h uint64) ([][]byte, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.ListXattr(ctx, &goferpb.ListXattrRequest{Handle: h})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err := syserr.FromGofer("listxattr", r.GetErrno(), err); err != nil {
		return nil, err
	}
	return r.GetNames(), nil
}

// GoferRemoveXattr removes attribute name of h's file and returns the
// file's attributes after it; origin as GoferSetXattr's.
func (v *VFS) GoferRemoveXattr(h uint64, name string, origin *goferpb.Origin) (*goferpb.Stat, error) {
	ctx, cancel := v.RPCCtx()
	defer cancel()
	r, err := v.gofer.RemoveXattr(ctx, &goferpb.RemoveXattrRequest{Handle: h, Name: []byte(name), Origin: origin})
	if status.Code(err) == codes.Unimplemented {
		return nil, unix.EOPNOTSUPP
	}
	if err := syserr.FromGofer("removexattr", r.GetErrno(), err); err != nil {
		return nil, err
	}
	return r.GetStat(), nil
}
