package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Discretionary access control against dentries: every permission
// decision the server makes for a file goes through this file, which
// applies package auth's rules (the calling process's credentials,
// Process.Creds, against the file's attributes as this client last saw
// them).

// ---- checks against dentries ----

// MayAccess checks that the caller may access d for mask.
func (c *Task) MayAccess(d *vfs.Dentry, mask uint32) error {
	if mask&auth.MayWrite != 0 && c.Kernel.VFS.ReadOnly(c.MountNS(), d) && !d.IsSymlink() {
		return unix.EROFS
	}
	cr := c.Creds()
	if !cr.Permits(c.Kernel.VFS.AttrsOf(d), mask) {
		return unix.EACCES
	}
	return nil
}

// MayWriteDir checks that the caller may add or remove names in dir.
func (c *Task) MayWriteDir(dir *vfs.Dentry) error {
	return c.MayAccess(dir, auth.MayWrite|auth.MayExec)
}

// MayRemove checks that the caller may remove (or rename away, or
// replace) child from dir: write and search on dir, and the sticky bit.
func (c *Task) MayRemove(dir, child *vfs.Dentry) error {
	if err := c.MayWriteDir(dir); err != nil {
		return err
	}
	cr := c.Creds()
	v := c.Kernel.VFS
	if !cr.MayDelete(v.AttrsOf(dir), v.AttrsOf(child)) {
		return unix.EPERM
	}
	return nil
}

// MayRename checks that the caller may move src, a child of odir, to
// nname in ndir (replacing what is there, or with RENAME_EXCHANGE
// swapping with it): removal rights in both directories, and write
// permission on a directory that changes parent (its ".." entry
// changes), as Linux's vfs_rename.
func (c *Task) MayRename(odir, src, ndir *vfs.Dentry, nname string, flags uint32) error {
	if err := c.MayRemove(odir, src); err != nil {
		return err
	}
	dst, err := c.Kernel.VFS.LookupChild(c, ndir, nname)
	if err != nil {
		dst = nil
	}
	if dst != nil {
		err = c.MayRemove(ndir, dst)
	} else {
		err = c.MayWriteDir(ndir)
	}
	if err != nil {
		return err
	}
	if odir == ndir {
		return nil
	}
	if src.IsDir() {
		if err := c.MayAccess(src, auth.MayWrite); err != nil {
			return err
		}
	}
	if flags&unix.RENAME_EXCHANGE != 0 && dst != nil && dst.IsDir() {
		return c.MayAccess(dst, auth.MayWrite)
	}
	return nil
}
