package client

import (
	"math"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
)

// POSIX timers on a CPU-time clock (CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID, the clocks of clock_getcpuclockid and
// pthread_getcpuclockid) count time only the client measures, so the
// client runs them as it runs ITIMER_VIRTUAL and ITIMER_PROF
// (cputimers.go). The server still creates and deletes them, so that one
// id space holds every timer of a process and timer_getoverrun and
// timer_delete check ids there; it only records that the timer exists.
// timer_settime and timer_gettime of such a timer are answered here, and
// an expiration asks the server to route the timer's signal (SI_TIMER,
// with its id, overrun and value), process-directed (rt_sigqueueinfo) or,
// for SIGEV_THREAD_ID, to its thread (rt_tgsigqueueinfo).

const (
	sigevNone     = 1
	sigevThreadID = 4
)

// cpuPosixTimer is one POSIX timer on a CPU-time clock. Its fields are
// protected by its process's mu.
type cpuPosixTimer struct {
	// thread is the thread whose CPU time the clock counts, or nil for
	// proc's; virt says it counts user time only (CPUCLOCK_VIRT).
	thread *task
	proc   *process
	virt   bool
	// notify, signo, tid and value are the struct sigevent.
	notify, signo, tid int32
	value              uint64
	// next is the clock's value at the next expiration (0: disarmed);
	// interval its period.
	next, interval time.Duration
}

// now reads the timer's clock.
func (ct *cpuPosixTimer) now() time.Duration {
	var u, s time.Duration
	if ct.thread != nil {
		u, s = ct.thread.cpuTimes()
	} else {
		u, s = ct.proc.cpuTimes()
	}
	if ct.virt {
		return u
	}
	return u + s
}

// isCPUClock says whether clk names a CPU-time clock.
func isCPUClock(clk int32) bool {
	return clk < 0 || clk == linux.CLOCK_PROCESS_CPUTIME_ID || clk == linux.CLOCK_THREAD_CPUTIME_ID
}

// resolveCPUClock finds what clock clk of caller t counts: a thread or a
// process of this client (ok false: no such clock).
func (t *task) resolveCPUClock(clk int32) (thread *task, proc *process, virt, ok bool) {
	switch {
	case clk == linux.CLOCK_PROCESS_CPUTIME_ID:
		return nil, t.proc, false, true
	case clk == linux.CLOCK_THREAD_CPUTIME_ID:
		return t, nil, false, true
	case clk < 0:
		// Linux's encoding (cputime.go, cpuClockNow).
		id, which, perThread := ^(clk >> 3), clk&3, clk&4 != 0
		if which == 3 {
			return nil, nil, false, false
		}
		target := t
		if id != 0 {
			if target = t.c.lookupTask(id); target == nil {
				return nil, nil, false, false
			}
		}
		if perThread {
			// A timer may count only a thread of its own process.
			return target, nil, which == 1, target.proc == t.proc
		}
		if id != 0 && target.proc.pid != id {
			return nil, nil, false, false
		}
		return nil, target.proc, which == 1, true
	}
	return nil, nil, false, false
}

func sysTimerCreate(t *task, a [6]uint64) (uint64, unix.Errno) {
	clk := int32(a[0])
	if !isCPUClock(clk) {
		return t.forward(unix.SYS_TIMER_CREATE, a)
	}
	if clk < 0 && clk&3 == 3 {
		// Linux's dynamic (fd-based) clocks: no timers.
		return 0, unix.EOPNOTSUPP
	}
	thread, proc, virt, ok := t.resolveCPUClock(clk)
	if !ok {
		return 0, unix.EINVAL
	}
	ct := &cpuPosixTimer{thread: thread, proc: proc, virt: virt, signo: int32(linux.SIGALRM)}
	haveValue := false
	if a[1] != 0 {
		var b [64]byte
		if err := t.copyIn(a[1], b[:]); err != 0 {
			return 0, err
		}
		ct.value, haveValue = le64(b[0:]), true
		ct.signo = int32(hostarch.ByteOrder.Uint32(b[8:]))
		ct.notify = int32(hostarch.ByteOrder.Uint32(b[12:]))
		ct.tid = int32(hostarch.ByteOrder.Uint32(b[16:]))
	}
	// The server checks the sigevent and hands out the id.
	if _, errno := t.forward(unix.SYS_TIMER_CREATE, a); errno != 0 {
		return 0, errno
	}
	var idb [4]byte
	if err := t.copyIn(a[2], idb[:]); err != 0 {
		return 0, err
	}
	id := int32(hostarch.ByteOrder.Uint32(idb[:]))
	if !haveValue {
		ct.value = uint64(id)
	}
	p := t.proc
	p.mu.Lock()
	if p.cpuPosixTimers == nil {
		p.cpuPosixTimers = make(map[int32]*cpuPosixTimer)
	}
	p.cpuPosixTimers[id] = ct
	p.mu.Unlock()
	return 0, 0
}

// cpuPosixTimer returns the process's CPU-clock timer id, or nil.
func (p *process) cpuPosixTimer(id int32) *cpuPosixTimer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpuPosixTimers[id]
}

// timespecDuration parses a struct timespec (EINVAL cases: ok false).
func timespecDuration(b []byte) (time.Duration, bool) {
	sec, nsec := int64(le64(b)), int64(le64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, false
	}
	if sec > (1<<62)/int64(time.Second) {
		sec = (1 << 62) / int64(time.Second)
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), true
}

// itimerspecBytes encodes interval and value as a struct itimerspec.
func itimerspecBytes(interval, value time.Duration) []byte {
	b := make([]byte, 32)
	hostarch.ByteOrder.PutUint64(b[0:], uint64(interval/time.Second))
	hostarch.ByteOrder.PutUint64(b[8:], uint64(interval%time.Second))
	hostarch.ByteOrder.PutUint64(b[16:], uint64(value/time.Second))
	hostarch.ByteOrder.PutUint64(b[24:], uint64(value%time.Second))
	return b
}

// remaining is ct's time to expiry at clock value now (never 0 while
// armed). Precondition: ct.proc's or the owner's mu held.
func (ct *cpuPosixTimer) remaining(now time.Duration) time.Duration {
	if ct.next == 0 {
		return 0
	}
	return max(ct.next-now, 1)
}

func sysTimerSettime(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[2] == 0 {
		return 0, unix.EINVAL // Linux: no new setting, before anything else
	}
	id := int32(a[0])
	ct := t.proc.cpuPosixTimer(id)
	if ct == nil {
		return t.forward(unix.SYS_TIMER_SETTIME, a)
	}
	var b [32]byte
	if err := t.copyIn(a[2], b[:]); err != 0 {
		return 0, err
	}
	interval, ok1 := timespecDuration(b[0:])
	value, ok2 := timespecDuration(b[16:])
	if !ok1 || !ok2 {
		return 0, unix.EINVAL
	}
	now := ct.now()
	p := t.proc
	p.mu.Lock()
	oldInterval, oldValue := ct.interval, ct.remaining(now)
	ct.interval = interval
	switch {
	case value == 0:
		ct.next = 0
	case a[1]&linux.TIMER_ABSTIME != 0:
		ct.next = value
	default:
		ct.next = now + value
	}
	p.rearmCPUTimersAndUnlock()
	if a[3] != 0 {
		return 0, t.copyOut(a[3], itimerspecBytes(oldInterval, oldValue))
	}
	return 0, 0
}

func sysTimerGettime(t *task, a [6]uint64) (uint64, unix.Errno) {
	ct := t.proc.cpuPosixTimer(int32(a[0]))
	if ct == nil {
		return t.forward(unix.SYS_TIMER_GETTIME, a)
	}
	now := ct.now()
	t.proc.mu.Lock()
	b := itimerspecBytes(ct.interval, ct.remaining(now))
	t.proc.mu.Unlock()
	return 0, t.copyOut(a[1], b)
}

// rearmCPUTimersAndUnlock updates cpuTimersArmed, unlocks p.mu and
// starts the ticker if it is needed and not running. Precondition: p.mu
// held.
func (p *process) rearmCPUTimersAndUnlock() {
	start := p.updateCPUTimersArmedLocked()
	p.mu.Unlock()
	if start {
		go p.cpuTicker()
	}
}

// updateCPUTimersArmedLocked sets cpuTimersArmed from the process's CPU
// timers and says whether the caller must start the ticker (it marks it
// running). Precondition: p.mu held.
func (p *process) updateCPUTimersArmedLocked() (startTicker bool) {
	armed := p.cpuTimers[0].next != 0 || p.cpuTimers[1].next != 0 || p.limits.Get(limits.CPU).Cur != limits.Infinity
	for _, ct := range p.cpuPosixTimers {
		if ct.next != 0 {
			armed = true
			break
		}
	}
	p.cpuTimersArmed.Store(armed)
	if armed && !p.cpuTicking {
		p.cpuTicking = true
		return true
	}
	return false
}

// forgetCPUPosixTimers drops the process's CPU-clock POSIX timers (exec
// deletes every POSIX timer, as the server does with its record).
func (p *process) forgetCPUPosixTimers() {
	p.mu.Lock()
	p.cpuPosixTimers = nil
	p.rearmCPUTimersAndUnlock()
}

// cpuPosixFiring is an expired CPU-clock POSIX timer's signal to route.
type cpuPosixFiring struct {
	id      int32
	ct      cpuPosixTimer // a copy of the sigevent
	overrun int64
}

// expiredCPUPosixTimersLocked advances the expired CPU-clock timers and
// returns their signals. Precondition: p.mu held; nows holds each
// timer's clock, read before p.mu was taken.
func (p *process) expiredCPUPosixTimersLocked(nows map[int32]time.Duration) []cpuPosixFiring {
	var fire []cpuPosixFiring
	for id, ct := range p.cpuPosixTimers {
		now, ok := nows[id]
		if !ok || ct.next == 0 || now < ct.next {
			continue
		}
		var overrun int64
		if ct.interval > 0 {
			// Expirations missed since the first are the overrun.
			missed := (now - ct.next) / ct.interval
			overrun = int64(missed)
			ct.next += (missed + 1) * ct.interval
		} else {
			ct.next = 0
		}
		if ct.notify != sigevNone {
			fire = append(fire, cpuPosixFiring{id: id, ct: *ct, overrun: overrun})
		}
	}
	return fire
}

// cpuPosixClocks reads the clock of each of the process's CPU-clock
// timers that is armed.
func (p *process) cpuPosixClocks() map[int32]time.Duration {
	p.mu.Lock()
	timers := make(map[int32]*cpuPosixTimer, len(p.cpuPosixTimers))
	for id, ct := range p.cpuPosixTimers {
		if ct.next != 0 {
			timers[id] = ct
		}
	}
	p.mu.Unlock()
	if len(timers) == 0 {
		return nil
	}
	nows := make(map[int32]time.Duration, len(timers))
	for id, ct := range timers {
		// now takes the measured thread's or process's mu, never p.mu
		// held here.
		nows[id] = ct.now()
	}
	return nows
}

// routeCPUPosixSignal sends a CPU-clock timer's signal: queued here if
// the process catches it (ownsignal.go), else through the server.
func (t *task) routeCPUPosixSignal(f cpuPosixFiring) {
	var info linux.SignalInfo
	info.Signo = f.ct.signo
	info.Code = linux.SI_TIMER
	info.SetTimerID(linux.TimerID(f.id))
	info.SetOverrun(int32(min(f.overrun, math.MaxInt32)))
	info.SetSigval(f.ct.value)
	tid := int32(0)
	if f.ct.notify&sigevThreadID != 0 {
		tid = f.ct.tid
	}
	t.sendOwnSignal(tid, info)
}
