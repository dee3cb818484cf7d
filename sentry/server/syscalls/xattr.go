package syscalls

import (
	"bytes"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Extended attributes. The user. namespace of a gofer file is the host
// file's, through package vfs's GoferGetXattr, GoferSetXattr,
// GoferListXattr and GoferRemoveXattr (the gofer's calls,
// gofer/xattr.go). The gofer runs as root on the host and
// checks nothing of the sandbox's caller, so Linux's checks are made
// here, against the caller's credentials, in Linux's order (fs/xattr.c:
// the arguments, the walk, a read-only mount, xattr_permission, the
// security hooks, then the namespace's handler):
//
//   - user.: only on a regular file or a directory (else ENODATA to
//     read, EPERM to change), a sticky directory's only by its owner or
//     with CAP_FOWNER, then read (get) or write (set, remove) permission;
//     "user." alone is EINVAL. The gofer's own names ("user.runsc-
//     decoupled.", its set-id seal) are not the sandbox's: ENODATA to
//     read, EPERM to set or remove, never listed (the gofer refuses them
//     too).
//   - trusted.: without CAP_SYS_ADMIN, ENODATA to read and EPERM to
//     change (Linux); with it, the sandbox's own, which the gofer keeps
//     apart from the host's (gofer/xattr.go).
//   - security.: anyone reads them; a change needs CAP_SYS_ADMIN, of
//     security.capability CAP_SETFCAP (the capability hooks: EPERM).
//     Stored as the gofer stores trusted. ones; nothing acts on them (a
//     file capability grants nothing at exec, there is no security
//     module), and a file capability's value is not checked.
//   - system. (POSIX ACLs) and any other prefix: EOPNOTSUPP.
//   - Only a regular file or a directory of the gofer holds any (the
//     host keeps them as user. attributes): a symbolic link's or a
//     device's trusted. or security. ones are ENODATA and EPERM, where
//     Linux keeps them.
//
// A listing needs no permission; it holds trusted. names for a caller
// with CAP_SYS_ADMIN only (Linux). A file
// the gofer does not serve (procfs, pipes, sockets, synthesized files)
// has no attributes: what Linux's checks above leave is EOPNOTSUPP, and
// its listing is empty.
//
// A set or remove carries the call's Origin, so that one re-sent after
// a server restore is answered from the gofer's reply cache (an
// XATTR_CREATE that ran is not EEXIST the second time); goferclient
// settles one re-sent across a gofer restart. The client does not keep
// them in its replay log: the gofer's file holds the change before the
// reply, and a restore needs nothing of it.

const (
	xattrNameMax = 255      // XATTR_NAME_MAX
	xattrSizeMax = 64 << 10 // XATTR_SIZE_MAX
	xattrListMax = 64 << 10 // XATTR_LIST_MAX
	xattrCreate  = 1        // XATTR_CREATE
	xattrReplace = 2        // XATTR_REPLACE

	xattrUserPrefix     = "user."
	xattrTrustedPrefix  = "trusted."
	xattrSecurityPrefix = "security."
	xattrSystemPrefix   = "system."
	// xattrSecurityCaps is a file's capabilities (XATTR_NAME_CAPS).
	xattrSecurityCaps = "security.capability"
	// xattrHiddenPrefix names the gofer's own attributes
	// (gofer/xattr.go hiddenXattrPrefix).
	xattrHiddenPrefix = "user.runsc-decoupled."
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

// xattrTarget is the file an xattr call names: d, and for an fd call f
// (a reference released by release).
type xattrTarget struct {
	d *vfs.Dentry
	f *fdesc.File
}

func (t xattrTarget) release() {
	if t.f != nil {
		t.f.DecRef()
	}
}

// xattrFile resolves the file an xattr call names (argument 0).
func xattrFile(c *kernel.Task) (xattrTarget, error) {
	kind := xattrKindOf(c.Sysno)
	if kind == xattrFD {
		f, err := FileArg(c, 0)
		if err != nil {
			return xattrTarget{}, err
		}
		return xattrTarget{d: vfs.DentryOf(f), f: f}, nil
	}
	p, err := PathArg(c, 0)
	if err != nil {
		return xattrTarget{}, err
	}
	d, f, err := LookupAt(c, linux.AT_FDCWD, p, kind == xattrPath, false)
	if f != nil {
		f.DecRef()
	}
	if err != nil {
		return xattrTarget{}, err
	}
	return xattrTarget{d: d}, nil
}

// handle returns the gofer handle of t's file, or false for a file the
// gofer does not serve.
func (t xattrTarget) handle(c *kernel.Task) (uint64, bool, error) {
	if t.f != nil {
		if h, ok := vfs.HandleOfFile(t.f); ok {
			return h, true, nil
		}
	}
	if t.d == nil || t.d.Kind != vfs.KindGofer {
		return 0, false, nil
	}
	h, err := c.HandleOf(t.d)
	return h, err == nil, err
}

// xattrName copies in and checks the attribute name (argument 1).
func xattrName(c *kernel.Task) (string, error) {
	name, err := c.Mem.CopyInString(c.Args[1], xattrNameMax+1)
	if err == unix.ENAMETOOLONG || (err == nil && (name == "" || len(name) > xattrNameMax)) {
		return "", unix.ERANGE
	}
	return name, err
}

// xattrPermission is Linux's xattr_permission, then the capability
// security hook (cap_inode_setxattr, cap_inode_removexattr) for a
// change, for a file of attributes st: nil when the call may go on to
// the namespace's handler.
func xattrPermission(c *kernel.Task, st *goferpb.Stat, name string, write bool) error {
	cr := c.Creds()
	a := vfs.AttrsOfStat(st)
	switch {
	case name == xattrSecurityCaps:
		if write && !cr.Capable(linux.CAP_SETFCAP) {
			return unix.EPERM
		}
		return nil
	case hasPrefix(name, xattrSecurityPrefix):
		if write && !cr.Capable(linux.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
		return nil
	case hasPrefix(name, xattrSystemPrefix):
		return nil
	case hasPrefix(name, xattrTrustedPrefix):
		if !cr.Capable(linux.CAP_SYS_ADMIN) {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		return nil
	case hasPrefix(name, xattrUserPrefix):
		ftype := st.GetMode() & unix.S_IFMT
		if ftype != unix.S_IFREG && ftype != unix.S_IFDIR {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		if ftype == unix.S_IFDIR && st.GetMode()&unix.S_ISVTX != 0 && write && !cr.OwnerOrCapable(a) {
			return unix.EPERM
		}
	}
	mask := uint32(auth.MayRead)
	if write {
		mask = auth.MayWrite
	}
	if !cr.Permits(a, mask) {
		return unix.EACCES
	}
	return nil
}

// xattrHandler returns the errno of a call on name that no handler
// serves (nil: a user., trusted. or security. name, which the gofer
// serves on a gofer file). get says the call reads.
func xattrHandler(name string, get bool) error {
	switch {
	case name == xattrUserPrefix || name == xattrTrustedPrefix || name == xattrSecurityPrefix:
		return unix.EINVAL
	case hasPrefix(name, xattrTrustedPrefix), hasPrefix(name, xattrSecurityPrefix):
		return nil
	case !hasPrefix(name, xattrUserPrefix):
		return unix.EOPNOTSUPP
	case hasPrefix(name, xattrHiddenPrefix):
		if get {
			return unix.ENODATA
		}
		return unix.EPERM
	}
	return nil
}

var hasPrefix = strings.HasPrefix

// xattrCall resolves the file of an xattr call naming attribute name and
// makes Linux's checks (a read-only mount for a change, the permission,
// the namespace): it returns the file, its gofer handle, or an error.
func xattrCall(c *kernel.Task, name string, write bool) (xattrTarget, uint64, error) {
	t, err := xattrFile(c)
	if err != nil {
		return xattrTarget{}, 0, err
	}
	if write && c.Kernel.VFS.ReadOnly(c.MountNS(), t.d) {
		t.release()
		return xattrTarget{}, 0, unix.EROFS
	}
	st, err := StatOf(c, t.d, t.f)
	if err != nil {
		t.release()
		return xattrTarget{}, 0, err
	}
	if err := xattrPermission(c, st, name, write); err != nil {
		t.release()
		return xattrTarget{}, 0, err
	}
	if err := xattrHandler(name, !write); err != nil {
		t.release()
		return xattrTarget{}, 0, err
	}
	h, gofer, err := t.handle(c)
	if err == nil && !gofer {
		err = unix.EOPNOTSUPP // a file system without extended attributes
	}
	if err != nil {
		t.release()
		return xattrTarget{}, 0, err
	}
	return t, h, nil
}

// Getxattr implements getxattr(2), lgetxattr(2) and fgetxattr(2).
func Getxattr(c *kernel.Task) (int64, error) {
	name, err := xattrName(c)
	if err != nil {
		return 0, err
	}
	t, h, err := xattrCall(c, name, false)
	if err != nil {
		return 0, err
	}
	defer t.release()
	size := c.Args[3]
	if size > xattrSizeMax {
		size = xattrSizeMax
	}
	value, n, err := c.Kernel.VFS.GoferGetXattr(h, name, uint32(size))
	if err != nil {
		if syserr.ErrnoOf(err) == unix.ERANGE && size >= xattrSizeMax {
			return 0, unix.E2BIG
		}
		return 0, err
	}
	if size == 0 {
		return int64(n), nil
	}
	if len(value) > 0 {
		if err := c.Mem.CopyOut(c.Args[2], value); err != nil {
			return 0, err
		}
	}
	return int64(len(value)), nil
}

// Setxattr implements setxattr(2), lsetxattr(2) and fsetxattr(2).
func Setxattr(c *kernel.Task) (int64, error) {
	if flags := c.Args[4]; flags&^(xattrCreate|xattrReplace) != 0 {
		return 0, unix.EINVAL
	}
	name, err := xattrName(c)
	if err != nil {
		return 0, err
	}
	size := c.Args[3]
	if size > xattrSizeMax {
		return 0, unix.E2BIG
	}
	var value []byte
	if size > 0 {
		if value, err = c.Mem.CopyIn(c.Args[2], int(size)); err != nil {
			return 0, err
		}
	}
	t, h, err := xattrCall(c, name, true)
	if err != nil {
		return 0, err
	}
	defer t.release()
	st, err := c.Kernel.VFS.GoferSetXattr(h, name, value, uint32(c.Args[4]), c.GoferOrigin(0))
	if err != nil {
		return 0, err
	}
	xattrChanged(c, t, st)
	return 0, nil
}

// Removexattr implements removexattr(2), lremovexattr(2) and
// fremovexattr(2).
func Removexattr(c *kernel.Task) (int64, error) {
	name, err := xattrName(c)
	if err != nil {
		return 0, err
	}
	t, h, err := xattrCall(c, name, true)
	if err != nil {
		return 0, err
	}
	defer t.release()
	st, err := c.Kernel.VFS.GoferRemoveXattr(h, name, c.GoferOrigin(0))
	if err != nil {
		return 0, err
	}
	xattrChanged(c, t, st)
	return 0, nil
}

// xattrChanged records the attributes a change left (its ctime) and
// tells inotify watchers (IN_ATTRIB, as Linux's fsnotify_xattr).
func xattrChanged(c *kernel.Task, t xattrTarget, st *goferpb.Stat) {
	c.Kernel.VFS.NoteAttrs(t.d, st)
	c.Kernel.InotifyEvent(t.d, linux.IN_ATTRIB)
}

// Listxattr implements listxattr(2), llistxattr(2) and flistxattr(2):
// the names of a gofer file's attributes (trusted. ones for a caller
// with CAP_SYS_ADMIN only), none of another.
func Listxattr(c *kernel.Task) (int64, error) {
	t, err := xattrFile(c)
	if err != nil {
		return 0, err
	}
	defer t.release()
	h, gofer, err := t.handle(c)
	if err != nil {
		return 0, err
	}
	var list []byte
	if gofer {
		names, err := c.Kernel.VFS.GoferListXattr(h)
		if err != nil {
			return 0, err
		}
		var b bytes.Buffer
		trusted := c.Creds().Capable(linux.CAP_SYS_ADMIN)
		for _, n := range names {
			if !trusted && bytes.HasPrefix(n, []byte(xattrTrustedPrefix)) {
				continue
			}
			b.Write(n)
			b.WriteByte(0)
		}
		list = b.Bytes()
	}
	size := c.Args[2]
	if size == 0 {
		return int64(len(list)), nil
	}
	if size > xattrListMax {
		size = xattrListMax
	}
	if uint64(len(list)) > size {
		if size >= xattrListMax {
			return 0, unix.E2BIG
		}
		return 0, unix.ERANGE
	}
	if len(list) > 0 {
		if err := c.Mem.CopyOut(c.Args[1], list); err != nil {
			return 0, err
		}
	}
	return int64(len(list)), nil
}
