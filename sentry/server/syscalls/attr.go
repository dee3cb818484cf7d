package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The attribute calls: truncate, ftruncate, chmod, fchmod, fchmodat,
// chown, fchown, lchown, fchownat, utimensat, utime, utimes and
// futimesat, over SetStat, a gofer SetStat whose change a run of posted
// attribute calls may hold (kernel's attrrun.go).

// SetStat applies a SetStat to d (or f) and records the attributes it
// left.
func SetStat(c *kernel.Task, d *vfs.Dentry, f *fdesc.File, req *goferpb.SetStatRequest) error {
	v := c.Kernel.VFS
	var h uint64
	var err error
	switch {
	case f != nil && !f.IsPath():
		var ok bool
		if h, ok = vfs.HandleOfFile(f); !ok {
			if vfs.DentryOf(f) == nil {
				return unix.EPERM
			}
		}
		d = vfs.DentryOf(f)
	case f != nil:
		d = vfs.DentryOf(f)
	}
	if h == 0 {
		if d == nil || d.Kind != vfs.KindGofer {
			return unix.EPERM
		}
		if h, err = c.HandleOf(d); err != nil {
			return err
		}
	}
	if v.ReadOnly(c.MountNS(), d) {
		return unix.EROFS
	}
	req.Handle = h
	if !c.Resent() || !absoluteAttrs(req) {
		req.Origin = c.GoferOrigin(0)
	}
	if c.HoldAttrs(d, f, req) {
		return nil
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	if f != nil && c.Sysno == unix.SYS_FTRUNCATE {
		// A truncation the client applied to its owned copy
		// (Syscall.owned_write) keeps the description's claim.
		if g, ok := f.Impl.(*vfs.GoferFile); ok {
			ctx = g.OwnedChangeCtx(ctx, c)
		}
	}
	r, err := c.Kernel.Gofer.SetStat(ctx, req)
	if err := syserr.FromGofer("setstat", r.GetErrno(), err); err != nil {
		return err
	}
	v.NoteAttrs(d, r.Stat)
	c.Kernel.InotifyEvent(d, kobj.InotifyStatEvents(req.Mask))
	return nil
}

// absoluteAttrs says req sets only the owner, the mode and explicit
// times, which made twice leave the file as made once. Such a change of
// a call re-sent after a Restore (kernel.Task.Resent) goes without an
// Origin: the gofer makes it again rather than answer from its reply
// cache, as an earlier re-sent call the dead server had made may have
// been made again since (a write through a donated fd moves the mtime,
// its KillPriv clears set-id bits), and the change the application made
// last must land last (chaos tar-attrs: a member's re-sent write left
// its mtime the time of the recovery).
func absoluteAttrs(req *goferpb.SetStatRequest) bool {
	const fields = linux.STATX_UID | linux.STATX_GID | linux.STATX_MODE | linux.STATX_ATIME | linux.STATX_MTIME
	return req.GetMask()&^uint32(fields) == 0 && !req.GetAtimeNow() && !req.GetMtimeNow() && !req.GetCheckVersion()
}

// TargetAttrs returns the current attributes of d (or f) for a
// permission decision by cr about an owner-only change (chmod, chown,
// utimensat). A holder of CAP_FOWNER, CAP_CHOWN and CAP_FSETID may make
// any such change, so for it the stat round trip is skipped and the
// attributes returned are zero.
func TargetAttrs(c *kernel.Task, cr auth.Creds, d *vfs.Dentry, f *fdesc.File) (auth.FileAttrs, error) {
	if d == nil && f == nil {
		return auth.FileAttrs{}, unix.ENOENT
	}
	if cr.Capable(linux.CAP_FOWNER) && cr.Capable(linux.CAP_CHOWN) && cr.Capable(linux.CAP_FSETID) {
		return auth.FileAttrs{}, nil
	}
	st, err := StatOf(c, d, f)
	if err != nil {
		return auth.FileAttrs{}, err
	}
	return vfs.AttrsOfStat(st), nil
}

func Truncate(c *kernel.Task) (int64, error) {
	length := int64(c.Args[1])
	if length < 0 {
		return 0, unix.EINVAL
	}
	req := &goferpb.SetStatRequest{Mask: linux.STATX_SIZE, Size: uint64(length)}
	if c.Sysno == unix.SYS_FTRUNCATE {
		f, err := FileArg(c, 0)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		if _, ok := f.Impl.(*vfs.GoferFile); !ok || !f.Writable() {
			return 0, unix.EINVAL
		}
		if _, err := c.FileSizeCheck(vfs.DentryOf(f), length, 0, true); err != nil {
			return 0, err
		}
		if m := vfs.MemfdOf(f); m != nil {
			if err := m.CheckResize(c, f, uint64(length)); err != nil {
				return 0, err
			}
		}
		if err := c.SyncBeforeTruncate(vfs.DentryOf(f), length); err != nil {
			return 0, err
		}
		if err := SetStat(c, nil, f, req); err != nil {
			if length == 0 {
				c.SyncAfterFailedResize(vfs.DentryOf(f))
			}
			return 0, err
		}
		if length == 0 {
			c.TruncatedToZero(vfs.DentryOf(f))
		}
		if h, ok := vfs.HandleOfFile(f); ok && vfs.DentryOf(f) != nil {
			c.KillPriv(vfs.DentryOf(f), h, c.Kernel.VFS.AttrsOf(vfs.DentryOf(f)))
			c.NoteMappedResize(vfs.DentryOf(f), h)
		}
		return 0, nil
	}
	p, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	d, err := c.Kernel.VFS.Resolve(c, c.Cwd(), p, true)
	if err != nil {
		return 0, err
	}
	if d.IsDir() {
		return 0, unix.EISDIR
	}
	if err := c.MayAccess(d, auth.MayWrite); err != nil {
		return 0, err
	}
	if !d.IsRegular() {
		return 0, unix.EINVAL
	}
	if c.Kernel.InodeExecuting(d.Ino()) {
		return 0, unix.ETXTBSY
	}
	if _, err := c.FileSizeCheck(d, length, 0, true); err != nil {
		return 0, err
	}
	if err := c.BreakLeases(d, true, false); err != nil {
		return 0, err
	}
	if err := c.SyncBeforeTruncate(d, length); err != nil {
		return 0, err
	}
	if err := SetStat(c, d, nil, req); err != nil {
		if length == 0 {
			c.SyncAfterFailedResize(d)
		}
		return 0, err
	}
	if length == 0 {
		c.TruncatedToZero(d)
	}
	c.KillPriv(d, 0, c.Kernel.VFS.AttrsOf(d))
	c.NoteMappedResize(d, 0)
	return 0, nil
}

func Chmod(c *kernel.Task) (int64, error) {
	var d *vfs.Dentry
	var f *fdesc.File
	var err error
	var mode uint32
	switch c.Sysno {
	case unix.SYS_CHMOD:
		d, f, err = AttrTarget(c, linux.AT_FDCWD, 0, true, false)
		mode = uint32(c.Args[1])
	case unix.SYS_FCHMOD:
		f, err = FileArg(c, 0)
		mode = uint32(c.Args[1])
	case unix.SYS_FCHMODAT2:
		// fchmodat with the flags fchmodat's libc wrapper had to
		// emulate (Linux 6.6).
		flags := uint32(c.Args[3])
		if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
			return 0, unix.EINVAL
		}
		d, f, err = AttrTarget(c, ArgInt(c, 0), 1, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
		mode = uint32(c.Args[2])
	default:
		d, f, err = AttrTarget(c, ArgInt(c, 0), 1, true, false)
		mode = uint32(c.Args[2])
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	a, err := TargetAttrs(c, cr, d, f)
	if err != nil {
		return 0, err
	}
	if a.Mode&unix.S_IFMT == unix.S_IFLNK {
		// A symlink's mode is not its own to change (notify_change),
		// only reached by fchmodat2's AT_SYMLINK_NOFOLLOW.
		return 0, unix.EOPNOTSUPP
	}
	if !cr.OwnerOrCapable(a) {
		return 0, unix.EPERM
	}
	mode = cr.ChmodMode(a, mode&07777)
	return 0, SetStat(c, d, f, &goferpb.SetStatRequest{Mask: linux.STATX_MODE, Mode: mode})
}

func Chown(c *kernel.Task) (int64, error) {
	var d *vfs.Dentry
	var f *fdesc.File
	var err error
	var uid, gid uint32
	switch c.Sysno {
	case unix.SYS_CHOWN, unix.SYS_LCHOWN:
		d, f, err = AttrTarget(c, linux.AT_FDCWD, 0, c.Sysno == unix.SYS_CHOWN, false)
		uid, gid = uint32(c.Args[1]), uint32(c.Args[2])
	case unix.SYS_FCHOWN:
		f, err = FileArg(c, 0)
		uid, gid = uint32(c.Args[1]), uint32(c.Args[2])
	default:
		flags := uint32(c.Args[4])
		if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
			return 0, unix.EINVAL
		}
		d, f, err = AttrTarget(c, ArgInt(c, 0), 1, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
		uid, gid = uint32(c.Args[2]), uint32(c.Args[3])
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	req := &goferpb.SetStatRequest{}
	if uid != ^uint32(0) {
		req.Mask |= linux.STATX_UID
		req.Uid = uid
	}
	if gid != ^uint32(0) {
		req.Mask |= linux.STATX_GID
		req.Gid = gid
	}
	if d == nil && f == nil {
		return 0, unix.ENOENT
	}
	// The mode is needed whoever calls: a chown clears set-id bits
	// (perm.go: chownMode), even one that changes nothing.
	st, err := StatOf(c, d, f)
	if err != nil {
		return 0, err
	}
	cr := c.ProcessCreds()
	a := vfs.AttrsOfStat(st)
	if !cr.MayChown(a, ArgID(uint64(uid)), ArgID(uint64(gid))) {
		return 0, unix.EPERM
	}
	if nm, changed := cr.ChownMode(a); changed {
		if req.Mask == 0 && !cr.OwnerOrCapable(a) {
			// Linux: the mode change alone needs the owner's right.
			return 0, unix.EPERM
		}
		req.Mask |= linux.STATX_MODE
		req.Mode = nm & 07777
	}
	if req.Mask == 0 {
		return 0, nil
	}
	return 0, SetStat(c, d, f, req)
}

const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

func Utimensat(c *kernel.Task) (int64, error) {
	dirfd, flags := ArgInt(c, 0), uint32(c.Args[3])
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	var times [2]timeArg
	if c.Args[2] != 0 {
		b, err := c.Mem.CopyIn(c.Args[2], 32)
		if err != nil {
			return 0, err
		}
		for i := range times {
			times[i] = timeArg{sec: int64(binary.LittleEndian.Uint64(b[16*i:])), nsec: int64(binary.LittleEndian.Uint64(b[16*i+8:]))}
			if n := times[i].nsec; n != utimeNow && n != utimeOmit && (n < 0 || n >= 1e9) {
				return 0, unix.EINVAL
			}
		}
	} else {
		times = [2]timeArg{{nsec: utimeNow}, {nsec: utimeNow}}
	}
	var d *vfs.Dentry
	var f *fdesc.File
	var err error
	if c.Args[1] == 0 && dirfd != linux.AT_FDCWD {
		// futimens: the fd itself. A NULL path with AT_FDCWD is no
		// fd: Linux copies the path in and fails (EFAULT).
		f, err = FileArg(c, 0)
	} else {
		d, f, err = AttrTarget(c, dirfd, 1, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	return 0, setTimes(c, d, f, times)
}

// timeArg is one time of utimensat: a time, or nsec utimeNow/utimeOmit.
type timeArg struct{ sec, nsec int64 }

// setTimes sets the access and modification times of d (or f) as
// utimensat does, with its permission rules: explicit times need the
// owner or CAP_FOWNER (EPERM); setting both to now also lets anyone with
// write permission (EACCES).
func setTimes(c *kernel.Task, d *vfs.Dentry, f *fdesc.File, times [2]timeArg) error {
	req := &goferpb.SetStatRequest{}
	explicit := false
	for i, t := range times {
		switch {
		case t.nsec == utimeOmit:
			continue
		case t.nsec == utimeNow:
		case t.nsec < 0 || t.nsec >= 1e9:
			return unix.EINVAL
		default:
			explicit = true
		}
		now, ns := t.nsec == utimeNow, t.sec*1e9+t.nsec
		if i == 0 {
			req.Mask |= linux.STATX_ATIME
			req.AtimeNow, req.AtimeNs = now, ns
		} else {
			req.Mask |= linux.STATX_MTIME
			req.MtimeNow, req.MtimeNs = now, ns
		}
	}
	if req.Mask == 0 {
		return nil
	}
	cr := c.ProcessCreds()
	a, err := TargetAttrs(c, cr, d, f)
	if err != nil {
		return err
	}
	if !cr.OwnerOrCapable(a) {
		if explicit {
			return unix.EPERM
		}
		if !cr.Permits(a, auth.MayWrite) {
			return unix.EACCES
		}
	}
	return SetStat(c, d, f, req)
}

// mayChangeAttrs fails with EROFS for a file on a read-only mount
// (Linux checks this before any permission: mnt_want_write).
func mayChangeAttrs(c *kernel.Task, d *vfs.Dentry, f *fdesc.File) error {
	if f != nil {
		d = vfs.DentryOf(f)
	}
	if c.Kernel.VFS.ReadOnly(c.MountNS(), d) {
		return unix.EROFS
	}
	return nil
}

// Utime implements utime, utimes and futimesat on the utimensat path:
// seconds (utime) or timevals instead of timespecs, NULL for now.
func Utime(c *kernel.Task) (int64, error) {
	dirfd, pi, ti := int32(linux.AT_FDCWD), 0, 1
	if c.Sysno == unix.SYS_FUTIMESAT {
		dirfd, pi, ti = ArgInt(c, 0), 1, 2
	}
	times := [2]timeArg{{nsec: utimeNow}, {nsec: utimeNow}}
	if addr := c.Args[ti]; addr != 0 {
		b, err := c.Mem.CopyIn(addr, 16)
		if c.Sysno != unix.SYS_UTIME {
			b, err = c.Mem.CopyIn(addr, 32)
		}
		if err != nil {
			return 0, err
		}
		for i := range times {
			if c.Sysno == unix.SYS_UTIME {
				times[i] = timeArg{sec: int64(binary.LittleEndian.Uint64(b[8*i:]))}
				continue
			}
			sec, usec := int64(binary.LittleEndian.Uint64(b[16*i:])), int64(binary.LittleEndian.Uint64(b[16*i+8:]))
			if usec < 0 || usec >= 1e6 {
				return 0, unix.EINVAL
			}
			times[i] = timeArg{sec: sec, nsec: usec * 1000}
		}
	}
	var d *vfs.Dentry
	var f *fdesc.File
	var err error
	if c.Sysno == unix.SYS_FUTIMESAT && c.Args[pi] == 0 && dirfd != linux.AT_FDCWD {
		f, err = FileArg(c, 0)
	} else {
		d, f, err = AttrTarget(c, dirfd, pi, true, false)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if err := mayChangeAttrs(c, d, f); err != nil {
		return 0, err
	}
	return 0, setTimes(c, d, f, times)
}
