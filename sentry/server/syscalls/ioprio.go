package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// IoprioSet implements ioprio_set(2) as Linux's block/ioprio.c: the
// priority's checks first (an unknown class or a level with
// IOPRIO_CLASS_NONE EINVAL, IOPRIO_CLASS_RT without CAP_SYS_ADMIN or
// CAP_SYS_NICE EPERM), then each thread named, in TID order, stopping at
// the first the caller may not change (its real user neither the
// caller's real nor effective user, without CAP_SYS_NICE: EPERM).
func IoprioSet(c *kernel.Task) (int64, error) {
	which, who, prio := ArgInt(c, 0), ArgInt(c, 1), ArgInt(c, 2)
	cr := c.ProcessCreds()
	if prio < 0 || prio > 0xffff || !kernel.ValidIOPrio(uint16(prio)) {
		return 0, unix.EINVAL
	}
	v := uint16(prio)
	if kernel.IOPrioClass(v) == linux.IOPRIO_CLASS_RT && !cr.Capable(linux.CAP_SYS_ADMIN) && !cr.Capable(linux.CAP_SYS_NICE) {
		return 0, unix.EPERM
	}
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	ts, err := namedThreads(k.IOPrioThreadsLocked(c.Thread, which, who))
	if err != nil {
		return 0, err
	}
	for _, th := range ts {
		if target := th.Proc.Creds.RUID; target != cr.EUID && target != cr.RUID && !cr.Capable(linux.CAP_SYS_NICE) {
			return 0, unix.EPERM
		}
		th.Sched.IOPrio = v
		k.Trk.Changed(th)
	}
	return 0, nil
}

// IoprioGet implements ioprio_get(2): the thread's I/O priority, or for a
// process group or a user the highest of their threads' (kernel.BestIOPrio:
// one with none counts as the default, even alone, as in Linux 6.18).
func IoprioGet(c *kernel.Task) (int64, error) {
	which, who := ArgInt(c, 0), ArgInt(c, 1)
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	ts, err := namedThreads(k.IOPrioThreadsLocked(c.Thread, which, who))
	if err != nil {
		return 0, err
	}
	if which == linux.IOPRIO_WHO_PROCESS {
		return int64(ts[0].Sched.IOPrio), nil
	}
	best := ts[0].Sched.IOPrio
	for _, th := range ts {
		best = kernel.BestIOPrio(best, th.Sched.IOPrio)
	}
	return int64(best), nil
}
