package syscalls

import (
	"math"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// fallocate's modes (FALLOC_FL_MODE_MASK: exclusive, 0 allocates) and
// its one flag.
const (
	fallocWriteZeroes = 0x80 // FALLOC_FL_WRITE_ZEROES (Linux 6.17)
	fallocModeMask    = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_COLLAPSE_RANGE | unix.FALLOC_FL_ZERO_RANGE |
		unix.FALLOC_FL_INSERT_RANGE | unix.FALLOC_FL_UNSHARE_RANGE | fallocWriteZeroes
)

// Fallocate implements fallocate(2) on a gofer file: vfs_fallocate's checks
// here, then the gofer's Fallocate on the description's handle with the
// call's Origin, so that a call re-sent after a server failure is applied
// once (as ftruncate's SetStat). Like ftruncate it is not retained in the
// client's log: the gofer applied it before the reply.
func Fallocate(c *kernel.Task) (int64, error) {
	mode, off, length := uint32(c.Args[1]), int64(c.Args[2]), int64(c.Args[3])
	f, err := FileArg(c, 0)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	d := vfs.DentryOf(f)
	if off < 0 || length <= 0 {
		return 0, unix.EINVAL
	}
	if mode&^(fallocModeMask|unix.FALLOC_FL_KEEP_SIZE) != 0 {
		return 0, unix.EOPNOTSUPP
	}
	// The modes are exclusive (Linux 6.11 and later say EOPNOTSUPP for
	// any mix, earlier kernels EINVAL for some).
	switch mode & fallocModeMask {
	case 0, unix.FALLOC_FL_UNSHARE_RANGE, unix.FALLOC_FL_ZERO_RANGE:
	case unix.FALLOC_FL_PUNCH_HOLE:
		if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
			return 0, unix.EOPNOTSUPP
		}
	case unix.FALLOC_FL_COLLAPSE_RANGE, unix.FALLOC_FL_INSERT_RANGE, fallocWriteZeroes:
		if mode&unix.FALLOC_FL_KEEP_SIZE != 0 {
			return 0, unix.EOPNOTSUPP
		}
	default:
		return 0, unix.EOPNOTSUPP
	}
	if !f.Writable() {
		return 0, unix.EBADF
	}
	g, ok := f.Impl.(*vfs.GoferFile)
	switch {
	case ok && d != nil && d.IsRegular():
	case isPipeEnd(f):
		return 0, unix.ESPIPE
	case d != nil && d.IsDir():
		return 0, unix.EISDIR
	case ok || d == nil || !d.IsRegular():
		return 0, unix.ENODEV
	default:
		return 0, unix.EOPNOTSUPP // a synthesized regular file
	}
	if length > math.MaxInt64-off {
		return 0, unix.EFBIG
	}
	if c.Kernel.VFS.ReadOnly(c.MountNS(), d) {
		return 0, unix.EROFS
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		if _, err := c.FileSizeCheck(d, off+length, 0, true); err != nil {
			return 0, err
		}
	}
	if m := g.Memfd; m != nil {
		if err := m.CheckFallocate(c, f, mode, off, length); err != nil {
			return 0, err
		}
	}
	if mode&fallocModeMask != 0 && mode&fallocModeMask != unix.FALLOC_FL_UNSHARE_RANGE {
		// The mode removes or moves bytes (allocating does not).
		if err := c.SyncBeforeResize(d, false); err != nil {
			return 0, err
		}
	}
	attrs := c.Kernel.VFS.AttrsOf(d)
	ctx, cancel := c.Kernel.VFS.RPCCtx()
	defer cancel()
	r, err := c.Kernel.Gofer.Fallocate(ctx, &goferpb.FallocateRequest{Handle: g.Handle, Mode: mode,
		Offset: uint64(off), Length: uint64(length), Origin: c.GoferOrigin(0)})
	if err := syserr.FromGofer("fallocate", r.GetErrno(), err); err != nil {
		return 0, err
	}
	c.Kernel.VFS.NoteAttrs(d, r.GetStat())
	c.Kernel.InotifyEvent(d, linux.IN_MODIFY)
	c.KillPriv(d, g.Handle, attrs)
	// The client's cached pages of the file: the range changed (zeroed,
	// or, for a collapse or an insertion, everything after it moved).
	changed := uint64(length)
	if end := r.GetStat().GetSize() + uint64(length); mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0 && end > uint64(off) {
		changed = end - uint64(off) // up to the larger of the old and new ends
	}
	c.GoferStat = r.GetStat()
	c.NoteMappedChange(f, uint64(off), changed)
	return 0, nil
}

// isPipeEnd says f is a pipe's or FIFO's end.
func isPipeEnd(f *fdesc.File) bool {
	_, ok := f.Impl.(*kernel.PipeEnd)
	return ok
}
