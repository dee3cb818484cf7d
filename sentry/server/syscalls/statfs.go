package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Statfs is statfs(2) and fstatfs(2).
func Statfs(c *kernel.Task) (int64, error) {
	var d *vfs.Dentry
	var f *fdesc.File
	var err error
	if c.Sysno == unix.SYS_FSTATFS {
		f, err = c.GetFile(ArgInt(c, 0))
	} else {
		d, f, err = AttrTarget(c, linux.AT_FDCWD, 0, true, false)
	}
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.DecRef()
		d = vfs.DentryOf(f)
	}
	sf := linux.Statfs{Type: linux.TMPFS_MAGIC, BlockSize: 4096, NameLength: 255, FragmentSize: 4096}
	switch {
	case d == nil:
		sf.Type = 0x50495045 // PIPEFS_MAGIC
	case d.Kind == vfs.KindGofer:
		h, err := c.HandleOf(d)
		if f != nil {
			if fh, ok := vfs.HandleOfFile(f); ok {
				h, err = fh, nil
			}
		}
		if err != nil {
			return 0, err
		}
		ctx, cancel := c.Kernel.VFS.RPCCtx()
		defer cancel()
		r, err := c.Kernel.Gofer.StatFS(ctx, &goferpb.StatFSRequest{Handle: h})
		if err := syserr.FromGofer("statfs", r.GetErrno(), err); err != nil {
			return 0, err
		}
		sf = linux.Statfs{Type: r.Type, BlockSize: int64(r.BlockSize), Blocks: r.Blocks, BlocksFree: r.BlocksFree,
			BlocksAvailable: r.BlocksAvailable, Files: r.Files, FilesFree: r.FilesFree, NameLength: r.NameLength,
			FragmentSize: int64(r.BlockSize)}
		if m, grafted := c.Kernel.VFS.MountInfoOf(c.MountNS(), d); grafted {
			tmpfsStatfs(&sf, &m)
		}
	case d.Kind >= vfs.KindProcDir:
		sf.Type = linux.PROC_SUPER_MAGIC
	case d.Kind == vfs.KindMqueueDir:
		sf.Type = linux.MQUEUE_MAGIC
		sf.Flags = linux.ST_VALID | linux.ST_RELATIME
	}
	b := make([]byte, sf.SizeBytes())
	sf.MarshalBytes(b)
	return 0, c.Mem.CopyOut(c.Args[1], b)
}

// tmpfsStatfs makes sf, the statfs of the gofer directory holding
// grafted mount m's files, what Linux reports for m: a tmpfs's magic, its
// size= as the total (the free space is the smaller of that and the
// gofer's), and the mount's flags.
func tmpfsStatfs(sf *linux.Statfs, m *mount.Mount) {
	if m.FSType == "mqueue" {
		sf.Type = linux.MQUEUE_MAGIC
	}
	if m.FSType == "tmpfs" {
		sf.Type = linux.TMPFS_MAGIC
		if bs := uint64(max(sf.BlockSize, 1)); m.Tmpfs.HasSize && m.Tmpfs.Size > 0 {
			sf.Blocks = m.Tmpfs.Size / bs
			sf.BlocksFree = min(sf.BlocksFree, sf.Blocks)
			sf.BlocksAvailable = min(sf.BlocksAvailable, sf.Blocks)
		}
	}
	sf.Flags = linux.ST_VALID
	for _, f := range [][2]uint64{{unix.MS_RDONLY, linux.ST_RDONLY}, {unix.MS_NOSUID, linux.ST_NOSUID}, {unix.MS_NODEV, linux.ST_NODEV},
		{unix.MS_NOEXEC, linux.ST_NOEXEC}, {unix.MS_NOATIME, linux.ST_NOATIME}, {unix.MS_NODIRATIME, linux.ST_NODIRATIME},
		{unix.MS_RELATIME, linux.ST_RELATIME}} {
		if m.Flags&f[0] != 0 {
			sf.Flags |= f[1]
		}
	}
}
