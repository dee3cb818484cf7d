package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The resource limits the kernel enforces on a call (the client owns
// them all and sends those the server needs: package syscalls'
// prlimit64).

// FileSizeCheck applies RLIMIT_FSIZE to a write of n bytes at off, or a
// truncate to off (n 0), of regular gofer file d: it returns how
// many bytes may be written, or EFBIG with SIGXFSZ sent to the process
// when the limit is at or before off (beyond it for a truncate), as
// Linux's generic_write_check_limits and inode_newsize_ok do.
func (c *Task) FileSizeCheck(d *vfs.Dentry, off int64, n int, truncate bool) (int, error) {
	if d == nil || d.Kind != vfs.KindGofer || !d.IsRegular() || off < 0 || (n == 0 && !truncate) {
		return n, nil
	}
	k, p := c.Kernel, c.Thread.Proc
	k.Mu.Lock()
	limited, limit := p.FsizeLimited, p.FsizeLimit
	k.Mu.Unlock()
	if !limited {
		return n, nil
	}
	over := uint64(off) >= limit
	if truncate {
		over = uint64(off) > limit
	}
	if !over {
		if !truncate && uint64(off)+uint64(n) > limit {
			n = int(limit - uint64(off))
		}
		return n, nil
	}
	var dd Deferred
	k.Mu.Lock()
	k.QueueAsyncSignalLocked(p, c.Thread, int(unix.SIGXFSZ), ksignal.SiginfoKill(int(unix.SIGXFSZ), ksignal.SIKernel, 0, 0), &dd)
	k.Mu.Unlock()
	dd.Run(k.Out)
	return 0, unix.EFBIG
}
