package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Openat2 implements openat2(2): openat with its flags and mode in a
// struct open_how, checked as Linux's build_open_how and
// build_open_flags check them, and the walk scoped by its resolve flags
// (vfs/resolvescope.go). RESOLVE_CACHED is taken as satisfied (every
// lookup may be made), but for the calls Linux refuses it (EAGAIN).
func Openat2(c *kernel.Task) (int64, error) {
	const (
		openHowSize0 = 24 // OPEN_HOW_SIZE_VER0
		pageSize     = 4096
		oLargefile   = 0o100000 // the kernel's (x/sys/unix has 0 on amd64)
		oPathFlags   = unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_PATH | unix.O_CLOEXEC
		validFlags   = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_APPEND |
			unix.O_NONBLOCK | unix.O_SYNC | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | oLargefile |
			unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_PATH | unix.O_TMPFILE
	)
	size := c.Args[3]
	if size < openHowSize0 {
		return 0, unix.EINVAL
	}
	if size > pageSize {
		return 0, unix.E2BIG
	}
	b, err := c.Mem.CopyIn(c.Args[2], int(size))
	if err != nil {
		return 0, err
	}
	for _, x := range b[openHowSize0:] {
		if x != 0 {
			return 0, unix.E2BIG // a field this kernel does not know
		}
	}
	flags := binary.LittleEndian.Uint64(b)
	mode := binary.LittleEndian.Uint64(b[8:])
	resolve := binary.LittleEndian.Uint64(b[16:])
	switch {
	case flags&^uint64(validFlags) != 0, resolve&^vfs.ResolveAll != 0:
		return 0, unix.EINVAL
	case resolve&vfs.ResolveBeneath != 0 && resolve&vfs.ResolveInRoot != 0:
		return 0, unix.EINVAL
	case flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 && mode&^0o7777 != 0:
		return 0, unix.EINVAL
	case flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 && mode != 0:
		return 0, unix.EINVAL
	case flags&unix.O_PATH != 0 && flags&^uint64(oPathFlags) != 0:
		return 0, unix.EINVAL
	case resolve&vfs.ResolveCached != 0 && flags&(unix.O_TRUNC|unix.O_CREAT|unix.O_TMPFILE) != 0:
		return 0, unix.EAGAIN
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	dirfd := ArgInt(c, 0)
	if resolve != 0 {
		root, err := scopeRoot(c, dirfd)
		if err != nil {
			return 0, err
		}
		c.Scope = &vfs.ResolveScope{Flags: resolve, Root: root}
		defer func() { c.Scope = nil }()
	}
	return openAt(c, dirfd, p, uint32(flags), uint32(mode))
}

// scopeRoot is the directory a scoped walk from dirfd starts in.
func scopeRoot(c *kernel.Task, dirfd int32) (*vfs.Dentry, error) {
	if dirfd == linux.AT_FDCWD {
		return c.Cwd(), nil
	}
	f, err := c.GetFile(dirfd)
	if err != nil {
		return nil, err
	}
	defer f.DecRef()
	d := vfs.DentryOf(f)
	if d == nil || !d.IsDir() {
		return nil, unix.ENOTDIR
	}
	return d, nil
}
