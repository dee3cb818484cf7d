package client

import (
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/usermem"
)

// DefaultMaxProcesses is the default Config.MaxProcesses.
const DefaultMaxProcesses = 1024

// checkCloneLimits refuses (EAGAIN, as Linux's fork does) a fork, vfork,
// clone or clone3 that would exceed:
//
//   - the client's cap on processes (Config.MaxProcesses), whoever the
//     caller is: on systrap every application process is a stub process
//     on this host, so without it a fork bomb in the sandbox grows the
//     host's process table until the server's thread cap;
//   - the caller's RLIMIT_NPROC, counted as Linux does (the tasks of its
//     real uid), unless it runs as root.
//
// Concurrent forks may pass the check together and overshoot by at most
// the number of threads forking at once.
func (t *task) checkCloneLimits(sysno uintptr, args [6]uint64) unix.Errno {
	newProc := false
	switch sysno {
	case unix.SYS_FORK, unix.SYS_VFORK:
		newProc = true
	case unix.SYS_CLONE:
		newProc = args[0]&linux.CLONE_THREAD == 0
	case unix.SYS_CLONE3:
		// struct clone_args begins with the flags; a struct the
		// server cannot read fails there first (EFAULT), as Linux's
		// copy comes before its limits.
		var b [8]byte
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(args[0]), b[:], usermem.IOOpts{}); err != nil {
			return 0
		}
		newProc = hostarch.ByteOrder.Uint64(b[:])&linux.CLONE_THREAD == 0
	default:
		return 0
	}
	cr := t.creds()
	nproc := t.proc.limits.Get(limits.ProcessCount).Cur
	t.c.mu.Lock()
	procs := make(map[*process]struct{}, len(t.c.tasks))
	taskProcs := make([]*process, 0, len(t.c.tasks))
	for _, x := range t.c.tasks {
		procs[x.proc] = struct{}{}
		taskProcs = append(taskProcs, x.proc)
	}
	t.c.mu.Unlock()
	if max := t.c.maxProcesses(); newProc && len(procs) >= max {
		if _, seen := t.c.enosys.LoadOrStore("process cap", true); !seen {
			t.c.log.Warn("the application reached the process cap: fork fails with EAGAIN", "max_processes", max)
		}
		return unix.EAGAIN
	}
	if cr.uid == 0 || cr.euid == 0 || nproc == limits.Infinity {
		return 0
	}
	var mine uint64
	for _, p := range taskProcs {
		if t.c.credsOf(p).uid == cr.uid {
			mine++
		}
	}
	if mine >= nproc {
		return unix.EAGAIN
	}
	return 0
}

// maxProcesses is Config.MaxProcesses or its default.
func (c *client) maxProcesses() int {
	if c.cfg.MaxProcesses > 0 {
		return c.cfg.MaxProcesses
	}
	return DefaultMaxProcesses
}
