package sysabi

import "gvisor.dev/gvisor/pkg/abi/linux"

// Access mask bits (Linux's MAY_EXEC, MAY_WRITE, MAY_READ; access(2)'s
// X_OK, W_OK, R_OK).
const (
	MayExec  = 1
	MayWrite = 2
	MayRead  = 4
)

// FileAttrs are the attributes a permission check reads.
type FileAttrs struct {
	Mode uint32 // S_IFMT and permission bits
	UID  uint32
	GID  uint32
}

// Creds are what of a caller's credentials a permission check of one
// file reads: its fs uid, whether the file's group is its fs gid or one
// of its supplementary groups, and its effective capabilities.
type Creds struct {
	FSUID   uint32
	InGroup bool
	Caps    uint64
}

// Permits reports whether cr may access a file with attributes a for
// mask (Linux's generic_permission): the owner's, the group's or the
// others' bits decide, in that order; CAP_DAC_OVERRIDE then grants
// everything except executing a file with no x bit at all, and
// CAP_DAC_READ_SEARCH reading any file and reading and searching any
// directory. The remote sentry decides with it, and the client answers
// from a kept file's attributes with it what the server would.
func Permits(a FileAttrs, cr Creds, mask uint32) bool {
	var bits uint32
	switch {
	case a.UID == cr.FSUID:
		bits = a.Mode >> 6
	case cr.InGroup:
		bits = a.Mode >> 3
	default:
		bits = a.Mode
	}
	if bits&7&mask == mask {
		return true
	}
	dir := a.Mode&linux.S_IFMT == linux.S_IFDIR
	if cr.Caps&(1<<linux.CAP_DAC_OVERRIDE) != 0 && (mask&MayExec == 0 || dir || a.Mode&0o111 != 0) {
		return true
	}
	return cr.Caps&(1<<linux.CAP_DAC_READ_SEARCH) != 0 && (mask == MayRead || (dir && mask&^(MayRead|MayExec) == 0))
}
