package client

import (
	"math/bits"
	"runtime"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// CPU affinity (sched_setaffinity, sched_getaffinity, getcpu): each
// thread's set of allowed CPUs, among the client machine's, kept here
// with the thread (the CPU side is the client's) and inherited at clone.
// The set is recorded, not applied: the host schedules the application's
// threads over its CPUs, and getcpu names the first CPU the set allows.

// cpuMask is a set of CPUs, 64 to a word, as Linux's cpumask.
type cpuMask []uint64

// onlineCPUs is the number of the client machine's CPUs (nr_cpu_ids).
func onlineCPUs() int { return runtime.NumCPU() }

// allCPUs is the set of every online CPU.
func allCPUs() cpuMask {
	n := onlineCPUs()
	m := make(cpuMask, (n+63)/64)
	for i := 0; i < n; i++ {
		m[i/64] |= 1 << (i % 64)
	}
	return m
}

// cpumaskSize is the bytes of a cpumask (Linux's cpumask_size()).
func cpumaskSize() int { return (onlineCPUs() + 63) / 64 * 8 }

// first is the lowest CPU in m (0 if none).
func (m cpuMask) first() int {
	for i, w := range m {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return 0
}

func (m cpuMask) bytes() []byte {
	b := make([]byte, len(m)*8)
	for i, w := range m {
		for j := 0; j < 8; j++ {
			b[i*8+j] = byte(w >> (8 * j))
		}
	}
	return b
}

// affinityMask is t's allowed CPUs (every online one unless set).
func (t *task) affinityMask() cpuMask {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.affinity == nil {
		return allCPUs()
	}
	return append(cpuMask(nil), t.affinity...)
}

// affinityTarget is the thread pid names for the affinity calls: the
// caller for 0, else a thread of the sandbox (ESRCH if none).
func (t *task) affinityTarget(pid int32) (*task, unix.Errno) {
	if pid == 0 {
		return t, 0
	}
	if o := t.otherThread(pid); o != nil {
		return o, 0
	}
	return nil, unix.ESRCH
}

// otherThread is thread tid of the sandbox, nil if there is none or its
// process was reaped: the server's deletion of the process's record
// comes with the reaping wait's reply, while the thread here may still
// be winding down.
func (t *task) otherThread(tid int32) *task {
	if tid <= 0 {
		return nil
	}
	o := t.c.lookupTask(tid)
	if o == nil {
		return nil
	}
	if _, ok := t.c.ids.get(o.proc.pid); !ok {
		if _, recorded := t.ownIDs(); recorded {
			return nil // reaped
		}
	}
	return o
}

// sysSchedGetaffinity implements sched_getaffinity(2): len must hold the
// machine's CPUs in whole longs (EINVAL); the result is the size
// written.
func sysSchedGetaffinity(t *task, a [6]uint64) (uint64, unix.Errno) {
	pid, size, addr := int32(a[0]), a[1], a[2]
	if size*8 < uint64(onlineCPUs()) || size&7 != 0 {
		return 0, unix.EINVAL
	}
	target, errno := t.affinityTarget(pid)
	if errno != 0 {
		return 0, errno
	}
	b := target.affinityMask().bytes()
	if err := t.copyOut(addr, b); err != 0 {
		return 0, err
	}
	return uint64(len(b)), 0
}

// sysSchedSetaffinity implements sched_setaffinity(2) in Linux's order:
// the mask (EFAULT; a shorter one is zero-extended, a longer one cut),
// the thread (ESRCH), the right to change it (EPERM: the caller runs as
// its real or effective user, or has CAP_SYS_NICE), then a set with no
// online CPU (EINVAL).
func sysSchedSetaffinity(t *task, a [6]uint64) (uint64, unix.Errno) {
	pid, size, addr := int32(a[0]), a[1], a[2]
	b := make([]byte, cpumaskSize())
	if n := min(size, uint64(len(b))); n > 0 {
		if err := t.copyIn(addr, b[:n]); err != 0 {
			return 0, err
		}
	}
	target, errno := t.affinityTarget(pid)
	if errno != 0 {
		return 0, errno
	}
	if target.proc != t.proc && !t.mayReschedule(target) {
		return 0, unix.EPERM
	}
	online := allCPUs()
	m := make(cpuMask, len(online))
	allowed := false
	for i := range m {
		for j := 0; j < 8; j++ {
			m[i] |= uint64(b[i*8+j]) << (8 * j)
		}
		m[i] &= online[i]
		allowed = allowed || m[i] != 0
	}
	if !allowed {
		return 0, unix.EINVAL
	}
	target.mu.Lock()
	target.affinity = m
	target.mu.Unlock()
	return 0, 0
}

// capSysNice is CAP_SYS_NICE's bit.
const capSysNice = 1 << linux.CAP_SYS_NICE

// mayReschedule says t may change target's scheduling (Linux's
// check_same_owner, or CAP_SYS_NICE), from the processes' last records
// (t's effective uid 0 stands for the capability when its record has
// not come).
func (t *task) mayReschedule(target *task) bool {
	me, them := t.creds(), target.creds()
	if me.euid == them.uid || me.euid == them.euid {
		return true
	}
	if ids, ok := t.c.ids.get(t.proc.pid); ok && ids.capsKnown {
		return ids.capEff&capSysNice != 0
	}
	return me.euid == 0
}
