package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// sysPrlimit64 keeps the resource limits the server enforces: RLIMIT_NOFILE
// of the calling process's fd table, and RLIMIT_FSIZE of the process. The
// client owns every limit and answers getrlimit/setrlimit/prlimit64
// itself; it sends prlimit64(0, resource, new, old) here after a change
// of one of these two (and so may a hostile client: the server never
// grants more than fdtable.NrOpen).
func sysPrlimit64(c *syscallCtx) (int64, error) {
	pid, resource, newAddr, oldAddr := int32(c.Args[0]), c.Args[1], c.Args[2], c.Args[3]
	if pid != 0 && pid != c.PID() {
		return 0, unix.EPERM
	}
	if resource == unix.RLIMIT_FSIZE {
		return prlimitFsize(c, newAddr, oldAddr)
	}
	if resource == unix.RLIMIT_CORE {
		return prlimitCore(c, newAddr)
	}
	if resource != unix.RLIMIT_NOFILE {
		return 0, unix.EINVAL
	}
	tab := c.Thread.Proc.FDs
	if tab == nil {
		return 0, unix.ESRCH
	}
	if oldAddr != 0 {
		var b [16]byte
		cur := uint64(tab.Limit())
		binary.LittleEndian.PutUint64(b[:], cur)
		binary.LittleEndian.PutUint64(b[8:], fdtable.NrOpen)
		if err := c.Mem.CopyOut(oldAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if newAddr == 0 {
		return 0, nil
	}
	cur, err := copyInRlimit(c, newAddr)
	if err != nil {
		return 0, err
	}
	if cur == 0 {
		// Table limit 0 means "unset" (fdtable.DefaultNofile); no fd at all is
		// the same as one below fd 0.
		cur = 1
	}
	tab.SetLimit(int32(min(cur, fdtable.NrOpen)))
	c.Kernel.Trk.Changed(c.Thread.Proc)
	return 0, nil
}

// rlimInfinity is RLIM_INFINITY.
const rlimInfinity = ^uint64(0)

// prlimitFsize gets and sets the process's RLIMIT_FSIZE soft limit (the
// maximum is the client's business).
func prlimitFsize(c *syscallCtx, newAddr, oldAddr uint64) (int64, error) {
	k, p := c.Kernel, c.Thread.Proc
	if oldAddr != 0 {
		k.Mu.Lock()
		cur := rlimInfinity
		if p.FsizeLimited {
			cur = p.FsizeLimit
		}
		k.Mu.Unlock()
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], cur)
		binary.LittleEndian.PutUint64(b[8:], rlimInfinity)
		if err := c.Mem.CopyOut(oldAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if newAddr == 0 {
		return 0, nil
	}
	b, err := c.Mem.CopyIn(newAddr, 16)
	if err != nil {
		return 0, err
	}
	cur, max := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if cur > max {
		return 0, unix.EINVAL
	}
	k.Mu.Lock()
	p.FsizeLimited, p.FsizeLimit = cur != rlimInfinity, cur
	k.Trk.Changed(p)
	k.Mu.Unlock()
	return 0, nil
}

// fileSizeCheck applies RLIMIT_FSIZE to a write of n bytes at off, or a
// truncate to off (n 0), of regular gofer file f (or d): it returns how
// many bytes may be written, or EFBIG with SIGXFSZ sent to the process
// when the limit is at or before off (beyond it for a truncate), as
// Linux's generic_write_check_limits and inode_newsize_ok do.
func fileSizeCheck(c *syscallCtx, d *dentry, off int64, n int, truncate bool) (int, error) {
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
	var dd deferred
	k.Mu.Lock()
	k.QueueAsyncSignalLocked(p, c.Thread, int(unix.SIGXFSZ), ksignal.SiginfoKill(int(unix.SIGXFSZ), ksignal.SIKernel, 0, 0), &dd)
	k.Mu.Unlock()
	dd.Run(k.Out)
	return 0, unix.EFBIG
}

// copyInRlimit reads the struct rlimit64 at addr and returns its soft
// limit: EINVAL if it is above the hard one, as prlimit64's check (the
// hard limit is the client's business).
func copyInRlimit(c *syscallCtx, addr uint64) (uint64, error) {
	b, err := c.Mem.CopyIn(addr, 16)
	if err != nil {
		return 0, err
	}
	cur, max := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if cur > max {
		return 0, unix.EINVAL
	}
	return cur, nil
}
