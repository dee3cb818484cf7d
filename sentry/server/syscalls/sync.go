package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// fsync, fdatasync, sync_file_range, sync, syncfs, fadvise64 and
// readahead: a gofer file's durability (package kernel's durable.go) and
// the hints about its reads.

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
	if err := syncFile(c, f, h, c.Sysno == unix.SYS_FDATASYNC); err != nil {
		return 0, err
	}
	// A failed Rewrite's write to the file, held: EIO once for the
	// description, as Linux's writeback error.
	return 0, c.Kernel.FailedWriteErr(f, false)
}

// syncFile makes gofer file f's data (and, unless dataOnly, its
// attributes) durable through its handle h.
func syncFile(c *kernel.Task, f *fdesc.File, h uint64, dataOnly bool) error {
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
	err := c.Kernel.VFS.Fsync(h, dataOnly)
	for i, g := range files {
		if len(seqs[i]) > 0 {
			c.Kernel.Dur.EndSync(g, seqs[i], err == nil)
			c.Kernel.AnnounceDurable(g)
		}
	}
	return err
}

// SyncFileRange is sync_file_range(2), Linux's checks in its order (the
// fd, then the flags and the range, then the file's type). A write-out
// of the range or a wait for one (SYNC_FILE_RANGE_WRITE,
// SYNC_FILE_RANGE_WAIT_AFTER) of a gofer file makes the file's data
// durable as fdatasync does: the gofer syncs whole files, so the range's
// write-out is the file's, and a wait has nothing left to wait for. A
// file of no write-back (a tmpfs file, a directory) has nothing to sync.
// One that waits (SYNC_FILE_RANGE_WAIT_BEFORE or _AFTER) reports a failed
// Rewrite's write to the file as fdatasync does (Linux's
// file_fdatawait_range checks the description's writeback error).
func SyncFileRange(c *kernel.Task) (int64, error) {
	f, err := FileArg(c, 0)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if errno := sysabi.SyncFileRangeErrno(int64(c.Args[1]), int64(c.Args[2]), uint32(c.Args[3])); errno != 0 {
		return 0, errno
	}
	d := vfs.DentryOf(f)
	if d == nil || !d.IsRegular() && !d.IsDir() {
		return 0, unix.ESPIPE // pipes, sockets, devices: no pages to write
	}
	if !d.IsRegular() {
		return 0, nil
	}
	h, ok := vfs.HandleOfFile(f)
	if !ok || d.Kind != vfs.KindGofer {
		return 0, nil
	}
	if uint32(c.Args[3])&(linux.SYNC_FILE_RANGE_WRITE|linux.SYNC_FILE_RANGE_WAIT_AFTER) != 0 {
		if err := syncFile(c, f, h, true); err != nil {
			return 0, err
		}
	}
	if sysabi.SyncFileRangeReportsWriteError(c.Args) {
		return 0, c.Kernel.FailedWriteErr(f, false)
	}
	return 0, nil
}

// Sync is sync(2) and syncfs(2).
func Sync(c *kernel.Task) (int64, error) {
	var fsOf *fdesc.File // syncfs's file
	if c.Sysno == unix.SYS_SYNCFS {
		f, err := c.GetFile(ArgInt(c, 0))
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		fsOf = f
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
	if fsOf != nil {
		// A failed Rewrite's write to a file of its file system, held:
		// EIO once for the description, as Linux's superblock
		// writeback error.
		return 0, c.Kernel.FailedWriteErr(fsOf, true)
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

// Readahead is readahead(2): a hint, answered as Linux answers it
// (EBADF for an fd not open for reading, EINVAL for a file that is not
// regular, which has no pages to read ahead, or a count past the largest
// offset) and otherwise taken without reading: the gofer reads a file's
// data when it is read.
func Readahead(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if d := vfs.DentryOf(f); d == nil || !d.IsRegular() || int64(c.Args[2]) < 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}
