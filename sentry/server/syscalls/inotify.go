package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// InotifyInit implements inotify_init and inotify_init1(flags).
func InotifyInit(c *kernel.Task) (int64, error) {
	var flags uint32
	if c.Sysno == unix.SYS_INOTIFY_INIT1 {
		flags = uint32(c.Args[0])
	}
	if flags&^(unix.IN_CLOEXEC|unix.IN_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, err := inotify.New(flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, flags&unix.IN_CLOEXEC != 0, c.CallSeq)
	return int64(fd), err
}

// inotifyOf returns fd's inotify instance (EBADF, or EINVAL for another
// kind of file).
func inotifyOf(c *kernel.Task, fd int32) (*fdesc.File, *inotify.File, error) {
	return FileAs[*inotify.File](c, fd, unix.EINVAL)
}

// InotifyAddWatch implements inotify_add_watch(fd, path, mask).
func InotifyAddWatch(c *kernel.Task) (int64, error) {
	mask := uint32(c.Args[2])
	f, in, err := inotifyOf(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if mask&linux.ALL_INOTIFY_BITS == 0 || mask&^(linux.ALL_INOTIFY_BITS|inotify.MaskCreate) != 0 {
		return 0, unix.EINVAL
	}
	if mask&linux.IN_MASK_ADD != 0 && mask&inotify.MaskCreate != 0 {
		return 0, unix.EINVAL
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	d, _, err := LookupAt(c, linux.AT_FDCWD, p, mask&linux.IN_DONT_FOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	if mask&linux.IN_ONLYDIR != 0 && !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	// Linux needs read permission on the file.
	if err := c.MayAccess(d, auth.MayRead); err != nil {
		return 0, err
	}
	wd, err := in.AddWatch(c.Kernel.Inotify.Target(d.Ino(), true), d, mask)
	if err != nil {
		return 0, err
	}
	c.Kernel.Files.RevokeLeasesForWatch()
	f.Changed()
	return int64(wd), nil
}

// InotifyRmWatch implements inotify_rm_watch(fd, wd).
func InotifyRmWatch(c *kernel.Task) (int64, error) {
	f, in, err := inotifyOf(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	wd := int32(c.Args[1])
	if err := in.RmWatch(wd); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}
