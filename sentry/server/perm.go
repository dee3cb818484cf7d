package server

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

// callerCreds returns the caller's credentials, or root's for work the
// server does on its own behalf (restore: c without a thread).
func callerCreds(c *syscallCtx) auth.Creds {
	if c == nil || c.Thread == nil {
		return auth.Creds{}
	}
	if c.AccessCreds != nil {
		return *c.AccessCreds
	}
	return creds(c)
}

// mayAccessDentry checks that the caller may access d for mask.
func mayAccessDentry(c *syscallCtx, d *dentry, mask uint32) error {
	if mask&auth.MayWrite != 0 && c.Kernel.VFS.ReadOnly(d) && !d.IsSymlink() {
		return unix.EROFS
	}
	cr := callerCreds(c)
	if !cr.Permits(c.Kernel.VFS.AttrsOf(d), mask) {
		return unix.EACCES
	}
	return nil
}

// maySearch checks search permission on directory d during a path walk.
func (c *syscallCtx) MaySearch(d *dentry) error {
	if c != nil && d.Kind != vfs.KindGofer {
		c.NotLeasable = true
	}
	pathSearched(c, d)
	if c == nil || c.Thread == nil {
		return nil
	}
	return mayAccessDentry(c, d, auth.MayExec)
}

// mayWriteDir checks that the caller may add or remove names in dir.
func mayWriteDir(c *syscallCtx, dir *dentry) error {
	return mayAccessDentry(c, dir, auth.MayWrite|auth.MayExec)
}

// mayRemove checks that the caller may remove (or rename away, or
// replace) child from dir: write and search on dir, and the sticky bit.
func mayRemove(c *syscallCtx, dir, child *dentry) error {
	if err := mayWriteDir(c, dir); err != nil {
		return err
	}
	cr := callerCreds(c)
	v := c.Kernel.VFS
	if !cr.MayDelete(v.AttrsOf(dir), v.AttrsOf(child)) {
		return unix.EPERM
	}
	return nil
}

// mayRename checks that the caller may move src, a child of odir, to
// nname in ndir (replacing what is there, or with RENAME_EXCHANGE
// swapping with it): removal rights in both directories, and write
// permission on a directory that changes parent (its ".." entry
// changes), as Linux's vfs_rename.
func mayRename(c *syscallCtx, odir, src, ndir *dentry, nname string, flags uint32) error {
	if err := mayRemove(c, odir, src); err != nil {
		return err
	}
	dst, err := c.Kernel.VFS.LookupChild(c, ndir, nname)
	if err != nil {
		dst = nil
	}
	if dst != nil {
		err = mayRemove(c, ndir, dst)
	} else {
		err = mayWriteDir(c, ndir)
	}
	if err != nil {
		return err
	}
	if odir == ndir {
		return nil
	}
	if src.IsDir() {
		if err := mayAccessDentry(c, src, auth.MayWrite); err != nil {
			return err
		}
	}
	if flags&renameExchange != 0 && dst != nil && dst.IsDir() {
		return mayAccessDentry(c, dst, auth.MayWrite)
	}
	return nil
}
