package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// Extended attributes. The filesystem the gofer serves has none, as far
// as the sandbox can tell: get, set and remove fail with ENOTSUP (what
// Linux returns on a filesystem without xattr support), and list returns
// an empty list. The file named must still exist (ENOENT, ENOTDIR,
// EACCES from the walk) and the name must be valid (ERANGE), so callers
// such as GNU ls and cp, which try the calls and fall back on ENOTSUP,
// behave as on such a filesystem.

const (
	xattrNameMax = 255      // XATTR_NAME_MAX
	xattrSizeMax = 64 << 10 // XATTR_SIZE_MAX
	xattrCreate  = 1        // XATTR_CREATE
	xattrReplace = 2        // XATTR_REPLACE
)

// xattrKind says how an xattr call names its file.
type xattrKind int

const (
	xattrPath  xattrKind = iota // getxattr etc.: a path, followed
	xattrLPath                  // lgetxattr etc.: a path, not followed
	xattrFD                     // fgetxattr etc.: an fd (not O_PATH)
)

func xattrKindOf(sysno int32) xattrKind {
	switch sysno {
	case unix.SYS_LGETXATTR, unix.SYS_LSETXATTR, unix.SYS_LLISTXATTR, unix.SYS_LREMOVEXATTR:
		return xattrLPath
	case unix.SYS_FGETXATTR, unix.SYS_FSETXATTR, unix.SYS_FLISTXATTR, unix.SYS_FREMOVEXATTR:
		return xattrFD
	}
	return xattrPath
}

// xattrFile checks that the file an xattr call names (argument 0) exists.
func xattrFile(c *kernel.Task) error {
	kind := xattrKindOf(c.Sysno)
	if kind == xattrFD {
		f, err := FileArg(c, 0)
		if err != nil {
			return err
		}
		f.DecRef()
		return nil
	}
	p, err := PathArg(c, 0)
	if err != nil {
		return err
	}
	_, f, err := LookupAt(c, linux.AT_FDCWD, p, kind == xattrPath, false)
	if f != nil {
		f.DecRef()
	}
	return err
}

// xattrName copies in and checks the attribute name (argument 1).
func xattrName(c *kernel.Task) error {
	name, err := c.Mem.CopyInString(c.Args[1], xattrNameMax+1)
	if err == unix.ENAMETOOLONG || (err == nil && (name == "" || len(name) > xattrNameMax)) {
		return unix.ERANGE
	}
	return err
}

// Getxattr implements getxattr(2).
func Getxattr(c *kernel.Task) (int64, error) {
	if err := xattrName(c); err != nil {
		return 0, err
	}
	if err := xattrFile(c); err != nil {
		return 0, err
	}
	return 0, unix.ENOTSUP
}

// Setxattr implements setxattr(2).
func Setxattr(c *kernel.Task) (int64, error) {
	if flags := c.Args[4]; flags&^(xattrCreate|xattrReplace) != 0 {
		return 0, unix.EINVAL
	}
	if err := xattrName(c); err != nil {
		return 0, err
	}
	if c.Args[3] > xattrSizeMax {
		return 0, unix.E2BIG
	}
	if err := xattrFile(c); err != nil {
		return 0, err
	}
	return 0, unix.ENOTSUP
}

// Removexattr implements removexattr(2).
func Removexattr(c *kernel.Task) (int64, error) {
	if err := xattrName(c); err != nil {
		return 0, err
	}
	if err := xattrFile(c); err != nil {
		return 0, err
	}
	return 0, unix.ENOTSUP
}

// Listxattr lists no attributes.
func Listxattr(c *kernel.Task) (int64, error) {
	if err := xattrFile(c); err != nil {
		return 0, err
	}
	return 0, nil
}
