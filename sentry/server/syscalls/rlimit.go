package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// Prlimit64 implements prlimit64(2) for the resource limits the server
// enforces: RLIMIT_NOFILE of the calling process's fd table, RLIMIT_FSIZE
// of the process and whether it dumps core (RLIMIT_CORE). The client owns
// every limit and answers getrlimit/setrlimit/prlimit64
// itself; it sends prlimit64(0, resource, new, old) here on a change of
// one of these (and so may a hostile client: the server never grants
// more than fs/nr_open). RLIMIT_NOFILE's comes before the client takes
// it: a hard limit above fs/nr_open, which the server holds, is EPERM
// (Linux's do_prlimit, even for root).
func Prlimit64(c *kernel.Task) (int64, error) {
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
	if resource == unix.RLIMIT_NICE || resource == unix.RLIMIT_RTPRIO {
		return prlimitSched(c, resource, newAddr)
	}
	if resource != unix.RLIMIT_NOFILE {
		return 0, unix.EINVAL
	}
	tab := c.Thread.Proc.FDs
	if tab == nil {
		return 0, unix.ESRCH
	}
	if oldAddr != 0 {
		if err := copyOutRlimit(c, oldAddr, uint64(tab.Limit()), uint64(c.Kernel.Sysctl.NrOpen.Get())); err != nil {
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
	nrOpen := uint64(c.Kernel.Sysctl.NrOpen.Get())
	if max > nrOpen {
		return 0, unix.EPERM
	}
	if cur == 0 {
		// Table limit 0 means "unset" (fdtable.DefaultNofile); no fd at all is
		// the same as one below fd 0.
		cur = 1
	}
	tab.SetLimit(int32(cur))
	c.Kernel.Trk.Changed(c.Thread.Proc)
	return 0, nil
}

// prlimitFsize gets and sets the process's RLIMIT_FSIZE soft limit (the
// maximum is the client's business).
func prlimitFsize(c *kernel.Task, newAddr, oldAddr uint64) (int64, error) {
	k, p := c.Kernel, c.Thread.Proc
	if oldAddr != 0 {
		k.Mu.Lock()
		cur := linux.RLimInfinity
		if p.FsizeLimited {
			cur = p.FsizeLimit
		}
		k.Mu.Unlock()
		if err := copyOutRlimit(c, oldAddr, cur, linux.RLimInfinity); err != nil {
			return 0, err
		}
	}
	return setSoftLimit(c, newAddr, func(p *kernel.Process, cur uint64) {
		p.FsizeLimited, p.FsizeLimit = cur != linux.RLimInfinity, cur
	})
}

// setSoftLimit reads the struct rlimit64 at newAddr (nothing when 0) and
// stores its soft limit in the calling process's record with set, under
// the kernel's lock, for the limits the client owns but sends on each
// change because the server's calls check them.
func setSoftLimit(c *kernel.Task, newAddr uint64, set func(p *kernel.Process, cur uint64)) (int64, error) {
	if newAddr == 0 {
		return 0, nil
	}
	cur, err := copyInRlimit(c, newAddr)
	if err != nil {
		return 0, err
	}
	k, p := c.Kernel, c.Thread.Proc
	k.Mu.Lock()
	set(p, cur)
	k.Trk.Changed(p)
	k.Mu.Unlock()
	return 0, nil
}

// copyInRlimit reads the struct rlimit64 at addr and returns its soft
// limit: EINVAL if it is above the hard one, as prlimit64's check (the
// hard limit is the client's business).
func copyInRlimit(c *kernel.Task, addr uint64) (uint64, error) {
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

// copyOutRlimit writes the struct rlimit64 {cur, max} at addr.
func copyOutRlimit(c *kernel.Task, addr, cur, max uint64) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], cur)
	binary.LittleEndian.PutUint64(b[8:], max)
	return c.Mem.CopyOut(addr, b[:])
}

// nofile is the caller's RLIMIT_NOFILE (fdtable.DefaultNofile without an fd
// table).
func nofile(c *kernel.Task) int {
	tab, err := c.FDTable()
	if err != nil {
		return fdtable.DefaultNofile
	}
	return tab.Limit()
}

// Core dumps: a process killed by a signal whose default action dumps
// core reports WCOREDUMP in its wait status (CLD_DUMPED in SIGCHLD and
// waitid) when its RLIMIT_CORE soft limit is not 0, as Linux does when
// it writes the core. No core file is written (nor by gVisor): the
// application's memory is the client's, and the status is what
// programs and tests look at (kernel.Process.KilledStatusLocked).

// prlimitCore sets whether the process dumps core: the client sends its
// RLIMIT_CORE after each change (it owns the limit and answers
// getrlimit itself).
func prlimitCore(c *kernel.Task, newAddr uint64) (int64, error) {
	return setSoftLimit(c, newAddr, func(p *kernel.Process, cur uint64) { p.CoreDumps = cur != 0 })
}

// prlimitSched sets the process's RLIMIT_NICE or RLIMIT_RTPRIO soft
// limit, which the scheduling calls check (sched.go); the client sends it
// after each change.
func prlimitSched(c *kernel.Task, resource, newAddr uint64) (int64, error) {
	return setSoftLimit(c, newAddr, func(p *kernel.Process, cur uint64) {
		if resource == unix.RLIMIT_NICE {
			p.NiceLimit = cur
		} else {
			p.RTPrioLimit = cur
		}
	})
}
