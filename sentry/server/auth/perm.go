package auth

import (
	"slices"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Access mask bits (Linux's MAY_EXEC, MAY_WRITE, MAY_READ; access(2)'s
// X_OK, W_OK, R_OK).
const (
	MayExec  = sysabi.MayExec
	MayWrite = sysabi.MayWrite
	MayRead  = sysabi.MayRead
)

// FileAttrs are the attributes a permission check reads.
type FileAttrs struct {
	Mode uint32 // S_IFMT and permission bits
	UID  uint32
	GID  uint32
}

// IsDir reports whether a is a directory's.
func (a FileAttrs) IsDir() bool { return a.Mode&unix.S_IFMT == unix.S_IFDIR }

// InGroup reports whether gid is the process's fsgid or one of its
// supplementary groups (Linux's in_group_p).
func (cr Creds) InGroup(gid uint32) bool {
	return gid == cr.FSGID || slices.Contains(cr.Groups, gid)
}

// OwnerOrCapable reports whether the process owns a file with attributes
// a or holds CAP_FOWNER (Linux's inode_owner_or_capable).
func (cr Creds) OwnerOrCapable(a FileAttrs) bool {
	return cr.FSUID == a.UID || cr.Capable(linux.CAP_FOWNER)
}

// Permits reports whether the process may access a file with attributes
// a for mask (Linux's generic_permission, sysabi.Permits: the client
// answers with the same check).
func (cr Creds) Permits(a FileAttrs, mask uint32) bool {
	return sysabi.Permits(sysabi.FileAttrs(a), sysabi.Creds{FSUID: cr.FSUID, InGroup: cr.InGroup(a.GID), Caps: cr.Caps.Effective}, mask)
}

// MayDelete reports whether the process may remove or rename away a
// child with attributes child from a directory with attributes dir, as
// far as the sticky bit goes (Linux's check_sticky): in a sticky
// directory only the file's owner, the directory's owner or a holder of
// CAP_FOWNER may.
func (cr Creds) MayDelete(dir, child FileAttrs) bool {
	if dir.Mode&unix.S_ISVTX == 0 {
		return true
	}
	return cr.FSUID == child.UID || cr.FSUID == dir.UID || cr.Capable(linux.CAP_FOWNER)
}

// ChmodMode returns the mode a chmod to mode actually sets on a file with
// attributes a: without CAP_FSETID, a caller outside the file's group
// cannot set the setgid bit (Linux's setattr_prepare clears it).
func (cr Creds) ChmodMode(a FileAttrs, mode uint32) uint32 {
	if !cr.InGroup(a.GID) && !cr.Capable(linux.CAP_FSETID) {
		mode &^= unix.S_ISGID
	}
	return mode
}

// MayChown reports whether the process may change a file with attributes
// a to owner uid and group gid (-1 leaves one unchanged): without
// CAP_CHOWN only the owner may, keeping the owner, and only to a group
// it is in (Linux's chown_ok and chgrp_ok).
func (cr Creds) MayChown(a FileAttrs, uid, gid int64) bool {
	if cr.Capable(linux.CAP_CHOWN) {
		return true
	}
	if uid != -1 && (uint32(uid) != a.UID || cr.FSUID != a.UID) {
		return false
	}
	if gid != -1 && (cr.FSUID != a.UID || (uint32(gid) != a.GID && !cr.InGroup(uint32(gid)))) {
		return false
	}
	return true
}

// KillPrivMode returns the mode a write or truncate by the process leaves
// on a file with attributes a, and whether it differs: without
// CAP_FSETID, the set-user-ID bit of a regular file goes, and the
// set-group-ID bit with it when group execute is set or the writer is
// not in the file's group (otherwise it marks mandatory locking), as
// Linux's file_remove_privs (setattr_should_drop_suidgid) does.
func (cr Creds) KillPrivMode(a FileAttrs) (uint32, bool) {
	if cr.Capable(linux.CAP_FSETID) || a.Mode&unix.S_IFMT != unix.S_IFREG {
		return a.Mode, false
	}
	nm := a.Mode &^ (unix.S_ISUID | cr.dropSetGID(a))
	return nm, nm != a.Mode
}

// ChownMode returns the mode a chown by the process leaves on a file
// with attributes a, and whether it differs: a file that is not a
// directory loses set-user-ID whoever changes it, and set-group-ID when
// group execute is set or the caller is neither in the file's group nor
// holds CAP_FSETID (Linux's chown_common with setattr_should_drop_sgid).
func (cr Creds) ChownMode(a FileAttrs) (uint32, bool) {
	if a.IsDir() {
		return a.Mode, false
	}
	nm := a.Mode &^ (unix.S_ISUID | cr.dropSetGID(a))
	return nm, nm != a.Mode
}

// dropSetGID returns S_ISGID when a change by the process to a file with
// attributes a must clear it (Linux's setattr_should_drop_sgid), else 0.
func (cr Creds) dropSetGID(a FileAttrs) uint32 {
	switch {
	case a.Mode&unix.S_ISGID == 0:
		return 0
	case a.Mode&unix.S_IXGRP != 0, !cr.InGroup(a.GID) && !cr.Capable(linux.CAP_FSETID):
		return unix.S_ISGID
	}
	return 0
}

// NewFileOwner returns the owner, group and mode of a file the process
// creates in a directory with attributes dir with requested mode (umask
// already applied): the owner is the fsuid; the group is the fsgid, or
// the directory's group when the directory is setgid, in which case a new
// directory is setgid too; a setgid bit asked for a file whose group the
// creator is not in is dropped (Linux's inode_init_owner).
func (cr Creds) NewFileOwner(dir FileAttrs, mode uint32) (uid, gid, m uint32) {
	uid, gid, m = cr.FSUID, cr.FSGID, mode
	if dir.Mode&unix.S_ISGID == 0 {
		return uid, gid, m
	}
	gid = dir.GID
	switch {
	case m&unix.S_IFMT == unix.S_IFDIR:
		m |= unix.S_ISGID
	case m&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP && !cr.InGroup(gid) && !cr.Capable(linux.CAP_FSETID):
		m &^= unix.S_ISGID
	}
	return uid, gid, m
}

// MayHardlink reports whether the process may make a new link to a file
// with attributes a. The sandbox behaves as Linux with
// fs.protected_hardlinks=1 (most distributions' default): the owner or a
// holder of CAP_FOWNER may link anything; others only a regular file
// that is not set-user-ID nor executable set-group-ID and that they may
// read and write (Linux's may_linkat).
func (cr Creds) MayHardlink(a FileAttrs) bool {
	if cr.OwnerOrCapable(a) {
		return true
	}
	return a.Mode&unix.S_IFMT == unix.S_IFREG && a.Mode&unix.S_ISUID == 0 &&
		a.Mode&(unix.S_ISGID|unix.S_IXGRP) != unix.S_ISGID|unix.S_IXGRP && cr.Permits(a, MayRead|MayWrite)
}
