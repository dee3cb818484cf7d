package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
)

// Discretionary access control against dentries: every permission
// decision the server makes for a file goes through this file, which
// applies package auth's rules (the calling process's credentials,
// Process.Creds, against the file's attributes as this client last saw
// them).

// ---- checks against dentries ----

// mayWriteDir checks that the caller may add or remove names in dir.
func mayWriteDir(c *syscallCtx, dir *dentry) error {
	return c.MayAccess(dir, auth.MayWrite|auth.MayExec)
}

// mayRemove checks that the caller may remove (or rename away, or
// replace) child from dir: write and search on dir, and the sticky bit.
func mayRemove(c *syscallCtx, dir, child *dentry) error {
	if err := mayWriteDir(c, dir); err != nil {
		return err
	}
	cr := c.Creds()
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
		if err := c.MayAccess(src, auth.MayWrite); err != nil {
			return err
		}
	}
	if flags&renameExchange != 0 && dst != nil && dst.IsDir() {
		return c.MayAccess(dst, auth.MayWrite)
	}
	return nil
}
