package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Access is access(2), faccessat(2) and faccessat2(2).
func Access(c *kernel.Task) (int64, error) {
	switch c.Sysno {
	case unix.SYS_ACCESS:
		p, err := PathArg(c, 0)
		if err != nil {
			return 0, err
		}
		return accessAt(c, linux.AT_FDCWD, p, uint32(c.Args[1]), 0)
	case unix.SYS_FACCESSAT:
		p, err := PathArg(c, 1)
		if err != nil {
			return 0, err
		}
		return accessAt(c, ArgInt(c, 0), p, uint32(c.Args[2]), 0)
	}
	p, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	return accessAt(c, ArgInt(c, 0), p, uint32(c.Args[2]), uint32(c.Args[3]))
}

func accessAt(c *kernel.Task, dirfd int32, path string, mode, flags uint32) (int64, error) {
	if mode&^7 != 0 || flags&^(linux.AT_EACCESS|linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	cr := c.ProcessCreds()
	if flags&linux.AT_EACCESS == 0 {
		// access(2) checks with the real ids, and with the
		// capabilities of the real uid: none unless it is 0, then the
		// permitted set (Linux's access_override_creds), in its walk
		// too.
		cr.FSUID, cr.FSGID = cr.RUID, cr.RGID
		if cr.RUID != 0 {
			cr.Caps.Effective = 0
		} else {
			cr.Caps.Effective = cr.Caps.Permitted
		}
		c.AccessCreds = &cr
	}
	d, f, err := LookupAt(c, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
	}
	if mode == 0 {
		return 0, nil
	}
	st, err := StatOf(c, d, f)
	if err != nil {
		return 0, err
	}
	a := vfs.AttrsOfStat(st)
	if f == nil && d.Kind != vfs.KindGofer {
		a = c.Kernel.VFS.AttrsOf(d) // /proc/<pid>/... belongs to the process
	}
	if !cr.Permits(a, mode) {
		return 0, unix.EACCES
	}
	if f != nil {
		d = vfs.DentryOf(f)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		if mode&unix.W_OK != 0 && c.Kernel.VFS.ReadOnly(c.MountNS(), d) {
			// SuS asks that a read-only file system be reported
			// (Linux's do_faccessat), devices and FIFOs aside.
			return 0, unix.EROFS
		}
	}
	return 0, nil
}
