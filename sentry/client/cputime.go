package client

import (
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// CPU time of the application's threads, measured by the client (the
// application runs in the platform's stub threads, whose host CPU time
// the client cannot read per thread): user time is the time a thread
// spends inside platform.Context.Switch, system time the time the client
// spends on its system calls, less the time they wait (for the server, a
// futex, a sleep). As in gVisor, a thread the host preempts while it is in
// the application is charged for the time.

// cpuEpoch is the origin of cpuNow.
var cpuEpoch = time.Now()

// cpuNow is a monotonic reading in nanoseconds.
func cpuNow() int64 { return int64(time.Since(cpuEpoch)) }

// enterApp and leaveApp bracket a Switch.
func (t *task) enterApp() { t.appSince.Store(cpuNow()) }

func (t *task) leaveApp() {
	if since := t.appSince.Swap(0); since != 0 {
		t.userNS.Add(cpuNow() - since)
	}
}

// chargeSyscall charges the time since start, less what the call waited,
// as system time.
func (t *task) chargeSyscall(start int64) {
	if d := cpuNow() - start - t.waitedNS; d > 0 {
		t.sysNS.Add(d)
	}
	t.waitedNS = 0
}

// waited records time the current system call spent waiting.
func (t *task) waited(start int64) { t.waitedNS += cpuNow() - start }

// cpuTimes returns t's user and system time so far (user time includes a
// Switch in progress).
func (t *task) cpuTimes() (user, sys time.Duration) {
	u := t.userNS.Load()
	if since := t.appSince.Load(); since != 0 {
		u += max(cpuNow()-since, 0)
	}
	return time.Duration(u), time.Duration(t.sysNS.Load())
}

// cpuTimes returns the process's user and system time: its live threads'
// and those of the threads that exited.
func (p *process) cpuTimes() (user, sys time.Duration) {
	user, sys = time.Duration(p.exitedUserNS.Load()), time.Duration(p.exitedSysNS.Load())
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.threads {
		u, s := t.cpuTimes()
		user += u
		sys += s
	}
	return user, sys
}

// retireCPU adds an exiting thread's times to its process.
func (t *task) retireCPU() {
	t.leaveApp()
	u, s := t.cpuTimes()
	t.proc.exitedUserNS.Add(int64(u))
	t.proc.exitedSysNS.Add(int64(s))
}

// cpuClockNow reads a CPU-time clock: CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID, or a clock made by clock_getcpuclockid or
// pthread_getcpuclockid for a process or thread of this client. ok is
// false for any other clock.
func (t *task) cpuClockNow(clk int32) (d time.Duration, ok bool) {
	var u, s time.Duration
	switch {
	case clk == linux.CLOCK_PROCESS_CPUTIME_ID:
		u, s = t.proc.cpuTimes()
	case clk == linux.CLOCK_THREAD_CPUTIME_ID:
		u, s = t.cpuTimes()
	case clk < 0:
		// Linux's encoding: ^id << 3 | perThread(4) | which (PROF 0,
		// VIRT 1, SCHED 2); id 0 is the caller.
		id, which, perThread := ^(clk >> 3), clk&3, clk&4 != 0
		if which == 3 {
			return 0, false
		}
		target := t
		if id != 0 {
			if target = t.c.lookupTask(id); target == nil {
				return 0, false
			}
		}
		if perThread {
			u, s = target.cpuTimes()
		} else {
			if id != 0 && target.proc.pid != id {
				return 0, false
			}
			u, s = target.proc.cpuTimes()
		}
		if which == 1 { // CPUCLOCK_VIRT: user time only
			s = 0
		}
	default:
		return 0, false
	}
	return u + s, true
}

// sysGetrusage reports the CPU times the client measured (RUSAGE_SELF,
// RUSAGE_THREAD); the other fields, and RUSAGE_CHILDREN, are zero.
func sysGetrusage(t *task, a [6]uint64) (uint64, unix.Errno) {
	var u, s time.Duration
	switch int32(a[0]) {
	case unix.RUSAGE_SELF:
		u, s = t.proc.cpuTimes()
	case unix.RUSAGE_THREAD:
		u, s = t.cpuTimes()
	case unix.RUSAGE_CHILDREN:
	default:
		return 0, unix.EINVAL
	}
	b := make([]byte, 144)
	putTimeval := func(off int, d time.Duration) {
		hostarch.ByteOrder.PutUint64(b[off:], uint64(d/time.Second))
		hostarch.ByteOrder.PutUint64(b[off+8:], uint64(d%time.Second/time.Microsecond))
	}
	putTimeval(0, u)
	putTimeval(16, s)
	return 0, t.copyOut(a[1], b)
}
