package client

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

// CPU time of the application's threads, measured by the client: user
// time is the host CPU time the stub process running the thread's address
// space spent (stubCPU), charged to the thread that was in the
// application (inside platform.Context.Switch) at the time, never more
// than the wall time it spent there; system time is the time the client
// spends on its system calls, less the time they wait (for the server, a
// futex, a sleep). Wall time alone would charge a thread for the time the
// host made its stub wait for a CPU, or a systrap stub thread busy with
// another thread of the address space; it is the fallback when the
// platform has no stub process (kvm).

// cpuEpoch is the origin of cpuNow.
var cpuEpoch = time.Now()

// cpuNow is a monotonic reading in nanoseconds.
func cpuNow() int64 { return int64(time.Since(cpuEpoch)) }

// stubCPU is the host CPU time of the stub process that runs one address
// space, shared by the tasks in that address space. Each task's wall time
// in the application is pending until it is charged from the stub's time
// not yet charged to any task (the pool): right when it leaves the
// application if other tasks share the stub (the CPU the stub used
// since is then likely its own), otherwise when its time is read, which
// saves reading the host clock (~0.35 µs) on every switch.
type stubCPU struct {
	// read returns the stub's host CPU time (any origin); ok false when
	// it cannot be read (the stub is gone). Set at creation.
	read func() (ns int64, ok bool)
	// users counts the tasks whose address space this is (setStub).
	users atomic.Int32

	// mu is a leaf lock (after process.mu).
	mu sync.Mutex
	// charged is the stub's CPU time charged to tasks so far, as a
	// reading of read. Protected by mu.
	charged int64
}

// newStubCPU returns the CPU time source of address space as, nil when
// the platform has no stub process whose time can be read.
func newStubCPU(as gvplatform.AddressSpace) *stubCPU {
	c := &stubClocks{lookup: func() ([]int, bool) { return platform.StubPIDs(as) }, last: make(map[int]int64)}
	return newStubCPUFrom(c.read)
}

// stubClocks reads the CPU time of an address space's stub processes
// together (systrap runs one in several processes, platform.StubPIDs):
// the sum of what each has run since it was first seen, so that it only
// grows when a process comes or goes. Its fields are used only by read,
// which runs under the stubCPU's mu (or before the stubCPU is shared).
type stubClocks struct {
	// lookup finds the address space's stub processes
	// (platform.StubPIDs).
	lookup func() ([]int, bool)
	// pids are the stub processes platform.StubPIDs found last, looked
	// up again every stubPIDsReads reads or when a clock cannot be read:
	// a Go program's threads leave the application thousands of times a
	// second, each time reading the stubs' clocks, and the lookup (the
	// platform's fields by reflection, under its lock) cost as much as
	// the clocks (a cold go build: 0.13 s of do's 5.3 s of CPU). A stub
	// process made since is found late, and then counts whole (started).
	pids []int
	// sinceLookup counts the reads since pids were looked up.
	sinceLookup int
	// last is each process's CPU time at the previous read; total the
	// time they ran since the first.
	last  map[int]int64
	total int64
	// started is set by the first read, whose processes' earlier time
	// (a pooled stub ran other address spaces) is nobody's; a process
	// seen later was made for this address space, all its time counts.
	started bool
}

func (c *stubClocks) read() (int64, bool) {
	if c.pids == nil || c.sinceLookup >= stubPIDsReads {
		pids, ok := c.lookup()
		if !ok {
			return 0, false
		}
		c.pids, c.sinceLookup = pids, 0
	}
	c.sinceLookup++
	read := false
	for _, pid := range c.pids {
		ns, ok := processCPUTime(pid)
		if !ok {
			// Gone: the next read looks the stubs up again.
			delete(c.last, pid)
			c.sinceLookup = stubPIDsReads
			continue
		}
		read = true
		prev, seen := c.last[pid]
		switch {
		case seen:
			c.total += max(ns-prev, 0)
		case c.started:
			c.total += ns
		}
		c.last[pid] = ns
	}
	c.started = true
	return c.total, read
}

// stubPIDsReads is how many reads of an address space's stub clocks use
// the stub processes found by one lookup (stubClocks.pids).
const stubPIDsReads = 64

// processCPUTime reads the host CPU time of process pid, all its threads.
func processCPUTime(pid int) (int64, bool) {
	// Linux's CPU clockid of process pid: MAKE_PROCESS_CPUCLOCK(pid,
	// CPUCLOCK_SCHED).
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid<<3|2), &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}

// newStubCPUFrom returns a stubCPU over read; the stub's time so far (a
// pooled stub ran other address spaces) is nobody's.
func newStubCPUFrom(read func() (int64, bool)) *stubCPU {
	now, ok := read()
	if !ok {
		return nil
	}
	return &stubCPU{read: read, charged: now}
}

// poolLocked is the stub's CPU time not yet charged; ok false when the
// stub cannot be read (charge wall time then). s.mu is held.
func (s *stubCPU) poolLocked() (int64, bool) {
	now, ok := s.read()
	if !ok {
		return 0, false
	}
	return max(now-s.charged, 0), true
}

// setStub makes s the CPU time source of t (at exec, clone and exit),
// charging t's pending time from the old one first.
func (t *task) setStub(s *stubCPU) {
	t.settleCPU()
	if old := t.stub.Load(); old != nil {
		old.users.Add(-1)
	}
	if s != nil {
		s.users.Add(1)
	}
	t.stub.Store(s)
}

// enterApp and leaveApp bracket a Switch.
func (t *task) enterApp() { t.appSince.Store(cpuNow()) }

func (t *task) leaveApp() {
	since := t.appSince.Swap(0)
	if since == 0 {
		return
	}
	t.pendingNS.Add(cpuNow() - since)
	if s := t.stub.Load(); s == nil || s.users.Load() > 1 {
		t.settleCPU()
	}
}

// settleCPU charges t's pending time in the application as user time.
func (t *task) settleCPU() {
	s := t.stub.Load()
	if s == nil {
		t.userNS.Add(t.pendingNS.Swap(0))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := t.pendingNS.Swap(0)
	if pool, ok := s.poolLocked(); ok {
		w = min(w, pool)
		s.charged += w
	}
	t.userNS.Add(w)
}

// pendingNow is t's pending time in the application, including a
// Switch in progress.
func (t *task) pendingNow() int64 {
	p := t.pendingNS.Load()
	if since := t.appSince.Load(); since != 0 {
		p += max(cpuNow()-since, 0)
	}
	return p
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

// cpuTimes returns t's user and system time so far (user time includes
// its pending time, as far as the stub's pool covers it).
func (t *task) cpuTimes() (user, sys time.Duration) {
	s := t.stub.Load()
	if s == nil {
		return time.Duration(t.userNS.Load() + t.pendingNow()), time.Duration(t.sysNS.Load())
	}
	t.settleCPU()
	s.mu.Lock()
	u, pending := t.userNS.Load(), t.pendingNow()
	if pool, ok := s.poolLocked(); ok {
		pending = min(pending, pool)
	}
	s.mu.Unlock()
	return time.Duration(u + pending), time.Duration(t.sysNS.Load())
}

// cpuTimes returns the process's user and system time: its live threads'
// and those of the threads that exited. The pending time of threads that
// share a stub is capped by that stub's pool together, so that the sum
// never exceeds what the stub ran.
func (p *process) cpuTimes() (user, sys time.Duration) {
	u, s := p.exitedUserNS.Load(), p.exitedSysNS.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	pending := map[*stubCPU]int64{}
	for _, t := range p.threads {
		st := t.stub.Load()
		if st != nil {
			st.mu.Lock()
		}
		u += t.userNS.Load()
		pending[st] += t.pendingNow()
		if st != nil {
			st.mu.Unlock()
		}
		s += t.sysNS.Load()
	}
	for st, pend := range pending {
		if st != nil {
			st.mu.Lock()
			if pool, ok := st.poolLocked(); ok {
				pend = min(pend, pool)
			}
			st.mu.Unlock()
		}
		u += pend
	}
	return time.Duration(u), time.Duration(s)
}

// retireCPU adds an exiting thread's times to its process.
func (t *task) retireCPU() {
	t.leaveApp()
	t.settleCPU()
	u, s := t.cpuTimes()
	t.proc.exitedUserNS.Add(int64(u))
	t.proc.exitedSysNS.Add(int64(s))
	t.proc.retiredIO.add(t.io.counts())
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
// RUSAGE_THREAD, and the reaped children's for RUSAGE_CHILDREN:
// childtimes.go); the other fields are zero.
func sysGetrusage(t *task, a [6]uint64) (uint64, unix.Errno) {
	var u, s time.Duration
	var maxRSS uint64 // KiB (maxrss.go)
	switch int32(a[0]) {
	case unix.RUSAGE_SELF:
		u, s = t.proc.cpuTimes()
		maxRSS = t.proc.selfMaxRSS()
	case unix.RUSAGE_THREAD:
		u, s = t.cpuTimes()
		maxRSS = t.mm.MaxResidentSetSize() / 1024
	case unix.RUSAGE_CHILDREN:
		ct := t.proc.childTimes()
		u, s = ct.user, ct.sys
		maxRSS = t.proc.childMaxRSSKB.Load()
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
	hostarch.ByteOrder.PutUint64(b[32:], maxRSS)
	return 0, t.copyOut(a[1], b)
}
