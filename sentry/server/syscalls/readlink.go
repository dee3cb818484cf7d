package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Readlink is readlink(2) and readlinkat(2).
func Readlink(c *kernel.Task) (int64, error) {
	if c.Sysno == unix.SYS_READLINK {
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return readlinkAt(c, linux.AT_FDCWD, p, c.Args[1], int64(c.Args[2]))
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return readlinkAt(c, ArgInt(c, 0), p, c.Args[2], int64(c.Args[3]))
}

func readlinkAt(c *kernel.Task, dirfd int32, path string, buf uint64, size int64) (int64, error) {
	if int32(size) <= 0 {
		return 0, unix.EINVAL
	}
	d, f, err := LookupAt(c, dirfd, path, false, true)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
		if d == nil {
			return 0, unix.ENOENT
		}
	}
	if !d.IsSymlink() {
		if path == "" {
			// Linux: an empty path names dirfd, which is no symlink.
			return 0, unix.ENOENT
		}
		return 0, unix.EINVAL
	}
	t, err := c.Kernel.VFS.Readlink(c, d)
	if err != nil {
		return 0, err
	}
	b := []byte(t)
	if int64(len(b)) > size {
		b = b[:size]
	}
	return int64(len(b)), c.Mem.CopyOut(buf, b)
}
