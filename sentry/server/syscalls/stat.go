package syscalls

import (
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The stat calls: stat, lstat, fstat, newfstatat and statx, over
// StatOf, a dentry's or description's attributes as they see them (a
// run's held attribute changes made first: kernel's attrrun.go), which
// access, fcntl's locks and the server's leases read too.

// ToLinuxStat is st as stat(2) writes it (struct stat).
func ToLinuxStat(st *goferpb.Stat) linux.Stat {
	return linux.Stat{
		Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink), Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Rdev: st.Rdev, Size: int64(st.Size), Blksize: int64(st.Blksize), Blocks: int64(st.Blocks),
		ATime: linux.NsecToTimespec(st.AtimeNs), MTime: linux.NsecToTimespec(st.MtimeNs), CTime: linux.NsecToTimespec(st.CtimeNs),
	}
}

func statxTime(ns int64) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
}

// ToStatx is st as statx(2) writes it.
func ToStatx(st *goferpb.Stat) linux.Statx {
	mask := uint32(linux.STATX_BASIC_STATS)
	if st.BtimeNs != 0 {
		mask |= linux.STATX_BTIME
	}
	return linux.Statx{
		Mask: mask, Blksize: st.Blksize, Nlink: st.Nlink, UID: st.Uid, GID: st.Gid, Mode: uint16(st.Mode),
		Ino: st.Ino, Size: st.Size, Blocks: st.Blocks,
		Atime: statxTime(st.AtimeNs), Btime: statxTime(st.BtimeNs), Ctime: statxTime(st.CtimeNs), Mtime: statxTime(st.MtimeNs),
		RdevMajor: uint32(unix.Major(st.Rdev)), RdevMinor: uint32(unix.Minor(st.Rdev)),
		DevMajor: uint32(unix.Major(st.Dev)), DevMinor: uint32(unix.Minor(st.Dev)),
	}
}

// StatOf returns the attributes of d, or of f when f is non-nil.
func StatOf(c *kernel.Task, d *vfs.Dentry, f *fdesc.File) (*goferpb.Stat, error) {
	c.FlushHeldAttrs() // a run's held changes are made before anything reads attributes
	st, err := statOfFile(c, d, f)
	if err != nil || !c.Kernel.VFS.HasMounts() {
		return st, err
	}
	if f != nil {
		d = vfs.DentryOf(f)
	}
	if d == nil || d.Kind != vfs.KindGofer {
		return st, nil
	}
	// A file of a grafted mount is on that mount's device, as Linux
	// gives each tmpfs its own.
	if dev, ok := c.Kernel.VFS.FileDev(d); ok && dev != st.Dev {
		st = proto.Clone(st).(*goferpb.Stat)
		st.Dev = dev
	}
	return st, nil
}

func statOfFile(c *kernel.Task, d *vfs.Dentry, f *fdesc.File) (*goferpb.Stat, error) {
	if f != nil {
		if f.IsPath() && vfs.DentryOf(f) != nil {
			return c.Kernel.VFS.StatDentry(c, vfs.DentryOf(f))
		}
		return f.Impl.Stat(c)
	}
	if d.Kind == vfs.KindProcFd {
		of, err := c.Kernel.ProcFDFile(d.PID, d.FD)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer of.DecRef()
		return of.Impl.Stat(c)
	}
	return c.Kernel.VFS.StatDentry(c, d)
}

func writeStat(c *kernel.Task, addr uint64, st *goferpb.Stat) error {
	ls := ToLinuxStat(st)
	b := make([]byte, ls.SizeBytes())
	ls.MarshalBytes(b)
	return c.Mem.CopyOut(addr, b)
}

// Fstat is fstat(2).
func Fstat(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := StatOf(c, nil, f)
	if err != nil {
		return 0, err
	}
	return 0, writeStat(c, c.Args[1], st)
}

// Stat is stat(2) and lstat(2).
func Stat(c *kernel.Task) (int64, error) {
	p, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	flags := uint32(0)
	if c.Sysno == unix.SYS_LSTAT {
		flags = linux.AT_SYMLINK_NOFOLLOW
	}
	return fstatat(c, linux.AT_FDCWD, p, c.Args[1], flags)
}

// Newfstatat is newfstatat(2).
func Newfstatat(c *kernel.Task) (int64, error) {
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return fstatat(c, ArgInt(c, 0), p, c.Args[2], uint32(c.Args[3]))
}

func fstatat(c *kernel.Task, dirfd int32, path string, addr uint64, flags uint32) (int64, error) {
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH|linux.AT_NO_AUTOMOUNT) != 0 {
		return 0, unix.EINVAL
	}
	d, f, err := LookupAt(c, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	st, err := statAtEnd(c, d, f, flags&linux.AT_SYMLINK_NOFOLLOW != 0)
	if err != nil {
		return 0, err
	}
	return 0, writeStat(c, addr, st)
}

// statAtEnd is StatOf for what a path lookup ended at: with nofollow, a
// /proc/<pid>/fd/<n> link is itself (a symlink, as lstat and ls -l of
// the fd directory see it); followed, a link to a file with no path (a
// pipe, a socket) ends at the link too, and is the file's.
func statAtEnd(c *kernel.Task, d *vfs.Dentry, f *fdesc.File, nofollow bool) (*goferpb.Stat, error) {
	if nofollow && f == nil && d.Kind == vfs.KindProcFd {
		return c.Kernel.VFS.StatDentry(c, d)
	}
	return StatOf(c, d, f)
}

// Statx is statx(2).
func Statx(c *kernel.Task) (int64, error) {
	dirfd, flags, addr := ArgInt(c, 0), uint32(c.Args[2]), c.Args[4]
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH|linux.AT_NO_AUTOMOUNT|linux.AT_STATX_SYNC_TYPE) != 0 || flags&linux.AT_STATX_SYNC_TYPE == linux.AT_STATX_SYNC_TYPE {
		return 0, unix.EINVAL
	}
	if uint32(c.Args[3])&linux.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	d, f, err := LookupAt(c, dirfd, p, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	st, err := statAtEnd(c, d, f, flags&linux.AT_SYMLINK_NOFOLLOW != 0)
	if err != nil {
		return 0, err
	}
	sx := ToStatx(st)
	b := make([]byte, sx.SizeBytes())
	sx.MarshalBytes(b)
	return 0, c.Mem.CopyOut(addr, b)
}
