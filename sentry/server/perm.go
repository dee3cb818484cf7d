package server

import (
	"slices"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Discretionary access control: every permission decision the server
// makes for a file goes through this file, against the calling process's
// credentials (process.creds).
//
// Each check uses the capability Linux uses for it (CAP_CHOWN,
// CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID) from the
// process's effective set (caps.go), which follows the uid and fsuid
// changes as Linux's cap_task_fix_setuid makes it. gVisor's
// vfs.GenericCheckPermissions implements the same rules over
// auth.Credentials, but it would bring in pkg/sentry/vfs (two hundred
// packages) and a user namespace for a few comparisons.

// Access mask bits (Linux's MAY_EXEC, MAY_WRITE, MAY_READ; access(2)'s
// X_OK, W_OK, R_OK).
const (
	permExec  = 1
	permWrite = 2
	permRead  = 4
)

// fileAttrs are the attributes a permission check reads.
type fileAttrs struct {
	mode uint32 // S_IFMT and permission bits
	uid  uint32
	gid  uint32
}

func attrsOfStat(st *goferpb.Stat) fileAttrs {
	return fileAttrs{mode: st.Mode, uid: st.Uid, gid: st.Gid}
}

func (a fileAttrs) isDir() bool { return a.mode&unix.S_IFMT == unix.S_IFDIR }

// inGroup reports whether gid is the process's fsgid or one of its
// supplementary groups (Linux's in_group_p).
func (cr creds) inGroup(gid uint32) bool {
	return gid == cr.fsgid || slices.Contains(cr.groups, gid)
}

// ownerOrCapable reports whether the process owns a file with attributes
// a or holds CAP_FOWNER (Linux's inode_owner_or_capable).
func (cr creds) ownerOrCapable(a fileAttrs) bool {
	return cr.fsuid == a.uid || cr.capable(linux.CAP_FOWNER)
}

// permits reports whether the process may access a file with attributes
// a for mask (Linux's generic_permission): the owner's, the group's or
// the others' bits decide, in that order; CAP_DAC_OVERRIDE then grants
// everything except executing a file with no x bit at all.
func (cr creds) permits(a fileAttrs, mask uint32) bool {
	var bits uint32
	switch {
	case a.uid == cr.fsuid:
		bits = a.mode >> 6
	case cr.inGroup(a.gid):
		bits = a.mode >> 3
	default:
		bits = a.mode
	}
	if bits&7&mask == mask {
		return true
	}
	if cr.capable(linux.CAP_DAC_OVERRIDE) && (mask&permExec == 0 || a.isDir() || a.mode&0111 != 0) {
		return true
	}
	// CAP_DAC_READ_SEARCH grants reading any file and reading and
	// searching any directory.
	return cr.capable(linux.CAP_DAC_READ_SEARCH) && (mask == permRead || (a.isDir() && mask&^(permRead|permExec) == 0))
}

// mayDelete reports whether the process may remove or rename away a
// child with attributes child from a directory with attributes dir, as
// far as the sticky bit goes (Linux's check_sticky): in a sticky
// directory only the file's owner, the directory's owner or a holder of
// CAP_FOWNER may.
func (cr creds) mayDelete(dir, child fileAttrs) bool {
	if dir.mode&unix.S_ISVTX == 0 {
		return true
	}
	return cr.fsuid == child.uid || cr.fsuid == dir.uid || cr.capable(linux.CAP_FOWNER)
}

// chmodMode returns the mode a chmod to mode actually sets on a file with
// attributes a: without CAP_FSETID, a caller outside the file's group
// cannot set the setgid bit (Linux's setattr_prepare clears it).
func (cr creds) chmodMode(a fileAttrs, mode uint32) uint32 {
	if !cr.inGroup(a.gid) && !cr.capable(linux.CAP_FSETID) {
		mode &^= unix.S_ISGID
	}
	return mode
}

// mayChown reports whether the process may change a file with attributes
// a to owner uid and group gid (-1 leaves one unchanged): without
// CAP_CHOWN only the owner may, keeping the owner, and only to a group
// it is in (Linux's chown_ok and chgrp_ok).
func (cr creds) mayChown(a fileAttrs, uid, gid int64) bool {
	if cr.capable(linux.CAP_CHOWN) {
		return true
	}
	if uid != -1 && (uint32(uid) != a.uid || cr.fsuid != a.uid) {
		return false
	}
	if gid != -1 && (cr.fsuid != a.uid || (uint32(gid) != a.gid && !cr.inGroup(uint32(gid)))) {
		return false
	}
	return true
}

// killPrivMode returns the mode a write or truncate by the process leaves
// on a file with attributes a, and whether it differs: without
// CAP_FSETID, the set-user-ID bit of a regular file goes, and the
// set-group-ID bit with it when group execute is set or the writer is
// not in the file's group (otherwise it marks mandatory locking), as
// Linux's file_remove_privs (setattr_should_drop_suidgid) does.
func (cr creds) killPrivMode(a fileAttrs) (uint32, bool) {
	if cr.capable(linux.CAP_FSETID) || a.mode&unix.S_IFMT != unix.S_IFREG {
		return a.mode, false
	}
	nm := a.mode &^ (unix.S_ISUID | cr.dropSetGID(a))
	return nm, nm != a.mode
}

// chownMode returns the mode a chown by the process leaves on a file
// with attributes a, and whether it differs: a file that is not a
// directory loses set-user-ID whoever changes it, and set-group-ID when
// group execute is set or the caller is neither in the file's group nor
// holds CAP_FSETID (Linux's chown_common with setattr_should_drop_sgid).
func (cr creds) chownMode(a fileAttrs) (uint32, bool) {
	if a.isDir() {
		return a.mode, false
	}
	nm := a.mode &^ (unix.S_ISUID | cr.dropSetGID(a))
	return nm, nm != a.mode
}

// dropSetGID returns S_ISGID when a change by the process to a file with
// attributes a must clear it (Linux's setattr_should_drop_sgid), else 0.
func (cr creds) dropSetGID(a fileAttrs) uint32 {
	switch {
	case a.mode&unix.S_ISGID == 0:
		return 0
	case a.mode&unix.S_IXGRP != 0, !cr.inGroup(a.gid) && !cr.capable(linux.CAP_FSETID):
		return unix.S_ISGID
	}
	return 0
}

// newFileOwner returns the owner, group and mode of a file the process
// creates in a directory with attributes dir with requested mode (umask
// already applied): the owner is the fsuid; the group is the fsgid, or
// the directory's group when the directory is setgid, in which case a new
// directory is setgid too; a setgid bit asked for a file whose group the
// creator is not in is dropped (Linux's inode_init_owner).
func (cr creds) newFileOwner(dir fileAttrs, mode uint32) (uid, gid, m uint32) {
	uid, gid, m = cr.fsuid, cr.fsgid, mode
	if dir.mode&unix.S_ISGID == 0 {
		return uid, gid, m
	}
	gid = dir.gid
	switch {
	case m&unix.S_IFMT == unix.S_IFDIR:
		m |= unix.S_ISGID
	case m&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP && !cr.inGroup(gid) && !cr.capable(linux.CAP_FSETID):
		m &^= unix.S_ISGID
	}
	return uid, gid, m
}

// ---- checks against dentries ----

// attrsOf returns d's attributes as this client last saw them: gofer
// dentries keep the mode, owner and group of their last stat, walk or
// change made through this server (another sentry sharing the gofer may
// have changed them since: the same coherence as the dentry cache);
// synthesized files are root's, except that a /proc/<pid> directory and
// what is in it belong to the process's euid and egid, as on Linux (a
// non-root process may search its own /proc/self/fd).
func (v *vfs) attrsOf(d *dentry) fileAttrs {
	switch d.kind {
	case dkGofer:
	case dkProcPid, dkProcCwd, dkProcExe, dkProcFdDir, dkProcFd, dkProcFile:
		a := fileAttrs{mode: d.mode}
		v.k.mu.Lock()
		if p := v.k.procs[d.pid]; p != nil {
			a.uid, a.gid = p.creds.euid, p.creds.egid
		}
		v.k.mu.Unlock()
		return a
	default:
		return fileAttrs{mode: d.mode}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return fileAttrs{mode: d.mode&unix.S_IFMT | d.perm, uid: d.uid, gid: d.gid}
}

// noteAttrs records attributes of d just read from the gofer.
func (v *vfs) noteAttrs(d *dentry, st *goferpb.Stat) {
	if d == nil || st == nil || d.kind != dkGofer || st.Ino != d.ino {
		return
	}
	v.mu.Lock()
	d.perm, d.uid, d.gid = st.Mode&07777, st.Uid, st.Gid
	v.mu.Unlock()
}

// callerCreds returns the caller's credentials, or root's for work the
// server does on its own behalf (restore: c without a thread).
func (c *syscallCtx) callerCreds() creds {
	if c == nil || c.t == nil {
		return creds{}
	}
	return c.creds()
}

// mayAccessDentry checks that the caller may access d for mask.
func (c *syscallCtx) mayAccessDentry(d *dentry, mask uint32) error {
	if mask&permWrite != 0 && c.k.vfs.readOnly(d) && !d.isSymlink() {
		return unix.EROFS
	}
	cr := c.callerCreds()
	if !cr.permits(c.k.vfs.attrsOf(d), mask) {
		return unix.EACCES
	}
	return nil
}

// maySearch checks search permission on directory d during a path walk.
func (c *syscallCtx) maySearch(d *dentry) error {
	if c == nil || c.t == nil {
		return nil
	}
	return c.mayAccessDentry(d, permExec)
}

// mayWriteDir checks that the caller may add or remove names in dir.
func (c *syscallCtx) mayWriteDir(dir *dentry) error {
	return c.mayAccessDentry(dir, permWrite|permExec)
}

// mayRemove checks that the caller may remove (or rename away, or
// replace) child from dir: write and search on dir, and the sticky bit.
func (c *syscallCtx) mayRemove(dir, child *dentry) error {
	if err := c.mayWriteDir(dir); err != nil {
		return err
	}
	cr := c.callerCreds()
	v := c.k.vfs
	if !cr.mayDelete(v.attrsOf(dir), v.attrsOf(child)) {
		return unix.EPERM
	}
	return nil
}

// mayRename checks that the caller may move src, a child of odir, to
// nname in ndir (replacing what is there, or with RENAME_EXCHANGE
// swapping with it): removal rights in both directories, and write
// permission on a directory that changes parent (its ".." entry
// changes), as Linux's vfs_rename.
func (c *syscallCtx) mayRename(odir, src, ndir *dentry, nname string, flags uint32) error {
	if err := c.mayRemove(odir, src); err != nil {
		return err
	}
	dst, err := c.k.vfs.lookupChild(c, ndir, nname)
	if err != nil {
		dst = nil
	}
	if dst != nil {
		err = c.mayRemove(ndir, dst)
	} else {
		err = c.mayWriteDir(ndir)
	}
	if err != nil {
		return err
	}
	if odir == ndir {
		return nil
	}
	if src.isDir() {
		if err := c.mayAccessDentry(src, permWrite); err != nil {
			return err
		}
	}
	if flags&renameExchange != 0 && dst != nil && dst.isDir() {
		return c.mayAccessDentry(dst, permWrite)
	}
	return nil
}

// mayHardlink reports whether the process may make a new link to a file
// with attributes a. The sandbox behaves as Linux with
// fs.protected_hardlinks=1 (most distributions' default): the owner or a
// holder of CAP_FOWNER may link anything; others only a regular file
// that is not set-user-ID nor executable set-group-ID and that they may
// read and write (Linux's may_linkat).
func (cr creds) mayHardlink(a fileAttrs) bool {
	if cr.ownerOrCapable(a) {
		return true
	}
	return a.mode&unix.S_IFMT == unix.S_IFREG && a.mode&unix.S_ISUID == 0 &&
		a.mode&(unix.S_ISGID|unix.S_IXGRP) != unix.S_ISGID|unix.S_IXGRP && cr.permits(a, permRead|permWrite)
}
