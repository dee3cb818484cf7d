package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// The scheduling calls: nice values (getpriority, setpriority) and
// policies (sched_{get,set}{param,scheduler,attr}, sched_rr_get_interval)
// of the threads, kept in kernel.SchedAttr with Linux's checks
// (kernel/sys.c's set_one_prio, kernel/sched/syscalls.c's
// __sched_setscheduler): raising a priority beyond the target process's
// RLIMIT_NICE or RLIMIT_RTPRIO (which the client sends) takes
// CAP_SYS_NICE.

// setparamPolicy is Linux's SETPARAM_POLICY: keep the thread's policy
// (sched_setparam, SCHED_FLAG_KEEP_POLICY).
const setparamPolicy = -1

// rrTimeslice is the round-robin quantum sched_rr_get_interval reports
// for SCHED_RR (Linux's default sched_rr_timeslice_ms).
const rrTimeslice = 100 * time.Millisecond

// Deadline parameters' bounds (Linux's sched_dl_period_min_us and
// _max_us defaults, and DL_SCALE's 1 << 10 ns of runtime).
const (
	dlPeriodMin  = 100 * uint64(time.Microsecond)
	dlPeriodMax  = (1 << 22) * uint64(time.Microsecond)
	dlRuntimeMin = 1 << 10
)

// Getpriority implements getpriority(2): 20 minus the lowest nice value
// among the threads which and who name (1..40, never negative).
func Getpriority(c *kernel.Task) (int64, error) {
	which, who := ArgInt(c, 0), ArgInt(c, 1)
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	ts, err := namedThreads(k.ThreadsMatchingLocked(c.Thread, which, who))
	if err != nil {
		return 0, err
	}
	best := int32(kernel.MaxNice)
	for _, th := range ts {
		best = min(best, th.Sched.Nice)
	}
	return int64(20 - best), nil
}

// Setpriority implements setpriority(2): the nice value (clamped to
// -20..19) of every thread which and who name. The caller must run as
// each one's real or effective user (else EPERM) and needs CAP_SYS_NICE
// to lower one's nice value (else EACCES); as Linux, the last thread's
// refusal is the answer, the others are still changed.
func Setpriority(c *kernel.Task) (int64, error) {
	which, who := ArgInt(c, 0), ArgInt(c, 1)
	nice := min(max(ArgInt(c, 2), kernel.MinNice), kernel.MaxNice)
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	ts, err := namedThreads(k.ThreadsMatchingLocked(c.Thread, which, who))
	if err != nil {
		return 0, err
	}
	cr := c.Thread.Proc.Creds
	err = unix.ESRCH // until one thread is changed
	for _, th := range ts {
		switch {
		case !kernel.MayReschedule(cr, th.Proc):
			err = unix.EPERM
		case nice < th.Sched.Nice && !niceAllowed(th.Proc, nice) && !cr.Capable(linux.CAP_SYS_NICE):
			err = unix.EACCES
		default:
			if err == unix.ESRCH {
				err = nil
			}
			th.Sched.Nice = nice
			k.Trk.Changed(th)
		}
	}
	return 0, err
}

// namedThreads is the threads a which and who name (ts, from
// ThreadsMatchingLocked or IOPrioThreadsLocked): EINVAL for an unknown
// which (!ok), ESRCH for none.
func namedThreads(ts []*kernel.Thread, ok bool) ([]*kernel.Thread, error) {
	if !ok {
		return nil, unix.EINVAL
	}
	if len(ts) == 0 {
		return nil, unix.ESRCH
	}
	return ts, nil
}

// schedTargetLocked is the thread the sched_* calls name by pid: the
// caller's for 0, else the thread with that TID (ESRCH if none).
func schedTargetLocked(c *kernel.Task, pid int32) (*kernel.Thread, error) {
	if pid == 0 {
		return c.Thread, nil
	}
	if th := c.Kernel.Threads[pid]; th != nil {
		return th, nil
	}
	return nil, unix.ESRCH
}

// schedTarget is schedTargetLocked's answer's attributes.
func schedTarget(c *kernel.Task, pid int32) (kernel.SchedAttr, error) {
	if pid < 0 {
		return kernel.SchedAttr{}, unix.EINVAL
	}
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	th, err := schedTargetLocked(c, pid)
	if err != nil {
		return kernel.SchedAttr{}, err
	}
	return th.Sched, nil
}

// SchedGetscheduler implements sched_getscheduler(2): the policy, with
// SCHED_RESET_ON_FORK when set.
func SchedGetscheduler(c *kernel.Task) (int64, error) {
	a, err := schedTarget(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	ret := int64(a.Policy)
	if a.ResetOnFork {
		ret |= linux.SCHED_RESET_ON_FORK
	}
	return ret, nil
}

// SchedGetparam implements sched_getparam(2): the real-time priority (0
// under a policy that has none).
func SchedGetparam(c *kernel.Task) (int64, error) {
	pid, addr := ArgInt(c, 0), c.Args[1]
	if addr == 0 {
		return 0, unix.EINVAL
	}
	a, err := schedTarget(c, pid)
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], a.RTPriority)
	return 0, c.Mem.CopyOut(addr, b[:])
}

// SchedSetscheduler implements sched_setscheduler(2) and
// sched_setparam(2) (which keeps the policy).
func SchedSetscheduler(c *kernel.Task) (int64, error) {
	pid, policy, addr := ArgInt(c, 0), int32(setparamPolicy), c.Args[1]
	if c.Sysno == unix.SYS_SCHED_SETSCHEDULER {
		policy, addr = ArgInt(c, 1), c.Args[2]
		if policy < 0 {
			return 0, unix.EINVAL
		}
	}
	if addr == 0 || pid < 0 {
		return 0, unix.EINVAL
	}
	b, err := c.Mem.CopyIn(addr, 4)
	if err != nil {
		return 0, err
	}
	req := schedRequest{policy: policy, priority: binary.LittleEndian.Uint32(b), keepNice: true}
	if policy != setparamPolicy && policy&linux.SCHED_RESET_ON_FORK != 0 {
		req.policy &^= linux.SCHED_RESET_ON_FORK
		req.flags |= linux.SCHED_FLAG_RESET_ON_FORK
	}
	return 0, setScheduler(c, pid, req)
}

// schedRequest is a change of scheduling attributes as Linux's
// __sched_setscheduler takes it (a struct sched_attr).
type schedRequest struct {
	// policy is setparamPolicy to keep the thread's policy and
	// SCHED_RESET_ON_FORK.
	policy   int32
	flags    uint64
	priority uint32
	nice     int32
	// keepNice says the nice value is the thread's own
	// (sched_setscheduler and sched_setparam do not change it).
	keepNice bool
	// keepParams says the priority, nice value and deadline parameters
	// are the thread's own (SCHED_FLAG_KEEP_PARAMS).
	keepParams                bool
	runtime, deadline, period uint64
}

// validPolicy says Linux knows policy.
func validPolicy(policy uint32) bool {
	switch policy {
	case linux.SCHED_NORMAL, linux.SCHED_FIFO, linux.SCHED_RR, linux.SCHED_BATCH, linux.SCHED_IDLE, linux.SCHED_DEADLINE:
		return true
	}
	return false
}

// setScheduler applies req to thread pid after Linux's checks, in its
// order: the thread (ESRCH), the policy, flags and priority (EINVAL),
// then the caller's right (EPERM).
func setScheduler(c *kernel.Task, pid int32, req schedRequest) error {
	k := c.Kernel
	k.Mu.Lock()
	defer k.Mu.Unlock()
	th, err := schedTargetLocked(c, pid)
	if err != nil {
		return err
	}
	old := th.Sched
	if req.keepParams {
		// Linux's get_params: only the fields of the thread's own
		// class are the thread's (classParams).
		switch {
		case old.Policy == linux.SCHED_DEADLINE:
			req.runtime, req.deadline, req.period = old.Runtime, old.Deadline, old.Period
		case old.IsRT():
			req.priority = old.RTPriority
		default:
			req.nice = old.Nice
		}
	}
	if req.keepNice {
		req.nice = old.Nice
	}
	next := kernel.SchedAttr{Nice: old.Nice, Policy: old.Policy, ResetOnFork: old.ResetOnFork, IOPrio: old.IOPrio}
	if req.policy != setparamPolicy {
		next.Policy = uint32(req.policy)
		next.ResetOnFork = req.flags&linux.SCHED_FLAG_RESET_ON_FORK != 0
		if !validPolicy(next.Policy) {
			return unix.EINVAL
		}
	}
	const flagsAll = linux.SCHED_FLAG_RESET_ON_FORK | linux.SCHED_FLAG_RECLAIM | linux.SCHED_FLAG_DL_OVERRUN |
		linux.SCHED_FLAG_KEEP_POLICY | linux.SCHED_FLAG_KEEP_PARAMS | linux.SCHED_FLAG_UTIL_CLAMP_MIN | linux.SCHED_FLAG_UTIL_CLAMP_MAX
	if req.flags&^flagsAll != 0 || req.priority > kernel.MaxRTPriority {
		return unix.EINVAL
	}
	if next.IsRT() != (req.priority != 0) {
		return unix.EINVAL
	}
	if next.Policy == linux.SCHED_DEADLINE {
		if !validDeadline(req.runtime, req.deadline, req.period) {
			return unix.EINVAL
		}
		next.Runtime, next.Deadline, next.Period = req.runtime, req.deadline, req.period
		if next.Period == 0 {
			next.Period = next.Deadline
		}
	}
	switch {
	case next.IsRT():
		next.RTPriority = req.priority
	case next.IsFair():
		next.Nice = req.nice
	}
	cr := c.Thread.Proc.Creds
	if !cr.Capable(linux.CAP_SYS_NICE) && needsSysNice(cr, th, old, next) {
		return unix.EPERM
	}
	th.Sched = next
	k.Trk.Changed(th)
	return nil
}

// niceAllowed says p's RLIMIT_NICE allows its threads a nice value of
// nice (Linux's is_nice_reduction: the limit is 20 - nice at least).
func niceAllowed(p *kernel.Process, nice int32) bool {
	return uint64(20-nice) <= p.NiceLimit
}

// needsSysNice is Linux's user_check_sched_setscheduler: changing old
// to next on th takes CAP_SYS_NICE.
func needsSysNice(cr auth.Creds, th *kernel.Thread, old, next kernel.SchedAttr) bool {
	p := th.Proc
	switch {
	case next.IsFair() && next.Nice < old.Nice && !niceAllowed(p, next.Nice):
		return true // a lower nice value than RLIMIT_NICE allows
	case next.IsRT() && next.Policy != old.Policy && p.RTPrioLimit == 0:
		return true // a real-time policy RLIMIT_RTPRIO does not allow
	case next.IsRT() && next.RTPriority > old.RTPriority && uint64(next.RTPriority) > p.RTPrioLimit:
		return true // a real-time priority above RLIMIT_RTPRIO
	case next.Policy == linux.SCHED_DEADLINE:
		return true
	case old.Policy == linux.SCHED_IDLE && next.Policy != linux.SCHED_IDLE && !niceAllowed(p, old.Nice):
		return true // leaving SCHED_IDLE
	case !kernel.SameOwner(cr, th.Proc):
		return true // another user's thread
	case old.ResetOnFork && !next.ResetOnFork:
		return true
	}
	return false
}

// validDeadline is Linux's __checkparam_dl: runtime <= deadline <=
// period (period 0: the deadline), within the sysctl bounds.
func validDeadline(runtime, deadline, period uint64) bool {
	if deadline == 0 || runtime < dlRuntimeMin || deadline&(1<<63) != 0 || period&(1<<63) != 0 {
		return false
	}
	if period == 0 {
		period = deadline
	}
	return period >= deadline && deadline >= runtime && period >= dlPeriodMin && period <= dlPeriodMax
}

// SchedSetattr implements sched_setattr(2).
func SchedSetattr(c *kernel.Task) (int64, error) {
	pid, addr, flags := ArgInt(c, 0), c.Args[1], uint32(c.Args[2])
	if addr == 0 || pid < 0 || flags != 0 {
		return 0, unix.EINVAL
	}
	attr, err := copyInSchedAttr(c, addr)
	if err != nil {
		return 0, err
	}
	if int32(attr.SchedPolicy) < 0 {
		return 0, unix.EINVAL
	}
	req := schedRequest{policy: int32(attr.SchedPolicy), flags: attr.SchedFlags, priority: attr.SchedPriority,
		nice:    min(max(attr.SchedNice, kernel.MinNice), kernel.MaxNice),
		runtime: attr.SchedRuntime, deadline: attr.SchedDeadline, period: attr.SchedPeriod,
		keepParams: attr.SchedFlags&linux.SCHED_FLAG_KEEP_PARAMS != 0}
	if attr.SchedFlags&linux.SCHED_FLAG_KEEP_POLICY != 0 {
		req.policy = setparamPolicy
	}
	return 0, setScheduler(c, pid, req)
}

// copyInSchedAttr reads the struct sched_attr at addr as Linux's
// sched_copy_attr: a size of 0 is the first version's; a size out of
// bounds, or bytes past the known struct that are not zero, fail E2BIG
// with the known size written back.
func copyInSchedAttr(c *kernel.Task, addr uint64) (linux.SchedAttr, error) {
	var attr linux.SchedAttr
	b, err := c.Mem.CopyIn(addr, 4)
	if err != nil {
		return attr, err
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 {
		size = linux.SCHED_ATTR_SIZE_VER0
	}
	tooBig := func() (linux.SchedAttr, error) {
		var sz [4]byte
		binary.LittleEndian.PutUint32(sz[:], linux.SCHED_ATTR_SIZE_LATEST)
		if err := c.Mem.CopyOut(addr, sz[:]); err != nil {
			return attr, err
		}
		return attr, syserr.KeepOutputs(unix.E2BIG)
	}
	if size < linux.SCHED_ATTR_SIZE_VER0 || size > hostarch.PageSize {
		return tooBig()
	}
	raw, err := c.Mem.CopyIn(addr, int(size))
	if err != nil {
		return attr, err
	}
	for _, x := range raw[min(int(size), linux.SCHED_ATTR_SIZE_LATEST):] {
		if x != 0 {
			return tooBig()
		}
	}
	buf := make([]byte, attr.SizeBytes())
	copy(buf, raw)
	attr.UnmarshalBytes(buf)
	if attr.SchedFlags&(linux.SCHED_FLAG_UTIL_CLAMP_MIN|linux.SCHED_FLAG_UTIL_CLAMP_MAX) != 0 && size < linux.SCHED_ATTR_SIZE_VER1 {
		return attr, unix.EINVAL
	}
	return attr, nil
}

// SchedGetattr implements sched_getattr(2): the attributes in the
// caller's struct size (at most the known one, which size then says).
func SchedGetattr(c *kernel.Task) (int64, error) {
	pid, addr, size, flags := ArgInt(c, 0), c.Args[1], uint32(c.Args[2]), uint32(c.Args[3])
	if addr == 0 || pid < 0 || size > hostarch.PageSize || size < linux.SCHED_ATTR_SIZE_VER0 || flags != 0 {
		return 0, unix.EINVAL
	}
	a, err := schedTarget(c, pid)
	if err != nil {
		return 0, err
	}
	size = min(size, linux.SCHED_ATTR_SIZE_LATEST)
	attr := classParams(a)
	attr.Size, attr.SchedPolicy = size, a.Policy
	if a.ResetOnFork {
		attr.SchedFlags = linux.SCHED_FLAG_RESET_ON_FORK
	}
	return 0, c.Mem.CopyOut(addr, marshalBytes(&attr)[:size])
}

// classParams is Linux's get_params: the parameters of a's own class in a
// struct sched_attr (the deadline ones, the real-time priority, or the
// nice value), the others 0.
func classParams(a kernel.SchedAttr) linux.SchedAttr {
	var p linux.SchedAttr
	switch {
	case a.Policy == linux.SCHED_DEADLINE:
		p.SchedRuntime, p.SchedDeadline, p.SchedPeriod = a.Runtime, a.Deadline, a.Period
	case a.IsRT():
		p.SchedPriority = a.RTPriority
	default:
		p.SchedNice = a.Nice
	}
	return p
}

// SchedRrGetInterval implements sched_rr_get_interval(2): the quantum
// of SCHED_RR, 0 for the other policies (Linux reports the fair class's
// slice only while the CPU has other work; SCHED_FIFO and deadline
// threads have none).
func SchedRrGetInterval(c *kernel.Task) (int64, error) {
	a, err := schedTarget(c, ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	var slice time.Duration
	if a.Policy == linux.SCHED_RR {
		slice = rrTimeslice
	}
	ts := linux.NsecToTimespec(int64(slice))
	return 0, c.Mem.CopyOut(c.Args[1], marshalBytes(&ts))
}
