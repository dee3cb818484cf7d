package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// fsync, fdatasync, sync, syncfs and fadvise64: a gofer file's
// durability (package kernel's durable.go).

// Fsync is fsync(2) and fdatasync(2).
func Fsync(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	h, ok := vfs.HandleOfFile(f)
	if !ok {
		return 0, unix.EINVAL
	}
	// Writes this client made through f become durable: tell the client
	// (before this call's reply) so that it drops them from its log. So do
	// the write-backs of its shared mappings of the same file (PageWrite
	// goes through the mapping's own description): the fsync of one
	// handle syncs the inode.
	files := []*fdesc.File{f}
	if vfs.DentryOf(f) != nil && vfs.DentryOf(f).Kind == vfs.KindGofer {
		for _, wf := range c.Kernel.Maps.WritablesOf(vfs.DentryOf(f).Ino()) {
			defer wf.DecRef()
			if wf != f {
				files = append(files, wf)
			}
		}
	}
	seqs := make([][]uint64, len(files))
	for i, g := range files {
		seqs[i] = c.Kernel.Dur.StartSync(g)
	}
	err = c.Kernel.VFS.Fsync(h, c.Sysno == unix.SYS_FDATASYNC)
	for i, g := range files {
		if len(seqs[i]) > 0 {
			c.Kernel.Dur.EndSync(g, seqs[i], err == nil)
			c.Kernel.AnnounceDurable(g)
		}
	}
	return 0, err
}

// Sync is sync(2) and syncfs(2).
func Sync(c *kernel.Task) (int64, error) {
	if c.Sysno == unix.SYS_SYNCFS {
		f, err := c.GetFile(ArgInt(c, 0))
		if err != nil {
			return 0, err
		}
		f.DecRef()
	}
	// Every file this client wrote becomes durable (and the client is
	// told so before the reply).
	c.Kernel.FlushAll()
	v := c.Kernel.VFS
	h, err := c.HandleOf(v.Root)
	if err != nil {
		return 0, err
	}
	// sync and syncfs cannot fail on Linux (syncfs reports writeback
	// errors); a gofer error is logged, not returned.
	if err := v.Fsync(h, false); err != nil {
		c.Kernel.Log.Debug("sync", "err", err)
	}
	return 0, nil
}

// Fadvise is fadvise64(2).
func Fadvise(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	if f.Impl.Stream() {
		return 0, unix.ESPIPE
	}
	if errno := sysabi.FadviseErrno(int64(c.Args[2]), c.Args[3]); errno != 0 {
		return 0, errno
	}
	return 0, nil
}
